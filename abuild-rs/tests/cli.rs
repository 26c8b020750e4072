//! `abuild-rs keygen`, `sign` and `pack`, checked with the project's `apk`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn abuild() -> Command {
    Command::new(env!("CARGO_BIN_EXE_abuild-rs"))
}

/// The `apk` binary of the same build (cargo builds every binary of the workspace
/// before it runs any test).
fn apk() -> Command {
    let dir = Path::new(env!("CARGO_BIN_EXE_abuild-rs"))
        .parent()
        .unwrap()
        .to_owned();
    let apk = dir.join("apk");
    assert!(
        apk.exists(),
        "apk is not built beside abuild-rs: run cargo test --workspace"
    );
    Command::new(apk)
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keygen_pack_sign_verify_both_key_types() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    for (ty, ext) in [("rsa", "rsa"), ("ed25519", "ed25519")] {
        ok(abuild()
            .args([
                "keygen", "--name", "t", "--type", ty, "--bits", "1024", "--out",
            ])
            .arg(&keys));
        let private = keys.join(format!("t.{ext}"));
        assert!(private.exists() && keys.join(format!("t.{ext}.pub")).exists());
        let root = tmp.path().join(format!("root-{ty}"));
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/hi"), "#!/bin/sh\necho hi\n").unwrap();
        let pkginfo = tmp.path().join("PKGINFO");
        std::fs::write(&pkginfo, "pkgname = hi\npkgver = 1.0-r0\narch = noarch\n").unwrap();
        let apk_file = tmp.path().join(format!("hi-{ty}.apk"));
        ok(abuild()
            .args(["pack", "--mtime", "0", "--pkginfo"])
            .arg(&pkginfo)
            .arg("--root")
            .arg(&root)
            .arg("--sign-key")
            .arg(&private)
            .arg("-o")
            .arg(&apk_file));
        let out = ok(apk()
            .arg("--keys-dir")
            .arg(&keys)
            .arg("verify")
            .arg(&apk_file));
        assert!(out.ends_with(": OK\n"), "{out}");
        // Re-signing replaces the signature and keeps the package valid.
        ok(abuild()
            .arg("sign")
            .arg("--key")
            .arg(&private)
            .arg(&apk_file));
        let bytes = std::fs::read(&apk_file).unwrap();
        let pkg = apk_core::package::Package::parse(&bytes, "x").unwrap();
        assert_eq!(pkg.signatures.len(), 1);
        let want = if ty == "rsa" {
            ".SIGN.RSA."
        } else {
            ".SIGN.ED25519."
        };
        assert_eq!(pkg.signatures[0].entry_name(), format!("{want}t.{ext}.pub"));
        ok(apk()
            .arg("--keys-dir")
            .arg(&keys)
            .arg("verify")
            .arg(&apk_file));
    }
}

#[test]
fn pack_refuses_bad_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let pkginfo = tmp.path().join("PKGINFO");
    std::fs::write(&pkginfo, "pkgname = hi\npkgver = not-a-version\n").unwrap();
    let out = abuild()
        .args(["pack", "--pkginfo"])
        .arg(&pkginfo)
        .arg("--root")
        .arg(tmp.path())
        .arg("-o")
        .arg(tmp.path().join("x.apk"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid or missing pkgver"));
    assert!(!tmp.path().join("x.apk").exists());
}

#[test]
fn regenerating_the_demo_repository_is_byte_identical() {
    let bin = Path::new(env!("CARGO_BIN_EXE_abuild-rs"))
        .parent()
        .unwrap()
        .to_owned();
    assert!(
        bin.join("apk").exists(),
        "apk is not built beside abuild-rs: run cargo test --workspace"
    );
    let tmp = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg(testdata().join("regen.sh"))
        .arg(tmp.path())
        .env("BIN", &bin)
        .status()
        .unwrap();
    assert!(status.success());
    let committed = testdata().join("demo-repo/x86_64");
    let mut compared = 0;
    for e in std::fs::read_dir(&committed).unwrap() {
        let p = e.unwrap().path();
        let fresh = tmp.path().join("x86_64").join(p.file_name().unwrap());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(&fresh).unwrap(),
            "{}",
            p.display()
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        std::fs::read_dir(tmp.path().join("x86_64"))
            .unwrap()
            .count()
    );
    assert!(compared >= 6);
}
