//! Repositories over HTTP, against a real server process on 127.0.0.1
//! (`tests/support/http_server.py`, Python's http.server with some deliberate
//! misbehaviour): update, install, the caches, and the ways a download goes wrong.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `dir` on 127.0.0.1.
fn serve(dir: &Path) -> Server {
    serve_with(dir, &[])
}

/// Serves `dir` on 127.0.0.1 over HTTPS, with a self-signed certificate for
/// 127.0.0.1 made in `dir`'s parent (openssl).
fn serve_tls(dir: &Path) -> Server {
    let parent = dir.parent().unwrap();
    let (cert, key) = (parent.join("cert.pem"), parent.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serve_with(
        dir,
        &[
            std::ffi::OsStr::new("--tls"),
            cert.as_os_str(),
            key.as_os_str(),
        ],
    )
}

fn serve_with(dir: &Path, extra: &[&std::ffi::OsStr]) -> Server {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/http_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the test HTTP server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    Server { child, port }
}

struct Root {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    served: PathBuf,
}

/// A fresh root trusting the demo key, and a copy of the demo repository to serve.
fn setup() -> Root {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let served = tmp.path().join("served");
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::copy(
        testdata().join("keys/apk-rs-demo.rsa.pub"),
        root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
    )
    .unwrap();
    let repo = served.join("repo/x86_64");
    std::fs::create_dir_all(&repo).unwrap();
    for e in std::fs::read_dir(demo_repo()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, repo.join(p.file_name().unwrap())).unwrap();
    }
    let (code, _, err) = run(&["--root", s(&root), "--initdb", "add"]);
    assert_eq!(code, 0, "{err}");
    Root {
        _tmp: tmp,
        root,
        served,
    }
}

impl Root {
    fn use_repo(&self, url: &str) {
        std::fs::write(self.root.join("etc/apk/repositories"), format!("{url}\n")).unwrap();
    }
    fn apk(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["--root", s(&self.root), "--no-scripts", "--timeout", "2"];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all);
        (code, format!("{out}{err}"))
    }
    fn cached_indexes(&self) -> Vec<String> {
        tree(&self.root.join("var/cache/apk"))
            .into_iter()
            .filter(|n| n.starts_with("APKINDEX."))
            .collect()
    }
}

#[test]
fn update_then_add_over_http() {
    let r = setup();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/repo", server.port));
    let (code, out) = r.apk(&["update"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!(
            "apk-rs demo repository [http://127.0.0.1:{}/repo]\nOK: 5 distinct packages available\n",
            server.port
        )
    );
    assert_eq!(r.cached_indexes().len(), 1);

    // The package cache is used when etc/apk/cache exists.
    std::fs::create_dir_all(r.root.join("etc/apk/cache")).unwrap();
    let (code, out) = r.apk(&["add", "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("OK: 56 KiB in 3 packages\n"), "{out}");
    assert!(r.root.join("usr/bin/demo-hello").exists());
    let cached: Vec<String> = tree(&r.root.join("etc/apk/cache"))
        .into_iter()
        .filter(|n| n.ends_with(".apk"))
        .collect();
    assert_eq!(cached.len(), 3, "{cached:?}");
    assert!(cached.iter().any(|n| n.starts_with("demo-hello-1.0-r1.")));

    // With the server gone, the cached index and packages still serve a reinstall.
    drop(server);
    let (code, out) = r.apk(&["fix", "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Reinstalling demo-hello (1.0-r1)"), "{out}");
}

/// A package announcing more than the 4 GiB limit is refused before it is read, and
/// nothing is installed.
#[test]
fn an_oversized_package_is_refused() {
    let r = setup();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/hugeapk/repo", server.port));
    let (code, out) = r.apk(&["add", "demo-lib"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("file larger than the 4294967296 byte limit"),
        "{out}"
    );
    assert!(!r.root.join("usr/lib/libdemo.so.2.1.0").exists());
}

#[test]
fn no_cache_fetches_every_time_and_keeps_nothing() {
    let r = setup();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/repo", server.port));
    let (code, out) = r.apk(&["--no-cache", "add", "demo-lib"]);
    assert_eq!(code, 0, "{out}");
    assert!(r.root.join("usr/lib/libdemo.so.2.1.0").exists());
    assert!(r.cached_indexes().is_empty());
}

#[test]
fn download_failures_are_reported_with_the_url() {
    let r = setup();
    let server = serve(&r.served);
    let base = format!("http://127.0.0.1:{}", server.port);
    let cases = [
        ("missing", "HTTP 404: Not Found"),
        ("truncated/repo", "truncated download"),
        ("stall/repo", "timed out after 2 s"),
        // The size limits: an index announcing more than 256 MiB is refused at once.
        ("huge/repo", "file larger than the 268435456 byte limit"),
    ];
    for (path, why) in cases {
        r.use_repo(&format!("{base}/{path}"));
        let (code, out) = r.apk(&["update"]);
        assert_eq!(code, 1, "{path}: {out}");
        assert!(
            out.contains(&format!(
                "WARNING: updating and opening {base}/{path}/x86_64/APKINDEX.tar.gz: {why}"
            )),
            "{path}: {out}"
        );
        assert!(out.contains("1 unavailable"), "{out}");
        assert!(r.cached_indexes().is_empty(), "{path}");
    }
    // A server error is retried.
    r.use_repo(&format!("{base}/flaky/repo"));
    let (code, out) = r.apk(&["update"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_tampered_package_is_refused_and_nothing_is_installed() {
    let r = setup();
    let pkg = r.served.join("repo/x86_64/demo-lib-2.1-r0.apk");
    let mut bytes = std::fs::read(&pkg).unwrap();
    let at = bytes.len() - 30;
    bytes[at] ^= 0xff;
    std::fs::write(&pkg, bytes).unwrap();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/repo", server.port));
    let (code, out) = r.apk(&["add", "demo-lib"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ERROR: demo-lib-2.1-r0: "), "{out}");
    assert!(!r.root.join("usr/lib").exists());
    let installed = std::fs::read_to_string(r.root.join("lib/apk/db/installed")).unwrap();
    assert_eq!(installed, "");
}

#[test]
fn fetch_downloads_over_http() {
    let r = setup();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/repo", server.port));
    let out_dir = r.root.join("fetched");
    std::fs::create_dir_all(&out_dir).unwrap();
    // `fetch` reads the cached index only (as apk-tools: it does not update it).
    let (code, out) = r.apk(&["update"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = r.apk(&["fetch", "-R", "-o", s(&out_dir), "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    let mut got = tree(&out_dir);
    got.sort();
    assert_eq!(
        got,
        [
            "demo-base-1.0-r0.apk",
            "demo-hello-1.0-r1.apk",
            "demo-lib-2.1-r0.apk"
        ]
    );
    assert_eq!(
        std::fs::read(out_dir.join("demo-lib-2.1-r0.apk")).unwrap(),
        std::fs::read(r.served.join("repo/x86_64/demo-lib-2.1-r0.apk")).unwrap()
    );
}

#[test]
fn cache_download_and_clean_as_apk_tools_does() {
    let r = setup();
    // Without a package cache, apk-tools 3 cleans the static cache and downloads
    // nothing (tests/differential.rs compares the two).
    let (code, out) = r.apk(&["cache", "sync"]);
    assert_eq!((code, out.as_str()), (0, ""));

    // etc/apk/cache -> /var/cache/apk, meant inside the root.
    std::os::unix::fs::symlink("/var/cache/apk", r.root.join("etc/apk/cache")).unwrap();
    let server = serve(&r.served);
    r.use_repo(&format!("http://127.0.0.1:{}/repo", server.port));
    std::fs::write(r.root.join("etc/apk/world"), "demo-hello\n").unwrap();
    let (code, out) = r.apk(&["update"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = r.apk(&["cache", "download"]);
    assert_eq!(code, 0, "{out}");
    let packages = || -> Vec<String> {
        tree(&r.root.join("var/cache/apk"))
            .into_iter()
            .filter(|n| n.ends_with(".apk"))
            .map(|n| n.rsplitn(3, '.').last().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        packages(),
        ["demo-base-1.0-r0", "demo-hello-1.0-r1", "demo-lib-2.1-r0"]
    );
    // As apk-tools cleans: packages still available stay whatever the world says;
    // a file that is no package (an unknown name, or a known name with the wrong size)
    // goes.
    std::fs::write(r.root.join("etc/apk/world"), "demo-lib\n").unwrap();
    let cache = r.root.join("var/cache/apk");
    std::fs::write(cache.join("gone-1.0-r0.12345678.apk"), "x").unwrap();
    let hello = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("demo-hello-"))
        .unwrap();
    std::fs::write(&hello, "truncated").unwrap();
    let (code, out) = r.apk(&["cache", "clean"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(packages(), ["demo-base-1.0-r0", "demo-lib-2.1-r0"]);
    assert_eq!(r.cached_indexes().len(), 1);
}

/// Over HTTP, against apk-tools 3.0.6 in a twin root: update, add with the package cache,
/// the index and package cache files named alike (so either tool uses the other's), and
/// each tool carrying on from the other's cache with the server gone.
#[test]
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
fn http_repository_as_apk_tools_uses_it() {
    let r = setup();
    let server = serve(&r.served);
    let url = format!("http://127.0.0.1:{}/repo", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let setup_root = |root: &Path| demo_root_with(root, &url);
    let Some(mut t) = common::twin::Twin::new(tmp.path(), &["--no-scripts"], setup_root) else {
        return;
    };
    t.step_same(&["--initdb", "add"]);
    t.step_same(&["update"]);
    t.step_same(&["add", "demo-hello"]);
    t.step_same(&["cache", "purge"]);
    t.step_same(&["cache", "download"]);
    t.step_same(&["-v", "cache", "purge"]);
    t.step_same(&["-v", "cache", "sync"]);
    t.step_same(&["cache", "-a", "--add-dependencies", "download", "demo-base"]);
    drop(server);
    t.swap();
    t.step_same(&["fix", "demo-hello"]);
    // Without the network only the cached file is left to reinstall from.
    let (_, out) = t.step_same(&["--no-network", "fix", "demo-hello"]);
    assert!(
        out.contains("Reinstalling demo-hello") && !out.contains("unavailable"),
        "{out}"
    );
    t.step_same(&["del", "demo-hello"]);
}

/// HTTPS with a certificate nobody trusts (`--no-check-certificate` reads it anyway),
/// and repositories that cannot be reached, as apk-tools reports them: the same
/// warnings (`updating and opening`, `fetching`, `updating` for a stale cached copy),
/// the same `update` summary and exit codes, the same roots.
#[test]
fn https_and_unreachable_repositories_as_apk_tools_reports_them() {
    let r = setup();
    let server = serve_tls(&r.served);
    let repos = format!(
        "https://127.0.0.1:{port}/repo\nhttp://127.0.0.1:{port}/plain-http-to-tls\nhttp://127.0.0.1:1/refused\n",
        port = server.port
    );
    let tmp = tempfile::tempdir().unwrap();
    let setup_root = |root: &Path| {
        std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
        std::fs::copy(
            testdata().join("keys/apk-rs-demo.rsa.pub"),
            root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
        )
        .unwrap();
        std::fs::write(root.join("etc/apk/repositories"), &repos).unwrap();
    };
    let Some(t) = common::twin::Twin::new(tmp.path(), &["--no-scripts"], setup_root) else {
        return;
    };
    let timeout = ["--timeout", "3"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        timeout.iter().chain(args).copied().collect()
    };
    let (code, out) = t.step_same(&with(&["--initdb", "add"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("TLS: server certificate not trusted"), "{out}");
    assert!(out.contains("Connection refused"), "{out}");
    let (code, out) = t.step_same(&with(&["update"]));
    assert_eq!(code, 3, "{out}");
    t.step_same(&with(&["--no-cache", "update"]));
    let (code, out) = t.step_same(&with(&["--no-check-certificate", "update"]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("apk-rs demo repository"), "{out}");
    // The cached index gets old: updating fails, the stale copy is used.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86400);
    for root in [&t.ours, &t.theirs] {
        for e in std::fs::read_dir(root.join("var/cache/apk"))
            .unwrap()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with("APKINDEX.") {
                std::fs::File::options()
                    .write(true)
                    .open(e.path())
                    .unwrap()
                    .set_modified(old)
                    .unwrap();
            }
        }
    }
    let (code, out) = t.step_same(&with(&["update"]));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("2 unavailable, 1 stale"), "{out}");
    let (code, out) = t.step_same(&with(&["--no-check-certificate", "add", "demo-hello"]));
    assert_eq!(code, 0, "{out}");
    drop(server);
}

/// A root trusting the demo key, with a cache and `repositories` naming `url`.
fn demo_root_with(root: &Path, url: &str) {
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::create_dir_all(root.join("etc/apk/cache")).unwrap();
    std::fs::copy(
        testdata().join("keys/apk-rs-demo.rsa.pub"),
        root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/repositories"), format!("{url}\n")).unwrap();
}

/// A v3 index (`packages.adb`, made and signed by apk-tools' mkndx over the demo
/// packages) as an HTTP repository: updated into the cache, installed from, used from
/// the cache alone, as apk-tools does.
#[test]
fn http_v3_index_as_apk_tools_uses_it() {
    let Some(reference) = common::twin::reference() else {
        return;
    };
    let r = setup();
    let dir = r.served.join("repo/x86_64");
    let mut pkgs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".apk"))
        .collect();
    pkgs.sort();
    let out = std::process::Command::new(&reference)
        .arg("--keys-dir")
        .arg(testdata().join("keys"))
        .arg("--sign-key")
        .arg(testdata().join("keys/apk-rs-demo.rsa"))
        .args(["mkndx", "-d", "demo v3", "-o"])
        .arg(dir.join("packages.adb"))
        .args(&pkgs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = serve(&r.served);
    let url = format!("http://127.0.0.1:{}/repo/x86_64/packages.adb", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let setup_root = |root: &Path| demo_root_with(root, &url);
    let Some(mut t) = common::twin::Twin::new(tmp.path(), &["--no-scripts"], setup_root) else {
        return;
    };
    t.step_same(&["--initdb", "add"]);
    t.step_same(&["update"]);
    let (code, out) = t.step_same(&["add", "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    t.step_same(&["info", "-a", "demo-hello"]);
    drop(server);
    // The server is gone: the cached index and packages still serve.
    t.step_same(&["--no-network", "search", "demo"]);
    t.swap();
    t.step_same(&["del", "demo-hello"]);
    t.step_same(&["--no-network", "add", "demo-hello"]);
}

/// Over HTTP, against apk-tools 3.0.6: only the applets that write (`del` aside) fetch
/// a stale or missing index into the cache, and not under `--simulate`; the others
/// read the cached copy or go without it. A download that does not verify is not
/// kept. `stats` counts the tags, the world's versions and the root's architecture
/// among its atoms; `-X` takes `@tag URL`.
#[test]
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
fn indexes_are_fetched_only_by_the_applets_that_write() {
    let r = setup();
    let server = serve(&r.served);
    let url = format!("http://127.0.0.1:{}/repo", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let setup_root = |root: &Path| demo_root_with(root, &url);
    let Some(t) = common::twin::Twin::new(tmp.path(), &["--no-scripts"], setup_root) else {
        return;
    };
    let (_, out) = t.step_same(&["--no-network", "--initdb", "add"]);
    assert!(out.contains("opening from cache"), "{out}");
    let (_, out) = t.step(&["policy", "demo-hello"]);
    assert!(out.contains("No such file or directory"), "{out}");
    t.step(&["-U", "search", "demo"]);
    t.step_same(&["-s", "add", "demo-hello"]);
    t.step_same(&["del", "demo-hello"]);
    let (code, out) = t.step_same(&["add", "demo-hello>1"]);
    assert_eq!(code, 0, "{out}");
    t.step(&["policy", "demo-hello"]);
    t.step(&["stats"]);
    let tagged = format!("@mirror {url}");
    t.step(&["-X", &tagged, "stats"]);
    t.step_same(&["-X", &tagged, "add", "demo-base@mirror"]);
    t.step(&["stats"]);
    t.step(&["-v", "update"]);
    // --recursive: what a request solves to; one that does not solve matches nothing
    // (and only `search` and `dot` fail for it).
    for q in [
        &["list", "-R", "-P", "-v", "demo-hello"][..],
        &["dot", "-R", "demo-hello"],
        &["dot", "-R", "nothere"],
        &["query", "-R", "--format", "json", "nothere"],
        &["fetch", "-R", "-s", "nothere", "demo-base"],
        &["search", "-R", "nothere"],
        &["list", "-R", "nothere"],
    ] {
        t.step(q);
    }
    // The key is gone: the fresh download does not verify, and the cached copy stays.
    for root in [&t.ours, &t.theirs] {
        std::fs::remove_file(root.join("etc/apk/keys/apk-rs-demo.rsa.pub")).unwrap();
    }
    t.step(&["update"]);
    t.step(&["--allow-untrusted", "policy", "demo-hello"]);
    drop(server);
}
