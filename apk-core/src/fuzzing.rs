//! The bodies of the fuzz targets in `fuzz/`, kept here so that their regression corpus
//! (`fuzz/regressions/<target>/`) replays as a normal test. Each feeds arbitrary bytes to
//! one parser and checks the invariants that must hold for whatever it accepts.

use crate::{db::installed as db, repo};
use apk_format::v2::{apkindex as index, package, pkginfo};
use apk_format::{dep, version};

/// Version parsing and ordering: comparison is antisymmetric and reflexive.
pub fn version(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = s.split_once('\n').unwrap_or((s, "1.0"));
    let ab = version::compare(a, b);
    assert_eq!(ab.reverse(), version::compare(b, a), "{a:?} {b:?}");
    if version::is_valid(a) {
        assert_eq!(version::compare(a, a), std::cmp::Ordering::Equal);
    }
}

/// Dependency atoms: what parses prints back to something that parses to the same atom.
pub fn dependency(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(list) = dep::parse_list(s) {
        let printed = dep::format_list(&list);
        assert_eq!(dep::parse_list(&printed).ok(), Some(list), "{s:?}");
    }
}

/// APKINDEX text: accepted input rewrites and rereads to the same records.
pub fn apkindex(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pkgs) = index::parse(s, "fuzz") {
        let again =
            index::parse(&index::write(&pkgs), "rewritten").expect("rewritten index parses");
        assert_eq!(again, pkgs);
    }
}

/// `.PKGINFO`: accepted input round-trips.
pub fn pkginfo(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = pkginfo::PkgInfo::parse(s, "fuzz") {
        let _ = p.to_package_info("fuzz");
        let again = pkginfo::PkgInfo::parse(&p.write(), "rewritten").expect("rewritten parses");
        assert_eq!(again.fields, p.fields);
    }
}

/// Package and index streams: never a panic, whatever the bytes. A package read the
/// way installs read it, as a stream through a small buffer, reads as it does whole:
/// the same head, and data the stream accepts is accepted whole with the same entries
/// (the stream is the stricter of the two: its datahash is checked at the end).
pub fn package_stream(data: &[u8]) {
    let whole = package::Package::parse(data, "fuzz");
    let mut walked_whole = None;
    if let Ok(pkg) = &whole {
        let mut seen = Vec::new();
        let result = pkg.walk_data(data, "fuzz", |h, d| {
            assert!(!h.path.starts_with('/') && !h.path.split('/').any(|c| c == ".."));
            seen.push((h.clone(), d.to_vec()));
            Ok(())
        });
        walked_whole = Some(result.map(|_| seen));
    }
    let mut r = std::io::BufReader::with_capacity(7, data);
    let streamed = package::Package::read_head(&mut r, data.len() as u64, "fuzz");
    if let Ok((pkg, control)) = &streamed {
        let has_data = std::io::BufRead::fill_buf(&mut r).is_ok_and(|b| !b.is_empty());
        if has_data {
            let whole = whole.as_ref().expect("the stream's head parses whole");
            assert_eq!(pkg.info, whole.info);
            assert_eq!(&control[..], &data[whole.control.clone()]);
            let mut seen = Vec::new();
            let result =
                pkg.walk_data_from(r, "fuzz", 64, package::FileDigests::Check, |h, content| {
                    let d = match content {
                        package::Content::Bytes(b) => b.to_vec(),
                        package::Content::Stream(s) => {
                            let mut d = Vec::new();
                            std::io::Read::read_to_end(s, &mut d).map_err(|e| {
                                apk_format::error::Error::format("fuzz", e.to_string())
                            })?;
                            d
                        }
                    };
                    seen.push((h.clone(), d));
                    Ok(())
                });
            if result.is_ok() {
                match &walked_whole {
                    Some(Ok(entries)) => assert_eq!(entries, &seen),
                    other => panic!("streamed fine, whole: {other:?}"),
                }
            }
        }
    }
    let _ = index::IndexArchive::read(data, None, "fuzz");
    let _ = package::classify(data, "fuzz");
}

/// Installed database: accepted input rewrites to a database that reads back the
/// same packages and files (the writer adds the lines apk-tools always writes), and
/// rewriting that changes nothing.
pub fn installed_db(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pkgs) = db::parse_installed(s, "fuzz") {
        let written = db::write_installed(&pkgs);
        let again = db::parse_installed(&written, "rewritten").expect("rewritten db parses");
        let key = |p: &db::InstalledPackage| (p.info.name.clone(), p.info.version.clone());
        assert_eq!(
            again.iter().map(key).collect::<Vec<_>>(),
            pkgs.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!(
            again.iter().map(|p| &p.dirs).collect::<Vec<_>>(),
            pkgs.iter().map(|p| &p.dirs).collect::<Vec<_>>()
        );
        assert_eq!(db::write_installed(&again), written);
    }
}

/// Repositories file: accepted input round-trips and expands without panicking.
pub fn repositories(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = repo::RepositoriesFile::parse(s, "fuzz") {
        let _ = f.repositories("x86_64");
        let again =
            repo::RepositoriesFile::parse(&f.write(), "rewritten").expect("rewritten parses");
        assert_eq!(
            again.repositories("x86_64").ok(),
            f.repositories("x86_64").ok()
        );
    }
}

/// Protected-path rules (`protected_paths.d/*.list`): any text is read without a
/// panic, and a later `-path` rule always unprotects that path (apk's "ignore").
pub fn protected_paths(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (rules, path) = s.rsplit_once('\n').unwrap_or((s, "etc/x"));
    let mut p = crate::db::protect::ProtectedPaths::load(std::path::Path::new("/nonexistent"));
    p.add_rules(rules);
    let _ = p.of(path);
    // Rules are read trimmed of white space and slashes: compare like with like.
    let path = path.trim_matches(|c: char| c == '/' || c.is_whitespace());
    if !path.is_empty() && !path.contains(['*', '?', '[']) {
        p.add_rules(&format!("-{path}"));
        assert_eq!(
            p.of(path),
            crate::db::protect::Protection::Ignore,
            "{path:?}"
        );
    }
}

/// The database as a commit reads it (installed, scripts.tar, triggers): whatever it
/// accepts writes back into files that read back to the same state.
pub fn installed_state(data: &[u8]) {
    use crate::db::state::Installed;
    // Three files, separated by NUL bytes (so scripts.tar only when last-but-one).
    let mut parts = data.splitn(3, |&b| b == 0).map(Some);
    let (a, b, c) = (
        parts.next().flatten(),
        parts.next().flatten(),
        parts.next().flatten(),
    );
    let Ok(st) = Installed::parse(("installed", a), ("scripts", b), ("triggers", c)) else {
        return;
    };
    let installed = st.installed_text();
    let scripts = st.scripts_tar().expect("scripts.tar writes");
    let triggers = st.triggers_text();
    let again = Installed::parse(
        ("installed", Some(installed.as_bytes())),
        ("scripts", Some(&scripts)),
        ("triggers", Some(triggers.as_bytes())),
    )
    .expect("written database reads back");
    assert_eq!(again.installed_text(), installed);
    assert_eq!(again.triggers_text(), triggers);
    assert_eq!(again.scripts, st.scripts);
}

/// The snapshot's core payload (as if its checksum matched): whatever decodes answers
/// every lookup without panicking, finds each name under its own id, and encodes to a
/// payload that decodes and encodes again to the same bytes.
pub fn snapshot(data: &[u8]) {
    use crate::db::{decode_payload, encode_payload};
    let Some(db) = decode_payload(data) else {
        return;
    };
    let pool = &db.pool;
    for n in crate::pool::NameId::all(pool.names.len()) {
        assert_eq!(pool.find_name(pool.name(n)), Some(n));
        for p in pool.providers(n) {
            let _ = pool.provider_version(*p);
        }
        let _ = (pool.rdepends(n), pool.rinstall_if(n));
    }
    for id in crate::pool::PkgId::all(pool.packages.len()) {
        let deps = pool.pkg_deps(pool.pkg(id));
        for d in [deps.depends, deps.provides, deps.install_if, deps.replaces].concat() {
            let _ = (pool.dep_string(&d), pool.dep_analyze(Some(id), &d, id));
        }
        assert_eq!(pool.info(id).name, pool.name(pool.pkg(id).name));
        let _ = pool.nv(id);
    }
    let once = encode_payload(&db);
    let again = decode_payload(&once).expect("an encoded snapshot decodes");
    assert_eq!(encode_payload(&again), once);
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// ADB (v3) files: whatever unpacks and splits into blocks can be walked as
/// `adbdump` walks it and checked for signatures, without a panic.
pub fn adb(data: &[u8]) {
    use apk_format::adb::{self, dump};
    let Ok((bytes, _)) = adb::decompress(data, "fuzz") else {
        return;
    };
    let Ok(c) = adb::Container::parse(&bytes, "fuzz") else {
        return;
    };
    struct Count(usize);
    impl dump::Sink for Count {
        fn start_schema(&mut self, _: u32) {
            self.0 += 1;
        }
        fn start_object(&mut self) {
            self.0 += 1;
        }
        fn start_array(&mut self, _: usize) {
            self.0 += 1;
        }
        fn end(&mut self) {
            self.0 = self.0.checked_sub(1).expect("balanced");
        }
        fn comment(&mut self, _: &str) {}
        fn key(&mut self, _: &str) {}
        fn string(&mut self, _: &str, _: bool) {}
        fn number(&mut self, _: u64, _: adb::schema::Scalar) {}
    }
    let mut sink = Count(0);
    dump::dump(&c, Some(&apk_format::sign::Keyring::default()), &mut sink);
    assert_eq!(sink.0, 0, "every object and array ends");
}

/// The targets by name, for the regression replay.
/// `adbgen`'s reading of `adbdump` text: built or refused, never a panic.
pub fn adbgen(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = apk_format::adb::gen::generate(text, "fuzz");
    }
}

/// `convdb`'s reading of an installed database: converted, never a panic.
pub fn convdb(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let scripts = apk_format::adb::convdb::scripts(
        vec![(
            "a-1.Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=.post-install".into(),
            b"#!/bin/sh\n".to_vec(),
        )],
        "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA= /usr/share",
    );
    let name = |id: u32| id.to_string();
    let _ = apk_format::adb::convdb::convert(&text, &scripts, &name, &name);
}

pub const TARGETS: [(&str, Target); 13] = [
    ("version", version),
    ("dependency", dependency),
    ("apkindex", apkindex),
    ("pkginfo", pkginfo),
    ("package_stream", package_stream),
    ("installed_db", installed_db),
    ("repositories", repositories),
    ("protected_paths", protected_paths),
    ("installed_state", installed_state),
    ("snapshot", snapshot),
    ("adb", adb),
    ("adbgen", adbgen),
    ("convdb", convdb),
];
