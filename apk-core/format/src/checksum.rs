//! Package and file identities as apk spells them: `Q1` + base64 of a SHA-1 digest,
//! `Q2` + base64 of a SHA-256 digest, or plain hex (pax `APK-TOOLS.checksum.SHA1`).

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::{alphabet, Engine};
use sha1::{Digest, Sha1};

/// Each byte's value as a standard base64 digit; 0xff for bytes that are none.
const BASE64_DIGITS: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The `N`-byte digest spelled by `text` in the one form apk writes it: standard
/// base64, one pad (SHA-1's 28 characters, SHA-256's 44), the last digit's unused
/// bits ignored as [`LENIENT`] ignores them. `None` for anything else, which the
/// generic decoder then judges. Every record of an index is identified by one of
/// these, read twice (checked while parsing, kept when added): a table walk is a fifth
/// of the generic decoder's instructions (25,000 packages: 19.4M -> 3.9M).
fn digest_base64<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let groups = N.div_ceil(3);
    if N % 3 != 2 || text.len() != groups * 4 || text[text.len() - 1] != b'=' {
        return None;
    }
    // The digits' values first (any byte that is no digit sets the top bit of
    // `invalid`), then three bytes from each four digits; the pad counts as zero.
    let mut values = [0u8; 44];
    let mut invalid = 0u8;
    for (v, &c) in values.iter_mut().zip(&text[..text.len() - 1]) {
        *v = BASE64_DIGITS[usize::from(c)];
        invalid |= *v;
    }
    let mut whole = [0u8; 33];
    for (three, four) in whole
        .chunks_exact_mut(3)
        .zip(values[..groups * 4].chunks_exact(4))
    {
        let word = u32::from(four[0]) << 18
            | u32::from(four[1]) << 12
            | u32::from(four[2]) << 6
            | u32::from(four[3]);
        three.copy_from_slice(&word.to_be_bytes()[1..]);
    }
    let mut out = [0u8; N];
    out.copy_from_slice(whole.get(..N)?);
    (invalid & 0x80 == 0).then_some(out)
}

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
        let quick = match kind {
            "Q1" => digest_base64::<20>(b64.as_bytes()).map(Checksum::Sha1),
            "Q2" => digest_base64::<32>(b64.as_bytes()).map(Checksum::Sha256),
            _ => None,
        };
        if let Some(c) = quick {
            return Ok(c);
        }
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
    fn digests_are_read_by_table_as_by_the_generic_decoder() {
        use proptest::prelude::*;
        let generic = |b64: &str| LENIENT.decode(b64).ok();
        // Every digest spelled as apk spells it.
        proptest!(|(sha1 in any::<[u8; 20]>(), sha256 in any::<[u8; 32]>())| {
            let (t1, t2) = (STANDARD.encode(sha1), STANDARD.encode(sha256));
            prop_assert_eq!(digest_base64::<20>(t1.as_bytes()), Some(sha1));
            prop_assert_eq!(digest_base64::<32>(t2.as_bytes()), Some(sha256));
        });
        // Any text of the digest's length: taken only as the generic decoder takes it
        // (set trailing bits included), and whatever it refuses is left to it.
        let digits = "ABCXYZabcxyz0189+/=!- \u{e9}";
        proptest!(|(picks in proptest::collection::vec(0usize..24, 27), pad in any::<bool>())| {
            let chars: Vec<char> = digits.chars().collect();
            let mut text: String = picks.iter().map(|&i| chars[i % chars.len()]).collect();
            text.push(if pad { '=' } else { 'A' });
            if let Some(d) = digest_base64::<20>(text.as_bytes()) {
                prop_assert_eq!(generic(&text), Some(d.to_vec()));
            } else {
                prop_assert!(
                    text.len() != 28 || !text.ends_with('=') || generic(&text).is_none_or(|g| g.len() != 20),
                    "{} refused", text
                );
            }
        });
        // The known cases, through `parse`.
        let c = Checksum::parse("Q1hdUpqRv5mYgJEqW52UmVsvmeedd=").expect("trailing bits");
        assert_eq!(c.to_string(), "Q1hdUpqRv5mYgJEqW52UmVsvmeedc=");
        assert!(Checksum::parse("Q1ZX+on7zBgcokTctj4tLSmx7q5O=A").is_err());
        assert!(Checksum::parse("Q2ZX+on7zBgcokTctj4tLSmx7q5O4=").is_err());
    }

    #[test]
    fn sha1_known_answer() {
        assert_eq!(
            Checksum::sha1_of(b"abc").to_hex(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
