//! Shared helpers for the `apk` binary's tests.
#![allow(dead_code)]

pub mod repo;
pub mod twin;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use apk_core::testing::shared_dir;

pub fn apk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_apk"))
}

/// Runs apk with `args`, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = apk().args(args).output().expect("run apk");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

pub fn demo_repo() -> PathBuf {
    testdata().join("demo-repo/x86_64")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A raw ustar header, written by hand so that tests can make archives no well-behaved
/// writer would (`..` paths, devices, links out of the tree).
pub fn raw_tar_entry(
    name: impl AsRef<[u8]>,
    typeflag: u8,
    mode: u32,
    link: &str,
    data: &[u8],
) -> Vec<u8> {
    let name = name.as_ref();
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    let octal = |field: &mut [u8], v: u64| {
        let s = format!("{:0width$o}\0", v, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], data.len() as u64);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let cks = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(cks.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Rewrites the size field of a raw header (and its checksum), to claim more data than
/// the archive holds.
pub fn set_tar_size(entry: &mut [u8], size: u64) {
    entry[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    entry[148..156].copy_from_slice(b"        ");
    let sum: u32 = entry[..512].iter().map(|&b| b as u32).sum();
    entry[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// An unsigned package whose data tar is `data_tar` (end blocks are added), with the
/// datahash that binds it to the control member (as abuild writes it: apk-tools
/// installs no package of an index without one).
pub fn package_with_data(name: &str, mut data_tar: Vec<u8>) -> Vec<u8> {
    use sha2::Digest as _;
    data_tar.extend_from_slice(&[0u8; 1024]);
    let data = apk_format::v2::archive::gzip(&data_tar);
    let hash = apk_format::checksum::encode_hex(&sha2::Sha256::digest(&data));
    let mut w = apk_format::v2::archive::TarWriter::package_control();
    let info = format!("pkgname = {name}\npkgver = 1.0-r0\nsize = 1024\ndatahash = {hash}\n");
    w.file(".PKGINFO", 0o644, 0, info.as_bytes()).unwrap();
    let mut out = apk_format::v2::archive::gzip(&w.finish_cut().unwrap());
    out.extend(data);
    out
}

/// Every path under `dir`, relative and sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
