//! `apk index` over packages the project builds.

mod common;

use apk_core::index::IndexArchive;
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

fn read_index(path: &std::path::Path) -> IndexArchive {
    IndexArchive::read(&std::fs::read(path).unwrap(), None, "index").unwrap()
}

#[test]
fn index_holds_each_package_record() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("APKINDEX.tar.gz");
    let pkgs = demo_packages();
    let mut args = vec!["index", "-o", s(&out), "-d", "test repo"];
    args.extend(pkgs.iter().map(String::as_str));
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "Index has {n} packages (of which {n} are new)\n",
            n = pkgs.len()
        )
    );
    let idx = read_index(&out);
    assert_eq!(idx.description.as_deref(), Some("test repo"));
    assert_eq!(idx.packages.len(), pkgs.len());
    // Each record carries what the package itself says, plus identity and file size.
    for file in &pkgs {
        let bytes = std::fs::read(file).unwrap();
        let pkg = apk_core::package::Package::parse(&bytes, file).unwrap();
        let rec = idx
            .packages
            .iter()
            .find(|p| p.name == pkg.info.name)
            .unwrap();
        let mut want = pkg.info.clone();
        want.replaces.clear();
        want.replaces_priority = None;
        assert_eq!(rec, &want);
        assert_eq!(rec.size, Some(bytes.len() as u64));
        assert!(rec.checksum.is_some());
    }
    let hello = idx
        .packages
        .iter()
        .find(|p| p.name == "demo-hello")
        .unwrap();
    assert_eq!(
        apk_core::dep::format_list(&hello.depends),
        "demo-base so:libdemo.so.2"
    );
    // The committed demo index holds the same records.
    let committed = read_index(&demo_repo().join("APKINDEX.tar.gz"));
    assert_eq!(committed.packages, idx.packages);
}

#[test]
fn old_index_records_are_reused_and_arch_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.tar.gz");
    let pkgs = demo_packages();
    let mut args = vec!["index", "-o", s(&first)];
    args.extend(pkgs.iter().map(String::as_str));
    assert_eq!(run(&args).0, 0);
    // Make the old index newer than every package so that all records can be reused.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&first)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let second = tmp.path().join("second.tar.gz");
    let mut args = vec![
        "index",
        "--index",
        s(&first),
        "--rewrite-arch",
        "aarch64",
        "-o",
        s(&second),
    ];
    args.extend(pkgs.iter().map(String::as_str));
    let (code, stdout, _) = run(&args);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("Index has {} packages (of which 0 are new)\n", pkgs.len())
    );
    let idx = read_index(&second);
    assert!(idx
        .packages
        .iter()
        .all(|p| p.arch.as_deref() == Some("aarch64")));
}

#[test]
fn missing_dependency_warns_and_bad_package_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("APKINDEX.tar.gz");
    let hello = demo_repo().join("demo-hello-1.0-r1.apk");
    let (code, _, stderr) = run(&["index", "-o", s(&out), s(&hello)]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("WARNING: demo-hello-1.0-r1: no provider for dependency demo-base"),
        "{stderr}"
    );
    let (_, _, quiet) = run(&["index", "--no-warnings", "-o", s(&out), s(&hello)]);
    assert!(!quiet.contains("WARNING"), "{quiet}");

    let junk = tmp.path().join("junk-1.0-r0.apk");
    std::fs::write(&junk, b"junk").unwrap();
    let out2 = tmp.path().join("never.tar.gz");
    let (code, _, stderr) = run(&["index", "-o", s(&out2), s(&hello), s(&junk)]);
    assert_ne!(code, 0);
    assert!(stderr.contains(s(&junk)), "{stderr}");
    assert!(!out2.exists(), "no index is written when a package is bad");
}
