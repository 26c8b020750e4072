//! `apk verify` on real Alpine files and on the demo repository.

mod common;

use common::*;

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_files_verify_with_alpine_keys() {
    let Some(shared) = shared_dir() else { return };
    let keys = shared.join("realdata/keys");
    let dir = shared.join("realdata/alpine-3.16-main-x86_64");
    let index = dir.join("APKINDEX.tar.gz");
    let pkg = dir.join("alpine-baselayout-3.2.0-r23.apk");
    let (code, out, _) = run(&["--keys-dir", s(&keys), "verify", s(&index), s(&pkg)]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, format!("{}: OK\n{}: OK\n", s(&index), s(&pkg)));

    // Without the keys nothing is trusted.
    let empty = tempfile::tempdir().unwrap();
    let (code, out, _) = run(&["--keys-dir", s(empty.path()), "verify", s(&index), s(&pkg)]);
    assert_eq!(code, 2);
    assert_eq!(
        out,
        format!(
            "{}: UNTRUSTED signature\n{}: UNTRUSTED signature\n",
            s(&index),
            s(&pkg)
        )
    );
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn tampered_copies_fail() {
    let Some(shared) = shared_dir() else { return };
    let keys = shared.join("realdata/keys");
    let tmp = tempfile::tempdir().unwrap();
    let pkg = std::fs::read(
        shared.join("realdata/alpine-3.16-main-x86_64/alpine-baselayout-3.2.0-r23.apk"),
    )
    .unwrap();
    for (i, pos) in [1000usize, 3000, 9000].into_iter().enumerate() {
        let mut bad = pkg.clone();
        bad[pos] ^= 0x04;
        let f = tmp.path().join(format!("bad{i}.apk"));
        std::fs::write(&f, bad).unwrap();
        let (code, out, _) = run(&["--keys-dir", s(&keys), "verify", s(&f)]);
        assert_ne!(code, 0, "flip at {pos} passed: {out}");
        assert!(out.starts_with(&format!("{}: ", s(&f))), "{out}");
        assert!(!out.contains(": OK"), "{out}");
        // apk-tools refuses each tampered copy too.
        let verdict = apk_core::testing::reference_verify(std::slice::from_ref(&f), &keys);
        assert!(
            matches!(verdict, Some(Err(_))),
            "apk-tools accepted {}",
            f.display()
        );
    }
    let junk = tmp.path().join("junk.apk");
    std::fs::write(&junk, b"hello").unwrap();
    let (code, out, _) = run(&["--allow-untrusted", "verify", s(&junk)]);
    assert_eq!(code, 1);
    assert!(out.contains("not a package"), "{out}");
}

/// The demo repository is what the project's own writers made (`testdata/regen.sh`): the
/// real apk-tools, both versions, must verify every file and install every package.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn demo_repository_is_accepted_by_apk_tools() {
    let keys = testdata().join("keys");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(demo_repo())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6);
    let Some(verdict) = apk_core::testing::reference_accepts(&files, &keys, &[]) else {
        return;
    };
    let outputs = verdict.unwrap_or_else(|e| panic!("{e}"));
    for out in outputs {
        assert!(out.contains("OK: ") && out.contains("5 packages"), "{out}");
    }
    // apk-rs agrees.
    let mut args = vec!["--keys-dir", s(&keys), "verify"];
    args.extend(files.iter().map(|f| s(f)));
    let (code, out, _) = run(&args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": OK\n").count(), files.len());
}

#[test]
fn quiet_prints_only_failures() {
    let keys = testdata().join("keys");
    let good = demo_repo().join("docs-1-r0.apk");
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("cut.apk");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() - 20]).unwrap();
    let (code, out, _) = run(&["-q", "--keys-dir", s(&keys), "verify", s(&good), s(&bad)]);
    assert_eq!(code, 1);
    assert_eq!(out, format!("{}\n", s(&bad)));
}
