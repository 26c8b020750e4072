//! The database snapshot: a loaded [`Database`] written once into a compact binary file
//! in the cache directory, so that later runs map it instead of inflating, verifying and
//! parsing every index again.
//!
//! Layout (little endian): `APKRSNAP` magic, format version (u32), the 32-byte key of
//! the inputs it was built from, the LZ4-compressed payload's length (u64) and its
//! length unpacked (u64), CRC-32 of the compressed payload (u32), metadata section
//! length (u64),
//! then the payload (length-prefixed strings and counts, in the order [`Pool`]
//! defines) and the metadata section: a fixed-size record per package, then each
//! package's full metadata, which only queries read, deflated in blocks of a few
//! dozen packages. Both are compressed so that the snapshot stays smaller than the
//! index text it replaces (it is a cache in an image's `var/cache/apk`); unpacking
//! the payload costs about a millisecond, parsing the indexes tens. The payload is
//! checked when the snapshot is opened; each metadata record and block has its own
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
//! [`crate::mapped`]).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::database::{Database, ProblemKind, RepoProblem};
use crate::pool::Pool;
use apk_format::error::Result;

const MAGIC: &[u8; 8] = b"APKRSNAP";
// 7: the broken-packages byte tells uninstallable packages apart (bit 1); 8: index
// descriptions kept untrimmed; 9: payload LZ4-compressed, metadata blobs deflated.
const FORMAT_VERSION: u32 = 10;
const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 8 + 4 + 8;
/// The largest inflated payload accepted (a damaged length cannot make a huge buffer).
const MAX_PAYLOAD: u64 = 1 << 31;

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

/// Serialisation primitives shared with [`Pool`]'s encoder.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
            None => self.u8(0),
        }
    }
}

/// A bounds-checked reader: every method fails (`None`) instead of reading past the end.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// `n` little-endian u32 values.
    pub fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    /// A count, refused when it could not possibly fit in what is left (each element
    /// takes at least one byte), so corrupt counts cannot make huge allocations.
    pub fn len(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        (n <= self.data.len()).then_some(n)
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    pub fn string(&mut self) -> Option<String> {
        self.str().map(str::to_owned)
    }
    pub fn opt_string(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.string()?)),
            _ => None,
        }
    }
    pub fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The core payload and the package metadata section.
fn encode(db: &Database) -> (Vec<u8>, Vec<u8>) {
    let mut w = Writer::default();
    let mut blobs = Writer::default();
    db.pool.encode(&mut w, &mut blobs);
    w.len(db.unavailable.len());
    for p in &db.unavailable {
        w.str(&p.url);
        w.str(&p.message);
        w.u32(match p.kind {
            ProblemKind::Local => 0,
            ProblemKind::Unavailable => 1,
            ProblemKind::Stale => 2,
        });
    }
    let mut files: Vec<_> = db.installed_files.iter().collect();
    files.sort_by_key(|(k, _)| **k);
    w.len(files.len());
    for (pkg, list) in files {
        w.u32(*pkg);
        w.len(list.len());
        for (d, f) in list {
            w.str(d);
            w.str(f);
        }
    }
    (w.buf, blobs.buf)
}

fn decode(payload: &[u8], blobs: std::ops::Range<usize>, db: &mut Database) -> Option<()> {
    let mut r = Reader::new(payload);
    db.pool = Pool::decode(&mut r, blobs)?;
    let n = r.len()?;
    db.unavailable = (0..n)
        .map(|_| {
            Some(RepoProblem {
                url: r.string()?,
                message: r.string()?,
                kind: match r.u32()? {
                    0 => ProblemKind::Local,
                    1 => ProblemKind::Unavailable,
                    2 => ProblemKind::Stale,
                    _ => return None,
                },
            })
        })
        .collect::<Option<_>>()?;
    let n = r.len()?;
    for _ in 0..n {
        let pkg = r.u32()?;
        let m = r.len()?;
        let list = (0..m)
            .map(|_| Some((r.string()?, r.string()?)))
            .collect::<Option<Vec<_>>>()?;
        db.installed_files.insert(pkg, list);
    }
    r.is_empty().then_some(())
}

/// The core payload of `db`'s snapshot (what the fuzz target's seeds are made of).
pub fn encode_payload(db: &Database) -> Vec<u8> {
    encode(db).0
}

/// Decodes a core payload as [`load`] does once the header and checksum matched, with
/// no metadata section (package metadata then reads as name and version only).
pub fn decode_payload(payload: &[u8]) -> Option<Database> {
    let mut db = Database {
        root: std::path::PathBuf::new(),
        pool: Pool::default(),
        world: Vec::new(),
        unavailable: Vec::new(),
        config_warnings: Vec::new(),
        installed_files: std::collections::HashMap::new(),
    };
    // Without the section, any record position is accepted (and never read).
    decode(payload, 0..u32::MAX as usize, &mut db)?;
    Some(db)
}

/// Writes `db` as the snapshot for `key` at `path` (atomically).
pub fn write(path: &Path, key: &[u8; 32], db: &Database) -> Result<()> {
    let (raw, blobs) = encode(db);
    // LZ4: it unpacks at memory speed, which the solver-only runs pay on every start.
    let payload = lz4_flex::compress(&raw);
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&(blobs.len() as u64).to_le_bytes());
    // A cache: lost on a crash, it is simply rebuilt.
    crate::file::write_parts_atomically_unsynced(path, &[&out, &payload, &blobs])
}

/// Checks a snapshot's header and the checksum of its core payload; returns the
/// compressed payload, its unpacked length and the byte range of the metadata section
/// (whose records carry their own checksums, checked when read) when all match `key`.
pub fn check<'a>(
    data: &'a [u8],
    key: &[u8; 32],
) -> Option<(&'a [u8], usize, std::ops::Range<usize>)> {
    let mut r = Reader::new(data);
    if r.take(8)? != MAGIC || r.u32()? != FORMAT_VERSION || r.take(32)? != key {
        return None;
    }
    let len = r.u64()? as usize;
    let raw_len = r.u64()?;
    if raw_len > MAX_PAYLOAD {
        return None;
    }
    let crc = r.u32()?;
    let blobs_len = r.u64()? as usize;
    let payload = r.take(len)?;
    let blobs_start = data.len() - r.data.len();
    let _ = r.take(blobs_len)?;
    (r.is_empty() && crc32fast::hash(payload) == crc).then_some((
        payload,
        raw_len as usize,
        blobs_start..blobs_start + blobs_len,
    ))
}

/// Loads the snapshot at `path` into `db` (which holds the root and world) if it
/// exists and matches `key`.
pub fn load(path: &Path, key: &[u8; 32], db: &mut Database) -> bool {
    let Some(map) = crate::mapped::MappedFile::open(path) else {
        return false;
    };
    let map = std::sync::Arc::new(crate::pool::SnapshotBytes(map));
    let bytes = map.0.bytes();
    let Some((payload, raw_len, blobs)) = check(bytes, key) else {
        return false;
    };
    let raw = match lz4_flex::decompress(payload, raw_len) {
        Ok(raw) if raw.len() == raw_len => raw,
        _ => return false,
    };
    if decode(&raw, blobs, db).is_none() {
        return false;
    }
    drop(raw);
    // Everything in the core payload was copied into the pool: its pages need not stay
    // resident beside the copy while the solver runs.
    let core_start = payload.as_ptr() as usize - bytes.as_ptr() as usize;
    map.0.release(core_start..core_start + payload.len());
    db.pool.keep_snapshot(map.clone());
    true
}
