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
    let first = archive::inflate_inner_member(bytes, 0, archive::CONTROL_LIMIT, what)?;
    // The first entry's name tells (after any pax header: abuild-sign writes one).
    let entries = archive::read_small_tar(&first.data, what)?;
    let is_sig = entries
        .first()
        .is_some_and(|e| e.header.path.starts_with(".SIGN."));
    if !is_sig {
        return Ok((Vec::new(), 0));
    }
    let sigs = parse_signatures(&entries)
        .ok_or_else(|| Error::format(what, "malformed signature entry"))?;
    Ok((sigs, first.compressed.end))
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
