//! apk-rs against apk-tools 3.0.6 on the same inputs: every step runs through both tools
//! in twin roots and must give the same exit code, output, tree and database; then each
//! tool carries on in the root the other made (see `common/twin.rs`).

mod common;

use std::path::{Path, PathBuf};

use common::repo::{publish, spec};
use common::twin::Twin;
use common::*;

/// A root trusting the public keys `keys`, with `repo` as its repository.
fn root_with(keys: Vec<PathBuf>, repo: &Path) -> impl Fn(&Path) + '_ {
    move |root: &Path| {
        let dir = root.join("etc/apk/keys");
        std::fs::create_dir_all(&dir).unwrap();
        for k in &keys {
            std::fs::copy(k, dir.join(k.file_name().unwrap())).unwrap();
        }
        std::fs::write(
            root.join("etc/apk/repositories"),
            format!("{}\n", repo.display()),
        )
        .unwrap();
    }
}

/// A root trusting the demo key, with `repo` as its repository.
fn demo_root(repo: &Path) -> impl Fn(&Path) + '_ {
    root_with(vec![testdata().join("keys/apk-rs-demo.rsa.pub")], repo)
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn demo_repository_add_upgrade_del_audit_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&demo_repo(), &repo.join("x86_64"));
    let Some(mut t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "demo-hello"]);
    t.step_same(&["add", "docs", "demo-hello-doc"]);
    t.step(&["info"]);
    t.step(&["info", "-a", "demo-hello"]);
    t.step(&["list", "-I"]);
    t.step(&["search", "demo"]);
    t.step(&["audit"]);
    t.step(&["audit", "--system"]);
    t.swap();
    // The bar, asked for while standard output is not a terminal, frame by frame.
    t.step_same(&["--progress", "del", "demo-hello-doc"]);
    t.step_same(&["fix", "demo-hello"]);
    t.swap();
    // `--progress-fd`: the same DONE/TOTAL lines from both (a purge reads no package,
    // so apk-tools writes no bytes-read steps between them).
    let lines = |bin: &Path, root: &Path| {
        let fd = root.join("progress.txt");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" 3>"$FD" >/dev/null"#)
            .arg("sh")
            .arg(bin)
            .arg("--root")
            .arg(root)
            .args(&t.common)
            .args(["--progress-fd", "3", "del", "demo-hello", "docs"])
            .env("FD", &fd)
            .status()
            .unwrap();
        assert!(status.success(), "{}", bin.display());
        let text = std::fs::read_to_string(&fd).unwrap();
        std::fs::remove_file(&fd).unwrap();
        text
    };
    let ours = lines(Path::new(env!("CARGO_BIN_EXE_apk")), &t.ours);
    assert_eq!(ours, lines(&t.reference, &t.theirs));
    assert!(
        ours.ends_with(" install\n") && ours.lines().count() > 1,
        "{ours}"
    );
    t.same_tree();
}

/// A reader that leaves before the output comes (`apk search | head -1`): each tool
/// goes on to the same exit status and standard error, where std's print macros would
/// stop apk-rs with a panic.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn output_into_a_closed_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&demo_repo(), &repo.join("x86_64"));
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "demo-hello"]);
    let closed = |bin: &Path, root: &Path, args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).replace(s(root), "ROOT");
        (out.status.code(), err)
    };
    for args in [
        &["list", "-I"][..],
        &["search", "-v"],
        &["info", "demo-hello"],
    ] {
        let ours = closed(Path::new(env!("CARGO_BIN_EXE_apk")), &t.ours, args);
        assert_eq!(ours, closed(&t.reference, &t.theirs, args), "{args:?}");
        assert_eq!(ours.0, Some(0), "{args:?}: {}", ours.1);
    }
}

fn clash_repo(repo: &Path) {
    publish(
        repo,
        vec![
            // Entries sorted by path, as abuild writes them (apk-tools records a
            // package's directories in archive order).
            spec("alpha", "1.0-r0")
                .dir("etc")
                .file("etc/alpha.conf", "a=1\n")
                .dir("usr")
                .file("usr/shared", "alpha\n")
                .script(".post-install", "#!/bin/sh\necho hi\n"),
            spec("beta", "1.0-r0")
                .dir("usr")
                .file("usr/beta", "b\n")
                .file("usr/shared", "beta\n"),
            spec("gamma", "1.0-r0")
                .field("replaces", "alpha")
                .dir("usr")
                .file("usr/shared", "gamma\n"),
            spec("meta", "1.0-r0")
                .field("replaces", "alpha")
                .field("depend", "alpha")
                .file(".dummy", "x\n"),
        ],
    );
}

/// A file clash: the file stays its owner's, the package comes without it, marked broken
/// (`f:f`), one error; removing it leaves the owner's file.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn file_clash_skips_the_file_and_marks_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    clash_repo(&repo);
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "alpha", "meta"]);
    t.step_same(&["add", "beta"]);
    t.step(&["info", "-a", "beta"]);
    t.step_same(&["del", "beta"]);
    t.step_same(&["fix", "alpha"]);
}

/// Protected files, reinstalling, replaces, metapackages with `.dummy`, the scripts
/// database.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn protected_files_replaces_and_metapackages() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    clash_repo(&repo);
    let Some(mut t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "alpha", "meta"]);
    // The user's change to a protected file is kept, the new one beside it.
    std::fs::write(t.ours.join("etc/alpha.conf"), "mine\n").unwrap();
    std::fs::write(t.theirs.join("etc/alpha.conf"), "mine\n").unwrap();
    t.step(&["audit"]);
    t.swap();
    t.step_same(&["fix", "alpha"]);
    t.step_same(&["add", "gamma"]);
    t.swap();
    t.step_same(&["del", "gamma", "meta"]);
    t.step_same(&["del", "alpha"]);
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn command_line_as_apk_tools_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&demo_repo(), &repo.join("x86_64"));
    let Some(t) = Twin::new(tmp.path(), &[], demo_root(&repo)) else {
        return;
    };
    t.step_same(&[
        "--initdb",
        "--no-scripts",
        "add",
        "--update",
        "--no-cache",
        "demo-lib",
    ]);
    t.step(&["-s", "add", "demo-hello"]);
    t.step(&["add", "-s", "--no-scripts", "demo-hello"]);
    t.step(&["--print-arch"]);
    t.step(&["frobnicate"]);
    t.step(&["--frobnicate", "info"]);
    // A prefix of several options' names is ambiguous (global ones, the applet's, and
    // aliases count; the first bad option word decides).
    t.step(&["--repo", "x", "info"]);
    t.step(&["info", "--inst"]);
    t.step(&["info", "--xyz", "--inst"]);
    t.step(&["del", "--r", "x"]);
    // Options read before anything is opened: an argument where none is taken, the
    // version wherever it is asked for (the line itself names apk-rs: README).
    t.step(&["--no-cache=foo", "info"]);
    // Numbers as C's atoi reads them (apk-tools): what is not one is 0.
    t.step(&["--wait", "abc", "--timeout", "5s", "info"]);
    t.step(&["--cache-max-age", "x", "--progress-fd", "-1", "info"]);
    let version = |bin: &Path| {
        let out = std::process::Command::new(bin)
            .args(["info", "-V"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, line) = version(Path::new(env!("CARGO_BIN_EXE_apk")));
    assert_eq!(code, version(&t.reference).0);
    assert!(line.starts_with("apk-tools 3.0.6 (apk-rs "), "{line}");
    t.step(&["info", "-s", "demo-lib"]);
    t.step_same(&["--no-scripts", "--no-logfile", "add", "demo-hello"]);
    t.step_same(&["--no-inter", "--no-scripts", "del", "demo-hello"]);
    // Package files: trusted, added by identity; unsigned, refused unless allowed.
    let file = demo_repo().join("docs-1-r0.apk");
    t.step_same(&["--no-scripts", "add", s(&file)]);
    let unsigned = tmp.path().join("unsigned-1.0-r0.apk");
    std::fs::write(
        &unsigned,
        common::repo::spec("unsigned", "1.0-r0")
            .file("unsigned", "x\n")
            .builder
            .build(None)
            .unwrap(),
    )
    .unwrap();
    t.step_same(&["--no-scripts", "add", s(&unsigned)]);
    t.step_same(&["--no-scripts", "--allow-untrusted", "add", s(&unsigned)]);
    t.step_same(&["--no-scripts", "del", "unsigned", "docs"]);
    // What a virtual package or a package file needs and no repository has: they are
    // named among the requirers.
    let hello = demo_repo().join("demo-hello-1.0-r1.apk");
    for q in [
        &["--no-scripts", "add", "-t", ".virt=1", "nothere"][..],
        &[
            "--repositories-file",
            "/dev/null",
            "--no-scripts",
            "add",
            s(&hello),
        ],
    ] {
        let (code, out) = t.step_same(q);
        assert!(code != 0 && out.contains("required by: "), "{out}");
    }
    // Repository configuration from the command line, and lines apk-tools cannot use.
    let r = repo.display().to_string();
    t.step(&[
        "--repository-config",
        &r,
        "--repository-config",
        "bogus",
        "policy",
        "demo-lib",
    ]);
    t.step(&[
        "--repository-config",
        &format!("@t {r}"),
        "-X",
        &r,
        "policy",
        "demo-lib",
    ]);
    t.step(&["--repositories-file", "/nonexistent", "policy", "demo-lib"]);
    // Lines that cannot be used leave the rest (no failure), and the variables are
    // shared: a `set` on the command line counts in the file.
    let parent = repo.parent().unwrap().display().to_string();
    let name = repo.file_name().unwrap().to_string_lossy().into_owned();
    let with_vars = tmp.path().join("repositories-vars");
    std::fs::write(
        &with_vars,
        format!("set -default base=/nowhere\nv2 ${{base}}/{name}\n@t\n{r}\n"),
    )
    .unwrap();
    for q in [
        &["--repository-config", "v2", "policy", "demo-lib"][..],
        &["--repository-config", "ndx", "policy", "demo-lib"],
        &["--repository-config", "set -x a=1", "policy", "demo-lib"],
        &["--repository-config", "set APK_X=1", "policy", "demo-lib"],
        &[
            "--repository-config",
            "/${undefined}/x",
            "policy",
            "demo-lib",
        ],
        &["--repositories-file", s(&with_vars), "policy", "demo-lib"],
        &[
            "--repository-config",
            &format!("set base={parent}"),
            "--repositories-file",
            s(&with_vars),
            "policy",
            "demo-lib",
        ],
    ] {
        t.step(q);
    }
    let file = tmp.path().join("repositories");
    std::fs::write(&file, format!("{r}\nrelative/path\n/never/read\n")).unwrap();
    t.step(&["--repositories-file", s(&file), "update"]);
    t.step(&["--progress", "--no-progress", "-s", "add", "demo-hello"]);
    // --print-arch: the architecture apk was built for, whatever the root says.
    t.step(&["--root", "/nonexistent/apk-rs-root", "--print-arch"]);
    for r in [&t.ours, &t.theirs] {
        std::fs::write(r.join("etc/apk/arch"), "aarch64\n").unwrap();
    }
    t.step(&["--print-arch", "info"]);
    for r in [&t.ours, &t.theirs] {
        std::fs::write(r.join("etc/apk/arch"), "x86_64\n").unwrap();
    }
    // An option without its value, named as it was given.
    for q in [
        &["add", "-t"][..],
        &["add", "--virtual"],
        &["add", "--virt"],
        &["-X"],
        &["info", "--format"],
    ] {
        t.step(q);
    }
    // `version -t` and `-c` take the versions as arguments (any number of them).
    for q in [
        &["version", "-c"][..],
        &["version", "-c", "1.0", "2.x", "3_y"],
        &["version", "-t"],
        &["version", "-t", "1.0"],
        &["version", "-t", "1.0", "1.1", "1.2"],
        &["version", "-t", "1.0", "1.x"],
        &["version", "-t", "1.0", "0.9"],
    ] {
        t.step(q);
    }
    // A world dependency pinned to a tag no usable repository has: warned about, and
    // nothing is committed (nor simulated) unless --force-broken-world. A tagged
    // repository that cannot be read gives its tag nothing.
    for q in [
        &["--no-scripts", "add", "demo-hello@edge"][..],
        &["--no-scripts", "-s", "add", "demo-hello@edge"],
        &["--no-scripts", "del", "demo-lib@edge"],
        &[
            "--no-scripts",
            "--force-broken-world",
            "add",
            "demo-hello@edge",
        ],
        &["--no-scripts", "fix"],
        &["--no-scripts", "upgrade"],
        &["--no-scripts", "del", "demo-hello"],
        &[
            "--repository-config",
            "@bad /nonexistent/apk-rs-repo",
            "add",
            "demo-hello@bad",
        ],
    ] {
        t.step_same(q);
    }
}

/// Roots that are not (yet) apk roots: no database folder, or no world file. Applets
/// reading the state refuse them (those that write after taking the lock), the others
/// work; `--initdb` makes the database.
#[test]
fn roots_without_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&demo_repo(), &repo.join("x86_64"));
    let setup = |r: &Path| {
        std::fs::create_dir_all(r.join("etc/apk")).unwrap();
        std::fs::write(
            r.join("etc/apk/repositories"),
            format!("{}\n", repo.display()),
        )
        .unwrap();
    };
    let Some(t) = Twin::new(tmp.path(), &["--allow-untrusted", "--no-scripts"], setup) else {
        return;
    };
    let queries: &[&[&str]] = &[
        &["add", "demo-lib"],
        &["-s", "add", "demo-lib"],
        &["del", "demo-lib"],
        &["upgrade"],
        &["fix"],
        &["info"],
        &["list", "-I"],
        &["policy", "demo-lib"],
        &["stats"],
        &["version"],
        &["manifest", "demo-lib", "nonexistent"],
        &["search", "demo"],
        &["version", "-t", "1.0", "1.1"],
    ];
    for q in queries {
        t.step_same(q);
    }
    // A database folder, but no world file: the lock is taken, the read fails.
    for r in [t.ours.clone(), t.theirs.clone()] {
        std::fs::create_dir_all(r.join("lib/apk/db")).unwrap();
    }
    for q in queries {
        t.step_same(q);
    }
    let (code, out) = t.step_same(&["--initdb", "add", "demo-lib"]);
    assert_eq!(code, 0, "{out}");
    t.step_same(&["info"]);
}

/// The cache as apk-tools 3 sets it up and cleans it: `cache clean` cleans the static
/// cache `var/cache/apk` when no package cache is configured (and beside one that is),
/// `download` and `sync` do nothing without one, `--no-cache` leaves nothing to do, and a
/// `--cache-dir` or `etc/apk/cache` that is not a folder stops the applets that open
/// the database (a symlink to nowhere counts as no cache).
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn cache_folders_as_apk_tools_sets_them_up() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_dir(&demo_repo(), &repo.join("x86_64"));
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    // An empty database first: `stats` counts no empty string among apk's atoms.
    t.step_same(&["--initdb", "add"]);
    t.step(&["stats"]);
    let (code, out) = t.step_same(&["add", "demo-lib"]);
    assert_eq!(code, 0, "{out}");
    let junk = |dir: &str, names: &[&str]| {
        for r in [&t.ours, &t.theirs] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
            for n in names {
                std::fs::write(r.join(dir).join(n), "junk").unwrap();
            }
        }
    };
    junk("var/cache/apk", &["APKINDEX.deadbeef.tar.gz", "junkfile"]);
    for r in [&t.ours, &t.theirs] {
        std::fs::create_dir_all(r.join("var/cache/apk/somedir")).unwrap();
    }
    let (code, out) = t.step_same(&["-v", "cache", "clean"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deleting junkfile"), "{out}");
    for q in [
        &["cache", "download"][..],
        &["cache", "sync"],
        &["--no-cache", "cache", "clean"],
        &["--cache-dir", "/nonexistent/apk-rs-cache", "info"],
        &["--cache-dir", "/nonexistent/apk-rs-cache", "cache", "clean"],
        &[
            "--no-cache",
            "--cache-dir",
            "/nonexistent/apk-rs-cache",
            "info",
        ],
        &[
            "--cache-dir",
            "/nonexistent/apk-rs-cache",
            "version",
            "-t",
            "1",
            "2",
        ],
    ] {
        t.step_same(q);
    }
    for r in [&t.ours, &t.theirs] {
        std::os::unix::fs::symlink("/nonexistent/apk-rs-cache", r.join("etc/apk/cache")).unwrap();
    }
    t.step_same(&["info"]);
    t.step_same(&["add", "demo-hello"]);
    for r in [&t.ours, &t.theirs] {
        std::fs::remove_file(r.join("etc/apk/cache")).unwrap();
        std::fs::write(r.join("etc/apk/cache"), "").unwrap();
    }
    t.step_same(&["info"]);
    t.step_same(&["del", "demo-hello"]);
    for r in [&t.ours, &t.theirs] {
        std::fs::remove_file(r.join("etc/apk/cache")).unwrap();
    }
    junk("etc/apk/cache", &["junk2"]);
    junk("var/cache/apk", &["APKINDEX.deadbeef.tar.gz", "junkfile"]);
    t.step_same(&["-v", "cache", "clean"]);
    t.step_same(&["cache", "download"]);
    t.step_same(&["-v", "cache", "purge"]);
}

/// An index whose first record has no identity (`C:`) is refused whole with apk-tools'
/// warning, beside a good repository that still counts.
#[test]
fn index_records_without_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(bad.join("x86_64")).unwrap();
    let text = "P:noid\nV:1-r0\nA:x86_64\nS:1\nI:1\nT:no identity\n\n\
                C:Q1hoQuTA7o9MGmJ1bNhkm5Ao6qAaQ=\nP:withid\nV:1-r0\nA:x86_64\nS:1\nI:1\nT:w\n\n";
    let index = apk_format::v2::apkindex::IndexArchive {
        description: Some("bad".into()),
        packages: apk_format::v2::apkindex::parse(text, "test").unwrap(),
        signatures: vec![],
    }
    .write(0)
    .unwrap();
    std::fs::write(bad.join("x86_64/APKINDEX.tar.gz"), index).unwrap();
    // A large index whose record without identity comes late: apk-rs adds an index's
    // first parts while the rest parses, and must still refuse it whole.
    let big = tmp.path().join("bigbad");
    std::fs::create_dir_all(big.join("x86_64")).unwrap();
    let mut text: String = (0..4_000)
        .map(|i| {
            let id = apk_format::checksum::Checksum::sha1_of(format!("early{i}").as_bytes());
            format!("C:{id}\nP:early{i}\nV:1-r0\nA:x86_64\nS:1\nI:1\nT:early {i}\n\n")
        })
        .collect();
    assert!(text.len() > 300 << 10, "several parts");
    text.push_str("P:lateid\nV:1-r0\nA:x86_64\nS:1\nI:1\nT:no identity\n\n");
    let big_index = apk_format::v2::apkindex::IndexArchive {
        description: Some("bigbad".into()),
        packages: apk_format::v2::apkindex::parse(&text, "test").unwrap(),
        signatures: vec![],
    }
    .write(0)
    .unwrap();
    std::fs::write(big.join("x86_64/APKINDEX.tar.gz"), big_index).unwrap();
    let good = tmp.path().join("good");
    copy_dir(&demo_repo(), &good.join("x86_64"));
    let setup = |r: &Path| {
        demo_root(&good)(r);
        let repos = format!("{}\n{}\n{}\n", bad.display(), big.display(), good.display());
        std::fs::write(r.join("etc/apk/repositories"), repos).unwrap();
    };
    let Some(t) = Twin::new(tmp.path(), &["--allow-untrusted", "--no-scripts"], setup) else {
        return;
    };
    let (code, out) = t.step_same(&["--initdb", "add", "demo-lib"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("v2 database format error").count(), 2, "{out}");
    t.step(&["search", "-v", "noid"]);
    t.step(&["search", "-v", "withid"]);
    t.step_same(&["add", "withid"]);
    // None of the large index's records is available to apk-rs (apk-tools lists the
    // ones before the bad record, masked: README's differences).
    let ours = std::process::Command::new(env!("CARGO_BIN_EXE_apk"))
        .arg("--root")
        .arg(&t.ours)
        .args(["--allow-untrusted", "search", "early"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&ours.stdout);
    assert!(!listed.contains("early"), "{listed}");
    assert!(
        String::from_utf8_lossy(&ours.stderr).contains("v2 database format error"),
        "{ours:?}"
    );
}

/// Packages of a trusted index are checked by the identity the index gives, not by
/// their own signatures, as apk-tools checks them: real Alpine packages (signed by
/// Alpine's keys, which the roots do not have) install from an index signed by the
/// demo key; a package file that is not the one its index describes is refused; a
/// package file on the command line is still checked by its signature.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn packages_of_a_trusted_index_are_checked_by_identity() {
    let Some(shared) = shared_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let real = shared.join("realdata/alpine-3.19.1/x86_64");
    std::fs::create_dir_all(repo.join("x86_64")).unwrap();
    for f in ["musl-1.2.4_git20230717-r4.apk", "busybox-1.36.1-r15.apk"] {
        std::fs::copy(real.join(f), repo.join("x86_64").join(f)).unwrap();
    }
    // The index describes the first build of `swap`; the file is a second one.
    publish(
        &repo,
        vec![spec("swap", "1.0-r0").file("etc/swap", "one\n")],
    );
    let index = repo.join("x86_64/APKINDEX.tar.gz");
    let indexed = std::fs::read(&index).unwrap();
    publish(
        &repo,
        vec![spec("swap", "1.0-r0").file("etc/swap", "two\n")],
    );
    std::fs::write(&index, indexed).unwrap();
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    let (code, out) = t.step_same(&["--initdb", "--arch", "x86_64", "add", "busybox"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = t.step_same(&["add", "swap"]);
    assert_ne!(code, 0, "{out}");
    let file = real.join("zlib-1.3.1-r0.apk");
    let (code, out) = t.step_same(&["add", s(&file)]);
    assert!(code != 0 && out.contains("UNTRUSTED"), "{out}");
    t.step(&["fetch", "--stdout", "musl"]);
    t.step(&["fetch", "--stdout", "swap"]);
}

/// Prepares a root for the real repository `repo`: Alpine's keys from `keys`, and
/// `repo` as the repository.
fn real_root_setup<'a>(keys: &Path, repo: &'a Path) -> impl Fn(&Path) + 'a {
    let files = std::fs::read_dir(keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    root_with(files, repo)
}

/// The real Alpine 3.19.1 repository, as root with scripts and the busybox trigger
/// running: a fresh alpine-base, more packages, removals, fix and audit, the queries.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_alpine_base_root() {
    let Some(shared) = shared_dir() else { return };
    if !apk_core::fs::is_root() {
        eprintln!("notice: not root; the real-data differential suite needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = shared.join("realdata/alpine-3.19.1");
    let keys = shared.join("realdata/keys");
    let setup = real_root_setup(&keys, &repo);
    // A second repository with newer releases of two of them, signed with the demo key.
    let second = tmp.path().join("second");
    publish(
        &second,
        vec![
            spec("alpine-release", "3.19.2-r0")
                .field("origin", "alpine-base")
                .field("depend", "alpine-keys")
                .dir("etc")
                .file("etc/alpine-release", "3.19.2\n")
                .file("etc/issue", "Welcome to Alpine Linux 3.19.2\n"),
            spec("tzdata", "2024a-r0")
                .dir("usr")
                .dir("usr/share")
                .dir("usr/share/zoneinfo")
                .file("usr/share/zoneinfo/UTC", "TZif2 (test)\n"),
        ],
    );
    let Some(mut t) = Twin::new(tmp.path(), &[], setup) else {
        return;
    };
    // `stats` counts what apk-tools interns: the replaces of the installed database
    // (libcap2 has `r:libcap<2.64-r1`) too.
    t.step_same(&["--initdb", "add", "libcap2"]);
    t.step(&["stats"]);
    t.step_same(&["del", "libcap2"]);
    t.step_same(&["--initdb", "add", "alpine-base"]);
    t.step_same(&["add", "openssh", "chrony", "tzdata"]);
    for root in [&t.ours, &t.theirs] {
        std::fs::copy(
            testdata().join("keys/apk-rs-demo.rsa.pub"),
            root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
        )
        .unwrap();
        let repos = format!("{}\n{}\n", repo.display(), second.display());
        std::fs::write(root.join("etc/apk/repositories"), repos).unwrap();
    }
    t.step(&["-s", "upgrade"]);
    t.step_same(&["upgrade"]);
    t.step(&["info"]);
    t.step(&["info", "-a", "busybox"]);
    // Verbose: every line of every field names the package.
    t.step(&["-v", "info", "-a", "busybox-suid"]);
    // Quiet: `version` prints no header; `policy` of nothing says nothing.
    t.step(&["-q", "version"]);
    t.step(&["policy"]);
    t.step(&["info", "-L", "openssh-server"]);
    t.step(&["list", "-I"]);
    t.step(&["search", "-x", "openrc"]);
    // --origin without patterns lists everything; with them, wildcards too.
    t.step(&["list", "--installed", "--origin"]);
    t.step(&["list", "--origin", "busy*"]);
    t.step(&["policy", "busybox", "so:libc.musl-x86_64.so.1"]);
    for q in [
        &["query", "--fields", "all", "busybox", "openrc"][..],
        &[
            "query",
            "--format",
            "json",
            "--fields",
            "all",
            "openssh-server",
        ],
        &[
            "query",
            "--format",
            "yaml",
            "--fields",
            "all",
            "alpine-base",
        ],
        &["query", "--summarize", "reverse-depends:origin", "musl"],
        &["query", "-R", "--summarize", "package", "openssh"],
        &["query", "--world", "--summarize", "name"],
        &[
            "query",
            "--installed",
            "--fields",
            "name,status,scripts,triggers",
        ],
        &[
            "query", "--match", "provides", "--fields", "name", "cmd:ssh",
        ],
        &[
            "query",
            "--all-matches",
            "--match",
            "name,provides",
            "--fields",
            "name",
            "so:libc.musl-x86_64.so.1",
        ],
        &[
            "query",
            "--match",
            "depends",
            "--fields",
            "name",
            "so:libc.musl-x86_64.so.1",
        ],
        &["query", "--fields", "name,reverse-install-if", "openrc"],
        &["query", "--upgradable", "--fields", "package"],
        &[
            "query",
            "--from",
            "repositories",
            "--fields",
            "name,repositories",
            "busybox",
        ],
        &["info", "--format", "json", "-a", "busybox"],
        &["info", "-W", "/bin/sh", "/usr/bin/ssh"],
    ] {
        t.step(q);
    }
    t.step(&["stats"]);
    t.step(&["audit"]);
    t.step(&["audit", "--system"]);
    t.step(&["audit", "--full"]);
    t.step(&["audit", "--system", "--check-permissions"]);
    t.step(&["audit", "--details"]);
    t.step(&["audit", "--details", "--system", "--check-permissions"]);
    t.step(&["audit", "--full", "--ignore-busybox-symlinks"]);
    let rules = tmp.path().join("protected.list");
    std::fs::write(&rules, "+etc\n-etc/ssh\n!etc/apk\n").unwrap();
    t.step(&["audit", "--protected-paths", &rules.display().to_string()]);
    t.swap();
    t.step_same(&["del", "chrony"]);
    t.step_same(&["fix", "busybox"]);
    // Every folder a reinstalled package lists counts as changed: alpine-baselayout's
    // (bin, sbin, ...) run busybox's trigger though no file there is written.
    let (_, out) = t.step_same(&["fix", "alpine-baselayout"]);
    assert!(
        out.contains("Executing busybox-1.36.1-r15.trigger"),
        "{out}"
    );
    t.swap();
    t.step_same(&["del", "openssh", "tzdata"]);
    t.step(&["info", "-W", "/bin/busybox"]);
    // `info -e` and `-W` open no repository: one that is missing goes unmentioned.
    let missing = tmp.path().join("no-such-repository").display().to_string();
    t.step(&["-X", &missing, "info", "-e", "busybox", "openssh"]);
    t.step(&["-X", &missing, "info", "-W", "/bin/busybox", "/etc/ssh"]);
    // `manifest` opens the database with its repositories, and says so.
    t.step(&["-X", &missing, "manifest", "busybox-binsh"]);
    // A folder's mode changed behind apk's back: --directory-permissions restores it.
    for root in [&t.ours, &t.theirs] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("usr/share"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
    t.step_same(&["-v", "fix", "--directory-permissions"]);
    t.step(&["list", "--manifest"]);
    t.step(&["search", "-v", "-r", "musl"]);
}

/// `apk dot` as apk-tools draws it, on the real 3.19.1 root with Alpine 3.16's index as
/// a second repository (older releases of the same names): without names every name
/// in apk's hash order, with names the best package of each matching name (the
/// installed one, else the newest), names compared with the argument as given and
/// provided names with its name and version.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn dot_and_search_as_apk_tools_walk_them() {
    let Some(shared) = shared_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = shared.join("realdata/alpine-3.19.1");
    let keys = shared.join("realdata/keys");
    let old = tmp.path().join("v3.16");
    std::fs::create_dir_all(old.join("x86_64")).unwrap();
    std::fs::copy(
        shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz"),
        old.join("x86_64/APKINDEX.tar.gz"),
    )
    .unwrap();
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], real_root_setup(&keys, &repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "musl", "zlib", "busybox"]);
    // `search`, `dot` and `fetch` read no installed database unless a query option
    // names a source: without repositories they find nothing installed.
    for q in [
        &["--repositories-file", "/dev/null", "search", "zlib"][..],
        &[
            "--repositories-file",
            "/dev/null",
            "search",
            "--installed",
            "zlib",
        ],
        &[
            "--repositories-file",
            "/dev/null",
            "search",
            "--from",
            "installed",
            "zlib",
        ],
        &["--repositories-file", "/dev/null", "dot", "zlib"],
        &["--repositories-file", "/dev/null", "dot", "--installed"],
        &[
            "--repositories-file",
            "/dev/null",
            "fetch",
            "--simulate",
            "zlib",
        ],
    ] {
        t.step(q);
    }
    // `del -r` drops the names the removed packages provide from the world too.
    t.step_same(&["add", "so:libz.so.1"]);
    t.step(&["-s", "del", "-r", "zlib"]);
    for r in [&t.ours, &t.theirs] {
        let file = r.join("etc/apk/repositories");
        let mut repos = std::fs::read_to_string(&file).unwrap();
        repos.push_str(&format!("{}\n", old.display()));
        std::fs::write(&file, repos).unwrap();
    }
    for q in [
        &["dot", "--installed"][..],
        &["dot", "zlib"],
        &["dot", "musl", "zlib"],
        &["dot", "zlib<1.3"],
        &["dot", "so:libz.so.1"],
        &["dot", "so:libz.so.1>1"],
        &["dot", "z*"],
        &["dot", "--installed", "z*"],
        &["dot", "nonexistent"],
    ] {
        t.step(q);
    }
}

/// Scripts that fail, as apk-tools reports them (root only: scripts run in the root):
/// one that exits non-zero is named by its path under `lib/apk/exec`, one whose
/// interpreter the root lacks prints `execve: ...` and exits 127; both leave the
/// package installed and broken, and `fix` runs them again. A control stream with an
/// old `.INSTALL` script or a plain entry among the dotted ones is refused. A package
/// file cut short installs nothing.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn failing_scripts_and_cut_files_as_apk_tools_reports_them() {
    let Some(shared) = shared_dir() else { return };
    if !apk_core::fs::is_root() {
        eprintln!("notice: not root; scripts in another root need root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = shared.join("realdata/alpine-3.19.1");
    let keys = shared.join("realdata/keys");
    let mut files = Vec::new();
    for (name, entry, body) in [
        ("bad", ".post-install", "#!/bin/sh\necho hello\nexit 3\n"),
        ("noint", ".post-install", "#!/nonexistent/sh\necho hello\n"),
        // Control streams apk-tools refuses: "v2 package format error".
        ("nodot", "post-install", "#!/bin/sh\n"),
        ("oldinstall", ".INSTALL", "#!/bin/sh\n"),
    ] {
        let file = tmp.path().join(format!("{name}-1.0-r0.apk"));
        // A file too: a package that installs nothing runs no scripts.
        let bytes = spec(name, "1.0-r0")
            .dir("etc")
            .file(&format!("etc/{name}"), "x\n")
            .script(entry, body)
            .builder
            .build(None)
            .unwrap();
        std::fs::write(&file, bytes).unwrap();
        files.push(file);
    }
    // A script that shows its environment.
    let env_pkg = tmp.path().join("envshow-1.0-r0.apk");
    let bytes = spec("envshow", "1.0-r0")
        .dir("etc")
        .file("etc/envshow", "x\n")
        .script(
            ".post-install",
            "#!/bin/sh\nenv | grep -E '^(APK_|KEEP_|PATH)' | sort\n",
        )
        .builder
        .build(None)
        .unwrap();
    std::fs::write(&env_pkg, bytes).unwrap();
    let Some(mut t) = Twin::new(tmp.path(), &[], real_root_setup(&keys, &repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "busybox"]);
    // The scripts' environment: PATH and apk's two variables; with --preserve-env the
    // caller's, without its `APK_` ones.
    t.wrapper = ["env", "APK_FROM_CALLER=1", "KEEP_ME=1"]
        .map(String::from)
        .to_vec();
    let (_, out) = t.step_same(&["add", "--allow-untrusted", s(&env_pkg)]);
    assert!(
        out.contains("APK_SCRIPT=post-install") && !out.contains("KEEP_ME"),
        "{out}"
    );
    t.step_same(&["del", "envshow"]);
    let (_, out) = t.step_same(&["--preserve-env", "add", "--allow-untrusted", s(&env_pkg)]);
    assert!(
        out.contains("KEEP_ME=1") && !out.contains("APK_FROM_CALLER"),
        "{out}"
    );
    t.wrapper.clear();
    t.step_same(&["del", "envshow"]);
    // A broken package counts as an error in every later commit, as in apk-tools.
    for (f, want) in files.iter().zip([1, 2, 99, 99]) {
        let (code, out) = t.step_same(&["add", "--allow-untrusted", s(f)]);
        assert_eq!(code, want, "{out}");
    }
    t.step_same(&["-v", "fix"]);
    t.step_same(&["del", "bad", "noint"]);
    // A package file that ends too early ("unexpected end of file"): nothing of it
    // is installed, and the summary counts what is.
    let cut = tmp.path().join("zlib-1.3.1-r0.apk");
    let whole = std::fs::read(repo.join("x86_64/zlib-1.3.1-r0.apk")).unwrap();
    std::fs::write(&cut, &whole[..3000]).unwrap();
    t.step(&["verify", s(&cut)]);
    // apk-tools first reports the file it was writing ("failed to extract
    // lib/libz.so.1.3.1: Software caused connection abort", its internal code for a
    // broken stream; README), then what apk-rs reports.
    let run = |bin: &Path, root: &Path| {
        let o = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["add", "--allow-untrusted"])
            .arg(&cut)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let last = err.lines().last().unwrap_or_default().to_owned();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            last,
        )
    };
    let ours = run(Path::new(env!("CARGO_BIN_EXE_apk")), &t.ours);
    assert_eq!(ours, run(&t.reference, &t.theirs));
    assert_eq!(ours.2, "ERROR: zlib-1.3.1-r0: unexpected end of file");
    // (The log holds apk-tools' extra line too; the databases and files are the same.)
    let db = |r: &Path| std::fs::read(r.join("lib/apk/db/installed")).unwrap();
    assert_eq!(db(&t.ours), db(&t.theirs));
    assert!(!t.ours.join("lib/libz.so.1.3.1").exists());
    assert!(!t.theirs.join("lib/libz.so.1.3.1").exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// audit in its modes after changes, additions and removals, and fix repairing them.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn audit_reports_changes_and_fix_repairs_them() {
    use apk_format::v2::package::DataNode;
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    publish(
        &repo,
        vec![spec("sys", "1.0-r0")
            .dir("etc")
            .file("etc/sys.conf", "a=1\n")
            .dir("usr")
            .dir("usr/bin")
            .entry("usr/bin/sys", 0o755, DataNode::File(b"binary\n".to_vec()))
            .file("usr/bin/sys-data", "data\n")],
    );
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    t.step_same(&["--initdb", "add", "sys"]);
    // Only etc/apk, which no package owns, is reported.
    assert_eq!(t.step(&["audit"]).1, "D etc/apk/\n");
    assert_eq!(t.step(&["audit", "--system"]).1, "");
    for root in [&t.ours, &t.theirs] {
        std::fs::write(root.join("etc/sys.conf"), "a=2\n").unwrap();
        std::fs::write(root.join("etc/local.conf"), "mine\n").unwrap();
        std::fs::write(root.join("usr/bin/sys"), "tampered\n").unwrap();
        std::fs::remove_file(root.join("usr/bin/sys-data")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin/extra")).unwrap();
        std::fs::write(root.join("usr/bin/stray"), "x").unwrap();
    }
    let out = t.step(&["audit"]).1;
    assert!(
        out.contains("U etc/sys.conf\n") && out.contains("A etc/local.conf\n"),
        "{out}"
    );
    assert_eq!(
        t.step(&["audit", "--system"]).1,
        "U usr/bin/sys\nX usr/bin/sys-data\n"
    );
    t.step(&["audit", "--full"]);
    t.step(&["audit", "-r", "--full"]);
    assert_eq!(
        t.step(&["audit", "--system", "--packages"]).1,
        "sys-1.0-r0\n"
    );
    assert_eq!(
        t.step(&["-q", "audit", "--system", "--packages"]).1,
        "sys\n"
    );
    for root in [&t.ours, &t.theirs] {
        let conf = root.join("etc/sys.conf");
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&conf, "a=1\n").unwrap();
    }
    let out = t.step(&["audit", "--check-permissions"]).1;
    assert!(out.contains("M etc/sys.conf\n"), "{out}");
    let out = t.step_same(&["fix", "sys"]).1;
    assert!(out.contains("(1/1) Reinstalling sys (1.0-r0)"), "{out}");
    assert_eq!(t.step(&["audit", "--system"]).1, "");
    assert_eq!(
        std::fs::read_to_string(t.ours.join("usr/bin/sys")).unwrap(),
        "binary\n"
    );
}

/// The query applets and the options of README's list, on file:// repositories, then an
/// upgrade from a second repository with --ignore, -U, --cache-max-age, fetch --link,
/// cache sync, del -r.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn queries_upgrades_and_applet_options() {
    let tmp = tempfile::tempdir().unwrap();
    let (r1, r2) = (tmp.path().join("r1"), tmp.path().join("r2"));
    copy_dir(&demo_repo(), &r1.join("x86_64"));
    publish(
        &r2,
        vec![
            spec("demo-lib", "2.2-r0")
                .field("provides", "so:libdemo.so.2=2.2")
                .dir("usr")
                .dir("usr/lib")
                .file("usr/lib/libdemo.so.2", "new lib\n"),
            spec("docs", "2-r0"),
        ],
    );
    let repos = format!("file://{}\n{}\n", r1.display(), r2.display());
    let setup = |root: &Path| {
        demo_root(&r1)(root);
        std::fs::write(root.join("etc/apk/repositories"), &repos).unwrap();
        std::fs::create_dir_all(root.join("etc/apk/cache")).unwrap();
    };
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], setup) else {
        return;
    };
    t.step_same(&[
        "--initdb",
        "add",
        "demo-hello=1.0-r1",
        "docs=1-r0",
        "demo-lib<2.2",
    ]);
    for q in [
        &["info", "-e", "demo-hello", "nope"][..],
        &["info", "-W", "/usr/bin/demo-hello"],
        &["info", "--install-if", "demo-hello-doc"],
        &["info", "--license", "demo-lib"],
        &["info", "-R", "-r", "-P", "demo-lib"],
        &["list", "-I"],
        &["list", "-u"],
        &["list", "-o", "demo-hello"],
        &["list", "-O"],
        &["list", "-d"],
        &["list", "-d", "demo-base"],
        &["list", "-P", "so:libdemo.so.2"],
        &["search", "-a", "demo"],
        &["search", "-o", "demo-hello"],
        &["policy", "demo-lib", "docs"],
        // apk-tools 3's query engine: the query applet, and its options on the others.
        &["query", "demo-hello"],
        &["query", "--fields", "all", "demo-lib", "demo-hello"],
        &["query", "--format", "json", "--fields", "all", "demo-lib"],
        &["query", "--format", "yaml", "--fields", "all", "demo-hello"],
        &["query", "--summarize", "reverse-depends:origin", "demo-lib"],
        &["query", "-R", "--summarize", "package", "demo-hello"],
        &["query", "--world", "--fields", "name,version"],
        &["query", "--search", "demo", "--fields", "name"],
        &[
            "query",
            "--match",
            "description",
            "shared",
            "--fields",
            "name",
        ],
        &["query", "--match", "provides", "so:libdemo.so.2"],
        &[
            "query",
            "--installed",
            "--fields",
            "name,status,contents,repositories",
        ],
        &[
            "query",
            "--from",
            "repositories",
            "--fields",
            "name,download-url",
            "demo-lib",
        ],
        &["query", "--from", "none", "demo-lib"],
        &[
            "query",
            "--upgradable",
            "--all-matches",
            "--fields",
            "package",
        ],
        &["query", "--orphaned", "--installed"],
        &[
            "query",
            "--match",
            "owner",
            "/usr/bin/demo-hello",
            "--fields",
            "name",
        ],
        &["query", "demo-*", "--available", "--fields", "package"],
        &["query", "--format", "xml", "demo-lib"],
        &["info", "--format", "json", "no-such"],
        &["info", "--format", "json", "-a", "demo-lib"],
        &[
            "info",
            "--format",
            "yaml",
            "-W",
            "/usr/bin/demo-hello",
            "/nope",
        ],
        &["--no-legacy-info", "info", "-L", "demo-hello"],
        &["info", "--fields", "depends,license", "demo-hello"],
        &["--format", "json", "search", "demo"],
        &["list", "--from", "installed"],
        &["search", "--installed", "demo"],
        &["policy", "--available", "demo-lib"],
        &["search", "-r", "demo-lib"],
        &["search", "-v", "-r", "demo-lib"],
        &["search", "-v", "--has-origin", "demo-hello"],
        &["search", "-x", "demo"],
        &["search", "-v", "-v", "-d", "library"],
        &["list", "--manifest"],
        &["list", "DEMO-*"],
        &["list", "Demo-lib"],
        &["version", "DEMO*"],
        &["--simulate", "fetch", "demo-hello"],
        &["fetch", "--url", "--simulate", "-R", "demo-hello"],
        &[
            "fetch",
            "--simulate",
            "--built-after",
            "1800000000",
            "demo-lib",
        ],
        &[
            "fetch",
            "--simulate",
            "--pkgname-spec",
            "${name}_${arch}.apk",
            "demo-lib",
        ],
        &["fetch", "nope", "demo-lib", "--simulate"],
        &["fetch", "coffee"],
        &["fetch", "-s", "demo-lib"],
        &["fix", "-s", "nope"],
        &["fix", "-s"],
        &["upgrade", "-s", "--no-preupgrade"],
        &["manifest", "demo-hello"],
        &["version"],
        &["audit", "-r", "--full", "/usr"],
    ] {
        t.step(q);
    }
    t.step_same(&["upgrade", "--ignore", "demo-lib"]);
    t.step_same(&["-U", "--cache-max-age", "1", "upgrade"]);
    t.step(&["cache", "sync"]);
    t.same_tree();
    let (f1, f2) = (tmp.path().join("f1"), tmp.path().join("f2"));
    std::fs::create_dir_all(&f1).unwrap();
    std::fs::create_dir_all(&f2).unwrap();
    for (root, dir) in [(&t.ours, &f1), (&t.theirs, &f2)] {
        let bin = if root == &t.ours {
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_apk"))
        } else {
            t.reference.clone()
        };
        let o = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["fetch", "--link", "-o"])
            .arg(dir)
            .arg("docs")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(common::tree(&f1), common::tree(&f2));
    t.step_same(&["del", "-r", "demo-lib"]);
}

/// As a regular user, in usermode: the real 3.19.1 repository installed into a root the
/// user owns, scripts running in a user namespace, owners recorded but not restored.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn usermode_as_a_regular_user() {
    let Some(shared) = shared_dir() else { return };
    let setpriv = Path::new("/usr/bin/setpriv");
    if !apk_core::fs::is_root() || !setpriv.exists() {
        eprintln!("notice: needs root and setpriv to run as a user; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = shared.join("realdata/alpine-3.19.1");
    let keys = shared.join("realdata/keys");
    let setup = real_root_setup(&keys, &repo);
    let Some(mut t) = Twin::new(tmp.path(), &[], setup) else {
        return;
    };
    // The user (nobody) owns both roots and may reach them.
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    t.wrapper = [
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(String::from)
    .to_vec();
    t.step_same(&["--initdb", "add", "alpine-base"]);
    t.step_same(&["--initdb", "add", "--usermode", "alpine-base"]);
    t.step_same(&["add", "openssh", "chrony"]);
    t.step(&["audit"]);
    t.swap();
    t.step_same(&["del", "chrony"]);
}

/// Commit hooks (`etc/apk/commit_hooks.d`, `lib/apk/commit_hooks.d`: output, order, a
/// failing pre-commit hook stopping the commit, `--no-commit-hooks`, `--no-scripts`),
/// `-v`/`-vv`/`-vvv` output, `repositories.d` lists, the order of `-X` repositories,
/// apk's configuration file (`$APK_CONFIG`) and `--opt=yes|no`, on the real 3.19.1
/// repository (hooks need its shell; as root).
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn commit_hooks_configuration_and_verbose_output() {
    let Some(shared) = shared_dir() else { return };
    if !apk_core::fs::is_root() {
        eprintln!("notice: not root; commit hooks run in the root only as root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = shared.join("realdata/alpine-3.19.1");
    let keys = shared.join("realdata/keys");
    let setup = real_root_setup(&keys, &repo);
    let Some(mut t) = Twin::new(tmp.path(), &[], setup) else {
        return;
    };
    t.step_same(&["--initdb", "add", "alpine-base"]);
    let write = |root: &Path, rel: &str, body: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for root in [&t.ours, &t.theirs] {
        write(
            root,
            "etc/apk/commit_hooks.d/50-note",
            "#!/bin/sh\necho \"note: $1 ($APK_SCRIPT)\"\necho \"on stderr\" >&2\n",
            0o755,
        );
        write(
            root,
            "lib/apk/commit_hooks.d/10-system",
            "#!/bin/sh\necho \"system hook $1\"\n",
            0o755,
        );
        // The same name under etc replaces lib's.
        write(
            root,
            "lib/apk/commit_hooks.d/50-note",
            "#!/bin/sh\nexit 9\n",
            0o755,
        );
        write(
            root,
            "etc/apk/commit_hooks.d/.hidden",
            "#!/bin/sh\nexit 1\n",
            0o755,
        );
    }
    t.step_same(&["add", "tzdata"]);
    t.step_same(&["-v", "add", "chrony"]);
    t.step_same(&["-v", "-v", "-v", "del", "tzdata"]);
    t.step_same(&["-v", "-v", "add", "tzdata"]);
    t.step_same(&["--no-commit-hooks", "del", "chrony"]);
    t.step_same(&["--no-scripts", "del", "tzdata"]);
    t.step(&["-v", "-v", "-s", "add", "openssh"]);
    for root in [&t.ours, &t.theirs] {
        write(
            root,
            "etc/apk/commit_hooks.d/20-veto",
            "#!/bin/sh\n[ \"$1\" = pre-commit ] && exit 3\nexit 0\n",
            0o755,
        );
    }
    let (code, _) = t.step_same(&["add", "chrony"]);
    assert_eq!(code, 99);
    for root in [&t.ours, &t.theirs] {
        std::fs::remove_file(root.join("etc/apk/commit_hooks.d/20-veto")).unwrap();
    }

    // Repositories from repositories.d (lib's, replaced by etc's of the same name) and
    // -X, which apk-tools 3 reads first.
    let second = tmp.path().join("second");
    publish(
        &second,
        vec![spec("alpine-release", "3.19.2-r0")
            .field("origin", "alpine-base")
            .dir("etc")
            .file("etc/alpine-release", "3.19.2\n")],
    );
    for root in [&t.ours, &t.theirs] {
        std::fs::copy(
            testdata().join("keys/apk-rs-demo.rsa.pub"),
            root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
        )
        .unwrap();
        std::fs::write(root.join("etc/apk/repositories"), "").unwrap();
        write(
            root,
            "lib/apk/repositories.d/main.list",
            &format!("{}\n", second.display()),
            0o644,
        );
        write(
            root,
            "etc/apk/repositories.d/main.list",
            &format!("{}\n", repo.display()),
            0o644,
        );
        write(
            root,
            "lib/apk/repositories.d/zz-second.list",
            &format!("{}\n", second.display()),
            0o644,
        );
        write(root, "etc/apk/repositories.d/notes.txt", "ignored\n", 0o644);
    }
    t.step(&["update"]);
    t.step(&["policy", "alpine-release"]);
    t.step(&[
        "-X",
        &second.display().to_string(),
        "policy",
        "alpine-release",
    ]);
    t.step_same(&["-v", "upgrade"]);

    // apk's configuration file, and yes/no values on the command line.
    let config = tmp.path().join("apk-config");
    std::fs::write(
        &config,
        "# options for every run\nbogus-option\nno-commit-hooks\ninteractive no\ntimeout\n",
    )
    .unwrap();
    t.wrapper = vec!["env".to_owned(), format!("APK_CONFIG={}", config.display())];
    t.step_same(&["add", "tzdata"]);
    t.step_same(&["--commit-hooks=yes", "del", "tzdata"]);
    t.step(&["--cache=no", "--interactive=auto", "policy", "busybox"]);
    t.step(&["--scripts=maybe", "add", "tzdata"]);
    t.wrapper.clear();
    t.swap();
    t.step_same(&["add", "tzdata"]);
}

/// Volumes (`uvol/NAME` entries) go to the uvol manager as apk-tools hands them over:
/// none with `--root` unless `--uvol-manager` names one (the package is then broken),
/// `create`/`write`/`up` on install, `remove` after a failed `write`, `down`/`remove`
/// when the package goes; the manager's output and failures reported alike.
#[test]
fn volumes_go_to_the_uvol_manager() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    publish(
        &repo,
        vec![spec("voldemo", "1.0-r0")
            .dir("etc")
            .file("etc/voldemo.conf", "conf\n")
            .dir("uvol")
            .file("uvol/vol1", "volume contents\n")],
    );
    let log = tmp.path().join("uvol.log");
    let manager = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"uvol $*\" >> {}\n{body}", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let good = manager("uvol-good", "cat > /dev/null\n");
    let bad = manager(
        "uvol-bad",
        "echo \"manager says $1\"\n[ \"$1\" = write ] && exit 4\ncat > /dev/null\n",
    );
    let Some(t) = Twin::new(tmp.path(), &["--no-scripts"], demo_root(&repo)) else {
        return;
    };
    // Each step runs apk-rs, then apk-tools: the manager's log holds two equal halves.
    let step = |args: &[&str]| {
        std::fs::write(&log, "").unwrap();
        t.step_same(args);
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (a, b) = lines.split_at(lines.len() / 2);
        assert_eq!(a, b, "{args:?}: the uvol calls differ:\n{text}");
        lines.len()
    };
    assert_eq!(step(&["--initdb", "add", "voldemo"]), 0);
    assert_eq!(step(&["--uvol-manager", &good, "fix", "voldemo"]), 6);
    assert_eq!(step(&["--uvol-manager", &bad, "fix", "voldemo"]), 6);
    assert_eq!(
        step(&["--uvol-manager", "relative/uvol", "fix", "voldemo"]),
        0
    );
    assert_eq!(step(&["--uvol-manager", &good, "del", "voldemo"]), 4);
}

/// `--overlay-from-stdin` (a diskless system's lbu overlay): a package installing an
/// overlay file takes it over in the database, the overlay's contents stay; removing
/// the package keeps the changed configuration file.
#[test]
fn overlay_files_stay_as_apk_tools_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    publish(
        &repo,
        vec![spec("ovdemo", "1.0-r0")
            .dir("etc")
            .file("etc/ovdemo.conf", "package conf\n")
            .file("etc/ovdemo.other", "other\n")],
    );
    let setup = |root: &Path| {
        demo_root(&repo)(root);
        std::fs::write(root.join("etc/ovdemo.conf"), "user conf\n").unwrap();
    };
    let Some(mut t) = Twin::new(tmp.path(), &["--no-scripts"], setup) else {
        return;
    };
    t.wrapper = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "printf 'etc/\\netc/ovdemo.conf\\n' | \"$0\" \"$@\"".to_owned(),
    ];
    t.step_same(&["--initdb", "--overlay-from-stdin", "add", "ovdemo"]);
    t.wrapper.clear();
    t.step_same(&["audit"]);
    t.step_same(&["del", "ovdemo"]);
}
