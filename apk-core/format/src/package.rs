//! One door to package and index files of either format. [`sniff`] tells a file's format
//! and what it holds from its first bytes; [`Package`] is a parsed package whichever
//! format carried it. Callers outside this crate use these instead of naming v2 types,
//! so that the v3 (ADB) reader plugs in here, in one place.
//!
//! v2 files start with a gzip member (apk-package(5)); v3 files with the ADB magic
//! `ADB.` followed by the schema (`pckg`, `indx`, `idb\0`), or `ADBd`/`ADBc` when the
//! whole database is compressed (apk-v3(5)).

use crate::error::{Error, Result};
use crate::sign::Keyring;
use crate::v2;
use crate::PackageInfo;

pub use crate::v2::archive::{EntryHeader, EntryKind};
pub use crate::v2::package::DataSummary;

/// The container generation of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip members holding tar streams.
    V2,
    /// The ADB binary database.
    V3,
}

/// What a package-manager file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Package,
    Index,
    InstalledDatabase,
    /// A v3 database compressed as a whole: its schema is only known once unpacked.
    Compressed,
    Unknown,
}

/// A file's format and content, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub format: Format,
    pub content: Content,
}

/// Tells a file's format and content. A v2 file is told apart by its first member (a
/// package has a control stream with `.PKGINFO`, an index an `APKINDEX`), which is
/// inflated to find out.
pub fn sniff(bytes: &[u8], what: &str) -> Result<Sniffed> {
    if let Some(magic) = bytes.get(..4) {
        let v3 = |content| {
            Ok(Sniffed {
                format: Format::V3,
                content,
            })
        };
        match magic {
            b"ADB." => {
                return v3(match bytes.get(4..8) {
                    Some(b"pckg") => Content::Package,
                    Some(b"indx") => Content::Index,
                    Some(b"idb\0") => Content::InstalledDatabase,
                    _ => Content::Unknown,
                })
            }
            b"ADBd" | b"ADBc" => return v3(Content::Compressed),
            _ => {}
        }
    }
    let content = match v2::package::classify(bytes, what)? {
        v2::package::FileKind::Package => Content::Package,
        v2::package::FileKind::Index => Content::Index,
    };
    Ok(Sniffed {
        format: Format::V2,
        content,
    })
}

fn is_v3(bytes: &[u8]) -> bool {
    matches!(bytes.get(..3), Some(b"ADB"))
}

/// A parsed package file, whichever format carried it.
#[derive(Debug, Clone)]
pub enum Package {
    V2(v2::package::Package),
    V3(crate::adb::package::Package),
}

impl Package {
    /// Parses a package's metadata and scripts (no signature check). `what` names the
    /// file in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Package> {
        if is_v3(bytes) {
            return crate::adb::package::Package::parse(bytes, what).map(Package::V3);
        }
        v2::package::Package::parse(bytes, what).map(Package::V2)
    }

    /// Parses a package and checks it completely: its signature against `keys` (when
    /// given) and every data entry against its recorded digest.
    pub fn verify(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Package> {
        if is_v3(bytes) {
            return crate::adb::package::Package::verify(bytes, keys, what).map(Package::V3);
        }
        v2::package::Package::verify(bytes, keys, what).map(Package::V2)
    }

    pub fn format(&self) -> Format {
        match self {
            Package::V2(_) => Format::V2,
            Package::V3(_) => Format::V3,
        }
    }

    /// The package's metadata; its identity is the format's (v2: the SHA-1 of the
    /// control stream).
    pub fn info(&self) -> &PackageInfo {
        match self {
            Package::V2(p) => &p.info,
            Package::V3(p) => &p.info,
        }
    }

    /// Is this package file, by its identity, the one an index knows by `identity`,
    /// whole? A v2 package's data stream must also match the datahash of its control
    /// (apk-tools checks both when it fetches a package); a v3 package is known by its
    /// tree's digest (or unique id).
    pub fn is_intact(&self, bytes: &[u8], identity: &crate::checksum::Checksum) -> bool {
        match self {
            Package::V2(p) => self.has_identity(identity) && p.data_matches_datahash(bytes),
            Package::V3(_) => self.has_identity(identity),
        }
    }

    /// How apk-tools names a package file that is not the one its index describes.
    pub fn integrity_error(&self) -> &'static str {
        match self {
            Package::V2(_) => "v2 package integrity error",
            Package::V3(_) => "ADB integrity error",
        }
    }

    /// Is this the package an index knows by `identity`? A v2 package by its control
    /// stream's digest; a v3 one by its tree's digest or its unique id.
    pub fn has_identity(&self, identity: &crate::checksum::Checksum) -> bool {
        match self {
            Package::V2(p) => p.info.checksum.as_ref() == Some(identity),
            Package::V3(p) => {
                p.tree_digest == *identity || p.info.checksum.as_ref() == Some(identity)
            }
        }
    }

    pub fn into_info(self) -> PackageInfo {
        match self {
            Package::V2(p) => p.info,
            Package::V3(p) => p.info,
        }
    }

    /// Checks that some signature is by a trusted key and covers what it must.
    pub fn verify_signature(&self, bytes: &[u8], keys: &Keyring, what: &str) -> Result<()> {
        match self {
            Package::V2(p) => p.verify_signature(bytes, keys, what),
            Package::V3(p) => p.verify_signature(bytes, keys, what),
        }
    }

    /// The package's scripts by name (`post-install`, ...) with their bytes.
    pub fn scripts(&self) -> Box<dyn Iterator<Item = (&str, &[u8])> + '_> {
        match self {
            Package::V2(p) => Box::new(p.scripts()),
            Package::V3(p) => Box::new(p.scripts.iter().map(|(n, b)| (*n, b.as_slice()))),
        }
    }

    /// The folders whose changes fire this package's trigger script.
    pub fn triggers(&self) -> Vec<String> {
        match self {
            Package::V2(p) => p.pkginfo.triggers(),
            Package::V3(p) => p.triggers.clone(),
        }
    }

    /// Streams the package's files: `f` gets each entry's header and (for files) its
    /// content, checked against the recorded digest.
    pub fn walk_data(
        &self,
        bytes: &[u8],
        what: &str,
        f: impl FnMut(&EntryHeader, &[u8]) -> Result<()>,
    ) -> Result<DataSummary> {
        match self {
            Package::V2(p) => p.walk_data(bytes, what, f),
            Package::V3(p) => p.walk_data(bytes, what, f),
        }
    }

    /// As [`Package::walk_data`], with v2 files over `stream_over` bytes handed over as
    /// readers (see [`crate::v2::package::Package::walk_data_streaming`]).
    pub fn walk_data_streaming(
        &self,
        bytes: &[u8],
        what: &str,
        stream_over: u64,
        digests: crate::v2::package::FileDigests,
        mut f: impl FnMut(&EntryHeader, crate::v2::package::Content<'_>) -> Result<()>,
    ) -> Result<DataSummary> {
        match self {
            Package::V2(p) => p.walk_data_streaming(bytes, what, stream_over, digests, f),
            Package::V3(p) => p.walk_data(bytes, what, |h, d| {
                f(h, crate::v2::package::Content::Bytes(d))
            }),
        }
    }
}

/// Verifies a package or index file completely: its signature against `keys` (when
/// given) and every checksum it carries.
pub fn verify_file(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Sniffed> {
    let sniffed = sniff(bytes, what)?;
    match (sniffed.format, sniffed.content) {
        (Format::V3, _) => {
            let (plain, _) = crate::adb::decompress(bytes, what)?;
            let c = crate::adb::Container::parse(&plain, what)?;
            if c.schema == crate::adb::SCHEMA_PACKAGE {
                crate::adb::package::Package::verify(bytes, keys, what)?;
            } else if let Some(k) = keys {
                crate::adb::trust::verify(&c, k).map_err(|e| Error::untrusted(what, e))?;
            }
        }
        (Format::V2, Content::Package) => {
            v2::package::Package::verify(bytes, keys, what)?;
        }
        (Format::V2, _) => {
            v2::apkindex::IndexArchive::read(bytes, keys, what)?;
        }
    }
    Ok(sniffed)
}
