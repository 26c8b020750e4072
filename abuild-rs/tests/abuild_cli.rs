//! abuild's own command line: the configuration files, `keygen -a`, the default verb and
//! the single steps, run in an APKBUILD's folder as one runs abuild.

mod common;

use std::path::Path;
use std::process::Command;

fn abuild_rs(home: &Path, dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abuild-rs"))
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("ABUILD_CONF", home.join("no-system-conf"))
        .env("PACKAGER", "Test Packager <test@example.org>")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn abuild_verbs_and_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let aport = tmp.path().join("aports/community/demo-data");
    common::copy_tree(&common::aports().join("community/demo-data"), &aport);

    // keygen -a -n: a key named after the packager, recorded in ~/.abuild/abuild.conf.
    let (code, out) = abuild_rs(&home, tmp.path(), &["keygen", "-a", "-n", "-b", "2048"]);
    assert_eq!(code, 0, "{out}");
    let conf = std::fs::read_to_string(home.join(".abuild/abuild.conf")).unwrap();
    assert!(conf.starts_with("PACKAGER_PRIVKEY=\""), "{conf}");
    assert!(conf.contains("/.abuild/test@example.org-"), "{conf}");
    let repodest = tmp.path().join("packages");
    std::fs::write(
        home.join(".abuild/abuild.conf"),
        format!("{conf}REPODEST={}\n", repodest.display()),
    )
    .unwrap();

    // listpkg, then the default verb (all) builds, signs and indexes into REPODEST.
    let (code, out) = abuild_rs(&home, &aport, &["listpkg"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "demo-data-3-r0.apk\ndemo-data-doc-3-r0.apk\n")
    );
    let (code, out) = abuild_rs(&home, &aport, &["up2date"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = abuild_rs(&home, &aport, &[]);
    assert_eq!(code, 0, "{out}");
    let arch = apk_core::db::installed::native_arch();
    let dir = repodest.join("community").join(arch);
    for f in [
        "demo-data-3-r0.apk",
        "demo-data-doc-3-r0.apk",
        "APKINDEX.tar.gz",
    ] {
        assert!(dir.join(f).is_file(), "{f}: {out}");
    }
    let pkg = std::fs::read(dir.join("demo-data-3-r0.apk")).unwrap();
    let info = apk_format::v2::package::Package::parse(&pkg, "demo-data").unwrap();
    assert_eq!(
        info.pkginfo.get("packager"),
        Some("Test Packager <test@example.org>")
    );
    assert!(
        !aport.join(".abuild-rs").exists(),
        "the work folder is cleaned up"
    );
    let (code, _) = abuild_rs(&home, &aport, &["up2date"]);
    assert_eq!(code, 0);
    let (code, out) = abuild_rs(&home, &aport, &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains(">>> demo-data: Package is up to date"),
        "{out}"
    );

    // cleanpkg removes this version's packages; the steps one by one make them again.
    let (code, out) = abuild_rs(&home, &aport, &["cleanpkg"]);
    assert_eq!(code, 0, "{out}");
    assert!(!dir.join("demo-data-3-r0.apk").exists());
    let (code, out) = abuild_rs(
        &home,
        &aport,
        &[
            "-q", "fetch", "unpack", "prepare", "build", "package", "rootpkg",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(dir.join("demo-data-3-r0.apk")).unwrap(), pkg);
    let (code, out) = abuild_rs(&home, &aport, &["srcpkg", "clean"]);
    assert_eq!(code, 0, "{out}");
    assert!(repodest.join("src/demo-data-3-r0.src.tar.gz").is_file());
    assert!(!aport.join(".abuild-rs").exists());
    let (code, out) = abuild_rs(&home, &aport, &["frobnicate"]);
    assert_ne!(code, 0, "{out}");
}
