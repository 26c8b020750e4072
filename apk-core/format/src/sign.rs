//! Signatures of packages and indexes.
//!
//! A signed v2 file starts with a gzip member holding one tar entry per signature, named
//! `.SIGN.<ALGO>.<key name>`, where the key name is the file name of the public key in
//! the keys directory (`/etc/apk/keys`). The signature covers the next gzip member, byte
//! for byte as compressed: the control stream of a package, the index stream of an
//! `APKINDEX.tar.gz`.
//!
//! - `RSA`: RSA PKCS#1 v1.5 over SHA-1 (what abuild writes and every apk verifies),
//! - `RSA256` / `RSA512`: the same over SHA-256 / SHA-512,
//! - `ED25519`: Ed25519 (RFC 8032) over the 32-byte SHA-256 digest of the stream. This
//!   scheme is apk-rs's own; apk-tools does not know it.
//!
//! Keys are PEM: RSA public keys as SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`, as Alpine
//! ships them) or PKCS#1, private keys as PKCS#8 or PKCS#1; Ed25519 keys as PKCS#8 and
//! SubjectPublicKeyInfo.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::{Signer, Verifier};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};

/// The signature schemes, named as in the `.SIGN.<ALGO>.` entry prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RsaSha1,
    RsaSha256,
    RsaSha512,
    Ed25519,
}

impl Algorithm {
    pub fn prefix(self) -> &'static str {
        match self {
            Algorithm::RsaSha1 => ".SIGN.RSA.",
            Algorithm::RsaSha256 => ".SIGN.RSA256.",
            Algorithm::RsaSha512 => ".SIGN.RSA512.",
            Algorithm::Ed25519 => ".SIGN.ED25519.",
        }
    }

    /// Splits a signature entry name into its scheme and key name.
    pub fn from_entry_name(name: &str) -> Option<(Algorithm, &str)> {
        [
            Algorithm::RsaSha1,
            Algorithm::RsaSha256,
            Algorithm::RsaSha512,
            Algorithm::Ed25519,
        ]
        .into_iter()
        .find_map(|a| {
            name.strip_prefix(a.prefix())
                .filter(|k| !k.is_empty())
                .map(|k| (a, k))
        })
    }
}

/// The longest stream whose RSA signature ring checks. ring hashes what it verifies
/// itself, and its SHA-1 is portable code (300 MB/s here, where the `sha1` crate uses
/// the CPU's SHA instructions): past this, the stream is hashed here and the `rsa`
/// crate checks the signature over the digest (its slower arithmetic costs a few
/// hundred microseconds once; a signed index is megabytes).
const RING_HASHES_UP_TO: usize = 256 << 10;

/// The digests a signed stream may be checked against, each computed when first asked
/// for (an index is mostly checked with one scheme only).
#[derive(Debug)]
pub struct StreamDigests<'a> {
    data: &'a [u8],
    sha1: std::cell::OnceCell<[u8; 20]>,
    sha256: std::cell::OnceCell<[u8; 32]>,
    sha512: std::cell::OnceCell<[u8; 64]>,
}

impl<'a> StreamDigests<'a> {
    pub fn of(data: &'a [u8]) -> Self {
        StreamDigests {
            data,
            sha1: Default::default(),
            sha256: Default::default(),
            sha512: Default::default(),
        }
    }

    pub fn sha1(&self) -> &[u8; 20] {
        self.sha1.get_or_init(|| Sha1::digest(self.data).into())
    }

    pub fn sha256(&self) -> &[u8; 32] {
        self.sha256.get_or_init(|| Sha256::digest(self.data).into())
    }

    pub fn sha512(&self) -> &[u8; 64] {
        self.sha512.get_or_init(|| Sha512::digest(self.data).into())
    }
}

/// A PEM text that holds no key this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM RSA, ECDSA P-256 or Ed25519 public key")]
    NotPublicKey,
    #[error("not a PEM RSA or Ed25519 private key")]
    NotPrivateKey,
}

/// An RSA public key, with its modulus and exponent as the big-endian bytes ring
/// checks signatures with (converting them from the `rsa` crate's numbers for every
/// signature was 1% of `apk index`).
#[derive(Debug, Clone)]
pub struct RsaKey {
    key: RsaPublicKey,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl RsaKey {
    fn new(key: RsaPublicKey) -> Box<Self> {
        use rsa::traits::PublicKeyParts as _;
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        Box::new(RsaKey { key, n, e })
    }
}

impl std::ops::Deref for RsaKey {
    type Target = RsaPublicKey;
    fn deref(&self) -> &RsaPublicKey {
        &self.key
    }
}

#[derive(Debug, Clone)]
pub enum PublicKey {
    Rsa(Box<RsaKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA on P-256 (v3 signatures only).
    EcP256(Box<p256::ecdsa::VerifyingKey>),
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> std::result::Result<Self, KeyError> {
        use rsa::pkcs8::DecodePublicKey as _;
        if let Ok(k) = RsaPublicKey::from_public_key_pem(pem) {
            return Ok(PublicKey::Rsa(RsaKey::new(k)));
        }
        if let Ok(k) = RsaPublicKey::from_pkcs1_pem(pem) {
            return Ok(PublicKey::Rsa(RsaKey::new(k)));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(PublicKey::EcP256(Box::new(k)));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey::Ed25519)
            .map_err(|_| KeyError::NotPublicKey)
    }

    pub fn to_pem(&self) -> String {
        use rsa::pkcs8::EncodePublicKey as _;
        let le = rsa::pkcs8::LineEnding::LF;
        match self {
            PublicKey::Rsa(k) => k.to_public_key_pem(le).unwrap_or_default(),
            PublicKey::Ed25519(k) => k.to_public_key_pem(le).unwrap_or_default(),
            PublicKey::EcP256(k) => k.to_public_key_pem(le).unwrap_or_default(),
        }
    }

    /// The key's id in v3 signatures: the first 16 bytes of the SHA-512 of its public
    /// key in DER (PKCS#1 for RSA), as apk-tools names keys in ADB signature blocks.
    pub fn adb_id(&self) -> Option<[u8; 16]> {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let der = match self {
            PublicKey::Rsa(k) => k.to_pkcs1_der().ok()?.into_vec(),
            // The uncompressed point, as OpenSSL encodes an EC public key.
            PublicKey::EcP256(k) => k.to_encoded_point(false).as_bytes().to_vec(),
            PublicKey::Ed25519(_) => return None,
        };
        let digest = Sha512::digest(&der);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Some(id)
    }

    /// Checks a v3 signature: SHA-512 over `msg`, PKCS#1 v1.5 for RSA, DER ECDSA for
    /// P-256 (the digest cut to the curve's size, as OpenSSL does).
    pub fn verify_sha512(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::EcP256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
                let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else {
                    return false;
                };
                k.verify_prehash(&Sha512::digest(msg), &sig).is_ok()
            }
            _ => self.verify(Algorithm::RsaSha512, &StreamDigests::of(msg), sig),
        }
    }

    /// Checks `sig` made with `algo` over a stream with the given digests.
    pub fn verify(&self, algo: Algorithm, digests: &StreamDigests, sig: &[u8]) -> bool {
        match (self, algo) {
            (PublicKey::Rsa(k), _)
                if rsa::traits::PublicKeyParts::size(&k.key) >= 256
                    && digests.data.len() <= RING_HASHES_UP_TO =>
            {
                // ring (2048 bits and more): it hashes the stream itself.
                use ring::signature as rs;
                let params: &rs::RsaParameters = match algo {
                    Algorithm::RsaSha1 => &rs::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    Algorithm::RsaSha256 => &rs::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RsaSha512 => &rs::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::Ed25519 => return false,
                };
                let key = rs::RsaPublicKeyComponents {
                    n: k.n.as_slice(),
                    e: k.e.as_slice(),
                };
                key.verify(params, digests.data, sig).is_ok()
            }
            (PublicKey::Rsa(k), Algorithm::RsaSha1) => k
                .verify(Pkcs1v15Sign::new::<Sha1>(), digests.sha1(), sig)
                .is_ok(),
            (PublicKey::Rsa(k), Algorithm::RsaSha256) => k
                .verify(Pkcs1v15Sign::new::<Sha256>(), digests.sha256(), sig)
                .is_ok(),
            (PublicKey::Rsa(k), Algorithm::RsaSha512) => k
                .verify(Pkcs1v15Sign::new::<Sha512>(), digests.sha512(), sig)
                .is_ok(),
            (PublicKey::Ed25519(k), Algorithm::Ed25519) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                    return false;
                };
                k.verify(digests.sha256(), &sig).is_ok()
            }
            _ => false,
        }
    }
}

pub enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl PrivateKey {
    pub fn from_pem(pem: &str) -> std::result::Result<Self, KeyError> {
        use rsa::pkcs8::DecodePrivateKey as _;
        if let Ok(k) = RsaPrivateKey::from_pkcs8_pem(pem) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        if let Ok(k) = RsaPrivateKey::from_pkcs1_pem(pem) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(|k| PrivateKey::Ed25519(Box::new(k)))
            .map_err(|_| KeyError::NotPrivateKey)
    }

    /// Reads a private key file; its public key is expected to be named `<file>.pub`.
    pub fn load(path: &Path) -> Result<(Self, String)> {
        let pem = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let key =
            PrivateKey::from_pem(&pem).map_err(|m| Error::format(path.display().to_string(), m))?;
        let name = path
            .file_name()
            .map(|n| format!("{}.pub", n.to_string_lossy()))
            .ok_or_else(|| Error::format(path.display().to_string(), "not a key file name"))?;
        Ok((key, name))
    }

    pub fn generate_rsa(bits: usize) -> Result<Self> {
        let mut rng = rand_core::OsRng;
        RsaPrivateKey::new(&mut rng, bits)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| Error::format("RSA key generation", e.to_string()))
    }

    pub fn generate_ed25519() -> Self {
        let mut rng = rand_core::OsRng;
        PrivateKey::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(&mut rng)))
    }

    pub fn to_pem(&self) -> Result<String> {
        use rsa::pkcs8::EncodePrivateKey as _;
        let le = rsa::pkcs8::LineEnding::LF;
        let pem = match self {
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(le).map(|p| p.to_string()),
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(le).map(|p| p.to_string()),
        };
        pem.map_err(|e| Error::format("private key", e.to_string()))
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa(k) => PublicKey::Rsa(RsaKey::new(k.to_public_key())),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The scheme this key signs with by default (RSA: SHA-1, as abuild does, so every
    /// apk-tools release verifies it).
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Rsa(_) => Algorithm::RsaSha1,
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Signs a stream; `algo` must fit the key type.
    pub fn sign(&self, algo: Algorithm, stream: &[u8]) -> Result<Vec<u8>> {
        let d = StreamDigests::of(stream);
        let res = match (self, algo) {
            (PrivateKey::Rsa(k), Algorithm::RsaSha1) => {
                k.sign(Pkcs1v15Sign::new::<Sha1>(), d.sha1())
            }
            (PrivateKey::Rsa(k), Algorithm::RsaSha256) => {
                k.sign(Pkcs1v15Sign::new::<Sha256>(), d.sha256())
            }
            (PrivateKey::Rsa(k), Algorithm::RsaSha512) => {
                k.sign(Pkcs1v15Sign::new::<Sha512>(), d.sha512())
            }
            (PrivateKey::Ed25519(k), Algorithm::Ed25519) => {
                return Ok(k.sign(d.sha256()).to_bytes().to_vec())
            }
            _ => {
                return Err(Error::signature(
                    "signing",
                    format!("{algo:?} does not fit this key"),
                ))
            }
        };
        res.map_err(|e| Error::signature("signing", e.to_string()))
    }
}

/// Trusted public keys by name (the file name in the keys directory). A key file is
/// read when the ring is loaded and parsed when first asked for: a run that checks no
/// signature (a warm snapshot) parses none (three 4096-bit RSA keys cost a warm 3.16
/// `--simulate add` 2% of its time).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, KeyFiles>,
}

/// The files one key name may come from, in the order they are tried: the first that
/// holds a key is the key.
#[derive(Debug, Clone, Default)]
struct KeyFiles {
    pems: Vec<String>,
    key: std::sync::OnceLock<Option<PublicKey>>,
}

impl KeyFiles {
    fn key(&self) -> Option<&PublicKey> {
        self.key
            .get_or_init(|| self.pems.iter().find_map(|p| PublicKey::from_pem(p).ok()))
            .as_ref()
    }
}

impl Keyring {
    /// Loads every readable key in `dir`. A missing directory is an empty keyring; a file
    /// that is not a key is skipped, as apk does.
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let mut ring = Keyring::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ring),
            Err(e) => return Err(Error::io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            let Ok(pem) = std::fs::read_to_string(&path) else {
                continue;
            };
            let files = KeyFiles {
                pems: vec![pem],
                key: Default::default(),
            };
            ring.keys
                .insert(entry.file_name().to_string_lossy().into_owned(), files);
        }
        Ok(ring)
    }

    /// Adds the keys of `other` whose names this ring does not have (a name whose files
    /// here hold no key is taken from `other`).
    pub fn merge_missing(&mut self, other: Keyring) {
        for (name, files) in other.keys {
            match self.keys.entry(name) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(files);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let here = o.get_mut();
                    match here.key.get() {
                        Some(Some(_)) => {}
                        Some(None) => *here = files,
                        // Neither parsed: the files here first, then the others.
                        None if files.key.get().is_none() => here.pems.extend(files.pems),
                        None => {
                            if here.key().is_none() {
                                *here = files;
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn insert(&mut self, name: String, key: PublicKey) {
        let files = KeyFiles {
            pems: Vec::new(),
            key: Some(key).into(),
        };
        self.keys.insert(name, files);
    }

    pub fn get(&self, name: &str) -> Option<&PublicKey> {
        self.keys.get(name)?.key()
    }

    /// Every key with its name, in name order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.keys
            .iter()
            .filter_map(|(n, f)| Some((n.as_str(), f.key()?)))
    }

    pub fn is_empty(&self) -> bool {
        self.keys().next().is_none()
    }

    /// Checks a set of signature entries against a stream: true when at least one is by
    /// a known key and verifies. Entries by unknown keys are ignored, as apk does.
    pub fn verify_any(&self, signatures: &[Signature], digests: &StreamDigests) -> bool {
        signatures.iter().any(|s| {
            self.get(&s.key_name)
                .is_some_and(|k| k.verify(s.algorithm, digests, &s.bytes))
        })
    }
}

/// One `.SIGN.*` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub algorithm: Algorithm,
    pub key_name: String,
    pub bytes: Vec<u8>,
}

impl Signature {
    pub fn entry_name(&self) -> String {
        format!("{}{}", self.algorithm.prefix(), self.key_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            Algorithm::from_entry_name(
                ".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
            ),
            Some((
                Algorithm::RsaSha1,
                "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
            ))
        );
        assert_eq!(
            Algorithm::from_entry_name(".SIGN.RSA256.k.pub"),
            Some((Algorithm::RsaSha256, "k.pub"))
        );
        assert_eq!(
            Algorithm::from_entry_name(".SIGN.ED25519.k.pub"),
            Some((Algorithm::Ed25519, "k.pub"))
        );
        assert_eq!(Algorithm::from_entry_name(".SIGN.RSA."), None);
        assert_eq!(Algorithm::from_entry_name(".SIGN.DSA.k"), None);
    }

    #[test]
    fn ed25519_sign_verify_and_pem_round_trip() {
        let key = PrivateKey::generate_ed25519();
        let pem = key.to_pem().unwrap();
        let key = PrivateKey::from_pem(&pem).unwrap();
        let pubkey = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        let sig = key.sign(Algorithm::Ed25519, b"stream").unwrap();
        assert!(pubkey.verify(Algorithm::Ed25519, &StreamDigests::of(b"stream"), &sig));
        assert!(!pubkey.verify(Algorithm::Ed25519, &StreamDigests::of(b"Stream"), &sig));
        assert!(!pubkey.verify(Algorithm::RsaSha1, &StreamDigests::of(b"stream"), &sig));
    }

    #[test]
    fn rsa_sign_verify_each_digest() {
        let key = PrivateKey::generate_rsa(1024).unwrap();
        let pubkey = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        let d = StreamDigests::of(b"control");
        let bad = StreamDigests::of(b"contro1");
        for algo in [
            Algorithm::RsaSha1,
            Algorithm::RsaSha256,
            Algorithm::RsaSha512,
        ] {
            let sig = key.sign(algo, b"control").unwrap();
            assert!(pubkey.verify(algo, &d, &sig), "{algo:?}");
            assert!(!pubkey.verify(algo, &bad, &sig), "{algo:?}");
        }
        assert!(key.sign(Algorithm::Ed25519, b"x").is_err());
    }

    #[test]
    fn rsa_2048_signatures_check_the_same_over_short_and_long_streams() {
        // ring checks the short ones, the `rsa` crate (over our digest) the long ones.
        let key = PrivateKey::generate_rsa(2048).unwrap();
        let pubkey = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        for len in [100, RING_HASHES_UP_TO, RING_HASHES_UP_TO + 1, 3 << 20] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut other = data.clone();
            other[len / 2] ^= 1;
            for algo in [Algorithm::RsaSha1, Algorithm::RsaSha256] {
                let sig = key.sign(algo, &data).unwrap();
                assert!(
                    pubkey.verify(algo, &StreamDigests::of(&data), &sig),
                    "{len}"
                );
                assert!(
                    !pubkey.verify(algo, &StreamDigests::of(&other), &sig),
                    "{len}"
                );
                let mut broken = sig.clone();
                broken[10] ^= 0x40;
                assert!(
                    !pubkey.verify(algo, &StreamDigests::of(&data), &broken),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(PublicKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        )
        .is_err());
        assert!(PrivateKey::from_pem("hello").is_err());
    }

    /// A key directory's files are keys once parsed: a name whose file holds none is
    /// not a key (and is taken from the merged ring), a name with a key keeps its own.
    #[test]
    fn a_keyring_names_the_files_that_hold_keys_and_merges_the_rest() {
        let (etc, lib) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b, c) = (
            PrivateKey::generate_ed25519().public_key(),
            PrivateKey::generate_ed25519().public_key(),
            PrivateKey::generate_ed25519().public_key(),
        );
        std::fs::write(etc.path().join("same.pub"), a.to_pem()).unwrap();
        std::fs::write(lib.path().join("same.pub"), b.to_pem()).unwrap();
        std::fs::write(etc.path().join("broken.pub"), "not a key").unwrap();
        std::fs::write(lib.path().join("broken.pub"), c.to_pem()).unwrap();
        std::fs::write(etc.path().join("junk.pub"), "not a key either").unwrap();

        let only_junk = Keyring::load_dir(etc.path()).unwrap();
        assert!(only_junk.get("broken.pub").is_none());
        assert_eq!(
            only_junk.keys().map(|(n, _)| n).collect::<Vec<_>>(),
            ["same.pub"]
        );

        let mut ring = Keyring::load_dir(etc.path()).unwrap();
        ring.merge_missing(Keyring::load_dir(lib.path()).unwrap());
        let names: Vec<&str> = ring.keys().map(|(n, _)| n).collect();
        assert_eq!(names, ["broken.pub", "same.pub"]);
        assert_eq!(
            ring.get("same.pub").map(PublicKey::to_pem),
            Some(a.to_pem())
        );
        assert_eq!(
            ring.get("broken.pub").map(PublicKey::to_pem),
            Some(c.to_pem())
        );
        assert!(ring.get("junk.pub").is_none());

        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("junk.pub"), "no key").unwrap();
        assert!(Keyring::load_dir(empty.path()).unwrap().is_empty());
    }
}
