//! Package and file identities as apk spells them: `Q1` + base64 of a SHA-1 digest,
//! `Q2` + base64 of a SHA-256 digest, or plain hex (pax `APK-TOOLS.checksum.SHA1`).

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::{alphabet, Engine};
use sha1::{Digest, Sha1};

/// A SHA-1 or SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Checksum {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

/// apk decodes identities leniently: the unused low bits of the last base64 digit may
/// be set (hand-written indexes, apk-tools' own test data, have them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid checksum '{0}'")]
pub struct BadChecksum(pub String);

impl Checksum {
    /// SHA-1 of `data`, the form of package identities (`C:`) and file checksums (`Z:`).
    pub fn sha1_of(data: &[u8]) -> Self {
        Checksum::Sha1(Sha1::digest(data).into())
    }

    /// Parses `Q1...` (SHA-1) or `Q2...` (SHA-256).
    pub fn parse(s: &str) -> Result<Self, BadChecksum> {
        let bad = || BadChecksum(s.to_owned());
        let (kind, b64) = (s.get(..2).ok_or_else(bad)?, s.get(2..).ok_or_else(bad)?);
        // Decoded on the stack: one of these is read for every package of an index.
        // Anything longer than a SHA-256's text does not fit and is refused.
        let mut raw = [0u8; 48];
        let n = LENIENT.decode_slice(b64, &mut raw).map_err(|_| bad())?;
        match kind {
            "Q1" => Ok(Checksum::Sha1(raw[..n].try_into().map_err(|_| bad())?)),
            "Q2" => Ok(Checksum::Sha256(raw[..n].try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }

    /// Parses a hex digest (40 digits for SHA-1, 64 for SHA-256).
    pub fn from_hex(s: &str) -> Result<Self, BadChecksum> {
        let bad = || BadChecksum(s.to_owned());
        let raw = decode_hex(s).ok_or_else(bad)?;
        match raw.len() {
            20 => Ok(Checksum::Sha1(raw.try_into().map_err(|_| bad())?)),
            32 => Ok(Checksum::Sha256(raw.try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Checksum::Sha1(b) => b,
            Checksum::Sha256(b) => b,
        }
    }

    pub fn to_hex(&self) -> String {
        encode_hex(self.bytes())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self {
            Checksum::Sha1(_) => "Q1",
            Checksum::Sha256(_) => "Q2",
        };
        write!(f, "{prefix}{}", STANDARD.encode(self.bytes()))
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Checksum {
    type Err = BadChecksum;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Checksum::parse(s)
    }
}

pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Checksum::parse("Q1ZX+on7zBgcokTctj4tLSmx7q5O4=").unwrap();
        assert!(matches!(c, Checksum::Sha1(_)));
        assert_eq!(c.to_string(), "Q1ZX+on7zBgcokTctj4tLSmx7q5O4=");
        assert_eq!(Checksum::from_hex(&c.to_hex()).unwrap(), c);
        let s = Checksum::Sha256([7; 32]);
        assert_eq!(Checksum::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "",
            "Q",
            "Q1",
            "Q1!!!!",
            "Q3ZX+on7zBgcokTctj4tLSmx7q5O4=",
            "Q1AAAA",
            "Q1ZX+on7zBgcokTctj4tLSmx7q5O4",
        ] {
            assert!(Checksum::parse(bad).is_err(), "{bad}");
        }
        // Well-formed base64 of more bytes than a SHA-256 has.
        assert!(Checksum::parse(&format!("Q2{}", "A".repeat(200))).is_err());
        assert!(Checksum::parse(&format!("Q1{}", "A".repeat(32))).is_err());
        assert!(Checksum::from_hex("abc").is_err());
        // Trailing bits in the last digit are tolerated, as apk does.
        assert!(Checksum::parse("Q1hdUpqRv5mYgJEqW52UmVsvmeedd=").is_ok());
        assert!(Checksum::from_hex("zz").is_err());
        assert!(Checksum::from_hex("00").is_err());
    }

    #[test]
    fn sha1_known_answer() {
        assert_eq!(
            Checksum::sha1_of(b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
