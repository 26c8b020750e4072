//! Data for the benchmarks: the real Alpine index, and generated packages.

use std::path::{Path, PathBuf};

use apk_core::package::{DataEntry, DataNode, PackageBuilder};
use apk_core::pkginfo::PkgInfo;
use apk_core::sign::PrivateKey;

/// The decompressed APKINDEX text of the real Alpine 3.16 main index, if the shared
/// material is present.
pub fn real_index_text() -> Option<String> {
    let shared = apk_core::testing::shared_dir()?;
    let bytes =
        std::fs::read(shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz")).ok()?;
    let (_, start) = apk_core::package::read_signature_member(&bytes, "index").ok()?;
    let m = apk_core::archive::inflate_member(&bytes, start, 1 << 30, "index").ok()?;
    let entries = apk_core::archive::read_small_tar(&m.data, "index").ok()?;
    let e = entries.into_iter().find(|e| e.header.path == "APKINDEX")?;
    String::from_utf8(e.data).ok()
}

pub fn shared_file(rel: &str) -> Option<PathBuf> {
    Some(apk_core::testing::shared_dir()?.join(rel))
}

/// Writes `n` small signed packages (`gen-<i>-1.0-r0.apk`) into `dir`.
pub fn generate_packages(dir: &Path, n: usize) -> Vec<PathBuf> {
    let key = PrivateKey::generate_rsa(1024).expect("key");
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
                        node: DataNode::Dir,
                    },
                    DataEntry {
                        path: "usr/share".into(),
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        node: DataNode::Dir,
                    },
                    DataEntry {
                        path: format!("usr/share/gen-{i}"),
                        mode: 0o644,
                        uid: 0,
                        gid: 0,
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
