//! Where a package's full metadata comes from, read only when asked: owned, a record in
//! a kept index text, or the snapshot's metadata section (with a fallback to the
//! original sources when a record there is damaged); decoded once and cached.

use super::codec::{ColdRecord, COLD_RECORD};
use super::{PkgId, Pool};
use crate::codec::Reader;
use apk_format::checksum::Checksum;
use apk_format::PackageInfo;

/// What is read of a package only now and then: its identity (`C:`), installed size
/// and where its full metadata comes from. Packages loaded from a snapshot keep this
/// there (a fixed-size record each, read when asked); others keep it in the pool.
#[derive(Debug, Clone)]
pub(super) struct Cold {
    pub(super) checksum: Option<Checksum>,
    pub(super) installed_size: u64,
    pub(super) source: InfoSource,
}

#[derive(Debug, Clone)]
pub(super) enum InfoSource {
    Owned(Box<PackageInfo>),
    /// The package's record in a kept index text (text, start, end).
    Text(u32, u32, u32),
    /// The package's object in a kept v3 index tree (tree, value).
    Adb(u32, u32),
}

/// Decoded metadata kept once asked for, in chunks made on first use (a run asks for
/// a few packages of many).
#[derive(Debug, Clone, Default)]
pub(super) struct InfoCache {
    pub(super) chunks: Vec<std::cell::OnceCell<InfoChunk>>,
}

pub(super) type InfoChunk = Box<[std::cell::OnceCell<Box<PackageInfo>>]>;

pub(super) const INFO_CHUNK: usize = 64;

impl InfoCache {
    pub(super) fn cover(&mut self, packages: usize) {
        let n = packages.div_ceil(INFO_CHUNK);
        if self.chunks.len() < n {
            self.chunks.resize(n, std::cell::OnceCell::new());
        }
    }

    pub(super) fn get_or_init(
        &self,
        id: PkgId,
        f: impl FnOnce() -> Box<PackageInfo>,
    ) -> &PackageInfo {
        let id = id.index();
        let chunk = self.chunks[id / INFO_CHUNK]
            .get_or_init(|| vec![std::cell::OnceCell::new(); INFO_CHUNK].into());
        chunk[id % INFO_CHUNK].get_or_init(f)
    }
}

/// Reads a package's metadata (by name and version) from the original sources, for
/// when its record in the snapshot fails its checksum.
#[derive(Clone, Default)]
pub struct InfoFallback(pub Option<std::rc::Rc<InfoReader>>);

/// Reads a package's metadata given its name and version.
pub type InfoReader = dyn Fn(&str, &str) -> Option<PackageInfo>;

impl std::fmt::Debug for InfoFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InfoFallback({})", self.0.is_some())
    }
}

impl Pool {
    pub(super) fn cold(&self, id: PkgId) -> Option<&Cold> {
        self.cold
            .get(id.0.checked_sub(self.snap_packages)? as usize)
    }

    pub(super) fn cold_mut(&mut self, id: PkgId) -> Option<&mut Cold> {
        self.cold
            .get_mut(id.0.checked_sub(self.snap_packages)? as usize)
    }

    /// The snapshot record of a package read from it (`None` when damaged).
    pub(super) fn cold_record(&self, id: PkgId) -> Option<ColdRecord> {
        if id.0 >= self.snap_packages {
            return None;
        }
        let at = self
            .snap_cold_at
            .checked_add(id.index().checked_mul(COLD_RECORD)?)?;
        let bytes = self.snapshot.as_ref()?.0.bytes();
        ColdRecord::decode(bytes.get(at..at.checked_add(COLD_RECORD)?)?)
    }

    /// A package's identity (`C:`).
    pub fn checksum(&self, id: PkgId) -> Option<Checksum> {
        if let Some(c) = self.cold(id) {
            return c.checksum;
        }
        match self.cold_record(id) {
            Some(r) => r.checksum,
            None => self.info(id).checksum,
        }
    }

    /// A package's installed size.
    pub fn installed_size(&self, id: PkgId) -> u64 {
        if let Some(c) = self.cold(id) {
            return c.installed_size;
        }
        match self.cold_record(id) {
            Some(r) => r.installed_size,
            None => self.info(id).installed_size.unwrap_or(0),
        }
    }

    /// A package's full metadata (description, url, license, ...), kept once read.
    pub fn info(&self, id: PkgId) -> &PackageInfo {
        if let Some(Cold {
            source: InfoSource::Owned(info),
            ..
        }) = self.cold(id)
        {
            return info;
        }
        self.infos.get_or_init(id, || Box::new(self.read_info(id)))
    }

    /// A package's metadata without keeping it (for writing every package once).
    pub(super) fn info_once(&self, id: PkgId) -> std::borrow::Cow<'_, PackageInfo> {
        match self.cold(id) {
            Some(Cold {
                source: InfoSource::Owned(info),
                ..
            }) => std::borrow::Cow::Borrowed(&**info),
            _ => std::borrow::Cow::Owned(self.read_info(id)),
        }
    }

    /// Reads a package's metadata from where it lies (index text, snapshot record, or
    /// the original sources when that record is damaged).
    pub(super) fn read_info(&self, id: PkgId) -> PackageInfo {
        let text = match self.cold(id).map(|c| &c.source) {
            Some(InfoSource::Owned(info)) => return (**info).clone(),
            Some(InfoSource::Text(t, start, end)) => Some((*t, *start, *end)),
            Some(InfoSource::Adb(t, v)) => {
                if let Some(tree) = self.adbs.get(*t as usize) {
                    let db = apk_format::adb::value::Db::new(tree);
                    let obj = db.obj(apk_format::adb::value::Val(*v));
                    return apk_format::adb::package::package_info(&obj);
                }
                None
            }
            None => None,
        };
        let p = &self.packages[id.index()];
        let from_text = text.and_then(|(t, start, end)| {
            let text = self
                .texts
                .get(t as usize)?
                .get(start as usize..end as usize)?;
            let recs = apk_format::v2::apkindex::parse_refs(text, "index").ok()?;
            recs.first()?.to_info().ok()
        });
        let decoded = from_text.or_else(|| {
            let record = self.cold_record(id)?;
            let block = self.metadata_block(record.block)?;
            let (off, len) = record.blob;
            Self::decode_info(&mut Reader::new(block.get(off..off.checked_add(len)?)?))
        });
        // A damaged snapshot record is read again from where it came from.
        let decoded = decoded.or_else(|| {
            let fallback = self.info_fallback.0.as_ref()?;
            fallback(self.name(p.name), self.pkg_version(p))
        });
        // Both sources were verified when loaded, so this only guards against a bug.
        decoded.unwrap_or_else(|| PackageInfo {
            name: self.name(p.name).to_owned(),
            version: self.pkg_version(p).to_owned(),
            ..Default::default()
        })
    }

    /// A metadata block of the snapshot, inflated (`None` when damaged).
    pub(super) fn metadata_block(
        &self,
        (off, len, crc): (usize, usize, u32),
    ) -> Option<std::rc::Rc<[u8]>> {
        if let Some(bytes) = self.blocks.borrow().get(&off) {
            return Some(bytes.clone());
        }
        let at = self.snap_cold_at.checked_add(off)?;
        let bytes = self
            .snapshot
            .as_ref()?
            .0
            .bytes()
            .get(at..at.checked_add(len)?)?;
        if crc32fast::hash(bytes) != crc {
            return None;
        }
        let mut inflated = Vec::new();
        use std::io::Read;
        // Our own file, checked above; the limit only keeps a bug from eating memory.
        flate2::read::DeflateDecoder::new(bytes)
            .take(1 << 30)
            .read_to_end(&mut inflated)
            .ok()?;
        let inflated: std::rc::Rc<[u8]> = inflated.into();
        self.blocks.borrow_mut().insert(off, inflated.clone());
        Some(inflated)
    }
}
