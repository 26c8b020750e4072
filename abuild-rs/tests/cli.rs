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
        let pkg = apk_format::v2::package::Package::parse(&bytes, "x").unwrap();
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
        // apk-tools reads what abuild-rs packed and signed with RSA; Ed25519 is apk-rs's
        // own scheme, which it does not know.
        if ty == "rsa" {
            if let Some(verdict) =
                apk_core::testing::reference_verify(std::slice::from_ref(&apk_file), &keys)
            {
                verdict.unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// RSA signatures over SHA-1, SHA-256 and SHA-512 (abuild-sign's `-t`), on a package and
/// on its index, end to end: apk-tools verifies them and installs from the repository,
/// and so does apk-rs.
#[test]
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
fn rsa_sha1_sha256_sha512_signatures_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    ok(abuild()
        .args(["keygen", "--name", "t", "--bits", "2048", "--out"])
        .arg(&keys));
    let private = keys.join("t.rsa");
    for ty in ["RSA", "RSA256", "RSA512"] {
        let repo = tmp.path().join(ty);
        let dir = repo.join("x86_64");
        std::fs::create_dir_all(&dir).unwrap();
        let root = tmp.path().join(format!("tree-{ty}"));
        std::fs::create_dir_all(root.join("usr/share/hi")).unwrap();
        std::fs::write(root.join("usr/share/hi/hi.txt"), "hi\n").unwrap();
        let pkginfo = tmp.path().join("PKGINFO");
        std::fs::write(&pkginfo, "pkgname = hi\npkgver = 1.0-r0\narch = noarch\n").unwrap();
        let apk_file = dir.join("hi-1.0-r0.apk");
        ok(abuild()
            .args(["pack", "--mtime", "0", "--pkginfo"])
            .arg(&pkginfo)
            .arg("--root")
            .arg(&root)
            .arg("-o")
            .arg(&apk_file));
        ok(abuild()
            .args(["sign", "-t", ty, "--key"])
            .arg(&private)
            .arg(&apk_file));
        let index = dir.join("APKINDEX.tar.gz");
        ok(apk()
            .arg("--keys-dir")
            .arg(&keys)
            .args(["index", "--rewrite-arch", "x86_64", "-o"])
            .arg(&index)
            .arg(&apk_file));
        ok(abuild()
            .args(["sign", "-t", ty, "--key"])
            .arg(&private)
            .arg(&index));
        let bytes = std::fs::read(&apk_file).unwrap();
        let pkg = apk_format::v2::package::Package::parse(&bytes, "x").unwrap();
        assert_eq!(
            pkg.signatures[0].entry_name(),
            format!(".SIGN.{ty}.t.rsa.pub")
        );
        // Both apk-tools verify both files; 3.0.6 installs from the repository.
        apk_core::testing::reference_verify(&[apk_file.clone(), index.clone()], &keys)
            .unwrap()
            .unwrap_or_else(|e| panic!("{ty}: {e}"));
        let reference = &apk_core::testing::reference_apks().unwrap()[0];
        for bin in [reference.clone(), apk().get_program().into()] {
            let target = tmp
                .path()
                .join(format!("root-{ty}-{}", bin.display().to_string().len()));
            std::fs::create_dir_all(target.join("etc/apk")).unwrap();
            copy_dir(&keys, &target.join("etc/apk/keys"));
            let out = ok(Command::new(&bin)
                .arg("--root")
                .arg(&target)
                .args(["--initdb", "--no-scripts", "--no-cache", "-X"])
                .arg(&repo)
                .args(["add", "hi"]));
            assert!(
                out.contains("Installing hi (1.0-r0)"),
                "{ty} {}: {out}",
                bin.display()
            );
            assert!(target.join("usr/share/hi/hi.txt").exists());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pub") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
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
