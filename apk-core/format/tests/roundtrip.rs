//! Round trips of every text format apk-format writes: what is written reads back equal
//! (parse(write(x)) == x), for generated values, including the awkward ones (conflicts,
//! tags, checksum dependencies, unknown fields, repeated keys).

use apk_format::checksum::Checksum;
use apk_format::dep::{self, Dependency, Op};
use apk_format::v2::{apkindex, pkginfo::PkgInfo};
use apk_format::PackageInfo;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._+-]{0,12}".prop_filter("valid name", |n| dep::is_valid_name(n))
}

fn version() -> impl Strategy<Value = String> {
    "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(_(alpha|beta|pre|rc|p)[0-9]?)?(-r[0-9]{1,2})?"
}

fn checksum() -> impl Strategy<Value = Checksum> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(Checksum::Sha1),
        any::<[u8; 32]>().prop_map(Checksum::Sha256),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec!["<", "<=", "=", "~", ">=", ">", ">~", "<~"])
        .prop_map(|s| Op::parse(s).expect("known operator"))
}

/// A dependency as an index holds it: no tag.
fn index_dep() -> impl Strategy<Value = Dependency> {
    prop_oneof![
        (name(), any::<bool>()).prop_map(|(n, conflict)| Dependency {
            conflict,
            ..Dependency::any(&n)
        }),
        (name(), op(), version(), any::<bool>()).prop_map(|(n, op, version, conflict)| {
            Dependency {
                name: n,
                tag: None,
                op,
                version,
                conflict,
            }
        }),
        (name(), checksum()).prop_map(|(n, c)| Dependency {
            name: n,
            tag: None,
            op: Op::CHECKSUM,
            version: c.to_string(),
            conflict: false,
        }),
    ]
}

/// A dependency as the world holds it: tags allowed.
fn world_dep() -> impl Strategy<Value = Dependency> {
    (index_dep(), prop::option::of("[a-z]{1,8}")).prop_map(|(mut d, tag)| {
        d.tag = tag;
        d
    })
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ._:/()+-]{1,40}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn package_info() -> impl Strategy<Value = PackageInfo> {
    let head = (
        prop::option::of(checksum()),
        name(),
        version(),
        prop::option::of("(x86_64|aarch64|noarch)"),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::option::of(text()),
        prop::option::of(text()),
    );
    let tail = (
        prop::option::of(name()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u16>()),
        prop::collection::vec(index_dep(), 0..4),
        prop::collection::vec(index_dep(), 0..3),
        prop::collection::vec(index_dep(), 0..2),
        prop::collection::vec(index_dep(), 0..2),
        prop::option::of(any::<u16>()),
    );
    (head, tail).prop_map(
        |(
            (checksum, name, version, arch, size, installed_size, description, license),
            (origin, build_time, provider_priority, depends, provides, install_if, replaces, q),
        )| PackageInfo {
            checksum,
            name,
            version,
            arch,
            size: size.map(u64::from),
            installed_size: installed_size.map(u64::from),
            description,
            license,
            origin,
            build_time: build_time.map(u64::from),
            provider_priority: provider_priority.map(u32::from),
            depends,
            provides,
            install_if,
            replaces,
            replaces_priority: q.map(u32::from),
            ..PackageInfo::default()
        },
    )
}

proptest! {
    #[test]
    fn checksum_round_trips(c in checksum()) {
        prop_assert_eq!(Checksum::parse(&c.to_string()).ok(), Some(c));
        prop_assert_eq!(Checksum::from_hex(&c.to_hex()).ok(), Some(c));
    }

    #[test]
    fn dependency_round_trips(d in world_dep()) {
        prop_assert_eq!(Dependency::parse(&d.to_string()).ok(), Some(d));
    }

    #[test]
    fn dependency_list_round_trips(list in prop::collection::vec(world_dep(), 0..6)) {
        prop_assert_eq!(dep::parse_list(&dep::format_list(&list)).ok(), Some(list));
    }

    #[test]
    fn apkindex_round_trips(pkgs in prop::collection::vec(package_info(), 1..5)) {
        let text = apkindex::write(&pkgs);
        let read = apkindex::parse(&text, "generated").map_err(|e| e.to_string());
        prop_assert_eq!(read.as_ref(), Ok(&pkgs), "{}", text);
        // The borrowed reader sees the same records.
        let refs = apkindex::parse_refs(&text, "generated").map_err(|e| e.to_string());
        let owned: Result<Vec<PackageInfo>, String> = refs.and_then(|r| {
            r.iter().map(|r| r.to_info().map_err(|e| e.to_string())).collect()
        });
        prop_assert_eq!(owned, Ok(pkgs));
    }

    #[test]
    fn pkginfo_round_trips(
        comments in prop::collection::vec("( [a-z0-9.]{1,8}){0,3}", 0..3),
        fields in prop::collection::vec(("[a-z_]{1,10}", text()), 0..10),
    ) {
        let p = PkgInfo {
            comments,
            fields,
        };
        let read = PkgInfo::parse(&p.write(), ".PKGINFO").map_err(|e| e.to_string());
        prop_assert_eq!(read, Ok(p));
    }
}

mod adb_roundtrip {
    use apk_format::adb::build::{self, Acl, DirSpec, FileSpec, PackageSpec};
    use apk_format::adb::{container, package::Package};
    use proptest::prelude::*;

    fn acl() -> impl Strategy<Value = Acl> {
        (
            prop::sample::select(vec![0o644u32, 0o755, 0o600, 0o4755]),
            "[a-z]{1,6}",
            "[a-z]{1,6}",
        )
            .prop_map(|(mode, user, group)| Acl {
                mode,
                user,
                group,
                xattrs: Vec::new(),
            })
    }

    fn file() -> impl Strategy<Value = (FileSpec, Vec<u8>)> {
        (
            "[a-z][a-z0-9._-]{0,8}",
            acl(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(name, acl, mtime, content)| {
                use sha2::Digest;
                let spec = FileSpec {
                    name,
                    acl,
                    mtime: u64::from(mtime),
                    size: content.len() as u64,
                    sha256: Some(sha2::Sha256::digest(&content).into()),
                    target: None,
                    link: None,
                };
                (spec, content)
            })
    }

    proptest! {
        /// A package built from a description reads back to that description: its
        /// metadata, and every file with its owner, mode and contents in order.
        #[test]
        fn package_round_trips(
            name in "[a-z][a-z0-9-]{0,10}",
            version in "[0-9]{1,2}\\.[0-9]{1,2}(-r[0-9])?",
            deps in prop::collection::btree_set("[a-z]{1,6}", 0..4),
            files in prop::collection::btree_map("[a-z]{1,6}", file(), 0..5),
        ) {
            let files: Vec<(FileSpec, Vec<u8>)> = files
                .into_iter()
                .map(|(n, (mut f, c))| { f.name = n; (f, c) })
                .collect();
            let spec = PackageSpec {
                info: vec![
                    ("name".into(), name.clone()),
                    ("version".into(), version.clone()),
                    ("depends".into(), deps.iter().cloned().collect::<Vec<_>>().join(" ")),
                ],
                dirs: vec![DirSpec {
                    name: "etc".into(),
                    acl: Acl {
                        mode: 0o755,
                        user: "root".into(),
                        group: "root".into(),
                        xattrs: vec![(b"user.x".to_vec(), b"1".to_vec())],
                    },
                    files: files.iter().map(|(f, _)| f.clone()).collect(),
                }],
                installed_size: 1,
                ..Default::default()
            };
            let (tree, data) = build::build(&spec).unwrap();
            let mut bytes = container::write(apk_format::adb::SCHEMA_PACKAGE, &tree, &[]);
            for (i, j, path) in &data {
                let mut payload = i.to_le_bytes().to_vec();
                payload.extend_from_slice(&j.to_le_bytes());
                let (_, c) = files
                    .iter()
                    .find(|(f, _)| format!("etc/{}", f.name) == *path)
                    .unwrap();
                payload.extend_from_slice(c);
                bytes.extend(container::block(2, &payload));
            }
            let pkg = Package::verify(&bytes, None, "generated").unwrap();
            prop_assert_eq!(&pkg.info.name, &name);
            prop_assert_eq!(&pkg.info.version, &version);
            let got: Vec<String> = pkg.info.depends.iter().map(|d| d.to_string()).collect();
            prop_assert_eq!(got, deps.iter().cloned().collect::<Vec<_>>());
            let mut seen = Vec::new();
            pkg.walk_data(&bytes, "generated", |h, content| {
                seen.push((h.path.clone(), h.mode, h.uname.clone(), content.to_vec()));
                Ok(())
            })
            .unwrap();
            let want: Vec<_> = std::iter::once(("etc".to_string(), 0o755, Some("root".to_string()), Vec::new()))
                .chain(files.iter().map(|(f, c)| {
                    (format!("etc/{}", f.name), f.acl.mode & 0o7777, Some(f.acl.user.clone()), c.clone())
                }))
                .collect();
            prop_assert_eq!(seen, want);
        }
    }
}
