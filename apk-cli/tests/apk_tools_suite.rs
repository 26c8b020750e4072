//! apk-tools 3.0.6's own user test suite (`test/user/*.sh` of its source, in
//! `../shared/reference`), run against apk-rs's `apk` (`APK=...`, with bash). The
//! scripts that pass must keep passing (all of them do); one that stopped would be
//! named in README with the reason.

mod common;

use std::path::Path;
use std::process::Command;

/// The scripts apk-rs passes today.
const PASSING: &[&str] = &[
    "cache-clean.sh",
    "cache-tmpfs.sh",
    "command-parsing.sh",
    "fetch.sh",
    "file-changes.sh",
    "hardlink.sh",
    "mkndx.sh",
    "mkpkg.sh",
    "overlay.sh",
    "query.sh",
    "replaces.sh",
    "scripts.sh",
    "symlink.sh",
    "update.sh",
    "usrmerge.sh",
    "uvol.sh",
];

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn apk_tools_user_tests() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tarball = shared.join("reference/apk-tools-3.0.6.tar.gz");
    let ok = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(tmp.path())
        .arg("apk-tools-3.0.6/test")
        .status()
        .expect("run tar");
    assert!(ok.success(), "extracting {}", tarball.display());
    let testdir = tmp.path().join("apk-tools-3.0.6/test");
    let mut scripts: Vec<String> = std::fs::read_dir(testdir.join("user"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".sh"))
        .collect();
    scripts.sort();
    assert_eq!(scripts.len(), 16, "{scripts:?}");
    let mut failed = Vec::new();
    let mut passed = Vec::new();
    for s in &scripts {
        let out = Command::new("bash")
            .arg(testdir.join("user").join(s))
            .env("APK", env!("CARGO_BIN_EXE_apk"))
            .env("TESTDIR", &testdir)
            .env_remove("SOURCE_DATE_EPOCH")
            .current_dir(Path::new("/tmp"))
            .output()
            .expect("run bash");
        if out.status.success() {
            passed.push(s.clone());
        } else {
            failed.push((s.clone(), String::from_utf8_lossy(&out.stdout).into_owned()));
        }
    }
    println!(
        "apk-tools user tests passed by apk-rs: {}/{}",
        passed.len(),
        scripts.len()
    );
    for p in &passed {
        if !PASSING.contains(&p.as_str()) {
            println!("now passing (add it to PASSING and README): {p}");
        }
    }
    let regressions: Vec<_> = failed
        .iter()
        .filter(|(s, _)| PASSING.contains(&s.as_str()))
        .collect();
    assert!(regressions.is_empty(), "{regressions:#?}");
}
