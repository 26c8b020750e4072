//! The v2 container: concatenated gzip members that decompress to one tar stream.
//!
//! Packages are `[signature member] control member, data member`; indexes are
//! `[signature member] index member`. The signature and control tars carry no
//! end-of-archive blocks so that the concatenation reads as one archive; a signature
//! covers the compressed bytes of the member after it, so member boundaries matter and
//! are tracked here. Every decompression is bounded, so a gzip bomb ends in an error
//! rather than an exhausted disk or memory.

use std::io::{self, BufRead, Read, Write};
use std::ops::Range;

use flate2::bufread::GzDecoder;
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

fn gzip_error(what: &str, e: &io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::truncated(what, "truncated gzip stream"),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            Error::format(what, format!("corrupt gzip stream ({e})"))
        }
        _ => Error::format(what, e.to_string()),
    }
}

/// Decompresses the gzip member starting at `start`, at most `limit` bytes of output.
pub fn inflate_member(bytes: &[u8], start: usize, limit: u64, what: &str) -> Result<Member> {
    if let Some(m) = inflate_last_member(bytes, start, limit) {
        return Ok(m);
    }
    inflate_inner_member(bytes, start, limit, what)
}

/// As [`inflate_member`] for a member known to be followed by others (a package's
/// control stream): the file's trailer says nothing about its size, and a buffer of
/// the size it gives (the data's, megabytes) would only be thrown away.
pub fn inflate_inner_member(bytes: &[u8], start: usize, limit: u64, what: &str) -> Result<Member> {
    let mut rest = &bytes[start..];
    let mut used = 0;
    let data = read_member_seen(&mut rest, limit, what, |b| used += b.len())?;
    Ok(Member {
        compressed: start..start + used,
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
        io::copy(&mut dec, &mut io::sink()).map_err(|e| gzip_error(what, &e))?;
    }
    Ok(bytes.len() - rest.len())
}

/// A buffered reader that shows each byte consumed from it to `seen` (a hasher, a
/// copy): how the compressed bytes of a member are known when it is read from a
/// stream rather than from a buffer.
pub struct Tee<R, F> {
    inner: R,
    seen: F,
}

impl<R: BufRead, F: FnMut(&[u8])> Tee<R, F> {
    pub fn new(inner: R, seen: F) -> Self {
        Tee { inner, seen }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: BufRead, F: FnMut(&[u8])> Read for Tee<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead, F: FnMut(&[u8])> BufRead for Tee<R, F> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // What is consumed was returned by the last `fill_buf`, so asking again reads
        // nothing new: it hands back the same buffered bytes.
        if n > 0 {
            if let Ok(buffered) = self.inner.fill_buf() {
                (self.seen)(&buffered[..n.min(buffered.len())]);
            }
        }
        self.inner.consume(n);
    }
}

thread_local! {
    /// One raw inflater per thread, reset for each member. A new one allocates its
    /// 32 KiB window afresh: `apk index` made two per package, and over 2,000 packages
    /// those aligned allocations grew glibc's thread arenas to 15-55 MB.
    static INFLATER: std::cell::RefCell<flate2::Decompress> =
        std::cell::RefCell::new(flate2::Decompress::new(false));
}

/// Reads the gzip member `r` is at, at most `limit` bytes of output, leaving `r` just
/// after it: its compressed bytes and its contents. Header, deflate stream and trailer
/// (CRC-32 and size) are checked as gzip(1) checks them.
pub fn read_member<R: BufRead>(r: &mut R, limit: u64, what: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut compressed = Vec::new();
    let data = read_member_seen(r, limit, what, |b| compressed.extend_from_slice(b))?;
    Ok((compressed, data))
}

/// As [`read_member`], showing the compressed bytes to `seen` as they are consumed.
pub fn read_member_seen<R: BufRead>(
    r: &mut R,
    limit: u64,
    what: &str,
    seen: impl FnMut(&[u8]),
) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    read_member_into(r, limit, what, seen, &mut data)?;
    data.shrink_to_fit();
    Ok(data)
}

/// As [`read_member_seen`], inflating into `data`, which keeps what was inflated when
/// this fails (a member over `limit` leaves its first `limit` bytes and more there).
pub fn read_member_into<R: BufRead>(
    r: &mut R,
    limit: u64,
    what: &str,
    seen: impl FnMut(&[u8]),
    data: &mut Vec<u8>,
) -> Result<()> {
    let corrupt = |m: &str| Error::format(what, format!("corrupt gzip stream ({m})"));
    let read_error = |e: io::Error| gzip_error(what, &e);
    {
        let mut tee = Tee::new(&mut *r, seen);
        let mut head = [0u8; 10];
        tee.read_exact(&mut head).map_err(read_error)?;
        let flags = head[3];
        if head[..3] != [0x1f, 0x8b, 8] || flags & 0xe0 != 0 {
            return Err(corrupt("invalid gzip header"));
        }
        const FHCRC: u8 = 2;
        const FEXTRA: u8 = 4;
        const FNAME: u8 = 8;
        const FCOMMENT: u8 = 16;
        if flags & FEXTRA != 0 {
            let mut len = [0u8; 2];
            tee.read_exact(&mut len).map_err(read_error)?;
            let n = u64::from(u16::from_le_bytes(len));
            let skipped = io::copy(&mut (&mut tee).take(n), &mut io::sink()).map_err(read_error)?;
            if skipped != n {
                return Err(Error::truncated(what, "truncated gzip stream"));
            }
        }
        for field in [FNAME, FCOMMENT] {
            if flags & field != 0 {
                let mut text = Vec::new();
                tee.read_until(0, &mut text).map_err(read_error)?;
                if text.last() != Some(&0) {
                    return Err(Error::truncated(what, "truncated gzip stream"));
                }
            }
        }
        if flags & FHCRC != 0 {
            let mut crc = [0u8; 2];
            tee.read_exact(&mut crc).map_err(read_error)?;
        }
        INFLATER.with(|cell| -> Result<()> {
            let mut inflater = cell.borrow_mut();
            inflater.reset(false);
            loop {
                let input = tee.fill_buf().map_err(read_error)?;
                if input.is_empty() {
                    return Err(Error::truncated(what, "truncated gzip stream"));
                }
                if data.capacity() - data.len() < 16 << 10 {
                    // Doubling, but never room for more than one byte past the limit.
                    let want = (16 << 10).max(data.len()) as u64;
                    let allowed = (limit + 1).saturating_sub(data.len() as u64).max(1);
                    data.reserve_exact(want.min(allowed) as usize);
                }
                let (in_before, out_before) = (inflater.total_in(), data.len());
                let status = inflater
                    .decompress_vec(input, data, flate2::FlushDecompress::None)
                    .map_err(|e| corrupt(&e.to_string()))?;
                let used = (inflater.total_in() - in_before) as usize;
                tee.consume(used);
                if data.len() as u64 > limit {
                    return Err(Error::format(
                        what,
                        format!(
                            "decompressed data exceeds the limit of {limit} bytes (gzip bomb?)"
                        ),
                    ));
                }
                match status {
                    flate2::Status::StreamEnd => return Ok(()),
                    _ if used == 0 && data.len() == out_before => {
                        return Err(corrupt("the deflate stream does not advance"))
                    }
                    _ => {}
                }
            }
        })?;
        let mut trailer = [0u8; 8];
        tee.read_exact(&mut trailer).map_err(read_error)?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != libdeflater::crc32(data) || size != data.len() as u32 {
            return Err(corrupt("the trailer does not match the contents"));
        }
    }
    Ok(())
}

/// A streaming reader over the member at `start`, bounded to `limit` bytes.
pub fn member_reader(bytes: &[u8], start: usize, limit: u64) -> Bounded<GzDecoder<&[u8]>> {
    Bounded::new(GzDecoder::new(&bytes[start..]), limit)
}

/// Compresses `data` as one gzip member the way `gzip -n -9` does: no name, no mtime.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    // OS 3 (Unix) in the header, as gzip writes it.
    let mut enc = flate2::GzBuilder::new()
        .operating_system(3)
        .write(Vec::with_capacity(data.len() / 3 + 64), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Compresses `data` as one gzip member (no name, no mtime, OS Unix) with libdeflate
/// at level 5: for an index's text that is as small as zlib's `-9` (Alpine 3.16
/// main's: 659,229 bytes against gzip -9's 659,180; 61.9 KB against 62.9 KB for the
/// benchmark's 2,000 packages) at several times its speed (25 ms for that index, level
/// 6 took 40 ms for 1% less), and writing the index is the part of `apk index` that no
/// second core shares.
pub fn gzip_fast(data: &[u8]) -> Vec<u8> {
    let Some(lvl) = libdeflater::CompressionLvl::new(5).ok() else {
        return gzip(data);
    };
    let mut c = libdeflater::Compressor::new(lvl);
    let mut out = vec![0u8; 10 + c.deflate_compress_bound(data.len()) + 8];
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, OS 3 (Unix).
    out[..10].copy_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    let Ok(n) = c.deflate_compress(data, &mut out[10..]) else {
        return gzip(data);
    };
    out.truncate(10 + n);
    out.extend_from_slice(&libdeflater::crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
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
    /// Extended attributes (name, value): pax `SCHILY.xattr.*` records, or a v3
    /// package's ACL.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// The digest apk-tools records for extended attributes (the fourth field of `a:` and
/// `M:`): SHA-1 over the attributes sorted by name, each name and value preceded by
/// its length (32-bit big-endian). `None` without attributes.
pub fn xattr_digest(xattrs: &[(String, Vec<u8>)]) -> Option<[u8; 20]> {
    use sha1::{Digest, Sha1};
    if xattrs.is_empty() {
        return None;
    }
    let mut sorted: Vec<&(String, Vec<u8>)> = xattrs.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha1::new();
    for (n, v) in sorted {
        h.update((n.len() as u32).to_be_bytes());
        h.update(n.as_bytes());
        h.update((v.len() as u32).to_be_bytes());
        h.update(v);
    }
    Some(h.finalize().into())
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
    let mut xattrs = Vec::new();
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
            } else if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                let name = String::from_utf8(name.to_vec())
                    .map_err(|_| bad(format!("entry '{path}': xattr name is not text")))?;
                xattrs.push((name, ext.value_bytes().to_vec()));
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
        xattrs,
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
    match plain_tar_extents(data) {
        Some(entries) => Ok(entries),
        None => tar_crate_extents(data, what),
    }
}

/// [`small_tar_extents`] through the tar crate, for anything its own reading declines
/// (public for the test that compares the two on real packages).
#[doc(hidden)]
pub fn tar_crate_extents(
    data: &[u8],
    what: &str,
) -> Result<Vec<(EntryHeader, std::ops::Range<usize>)>> {
    let mut archive = tar::Archive::new(io::Cursor::new(data));
    let mut out = Vec::new();
    let entries = archive
        .entries_with_seek()
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

/// [`small_tar_extents`] for the tars packages' signature and control streams are:
/// regular files in ustar or GNU headers, each maybe after a pax header, read here in
/// place; `None` for anything else (other entry types, long names, pax records that
/// change a size or an owner, numbers in base 256, a bad checksum or record, a
/// truncated tar), which the tar crate then reads, giving its result or error. The
/// entries are the tar crate's own (a test compares the two on generated and real
/// tars; public for the test on real packages): going through it was 6% of `apk
/// index`'s samples.
#[doc(hidden)]
pub fn plain_tar_extents(data: &[u8]) -> Option<Vec<(EntryHeader, std::ops::Range<usize>)>> {
    fn field(h: &[u8], at: usize, len: usize) -> &[u8] {
        let f = &h[at..at + len];
        f.iter().position(|&b| b == 0).map_or(f, |end| &f[..end])
    }
    // As the tar crate reads a number: octal text up to the first NUL, trimmed.
    fn octal(h: &[u8], at: usize, len: usize) -> Option<u64> {
        if h[at] & 0x80 != 0 {
            return None;
        }
        let text = std::str::from_utf8(field(h, at, len)).ok()?;
        u64::from_str_radix(text.trim(), 8).ok()
    }
    let mut out = Vec::new();
    let mut pax: Option<&[u8]> = None;
    let mut at = 0usize;
    loop {
        if at >= data.len() {
            break;
        }
        let h = data.get(at..at + 512)?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        // Two plain sums, which the compiler vectorises (a chained iterator
        // is summed a byte at a time).
        let sum: u32 = h[..148].iter().map(|&b| u32::from(b)).sum::<u32>()
            + h[156..].iter().map(|&b| u32::from(b)).sum::<u32>()
            + 8 * 32;
        if u32::try_from(octal(h, 148, 8)?).ok()? != sum {
            return None;
        }
        let ustar = &h[257..265] == b"ustar\x0000";
        let gnu = &h[257..265] == b"ustar  \x00";
        if !ustar && !gnu {
            return None;
        }
        let size = octal(h, 124, 12)?;
        let start = at + 512;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let stored = data.get(start..end)?;
        at = start.checked_add(end.checked_sub(start)?.checked_add(511)? & !511)?;
        match h[156] {
            b'x' if pax.is_none() => {
                pax = Some(stored);
                continue;
            }
            b'0' | 0 => {}
            _ => return None,
        }
        let records = pax.take().unwrap_or_default();
        let mut path = None;
        let mut apk_checksum = None;
        let mut xattrs = Vec::new();
        for line in records.split(|&b| b == b'\n') {
            if line.is_empty() {
                break;
            }
            let space = line.iter().position(|&b| b == b' ')?;
            let len: usize = std::str::from_utf8(&line[..space]).ok()?.parse().ok()?;
            if line.len() + 1 != len {
                return None;
            }
            let kv = &line[space + 1..];
            let eq = kv.iter().position(|&b| b == b'=')?;
            let (key, value) = (&kv[..eq], &kv[eq + 1..]);
            match key {
                b"size" | b"uid" | b"gid" | b"linkpath" => return None,
                b"path" => {
                    path.get_or_insert(value);
                }
                b"APK-TOOLS.checksum.SHA1" => {
                    apk_checksum = Some(std::str::from_utf8(value).ok()?.to_owned());
                }
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        let name = String::from_utf8(name.to_vec()).ok()?;
                        xattrs.push((name, value.to_vec()));
                    }
                }
            }
        }
        if h[157] != 0 {
            return None;
        }
        let path = match path {
            Some(p) => p.to_vec(),
            None => {
                let prefix = if ustar { field(h, 345, 155) } else { &[][..] };
                let name = field(h, 0, 100);
                let mut p = Vec::with_capacity(prefix.len() + 1 + name.len());
                if !prefix.is_empty() {
                    p.extend_from_slice(prefix);
                    p.push(b'/');
                }
                p.extend_from_slice(name);
                p
            }
        };
        let owner = |at: usize| {
            std::str::from_utf8(field(h, at, 32))
                .ok()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let header = EntryHeader {
            path: String::from_utf8(path).ok()?,
            kind: EntryKind::File,
            mode: octal(h, 100, 8)? as u32,
            uid: octal(h, 108, 8)?,
            gid: octal(h, 116, 8)?,
            mtime: octal(h, 136, 12)?,
            size,
            link: None,
            apk_checksum,
            uname: owner(265),
            gname: owner(297),
            xattrs,
        };
        out.push((header, start..end));
    }
    // A pax header with no entry after it is the tar crate's error to give.
    pax.is_none().then_some(out)
}

/// A stream the tar reader may skip forward in: given a reader that cannot seek, the
/// tar crate clears a 32 KiB buffer before every entry to read the bytes it passes
/// over (a tenth of `apk index`'s time); here they are read into one buffer kept for
/// the stream. Only forward moves from the current position are possible.
pub struct Forward<R> {
    inner: R,
    pos: u64,
    scratch: Vec<u8>,
}

impl<R: Read> Forward<R> {
    pub fn new(inner: R) -> Self {
        Forward {
            inner,
            pos: 0,
            scratch: Vec::new(),
        }
    }
}

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> io::Seek for Forward<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let mut left = match pos {
            io::SeekFrom::Current(n) => u64::try_from(n).map_err(|_| {
                io::Error::new(io::ErrorKind::Unsupported, "seeking back in a stream")
            })?,
            io::SeekFrom::Start(n) if n >= self.pos => n - self.pos,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "seeking back in a stream",
                ))
            }
        };
        if left > 0 && self.scratch.is_empty() {
            self.scratch = vec![0; 16 << 10];
        }
        while left > 0 {
            let want = left.min(self.scratch.len() as u64) as usize;
            let n = self.inner.read(&mut self.scratch[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected end of the stream",
                ));
            }
            self.pos += n as u64;
            left -= n as u64;
        }
        Ok(self.pos)
    }
}

/// The time writers stamp on what they make when no other is given, as apk-tools and
/// abuild-sign do: `$SOURCE_DATE_EPOCH` when set, else now.
pub fn build_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
}

/// Whose tar conventions a [`TarWriter`] follows. apk-tools reads both, but only when
/// they are followed to the byte where it matters: its reader takes a header whose name
/// begins with NUL for the end of the archive, so every pax header must be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarFlavor {
    /// What abuild writes: GNU tar `--format=posix` with
    /// `--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0,ctime:=0`, piped through
    /// `abuild-tar` (`--hash` adds an `APK-TOOLS.checksum.SHA1` record to each file and
    /// symlink). `numeric_owner` leaves owner names empty (`abuild-sign` runs tar with
    /// `--numeric-owner`).
    Abuild { hash: bool, numeric_owner: bool },
    /// apk-tools' own writer (`apk index`, the scripts database): GNU magic, sizes and
    /// times in twelve octal digits, owner names `root` unless given, GNU long names.
    Apk,
}

/// One entry to write. `uname`/`gname` default to `root` for id 0 and to nothing
/// otherwise.
#[derive(Debug, Clone, Copy)]
pub struct TarEntry<'a> {
    pub path: &'a str,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: Option<&'a str>,
    pub gname: Option<&'a str>,
    pub mtime: u64,
    /// File contents (regular files only).
    pub data: &'a [u8],
    /// Symlink target or hard link source.
    pub link: &'a str,
}

impl<'a> TarEntry<'a> {
    /// A regular file owned by root.
    pub fn file(path: &'a str, mode: u32, mtime: u64, data: &'a [u8]) -> Self {
        TarEntry {
            path,
            kind: EntryKind::File,
            mode,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            mtime,
            data,
            link: "",
        }
    }
}

/// A tar header block, written field by field. The tar crate's builder cannot name pax
/// headers (it leaves them nameless) nor lay fields out as GNU tar and apk-tools do, and
/// byte-identical output is the point here, so the 512 bytes are filled by hand.
struct Block([u8; 512]);

impl Block {
    fn new() -> Self {
        Block([0; 512])
    }

    /// Copies as much of `s` as fits into the field at `at` (no terminator needed).
    fn put(&mut self, at: usize, len: usize, s: &[u8]) {
        let n = s.len().min(len);
        self.0[at..at + n].copy_from_slice(&s[..n]);
    }

    /// `value` in octal: `len - 1` digits and a NUL, or `len` digits without one.
    fn octal(&mut self, at: usize, len: usize, value: u64, nul: bool) {
        let digits = if nul { len - 1 } else { len };
        let s = format!("{value:0digits$o}");
        self.put(at, len, s.as_bytes());
    }

    fn finish(mut self) -> [u8; 512] {
        self.0[148..156].fill(b' ');
        let sum: u32 = self.0.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0");
        self.put(148, 7, s.as_bytes());
        self.0
    }
}

fn type_flag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'0',
        EntryKind::HardLink => b'1',
        EntryKind::Symlink => b'2',
        EntryKind::CharDevice => b'3',
        EntryKind::BlockDevice => b'4',
        EntryKind::Dir => b'5',
        EntryKind::Fifo => b'6',
        EntryKind::Other(b) => b,
    }
}

/// One pax record: `"<len> key=value\n"`, the length counting itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// GNU tar's name for an entry's extended header: `%d/PaxHeaders/%f`.
fn pax_header_name(path: &str) -> String {
    let p = path.trim_end_matches('/');
    match p.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/PaxHeaders/{base}"),
        None => format!("./PaxHeaders/{p}"),
    }
}

/// Builds tars as abuild or apk-tools would write them, for reproducible output that
/// both apk-tools versions read.
pub struct TarWriter {
    out: Vec<u8>,
    flavor: TarFlavor,
}

impl TarWriter {
    pub fn new(flavor: TarFlavor) -> Self {
        TarWriter {
            out: Vec::new(),
            flavor,
        }
    }

    /// A package's data stream, as `tar | abuild-tar --hash` writes it.
    pub fn package_data() -> Self {
        Self::new(TarFlavor::Abuild {
            hash: true,
            numeric_owner: false,
        })
    }

    /// A package's control stream (`tar | abuild-tar --cut`).
    pub fn package_control() -> Self {
        Self::new(TarFlavor::Abuild {
            hash: false,
            numeric_owner: false,
        })
    }

    /// A signature stream, as `abuild-sign` writes it.
    pub fn signature() -> Self {
        Self::new(TarFlavor::Abuild {
            hash: false,
            numeric_owner: true,
        })
    }

    /// What apk-tools itself writes (indexes, `scripts.tar`).
    pub fn apk() -> Self {
        Self::new(TarFlavor::Apk)
    }

    /// Adds a regular file owned by root.
    pub fn file(&mut self, path: &str, mode: u32, mtime: u64, data: &[u8]) -> io::Result<()> {
        self.append(&TarEntry::file(path, mode, mtime, data))
    }

    /// Adds one entry (directories get their trailing `/`).
    pub fn append(&mut self, e: &TarEntry<'_>) -> io::Result<()> {
        let dir_path;
        let path = if e.kind == EntryKind::Dir && !e.path.ends_with('/') {
            dir_path = format!("{}/", e.path);
            dir_path.as_str()
        } else {
            e.path
        };
        let size = if e.kind == EntryKind::File {
            e.data.len() as u64
        } else {
            0
        };
        if size >= 1 << 33 {
            return Err(io::Error::other(format!(
                "'{path}' is too large for a tar entry"
            )));
        }
        match self.flavor {
            TarFlavor::Abuild {
                hash,
                numeric_owner,
            } => {
                let mut pax = Vec::new();
                if path.len() > 100 {
                    pax_record(&mut pax, "path", path.as_bytes());
                }
                if e.link.len() > 100 {
                    pax_record(&mut pax, "linkpath", e.link.as_bytes());
                }
                pax_record(&mut pax, "ctime", b"0");
                pax_record(&mut pax, "atime", b"0");
                if hash {
                    let digest = match e.kind {
                        EntryKind::File => Some(sha1_hex(e.data)),
                        EntryKind::Symlink => Some(sha1_hex(e.link.as_bytes())),
                        _ => None,
                    };
                    if let Some(d) = digest {
                        pax_record(&mut pax, "APK-TOOLS.checksum.SHA1", d.as_bytes());
                    }
                }
                let mut h = Block::new();
                h.put(0, 100, pax_header_name(path).as_bytes());
                h.octal(100, 8, 0o644, true);
                h.octal(108, 8, 0, true);
                h.octal(116, 8, 0, true);
                h.octal(124, 12, pax.len() as u64, true);
                h.octal(136, 12, e.mtime, true);
                h.0[156] = b'x';
                h.put(257, 8, b"ustar\x0000");
                self.out.extend_from_slice(&h.finish());
                self.out.extend_from_slice(&pax);
                self.pad();

                let mut h = Block::new();
                h.put(0, 100, path.as_bytes());
                h.octal(100, 8, u64::from(e.mode & 0o7777), true);
                h.octal(108, 8, e.uid, true);
                h.octal(116, 8, e.gid, true);
                h.octal(124, 12, size, true);
                h.octal(136, 12, e.mtime, true);
                h.0[156] = type_flag(e.kind);
                h.put(157, 100, e.link.as_bytes());
                h.put(257, 8, b"ustar\x0000");
                if !numeric_owner {
                    h.put(265, 32, owner_name(e.uname, e.uid).as_bytes());
                    h.put(297, 32, owner_name(e.gname, e.gid).as_bytes());
                }
                h.octal(329, 8, 0, true);
                h.octal(337, 8, 0, true);
                self.out.extend_from_slice(&h.finish());
            }
            TarFlavor::Apk => {
                let fill = |h: &mut Block, name: &[u8], flag: u8, size: u64| {
                    h.put(0, 100, name);
                    h.octal(100, 8, u64::from(e.mode & 0o7777), true);
                    h.octal(108, 8, e.uid, true);
                    h.octal(116, 8, e.gid, true);
                    h.octal(124, 12, size, false);
                    h.octal(136, 12, e.mtime, false);
                    h.0[156] = flag;
                    h.put(157, 100, e.link.as_bytes());
                    h.put(257, 8, b"ustar  \0");
                    h.put(265, 32, e.uname.unwrap_or("root").as_bytes());
                    h.put(297, 32, e.gname.unwrap_or("root").as_bytes());
                };
                if path.len() > 99 {
                    let mut h = Block::new();
                    fill(&mut h, b"././@LongLink", b'L', path.len() as u64);
                    self.out.extend_from_slice(&h.finish());
                    self.out.extend_from_slice(path.as_bytes());
                    self.out.push(0);
                    self.pad();
                }
                let mut h = Block::new();
                fill(&mut h, path.as_bytes(), type_flag(e.kind), size);
                self.out.extend_from_slice(&h.finish());
            }
        }
        self.out.extend_from_slice(e.data);
        self.pad();
        Ok(())
    }

    fn pad(&mut self) {
        let rem = self.out.len() % 512;
        if rem != 0 {
            self.out.resize(self.out.len() + 512 - rem, 0);
        }
    }

    /// The archive with its end-of-archive blocks (the last stream of a file). GNU tar
    /// fills its last record up to 10 KiB, and abuild keeps that padding.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.out.resize(self.out.len() + 1024, 0);
        if matches!(self.flavor, TarFlavor::Abuild { .. }) {
            let rem = self.out.len() % 10240;
            if rem != 0 {
                self.out.resize(self.out.len() + 10240 - rem, 0);
            }
        }
        Ok(self.out)
    }

    /// The archive without end-of-archive blocks (signature and control streams).
    pub fn finish_cut(self) -> io::Result<Vec<u8>> {
        Ok(self.out)
    }
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    crate::checksum::encode_hex(&Sha1::digest(data))
}

fn owner_name(name: Option<&str>, id: u64) -> &str {
    match name {
        Some(n) => n,
        None if id == 0 => "root",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar as abuild and apk-rs write control streams, with what varies drawn from
    /// `seed`: ustar or GNU headers, pax records (path, checksum, xattrs, mtime, and
    /// ones that make the tar crate read it: size, uid, linkpath), long names, links,
    /// directories, odd modes and owners, and at times damage.
    fn generated_tar(seed: u64) -> Vec<u8> {
        let mut r = seed;
        let mut next = |m: u64| {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (r >> 33) % m
        };
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..next(5) + 1 {
            let gnu = next(2) == 0;
            let mut h = if gnu {
                tar::Header::new_gnu()
            } else {
                tar::Header::new_ustar()
            };
            let long = next(6) == 0;
            let name = if long {
                format!("usr/share/{}/file{i}", "d".repeat(120))
            } else {
                format!(".PKG{i}")
            };
            let body: Vec<u8> = (0..next(900)).map(|j| (j % 251) as u8).collect();
            h.set_size(body.len() as u64);
            h.set_mode([0o644, 0o755, 0o4755, 0o7777][next(4) as usize]);
            h.set_uid(next(70_000));
            h.set_gid(next(3));
            h.set_mtime(next(2_000_000_000));
            if next(2) == 0 {
                let _ = h.set_username(["root", "", "builder"][next(3) as usize]);
            }
            match next(8) {
                0 => h.set_entry_type(tar::EntryType::Directory),
                1 => h.set_entry_type(tar::EntryType::Symlink),
                _ => h.set_entry_type(tar::EntryType::Regular),
            }
            let mut records: Vec<(String, Vec<u8>)> = Vec::new();
            if next(2) == 0 {
                records.push(("mtime".into(), b"1700000000.5".to_vec()));
            }
            if next(3) == 0 {
                records.push((
                    "APK-TOOLS.checksum.SHA1".into(),
                    b"0123456789abcdef".to_vec(),
                ));
            }
            if next(4) == 0 {
                records.push(("SCHILY.xattr.user.x".into(), vec![0, 1, 2]));
            }
            if next(5) == 0 {
                records.push(("path".into(), format!("pax/path{i}").into_bytes()));
            }
            match next(12) {
                0 => records.push(("size".into(), body.len().to_string().into_bytes())),
                1 => records.push(("uid".into(), b"5".to_vec())),
                2 => records.push(("linkpath".into(), b"target".to_vec())),
                _ => {}
            }
            if !records.is_empty() {
                b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), &v[..])))
                    .unwrap();
            }
            if long {
                b.append_data(&mut h, &name, &body[..]).unwrap();
            } else {
                h.set_path(&name).unwrap();
                h.set_cksum();
                b.append(&h, &body[..]).unwrap();
            }
        }
        let mut tar = b.into_inner().unwrap();
        match next(10) {
            0 => {
                let at = next(tar.len() as u64) as usize;
                tar[at] ^= 0x20;
            }
            1 => tar.truncate(next(tar.len() as u64) as usize),
            _ => {}
        }
        tar
    }

    #[test]
    fn plain_tars_read_in_place_as_the_tar_crate_reads_them() {
        let mut in_place = 0;
        for seed in 0..3_000 {
            let tar = generated_tar(seed);
            let crate_read = tar_crate_extents(&tar, "t");
            if let Some(plain) = plain_tar_extents(&tar) {
                in_place += 1;
                assert_eq!(Some(&plain), crate_read.as_ref().ok(), "seed {seed}");
            }
            assert_eq!(
                small_tar_extents(&tar, "t").map_err(|e| e.to_string()),
                crate_read.map_err(|e| e.to_string()),
                "seed {seed}"
            );
        }
        // Most of them, and not all.
        assert!((300..2_900).contains(&in_place), "{in_place}");
    }

    #[test]
    fn a_forward_stream_skips_ahead_and_refuses_to_go_back_or_past_its_end() {
        use std::io::{Seek, SeekFrom};
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = Forward::new(&data[..]);
        let mut head = [0u8; 10];
        f.read_exact(&mut head).unwrap();
        assert_eq!(head[..], data[..10]);
        assert_eq!(f.seek(SeekFrom::Current(40_000)).unwrap(), 40_010);
        f.read_exact(&mut head).unwrap();
        assert_eq!(head[..], data[40_010..40_020]);
        assert_eq!(f.seek(SeekFrom::Start(40_100)).unwrap(), 40_100);
        assert!(f.seek(SeekFrom::Current(-1)).is_err());
        assert!(f.seek(SeekFrom::Start(0)).is_err());
        let past = f.seek(SeekFrom::Current(20_000)).unwrap_err();
        assert_eq!(past.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_tar_read_through_a_forward_stream_lists_every_entry_and_its_contents() {
        let mut w = TarWriter::new(TarFlavor::Apk);
        let big = vec![7u8; 70_000];
        for (name, body) in [("a", &b"one"[..]), ("b", &big[..]), ("c", &b"three"[..])] {
            w.file(name, 0o644, 0, body).unwrap();
        }
        let tar_bytes = w.finish().unwrap();
        let mut archive = tar::Archive::new(Forward::new(&tar_bytes[..]));
        let mut seen = Vec::new();
        for e in archive.entries_with_seek().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            // The big one is skipped unread; the others are read.
            let mut body = Vec::new();
            if name != "b" {
                e.read_to_end(&mut body).unwrap();
            }
            seen.push((name, body));
        }
        assert_eq!(
            seen,
            [
                ("a".to_owned(), b"one".to_vec()),
                ("b".to_owned(), Vec::new()),
                ("c".to_owned(), b"three".to_vec()),
            ]
        );
        // Cut inside the big entry: an error, not a shorter archive.
        let cut = &tar_bytes[..40_000];
        let mut archive = tar::Archive::new(Forward::new(cut));
        let results: Vec<_> = archive.entries_with_seek().unwrap().collect();
        assert!(
            results.iter().any(|r| r.is_err()),
            "{} entries",
            results.len()
        );
    }

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
    fn members_with_every_header_field_are_read_one_at_a_time() {
        let mut enc = flate2::GzBuilder::new()
            .filename("name")
            .comment("comment")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        enc.write_all(&b"first member ".repeat(5000)).unwrap();
        let first = enc.finish().unwrap();
        let second = gzip(b"second");
        let file = [first.clone(), second.clone()].concat();
        let mut r = io::BufReader::with_capacity(5, &file[..]);
        let (c1, d1) = read_member(&mut r, 1 << 20, "t").unwrap();
        assert_eq!((c1, d1), (first.clone(), b"first member ".repeat(5000)));
        let (c2, d2) = read_member(&mut r, 1 << 20, "t").unwrap();
        assert_eq!((c2, d2), (second, b"second".to_vec()));
        assert!(r.fill_buf().unwrap().is_empty());

        // A wrong CRC, a cut stream, a bad header: each an error naming the file.
        let mut bad_crc = first.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        for bad in [
            &bad_crc[..],
            &first[..first.len() - 3],
            &first[..6],
            b"\x1f\x8b\x09rest",
        ] {
            let e = read_member(&mut &bad[..], 1 << 20, "bad.apk").unwrap_err();
            assert!(e.to_string().starts_with("bad.apk: "), "{e}");
        }
        let e = read_member(&mut &first[..], 1000, "big.apk").unwrap_err();
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
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
        let mut w = TarWriter::package_control();
        w.file(".PKGINFO", 0o644, 0, b"pkgname = a\n").unwrap();
        let control = w.finish_cut().unwrap();
        assert_eq!(control.len() % 512, 0);
        let mut w = TarWriter::package_data();
        w.file("usr/bin/a", 0o755, 0, b"#!/bin/sh\n").unwrap();
        let mut all = control.clone();
        all.extend(w.finish().unwrap());
        let entries = read_small_tar(&all, "t").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].header.path, "usr/bin/a");
        // sha1 of "#!/bin/sh\n", computed by hand with `printf '#!/bin/sh\n' | sha1sum`.
        assert_eq!(
            entries[1].header.apk_checksum.as_deref(),
            Some("bd971bec88149956458a10fc9c5ecb3eb99dd452")
        );
        assert_eq!(entries[1].header.mode, 0o755);
        assert_eq!(read_small_tar(&control, "t").unwrap().len(), 1);
    }

    /// Header fields as GNU tar and apk-tools lay them out, checked against bytes written
    /// out by hand from their documented formats (not from this writer).
    #[test]
    fn header_layouts() {
        let mut w = TarWriter::package_control();
        w.file("etc/x", 0o600, 1_700_000_000, b"abc").unwrap();
        let t = w.finish_cut().unwrap();
        assert_eq!(t.len(), 2048);
        assert_eq!(&t[..20], b"etc/PaxHeaders/x\x00\x00\x00\x00");
        assert_eq!(
            &t[100..148],
            b"0000644\x000000000\x000000000\x0000000000026\x0014524770400\x00"
        );
        assert_eq!(t[156], b'x');
        assert_eq!(&t[257..265], b"ustar\x0000");
        assert_eq!(&t[512..534], b"11 ctime=0\n11 atime=0\n");
        let h = &t[1024..1536];
        assert_eq!(&h[..6], b"etc/x\x00");
        assert_eq!(
            &h[100..148],
            b"0000600\x000000000\x000000000\x0000000000003\x0014524770400\x00"
        );
        assert_eq!(&h[265..270], b"root\x00");
        assert_eq!(&h[329..345], b"0000000\x000000000\x00");
        assert_eq!(&t[1536..1539], b"abc");

        let mut w = TarWriter::apk();
        w.file("APKINDEX", 0o644, 1_700_000_000, b"P:a\n").unwrap();
        let t = w.finish().unwrap();
        assert_eq!(t.len(), 512 * 4);
        assert_eq!(
            &t[100..148],
            b"0000644\x000000000\x000000000\x00000000000004014524770400"
        );
        assert_eq!(&t[257..265], b"ustar  \x00");
        assert!(t[1024..].iter().all(|&b| b == 0));
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for n in [1usize, 80, 95, 96, 97, 990, 995, 996, 1000] {
            let mut out = Vec::new();
            pax_record(&mut out, "path", "a".repeat(n).as_bytes());
            let text = String::from_utf8(out.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len(), "{text:?}");
        }
    }
}
