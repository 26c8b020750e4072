//! The formats against real, signed Alpine data.

use apk_core::testing::shared_dir;
use apk_format::sign::Keyring;
use apk_format::v2::apkindex::{self, IndexArchive};
use apk_format::v2::package::Package;

const INDEX: &str = "realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz";
const PACKAGE: &str = "realdata/alpine-3.16-main-x86_64/alpine-baselayout-3.2.0-r23.apk";

fn load(rel: &str) -> Option<(Vec<u8>, Keyring)> {
    let shared = shared_dir()?;
    let bytes = std::fs::read(shared.join(rel)).unwrap();
    let keys = Keyring::load_dir(&shared.join("realdata/keys")).unwrap();
    Some((bytes, keys))
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_index_verifies_and_round_trips() {
    let Some((bytes, keys)) = load(INDEX) else {
        return;
    };
    let idx = IndexArchive::read(&bytes, Some(&keys), "APKINDEX.tar.gz").unwrap();
    assert_eq!(idx.packages.len(), 4929);
    assert_eq!(idx.description.as_deref(), Some("v3.16.3-13-g4d933a1fa3"));
    assert_eq!(
        idx.signatures[0].key_name,
        "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
    );
    let musl = idx.packages.iter().find(|p| p.name == "musl").unwrap();
    assert_eq!(musl.origin.as_deref(), Some("musl"));
    assert!(musl
        .provides
        .iter()
        .any(|p| p.name == "so:libc.musl-x86_64.so.1"));

    // read -> write -> read is lossless, and the text is reproduced byte for byte.
    let text = apkindex::write(&idx.packages);
    let again = apkindex::parse(&text, "rewritten").unwrap();
    assert_eq!(again, idx.packages);
    let written = IndexArchive {
        signatures: vec![],
        ..idx.clone()
    }
    .write(0)
    .unwrap();
    let reread = IndexArchive::read(&written, None, "rewritten.tar.gz").unwrap();
    assert_eq!(reread.packages, idx.packages);
    assert_eq!(reread.description, idx.description);
    let original_text = {
        let m = apk_format::v2::archive::inflate_member(&bytes, 667, 1 << 30, "x").unwrap();
        let e = apk_format::v2::archive::read_small_tar(&m.data, "x").unwrap();
        String::from_utf8(
            e.into_iter()
                .find(|e| e.header.path == "APKINDEX")
                .unwrap()
                .data,
        )
        .unwrap()
    };
    assert_eq!(text, original_text);
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn tampered_index_is_refused() {
    let Some((bytes, keys)) = load(INDEX) else {
        return;
    };
    // Flip bytes across the signed (second) member: each must fail verification.
    for pos in [
        700,
        5_000,
        bytes.len() / 2,
        bytes.len() - 10,
        bytes.len() - 1,
    ] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x01;
        assert!(
            IndexArchive::read(&bad, Some(&keys), "bad").is_err(),
            "flip at {pos}"
        );
    }
    // A keyring without Alpine's key does not trust it.
    let e = IndexArchive::read(&bytes, Some(&Keyring::default()), "idx").unwrap_err();
    assert_eq!(e.to_string(), "idx: UNTRUSTED signature");
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_package_verifies() {
    let Some((bytes, keys)) = load(PACKAGE) else {
        return;
    };
    let pkg = Package::verify(&bytes, Some(&keys), "alpine-baselayout.apk").unwrap();
    assert_eq!(pkg.info.name, "alpine-baselayout");
    assert_eq!(pkg.info.version, "3.2.0-r23");
    assert_eq!(pkg.info.arch.as_deref(), Some("aarch64"));
    assert_eq!(pkg.info.size, Some(bytes.len() as u64));
    assert_eq!(
        pkg.signatures[0].key_name,
        "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub"
    );
    let scripts: Vec<&str> = pkg.scripts().map(|(n, _)| n).collect();
    assert_eq!(
        scripts,
        [
            ".pre-install",
            ".pre-upgrade",
            ".post-upgrade",
            ".post-install"
        ]
    );
    let mut seen = Vec::new();
    let summary = pkg
        .walk_data(&bytes, "x", |h, _| {
            seen.push((h.path.clone(), h.mode));
            Ok(())
        })
        .unwrap();
    assert!(summary.files > 10);
    assert!(seen.contains(&("etc/crontabs/root".to_string(), 0o600)));
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn tampered_package_is_refused() {
    let Some((bytes, keys)) = load(PACKAGE) else {
        return;
    };
    // Signature member ends at 666, control at 2229 (see the layout in realdata).
    for pos in [
        700,
        1500,
        2228,
        2300,
        6000,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x20;
        assert!(
            Package::verify(&bad, Some(&keys), "bad").is_err(),
            "flip at {pos}"
        );
    }
    let e = Package::verify(&bytes, Some(&Keyring::default()), "p.apk").unwrap_err();
    assert_eq!(e.to_string(), "p.apk: UNTRUSTED signature");
    let e = Package::verify(&bytes[..bytes.len() - 100], Some(&keys), "cut.apk").unwrap_err();
    assert!(e.to_string().starts_with("cut.apk: "), "{e}");
}

/// The real index read into a pool, written as a snapshot and loaded back: every name,
/// version, dependency list, identity and size is the same, and every name is found
/// under its own id.
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn real_index_pool_survives_the_snapshot() {
    let Some(shared) = shared_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/apk")).unwrap();
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").unwrap();
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", shared.join(INDEX).display()),
    )
    .unwrap();
    let keys_dir = shared.join("realdata/keys");
    let open = || {
        apk_core::db::Database::open(&apk_core::db::OpenOptions {
            root: root.clone(),
            keys: Some(Keyring::load_dir(&keys_dir).unwrap()),
            keys_dir: Some(keys_dir.clone()),
            no_snapshot: true,
            ..Default::default()
        })
        .unwrap()
    };
    let db = open();
    let (path, key) = (tmp.path().join("snapshot"), [7u8; 32]);
    db.write_snapshot(&path, &key).unwrap();
    let mut again = open();
    assert!(again.load_snapshot(&path, &key), "snapshot loads");
    let (a, b) = (&db.pool, &again.pool);
    assert!(!a.reads_tables_in_place());
    assert_eq!(
        b.reads_tables_in_place(),
        cfg!(target_endian = "little"),
        "the mapped snapshot's tables are read in place"
    );
    assert_eq!(a.packages.len(), 4929);
    assert_eq!(
        (a.packages.len(), a.names.len()),
        (b.packages.len(), b.names.len())
    );
    for n in apk_core::pool::NameId::all(a.names.len()) {
        assert_eq!(a.name(n), b.name(n));
        assert_eq!(b.find_name(a.name(n)), Some(n));
        assert_eq!(a.providers(n), b.providers(n));
        assert_eq!(a.rdepends(n), b.rdepends(n));
        assert_eq!(a.rinstall_if(n), b.rinstall_if(n));
    }
    let deps = |pool: &apk_core::pool::Pool, id| {
        let d = pool.pkg_deps(pool.pkg(id));
        [d.depends, d.provides, d.install_if, d.replaces]
            .map(|l| l.iter().map(|x| pool.dep_string(x)).collect::<Vec<_>>())
    };
    for id in apk_core::pool::PkgId::all(a.packages.len()) {
        assert_eq!(a.nv(id), b.nv(id));
        assert_eq!(deps(a, id), deps(b, id), "{}", a.nv(id));
        assert!(a.checksum(id).is_some(), "{}", a.nv(id));
        assert_eq!(a.checksum(id), b.checksum(id), "{}", a.nv(id));
        assert_eq!(a.installed_size(id), b.installed_size(id), "{}", a.nv(id));
        assert_eq!(
            a.info(id).description,
            b.info(id).description,
            "{}",
            a.nv(id)
        );
    }
    let musl = a.find_name("musl").unwrap();
    assert!(a.installed_size(a.providers(musl)[0].pkg) > 0);

    // Every field read back, also after another package's block was inflated.
    for id in apk_core::pool::PkgId::all(a.packages.len())
        .rev()
        .step_by(7)
    {
        assert_eq!(
            format!("{:?}", a.info(id)),
            format!("{:?}", b.info(id)),
            "{}",
            a.nv(id)
        );
    }

    // The snapshot is a cache kept in images: its core is stored unpacked (it is read
    // in place on every warm run), the rest deflated, so that the whole stays within
    // half again the index text it saves reading (the APKINDEX member of the signed
    // index).
    let mut text = 0u64;
    let gz = std::fs::File::open(shared.join(INDEX)).unwrap();
    let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(gz));
    for e in tar.entries().unwrap() {
        let e = e.unwrap();
        if e.path().unwrap().to_str() == Some("APKINDEX") {
            text = e.header().size().unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(text > 1_000_000, "index text read: {text} bytes");
    assert!(
        size <= text + text / 2,
        "snapshot {size} bytes, index text {text} bytes"
    );
}

/// Every real package's signature and control streams (the 3.19.1 repository's and the
/// others under `realdata`) read the same in place as through the tar crate, and most
/// of them are read in place.
#[test]
fn real_control_streams_read_in_place_as_the_tar_crate_reads_them() {
    use apk_format::v2::archive;
    let Some(shared) = shared_dir() else {
        return;
    };
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "apk") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&shared.join("realdata"), &mut files);
    assert!(files.len() > 50, "{} packages", files.len());
    let (mut streams, mut in_place) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let mut r = &bytes[..];
        for _ in 0..2 {
            let Ok((_, tar)) = archive::read_member(&mut r, archive::CONTROL_LIMIT, "t") else {
                break;
            };
            let through_crate = archive::tar_crate_extents(&tar, "t").map_err(|e| e.to_string());
            let read = archive::small_tar_extents(&tar, "t").map_err(|e| e.to_string());
            assert_eq!(read, through_crate, "{}", f.display());
            streams += 1;
            if let Some(plain) = archive::plain_tar_extents(&tar) {
                assert_eq!(Ok(plain), through_crate, "{}", f.display());
                in_place += 1;
            }
        }
    }
    assert!(streams >= 2 * files.len() - 5, "{streams} streams");
    eprintln!("{in_place} of {streams} streams read in place");
    assert!(
        in_place * 10 >= streams * 9,
        "{in_place} of {streams} read in place"
    );
}
