//! The ADB file container: the optional whole-file compression, the `ADB.` header with
//! its schema, and the blocks, checked as apk-tools checks them (every block inside the
//! file, the ADB block first, signatures only before data).

use std::borrow::Cow;
use std::io::Read;

use crate::error::{Error, Result};
use crate::v2::archive::Bounded;

/// The most an ADB file may unpack to (a whole repository index of a large
/// distribution is a few tens of MiB).
pub const UNPACK_LIMIT: u64 = 1 << 31;

const BLOCK_ALIGNMENT: usize = 8;

/// What a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// The tree of values.
    Adb,
    /// A signature over the ADB block.
    Sig,
    /// A file's contents (packages).
    Data,
}

/// One block, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    pub kind: BlockKind,
    pub payload: &'a [u8],
}

/// A parsed ADB file.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub schema: u32,
    pub blocks: Vec<Block<'a>>,
}

/// How the file was compressed, as `apk adbdump` and `mkpkg --compression` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Deflate,
    Zstd,
}

/// The file with its whole-file compression undone (`ADBd`, `ADBc`), or as it is.
pub fn decompress<'a>(bytes: &'a [u8], what: &str) -> Result<(Cow<'a, [u8]>, Compression)> {
    let bad = |m: &str| Error::format(what, m);
    match bytes.get(..4) {
        Some(b"ADB.") => Ok((Cow::Borrowed(bytes), Compression::None)),
        Some(b"ADBd") => Ok((
            Cow::Owned(inflate(&bytes[4..], what)?),
            Compression::Deflate,
        )),
        Some(b"ADBc") => {
            let (alg, rest) = match bytes.get(4..6) {
                Some(spec) => (spec[0], &bytes[6..]),
                None => return Err(bad("truncated compression header")),
            };
            match alg {
                0 => Ok((Cow::Owned(rest.to_vec()), Compression::None)),
                1 => Ok((Cow::Owned(inflate(rest, what)?), Compression::Deflate)),
                2 => Ok((Cow::Owned(unzstd(rest, what)?), Compression::Zstd)),
                n => Err(bad(&format!("unknown compression algorithm {n}"))),
            }
        }
        _ => Err(bad("not an ADB file (no ADB header)")),
    }
}

fn inflate(raw: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = Bounded::new(flate2::read::DeflateDecoder::new(raw), UNPACK_LIMIT);
    reader
        .read_to_end(&mut out)
        .map_err(|e| Error::read_failed(what, "compressed ADB: ", &e))?;
    Ok(out)
}

fn unzstd(raw: &[u8], what: &str) -> Result<Vec<u8>> {
    let bad = |e: std::io::Error| Error::read_failed(what, "compressed ADB: ", &e);
    let mut out = Vec::new();
    let dec = zstd::stream::read::Decoder::with_buffer(raw).map_err(bad)?;
    Bounded::new(dec, UNPACK_LIMIT)
        .read_to_end(&mut out)
        .map_err(bad)?;
    Ok(out)
}

/// How to compress a written ADB file (`--compression ALG[:LEVEL]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressionSpec {
    /// `None` (the default): deflate in apk-tools' short `ADBd` form.
    pub alg: Option<Compression>,
    pub level: u8,
}

impl CompressionSpec {
    /// `none`, `deflate[:0-9]`, `zstd[:0-22]`, as apk-tools reads the option.
    pub fn parse(s: &str) -> Option<Self> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let (alg, max) = match name {
            "none" => (Compression::None, 0),
            "deflate" => (Compression::Deflate, 9),
            "zstd" => (Compression::Zstd, 22),
            _ => return None,
        };
        let level = match level {
            Some(l) if max > 0 => {
                let n: u8 = l.parse().ok()?;
                (n <= max).then_some(n)?
            }
            Some(_) => return None,
            None => 0,
        };
        Some(CompressionSpec {
            alg: Some(alg),
            level: if alg == Compression::None { 1 } else { level },
        })
    }
}

/// Compresses an ADB file as apk-tools writes it: deflate (`ADBd`) by default,
/// else `ADBc` with the algorithm and level, or the file as it is for `none`.
pub fn compress(file: &[u8], spec: CompressionSpec) -> Vec<u8> {
    use std::io::Write;
    match spec.alg {
        None => compress_deflate(file),
        Some(Compression::None) => file.to_vec(),
        Some(Compression::Deflate) if spec.level == 0 => compress_deflate(file),
        Some(Compression::Deflate) => {
            let mut out = b"ADBc\x01".to_vec();
            out.push(spec.level);
            let level = flate2::Compression::new(u32::from(spec.level));
            let mut enc = flate2::write::DeflateEncoder::new(out, level);
            // Writing into memory cannot fail.
            let _ = enc.write_all(file);
            enc.finish().unwrap_or_default()
        }
        Some(Compression::Zstd) => {
            let mut out = b"ADBc\x02".to_vec();
            out.push(spec.level);
            // Level 0 is zstd's default; compressing into memory cannot fail.
            let z = zstd::bulk::compress(file, i32::from(spec.level)).unwrap_or_default();
            out.extend_from_slice(&z);
            out
        }
    }
}

impl<'a> Container<'a> {
    /// Splits an uncompressed ADB file (see [`decompress`]) into its blocks.
    pub fn parse(bytes: &'a [u8], what: &str) -> Result<Container<'a>> {
        let bad = |m: String| Error::format(what, m);
        if bytes.get(..4) != Some(b"ADB.") {
            return Err(bad("not an ADB file (no ADB header)".into()));
        }
        let schema = match bytes.get(4..8) {
            Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            None => return Err(bad("truncated ADB header".into())),
        };
        let blocks = parse_blocks(&bytes[8..]).map_err(bad)?;
        Ok(Container { schema, blocks })
    }

    /// The ADB block (the tree), always the first.
    pub fn adb(&self) -> &'a [u8] {
        self.blocks.first().map_or(&[], |b| b.payload)
    }

    pub fn signatures(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Sig)
            .map(|b| b.payload)
    }

    pub fn data(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Data)
            .map(|b| b.payload)
    }
}

/// The blocks of `data` (the file after its header), in the order apk-tools allows:
/// the ADB block, signatures, then data blocks.
pub fn parse_blocks(data: &[u8]) -> std::result::Result<Vec<Block<'_>>, String> {
    let mut blocks = Vec::new();
    let mut pos = 0usize;
    let mut seen_data = false;
    while pos < data.len() {
        let rest = &data[pos..];
        let word = rest
            .get(..4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .ok_or("truncated block header")?;
        let (kind, header, raw) = if word >> 30 == 3 {
            let x = rest.get(8..16).ok_or("truncated extended block header")?;
            let raw = u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
            (word & 0x3fff_ffff, 16usize, raw)
        } else {
            (word >> 30, 4usize, u64::from(word & 0x3fff_ffff))
        };
        let raw = usize::try_from(raw).map_err(|_| "block too large")?;
        if raw < header {
            return Err("block shorter than its header".into());
        }
        let size = raw
            .checked_next_multiple_of(BLOCK_ALIGNMENT)
            .ok_or("block too large")?;
        if size > rest.len() {
            return Err("block runs past the end of the file".into());
        }
        let kind = match (kind, blocks.is_empty(), seen_data) {
            (0, true, _) => BlockKind::Adb,
            (1, false, false) => BlockKind::Sig,
            (2, false, _) => {
                seen_data = true;
                BlockKind::Data
            }
            _ => return Err(format!("unexpected block of type {kind}")),
        };
        blocks.push(Block {
            kind,
            payload: &rest[header..raw],
        });
        pos += size;
    }
    match blocks.first() {
        Some(b) if b.payload.len() >= 8 => {
            if b.payload[0] != 0 {
                return Err(format!("unsupported ADB version {}", b.payload[0]));
            }
            Ok(blocks)
        }
        Some(_) => Err("ADB block too short".into()),
        None => Err("no ADB block".into()),
    }
}

/// A block as apk-tools writes it: its header, the payload, zeros to 8 bytes.
pub fn block(kind: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 24);
    let len = payload.len() as u64;
    let raw = if len <= 0x3fff_ffff - 4 {
        out.extend_from_slice(&((kind << 30) + 4 + len as u32).to_le_bytes());
        4 + payload.len()
    } else {
        out.extend_from_slice(&((3u32 << 30) + kind).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(16 + len).to_le_bytes());
        16 + payload.len()
    };
    out.extend_from_slice(payload);
    out.resize(out.len() + raw.next_multiple_of(BLOCK_ALIGNMENT) - raw, 0);
    out
}

/// A whole file: header, the ADB block, the signature blocks.
pub fn write(schema: u32, adb: &[u8], signatures: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"ADB.".to_vec();
    out.extend_from_slice(&schema.to_le_bytes());
    out.extend(block(0, adb));
    for s in signatures {
        out.extend(block(1, s));
    }
    out
}

/// `ADBd` compression (raw deflate), apk-tools' default for what it writes.
pub fn compress_deflate(file: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(b"ADBd".to_vec(), flate2::Compression::best());
    // Writing into memory cannot fail.
    let _ = enc.write_all(file);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, payload: &[u8]) -> Vec<u8> {
        let raw = 4 + payload.len() as u32;
        let mut out = ((kind << 30) | raw).to_le_bytes().to_vec();
        out.extend_from_slice(payload);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        out
    }

    #[test]
    fn blocks_come_in_apk_order() {
        let adb = [0u8, 0, 0, 0, 0, 0, 0, 0];
        let mut file = b"ADB.pckg".to_vec();
        file.extend(block(0, &adb));
        file.extend(block(1, b"sig"));
        file.extend(block(2, b"data"));
        let c = Container::parse(&file, "t").unwrap();
        assert_eq!(c.schema, crate::adb::SCHEMA_PACKAGE);
        let kinds: Vec<_> = c.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BlockKind::Adb, BlockKind::Sig, BlockKind::Data]);
        assert_eq!(c.data().next(), Some(&b"data"[..]));

        // A signature after data, a second ADB block, a truncated block: refused.
        for bad in [
            [block(0, &adb), block(2, b"d"), block(1, b"s")].concat(),
            [block(0, &adb), block(0, &adb)].concat(),
            block(0, &adb)[..6].to_vec(),
        ] {
            let mut f = b"ADB.pckg".to_vec();
            f.extend(bad);
            assert!(Container::parse(&f, "t").is_err());
        }
    }
}
