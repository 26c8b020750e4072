//! Alpine package versions and their ordering.
//!
//! A version reads `digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]`, e.g.
//! `1.2.3b_rc1~1a2b-r4`; nothing but a suffix, hash or revision may follow the letter
//! (`0.99f7` is invalid, as apk-tools 3 has it). Ordering follows apk-tools: numbers compare numerically (a
//! non-leading component with a leading zero compares as a string), `_alpha _beta _pre _rc`
//! sort before the bare release and `_cvs _svn _git _hg _p` after it, and when one
//! version runs out of components the longer one is newer unless its next component is
//! a pre-release suffix.

use std::cmp::Ordering;
use std::fmt;

/// Suffixes that mark a pre-release, lowest first.
const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
/// Suffixes that mark something after the release, lowest first.
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// Token kinds in the order apk ranks them when one version has a token where the other
/// has a different one (a later kind means an older version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
    Invalid,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a [u8],
}

/// Walks the tokens of a version string.
struct Tokens<'a> {
    rest: &'a [u8],
    last: Kind,
    started: bool,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a [u8]) -> Self {
        Tokens {
            rest: s,
            last: Kind::InitialDigit,
            started: false,
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let n = self.rest.iter().take_while(|&&c| pred(c)).count();
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        head
    }

    fn next_token(&mut self) -> Token<'a> {
        let tok = self.scan();
        self.last = tok.kind;
        tok
    }

    fn scan(&mut self) -> Token<'a> {
        let invalid = Token {
            kind: Kind::Invalid,
            text: b"",
        };
        if self.last >= Kind::End {
            return Token {
                kind: self.last,
                text: b"",
            };
        }
        if !self.started {
            self.started = true;
            let digits = self.take_while(|c| c.is_ascii_digit());
            if digits.is_empty() {
                return invalid;
            }
            return Token {
                kind: Kind::InitialDigit,
                text: digits,
            };
        }
        let Some(&c) = self.rest.first() else {
            return Token {
                kind: Kind::End,
                text: b"",
            };
        };
        let digit_like = matches!(self.last, Kind::InitialDigit | Kind::Digit);
        match c {
            b'.' if digit_like => {
                self.rest = &self.rest[1..];
                let digits = self.take_while(|c| c.is_ascii_digit());
                if digits.is_empty() {
                    return invalid;
                }
                Token {
                    kind: Kind::Digit,
                    text: digits,
                }
            }
            b'a'..=b'z' if digit_like => {
                let (head, tail) = self.rest.split_at(1);
                self.rest = tail;
                Token {
                    kind: Kind::Letter,
                    text: head,
                }
            }
            b'_' if self.last <= Kind::SuffixNumber => {
                self.rest = &self.rest[1..];
                let name = self.take_while(|c| c.is_ascii_lowercase());
                if suffix_rank(name).is_none() {
                    return invalid;
                }
                Token {
                    kind: Kind::Suffix,
                    text: name,
                }
            }
            b'0'..=b'9' if self.last == Kind::Suffix => Token {
                kind: Kind::SuffixNumber,
                text: self.take_while(|c| c.is_ascii_digit()),
            },
            b'~' if self.last < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                let hash = self.take_while(|c| c.is_ascii_hexdigit());
                if hash.is_empty() {
                    return invalid;
                }
                Token {
                    kind: Kind::CommitHash,
                    text: hash,
                }
            }
            b'-' if self.last < Kind::Revision && self.rest.get(1) == Some(&b'r') => {
                self.rest = &self.rest[2..];
                let digits = self.take_while(|c| c.is_ascii_digit());
                if digits.is_empty() {
                    return invalid;
                }
                Token {
                    kind: Kind::Revision,
                    text: digits,
                }
            }
            _ => invalid,
        }
    }
}

/// Rank of a suffix: negative for pre-release suffixes, non-negative for post-release.
fn suffix_rank(name: &[u8]) -> Option<i32> {
    if let Some(i) = PRE_SUFFIXES.iter().position(|s| s.as_bytes() == name) {
        return Some(i as i32 - PRE_SUFFIXES.len() as i32);
    }
    POST_SUFFIXES
        .iter()
        .position(|s| s.as_bytes() == name)
        .map(|i| i as i32)
}

/// Compares digit strings numerically without overflowing: strip leading zeros, then
/// the longer number is larger, then lexical order decides.
fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let a = &a[strip(a)..];
    let b = &b[strip(b)..];
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_tokens(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Digit if a.text.first() == Some(&b'0') || b.text.first() == Some(&b'0') => {
            a.text.cmp(b.text)
        }
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNumber | Kind::Revision => {
            cmp_numeric(a.text, b.text)
        }
        Kind::Letter | Kind::CommitHash => a.text.cmp(b.text),
        Kind::Suffix => suffix_rank(a.text).cmp(&suffix_rank(b.text)),
        Kind::End | Kind::Invalid => Ordering::Equal,
    }
}

fn is_pre_release(t: &Token<'_>) -> bool {
    t.kind == Kind::Suffix && suffix_rank(t.text).is_some_and(|r| r < 0)
}

/// Compares two version strings as apk does. With `fuzzy`, `a` matches when `b` is a
/// prefix of it in whole components (the `~` operator). Invalid tails compare equal to
/// each other, so callers that care must validate first.
pub fn compare_fuzzy(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let mut ta = Tokens::new(a.as_bytes());
    let mut tb = Tokens::new(b.as_bytes());
    let (mut x, mut y) = (ta.next_token(), tb.next_token());
    while x.kind == y.kind && x.kind < Kind::End {
        let ord = cmp_tokens(&x, &y);
        if ord != Ordering::Equal {
            return ord;
        }
        x = ta.next_token();
        y = tb.next_token();
    }
    if x.kind == y.kind || (fuzzy && y.kind == Kind::End) {
        return Ordering::Equal;
    }
    if is_pre_release(&x) {
        return Ordering::Less;
    }
    if is_pre_release(&y) {
        return Ordering::Greater;
    }
    // The version that still has components is newer, the kind order above encodes it.
    y.kind.cmp(&x.kind)
}

/// Compares two version strings as apk does.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_fuzzy(a, b, false)
}

/// True when `s` is a well-formed apk version.
pub fn is_valid(s: &str) -> bool {
    let mut t = Tokens::new(s.as_bytes());
    loop {
        match t.next_token().kind {
            Kind::End => return true,
            Kind::Invalid => return false,
            _ => {}
        }
    }
}

/// A validated version string. Ordering is apk's, not lexical; equal-comparing versions
/// may differ in spelling (`1.0` and `1.000`), so `Eq` follows the ordering.
#[derive(Clone, Debug)]
pub struct Version(String);

/// The error for a string that is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version '{0}'")]
pub struct InvalidVersion(pub String);

impl Version {
    pub fn parse(s: &str) -> Result<Self, InvalidVersion> {
        if is_valid(s) {
            Ok(Version(s.to_owned()))
        } else {
            Err(InvalidVersion(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Version {
    type Err = InvalidVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        compare(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// (a, b, expected a ? b)
    const PAIRS: &[(&str, &str, Ordering)] = &[
        ("1", "1", Equal),
        ("1", "2", Less),
        ("2", "10", Less),
        ("1.0", "1.0.1", Less),
        ("1.0.1", "1.0", Greater),
        ("1.2", "1.10", Less),
        ("1.0", "1.0a", Less),
        ("1.0a", "1.0b", Less),
        ("1.0z", "1.1", Less),
        ("1.0_alpha", "1.0_beta", Less),
        ("1.0_beta", "1.0_pre", Less),
        ("1.0_pre", "1.0_rc", Less),
        ("1.0_rc", "1.0", Less),
        ("1.0", "1.0_cvs", Less),
        ("1.0_cvs", "1.0_svn", Less),
        ("1.0_svn", "1.0_git", Less),
        ("1.0_git", "1.0_hg", Less),
        ("1.0_hg", "1.0_p", Less),
        ("1.0_rc1", "1.0_rc2", Less),
        ("1.0_rc9", "1.0_rc10", Less),
        ("1.0_rc", "1.0_rc1", Less),
        ("1.0_p1", "1.0_p2", Less),
        ("1.0_p1", "1.0.1", Less),
        ("1.0_alpha1", "1.0", Less),
        ("1.0_alpha_p1", "1.0_alpha", Greater),
        ("1.0_alpha_p1", "1.0_beta", Less),
        ("1.0-r0", "1.0-r1", Less),
        ("1.0-r9", "1.0-r10", Less),
        ("1.0", "1.0-r0", Less),
        ("1.0-r1", "1.0_p1", Less),
        ("1.0-r100", "1.0.1", Less),
        ("1.0-r1", "1.0a", Less),
        ("1.0_rc1-r5", "1.0-r0", Less),
        ("1.01", "1.1", Less),
        ("1.001", "1.01", Less),
        ("1.010", "1.01", Greater),
        ("1.0", "1.00", Less),
        ("01", "1", Equal),
        ("1.2.3", "1.2.3", Equal),
        ("2.36.3-r0", "2.36.10-r0", Less),
        ("5.8.1-r4", "5.8.1-r4", Equal),
        ("1.0~abc", "1.0", Greater),
        ("1.0~abc", "1.0~abd", Less),
        ("1.0~abc-r1", "1.0-r1", Greater),
        ("1.0-r1", "1.0~abc", Less),
        ("20220101", "20211231", Greater),
        (
            "99999999999999999999999",
            "99999999999999999999998",
            Greater,
        ),
        ("0.0", "0", Greater),
        ("1.2a_rc1-r2", "1.2a_rc1-r3", Less),
        ("1.2a_rc1-r2", "1.2_rc1-r3", Greater),
        ("3.0.0_pre20220101", "3.0.0", Less),
        ("3.0.0_p20220101", "3.0.0", Greater),
        ("1.0_p1_rc1", "1.0_p1", Less),
        ("1.0_rc1_p1", "1.0_rc1", Greater),
        ("1.0_rc1_p1", "1.0_rc2", Less),
        ("1.0.0.0.0.1", "1.0.0.0.0", Greater),
        ("1.0.0.0.0", "1.0.0.0.0_rc1", Greater),
    ];

    /// Invalid tails, compared as apk-tools 3.0.6 does (real indexes have such
    /// versions): an invalid component sorts before a revision, two invalid tails are
    /// equal, what comes before them decides first.
    const INVALID_PAIRS: &[(&str, &str, Ordering)] = &[
        ("0.99f7-r0", "0.99f-r0", Less),
        ("0.99f7", "0.99f10", Equal),
        ("0.99f7", "0.99g", Less),
    ];

    #[test]
    fn invalid_tails_order() {
        for &(a, b, want) in INVALID_PAIRS {
            assert!(!is_valid(a), "{a}");
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn ordering_table() {
        for &(a, b, want) in PAIRS {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
            assert!(is_valid(a) && is_valid(b), "{a} {b}");
        }
    }

    /// Versions in strictly increasing order, as apk orders them: every pair of this
    /// list (861) is checked both ways.
    const ASCENDING: &[&str] = &[
        "0",
        "0.0",
        "0.0.1",
        "0.1_alpha",
        "0.1_alpha2",
        "0.1_beta",
        "0.1_pre",
        "0.1_rc",
        "0.1_rc3",
        "0.1",
        "0.1-r1",
        "0.1_cvs",
        "0.1_svn",
        "0.1_git",
        "0.1_hg",
        "0.1_p",
        "0.1_p2",
        "0.1a",
        "0.1b",
        "0.1.0",
        "0.2",
        "0.9",
        "0.10",
        "1.0_alpha",
        "1.0",
        "1.0-r1",
        "1.0-r2",
        "1.0-r10",
        "1.0_p1",
        "1.0_p1-r1",
        "1.0a",
        "1.0.1_rc1",
        "1.0.1",
        "1.1",
        "1.2.3",
        "1.2.10",
        "1.10",
        "2",
        "2.0.0.1",
        "10",
        "20220101",
    ];

    #[test]
    fn strictly_ascending_chain() {
        let mut pairs = 0;
        for (i, a) in ASCENDING.iter().enumerate() {
            assert!(is_valid(a), "{a}");
            for b in &ASCENDING[i + 1..] {
                assert_eq!(compare(a, b), Less, "{a} < {b}");
                assert_eq!(compare(b, a), Greater, "{b} > {a}");
                pairs += 1;
            }
        }
        assert!(pairs > 800);
    }

    #[test]
    fn validity() {
        let valid = [
            "0",
            "1",
            "1.2.3",
            "1a",
            "1.2z",
            "1_rc",
            "1_rc1",
            "1_p1_rc2",
            "1~ab12",
            "1-r0",
            "1.0_alpha~deadbeef-r12",
            "007",
        ];
        let invalid = [
            "",
            "a",
            "1.",
            ".1",
            "1..2",
            "1ab",
            "1_foo",
            "1_",
            "1-",
            "1-r",
            "1-r1a",
            "1-r1-r2",
            "1~",
            "1~xyz",
            "1.0-1",
            "1.0 ",
            " 1.0",
            "1A",
            "1.0_rc1a",
            "1-r1_p1",
            "1aa",
            "1~ab_p1",
            "v1",
            "1.0-r1~ab",
            "0.99f7-r0",
            "1a2b3",
            "0.1a1",
        ];
        for v in valid {
            assert!(is_valid(v), "{v} should be valid");
        }
        for v in invalid {
            assert!(!is_valid(v), "{v} should be invalid");
            assert!(Version::parse(v).is_err());
        }
    }

    #[test]
    fn fuzzy_prefix() {
        assert_eq!(compare_fuzzy("1.6.1", "1.6", true), Equal);
        assert_eq!(compare_fuzzy("1.6", "1.6", true), Equal);
        assert_eq!(compare_fuzzy("1.7", "1.6", true), Greater);
        assert_eq!(compare_fuzzy("1.5.9", "1.6", true), Less);
        assert_eq!(compare_fuzzy("1.6", "1.6.1", true), Less);
        assert_eq!(compare_fuzzy("1.6.1", "1.6", false), Greater);
    }

    use proptest::prelude::*;

    fn version_strategy() -> impl Strategy<Value = String> {
        let suffix = prop::sample::select(vec![
            "", "_alpha", "_beta", "_pre", "_rc", "_cvs", "_svn", "_git", "_hg", "_p",
        ]);
        (
            prop::collection::vec(0u32..12, 1..4),
            prop::option::of(prop::sample::select(vec!['a', 'b', 'z'])),
            suffix,
            prop::option::of(0u32..3),
            prop::option::of(0u32..3),
        )
            .prop_map(|(nums, letter, suf, sufno, rev)| {
                let mut s = nums
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                if let Some(l) = letter {
                    s.push(l);
                }
                s.push_str(suf);
                if let (false, Some(n)) = (suf.is_empty(), sufno) {
                    s.push_str(&n.to_string());
                }
                if let Some(r) = rev {
                    s.push_str(&format!("-r{r}"));
                }
                s
            })
    }

    proptest! {
        #[test]
        fn generated_versions_are_valid(a in version_strategy()) {
            prop_assert!(is_valid(&a));
        }

        #[test]
        fn total_order(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            prop_assert_eq!(compare(&a, &a), Equal);
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            if compare(&a, &b) != Greater && compare(&b, &c) != Greater {
                prop_assert_ne!(compare(&a, &c), Greater, "{} {} {}", a, b, c);
            }
        }
    }
}
