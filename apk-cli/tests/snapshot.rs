//! The database snapshot gives the same answers as reading the indexes, and a damaged,
//! stale or concurrently built snapshot never changes an answer.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// An empty x86_64 root in `dir` with `repository` as its one repository and a cache
/// directory (so a snapshot is kept).
fn root_with_cache(dir: &Path, repository: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::create_dir_all(root.join("etc/apk/cache")).unwrap();
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", repository.display()),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/world"), "").unwrap();
    std::fs::write(root.join("lib/apk/db/installed"), "").unwrap();
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").unwrap();
    root
}

/// A root whose repository is the demo repository, trusted through its key, with a
/// cache directory (so a snapshot is kept).
fn demo_root(dir: &Path) -> PathBuf {
    let root = root_with_cache(dir, &testdata().join("demo-repo"));
    std::fs::copy(
        testdata().join("keys/apk-rs-demo.rsa.pub"),
        root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
    )
    .unwrap();
    root
}

fn plan(root: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["--root", s(root), "--simulate"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["add", "demo-hello"]);
    let (code, out, err) = run(&args);
    (code, format!("{out}{err}"))
}

/// Runs a query applet (`--root ROOT EXTRA... ARGS...`), which must succeed; its output.
fn query_ok(root: &Path, extra: &[&str], args: &[&str]) -> String {
    let mut all = vec!["--root", s(root)];
    all.extend_from_slice(extra);
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{err}");
    out
}

fn snapshot(root: &Path) -> PathBuf {
    root.join("etc/apk/cache/apk-rs.snapshot")
}

#[test]
fn same_answer_with_and_without_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let (code, without) = plan(&root, &["--no-cache"]);
    assert_eq!(code, 0, "{without}");
    assert!(
        !snapshot(&root).exists(),
        "--no-cache must not write a snapshot"
    );
    assert!(
        without.contains("Installing demo-hello (1.0-r1)"),
        "{without}"
    );
    let (_, building) = plan(&root, &[]);
    assert!(snapshot(&root).exists());
    let (_, mapped) = plan(&root, &[]);
    assert_eq!(building, without);
    assert_eq!(mapped, without);
}

#[test]
fn a_committing_applet_writes_the_snapshot_only_when_it_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let add = |extra: &[&str], name: &str| {
        let mut args = vec!["--root", s(&root), "--no-scripts"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["add", name]);
        run(&args)
    };
    // A commit rewrites the installed database the snapshot is keyed on: none written.
    let (code, _, err) = add(&[], "demo-hello");
    assert_eq!(code, 0, "{err}");
    assert!(!snapshot(&root).exists(), "a commit wrote a stale snapshot");
    // A request that does not solve changes nothing: the snapshot is kept.
    let (code, _, _) = add(&[], "no-such-package");
    assert_ne!(code, 0);
    assert!(snapshot(&root).exists(), "an unsolvable request wrote none");
    std::fs::remove_file(snapshot(&root)).unwrap();
    // Nor does --simulate.
    let (code, _, err) = add(&["--simulate"], "demo-hello");
    assert_eq!(code, 0, "{err}");
    assert!(snapshot(&root).exists(), "--simulate wrote none");
    // And the snapshot --simulate wrote is good for the next run: the same answer.
    let (_, mapped) = plan(&root, &[]);
    let (_, uncached) = plan(&root, &["--no-cache"]);
    assert_eq!(mapped, uncached);
}

#[test]
fn damaged_snapshots_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let (_, want) = plan(&root, &[]);
    let good = std::fs::read(snapshot(&root)).unwrap();
    let damage: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("flipped payload byte", {
            // Just past the 72-byte header: inside the checked core payload.
            let mut b = good.clone();
            b[80] ^= 0x55;
            b
        }),
        ("wrong format version", {
            let mut b = good.clone();
            b[8] ^= 0xff;
            b
        }),
        ("garbage", vec![0xAB; 4096]),
    ];
    for (what, bytes) in damage {
        std::fs::write(snapshot(&root), &bytes).unwrap();
        let (code, got) = plan(&root, &[]);
        assert_eq!(code, 0, "{what}: {got}");
        assert_eq!(got, want, "{what}");
        assert_eq!(
            std::fs::read(snapshot(&root)).unwrap(),
            good,
            "{what}: not rebuilt"
        );
    }
}

#[test]
fn stale_snapshot_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let (_, before) = plan(&root, &[]);
    assert!(!before.contains("demo-hello-doc"), "{before}");
    // With `docs` in the world, demo-hello-doc's install_if fires.
    std::fs::write(root.join("etc/apk/world"), "docs\n").unwrap();
    let (_, after) = plan(&root, &[]);
    assert!(
        after.contains("Installing demo-hello-doc (1.0-r1)"),
        "{after}"
    );
    let (_, uncached) = plan(&root, &["--no-cache"]);
    assert_eq!(after, uncached);
}

#[test]
fn untrusted_snapshot_is_not_reused_when_trust_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let (code, _) = plan(&root, &[]);
    assert_eq!(code, 0);
    // Without the key the index is no longer trusted: the snapshot must not hide that.
    std::fs::remove_file(root.join("etc/apk/keys/apk-rs-demo.rsa.pub")).unwrap();
    let (code, out) = plan(&root, &[]);
    assert_ne!(code, 0);
    assert!(out.contains("UNTRUSTED signature"), "{out}");
}

#[test]
fn concurrent_readers_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let (_, want) = plan(&root, &["--no-cache"]);
    let children: Vec<_> = (0..8)
        .map(|_| {
            apk()
                .args(["--root", s(&root), "--simulate", "add", "demo-hello"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text, want);
    }
    // And the snapshot they left is a good one.
    assert_eq!(plan(&root, &[]).1, want);
}

#[test]
fn damaged_metadata_records_are_read_from_the_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let query = |extra: &[&str]| query_ok(&root, extra, &["search", "-v"]);
    let want = query(&["--no-cache"]);
    assert!(
        want.contains("demo-hello-1.0-r1 - Says hello, the demo way"),
        "{want}"
    );
    let _ = plan(&root, &[]);
    let good = std::fs::read(snapshot(&root)).unwrap();
    // The metadata section ends the file: damage every record's last bytes.
    for back in [3, 40, 200, 600] {
        let mut b = good.clone();
        let i = b.len() - back;
        b[i] ^= 0x55;
        std::fs::write(snapshot(&root), &b).unwrap();
        assert_eq!(query(&[]), want, "byte -{back}");
        // Solving never reads the section, so the snapshot itself stays in use.
        let (code, out) = plan(&root, &[]);
        assert_eq!(code, 0, "{out}");
    }
}

#[test]
fn damaged_package_records_fall_back_to_the_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let root = demo_root(tmp.path());
    let sizes = |extra: &[&str]| query_ok(&root, extra, &["info", "-s", "demo-hello", "demo-lib"]);
    let (code, want_plan) = plan(&root, &["--no-cache"]);
    assert_eq!(code, 0, "{want_plan}");
    assert!(want_plan.contains("OK: "), "{want_plan}");
    let want_sizes = sizes(&["--no-cache"]);
    assert!(want_sizes.contains("installed size:"), "{want_sizes}");
    let _ = plan(&root, &[]);
    let good = std::fs::read(snapshot(&root)).unwrap();
    // The metadata section (after the 72-byte header and the deflated core payload)
    // starts with a 64-byte record per package: identity, installed size, where its
    // metadata lies.
    let core_len = u64::from_le_bytes(good[44..52].try_into().unwrap()) as usize;
    let records = 72 + core_len;
    assert_eq!(
        u64::from_le_bytes(good[64..72].try_into().unwrap()) as usize,
        good.len() - records,
        "the header's metadata length"
    );
    for within in [0, 5, 35, 42, 61] {
        let mut b = good.clone();
        for rec in 0..3 {
            b[records + rec * 64 + within] ^= 0x5a;
        }
        std::fs::write(snapshot(&root), &b).unwrap();
        assert_eq!(plan(&root, &[]), (0, want_plan.clone()), "byte {within}");
        assert_eq!(sizes(&[]), want_sizes, "byte {within}");
    }
    // Installing checks each package against its identity, which now comes from the
    // repository index instead of the damaged records.
    let (code, out, err) = run(&["--root", s(&root), "--no-scripts", "add", "demo-hello"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Installing demo-hello (1.0-r1)"), "{out}");
}

/// A large core payload (the real 3.16 index: 1.5 MB, past the size from which its
/// checksum is compared on a second thread while it is decoded) with one byte changed
/// deep inside: what was decoded from it is not used, and the snapshot is rebuilt.
#[test]
fn a_damaged_large_snapshot_is_not_used() {
    let Some(shared) = shared_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz");
    let root = root_with_cache(tmp.path(), &index);
    let args = |extra: &[&'static str]| {
        let mut a = vec!["--root", s(&root), "--allow-untrusted", "--simulate"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["add", "alpine-base", "build-base"]);
        let (code, out, err) = run(&a);
        assert_eq!(code, 0, "{err}");
        out
    };
    let want = args(&["--no-cache"]);
    assert!(want.contains("Installing build-base"), "{want}");
    assert_eq!(args(&[]), want);
    let good = std::fs::read(snapshot(&root)).unwrap();
    assert!(good.len() > 1 << 20, "{} bytes", good.len());
    // A name's letter in the string section, near the middle of the core payload: read
    // as it is, the names would no longer be what the index says.
    let mut bad = good.clone();
    let at = good.len() / 3
        + good[good.len() / 3..]
            .iter()
            .position(|b| b.is_ascii_lowercase())
            .unwrap();
    bad[at] ^= 0x20;
    std::fs::write(snapshot(&root), &bad).unwrap();
    assert_eq!(args(&[]), want);
    assert_eq!(std::fs::read(snapshot(&root)).unwrap(), good, "not rebuilt");
}
