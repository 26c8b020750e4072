//! Signatures of ADB files: a signature block holds a version byte (0), the digest
//! algorithm of the ADB block, the signing key's 16-byte id and the signature, made with
//! SHA-512 over the file's schema, those 18 header bytes and the ADB block's digest. A
//! file is trusted when one signature verifies with a key of the keyring.

use sha2::{Digest, Sha256, Sha512};

use super::container::{BlockKind, Container};
use crate::sign::Keyring;

/// Why a signature or file is not trusted, worded as apk-tools words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("UNTRUSTED signature")]
    Untrusted,
    #[error("ADB signature block error")]
    BadBlock,
}

/// apk-tools' digest algorithm ids.
pub const DIGEST_SHA256: u8 = 3;
pub const DIGEST_SHA512: u8 = 4;
pub const DIGEST_SHA256_160: u8 = 5;

/// The digest of the ADB block by apk-tools' algorithm id.
pub fn adb_digest(alg: u8, adb: &[u8]) -> Option<Vec<u8>> {
    match alg {
        DIGEST_SHA256 => Some(Sha256::digest(adb).to_vec()),
        DIGEST_SHA256_160 => Some(Sha256::digest(adb)[..20].to_vec()),
        DIGEST_SHA512 => Some(Sha512::digest(adb).to_vec()),
        _ => None,
    }
}

/// Checks one signature block over `adb` (the ADB block of a file of `schema`).
pub fn verify_signature(
    schema: u32,
    adb: &[u8],
    sig: &[u8],
    keys: &Keyring,
) -> Result<(), TrustError> {
    if sig.len() < 18 || sig[0] != 0 {
        return Err(TrustError::BadBlock);
    }
    let (header, signature) = sig.split_at(18);
    let id = &header[2..18];
    for (_, key) in keys.keys() {
        if key.adb_id().as_ref().map(|k| &k[..]) != Some(id) {
            continue;
        }
        let Some(md) = adb_digest(header[1], adb) else {
            continue;
        };
        let mut msg = Vec::with_capacity(4 + 18 + md.len());
        msg.extend_from_slice(&schema.to_le_bytes());
        msg.extend_from_slice(header);
        msg.extend_from_slice(&md);
        if key.verify_sha512(&msg, signature) {
            return Ok(());
        }
    }
    Err(TrustError::Untrusted)
}

/// Whether some signature of the file verifies with `keys`.
pub fn verify(c: &Container<'_>, keys: &Keyring) -> Result<(), TrustError> {
    let adb = c.adb();
    let mut last = TrustError::Untrusted;
    for b in c.blocks.iter().filter(|b| b.kind == BlockKind::Sig) {
        match verify_signature(c.schema, adb, b.payload, keys) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(match last {
        TrustError::BadBlock => TrustError::BadBlock,
        TrustError::Untrusted => TrustError::Untrusted,
    })
}

/// A signature block over `adb` (of a file of `schema`) by `key`, as apk-tools writes
/// it: SHA-512 of the ADB block, signed with SHA-512 (RSA keys).
pub fn sign(
    schema: u32,
    adb: &[u8],
    key: &crate::sign::PrivateKey,
) -> crate::error::Result<Vec<u8>> {
    let id = key
        .public_key()
        .adb_id()
        .ok_or_else(|| crate::error::Error::signature("signing", "key type not supported"))?;
    let mut header = vec![0u8, DIGEST_SHA512];
    header.extend_from_slice(&id);
    let mut msg = schema.to_le_bytes().to_vec();
    msg.extend_from_slice(&header);
    msg.extend_from_slice(&Sha512::digest(adb));
    let sig = key.sign(crate::sign::Algorithm::RsaSha512, &msg)?;
    header.extend_from_slice(&sig);
    Ok(header)
}
