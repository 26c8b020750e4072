//! `apk version -t` and `-c`.

mod common;

use common::run;

#[test]
fn test_prints_the_relation() {
    for (a, b, want) in [
        ("1.0", "1.0", "="),
        ("1.0", "1.0_rc1", ">"),
        ("1.0_rc1", "1.0", "<"),
        ("2.36.3-r0", "2.36.10-r0", "<"),
    ] {
        let (code, out, _) = run(&["version", "-t", a, b]);
        assert_eq!(
            (code, out.as_str()),
            (0, format!("{want}\n").as_str()),
            "{a} {b}"
        );
    }
}

#[test]
fn invalid_input_prints_nothing_and_fails() {
    let (code, out, _) = run(&["version", "-t", "1.0", "banana"]);
    assert_ne!(code, 0);
    assert_eq!(out, "");
}

/// apk-tools 3.0.6 answers nothing, and 1, when a version is invalid (`0.99f7` too: no
/// digit may follow the letter).
#[test]
fn test_of_invalid_versions_prints_nothing() {
    for (a, b) in [("0.99f7-r0", "0.99f-r0"), ("1.0", "x1")] {
        assert_eq!(run(&["version", "-t", a, b]).0, 1, "{a} {b}");
        assert_eq!(run(&["version", "-t", a, b]).1, "", "{a} {b}");
    }
}

#[test]
fn check_reports_invalid_versions() {
    let (code, out, _) = run(&["version", "-c", "1.0", "x1", "1.2.3-r4", "1..2"]);
    assert_eq!(code, 2);
    assert_eq!(out, "x1\n1..2\n");
    let (code, out, _) = run(&["version", "-c", "1.0", "2_rc1"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, _) = run(&["-q", "version", "-c", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
}

#[test]
fn unknown_options_and_applets_are_refused() {
    let (code, _, err) = run(&["convdbx"]);
    assert_eq!(code, 1);
    assert!(err.contains("'convdbx' is not an apk command"), "{err}");
    let (code, _, _) = run(&["--no-such-option", "version"]);
    assert_ne!(code, 0);
}

#[test]
fn installed_packages_against_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    demo_repo_root(root);
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::write(
        root.join("lib/apk/db/installed"),
        "P:demo-lib\nV:2.0-r0\nI:1\n\nP:demo-base\nV:1.0-r0\nI:1\n\nP:local-only\nV:3\nI:1\n\n",
    )
    .unwrap();
    let r = root.to_str().unwrap();
    let header = format!("{:<39}   Available:\n", "Installed:");
    let (code, out, _) = run(&["--root", r, "--allow-untrusted", "version"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{header}{:<39} < 2.1-r0 \n", "demo-lib-2.0-r0")
    );
    let (_, out, _) = run(&["--root", r, "--allow-untrusted", "version", "-l", "=<"]);
    assert_eq!(
        out,
        format!(
            "{header}{:<39} = 1.0-r0 \n{:<39} < 2.1-r0 \n{:<39} = 3 \n",
            "demo-base-1.0-r0", "demo-lib-2.0-r0", "local-only-3"
        )
    );
}

#[test]
fn indexes_are_described() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::copy(
        common::testdata().join("keys/apk-rs-demo.rsa.pub"),
        root.join("etc/apk/keys/apk-rs-demo.rsa.pub"),
    )
    .unwrap();
    let repo = demo_repo_root(root);
    std::fs::create_dir_all(root.join("var/cache/apk")).unwrap();
    for round in 0..2 {
        // Read from the index, then from the snapshot the first run wrote.
        assert_eq!(
            root.join("var/cache/apk/apk-rs.snapshot").exists(),
            round == 1
        );
        let (code, out, err) = run(&["--root", common::s(root), "version", "-I"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            format!("apk-rs demo repository [{}]\n", repo.display())
        );
    }
}

/// Makes `root` use the demo repository (x86_64); returns the repository's path.
fn demo_repo_root(root: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(root.join("etc/apk")).unwrap();
    let repo = common::testdata().join("demo-repo");
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", repo.display()),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").unwrap();
    // An apk root: apk-tools refuses to read one without its world and database folder.
    std::fs::write(root.join("etc/apk/world"), "").unwrap();
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    repo
}
