//! The v2 container: concatenated gzip members that decompress to one tar stream.
//!
//! Packages are `[signature member] control member, data member`; indexes are
//! `[signature member] index member`. The signature and control tars carry no
//! end-of-archive blocks so that the concatenation reads as one archive; a signature
//! covers the compressed bytes of the member after it, so member boundaries matter and
//! are tracked here. Every decompression is bounded, so a gzip bomb ends in an error
//! rather than an exhausted disk or memory.

use std::io::{self, Read, Write};
use std::ops::Range;

use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::error::{Error, Result};

/// Limits on decompressed sizes.
pub const SIGNATURE_LIMIT: u64 = 1 << 20;
pub const CONTROL_LIMIT: u64 = 64 << 20;
pub const INDEX_LIMIT: u64 = 1 << 30;

/// One gzip member, decompressed, with its place in the file.
#[derive(Debug, Clone)]
pub struct Member {
    pub compressed: Range<usize>,
    pub data: Vec<u8>,
}

/// A reader that fails, rather than ends, once more than `limit` bytes come through.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Bounded {
            inner,
            left: limit,
            limit,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One probe byte tells a stream that ends exactly at the limit from a bomb.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "decompressed data exceeds the limit of {} bytes (gzip bomb?)",
                    self.limit
                ))),
            };
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

fn describe_gzip_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "truncated gzip stream".to_string(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            format!("corrupt gzip stream ({e})")
        }
        _ => e.to_string(),
    }
}

/// Decompresses the gzip member starting at `start`, at most `limit` bytes of output.
pub fn inflate_member(bytes: &[u8], start: usize, limit: u64, what: &str) -> Result<Member> {
    if let Some(m) = inflate_last_member(bytes, start, limit) {
        return Ok(m);
    }
    let mut rest = &bytes[start..];
    let mut data = Vec::new();
    {
        let mut dec = Bounded::new(GzDecoder::new(&mut rest), limit);
        dec.read_to_end(&mut data)
            .map_err(|e| Error::format(what, describe_gzip_error(&e)))?;
    }
    let end = bytes.len() - rest.len();
    Ok(Member {
        compressed: start..end,
        data,
    })
}

/// The member at `start` inflated in one call (libdeflate, about twice as fast as a
/// streaming inflate) when it is the file's last: its size and CRC-32 are then the
/// file's trailer, which bounds the output buffer. `None` sends the caller to the
/// streaming reader (several members, a trailer that lies, output over `limit`),
/// which also names what is wrong.
fn inflate_last_member(bytes: &[u8], start: usize, limit: u64) -> Option<Member> {
    const MAX_WHOLE: u64 = 256 << 20;
    let stream = bytes.get(start..)?;
    if stream.len() < 18 {
        return None;
    }
    let word = |at: usize| {
        let b = &stream[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let (crc, size) = (word(stream.len() - 8), word(stream.len() - 4));
    if u64::from(size) > limit.min(MAX_WHOLE) {
        return None;
    }
    let mut data = vec![0u8; size as usize];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(stream, &mut data)
        .ok()?;
    (n == data.len() && libdeflater::crc32(&data) == crc).then_some(Member {
        compressed: start..bytes.len(),
        data,
    })
}

/// Decompresses the member at `start` into `sink`, returning where it ends. Used for
/// streams too large to hold (package data) when only their extent or digest is needed.
pub fn skip_member(bytes: &[u8], start: usize, limit: u64, what: &str) -> Result<usize> {
    let mut rest = &bytes[start..];
    {
        let mut dec = Bounded::new(GzDecoder::new(&mut rest), limit);
        io::copy(&mut dec, &mut io::sink())
            .map_err(|e| Error::format(what, describe_gzip_error(&e)))?;
    }
    Ok(bytes.len() - rest.len())
}

/// A streaming reader over the member at `start`, bounded to `limit` bytes.
pub fn member_reader(bytes: &[u8], start: usize, limit: u64) -> Bounded<GzDecoder<&[u8]>> {
    Bounded::new(GzDecoder::new(&bytes[start..]), limit)
}

/// Compresses `data` as one gzip member the way `gzip -n -9` does: no name, no mtime.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3 + 64), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    HardLink,
    Fifo,
    CharDevice,
    BlockDevice,
    Other(u8),
}

impl EntryKind {
    pub fn from_tar(t: tar::EntryType) -> Self {
        match t {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::HardLink,
            tar::EntryType::Fifo => EntryKind::Fifo,
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            other => EntryKind::Other(other.as_byte()),
        }
    }
}

/// The header of one tar entry, with what apk reads from its pax records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    /// Symlink target or hard link source.
    pub link: Option<String>,
    /// `APK-TOOLS.checksum.SHA1` (hex) from the entry's pax header.
    pub apk_checksum: Option<String>,
    /// Owner and group names (ustar `uname`/`gname`), mapped through the root's
    /// `etc/passwd` and `etc/group` when installing as root.
    pub uname: Option<String>,
    pub gname: Option<String>,
}

/// Reads an entry's header fields, naming the archive in errors.
pub fn entry_header<R: Read>(entry: &mut tar::Entry<'_, R>, what: &str) -> Result<EntryHeader> {
    let bad = |m: String| Error::format(what, m);
    let raw_path = entry.path_bytes().into_owned();
    let path = String::from_utf8(raw_path).map_err(|e| {
        bad(format!(
            "entry name is not UTF-8: {:?}",
            String::from_utf8_lossy(e.as_bytes())
        ))
    })?;
    let header = entry.header();
    let kind = EntryKind::from_tar(header.entry_type());
    let field = |r: io::Result<u64>, name: &str| {
        r.map_err(|e| bad(format!("entry '{path}': invalid {name}: {e}")))
    };
    let mode = field(header.mode().map(u64::from), "mode")? as u32;
    let uid = field(header.uid(), "uid")?;
    let gid = field(header.gid(), "gid")?;
    let mtime = field(header.mtime(), "mtime")?;
    let size = field(entry.header().entry_size(), "size")?;
    let owner_name = |n: io::Result<Option<&str>>| {
        n.ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let uname = owner_name(
        header
            .username()
            .map_err(|e| io::Error::other(e.to_string())),
    );
    let gname = owner_name(
        header
            .groupname()
            .map_err(|e| io::Error::other(e.to_string())),
    );
    let link = match entry.link_name_bytes() {
        Some(l) => Some(
            String::from_utf8(l.into_owned())
                .map_err(|_| bad(format!("entry '{path}': link target is not UTF-8")))?,
        ),
        None => None,
    };
    let mut apk_checksum = None;
    if let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| bad(format!("entry '{path}': bad pax header: {e}")))?
    {
        for ext in exts {
            let ext = ext.map_err(|e| bad(format!("entry '{path}': bad pax record: {e}")))?;
            if ext.key_bytes() == b"APK-TOOLS.checksum.SHA1" {
                let v = std::str::from_utf8(ext.value_bytes())
                    .map_err(|_| bad(format!("entry '{path}': checksum is not text")))?;
                apk_checksum = Some(v.to_owned());
            }
        }
    }
    Ok(EntryHeader {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        size: if matches!(kind, EntryKind::File) {
            size
        } else {
            0
        },
        link,
        apk_checksum,
        uname,
        gname,
    })
}

/// A small tar (signature, control, index) read whole.
#[derive(Debug, Clone)]
pub struct SmallEntry {
    pub header: EntryHeader,
    pub data: Vec<u8>,
}

/// Reads every entry of a small, already decompressed tar. The tar may lack its
/// end-of-archive blocks.
pub fn read_small_tar(data: &[u8], what: &str) -> Result<Vec<SmallEntry>> {
    Ok(small_tar_extents(data, what)?
        .into_iter()
        .map(|(header, range)| SmallEntry {
            header,
            data: data[range].to_vec(),
        })
        .collect())
}

/// Where the contents of each entry of a small, already decompressed tar lie in it
/// (for reading a large entry without copying it). Entries whose contents are not one
/// stretch of the tar (sparse files) are refused.
pub fn small_tar_extents(
    data: &[u8],
    what: &str,
) -> Result<Vec<(EntryHeader, std::ops::Range<usize>)>> {
    let mut archive = tar::Archive::new(data);
    let mut out = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::format(what, format!("bad tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::format(what, format!("bad tar header: {e}")))?;
        if entry.header().entry_type().is_gnu_sparse() {
            return Err(Error::format(what, "sparse tar entries are not supported"));
        }
        let header = entry_header(&mut entry, what)?;
        let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
        let end = usize::try_from(header.size)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| Error::format(what, format!("entry '{}' is truncated", header.path)))?;
        out.push((header, start..end));
    }
    Ok(out)
}

/// Builds tars with fixed ownership and times, for reproducible output.
pub struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl TarWriter {
    pub fn new() -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        TarWriter { builder }
    }

    fn header(
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        size: u64,
    ) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(size);
        let _ = h.set_username(if uid == 0 { "root" } else { "" });
        let _ = h.set_groupname(if gid == 0 { "root" } else { "" });
        h
    }

    /// Adds a regular file.
    #[allow(clippy::too_many_arguments)]
    pub fn file(
        &mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
        checksum: Option<&str>,
    ) -> io::Result<()> {
        if let Some(c) = checksum {
            self.builder
                .append_pax_extensions([("APK-TOOLS.checksum.SHA1", c.as_bytes())])?;
        }
        let mut h = Self::header(
            tar::EntryType::Regular,
            mode,
            uid,
            gid,
            mtime,
            data.len() as u64,
        );
        self.builder.append_data(&mut h, path, data)
    }

    pub fn dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64, mtime: u64) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, gid, mtime, 0);
        let p = if path.ends_with('/') {
            path.to_owned()
        } else {
            format!("{path}/")
        };
        self.builder.append_data(&mut h, p, io::empty())
    }

    /// Adds a symlink or hard link entry.
    #[allow(clippy::too_many_arguments)]
    pub fn link(
        &mut self,
        kind: EntryKind,
        path: &str,
        target: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        checksum: Option<&str>,
    ) -> io::Result<()> {
        if let Some(c) = checksum {
            self.builder
                .append_pax_extensions([("APK-TOOLS.checksum.SHA1", c.as_bytes())])?;
        }
        let t = if kind == EntryKind::HardLink {
            tar::EntryType::Link
        } else {
            tar::EntryType::Symlink
        };
        let mut h = Self::header(t, mode, uid, gid, mtime, 0);
        self.builder.append_link(&mut h, path, target)
    }

    /// The archive with its end-of-archive blocks (the last stream of a file).
    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.builder.into_inner()
    }

    /// The archive without end-of-archive blocks (signature and control streams).
    pub fn finish_cut(self) -> io::Result<Vec<u8>> {
        let mut v = self.builder.into_inner()?;
        v.truncate(v.len().saturating_sub(1024));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_split_exactly() {
        let a = gzip(b"first member");
        let b = gzip(&vec![b'x'; 100_000]);
        let mut file = a.clone();
        file.extend_from_slice(&b);
        let m1 = inflate_member(&file, 0, 1 << 20, "t").unwrap();
        assert_eq!(m1.compressed, 0..a.len());
        assert_eq!(m1.data, b"first member");
        let end = skip_member(&file, m1.compressed.end, 1 << 20, "t").unwrap();
        assert_eq!(end, file.len());
    }

    #[test]
    fn bomb_is_bounded() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        let e = inflate_member(&bomb, 0, 1 << 20, "bomb.apk").unwrap_err();
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
        // Exactly at the limit is fine.
        assert_eq!(
            inflate_member(&bomb, 0, 10 << 20, "ok").unwrap().data.len(),
            10 << 20
        );
    }

    #[test]
    fn truncated_and_corrupt_streams() {
        let g = gzip(&vec![7u8; 50_000]);
        let e = inflate_member(&g[..g.len() / 2], 0, 1 << 20, "cut.apk").unwrap_err();
        assert!(e.to_string().starts_with("cut.apk: "), "{e}");
        let mut bad = g.clone();
        bad[12] ^= 0xff;
        assert!(inflate_member(&bad, 0, 1 << 20, "bad.apk").is_err());
        assert!(inflate_member(b"not gzip at all", 0, 1 << 20, "x").is_err());
    }

    #[test]
    fn cut_tars_concatenate() {
        let mut w = TarWriter::new();
        w.file(".PKGINFO", 0o644, 0, 0, 0, b"pkgname = a\n", None)
            .unwrap();
        let control = w.finish_cut().unwrap();
        assert_eq!(control.len() % 512, 0);
        let mut w = TarWriter::new();
        w.file("usr/bin/a", 0o755, 0, 0, 0, b"#!/bin/sh\n", Some("00ff"))
            .unwrap();
        let mut all = control.clone();
        all.extend(w.finish().unwrap());
        let entries = read_small_tar(&all, "t").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].header.path, "usr/bin/a");
        assert_eq!(entries[1].header.apk_checksum.as_deref(), Some("00ff"));
        assert_eq!(entries[1].header.mode, 0o755);
        assert_eq!(read_small_tar(&control, "t").unwrap().len(), 1);
    }
}
