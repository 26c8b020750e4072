//! `apk index` against apk-tools 3.0.6: with one `SOURCE_DATE_EPOCH`, the same packages
//! give the same output, exit status and `APKINDEX.tar.gz` (its streams byte for byte).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn demo_packages() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(demo_repo())
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".apk"))
        .collect();
    v.sort();
    v
}

/// Runs `apk index ARGS -o OUT` with `bin` (ours, or the reference) in a root whose keys
/// are the demo key when `trusted`; returns (status, stdout, stderr, written bytes).
fn index_with(
    bin: &Path,
    dir: &Path,
    trusted: bool,
    args: &[&str],
) -> (i32, String, String, Option<Vec<u8>>) {
    let root = dir.join("root");
    let keys = root.join("etc/apk/keys");
    std::fs::create_dir_all(&keys).unwrap();
    if trusted {
        std::fs::copy(
            testdata().join("keys/apk-rs-demo.rsa.pub"),
            keys.join("apk-rs-demo.rsa.pub"),
        )
        .unwrap();
    }
    let out = dir.join("APKINDEX.tar.gz");
    let _ = std::fs::remove_file(&out);
    let o = Command::new(bin)
        .arg("--root")
        .arg(&root)
        .arg("index")
        .args(args)
        .arg("-o")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        std::fs::read(&out).ok(),
    )
}

/// Both tools on the same arguments; asserts the same everything and returns ours.
fn same(trusted: bool, args: &[&str]) -> Option<(i32, String, String, Option<Vec<u8>>)> {
    let reference = apk_core::testing::reference_apks()?[0].clone();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ours = index_with(
        &PathBuf::from(env!("CARGO_BIN_EXE_apk")),
        a.path(),
        trusted,
        args,
    );
    let theirs = index_with(&reference, b.path(), trusted, args);
    assert_eq!(ours.0, theirs.0, "status of index {args:?}");
    assert_eq!(ours.1, theirs.1, "stdout of index {args:?}");
    assert_eq!(ours.2, theirs.2, "stderr of index {args:?}");
    // The streams, decompressed (zlib-rs and zlib may pick other encodings of the same
    // data; README lists it).
    let inflate = |b: &Option<Vec<u8>>| {
        b.as_ref().map(|b| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&b[..]), &mut out)
                .unwrap();
            out
        })
    };
    assert!(
        inflate(&ours.3) == inflate(&theirs.3),
        "APKINDEX.tar.gz of index {args:?} differs"
    );
    Some(ours)
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn index_is_the_reference_index() {
    let pkgs = demo_packages();
    let mut args = vec!["-d", "test repo"];
    args.extend(pkgs.iter().map(String::as_str));
    let Some((code, out, _, written)) = same(true, &args) else {
        return;
    };
    assert_eq!(
        (code, out.as_str()),
        (0, "Index has 5 packages (of which 5 are new)\n")
    );
    assert!(written.is_some());
    // Rewritten architecture and no description.
    let mut args = vec!["--rewrite-arch", "aarch64"];
    args.extend(pkgs.iter().map(String::as_str));
    same(true, &args);
    // The real 3.19.1 packages give the official index (as its README says).
    let Some(shared) = shared_dir() else { return };
    let dir = shared.join("realdata/alpine-3.19.1/x86_64");
    let mut real: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".apk"))
        .collect();
    real.sort();
    let mut args = vec![
        "--allow-untrusted",
        "--rewrite-arch",
        "x86_64",
        "-d",
        "3.19.1",
    ];
    args.extend(real.iter().map(String::as_str));
    let (code, _, _, written) = same(false, &args).unwrap();
    assert_eq!(code, 0);
    let ours = apk_format::v2::apkindex::RawIndex::read(&written.unwrap(), None, "ours").unwrap();
    let official = apk_format::v2::apkindex::RawIndex::read(
        &std::fs::read(dir.join("APKINDEX.tar.gz")).unwrap(),
        None,
        "official",
    )
    .unwrap();
    assert_eq!(ours.text, official.text);
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn untrusted_and_bad_packages_are_refused_and_missing_providers_warned() {
    let hello = demo_repo().join("demo-hello-1.0-r1.apk");
    // Without the key nothing is indexed (status 99, one error per package).
    let Some((code, _, err, written)) = same(false, &[s(&hello)]) else {
        return;
    };
    assert_eq!(code, 99);
    assert!(err.contains("UNTRUSTED signature"), "{err}");
    assert!(written.is_none());
    // With it, the missing providers are listed, and --no-warnings silences them.
    let (_, _, err, _) = same(true, &[s(&hello)]).unwrap();
    assert!(err.contains("No provider for the dependencies"), "{err}");
    let (_, _, err, _) = same(true, &["--no-warnings", s(&hello)]).unwrap();
    assert!(!err.contains("WARNING"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk-1.0-r0.apk");
    std::fs::write(&junk, b"junk").unwrap();
    let (code, _, err, written) = same(true, &[s(&hello), s(&junk)]).unwrap();
    assert_ne!(code, 0);
    assert!(err.contains(s(&junk)), "{err}");
    assert!(
        written.is_none(),
        "no index is written when a package is bad"
    );
    // A file that is not there is left out with a warning; the index is written.
    let missing = tmp.path().join("missing-1.0-r0.apk");
    let (code, _, err, written) = same(true, &[s(&missing), s(&hello)]).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("is unaccessible") && written.is_some(),
        "{err}"
    );
}

/// With an old index (`-x`), its packages count as providers for the warnings, as
/// apk-tools loads them all; and a package file written in the same second as the
/// index is taken from it.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn an_old_index_provides_and_is_reused_by_the_second() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let real = shared.join("realdata/alpine-3.19.1/x86_64");
    // Copies whose times are all the same second: the index's and the packages'.
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let copy = |name: &str| {
        let to = tmp.path().join(name);
        std::fs::copy(real.join(name), &to).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(when)
            .unwrap();
        s(&to).to_owned()
    };
    let old = copy("APKINDEX.tar.gz");
    let (zlib, yx) = (copy("zlib-1.3.1-r0.apk"), copy("yx-1.0.0-r1.apk"));
    // The Alpine key is not the demo one: --allow-untrusted for both tools.
    let Some((code, out, err, _)) = same(false, &["--allow-untrusted", "-x", &old, &zlib, &yx])
    else {
        return;
    };
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("(of which 0 are new)") && err.is_empty(),
        "{out}{err}"
    );
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn old_index_records_are_reused() {
    let Some(reference) = apk_core::testing::reference_apks() else {
        return;
    };
    let pkgs = demo_packages();
    for bin in [
        PathBuf::from(env!("CARGO_BIN_EXE_apk")),
        reference[0].clone(),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let first = tmp.path().join("first.tar.gz");
        let mut cmd = Command::new(&bin);
        cmd.args(["--allow-untrusted", "index", "-o"])
            .arg(&first)
            .args(&pkgs);
        assert!(cmd.status().unwrap().success());
        // An old index newer than every package: all its records can be reused.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&first)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let second = tmp.path().join("second.tar.gz");
        let out = Command::new(&bin)
            .args(["--allow-untrusted", "index", "--index"])
            .arg(&first)
            .arg("-o")
            .arg(&second)
            .args(&pkgs)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Index has {} packages (of which 0 are new)\n", pkgs.len()),
            "{}",
            bin.display()
        );
    }
}

/// `--index` with `--merge` and `--prune-origin`, and an unsigned old index refused
/// unless `--allow-untrusted`: the same output, exit status and index as apk-tools'.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn merged_and_pruned_indexes_are_the_reference_ones() {
    let Some(reference) = apk_core::testing::reference_apks() else {
        return;
    };
    let pkgs = demo_packages();
    let (first, rest) = pkgs.split_at(pkgs.len() - 1);
    let run = |bin: &PathBuf, dir: &std::path::Path, args: &[&str], files: &[String]| {
        let out = Command::new(bin)
            .args(args)
            .arg("-o")
            .arg(dir.join("out.tar.gz"))
            .args(files)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        let index = std::fs::read(dir.join("out.tar.gz"))
            .ok()
            .and_then(|b| apk_format::v2::apkindex::IndexArchive::read(&b, None, "out").ok())
            .map(|i| i.packages.iter().map(|p| p.nv()).collect::<Vec<_>>());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).replace(&dir.display().to_string(), "DIR"),
            index,
        )
    };
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_apk"));
    for extra in [
        &["--merge"][..],
        &["--merge", "--prune-origin"],
        &["--prune-origin"],
        &[],
    ] {
        let mut answers = Vec::new();
        for bin in [&ours, &reference[0]] {
            let tmp = tempfile::tempdir().unwrap();
            let old = tmp.path().join("old.tar.gz");
            let made = Command::new(bin)
                .args(["--allow-untrusted", "index", "-o"])
                .arg(&old)
                .args(first)
                .status()
                .unwrap();
            assert!(made.success());
            let old_arg = old.display().to_string();
            let mut args = vec!["index", "--index", old_arg.as_str()];
            args.extend_from_slice(extra);
            let strict = run(bin, tmp.path(), &args, rest);
            let mut lax = vec!["--allow-untrusted"];
            lax.extend(&args);
            let trusted = run(bin, tmp.path(), &lax, rest);
            answers.push((strict, trusted));
        }
        assert_eq!(
            answers[0], answers[1],
            "{extra:?}: apk-rs (left), apk-tools (right)"
        );
        assert_eq!(
            answers[0].0 .0,
            Some(99),
            "an unsigned old index is refused"
        );
    }
}

/// The same package given twice (a copy under another name) is one record, as
/// apk-tools keeps one package per identity.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn one_record_per_identity() {
    let Some(reference) = apk_core::testing::reference_apks() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = demo_repo().join("demo-lib-2.1-r0.apk");
    let copy = tmp.path().join("copy-of-demo-lib.apk");
    std::fs::copy(&src, &copy).unwrap();
    let mut outs = Vec::new();
    for bin in [
        PathBuf::from(env!("CARGO_BIN_EXE_apk")),
        reference[0].clone(),
    ] {
        let out = Command::new(&bin)
            .args(["--allow-untrusted", "index", "-o"])
            .arg(tmp.path().join("i.tar.gz"))
            .arg(&src)
            .arg(&copy)
            .output()
            .unwrap();
        outs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], "Index has 1 packages (of which 2 are new)\n");
}
