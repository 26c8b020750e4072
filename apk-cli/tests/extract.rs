//! `apk extract` and `apk manifest`: faithful on real packages, safe on hostile ones.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

/// Extracts the package's whole tar stream with GNU tar, an independent implementation
/// (its warnings about apk's own pax keywords are shown, not hidden; it must succeed).
fn gnu_tar_extract(pkg: &Path, dest: &Path) {
    // Decompressed to a file first: tar stops at the end-of-archive blocks, and a pipe
    // would then break under gzip.
    let script = format!(
        "set -e; t=$(mktemp); gzip -dc < '{}' > \"$t\"; tar -x --no-same-owner -f \"$t\" -C '{}'; rm -f \"$t\"",
        pkg.display(),
        dest.display()
    );
    let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "GNU tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_package_matches_gnu_tar() {
    let Some(shared) = shared_dir() else { return };
    let pkg = shared.join("realdata/alpine-3.16-main-x86_64/alpine-baselayout-3.2.0-r23.apk");
    let keys = shared.join("realdata/keys");
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&[
        "--keys-dir",
        s(&keys),
        "extract",
        "--destination",
        s(ours.path()),
        s(&pkg),
    ]);
    assert_eq!(code, 0, "{err}");
    gnu_tar_extract(&pkg, theirs.path());
    let theirs_tree: Vec<String> = tree(theirs.path())
        .into_iter()
        .filter(|p| !p.starts_with('.'))
        .collect();
    let ours_tree = tree(ours.path());
    assert_eq!(ours_tree, theirs_tree);
    assert!(ours_tree.len() > 50);
    for rel in &ours_tree {
        let (a, b) = (ours.path().join(rel), theirs.path().join(rel));
        let (ma, mb) = (a.symlink_metadata().unwrap(), b.symlink_metadata().unwrap());
        assert_eq!(ma.file_type(), mb.file_type(), "{rel}");
        if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&a).unwrap(),
                std::fs::read_link(&b).unwrap(),
                "{rel}"
            );
            continue;
        }
        assert_eq!(
            ma.permissions().mode() & 0o7777,
            mb.permissions().mode() & 0o7777,
            "{rel}"
        );
        assert_eq!(ma.mtime(), mb.mtime(), "{rel}");
        if ma.is_file() {
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{rel}"
            );
        }
    }
    let mode = |p: &str| {
        ours.path()
            .join(p)
            .symlink_metadata()
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("etc/crontabs/root"), 0o600);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("root"), 0o700);
}

#[test]
fn manifest_lists_file_checksums() {
    let pkg = demo_repo().join("demo-lib-2.1-r0.apk");
    // manifest reads the root's state, as apk-tools does: a root without a database is
    // refused, an empty one does.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (code, _, err) = run(&["--root", s(root), "--allow-untrusted", "manifest", s(&pkg)]);
    assert_eq!(code, 99, "{err}");
    assert!(err.contains("ERROR: Unable to read database"), "{err}");
    std::fs::create_dir_all(root.join("lib/apk/db")).unwrap();
    std::fs::create_dir_all(root.join("etc/apk")).unwrap();
    std::fs::write(root.join("etc/apk/world"), "").unwrap();
    let (code, out, err) = run(&["--root", s(root), "--allow-untrusted", "manifest", s(&pkg)]);
    assert_eq!(code, 0, "{err}");
    let content = b"not really an ELF library, version 2.1.0\n";
    let sha = apk_format::checksum::Checksum::sha1_of(content).to_hex();
    assert_eq!(out, format!("sha1:{sha}  usr/lib/libdemo.so.2.1.0\n"));
    // Signed by the demo key, which is not trusted by default: reported, and (as
    // apk-tools' manifest) the exit status stays 0.
    let (code, _, err) = run(&[
        "--root",
        s(root),
        "--keys-dir",
        "/nonexistent",
        "manifest",
        s(&pkg),
    ]);
    assert_eq!(code, 0);
    assert_eq!(err, format!("ERROR: {}: UNTRUSTED signature\n", s(&pkg)));
}

#[test]
fn demo_package_extracts_links_and_modes() {
    let dest = tempfile::tempdir().unwrap();
    let keys = testdata().join("keys");
    let pkgs = ["demo-lib-2.1-r0.apk", "demo-base-1.0-r0.apk"].map(|p| demo_repo().join(p));
    let (code, _, err) = run(&[
        "--keys-dir",
        s(&keys),
        "extract",
        "--destination",
        s(dest.path()),
        s(&pkgs[0]),
        s(&pkgs[1]),
    ]);
    assert_eq!(code, 0, "{err}");
    let link = dest.path().join("usr/lib/libdemo.so.2");
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str(),
        Some("libdemo.so.2.1.0")
    );
    let secret = dest.path().join("etc/demo/secret.conf").metadata().unwrap();
    assert_eq!(secret.permissions().mode() & 0o7777, 0o600);
    assert_eq!(secret.mtime(), 1_700_000_000);
}

/// What apk-rs's writer makes (long names, symlinks, hard links, modes, pax records)
/// GNU tar, an independent reader, extracts to the same tree apk-rs does.
#[test]
fn packages_apk_rs_writes_read_the_same_with_gnu_tar() {
    use apk_format::v2::package::{DataEntry, DataNode, PackageBuilder};
    let long = format!("usr/share/{}/file", "d".repeat(120));
    let mut b = PackageBuilder {
        mtime: 1_700_000_000,
        ..Default::default()
    };
    b.pkginfo.push("pkgname", "gnu");
    b.pkginfo.push("pkgver", "1.0-r0");
    let mut entry = |path: &str, mode: u32, node: DataNode| {
        b.entries.push(DataEntry {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            node,
        })
    };
    entry("usr", 0o755, DataNode::Dir);
    entry("usr/share", 0o755, DataNode::Dir);
    entry(
        &format!("usr/share/{}", "d".repeat(120)),
        0o750,
        DataNode::Dir,
    );
    entry(&long, 0o640, DataNode::File(b"deep\n".to_vec()));
    entry(
        "usr/share/plain",
        0o644,
        DataNode::File(b"plain\n".to_vec()),
    );
    entry(
        "usr/share/hard",
        0o644,
        DataNode::HardLink("usr/share/plain".into()),
    );
    entry(
        "usr/share/link",
        0o777,
        DataNode::Symlink(format!("{}/file", "d".repeat(120))),
    );
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("gnu-1.0-r0.apk");
    std::fs::write(&pkg, b.build(None).unwrap()).unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    std::fs::create_dir_all(&ours).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let (code, _, err) = run(&[
        "--allow-untrusted",
        "extract",
        "--destination",
        s(&ours),
        s(&pkg),
    ]);
    assert_eq!(code, 0, "{err}");
    gnu_tar_extract(&pkg, &theirs);
    let theirs_tree: Vec<String> = tree(&theirs)
        .into_iter()
        .filter(|p| !p.starts_with('.'))
        .collect();
    assert_eq!(tree(&ours), theirs_tree);
    for rel in [long.as_str(), "usr/share/plain", "usr/share/hard"] {
        let (a, b) = (ours.join(rel), theirs.join(rel));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{rel}"
        );
        let (ma, mb) = (a.metadata().unwrap(), b.metadata().unwrap());
        assert_eq!(
            ma.permissions().mode() & 0o7777,
            mb.permissions().mode() & 0o7777
        );
        assert_eq!(ma.mtime(), 1_700_000_000);
    }
    assert_eq!(
        std::fs::read_link(ours.join("usr/share/link")).unwrap(),
        std::fs::read_link(theirs.join("usr/share/link")).unwrap()
    );
}

/// Extracts `bytes` (as an unsigned package) into a fresh directory inside a sandbox
/// directory; returns (exit code, stderr, sandbox, destination).
fn extract_hostile(
    name: &str,
    bytes: &[u8],
) -> (i32, String, tempfile::TempDir, std::path::PathBuf) {
    let sandbox = tempfile::tempdir().unwrap();
    let file = sandbox.path().join(format!("{name}.apk"));
    std::fs::write(&file, bytes).unwrap();
    let dest = sandbox.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let (code, _, err) = run(&[
        "--allow-untrusted",
        "extract",
        "--destination",
        s(&dest),
        s(&file),
    ]);
    (code, err, sandbox, dest)
}

/// Paths in the sandbox other than the package file and the destination.
fn outside(sandbox: &Path) -> Vec<String> {
    tree(sandbox)
        .into_iter()
        .filter(|p| !p.ends_with(".apk") && p != "dest" && !p.starts_with("dest/"))
        .collect()
}

#[test]
fn hostile_packages_are_refused() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar_entry("../evil", b'0', 0o644, "", b"x"),
            "leaves the destination",
        ),
        (
            "deepdotdot",
            raw_tar_entry("a/../../evil", b'0', 0o644, "", b"x"),
            "leaves the destination",
        ),
        (
            "absolute",
            raw_tar_entry("/evil", b'0', 0o644, "", b"x"),
            "absolute path",
        ),
        (
            "symlink-then-file",
            [
                raw_tar_entry("link", b'2', 0o777, "..", b""),
                raw_tar_entry("link/evil", b'0', 0o644, "", b"x"),
            ]
            .concat(),
            "under a symlink",
        ),
        (
            "hardlink-out",
            raw_tar_entry("hl", b'1', 0o644, "../evil", b""),
            "hard link",
        ),
        (
            "hardlink-to-symlink",
            [
                raw_tar_entry("sl", b'2', 0o777, "/etc/passwd", b""),
                raw_tar_entry("hl", b'1', 0o644, "sl", b""),
            ]
            .concat(),
            "not an earlier file",
        ),
        (
            "chardev",
            raw_tar_entry("dev/null", b'3', 0o666, "", b""),
            "device node",
        ),
        (
            "blockdev",
            raw_tar_entry("dev/sda", b'4', 0o660, "", b""),
            "device node",
        ),
        (
            "non-utf8-name",
            raw_tar_entry(b"caf\xe9", b'0', 0o644, "", b"x"),
            "not UTF-8",
        ),
        (
            "oversized",
            {
                let mut e = raw_tar_entry("big", b'0', 0o644, "", b"only a little");
                set_tar_size(&mut e, 1 << 30);
                e
            },
            "truncated",
        ),
    ];
    for (name, tar, want) in cases {
        let pkg = package_with_data(name, tar);
        let (code, err, sandbox, dest) = extract_hostile(name, &pkg);
        assert_ne!(code, 0, "{name} was accepted");
        assert!(
            err.contains(&format!("{name}.apk")) && err.contains(want),
            "{name}: {err}"
        );
        assert_eq!(
            outside(sandbox.path()),
            Vec::<String>::new(),
            "{name} wrote outside"
        );
        assert_eq!(
            tree(&dest),
            Vec::<String>::new(),
            "{name} wrote into the destination"
        );
    }
}

#[test]
fn existing_symlink_in_destination_is_not_followed() {
    let sandbox = tempfile::tempdir().unwrap();
    let dest = sandbox.path().join("dest");
    let victim = sandbox.path().join("victim");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("etc")).unwrap();
    let pkg = package_with_data(
        "through",
        raw_tar_entry("etc/passwd", b'0', 0o644, "", b"pwned"),
    );
    let file = sandbox.path().join("through.apk");
    std::fs::write(&file, pkg).unwrap();
    let (code, _, err) = run(&[
        "--allow-untrusted",
        "extract",
        "--destination",
        s(&dest),
        s(&file),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("symlink"), "{err}");
    assert!(tree(&victim).is_empty(), "wrote through the symlink");
}

#[test]
fn gzip_bomb_is_bounded() {
    // 600 MiB of zeros behind a tiny header; .PKGINFO claims 1 KiB.
    let mut tar = raw_tar_entry("big", b'0', 0o644, "", b"");
    set_tar_size(&mut tar, 600 << 20);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    use std::io::Write;
    enc.write_all(&tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..600 {
        enc.write_all(&zeros).unwrap();
    }
    let data_gz = enc.finish().unwrap();
    let mut pkg = package_with_data("bomb", Vec::new());
    // Replace the empty data member by the bomb.
    let control_end = apk_format::v2::package::Package::parse(&pkg, "x")
        .unwrap()
        .data_start;
    pkg.truncate(control_end);
    pkg.extend(data_gz);
    let (code, err, _sandbox, dest) = extract_hostile("bomb", &pkg);
    assert_ne!(code, 0);
    assert!(
        err.contains("bomb.apk") && err.contains("exceeds the limit"),
        "{err}"
    );
    assert!(tree(&dest).is_empty());
}

#[test]
fn unknown_signer_is_refused() {
    let dest = tempfile::tempdir().unwrap();
    let pkg = demo_repo().join("demo-base-1.0-r0.apk");
    let (code, _, err) = run(&[
        "--keys-dir",
        "/nonexistent",
        "extract",
        "--destination",
        s(dest.path()),
        s(&pkg),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("UNTRUSTED signature"), "{err}");
    assert!(tree(dest.path()).is_empty());
}
