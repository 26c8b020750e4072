//! The signed container of v2 packages and indexes: a leading gzip member whose tar
//! holds only `.SIGN.<ALGO>.<key name>` entries, signing the gzip member after it
//! (apk-package(5), abuild-sign).

use super::archive::{self, SmallEntry, TarWriter};
use crate::error::{Error, Result};
use crate::sign::{Algorithm, PrivateKey, Signature};

/// Reads the signature entries of a member whose tar holds only `.SIGN.*` entries.
pub(crate) fn parse_signatures(entries: &[SmallEntry]) -> Option<Vec<Signature>> {
    if entries.is_empty() {
        return None;
    }
    entries
        .iter()
        .map(|e| {
            let (algorithm, key) = Algorithm::from_entry_name(&e.header.path)?;
            Some(Signature {
                algorithm,
                key_name: key.to_owned(),
                bytes: e.data.clone(),
            })
        })
        .collect()
}

/// Splits off a leading signature member: returns the signatures and where the signed
/// member starts. An unsigned file yields no signatures and starts at 0.
pub fn read_signature_member(bytes: &[u8], what: &str) -> Result<(Vec<Signature>, usize)> {
    if bytes.get(..2) != Some(&[0x1f, 0x8b]) {
        return Err(Error::format(
            what,
            "not a package or index (no gzip stream)",
        ));
    }
    // A signature member is a few hundred bytes of tar. A first member that inflates
    // to more is the signed content itself (an unsigned index or package), unless it
    // begins with a signature entry all the same: it is not inflated whole here only to
    // be inflated again by the caller (the double work was half of opening a big
    // unsigned index).
    let mut data = Vec::new();
    let mut end = 0;
    let mut rest = bytes;
    let peeked = archive::read_member_into(
        &mut rest,
        SIGNATURE_PEEK,
        what,
        |b| end += b.len(),
        &mut data,
    );
    if let Err(e) = peeked {
        if data.len() as u64 <= SIGNATURE_PEEK {
            return Err(e);
        }
        if !may_begin_with_signature(&data) {
            return Ok((Vec::new(), 0));
        }
        let first = archive::inflate_inner_member(bytes, 0, archive::CONTROL_LIMIT, what)?;
        (data, end) = (first.data, first.compressed.end);
    }
    // The first entry's name tells (after any pax header: abuild-sign writes one).
    let entries = archive::read_small_tar(&data, what)?;
    let is_sig = entries
        .first()
        .is_some_and(|e| e.header.path.starts_with(".SIGN."));
    if !is_sig {
        return Ok((Vec::new(), 0));
    }
    let sigs = parse_signatures(&entries)
        .ok_or_else(|| Error::format(what, "malformed signature entry"))?;
    Ok((sigs, end))
}

/// How much of a file's first member is inflated to tell whether it is a signature.
const SIGNATURE_PEEK: u64 = 64 << 10;

/// Whether the first entry of the tar that `prefix` begins (after any pax header) may
/// be a signature: yes when it cannot be read from the prefix.
fn may_begin_with_signature(prefix: &[u8]) -> bool {
    let mut archive = tar::Archive::new(std::io::Cursor::new(prefix));
    let first = archive.entries_with_seek().ok().and_then(|mut e| e.next());
    match first {
        Some(Ok(entry)) => entry.path_bytes().starts_with(b".SIGN."),
        _ => true,
    }
}

/// A gzip'ed signature tar (without end blocks) over `signed`.
pub fn signature_member(
    key: &PrivateKey,
    key_name: &str,
    signed: &[u8],
    mtime: u64,
) -> Result<Vec<u8>> {
    signature_member_with(key, key.default_algorithm(), key_name, signed, mtime)
}

/// As [`signature_member`], with the signature algorithm chosen (abuild-sign's `-t
/// RSA|RSA256|RSA512`).
pub fn signature_member_with(
    key: &PrivateKey,
    algo: Algorithm,
    key_name: &str,
    signed: &[u8],
    mtime: u64,
) -> Result<Vec<u8>> {
    let sig = key.sign(algo, signed)?;
    let mut w = TarWriter::signature();
    let name = format!("{}{}", algo.prefix(), key_name);
    w.file(&name, 0o644, mtime, &sig)
        .map_err(|e| Error::format("signature", e.to_string()))?;
    let tar = w
        .finish_cut()
        .map_err(|e| Error::format("signature", e.to_string()))?;
    Ok(archive::gzip(&tar))
}

/// Signs a package or index file in place of its current signatures (as abuild-sign):
/// the new signature covers the first member after any existing signature member.
pub fn resign(bytes: &[u8], key: &PrivateKey, key_name: &str, what: &str) -> Result<Vec<u8>> {
    resign_with(bytes, key, key.default_algorithm(), key_name, what)
}

/// As [`resign`], with the signature algorithm chosen.
pub fn resign_with(
    bytes: &[u8],
    key: &PrivateKey,
    algo: Algorithm,
    key_name: &str,
    what: &str,
) -> Result<Vec<u8>> {
    let (_, signed_start) = read_signature_member(bytes, what)?;
    let signed_end = archive::skip_member(bytes, signed_start, archive::INDEX_LIMIT, what)?;
    let mtime = archive::build_time();
    let signed = &bytes[signed_start..signed_end];
    let mut out = signature_member_with(key, algo, key_name, signed, mtime)?;
    out.extend_from_slice(&bytes[signed_start..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::archive::TarWriter;

    /// A gzip'ed tar of `(name, contents)` entries.
    fn member(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = TarWriter::apk();
        for (name, data) in entries {
            w.file(name, 0o644, 0, data).unwrap();
        }
        archive::gzip(&w.finish().unwrap())
    }

    /// Contents that do not compress: the member inflates to about as much as it is.
    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_big_unsigned_first_member_is_the_signed_content() {
        let big = noise(200 << 10);
        let file = member(&[("APKINDEX", &big)]);
        let (sigs, start) = read_signature_member(&file, "index").unwrap();
        assert!(sigs.is_empty());
        assert_eq!(start, 0);
        // Small, it is the same.
        let file = member(&[("APKINDEX", b"P:x\n")]);
        assert_eq!(read_signature_member(&file, "index").unwrap().1, 0);
    }

    #[test]
    fn a_first_member_beginning_with_a_signature_is_split_off_whatever_its_size() {
        let signed = member(&[("APKINDEX", b"P:x\n")]);
        for padding in [0, 200 << 10] {
            let pad = noise(padding);
            let mut entries: Vec<(&str, &[u8])> = vec![(".SIGN.RSA.k.rsa.pub", b"sig")];
            if padding > 0 {
                entries.push((".SIGN.RSA256.big.rsa.pub", &pad));
            }
            let first = member(&entries);
            let mut file = first.clone();
            file.extend_from_slice(&signed);
            let (sigs, start) = read_signature_member(&file, "index").unwrap();
            assert_eq!(start, first.len(), "padding {padding}");
            assert_eq!(sigs.len(), 1 + usize::from(padding > 0));
            assert_eq!(sigs[0].key_name, "k.rsa.pub");
        }
    }

    #[test]
    fn a_damaged_first_member_is_an_error_whatever_its_size() {
        for n in [100, 200 << 10] {
            let mut file = member(&[("APKINDEX", &noise(n))]);
            let at = file.len() - 5;
            file[at] ^= 0xff;
            // Over the peek, the damage shows when the signed content is read.
            if n < 1000 {
                assert!(read_signature_member(&file, "index").is_err());
            } else {
                let (_, start) = read_signature_member(&file, "index").unwrap();
                assert!(archive::inflate_member(&file, start, 1 << 30, "index").is_err());
            }
        }
    }
}
