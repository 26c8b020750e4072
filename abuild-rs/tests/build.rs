//! Building the aports tree in `testdata/aports` (a C library with a -dev split, a
//! program that makedepends on it, a noarch package with a -doc split, an arch="all"
//! script package) for x86_64 and aarch64, then installing the result with our `apk`
//! and running the program; reproducibility, skipping, the plan, and bad APKBUILDs.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::copy_tree;

const EPOCH: &str = "1700000000";

fn abuild() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_abuild-rs"));
    c.env("SOURCE_DATE_EPOCH", EPOCH);
    c
}

fn apk_path() -> PathBuf {
    let apk = Path::new(env!("CARGO_BIN_EXE_abuild-rs"))
        .parent()
        .unwrap()
        .join("apk");
    assert!(
        apk.exists(),
        "apk is not built beside abuild-rs: run cargo test --workspace"
    );
    apk
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Tree {
    tmp: tempfile::TempDir,
    aports: PathBuf,
    key: PathBuf,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let aports = tmp.path().join("aports");
    copy_tree(&common::aports(), &aports);
    let keys = tmp.path().join("keys");
    let (ok, out) = run(abuild()
        .args(["keygen", "--name", "builder", "--bits", "2048", "--out"])
        .arg(&keys));
    assert!(ok, "{out}");
    Tree {
        key: keys.join("builder.rsa"),
        aports,
        tmp,
    }
}

impl Tree {
    fn repo(&self, repodest: &Path, arches: &str) -> (bool, String) {
        self.repo_of(&self.aports, repodest, arches)
    }

    fn repo_of(&self, aports: &Path, repodest: &Path, arches: &str) -> (bool, String) {
        run(abuild()
            .env("APK", apk_path())
            .args(["repo", "-j", "2", "--arch", arches, "--aports"])
            .arg(aports)
            .arg("--repodest")
            .arg(repodest)
            .arg("--sign-key")
            .arg(&self.key))
    }
}

/// Every file under `dir` with its contents.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn pkginfo(apk: &Path) -> apk_format::PackageInfo {
    apk_core::repo::indexer::read_package_info(apk).unwrap()
}

#[test]
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
fn the_tree_builds_installs_runs_and_rebuilds_identically() {
    let t = tree();
    let repodest = t.tmp.path().join("packages");
    let (ok, out) = t.repo(&repodest, "x86_64,aarch64");
    assert!(ok, "{out}");

    let built: Vec<String> = files(&repodest).into_keys().collect();
    assert_eq!(
        built,
        [
            "community/aarch64/APKINDEX.tar.gz",
            "community/aarch64/demo-data-3-r0.apk",
            "community/aarch64/demo-data-doc-3-r0.apk",
            "community/aarch64/demo-tool-0.5-r0.apk",
            "community/x86_64/APKINDEX.tar.gz",
            "community/x86_64/demo-data-3-r0.apk",
            "community/x86_64/demo-data-doc-3-r0.apk",
            "community/x86_64/demo-tool-0.5-r0.apk",
            "main/x86_64/APKINDEX.tar.gz",
            "main/x86_64/demo-prog-2.1-r1.apk",
            "main/x86_64/libdemo-1.0.0-r0.apk",
            "main/x86_64/libdemo-dev-1.0.0-r0.apk",
        ]
    );

    // Traced dependencies and provides.
    let main = repodest.join("main/x86_64");
    let lib = pkginfo(&main.join("libdemo-1.0.0-r0.apk"));
    assert_eq!(lib.provides[0].to_string(), "so:libdemo.so.1=1.0.0");
    let dev = pkginfo(&main.join("libdemo-dev-1.0.0-r0.apk"));
    assert_eq!(dev.depends[0].to_string(), "libdemo=1.0.0-r0");
    assert_eq!(dev.provides[0].to_string(), "pc:demo=1.0.0");
    let prog = pkginfo(&main.join("demo-prog-2.1-r1.apk"));
    // Its shell install script brings /bin/sh, as abuild adds it; then what was traced.
    let deps: Vec<String> = prog.depends.iter().map(|d| d.to_string()).collect();
    assert_eq!(deps, ["/bin/sh", "so:libdemo.so.1"]);
    assert_eq!(prog.provides[0].to_string(), "cmd:demo-prog=2.1-r1");
    assert_eq!(
        prog.maintainer.as_deref(),
        Some("apk-rs demo <demo@example.org>")
    );
    assert_eq!(prog.build_time, Some(1_700_000_000));
    let bytes = std::fs::read(main.join("demo-prog-2.1-r1.apk")).unwrap();
    let package = apk_format::v2::package::Package::parse(&bytes, "demo-prog").unwrap();
    let scripts: Vec<&str> = package.scripts().map(|(n, _)| n).collect();
    assert_eq!(scripts, [".post-install"]);
    let data = pkginfo(&repodest.join("community/aarch64/demo-data-3-r0.apk"));
    assert_eq!(data.arch.as_deref(), Some("noarch"));
    let tool = pkginfo(&repodest.join("community/aarch64/demo-tool-0.5-r0.apk"));
    assert_eq!(tool.arch.as_deref(), Some("aarch64"));
    assert_eq!(tool.depends[0].to_string(), "demo-data");

    // The real apk-tools, both versions, verify every package and index, and install
    // from the repositories (noarch packages found under each architecture's index),
    // together with Alpine's official 3.19.1 repository, which provides the /bin/sh the
    // shell install script asks for.
    let keys = t.key.parent().unwrap();
    let all: Vec<PathBuf> = files(&repodest)
        .into_keys()
        .map(|r| repodest.join(r))
        .collect();
    let Some(verdict) = apk_core::testing::reference_verify(&all, keys) else {
        return;
    };
    verdict.unwrap_or_else(|e| panic!("{e}"));
    let shared = apk_core::testing::shared_dir().unwrap();
    let alpine = shared.join("realdata/alpine-3.19.1");
    for k in std::fs::read_dir(shared.join("realdata/keys")).unwrap() {
        let k = k.unwrap().path();
        std::fs::copy(&k, keys.join(k.file_name().unwrap())).unwrap();
    }
    let (main, community) = (repodest.join("main"), repodest.join("community"));
    let args = [
        "-X".as_ref(),
        main.as_os_str(),
        "-X".as_ref(),
        community.as_os_str(),
        "-X".as_ref(),
        alpine.as_os_str(),
        "add".as_ref(),
        "demo-prog".as_ref(),
        "demo-tool".as_ref(),
        "demo-data-doc".as_ref(),
    ];
    for out in apk_core::testing::reference_add(keys, &args)
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"))
    {
        assert!(out.contains("Installing demo-data (3-r0)"), "{out}");
        assert!(out.contains("Installing libdemo (1.0.0-r0)"), "{out}");
        assert!(out.contains("Installing busybox-binsh"), "{out}");
    }

    // Everything verifies against the builder's key with apk-rs too.
    for (rel, _) in files(&repodest) {
        let (ok, out) = run(Command::new(apk_path())
            .arg("--keys-dir")
            .arg(keys)
            .arg("verify")
            .arg(repodest.join(&rel)));
        assert!(ok, "{rel}: {out}");
    }

    // The result installs with our apk into a fresh root, and the program runs.
    let root = t.tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/apk")).unwrap();
    copy_tree(keys, &root.join("etc/apk/keys"));
    let (ok, out) = run(Command::new(apk_path())
        .arg("--root")
        .arg(&root)
        .args(["--initdb", "--no-scripts", "-X"])
        .arg(repodest.join("main"))
        .arg("-X")
        .arg(repodest.join("community"))
        .arg("-X")
        .arg(&alpine)
        .args(["add", "demo-prog", "demo-tool"]));
    assert!(ok, "{out}");
    assert!(out.contains("Installing libdemo (1.0.0-r0)"), "{out}");
    assert!(out.contains("Installing demo-data (3-r0)"), "{out}");
    let (ok, out) =
        run(Command::new(root.join("usr/bin/demo-prog"))
            .env("LD_LIBRARY_PATH", root.join("usr/lib")));
    assert!(ok, "{out}");
    assert_eq!(out, "the answer is 42\n");

    // A second run finds everything built and changes nothing.
    let before = files(&repodest);
    let (ok, out) = t.repo(&repodest, "x86_64,aarch64");
    assert!(ok, "{out}");
    assert_eq!(out.matches("up to date").count(), 6, "{out}");
    assert_eq!(files(&repodest), before);

    // A build into an empty place is byte for byte the same.
    let again = t.tmp.path().join("again");
    let (ok, out) = t.repo(&again, "x86_64,aarch64");
    assert!(ok, "{out}");
    assert_eq!(files(&again), before);
}

#[test]
fn the_plan_mirrors_the_graph() {
    let t = tree();
    let (ok, out) = run(abuild()
        .args([
            "plan",
            "--arch",
            "x86_64,aarch64",
            "--format",
            "json",
            "--aports",
        ])
        .arg(&t.aports));
    assert!(ok, "{out}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let x86 = &plan["arches"][0];
    assert_eq!(x86["arch"], "x86_64");
    let names: Vec<&str> = x86["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("main/libdemo") < pos("main/demo-prog"), "{names:?}");
    assert!(
        pos("community/demo-data") < pos("community/demo-tool"),
        "{names:?}"
    );
    let prog = x86["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "main/demo-prog")
        .unwrap();
    assert_eq!(prog["needs"], serde_json::json!(["main/libdemo"]));
    // aarch64 has no C packages (arch="x86_64").
    assert_eq!(plan["arches"][1]["builds"].as_array().unwrap().len(), 2);

    let (ok, yaml) = run(abuild()
        .args([
            "plan",
            "--arch",
            "x86_64",
            "--format",
            "gitlab-ci",
            "--aports",
        ])
        .arg(&t.aports));
    assert!(ok, "{yaml}");
    assert!(yaml.contains("\"build main/demo-prog x86_64\":\n  stage: build\n  tags:\n    - \"x86_64\"\n  needs:\n    - job: \"build main/libdemo x86_64\"\n      artifacts: true\n"), "{yaml}");
    assert!(
        yaml.contains("\"index x86_64\":\n  stage: index\n"),
        "{yaml}"
    );
    // Each job builds its package once.
    assert_eq!(
        yaml.matches("abuild-rs build -C \"$APORTS/main/demo-prog\"")
            .count(),
        1,
        "{yaml}"
    );
}

/// Writes an APKBUILD (and its files) into `aports/<repo>/<name>/`.
fn add_package(aports: &Path, repo: &str, name: &str, apkbuild: &str, files: &[(&str, &str)]) {
    let dir = aports.join(repo).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("APKBUILD"), apkbuild).unwrap();
    for (f, body) in files {
        std::fs::write(dir.join(f), body).unwrap();
    }
}

fn simple(name: &str, extra: &str) -> String {
    format!(
        "pkgname={name}\npkgver=1\npkgrel=0\npkgdesc=\"test\"\nurl=\"https://example.org\"\narch=\"noarch\"\nlicense=\"MIT\"\noptions=\"!check\"\n{extra}\npackage() {{ mkdir -p \"$pkgdir\"; }}\n"
    )
}

#[test]
fn bad_apkbuilds_fail_clearly_and_leave_the_repository_alone() {
    let t = tree();
    let repodest = t.tmp.path().join("packages");
    let (ok, out) = t.repo(&repodest, "x86_64");
    assert!(ok, "{out}");
    let before = files(&repodest);

    let bad = t.tmp.path().join("bad");
    add_package(
        &bad,
        "main",
        "syntax",
        &format!("{}\nif then\n", simple("syntax", "")),
        &[],
    );
    add_package(
        &bad,
        "main",
        "badsum",
        &simple("badsum", "source=\"a.txt\"\nsha512sums=\"00  a.txt\""),
        &[("a.txt", "a\n")],
    );
    add_package(
        &bad,
        "main",
        "nosource",
        &simple(
            "nosource",
            "source=\"gone.txt\"\nsha512sums=\"00  gone.txt\"",
        ),
        &[],
    );
    add_package(
        &bad,
        "main",
        "cycle-a",
        &simple("cycle-a", "makedepends=\"cycle-b\""),
        &[],
    );
    add_package(
        &bad,
        "main",
        "cycle-b",
        &simple("cycle-b", "makedepends=\"cycle-a\""),
        &[],
    );
    add_package(
        &bad,
        "main",
        "unknown",
        &simple("unknown", "makedepends=\"no-such-lib-dev\""),
        &[],
    );
    add_package(&bad, "main", "fine", &simple("fine", ""), &[]);
    add_package(
        &bad,
        "main",
        "local",
        &simple("local", "").replace(
            "package() { mkdir -p \"$pkgdir\"; }",
            "package() { mkdir -p \"$pkgdir\"/usr/local/bin; }",
        ),
        &[],
    );

    let (ok, out) = run(abuild()
        .env("APK", apk_path())
        .args(["repo", "--arch", "x86_64", "--aports"])
        .arg(&bad)
        .arg("--repodest")
        .arg(&repodest)
        .arg("--sign-key")
        .arg(&t.key));
    assert!(!ok, "{out}");
    for why in [
        "syntax/APKBUILD: cannot be sourced",
        "badsum: sha512sum of 'a.txt' does not match: expected 00, got ",
        "nosource: source 'gone.txt' not found",
        "dependency cycle: main/cycle-a -> main/cycle-b",
        "unknown: makedepends not found in any repository: no-such-lib-dev",
        "local: packages must not put anything under /usr/local",
        "7 builds failed",
    ] {
        assert!(out.contains(why), "missing {why:?} in\n{out}");
    }
    // The good package of the same run was built; the failed ones left nothing.
    assert!(out.contains("x86_64 main/fine: built"), "{out}");
    let mut after = files(&repodest);
    assert!(after.remove("main/x86_64/fine-1-r0.apk").is_some());
    let index_before = &before["main/x86_64/APKINDEX.tar.gz"];
    assert_ne!(
        after.remove("main/x86_64/APKINDEX.tar.gz").as_ref(),
        Some(index_before)
    );
    let mut before = before;
    before.remove("main/x86_64/APKINDEX.tar.gz");
    assert_eq!(after, before);
}

#[test]
fn checksum_rewrites_sha512sums_and_lint_reports() {
    let t = tree();
    let dir = t.aports.join("community/demo-tool");
    let text = std::fs::read_to_string(dir.join("APKBUILD")).unwrap();
    std::fs::write(dir.join("demo-tool.sh"), "#!/bin/sh\necho changed\n").unwrap();
    let (ok, out) = run(abuild().arg("checksum").arg("-C").arg(&dir));
    assert!(ok, "{out}");
    let new_text = std::fs::read_to_string(dir.join("APKBUILD")).unwrap();
    assert_ne!(text, new_text);
    let want = apk_format::checksum::encode_hex(&<sha2::Sha512 as sha2::Digest>::digest(
        b"#!/bin/sh\necho changed\n",
    ));
    assert!(
        new_text.contains(&format!("{want}  demo-tool.sh\n")),
        "{new_text}"
    );
    assert_eq!(
        new_text.split("sha512sums").next(),
        text.split("sha512sums").next()
    );

    let (ok, out) = run(abuild().arg("lint").arg("-C").arg(&dir));
    assert!(ok, "{out}");
    std::fs::write(
        dir.join("APKBUILD"),
        new_text
            .replace(
                "pkgdesc=\"Shell tool counting the demo words\"",
                "pkgdesc=\"demo-tool counts words.\"",
            )
            .replace("# Maintainer: apk-rs demo <demo@example.org>\n", "")
            .replace(
                "depends=\"demo-data\"",
                "depends=\"demo-data so:libc.musl-x86_64.so.1\"",
            ),
    )
    .unwrap();
    let (ok, out) = run(abuild().arg("lint").arg("-C").arg(&dir));
    assert!(!ok, "{out}");
    for why in [
        "pkgdesc should not end with a period",
        "pkgdesc should not start with the package name",
        "missing maintainer",
        "depends entry 'so:libc.musl-x86_64.so.1' is traced automatically",
    ] {
        assert!(out.contains(why), "missing {why:?} in\n{out}");
    }
}

#[test]
fn remote_sources_are_downloaded_once_checked_and_cached() {
    use std::io::BufRead;
    let t = tree();
    let served = t.tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("words-2.txt"), "delta\nepsilon\n").unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../apk-cli/tests/support/http_server.py");
    let mut server = Command::new("python3")
        .arg(script)
        .arg(&served)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the test HTTP server");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();

    let sum = apk_format::checksum::encode_hex(&<sha2::Sha512 as sha2::Digest>::digest(
        b"delta\nepsilon\n",
    ));
    let dir = t.aports.join("community/remote");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("APKBUILD"),
        format!(
            "pkgname=remote\npkgver=2\npkgrel=0\npkgdesc=\"data from a server\"\nurl=\"https://example.org\"\narch=\"noarch\"\nlicense=\"MIT\"\noptions=\"!check\"\nsource=\"words-$pkgver.txt::http://127.0.0.1:{port}/words-$pkgver.txt\"\nsha512sums=\"{sum}  words-2.txt\"\npackage() {{\n\tinstall -Dm644 \"$srcdir\"/words-$pkgver.txt \"$pkgdir\"/usr/share/remote/words\n}}\n"
        ),
    )
    .unwrap();
    let srcdest = t.tmp.path().join("distfiles");
    let build = |repodest: &Path| {
        run(abuild()
            .env("APK", apk_path())
            .env("SRCDEST", &srcdest)
            .args(["build", "--arch", "x86_64", "-C"])
            .arg(&dir)
            .arg("--repodest")
            .arg(repodest)
            .arg("--sign-key")
            .arg(&t.key))
    };
    let first = t.tmp.path().join("first");
    let (ok, out) = build(&first);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(srcdest.join("words-2.txt")).unwrap(),
        "delta\nepsilon\n"
    );
    // The server is gone: the cached download serves the next build, identically.
    let _ = server.kill();
    let _ = server.wait();
    let second = t.tmp.path().join("second");
    let (ok, out) = build(&second);
    assert!(ok, "{out}");
    assert_eq!(files(&first), files(&second));

    // A cached file that no longer matches sha512sums is refused.
    std::fs::write(srcdest.join("words-2.txt"), "tampered\n").unwrap();
    let (ok, out) = build(&t.tmp.path().join("third"));
    assert!(!ok);
    assert!(
        out.contains("sha512sum of 'words-2.txt' does not match"),
        "{out}"
    );
}

/// A `file://` source is copied and checked like a local one, and `abuild-rs index`
/// rebuilds a repository's index (which apk-tools verifies) from the packages there.
#[test]
fn file_sources_and_the_index_verb() {
    use sha2::Digest;
    let t = tree();
    let outside = t.tmp.path().join("outside.txt");
    std::fs::write(&outside, "from elsewhere\n").unwrap();
    let sum = apk_format::checksum::encode_hex(&sha2::Sha512::digest(b"from elsewhere\n"));
    let dir = t.tmp.path().join("only");
    let apkbuild = format!(
        "pkgname=fromfile\npkgver=1\npkgrel=0\npkgdesc=\"test\"\nurl=\"https://example.org\"\narch=\"noarch\"\nlicense=\"MIT\"\noptions=\"!check\"\nsource=\"data.txt::file://{}\"\nbuilddir=\"$srcdir\"\npackage() {{ install -Dm644 \"$srcdir\"/data.txt \"$pkgdir\"/usr/share/fromfile/data.txt; }}\nsha512sums=\"{sum}  data.txt\"\n",
        outside.display()
    );
    add_package(&dir, "main", "fromfile", &apkbuild, &[]);
    let repodest = t.tmp.path().join("packages");
    let (ok, out) = t.repo_of(&dir, &repodest, "x86_64");
    assert!(ok, "{out}");
    let pkg = repodest.join("main/x86_64/fromfile-1-r0.apk");
    let bytes = std::fs::read(&pkg).unwrap();
    let parsed = apk_format::v2::package::Package::parse(&bytes, "fromfile").unwrap();
    let mut seen = Vec::new();
    parsed
        .walk_data(&bytes, "fromfile", |h, data| {
            seen.push((h.path.clone(), data.to_vec()));
            Ok(())
        })
        .unwrap();
    assert!(seen.contains(&(
        "usr/share/fromfile/data.txt".to_owned(),
        b"from elsewhere\n".to_vec()
    )));

    let index = repodest.join("main/x86_64/APKINDEX.tar.gz");
    std::fs::remove_file(&index).unwrap();
    let (ok, out) = run(abuild()
        .args(["index", "--arch", "x86_64", "--repodest"])
        .arg(&repodest)
        .arg("--sign-key")
        .arg(&t.key));
    assert!(ok, "{out}");
    let keys = t.key.parent().unwrap();
    if let Some(verdict) = apk_core::testing::reference_verify(&[index.clone(), pkg], keys) {
        verdict.unwrap_or_else(|e| panic!("{e}"));
    }
    let idx =
        apk_format::v2::apkindex::IndexArchive::read(&std::fs::read(&index).unwrap(), None, "i")
            .unwrap();
    assert_eq!(idx.packages.len(), 1);
    assert_eq!(idx.packages[0].name, "fromfile");
    assert_eq!(idx.packages[0].arch.as_deref(), Some("x86_64"));
    assert_eq!(idx.description.as_deref(), Some("main "));
}
