//! v2 `.apk` packages: reading, verifying and writing.
//!
//! Layout (apk-v2(5), abuild): an optional signature member, the control member (tar
//! without end blocks: `.PKGINFO` and the install scripts) and the data member (tar of
//! the files, each regular file and symlink with a pax `APK-TOOLS.checksum.SHA1` record).
//! The package identity (`C:`) is `Q1` + base64 SHA-1 of the compressed control member;
//! `datahash` in `.PKGINFO` is the hex SHA-256 of the compressed data member.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use flate2::bufread::GzDecoder;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::signed::{read_signature_member, signature_member};
use crate::checksum::{self, Checksum};
use crate::error::{Error, Result};
use crate::sign::{Keyring, PrivateKey, Signature, StreamDigests};
use crate::v2::archive::{self, EntryHeader, EntryKind, SmallEntry, TarEntry, TarWriter};
use crate::v2::pkginfo::PkgInfo;
use crate::PackageInfo;

thread_local! {
    /// A data stream inflated whole, kept for the next: a reading thread that unpacks
    /// package after package reuses one buffer instead of a fresh one each time.
    static WHOLE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Control-stream script names apk knows, in the order it runs them.
pub const SCRIPT_NAMES: [&str; 7] = [
    ".pre-install",
    ".post-install",
    ".pre-upgrade",
    ".post-upgrade",
    ".pre-deinstall",
    ".post-deinstall",
    ".trigger",
];

/// Data streams inflating to at most this are inflated in one call when they are
/// held whole (several times faster than streaming); bigger ones as they are read: a
/// whole-stream buffer would hold the package's installed size at once (4.5 MB for
/// libcrypto3), where apk-tools holds a few kilobytes.
pub const INFLATE_WHOLE_UP_TO: u64 = 512 << 10;

/// How much of a data stream is inflated at a time when it is read from a stream.
const INFLATE_BLOCK: usize = 64 << 10;

/// A parsed package: its signatures and control stream; the data stream is read on
/// demand from the same bytes.
#[derive(Debug, Clone)]
pub struct Package {
    pub signatures: Vec<Signature>,
    pub control: Range<usize>,
    pub control_entries: Vec<SmallEntry>,
    pub pkginfo: PkgInfo,
    /// Index metadata, with `C:` (identity) and `S:` (file size) filled in.
    pub info: PackageInfo,
    pub data_start: usize,
}

/// An archive path that would not stay inside the destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("absolute path '{0}'")]
    Absolute(String),
    #[error("path with NUL byte '{0}'")]
    Nul(String),
    #[error("path leaves the destination '{0}'")]
    Leaves(String),
}

/// Checks that an archive path stays inside the destination and normalises it
/// (`./usr/bin/` → `usr/bin`). The empty result is the destination itself.
pub fn safe_path(raw: &str) -> std::result::Result<String, UnsafePath> {
    if raw.starts_with('/') {
        return Err(UnsafePath::Absolute(raw.to_owned()));
    }
    if raw.contains('\0') {
        return Err(UnsafePath::Nul(raw.to_owned()));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(UnsafePath::Leaves(raw.to_owned())),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// What a signed v2 file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Package,
    Index,
}

/// Tells a package from an index by the first entry after the signatures.
pub fn classify(bytes: &[u8], what: &str) -> Result<FileKind> {
    let (_, start) = read_signature_member(bytes, what)?;
    let reader = archive::member_reader(bytes, start, archive::INDEX_LIMIT);
    let unknown = || Error::format(what, "not a package or index");
    let mut tar = tar::Archive::new(archive::Forward::new(reader));
    let mut entries = tar.entries_with_seek().map_err(|_| unknown())?;
    let first = entries.next().ok_or_else(unknown)?.map_err(|_| unknown())?;
    match &*first.path_bytes() {
        b".PKGINFO" => Ok(FileKind::Package),
        b"DESCRIPTION" | b"APKINDEX" => Ok(FileKind::Index),
        _ => Err(Error::format(what, "not a package or index")),
    }
}

/// Summary of a verified data stream.
#[derive(Debug, Clone, Default)]
pub struct DataSummary {
    pub entries: usize,
    pub files: usize,
    pub bytes: u64,
}

impl Package {
    /// Parses signatures and control stream. `what` names the file in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Package> {
        let (package, _) = Package::read_head(&mut &bytes[..], bytes.len() as u64, what)?;
        if package.data_start >= bytes.len() {
            return Err(Error::format(what, "not a package (no data stream)"));
        }
        Ok(package)
    }

    /// Reads signatures and control stream from the start of a package file of `size`
    /// bytes, leaving `r` at the data stream. Also returns the compressed control
    /// member: what the signatures cover.
    pub fn read_head<R: BufRead>(r: &mut R, size: u64, what: &str) -> Result<(Package, Vec<u8>)> {
        let io = |e: std::io::Error| Error::io(what, e);
        if r.fill_buf().map_err(io)?.get(..2) != Some(&[0x1f, 0x8b]) {
            return Err(Error::format(
                what,
                "not a package or index (no gzip stream)",
            ));
        }
        let (first_compressed, first) = archive::read_member(r, archive::CONTROL_LIMIT, what)?;
        let first_entries = archive::read_small_tar(&first, what)?;
        // The first entry's name tells (after any pax header: abuild-sign writes one).
        let signed = first_entries
            .first()
            .is_some_and(|e| e.header.path.starts_with(".SIGN."));
        let (signatures, control_start, control_compressed, control_entries) = if signed {
            let signatures = super::signed::parse_signatures(&first_entries)
                .ok_or_else(|| Error::format(what, "malformed signature entry"))?;
            if r.fill_buf().map_err(io)?.is_empty() {
                return Err(Error::format(what, "not a package (no control stream)"));
            }
            let (compressed, control) = archive::read_member(r, archive::CONTROL_LIMIT, what)?;
            let entries = archive::read_small_tar(&control, what)?;
            (signatures, first_compressed.len(), compressed, entries)
        } else {
            (Vec::new(), 0, first_compressed, first_entries)
        };
        // As apk-tools reads the control stream: an old-style `.INSTALL` script, or a
        // plain entry once a dotted one was seen, refuses the package.
        let mut dotted = false;
        for e in &control_entries {
            let path = e.header.path.as_str();
            let refused = if path.starts_with('.') {
                dotted = true;
                (path == ".INSTALL").then_some("an old-style .INSTALL script")
            } else {
                dotted.then_some("a control entry without a leading dot")
            };
            if let Some(why) = refused {
                return Err(Error::new(
                    what,
                    crate::error::ErrorKind::PackageFormat(format!("{why}: {path}")),
                ));
            }
        }
        let pkginfo_entry = control_entries
            .iter()
            .find(|e| e.header.path == ".PKGINFO")
            .ok_or_else(|| Error::format(what, "not a package (no .PKGINFO)"))?;
        let text = std::str::from_utf8(&pkginfo_entry.data)
            .map_err(|_| Error::format(what, ".PKGINFO is not UTF-8"))?;
        let pkginfo = PkgInfo::parse(text, &format!("{what}: .PKGINFO"))?;
        let mut info = pkginfo.to_package_info(what)?;
        info.checksum = Some(Checksum::sha1_of(&control_compressed));
        info.size = Some(size);
        let control = control_start..control_start + control_compressed.len();
        let package = Package {
            signatures,
            data_start: control.end,
            control,
            control_entries,
            pkginfo,
            info,
        };
        Ok((package, control_compressed))
    }

    /// Checks that some signature is by a trusted key and covers the control stream.
    pub fn verify_signature(&self, bytes: &[u8], keys: &Keyring, what: &str) -> Result<()> {
        self.verify_control_signature(&bytes[self.control.clone()], keys, what)
    }

    /// As [`Package::verify_signature`], given the compressed control member
    /// ([`Package::read_head`] returns it).
    pub fn verify_control_signature(
        &self,
        control: &[u8],
        keys: &Keyring,
        what: &str,
    ) -> Result<()> {
        if self.signatures.is_empty() {
            return Err(Error::untrusted(
                what,
                "UNTRUSTED signature (package is not signed)",
            ));
        }
        let digests = StreamDigests::of(control);
        if keys.verify_any(&self.signatures, &digests) {
            Ok(())
        } else {
            Err(Error::untrusted(what, "UNTRUSTED signature"))
        }
    }

    /// The package's install scripts present in the control stream.
    pub fn scripts(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.control_entries.iter().filter_map(|e| {
            SCRIPT_NAMES
                .iter()
                .find(|n| **n == e.header.path)
                .map(|n| (*n, e.data.as_slice()))
        })
    }

    /// A bound on the decompressed data stream: generous for real packages, fatal for a
    /// gzip bomb.
    fn data_limit(&self) -> u64 {
        let declared = self.info.installed_size.unwrap_or(1 << 30);
        declared.saturating_mul(2).saturating_add(256 << 20)
    }

    /// Walks the data stream: every entry's path must be safe, every file and symlink
    /// must match its recorded checksum, no entry may lie under a symlink of the same
    /// archive, hard links must point at earlier files, and the stream must match
    /// `datahash`. `visit` sees each entry with its verified contents (files only).
    pub fn walk_data(
        &self,
        bytes: &[u8],
        what: &str,
        mut visit: impl FnMut(&EntryHeader, &[u8]) -> Result<()>,
    ) -> Result<DataSummary> {
        self.walk_data_streaming(bytes, what, u64::MAX, FileDigests::Check, |h, content| {
            match content {
                Content::Bytes(b) => visit(h, b),
                Content::Stream(r) => {
                    let mut b = Vec::new();
                    r.read_to_end(&mut b)
                        .map_err(|e| stream_error(what, "", &e))?;
                    visit(h, &b)
                }
            }
        })
    }

    /// As [`Package::walk_data`], but files larger than `stream_over` bytes that carry
    /// their digest are handed over as a reader while they inflate, never held whole;
    /// the walk checks the digest once the visitor has read them, and fails after it
    /// when they do not match (so a visitor writes them somewhere it can discard).
    pub fn walk_data_streaming(
        &self,
        bytes: &[u8],
        what: &str,
        stream_over: u64,
        digests: FileDigests,
        visit: impl FnMut(&EntryHeader, Content<'_>) -> Result<()>,
    ) -> Result<DataSummary> {
        self.walk_data_stream(&bytes[self.data_start..], what, stream_over, digests, visit)
    }

    /// Whether the walk hashes each file (see [`FileDigests`]).
    fn hashes_files(&self, digests: FileDigests) -> bool {
        digests == FileDigests::Check || self.pkginfo.datahash().is_none()
    }

    /// As [`Package::walk_data_streaming`], given the data stream: the rest of the
    /// file after the control member.
    pub fn walk_data_stream(
        &self,
        stream: &[u8],
        what: &str,
        stream_over: u64,
        digests: FileDigests,
        mut visit: impl FnMut(&EntryHeader, Content<'_>) -> Result<()>,
    ) -> Result<DataSummary> {
        // With a datahash covering the whole stream, it can be inflated in one piece
        // (several times faster than streaming); the hash is checked first, so nothing
        // unverified is looked at.
        if let Some(whole) = self.inflate_whole(stream, what)? {
            let mut reader = &whole[..];
            let hash = self.hashes_files(digests);
            let walked = walk_tar(&mut reader, what, stream_over, hash, &mut visit);
            WHOLE.with(|w| *w.borrow_mut() = whole);
            return walked;
        }
        self.walk_data_from(stream, what, stream_over, digests, visit)
    }

    /// As [`Package::walk_data_streaming`], reading the data stream from `r` (a file
    /// past [`Package::read_head`]) to its end: no more than a buffer of it is held,
    /// and the `datahash` is checked at the end, after the visitor saw every entry.
    pub fn walk_data_from<R: BufRead>(
        &self,
        r: R,
        what: &str,
        stream_over: u64,
        digests: FileDigests,
        mut visit: impl FnMut(&EntryHeader, Content<'_>) -> Result<()>,
    ) -> Result<DataSummary> {
        let hash = self.hashes_files(digests);
        let bad = |m: String| Error::format(what, m);
        let mut hasher = Sha256::new();
        let summary = {
            let tee = archive::Tee::new(r, |b: &[u8]| hasher.update(b));
            let inflate = archive::Bounded::new(GzDecoder::new(tee), self.data_limit());
            // Inflated a block at a time: the tar reads headers 512 bytes at a time.
            let mut reader = std::io::BufReader::with_capacity(INFLATE_BLOCK, inflate);
            let summary = walk_tar(&mut reader, what, stream_over, hash, &mut visit)?;
            // The tar ends at its end blocks; the gzip member may still hold padding.
            std::io::copy(&mut reader, &mut std::io::sink())
                .map_err(|e| stream_error(what, "", &e))?;
            let mut rest = reader.into_inner().into_inner().into_inner();
            if !rest
                .fill_buf()
                .map_err(|e| stream_error(what, "", &e))?
                .is_empty()
            {
                return Err(bad("trailing bytes after the data stream".into()));
            }
            summary
        };
        self.check_datahash(hasher.finalize().into(), what)?;
        Ok(summary)
    }

    /// Inflates the data stream in one call when `.PKGINFO` has a datahash (checked
    /// here, over the whole rest of the file) and the gzip trailer announces a size
    /// within reason; `None` when the stream has to be read the careful way.
    fn inflate_whole(&self, stream: &[u8], what: &str) -> Result<Option<Vec<u8>>> {
        let limit = self.data_limit();
        if !matches!(self.pkginfo.datahash(), Some(Ok(_))) || stream.len() < 18 {
            return Ok(None);
        }
        let trailer = &stream[stream.len() - 4..];
        let size = u64::from(u32::from_le_bytes([
            trailer[0], trailer[1], trailer[2], trailer[3],
        ]));
        if size > limit.min(INFLATE_WHOLE_UP_TO) {
            return Ok(None);
        }
        self.check_datahash(Sha256::digest(stream).into(), what)?;
        // The thread's buffer of the last package inflated whole, reused.
        let mut out = WHOLE.with(|w| std::mem::take(&mut *w.borrow_mut()));
        out.clear();
        out.resize(size as usize, 0);
        let mut inflater = libdeflater::Decompressor::new();
        match inflater.gzip_decompress(stream, &mut out) {
            Ok(n) if n == out.len() => Ok(Some(out)),
            // Several members, or a trailer that lies: the streaming reader decides.
            _ => Ok(None),
        }
    }

    /// Whether `.PKGINFO` has a datahash and the data stream of `bytes` (this package's
    /// file) matches it.
    pub fn data_matches_datahash(&self, bytes: &[u8]) -> bool {
        let got: [u8; 32] = Sha256::digest(bytes.get(self.data_start..).unwrap_or_default()).into();
        matches!(self.pkginfo.datahash(), Some(Ok(want)) if want == got)
    }

    /// Compares the SHA-256 of the compressed data stream with `.PKGINFO`'s datahash.
    fn check_datahash(&self, got: [u8; 32], what: &str) -> Result<()> {
        match self.pkginfo.datahash() {
            None => Ok(()),
            Some(Err(m)) => Err(Error::format(what, m)),
            Some(Ok(want)) => {
                if got == want {
                    Ok(())
                } else {
                    Err(Error::format(
                        what,
                        "BAD datahash: the data stream does not match .PKGINFO",
                    ))
                }
            }
        }
    }

    /// Full verification as `apk verify` does it; `keys = None` skips the signature
    /// (`--allow-untrusted`).
    pub fn verify(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Package> {
        let pkg = Package::parse(bytes, what)?;
        if let Some(keys) = keys {
            pkg.verify_signature(bytes, keys, what)?;
        }
        pkg.walk_data(bytes, what, |_, _| Ok(()))?;
        Ok(pkg)
    }
}

/// Whether a data walk hashes each file to check it against the SHA-1 its entry
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDigests {
    /// Every file is hashed and checked (`apk verify`, and anything without a
    /// signed datahash).
    Check,
    /// When `.PKGINFO`'s datahash covers the data stream (checked by the walk), files
    /// are not hashed one by one: the stream is what was signed, and the digests are
    /// recorded as the entries carry them. apk-tools installs a v2 package so (it
    /// hashes no file of it). Without a datahash every file is checked.
    CoveredByDatahash,
}

/// A file's contents as [`Package::walk_data_streaming`] hands them over.
pub enum Content<'a> {
    Bytes(&'a [u8]),
    /// Read while the stream inflates, and checked once read.
    Stream(&'a mut dyn Read),
}

/// A reader that counts (and, given a hasher, hashes) what passes through it.
struct Sha1Reader<R> {
    inner: R,
    hasher: Option<Sha1>,
    read: u64,
}

impl<R: Read> Read for Sha1Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// Walks the entries of a data tar; see [`Package::walk_data_streaming`].
/// With `hash_files` false (a datahash covers the stream), files are not hashed.
/// One copy of the code serves every reader and visitor (it was instantiated three
/// times, 13 KB each): the calls through them are per entry or per block.
fn walk_tar(
    reader: &mut dyn Read,
    what: &str,
    stream_over: u64,
    hash_files: bool,
    visit: &mut dyn FnMut(&EntryHeader, Content<'_>) -> Result<()>,
) -> Result<DataSummary> {
    let bad = |m: String| Error::format(what, m);
    let mut summary = DataSummary::default();
    let mut symlinks: HashSet<String> = HashSet::new();
    let mut files: HashSet<String> = HashSet::new();
    let mut tar = tar::Archive::new(archive::Forward::new(reader));
    let entries = tar
        .entries_with_seek()
        .map_err(|e| bad(format!("bad data stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("bad data stream: {e}")))?;
        let mut header = archive::entry_header(&mut entry, what)?;
        // apk-tools skips data entries whose names begin with '.' (the control files'
        // namespace): Alpine's metapackages carry a `.dummy` that nothing installs.
        // A `..` is refused before that: such a package is hostile, not odd.
        let path = safe_path(&header.path).map_err(|e| bad(e.to_string()))?;
        if header.path.starts_with('.') {
            continue;
        }
        if path.is_empty() {
            continue;
        }
        if ancestors(&path).any(|a| symlinks.contains(a)) {
            return Err(bad(format!("'{path}' lies under a symlink of the package")));
        }
        header.path = path.clone();
        let digest = header
            .apk_checksum
            .as_deref()
            .and_then(checksum::decode_hex)
            .filter(|d| d.len() == 20);
        if let (EntryKind::File, Some(want)) = (header.kind, &digest) {
            if header.size > stream_over {
                files.insert(path.clone());
                summary.files += 1;
                summary.bytes += header.size;
                summary.entries += 1;
                let mut checked = Sha1Reader {
                    inner: &mut entry,
                    hasher: hash_files.then(Sha1::new),
                    read: 0,
                };
                visit(&header, Content::Stream(&mut checked))?;
                std::io::copy(&mut checked, &mut std::io::sink())
                    .map_err(|e| stream_error(what, &format!("entry '{path}': "), &e))?;
                if checked.read != header.size {
                    return Err(bad(format!("entry '{path}' is truncated")));
                }
                if checked
                    .hasher
                    .is_some_and(|h| h.finalize().as_slice() != want.as_slice())
                {
                    return Err(bad(format!("BAD checksum for '{path}'")));
                }
                continue;
            }
        }
        let mut data = Vec::new();
        match header.kind {
            EntryKind::File => {
                data.reserve(header.size.min(1 << 26) as usize);
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| stream_error(what, &format!("entry '{path}': "), &e))?;
                if data.len() as u64 != header.size {
                    return Err(bad(format!("entry '{path}' is truncated")));
                }
                if hash_files {
                    check_entry_checksum(&header, &data).map_err(&bad)?;
                }
                files.insert(path.clone());
                summary.files += 1;
                summary.bytes += header.size;
            }
            EntryKind::Symlink => {
                let target = header.link.clone().unwrap_or_default();
                check_entry_checksum(&header, target.as_bytes()).map_err(&bad)?;
                symlinks.insert(path.clone());
            }
            EntryKind::HardLink => {
                let target = safe_path(header.link.as_deref().unwrap_or(""))
                    .map_err(|m| bad(format!("hard link '{path}': {m}")))?;
                if !files.contains(&target) {
                    return Err(bad(format!(
                        "hard link '{path}' points at '{target}', which is not an earlier file of the package"
                    )));
                }
                header.link = Some(target);
            }
            EntryKind::Dir => {}
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                return Err(bad(format!("device node '{path}' refused")));
            }
            EntryKind::Fifo => return Err(bad(format!("fifo '{path}' refused"))),
            EntryKind::Other(t) => {
                return Err(bad(format!(
                    "entry '{path}' has unsupported type '{}'",
                    t as char
                )))
            }
        }
        summary.entries += 1;
        visit(&header, Content::Bytes(&data))?;
    }
    Ok(summary)
}

/// A read of the data stream that failed: its end came too early ("unexpected end
/// of file", as apk-tools says), or what else went wrong, after `prefix`.
fn stream_error(what: &str, prefix: &str, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            Error::truncated(what, format!("{prefix}truncated data stream"))
        }
        _ => Error::format(what, format!("{prefix}{e}")),
    }
}

/// The parent directories of a relative path, nearest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .rev()
        .filter(|(_, c)| *c == '/')
        .map(move |(i, _)| &path[..i])
}

fn check_entry_checksum(h: &EntryHeader, content: &[u8]) -> std::result::Result<(), String> {
    let Some(want) = &h.apk_checksum else {
        return Ok(());
    };
    let got = checksum::encode_hex(&Sha1::digest(content));
    if got.eq_ignore_ascii_case(want) {
        Ok(())
    } else {
        Err(format!("BAD checksum for '{}'", h.path))
    }
}

/// One entry of a package being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Owner and group names recorded in the tar (abuild maps every staged owner to id
    /// 0 under its own name; apk resolves the name in the target root). `None`: `root`
    /// for id 0, empty otherwise.
    pub uname: Option<String>,
    pub gname: Option<String>,
    pub node: DataNode,
}

/// The owner recorded for an entry: ids and (optional) names, as in [`DataEntry`].
/// The default is root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
    pub uname: Option<String>,
    pub gname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataNode {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    /// A hard link to an earlier file entry.
    HardLink(String),
}

/// Writes packages in abuild's layout.
#[derive(Debug, Clone, Default)]
pub struct PackageBuilder {
    /// `.PKGINFO` fields; `datahash` is added, `size` is added when missing.
    pub pkginfo: PkgInfo,
    /// Control-stream scripts by name (`.post-install`, ...).
    pub scripts: Vec<(String, Vec<u8>)>,
    /// Data entries in archive order (parents before children).
    pub entries: Vec<DataEntry>,
    /// The mtime of every entry (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
}

impl PackageBuilder {
    /// Adds every entry under `root` (sorted, parents first), as owned by root, with the
    /// modes found on disk. Files sharing an inode become hard links to the first one.
    pub fn add_tree(&mut self, root: &Path) -> Result<()> {
        self.add_tree_owned(root, &mut |_, _| Owner::default())
    }

    /// As [`add_tree`](Self::add_tree), with each entry's owner given by `owner` from
    /// its path (relative to `root`) and what `lstat` says of it.
    pub fn add_tree_owned(
        &mut self,
        root: &Path,
        owner: &mut dyn FnMut(&str, &std::fs::Metadata) -> Owner,
    ) -> Result<()> {
        let mut seen_inodes: HashMap<(u64, u64), String> = HashMap::new();
        self.add_dir_entries(root, root, &mut seen_inodes, owner)
    }

    fn add_dir_entries(
        &mut self,
        root: &Path,
        dir: &Path,
        inodes: &mut HashMap<(u64, u64), String>,
        owner: &mut dyn FnMut(&str, &std::fs::Metadata) -> Owner,
    ) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
            .collect::<Result<_>>()?;
        names.sort();
        for path in names {
            let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            let rel = path
                .strip_prefix(root)
                .ok()
                .and_then(|p| p.to_str())
                .ok_or_else(|| Error::format(path.display().to_string(), "path is not UTF-8"))?
                .to_owned();
            let mode = meta.permissions().mode() & 0o7777;
            let node = if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&path).map_err(|e| Error::io(&path, e))?;
                DataNode::Symlink(t.to_string_lossy().into_owned())
            } else if meta.is_dir() {
                DataNode::Dir
            } else if meta.is_file() {
                let key = (meta.dev(), meta.ino());
                match inodes.get(&key) {
                    Some(first) if meta.nlink() > 1 => DataNode::HardLink(first.clone()),
                    _ => {
                        inodes.insert(key, rel.clone());
                        DataNode::File(std::fs::read(&path).map_err(|e| Error::io(&path, e))?)
                    }
                }
            } else {
                return Err(Error::format(
                    path.display().to_string(),
                    "unsupported file type",
                ));
            };
            let is_dir = node == DataNode::Dir;
            let who = owner(&rel, &meta);
            self.entries.push(DataEntry {
                path: rel,
                mode,
                uid: who.uid,
                gid: who.gid,
                uname: who.uname,
                gname: who.gname,
                node,
            });
            if is_dir {
                self.add_dir_entries(root, &path, inodes, owner)?;
            }
        }
        Ok(())
    }

    /// Sum of entry sizes rounded up to 4 KiB blocks, as abuild's `du` measures it.
    pub fn installed_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match &e.node {
                DataNode::File(d) => (d.len() as u64).div_ceil(4096) * 4096,
                DataNode::Dir => 4096,
                _ => 0,
            })
            .sum()
    }

    /// The data tar [`PackageBuilder::build`] compresses (uncompressed).
    pub fn data_tar(&self) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::format("package data", e.to_string());
        let mut w = TarWriter::package_data();
        for e in &self.entries {
            let (kind, data, link): (EntryKind, &[u8], &str) = match &e.node {
                DataNode::Dir => (EntryKind::Dir, b"", ""),
                DataNode::File(d) => (EntryKind::File, d, ""),
                DataNode::Symlink(t) => (EntryKind::Symlink, b"", t),
                DataNode::HardLink(t) => (EntryKind::HardLink, b"", t),
            };
            w.append(&TarEntry {
                path: &e.path,
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                uname: e.uname.as_deref(),
                gname: e.gname.as_deref(),
                mtime: self.mtime,
                data,
                link,
            })
            .map_err(io)?;
        }
        w.finish().map_err(io)
    }

    /// Builds the package, signed with `key` (and its public key name) when given.
    pub fn build(&self, key: Option<(&PrivateKey, &str)>) -> Result<Vec<u8>> {
        self.build_with_data_tar(&self.data_tar()?, key)
    }

    /// As [`PackageBuilder::build`], with `data_tar` (uncompressed) as the data stream
    /// instead of the entries' (for tests that need a data stream of their own).
    pub fn build_with_data_tar(
        &self,
        data_tar: &[u8],
        key: Option<(&PrivateKey, &str)>,
    ) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::format("package control", e.to_string());
        let data_gz = archive::gzip(data_tar);
        let mut pkginfo = self.pkginfo.clone();
        if pkginfo.get("size").is_none() {
            pkginfo.push("size", self.installed_size().to_string());
        }
        let hash = checksum::encode_hex(&Sha256::digest(&data_gz));
        pkginfo.fields.retain(|(k, _)| k != "datahash");
        pkginfo.push("datahash", hash);
        let mut w = TarWriter::package_control();
        w.file(".PKGINFO", 0o644, self.mtime, pkginfo.write().as_bytes())
            .map_err(io)?;
        for (name, body) in &self.scripts {
            w.file(name, 0o755, self.mtime, body).map_err(io)?;
        }
        let control_gz = archive::gzip(&w.finish_cut().map_err(io)?);
        let mut out = match key {
            Some((key, name)) => signature_member(key, name, &control_gz, self.mtime)?,
            None => Vec::new(),
        };
        out.extend_from_slice(&control_gz);
        out.extend_from_slice(&data_gz);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert_eq!(safe_path("usr/bin/").unwrap(), "usr/bin");
        assert_eq!(safe_path("./etc//motd").unwrap(), "etc/motd");
        assert_eq!(safe_path("./").unwrap(), "");
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/.."] {
            assert!(safe_path(bad).is_err(), "{bad}");
        }
    }

    fn package_with(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        package_with_key(files, None)
    }

    fn package_with_key(files: &[(&str, Vec<u8>)], key: Option<(&PrivateKey, &str)>) -> Vec<u8> {
        builder_with(files).build(key).expect("builds")
    }

    /// A builder for package `big` holding `files` (mode 0644, root's).
    fn builder_with(files: &[(&str, Vec<u8>)]) -> PackageBuilder {
        let mut b = PackageBuilder {
            mtime: 1_700_000_000,
            ..Default::default()
        };
        for (k, v) in [("pkgname", "big"), ("pkgver", "1.0-r0"), ("arch", "noarch")] {
            b.pkginfo.push(k, v);
        }
        for (path, data) in files {
            b.entries.push(DataEntry {
                path: (*path).into(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                uname: None,
                gname: None,
                node: DataNode::File(data.clone()),
            });
        }
        b
    }

    /// A package whose data tar records a wrong SHA-1 for each file (the datahash,
    /// computed over that tar, is right), and the wrong digests; `datahash: false`
    /// leaves `.PKGINFO` without one.
    fn package_with_wrong_file_digests(datahash: bool, big: u32) -> (Vec<u8>, Vec<String>) {
        let big: Vec<u8> = (0..big).map(|i| (i * 7 % 251) as u8).collect();
        let files = [("big", big), ("small", b"small file".to_vec())];
        let b = builder_with(&files);
        let mut tar = b.data_tar().expect("tar");
        let mut wrong = Vec::new();
        for (_, data) in &files {
            let right = checksum::encode_hex(&Sha1::digest(data));
            let bad = checksum::encode_hex(&Sha1::digest(b"something else"));
            let at = tar
                .windows(40)
                .position(|w| w == right.as_bytes())
                .expect("digest in the tar");
            tar[at..at + 40].copy_from_slice(bad.as_bytes());
            wrong.push(bad);
        }
        let mut bytes = b.build_with_data_tar(&tar, None).expect("builds");
        if !datahash {
            // Without a datahash (as packages before abuild wrote one), built by hand.
            let pkg = Package::parse(&bytes, "p.apk").expect("parses");
            let data = bytes[pkg.data_start..].to_vec();
            let mut info = b.pkginfo.clone();
            info.push("size", (files[0].1.len() + 10).to_string());
            let mut w = TarWriter::package_control();
            w.file(".PKGINFO", 0o644, b.mtime, info.write().as_bytes())
                .expect("control");
            bytes = archive::gzip(&w.finish_cut().expect("control"));
            bytes.extend_from_slice(&data);
        }
        (bytes, wrong)
    }

    #[test]
    fn file_digests_are_checked_unless_a_datahash_covers_the_stream() {
        let walk = |bytes: &[u8], digests: FileDigests| {
            let pkg = Package::parse(bytes, "p.apk").expect("parses");
            let mut seen = Vec::new();
            pkg.walk_data_streaming(bytes, "p.apk", 256 << 10, digests, |h, content| {
                if let Content::Stream(r) = content {
                    std::io::copy(r, &mut std::io::sink()).expect("reads");
                }
                seen.push(h.apk_checksum.clone().unwrap_or_default());
                Ok(())
            })
            .map(|_| seen)
        };
        // A stream read as it inflates (a file streamed to the visitor), and one
        // inflated whole.
        for size in [3_000_000, 100_000] {
            let (covered, wrong) = package_with_wrong_file_digests(true, size);
            // Installing: the signed stream is what counts; the digests are as carried.
            assert_eq!(
                walk(&covered, FileDigests::CoveredByDatahash).unwrap(),
                wrong
            );
            // Verifying: each file is hashed.
            let err = walk(&covered, FileDigests::Check).unwrap_err().to_string();
            assert!(err.contains("BAD checksum for 'big'"), "{err}");
            // Without a datahash nothing else covers the files: checked either way.
            let (bare, _) = package_with_wrong_file_digests(false, size);
            assert!(Package::parse(&bare, "p.apk")
                .unwrap()
                .pkginfo
                .datahash()
                .is_none());
            for digests in [FileDigests::CoveredByDatahash, FileDigests::Check] {
                let err = walk(&bare, digests).unwrap_err().to_string();
                assert!(err.contains("BAD checksum for 'big'"), "{err}");
            }
        }
    }

    #[test]
    fn big_files_stream_with_their_contents_checked() {
        // Past the whole-stream limit (1 MiB installed), so the stream is read as it
        // inflates; one file over the streaming size, one under.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let small = b"small file".to_vec();
        let bytes = package_with(&[("big", big.clone()), ("small", small.clone())]);
        let pkg = Package::parse(&bytes, "big.apk").expect("parses");
        let mut seen = Vec::new();
        let summary = pkg
            .walk_data_streaming(
                &bytes,
                "big.apk",
                256 << 10,
                FileDigests::Check,
                |h, content| {
                    let (streamed, data) = match content {
                        Content::Bytes(b) => (false, b.to_vec()),
                        Content::Stream(r) => {
                            let mut d = Vec::new();
                            r.read_to_end(&mut d).expect("reads");
                            (true, d)
                        }
                    };
                    seen.push((h.path.clone(), streamed, data));
                    Ok(())
                },
            )
            .expect("walks");
        assert_eq!(summary.files, 2);
        assert_eq!(summary.bytes, big.len() as u64 + small.len() as u64);
        assert_eq!(
            seen,
            vec![
                ("big".to_owned(), true, big.clone()),
                ("small".to_owned(), false, small)
            ]
        );
        // A visitor that reads nothing still has the file checked (and the rest read).
        pkg.walk_data_streaming(&bytes, "big.apk", 256 << 10, FileDigests::Check, |_, _| {
            Ok(())
        })
        .expect("walks");
    }

    /// Reads a package the way an install streams it from its file: through a tiny
    /// buffer (so that members end mid-buffer), head first, then the data.
    type Streamed = (Package, Vec<u8>, Vec<(String, Vec<u8>)>);

    fn read_streaming(bytes: &[u8]) -> Result<Streamed> {
        let mut r = std::io::BufReader::with_capacity(7, bytes);
        let (pkg, control) = Package::read_head(&mut r, bytes.len() as u64, "s.apk")?;
        let mut seen = Vec::new();
        pkg.walk_data_from(r, "s.apk", 64 << 10, FileDigests::Check, |h, content| {
            let data = match content {
                Content::Bytes(b) => b.to_vec(),
                Content::Stream(r) => {
                    let mut d = Vec::new();
                    r.read_to_end(&mut d).expect("reads");
                    d
                }
            };
            seen.push((h.path.clone(), data));
            Ok(())
        })?;
        Ok((pkg, control, seen))
    }

    #[test]
    fn a_package_read_as_a_stream_is_the_package_read_whole() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files = [("big", big), ("small", b"small file".to_vec())];
        let key = PrivateKey::generate_rsa(1024).expect("key");
        let signed = package_with_key(&files, Some((&key, "k.rsa.pub")));
        for bytes in [package_with(&files), signed] {
            let whole = Package::parse(&bytes, "s.apk").expect("parses");
            let (pkg, control, seen) = read_streaming(&bytes).expect("streams");
            assert_eq!(pkg.info, whole.info);
            assert_eq!(
                (pkg.control.clone(), pkg.data_start),
                (whole.control.clone(), whole.data_start)
            );
            assert_eq!(control, bytes[whole.control.clone()].to_vec());
            assert_eq!(pkg.signatures.len(), whole.signatures.len());
            let expected: Vec<(String, Vec<u8>)> = files
                .iter()
                .map(|(n, d)| (n.to_string(), d.clone()))
                .collect();
            assert_eq!(seen, expected);
        }
        let mut keys = Keyring::default();
        keys.insert("k.rsa.pub".into(), key.public_key());
        let signed = package_with_key(&files, Some((&key, "k.rsa.pub")));
        let (pkg, control, _) = read_streaming(&signed).expect("streams");
        pkg.verify_control_signature(&control, &keys, "s.apk")
            .expect("the streamed control member carries the signature");
    }

    #[test]
    fn a_streamed_package_with_a_changed_data_stream_fails_at_its_end() {
        let files = [(
            "f",
            (0..100_000u32).map(|i| (i % 13) as u8).collect::<Vec<u8>>(),
        )];
        let bytes = package_with(&files);
        let whole = Package::parse(&bytes, "s.apk").expect("parses");
        // Flip a bit of the gzip trailer's CRC: the contents inflate fine, but neither
        // the gzip check nor the datahash lets the package through.
        let mut bad = bytes.clone();
        let at = bad.len() - 6;
        bad[at] ^= 1;
        assert!(read_streaming(&bad).is_err());
        // Bytes after the data stream are refused as the whole-file reader refuses them.
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"junk");
        let e = read_streaming(&trailing).expect_err("trailing bytes");
        assert!(e.reason().contains("trailing bytes"), "{}", e.reason());
        assert!(whole.walk_data(&trailing, "s.apk", |_, _| Ok(())).is_err());
    }

    #[test]
    fn ancestors_nearest_first() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a/b", "a"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
