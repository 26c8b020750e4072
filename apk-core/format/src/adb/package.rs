//! v3 packages (`pckg`): metadata, scripts and triggers from the tree, files from the
//! paths with their contents in the data blocks that follow, each checked against its
//! recorded digest, in the order apk-tools extracts them.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::container::{decompress, Container};
use super::schema::{acl, di, fi, pi, pkg, SCRIPT_NAMES};
use super::trust;
use super::value::{Db, Obj};
use crate::checksum::Checksum;
use crate::dep::{Dependency, Op};
use crate::error::{Error, Result};
use crate::package::{DataSummary, EntryHeader, EntryKind};
use crate::sign::Keyring;
use crate::PackageInfo;

/// A parsed v3 package (what is needed after the bytes are gone).
#[derive(Debug, Clone)]
pub struct Package {
    /// Its identity is the one apk-tools gives a package file: its unique id (`hashes`
    /// in its metadata) when it has one, else the digest of its tree.
    pub info: PackageInfo,
    /// The SHA-256 of its ADB block cut to 160 bits: its identity in an index.
    pub tree_digest: Checksum,
    pub scripts: Vec<(&'static str, Vec<u8>)>,
    pub triggers: Vec<String>,
}

/// `S_IFMT` values of link targets (`target` holds the mode, then the data).
const S_IFLNK: u16 = 0o120000;
const S_IFREG: u16 = 0o100000;
const S_IFBLK: u16 = 0o060000;
const S_IFCHR: u16 = 0o020000;
const S_IFIFO: u16 = 0o010000;

fn unpack<'a>(bytes: &'a [u8], what: &str) -> Result<std::borrow::Cow<'a, [u8]>> {
    Ok(decompress(bytes, what)?.0)
}

fn container<'a>(plain: &'a [u8], what: &str) -> Result<Container<'a>> {
    let c = Container::parse(plain, what)?;
    if c.schema != super::SCHEMA_PACKAGE {
        return Err(Error::format(what, "not a v3 package (schema)"));
    }
    Ok(c)
}

impl Package {
    /// Reads metadata and scripts (no signature check).
    pub fn parse(bytes: &[u8], what: &str) -> Result<Package> {
        let plain = unpack(bytes, what)?;
        let c = container(&plain, what)?;
        let db = Db::new(c.adb());
        let root = db.obj(db.root());
        let mut info = package_info(&root.obj(pkg::INFO));
        if info.name.is_empty() || info.version.is_empty() {
            return Err(Error::format(what, "package has no name or version"));
        }
        info.size = Some(bytes.len() as u64);
        info.replaces_priority = match root.int(pkg::REPLACES_PRIORITY) {
            0 => None,
            n => u32::try_from(n).ok(),
        };
        // In an index a v3 package is known by the SHA-256 of its ADB block (cut to
        // 160 bits as apk-tools keeps it); a package file read on its own, as apk-tools
        // reads it, by its unique id when it has one (`C:Q1...` in the database).
        let tree_digest = sha256_160(&Sha256::digest(c.adb()));
        info.checksum = match root.obj(pkg::INFO).blob(pi::HASHES) {
            Some(uid) if uid.len() >= 20 => uid[..20].try_into().ok().map(Checksum::Sha1),
            _ => Some(tree_digest),
        };
        let s = root.obj(pkg::SCRIPTS);
        let scripts = SCRIPT_NAMES
            .iter()
            .enumerate()
            .filter_map(|(i, n)| s.blob(i + 1).map(|b| (*n, b.to_vec())))
            .collect();
        let t = root.obj(pkg::TRIGGERS);
        let triggers = t
            .items()
            .filter_map(|v| db.blob(v))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        Ok(Package {
            info,
            tree_digest,
            scripts,
            triggers,
        })
    }

    /// Checks that some signature is by a trusted key.
    pub fn verify_signature(&self, bytes: &[u8], keys: &Keyring, what: &str) -> Result<()> {
        let plain = unpack(bytes, what)?;
        let c = container(&plain, what)?;
        trust::verify(&c, keys).map_err(|e| match e {
            trust::TrustError::Untrusted => Error::untrusted(what, e),
            trust::TrustError::BadBlock => Error::signature(what, e),
        })
    }

    /// Parses and checks completely: signature (with `keys`) and every file.
    pub fn verify(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Package> {
        let p = Package::parse(bytes, what)?;
        if let Some(k) = keys {
            p.verify_signature(bytes, k, what)?;
        }
        p.walk_data(bytes, what, |_, _| Ok(()))?;
        Ok(p)
    }

    /// The package's entries in extraction order: directories, then their files, with
    /// contents (checked against their digests) for regular files.
    pub fn walk_data(
        &self,
        bytes: &[u8],
        what: &str,
        mut visit: impl FnMut(&EntryHeader, &[u8]) -> Result<()>,
    ) -> Result<DataSummary> {
        let bad = |m: String| Error::format(what, m);
        let plain = unpack(bytes, what)?;
        let c = container(&plain, what)?;
        let db = Db::new(c.adb());
        let paths = db.obj(db.root()).obj(pkg::PATHS);
        let mut data = c.data();
        let mut summary = DataSummary::default();
        for pi_ in 1..=paths.len() {
            let dir = paths.obj(pi_);
            let dir_name = dir.str(di::NAME).unwrap_or_default().into_owned();
            check_path(&dir_name).map_err(&bad)?;
            if !dir_name.is_empty() {
                let h = header(&dir_name, EntryKind::Dir, &dir.obj(di::ACL), 0);
                visit(&h, &[])?;
                summary.entries += 1;
            }
            let files = dir.obj(di::FILES);
            for fi_ in 1..=files.len() {
                let f = files.obj(fi_);
                let name = f.str(fi::NAME).unwrap_or_default();
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(bad(format!("invalid file name '{name}'")));
                }
                let path = if dir_name.is_empty() {
                    name.into_owned()
                } else {
                    format!("{dir_name}/{name}")
                };
                let size = f.int(fi::SIZE);
                let mut h = header(&path, EntryKind::File, &f.obj(fi::ACL), size);
                h.mtime = f.int(fi::MTIME);
                if let Some(target) = f.blob(fi::TARGET) {
                    special(&mut h, target).map_err(&bad)?;
                    if let Some(link) = h.link.as_deref().filter(|_| h.kind == EntryKind::Symlink) {
                        // The database records a symlink by the digest of its target.
                        h.apk_checksum =
                            Some(crate::checksum::encode_hex(&Sha256::digest(link)[..20]));
                    }
                    visit(&h, &[])?;
                    summary.entries += 1;
                    continue;
                }
                let digest = f
                    .blob(fi::HASHES)
                    .ok_or_else(|| bad(format!("{path}: no digest")))?;
                let content: &[u8] = if size == 0 {
                    &[]
                } else {
                    let block = data
                        .next()
                        .ok_or_else(|| bad(format!("{path}: data block missing")))?;
                    let (head, content) = block
                        .split_at_checked(8)
                        .ok_or_else(|| bad(format!("{path}: data block too short")))?;
                    let idx = |i: usize| {
                        u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]])
                    };
                    if idx(0) as usize != pi_
                        || idx(4) as usize != fi_
                        || content.len() as u64 != size
                    {
                        return Err(bad(format!("{path}: data block for another file")));
                    }
                    content
                };
                if !digest_matches(digest, content) {
                    return Err(bad(format!("{path}: file digest does not match")));
                }
                // The database records the package's digest cut to 160 bits.
                h.apk_checksum = Some(crate::checksum::encode_hex(&digest[..digest.len().min(20)]));
                visit(&h, content)?;
                summary.entries += 1;
                summary.files += 1;
                summary.bytes += size;
            }
        }
        if data.next().is_some() {
            return Err(bad("data blocks left over".into()));
        }
        Ok(summary)
    }
}

/// A directory path must stay inside the destination.
fn check_path(p: &str) -> std::result::Result<(), String> {
    if p.starts_with('/') || p.split('/').any(|c| c == ".." || c == ".") || p.contains('\0') {
        return Err(format!("invalid path '{p}'"));
    }
    Ok(())
}

fn header(path: &str, kind: EntryKind, a: &Obj<'_>, size: u64) -> EntryHeader {
    let user = a.str(acl::USER).map(|s| s.into_owned());
    let group = a.str(acl::GROUP).map(|s| s.into_owned());
    let id = |n: &Option<String>| {
        if n.as_deref() == Some("root") {
            0
        } else {
            65534
        }
    };
    EntryHeader {
        path: path.to_owned(),
        kind,
        mode: (a.int(acl::MODE) & 0o7777) as u32,
        uid: id(&user),
        gid: id(&group),
        mtime: 0,
        size,
        link: None,
        apk_checksum: None,
        uname: user,
        gname: group,
        xattrs: {
            let x = a.obj(acl::XATTRS);
            (1..=x.len())
                .filter_map(|i| {
                    let b = x.blob(i)?;
                    let at = b.iter().position(|&c| c == 0)?;
                    Some((
                        String::from_utf8_lossy(&b[..at]).into_owned(),
                        b[at + 1..].to_vec(),
                    ))
                })
                .collect()
        },
    }
}

/// A file with a `target`: a symlink, hard link or device.
fn special(h: &mut EntryHeader, target: &[u8]) -> std::result::Result<(), String> {
    let (mode, rest) = target
        .split_first_chunk::<2>()
        .ok_or_else(|| format!("{}: short target", h.path))?;
    let rest = rest.to_vec();
    h.size = 0;
    match u16::from_le_bytes(*mode) {
        S_IFLNK => {
            h.kind = EntryKind::Symlink;
            h.link = Some(String::from_utf8(rest).map_err(|_| format!("{}: target", h.path))?);
        }
        S_IFREG => {
            h.kind = EntryKind::HardLink;
            h.link = Some(String::from_utf8(rest).map_err(|_| format!("{}: target", h.path))?);
        }
        S_IFBLK | S_IFCHR | S_IFIFO => {
            return Err(format!("{}: device nodes are not installed", h.path));
        }
        m => return Err(format!("{}: unknown target type {m:o}", h.path)),
    }
    Ok(())
}

/// A SHA-256 identity as apk-tools keeps it: its first 160 bits.
fn sha256_160(d: &[u8]) -> Checksum {
    let mut b = [0u8; 20];
    b.copy_from_slice(&d[..20]);
    Checksum::Sha1(b)
}

fn digest_matches(digest: &[u8], content: &[u8]) -> bool {
    match digest.len() {
        20 => Sha1::digest(content)[..] == *digest,
        32 => Sha256::digest(content)[..] == *digest,
        64 => Sha512::digest(content)[..] == *digest,
        _ => false,
    }
}

/// A dependency list of the tree as atoms.
fn dependencies(o: &Obj<'_>) -> Vec<Dependency> {
    (1..=o.len())
        .filter_map(|i| {
            let d = o.obj(i);
            let name = d.str(1)?.into_owned();
            let m = match d.int(3) {
                0 => super::dump::op::EQUAL,
                m => m,
            };
            let conflict = m & super::dump::op::CONFLICT != 0;
            let (op, version) = match d.str(2) {
                None => (Op::ANY, String::new()),
                Some(v) => (
                    Op::parse(super::dump::op_text(m)).unwrap_or(Op::ANY),
                    v.into_owned(),
                ),
            };
            Some(Dependency {
                name,
                tag: None,
                op,
                version,
                conflict,
            })
        })
        .collect()
}

/// Package metadata (a package's `info`, an index's item) as [`PackageInfo`].
/// What a solver needs of a package object (identity, name, version, arch, installed
/// size, provider priority, dependency lists), without its texts.
pub fn package_core_info(o: &Obj<'_>) -> PackageInfo {
    let s = |i: usize| o.str(i).map(|s| s.into_owned());
    PackageInfo {
        checksum: o.blob(pi::HASHES).and_then(|b| match b.len() {
            20 => b.try_into().ok().map(Checksum::Sha1),
            32 => Some(sha256_160(b)),
            _ => None,
        }),
        name: s(pi::NAME).unwrap_or_default(),
        version: s(pi::VERSION).unwrap_or_default(),
        arch: s(pi::ARCH),
        installed_size: match o.int(pi::INSTALLED_SIZE) {
            0 => None,
            v => Some(v),
        },
        provider_priority: match o.int(pi::PROVIDER_PRIORITY) {
            0 => None,
            v => u32::try_from(v).ok(),
        },
        depends: dependencies(&o.obj(pi::DEPENDS)),
        provides: dependencies(&o.obj(pi::PROVIDES)),
        install_if: dependencies(&o.obj(pi::INSTALL_IF)),
        replaces: dependencies(&o.obj(pi::REPLACES)),
        ..Default::default()
    }
}

pub fn package_info(o: &Obj<'_>) -> PackageInfo {
    let s = |i: usize| o.str(i).map(|s| s.into_owned());
    let n = |i: usize| match o.int(i) {
        0 => None,
        v => Some(v),
    };
    PackageInfo {
        size: n(pi::FILE_SIZE),
        description: s(pi::DESCRIPTION),
        url: s(pi::URL),
        license: s(pi::LICENSE),
        origin: s(pi::ORIGIN),
        maintainer: s(pi::MAINTAINER),
        build_time: n(pi::BUILD_TIME),
        commit: o.blob(pi::REPO_COMMIT).map(crate::checksum::encode_hex),
        recommends: dependencies(&o.obj(pi::RECOMMENDS)),
        tags: {
            let t = o.obj(pi::TAGS);
            (1..=t.len())
                .filter_map(|i| t.str(i).map(|s| s.into_owned()))
                .collect()
        },
        ..package_core_info(o)
    }
}
