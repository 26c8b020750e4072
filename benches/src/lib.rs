//! Data for the benchmarks: the real Alpine index, and generated packages.

use std::path::{Path, PathBuf};

use apk_format::sign::PrivateKey;
use apk_format::v2::package::{DataEntry, DataNode, PackageBuilder};
use apk_format::v2::pkginfo::PkgInfo;

/// The decompressed APKINDEX text of the real Alpine 3.16 main index, if the shared
/// material is present.
pub fn real_index_text() -> Option<String> {
    let shared = apk_core::testing::shared_dir()?;
    let bytes =
        std::fs::read(shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz")).ok()?;
    let (_, start) = apk_format::v2::signed::read_signature_member(&bytes, "index").ok()?;
    let m = apk_format::v2::archive::inflate_member(&bytes, start, 1 << 30, "index").ok()?;
    let entries = apk_format::v2::archive::read_small_tar(&m.data, "index").ok()?;
    let e = entries.into_iter().find(|e| e.header.path == "APKINDEX")?;
    String::from_utf8(e.data).ok()
}

pub fn shared_file(rel: &str) -> Option<PathBuf> {
    Some(apk_core::testing::shared_dir()?.join(rel))
}

/// Writes `n` small packages (`gen-<i>-1.0-r0.apk`) into `dir`, signed with a 2048-bit
/// RSA key (the size Alpine's keys start at) whose public half is written to
/// `dir/keys/bench.rsa.pub`, so that `apk index --keys-dir dir/keys` checks each one.
pub fn generate_packages(dir: &Path, n: usize) -> Vec<PathBuf> {
    let key = PrivateKey::generate_rsa(2048).expect("key");
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    std::fs::write(keys.join("bench.rsa.pub"), key.public_key().to_pem()).expect("public key");
    (0..n)
        .map(|i| {
            let mut info = PkgInfo::default();
            info.push("pkgname", format!("gen-{i}"));
            info.push("pkgver", "1.0-r0");
            info.push("pkgdesc", format!("generated package {i}"));
            info.push("arch", "x86_64");
            info.push("license", "MIT");
            if i > 0 {
                info.push("depend", format!("gen-{}", i / 2));
            }
            let b = PackageBuilder {
                pkginfo: info,
                entries: vec![
                    DataEntry {
                        path: "usr".into(),
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        uname: None,
                        gname: None,
                        node: DataNode::Dir,
                    },
                    DataEntry {
                        path: "usr/share".into(),
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        uname: None,
                        gname: None,
                        node: DataNode::Dir,
                    },
                    DataEntry {
                        path: format!("usr/share/gen-{i}"),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
                        uname: None,
                        gname: None,
                        node: DataNode::File(
                            format!("content of package {i}\n").repeat(20).into_bytes(),
                        ),
                    },
                ],
                mtime: 1_700_000_000,
                ..Default::default()
            };
            let bytes = b.build(Some((&key, "bench.rsa.pub"))).expect("build");
            let path = dir.join(format!("gen-{i}-1.0-r0.apk"));
            std::fs::write(&path, bytes).expect("write");
            path
        })
        .collect()
}

/// A root whose repositories are the `n_repos` indexes of a generated universe of
/// `n_packages` packages: dependency chains, shared library names with several
/// versioned providers of different priorities, and install_if rules. Indexes are unsigned; open the
/// root with `--allow-untrusted` semantics (no keyring).
pub fn generate_universe(dir: &Path, n_packages: usize, n_repos: usize) -> PathBuf {
    use std::fmt::Write;
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/apk/cache")).expect("root");
    std::fs::create_dir_all(root.join("lib/apk/db")).expect("root");
    let texts = universe_texts(n_packages, n_repos);
    let mut repo_lines = String::new();
    for (r, text) in texts.iter().enumerate() {
        let path = dir.join(format!("repo{r}.tar.gz"));
        let archive = apk_format::v2::apkindex::IndexArchive {
            description: Some(format!("generated {r}")),
            packages: apk_format::v2::apkindex::parse(text, "generated").expect("generated index"),
            signatures: vec![],
        };
        std::fs::write(&path, archive.write(0).expect("index")).expect("write index");
        let _ = writeln!(repo_lines, "{}", path.display());
    }
    finish_root(&root, &repo_lines);
    root
}

/// The same universe as one v3 index (`packages.adb`, unsigned, deflated as apk-tools
/// writes it), converted from its v2 text as apk-tools' `convndx` converts; a root
/// whose repository is that file.
pub fn generate_v3_universe(dir: &Path, n_packages: usize) -> PathBuf {
    use apk_format::adb::{self, container, index};
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/apk/cache")).expect("root");
    std::fs::create_dir_all(root.join("lib/apk/db")).expect("root");
    let mut b = index::IndexBuilder::new();
    for text in universe_texts(n_packages, 1) {
        b.add_v2_index(&text);
    }
    let tree = b.finish(Some("generated v3"), None);
    let file = container::write(adb::SCHEMA_INDEX, &tree, &[]);
    let path = dir.join("packages.adb");
    std::fs::write(&path, container::compress_deflate(&file)).expect("write index");
    finish_root(&root, &format!("{}\n", path.display()));
    root
}

fn finish_root(root: &Path, repositories: &str) {
    std::fs::write(root.join("etc/apk/repositories"), repositories).expect("repositories");
    std::fs::write(root.join("etc/apk/world"), "").expect("world");
    std::fs::write(root.join("lib/apk/db/installed"), "").expect("installed");
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").expect("arch");
}

/// The generated universe's index texts, spread over `n_repos` repositories.
fn universe_texts(n_packages: usize, n_repos: usize) -> Vec<String> {
    use std::fmt::Write;
    let mut texts = vec![String::new(); n_repos];
    // Shared-library names: 3,000, or as many as there are leaves to provide them.
    let libs = (n_packages / 10).clamp(1, 3000);
    // Every tenth package is a leaf providing one of the shared-library names (about
    // three versioned providers each); the others form dependency chains of up to 50,
    // need a library now and then, and some carry install_if rules.
    let is_leaf = |i: usize| i % 10 == 9;
    for i in 0..n_packages {
        let t = &mut texts[i % n_repos];
        // apk-tools drops an index whose records lack an identity (`C:`).
        let id = apk_format::checksum::Checksum::sha1_of(format!("u{i}").as_bytes());
        let _ = write!(
            t,
            "C:{id}\nP:u{i}\nV:1.{}-r{}\nA:x86_64\nS:1000\nI:4096\nT:generated package {i}\n",
            i % 7,
            i % 3
        );
        if is_leaf(i) {
            let _ = writeln!(
                t,
                "p:so:libg{}.so.1=1.{}\nk:{}",
                (i / 10) % libs,
                i % 7,
                i % 5
            );
            t.push('\n');
            continue;
        }
        let mut deps = Vec::new();
        if i % 50 != 0 {
            let prev = if is_leaf(i - 1) { i - 2 } else { i - 1 };
            deps.push(format!("u{prev}"));
        }
        if i % 3 == 0 {
            deps.push(format!("so:libg{}.so.1", (i * 7) % libs));
        }
        if !deps.is_empty() {
            let _ = writeln!(t, "D:{}", deps.join(" "));
        }
        if i % 97 == 0 && i > 1 && !is_leaf(i - 1) {
            let _ = writeln!(t, "i:u{} docs", i - 1);
        }
        t.push('\n');
    }
    let id = apk_format::checksum::Checksum::sha1_of(b"docs");
    let _ = writeln!(texts[0], "C:{id}");
    texts[0].push_str("P:docs\nV:1-r0\nA:noarch\nS:100\nI:0\nT:documentation switch\n\n");
    texts
}

/// A root using the real Alpine 3.16 index with Alpine's keys (signatures checked).
pub fn real_root(dir: &Path) -> Option<(PathBuf, apk_core::db::OpenOptions)> {
    let shared = apk_core::testing::shared_dir()?;
    let root = dir.join("real");
    std::fs::create_dir_all(root.join("etc/apk/cache")).ok()?;
    std::fs::create_dir_all(root.join("lib/apk/db")).ok()?;
    std::fs::write(root.join("etc/apk/world"), "").ok()?;
    let index = shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz");
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", index.display()),
    )
    .ok()?;
    let keys_dir = shared.join("realdata/keys");
    let opts = apk_core::db::OpenOptions {
        root: root.clone(),
        keys: Some(apk_format::sign::Keyring::load_dir(&keys_dir).ok()?),
        keys_dir: Some(keys_dir),
        ..Default::default()
    };
    Some((root, opts))
}

/// A signed repository of `n` packages of `files` files each (`bytes` per file, about
/// as compressible as binaries), in `dir/x86_64`, with a keys directory in `dir/keys`.
/// The package names are returned; `root_for_install` makes a root using it.
pub fn generate_install_repo(dir: &Path, n: usize, files: usize, bytes: usize) -> Vec<String> {
    let key = PrivateKey::generate_rsa(2048).expect("key");
    let arch_dir = dir.join("x86_64");
    let keys = dir.join("keys");
    std::fs::create_dir_all(&arch_dir).expect("mkdir");
    std::fs::create_dir_all(&keys).expect("mkdir");
    std::fs::write(keys.join("bench.rsa.pub"), key.public_key().to_pem()).expect("key");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut names = Vec::new();
    let mut infos = Vec::new();
    for i in 0..n {
        let name = format!("inst-{i:03}");
        let mut info = PkgInfo::default();
        info.push("pkgname", name.clone());
        info.push("pkgver", "1.0-r0");
        info.push("pkgdesc", "generated package to install");
        info.push("arch", "x86_64");
        info.push("license", "MIT");
        let dir_entry = |path: String| DataEntry {
            path,
            mode: 0o755,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            node: DataNode::Dir,
        };
        let mut entries = vec![
            dir_entry("usr".into()),
            dir_entry("usr/lib".into()),
            dir_entry(format!("usr/lib/{name}")),
        ];
        for f in 0..files {
            // Bytes from a small alphabet with runs: compresses about as well as code.
            let data: Vec<u8> = (0..bytes)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"\0\0\0\x01\x48\x89\xe5ABCDabcd0123"[(state % 16) as usize]
                })
                .collect();
            entries.push(DataEntry {
                path: format!("usr/lib/{name}/file{f:02}.so"),
                mode: 0o755,
                uid: 0,
                gid: 0,
                uname: None,
                gname: None,
                node: DataNode::File(data),
            });
        }
        let b = PackageBuilder {
            pkginfo: info,
            entries,
            mtime: 1_700_000_000,
            ..Default::default()
        };
        let bytes = b.build(Some((&key, "bench.rsa.pub"))).expect("build");
        let path = arch_dir.join(format!("{name}-1.0-r0.apk"));
        std::fs::write(&path, bytes).expect("write");
        infos.push(apk_core::repo::indexer::read_package_info(&path).expect("info"));
        names.push(name);
    }
    apk_core::repo::indexer::sort_records(&mut infos);
    let index = apk_format::v2::apkindex::IndexArchive {
        description: Some("install bench".into()),
        packages: infos,
        signatures: Vec::new(),
    }
    .write(0)
    .expect("index");
    let signed =
        apk_format::v2::signed::resign(&index, &key, "bench.rsa.pub", "index").expect("sign");
    std::fs::write(arch_dir.join("APKINDEX.tar.gz"), signed).expect("write");
    names
}

/// An empty root (database initialised) trusting and using the repository made by
/// [`generate_install_repo`] in `repo`.
pub fn root_for_install(root: &Path, repo: &Path) -> apk_core::db::OpenOptions {
    apk_core::commit::init_database(root, Some("x86_64")).expect("initdb");
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", repo.display()),
    )
    .expect("repositories");
    let keys_dir = repo.join("keys");
    apk_core::db::OpenOptions {
        root: root.to_path_buf(),
        keys: Some(apk_format::sign::Keyring::load_dir(&keys_dir).expect("keys")),
        keys_dir: Some(keys_dir),
        no_cache: true,
        ..Default::default()
    }
}
