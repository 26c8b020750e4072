//! The database snapshot: a loaded [`Database`](super::Database) written once into a compact binary file
//! in the cache directory, so that later runs map it instead of inflating, verifying and
//! parsing every index again.
//!
//! Layout (little endian): `APKRSNAP` magic, format version (u32), the 32-byte key of
//! the inputs it was built from, the core payload's length (u64), a reserved u64 (0),
//! CRC-32 of the core payload (u32), metadata section length (u64),
//! then the payload (length-prefixed strings and counts, in the order [`Pool`](crate::pool::Pool)
//! defines) and the metadata section: a fixed-size record per package, then each
//! package's full metadata, which only queries read, deflated in blocks of a few
//! dozen packages. The core payload is stored as it is decoded, straight from the
//! map: unpacking it (LZ4 until format 11) cost a warm run more than a millisecond
//! and a resident copy of the whole payload. Its string section, its tables of
//! 32-bit ids (sorted names, per-name lists) and its name, provider, dependency and
//! package records (each table aligned for its values in the file) are read in place,
//! not copied (formats 13 to 16): a warm run neither copies them nor faults in heap
//! pages for them, and touches only the pages of what it reads (besides the checks). The payload's
//! checksum is compared before anything decoded from it is used (for a large one, on a
//! second thread while it is decoded); each metadata record and block has its own
//! CRC-32, checked when it is read, so that a run which only solves never touches (or
//! pages in) that section. A damaged record
//! is read again from the index or database it came from. The
//! key covers everything the database depends on: root files (world, installed, arch,
//! repositories), every index file's identity, the keys directory and the options that
//! change loading. A snapshot whose header or checksum does not match, or that is
//! truncated, is ignored and rebuilt: a wrong snapshot can cost time, never an answer.
//!
//! Snapshots are written to a temporary file and renamed into place, so a reader never
//! sees one change under it (a write into a mapped file could crash readers, see
//! [`crate::fs::mapped`]).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::codec::Reader;
use crate::pool::SnapshotBytes;
use apk_format::error::Result;

const MAGIC: &[u8; 8] = b"APKRSNAP";
// 7: the broken-packages byte tells uninstallable packages apart (bit 1); 8: index
// descriptions kept untrimmed; 9: payload LZ4-compressed, metadata blobs deflated;
// 12: the core payload stored as it is (decoded from the map); 13: tables of 32-bit
// values 4-aligned, read in place; 14: dependencies too; 15: names and providers too;
// 16: packages too (8-aligned).
const FORMAT_VERSION: u32 = 16;
const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 8 + 4 + 8;
// The core payload's tables are aligned from its start: the header keeps them aligned
// in the file (and in its page-aligned map), so that they can be read in place.
const _: () = assert!(HEADER_LEN.is_multiple_of(8));

/// Builds the key of a set of inputs: feed it every byte string the result depends on.
#[derive(Default)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub fn add(&mut self, label: &str, data: &[u8]) {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
    }

    /// Adds a file's identity: its length, modification time, inode and first 4 KiB
    /// (which for a signed index hold the signature). Missing files count as absent.
    pub fn add_file_identity(&mut self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        let label = path.to_string_lossy();
        match std::fs::metadata(path) {
            Ok(m) => {
                let mut id = Vec::with_capacity(32);
                for v in [
                    m.len(),
                    m.mtime() as u64,
                    m.mtime_nsec() as u64,
                    m.ino(),
                    m.dev(),
                ] {
                    id.extend_from_slice(&v.to_le_bytes());
                }
                let mut head = vec![0u8; 4096];
                if let Ok(mut f) = std::fs::File::open(path) {
                    use std::io::Read;
                    let n = f.read(&mut head).unwrap_or(0);
                    head.truncate(n);
                } else {
                    head.clear();
                }
                id.extend_from_slice(&head);
                self.add(&label, &id);
            }
            Err(_) => self.add(&label, b"<absent>"),
        }
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Writes the snapshot for `key` at `path` (atomically): the core payload `raw` and the
/// metadata section `blobs`.
pub fn write(path: &Path, key: &[u8; 32], raw: &[u8], blobs: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(raw).to_le_bytes());
    out.extend_from_slice(&(blobs.len() as u64).to_le_bytes());
    // A cache: lost on a crash, it is simply rebuilt.
    crate::fs::atomic::write_parts_atomically_unsynced(path, &[&out, raw, blobs])
}

/// Checks a snapshot's header and the checksum of its core payload; returns the byte
/// ranges of the core payload and of the metadata section (whose records carry their
/// own checksums, checked when read) when all match `key`.
pub fn check(
    data: &[u8],
    key: &[u8; 32],
) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let header = check_header(data, key)?;
    header
        .core_matches(data)
        .then_some((header.core, header.blobs))
}

/// Where a snapshot's sections are, by a header that matched its key; the core
/// payload's checksum is yet to be compared ([`Header::core_matches`]).
pub struct Header {
    pub core: std::ops::Range<usize>,
    pub blobs: std::ops::Range<usize>,
    crc: u32,
}

impl Header {
    /// Whether the core payload of `data` (the file the header was read from) has the
    /// checksum the header gives.
    pub fn core_matches(&self, data: &[u8]) -> bool {
        data.get(self.core.clone())
            .is_some_and(|core| crc32fast::hash(core) == self.crc)
    }
}

/// Checks a snapshot's header against `key` and that the file holds the sections it
/// gives (exactly); the checksum is left to [`Header::core_matches`].
pub fn check_header(data: &[u8], key: &[u8; 32]) -> Option<Header> {
    let mut r = Reader::new(data);
    if r.take(8)? != MAGIC || r.u32()? != FORMAT_VERSION || r.take(32)? != key {
        return None;
    }
    let len = usize::try_from(r.u64()?).ok()?;
    if r.u64()? != 0 {
        return None;
    }
    let crc = r.u32()?;
    let blobs_len = usize::try_from(r.u64()?).ok()?;
    let core_start = data.len() - r.rest().len();
    r.take(len)?;
    let blobs_start = core_start + len;
    r.take(blobs_len)?;
    r.is_empty().then_some(Header {
        core: core_start..blobs_start,
        blobs: blobs_start..blobs_start + blobs_len,
        crc,
    })
}

/// An opened snapshot whose header matched (its core checksum is compared by the
/// reader, [`Opened::core_matches`], before anything decoded from it is used).
pub struct Opened {
    /// The mapped file, which the pool keeps for the metadata section.
    pub map: std::sync::Arc<SnapshotBytes>,
    /// Where the core payload and the metadata section sit in the file.
    pub header: Header,
}

impl Opened {
    /// Whether the core payload has the checksum its header gives.
    pub fn core_matches(&self) -> bool {
        self.header.core_matches(self.map.0.bytes())
    }
}

/// Maps the snapshot at `path` and checks its header if it exists and matches `key`.
pub fn open(path: &Path, key: &[u8; 32]) -> Option<Opened> {
    let map = crate::fs::mapped::MappedFile::open(path)?;
    let map = std::sync::Arc::new(SnapshotBytes(map));
    let header = check_header(map.0.bytes(), key)?;
    Some(Opened { map, header })
}
