//! add, del, upgrade and fix against the demo repository, simulated.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn root_with(dir: &Path, world: &str, installed: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/apk")).unwrap();
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    let repo = testdata().join("demo-repo");
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", repo.display()),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/world"), world).unwrap();
    std::fs::write(root.join("lib/apk/db/installed"), installed).unwrap();
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").unwrap();
    root
}

fn apk_in(root: &Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["--root", s(root), "--allow-untrusted", "--simulate"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    (code, format!("{out}{err}"))
}

#[test]
fn add_installs_dependencies_first() {
    let tmp = tempfile::tempdir().unwrap();
    let root = root_with(tmp.path(), "", "");
    let (code, out) = apk_in(&root, &["add", "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "(1/3) Installing demo-base (1.0-r0)\n(2/3) Installing demo-lib (2.1-r0)\n(3/3) Installing demo-hello (1.0-r1)\nOK: 56 KiB in 3 packages\n"
    );
}

#[test]
fn install_if_follows_its_triggers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = root_with(tmp.path(), "", "");
    let (_, out) = apk_in(&root, &["add", "demo-hello", "docs"]);
    assert!(out.contains("Installing demo-hello-doc (1.0-r1)"), "{out}");
    let (_, out) = apk_in(&root, &["add", "demo-hello"]);
    assert!(!out.contains("demo-hello-doc"), "{out}");
}

#[test]
fn unknown_names_and_bad_atoms_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let root = root_with(tmp.path(), "", "");
    let (code, out) = apk_in(&root, &["add", "no-such-thing"]);
    assert_ne!(code, 0);
    assert_eq!(
        out,
        "ERROR: unable to select packages:\n  no-such-thing (no such package):\n    required by: world[no-such-thing]\n"
    );
    let (code, out) = apk_in(&root, &["add", "demo-hello=9"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("demo-hello-1.0-r1:\n    breaks: world[demo-hello=9]"),
        "{out}"
    );
    // apk-tools gives up with 99 there (checked: apk-3.0.6 -s add 'demo-hello==').
    let (code, out) = apk_in(&root, &["add", "demo-hello=="]);
    assert_eq!(code, 99);
    assert!(out.contains("is not a valid world dependency"), "{out}");
}

#[test]
fn del_purges_what_is_no_longer_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let installed =
        "P:demo-base\nV:1.0-r0\nI:4096\n\nP:demo-lib\nV:2.1-r0\nI:4096\np:so:libdemo.so.2=2.1\n\n";
    let root = root_with(tmp.path(), "demo-base\ndemo-lib\n", installed);
    let (code, out) = apk_in(&root, &["del", "demo-lib"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "(1/1) Purging demo-lib (2.1-r0)\nOK: 4096 B in 1 packages\n"
    );
}

#[test]
fn simulate_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = root_with(tmp.path(), "", "");
    let before = tree(&root);
    let (code, out) = apk_in(&root, &["add", "demo-hello"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Installing demo-hello"), "{out}");
    // Nothing but the static cache folder, which apk-tools makes too when it opens a
    // root for a change (simulated or not).
    let after: Vec<String> = tree(&root)
        .into_iter()
        .filter(|p| !p.ends_with("apk-rs.snapshot"))
        .filter(|p| !["var", "var/cache", "var/cache/apk"].contains(&p.as_str()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/apk/world")).unwrap(),
        ""
    );
    assert_eq!(
        std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap(),
        ""
    );
}

#[test]
fn stats_count_installed_and_available() {
    let tmp = tempfile::tempdir().unwrap();
    let installed = "P:demo-base\nV:1.0-r0\nI:4096\nF:etc\nR:a\nR:b\nF:usr\nR:c\n\n";
    let root = root_with(tmp.path(), "demo-base\n", installed);
    let (code, out, _) = run(&["--root", s(&root), "--allow-untrusted", "stats"]);
    assert_eq!(code, 0);
    // apk-tools counts the root folder among the directories.
    let head = "installed:\n  packages: 1\n  dirs: 3\n  files: 3\n  bytes: 4096\n  triggers: 0\navailable:\n";
    assert!(out.starts_with(head), "{out}");
    // The 5 packages of the demo repository, plus the installed demo-base: its record
    // has no identity (C:), so it is not the same package as the repository's.
    assert!(out.contains("  packages: 6\n"), "{out}");
}
