//! Dependency atoms: `[!]name[@tag][op version]` and the identity form `name><Q1...`.
//!
//! The same syntax is used by `D:` (depends), `p:` (provides, `name=version`), `i:`
//! (install_if), `r:` (replaces), the world file and the command line; lists are
//! separated by spaces.

use std::fmt;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::version;

/// Comparison operator of a dependency, as a mask of the outcomes it accepts.
/// Plain data (apk-rs reads tables of dependencies in place from its snapshot): any
/// byte makes an `Op` as a type; [`Op::from_bits`] is the check that it is one apk
/// knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, FromBytes, Immutable, KnownLayout)]
#[repr(transparent)]
pub struct Op(u8);

impl Op {
    pub const LESS: u8 = 1;
    pub const EQUAL: u8 = 2;
    pub const GREATER: u8 = 4;
    pub const FUZZY: u8 = 8;
    /// Any version (no operator written).
    pub const ANY: Op = Op(Self::LESS | Self::EQUAL | Self::GREATER);
    /// `name><Q1...`: the package with exactly this identity.
    pub const CHECKSUM: Op = Op(Self::LESS | Self::GREATER);

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The operator with these bits, if it is one apk knows.
    pub fn from_bits(bits: u8) -> Option<Op> {
        let op = Op(bits);
        (op.is_any() || op.as_str().is_some()).then_some(op)
    }

    /// Parses an operator spelling (`=`, `<`, `>=`, `~`, `~=`, `>~`, `><`, ...).
    pub fn parse(s: &str) -> Option<Op> {
        const L: u8 = Op::LESS;
        const E: u8 = Op::EQUAL;
        const G: u8 = Op::GREATER;
        const F: u8 = Op::FUZZY;
        Some(Op(match s {
            "<" => L,
            "<=" => L | E,
            "=" => E,
            "~" | "~=" | "=~" => E | F,
            ">=" => G | E,
            ">" => G,
            "><" => L | G,
            ">~" => G | E | F,
            "<~" => L | E | F,
            _ => return None,
        }))
    }

    /// The canonical spelling, as apk prints it.
    pub fn as_str(self) -> Option<&'static str> {
        const L: u8 = Op::LESS;
        const E: u8 = Op::EQUAL;
        const G: u8 = Op::GREATER;
        const F: u8 = Op::FUZZY;
        Some(match self.0 {
            x if x == L => "<",
            x if x == L | E => "<=",
            x if x == E => "=",
            x if x == E | F => "~",
            x if x == G | E => ">=",
            x if x == G => ">",
            x if x == L | G => "><",
            x if x == G | E | F => ">~",
            x if x == L | E | F => "<~",
            _ => return None,
        })
    }

    pub fn is_any(self) -> bool {
        self == Op::ANY
    }

    pub fn is_checksum(self) -> bool {
        self == Op::CHECKSUM
    }

    /// Does a package of version `pkg_version` satisfy `op dep_version`?
    pub fn matches(self, pkg_version: &str, dep_version: &str) -> bool {
        if self.is_any() {
            return true;
        }
        let fuzzy = self.0 & Self::FUZZY != 0;
        let outcome = match version::compare_fuzzy(pkg_version, dep_version, fuzzy) {
            std::cmp::Ordering::Less => Self::LESS,
            std::cmp::Ordering::Equal => Self::EQUAL,
            std::cmp::Ordering::Greater => Self::GREATER,
        };
        self.0 & outcome != 0
    }
}

/// One dependency atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub name: String,
    /// The `@tag` pinning to tagged repositories, without the `@`.
    pub tag: Option<String>,
    pub op: Op,
    /// Version (or `Q1...` identity for [`Op::CHECKSUM`]); empty when `op` is any.
    pub version: String,
    /// `!name`: the named package must not be installed (in the given versions).
    pub conflict: bool,
}

/// A dependency atom borrowed from the text it was parsed from (index loading parses
/// tens of thousands of them and keeps none of the strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepRef<'a> {
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub op: Op,
    /// Empty when `op` is any.
    pub version: &'a str,
    pub conflict: bool,
}

impl<'a> DepRef<'a> {
    pub fn parse(s: &'a str) -> Result<Self, DepError> {
        if s.is_empty() {
            return Err(DepError::Empty);
        }
        let (conflict, rest) = match s.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, s),
        };
        // One pass over the bytes finds the name's end and checks its characters (the
        // hot path of loading an index: every dependency atom passes here).
        let bytes = rest.as_bytes();
        let name_end = bytes
            .iter()
            .position(|&b| NAME_CLASS[b as usize] != NAME_CHAR)
            .unwrap_or(bytes.len());
        let ends_well = bytes
            .get(name_end)
            .is_none_or(|&b| NAME_CLASS[b as usize] == NAME_END);
        if name_end == 0 || bytes[0] == b'-' || !ends_well {
            return Err(DepError::BadName(s.to_owned()));
        }
        let name = &rest[..name_end];
        let mut rest = &rest[name_end..];
        let mut tag = None;
        if let Some(r) = rest.strip_prefix('@') {
            let end = r.find(is_op_char).unwrap_or(r.len());
            let t = &r[..end];
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_graphic() && c != '@') {
                return Err(DepError::BadTag(s.to_owned()));
            }
            tag = Some(t);
            rest = &r[end..];
        }
        let op_end = rest.find(|c: char| !is_op_char(c)).unwrap_or(rest.len());
        let (op_str, ver) = rest.split_at(op_end);
        if op_str.is_empty() {
            return Ok(DepRef {
                name,
                tag,
                op: Op::ANY,
                version: "",
                conflict,
            });
        }
        let op = Op::parse(op_str).ok_or_else(|| DepError::BadOp(s.to_owned()))?;
        // apk-tools takes any identity after `><` (Q1 SHA-1, Q2 SHA-256, or text that
        // then matches no package); other operators need a valid version.
        let version_ok = if op.is_checksum() {
            !ver.is_empty()
        } else {
            version::is_valid(ver)
        };
        if !version_ok {
            return Err(DepError::BadVersion(s.to_owned()));
        }
        Ok(DepRef {
            name,
            tag,
            op,
            version: ver,
            conflict,
        })
    }
}

/// Why a dependency string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepError {
    #[error("empty dependency")]
    Empty,
    #[error("invalid package name in '{0}'")]
    BadName(String),
    #[error("invalid operator in '{0}'")]
    BadOp(String),
    #[error("invalid version in '{0}'")]
    BadVersion(String),
    #[error("invalid tag in '{0}'")]
    BadTag(String),
}

fn is_op_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '~')
}

/// A package name is non-empty and made of printable characters apk does not reserve.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| NAME_CLASS[b as usize] == NAME_CHAR)
}

/// What a byte is to a package name: part of it, the start of what follows it in a
/// dependency (an operator or `@tag`), or not allowed.
const NAME_CHAR: u8 = 0;
const NAME_END: u8 = 1;
const NAME_BAD: u8 = 2;
const NAME_CLASS: [u8; 256] = {
    let mut t = [NAME_BAD; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = match b as u8 {
            b'<' | b'>' | b'=' | b'~' | b'@' => NAME_END,
            b'!' => NAME_BAD,
            _ => NAME_CHAR,
        };
        b += 1;
    }
    t
};

impl Dependency {
    /// A plain "any version of `name`" dependency.
    pub fn any(name: &str) -> Self {
        Dependency {
            name: name.to_owned(),
            tag: None,
            op: Op::ANY,
            version: String::new(),
            conflict: false,
        }
    }

    pub fn parse(s: &str) -> Result<Self, DepError> {
        DepRef::parse(s).map(|d| Dependency {
            name: d.name.to_owned(),
            tag: d.tag.map(str::to_owned),
            op: d.op,
            version: d.version.to_owned(),
            conflict: d.conflict,
        })
    }

    /// The borrowed form of this atom.
    pub fn as_ref(&self) -> DepRef<'_> {
        DepRef {
            name: &self.name,
            tag: self.tag.as_deref(),
            op: self.op,
            version: &self.version,
            conflict: self.conflict,
        }
    }

    /// Does a package `name`-`version` (with identity `checksum`) satisfy the version part
    /// of this atom? The name and the conflict flag are the caller's business.
    pub fn version_matches(&self, version: &str, checksum: Option<&str>) -> bool {
        if self.op.is_checksum() {
            return checksum == Some(self.version.as_str());
        }
        self.op.matches(version, &self.version)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, "@{tag}")?;
        }
        if !self.op.is_any() {
            f.write_str(self.op.as_str().unwrap_or("?"))?;
            f.write_str(&self.version)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Dependency {
    type Err = DepError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dependency::parse(s)
    }
}

/// Parses a space-separated list (`D:`, `p:`, `i:`, `r:`, world).
pub fn parse_list(s: &str) -> Result<Vec<Dependency>, DepError> {
    s.split_ascii_whitespace().map(Dependency::parse).collect()
}

/// Formats a list the way apk writes it: atoms separated by one space.
pub fn format_list(deps: &[Dependency]) -> String {
    let mut out = String::new();
    for (i, d) in deps.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&d.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_table() {
        let cases = [
            ("musl", "musl", None, "", ""),
            (
                "so:libc.musl-x86_64.so.1",
                "so:libc.musl-x86_64.so.1",
                None,
                "",
                "",
            ),
            ("zsh=5.8.1-r4", "zsh", None, "=", "5.8.1-r4"),
            ("busybox@edge", "busybox", Some("edge"), "", ""),
            (
                "busybox@edge>=1.6.1",
                "busybox",
                Some("edge"),
                ">=",
                "1.6.1",
            ),
            ("a<2", "a", None, "<", "2"),
            ("a<=2", "a", None, "<=", "2"),
            ("a>2", "a", None, ">", "2"),
            ("a~1.6", "a", None, "~", "1.6"),
            ("a>~1.6", "a", None, ">~", "1.6"),
            ("a<~1.6", "a", None, "<~", "1.6"),
            ("cmd:ls", "cmd:ls", None, "", ""),
            ("pc:libfoo>=1.0", "pc:libfoo", None, ">=", "1.0"),
            (
                "a><Q1ZX+on7zBgcokTctj4tLSmx7q5O4=",
                "a",
                None,
                "><",
                "Q1ZX+on7zBgcokTctj4tLSmx7q5O4=",
            ),
        ];
        for (text, name, tag, op, ver) in cases {
            let d = Dependency::parse(text).unwrap();
            assert_eq!(d.name, name, "{text}");
            assert_eq!(d.tag.as_deref(), tag, "{text}");
            assert_eq!(d.op.as_str().filter(|_| !d.op.is_any()).unwrap_or(""), op);
            assert_eq!(d.version, ver);
            assert!(!d.conflict);
            assert_eq!(d.to_string(), text);
            let neg = format!("!{text}");
            let c = Dependency::parse(&neg).unwrap();
            assert!(c.conflict);
            assert_eq!(c.to_string(), neg);
        }
    }

    #[test]
    fn alternative_spellings_normalise() {
        assert_eq!(Dependency::parse("a~=1.6").unwrap().to_string(), "a~1.6");
        assert_eq!(Dependency::parse("a=~1.6").unwrap().to_string(), "a~1.6");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "", "!", "=1.0", "a=", "a=x", "a==1", "a<<1", "a@", "a@>1", "a=1.0 b", "a><", "a=><1",
            "-a", "a!b",
        ] {
            assert!(Dependency::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn any_identity_follows_the_checksum_operator() {
        // As apk-tools 3.0.6 reads `apk add 'a><x'` (and then finds no such package).
        for ok in ["a><x", "a><Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "a><Q2AAAA"] {
            let d = Dependency::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!((d.op, d.to_string()), (Op::CHECKSUM, ok.to_owned()));
        }
    }

    #[test]
    fn matching() {
        let m = |dep: &str, v: &str| Dependency::parse(dep).unwrap().version_matches(v, None);
        assert!(m("a", "1"));
        assert!(m("a=1.0", "1.0"));
        assert!(!m("a=1.0", "1.0-r1"));
        assert!(m("a<2", "1.9"));
        assert!(!m("a<2", "2"));
        assert!(m("a<=2", "2"));
        assert!(m("a>=2", "2.0.1"));
        assert!(m("a~1.6", "1.6.9"));
        assert!(m("a~1.6", "1.6"));
        assert!(!m("a~1.6", "1.7"));
        assert!(m("a>~1.6", "1.7"));
        assert!(!m("a<~1.6", "1.7"));
        let cs = "Q1ZX+on7zBgcokTctj4tLSmx7q5O4=";
        let d = Dependency::parse(&format!("a><{cs}")).unwrap();
        assert!(d.version_matches("1", Some(cs)));
        assert!(!d.version_matches("1", Some("Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=")));
    }

    #[test]
    fn lists() {
        let l = parse_list("so:libc.musl-x86_64.so.1  zsh=5.8.1-r4 !foo").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            format_list(&l),
            "so:libc.musl-x86_64.so.1 zsh=5.8.1-r4 !foo"
        );
        assert!(parse_list("").unwrap().is_empty());
    }
}
