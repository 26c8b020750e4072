//! The APKINDEX text format: package records of `X:value` lines separated by blank lines.
//!
//! Field letters (apk-package(5)): `C` identity, `P` name, `V` version, `A` arch, `S` file
//! size, `I` installed size, `T` description, `U` url, `L` license, `o` origin, `m`
//! maintainer, `t` build time, `c` commit, `k` provider priority, `D` depends, `p`
//! provides, `i` install_if, `r` replaces, `q` replaces priority. Unknown letters are kept
//! in order and written back after the known ones. The installed database uses the same
//! records plus file entries (apk-core's `db::installed`).

use crate::checksum::Checksum;
use crate::dep;
use crate::error::{Error, Result};
pub use crate::package_info::{FieldError, PackageInfo};

/// The readers of single field values, as [`PackageInfo::set_field`] reads them (for
/// callers that keep a few fields without a whole record).
pub mod fields {
    use super::{Checksum, FieldError};

    /// `C:`, the package's identity.
    pub fn checksum(value: &str) -> Result<Checksum, FieldError> {
        Checksum::parse(value).map_err(|e| FieldError::Checksum(e.to_string()))
    }

    /// A number field (`S:`, `I:`, `t:`, `k:`); `what` names it in the error.
    pub fn num<T: std::str::FromStr>(value: &str, what: &'static str) -> Result<T, FieldError> {
        value.parse().map_err(|_| FieldError::NotANumber {
            what,
            value: value.to_owned(),
        })
    }
}

/// The APKINDEX text codec of [`PackageInfo`].
impl PackageInfo {
    /// Applies one `X:value` field; an error message for a malformed value. `Ok(false)`
    /// means the letter is not a package field: the caller keeps it (as `extra`, or as
    /// the database's file entries).
    pub fn set_field(&mut self, letter: u8, value: &str) -> Result<bool, FieldError> {
        use self::fields::num;
        match letter {
            b'C' => self.checksum = Some(fields::checksum(value)?),
            b'P' => {
                if !dep::is_valid_name(value) {
                    return Err(FieldError::InvalidName(value.to_owned()));
                }
                self.name = value.to_owned()
            }
            // Not validated, as apk-tools reads indexes: an invalid version is kept and
            // compares by apk's rules for invalid tails.
            b'V' => self.version = value.to_owned(),
            b'A' => self.arch = Some(value.to_owned()),
            b'S' => self.size = Some(num(value, "size")?),
            b'I' => self.installed_size = Some(num(value, "installed size")?),
            b'T' => self.description = Some(value.to_owned()),
            b'U' => self.url = Some(value.to_owned()),
            b'L' => self.license = Some(value.to_owned()),
            b'o' => self.origin = Some(value.to_owned()),
            b'm' => self.maintainer = Some(value.to_owned()),
            b't' => self.build_time = Some(num(value, "build time")?),
            b'c' => self.commit = Some(value.to_owned()),
            b'k' => self.provider_priority = Some(num(value, "provider priority")?),
            b'D' | b'p' | b'i' | b'r' => {
                let list = match letter {
                    b'D' => &mut self.depends,
                    b'p' => &mut self.provides,
                    b'i' => &mut self.install_if,
                    _ => &mut self.replaces,
                };
                // Repeated lines add to the list, as apk reads them. Tags belong to the
                // world only: an index dependency with one is as broken as a bad one.
                // Once a field has a line that does not parse, the field is kept as
                // text, every line of it, so that a rewrite reads back equal.
                let already_broken = self.unparsed.iter().any(|(l, _)| *l == letter);
                let parsed = dep::parse_list(value)
                    .map_err(|e| e.to_string())
                    .and_then(|deps| {
                        if deps.iter().any(|d| d.tag.is_some()) {
                            Err("tagged dependency".to_string())
                        } else {
                            Ok(deps)
                        }
                    });
                match parsed {
                    Ok(deps) if !already_broken => list.extend(deps),
                    _ => {
                        if !list.is_empty() {
                            self.unparsed.push((letter, dep::format_list(list)));
                            list.clear();
                        }
                        self.unparsed.push((letter, value.to_owned()));
                        // Kept in writing order (stable within a letter).
                        self.unparsed
                            .sort_by_key(|(l, _)| b"Dpir".iter().position(|c| c == l));
                    }
                }
            }
            b'q' => self.replaces_priority = Some(num(value, "replaces priority")?),
            b'g' => self
                .tags
                .extend(value.split_ascii_whitespace().map(str::to_owned)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Appends this record's lines (no trailing blank line) in apk's field order.
    pub fn write_fields(&self, out: &mut String) {
        use std::fmt::Write;
        let mut line = |letter: char, value: &dyn std::fmt::Display| {
            let _ = writeln!(out, "{letter}:{value}");
        };
        if let Some(c) = &self.checksum {
            line('C', c);
        }
        line('P', &self.name);
        line('V', &self.version);
        let texts = [
            ('A', &self.arch),
            ('S', &self.size.map(|v| v.to_string())),
            ('I', &self.installed_size.map(|v| v.to_string())),
            ('T', &self.description),
            ('U', &self.url),
            ('L', &self.license),
            ('o', &self.origin),
            ('m', &self.maintainer),
            ('t', &self.build_time.map(|v| v.to_string())),
            ('c', &self.commit),
            ('k', &self.provider_priority.map(|v| v.to_string())),
        ];
        for (letter, value) in texts {
            if let Some(v) = value {
                line(letter, v);
            }
        }
        for (letter, list) in [
            ('D', &self.depends),
            ('p', &self.provides),
            ('i', &self.install_if),
            ('r', &self.replaces),
        ] {
            // Tags come after the index fields, as apk-tools writes its database.
            if letter == 'r' && !self.tags.is_empty() {
                line('g', &self.tags.join(" "));
            }
            if !list.is_empty() {
                line(letter, &dep::format_list(list));
            }
            for (_, raw) in self.unparsed.iter().filter(|(l, _)| *l as char == letter) {
                line(letter, raw);
            }
        }
        if let Some(q) = self.replaces_priority {
            line('q', &q);
        }
        for (letter, value) in &self.extra {
            line(*letter as char, value);
        }
    }
}

/// One `X:value` line split into its letter and value.
pub fn split_field(line: &str) -> Option<(u8, &str)> {
    let b = line.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        Some((b[0], &line[2..]))
    } else {
        None
    }
}

/// The field letters a [`RecordRef`] keeps in slots, in apk's writing order.
const LETTERS: &[u8; 19] = b"CPVASITULomtckDpirq";

const fn slot_table() -> [u8; 128] {
    let mut t = [u8::MAX; 128];
    let mut i = 0;
    while i < LETTERS.len() {
        t[LETTERS[i] as usize] = i as u8;
        i += 1;
    }
    t
}
const SLOTS: [u8; 128] = slot_table();

/// One record of an index text, borrowed from it: the hot path of index loading, which
/// allocates nothing per field. Names, versions and numbers are checked; dependency
/// fields are kept as text and parsed by whoever needs them.
#[derive(Debug, Clone)]
pub struct RecordRef<'a> {
    /// Line number of the record's first line.
    pub line: usize,
    /// The text the record is part of.
    base: &'a str,
    /// Where each known field's value sits in `base` (offset, length); `ABSENT` when
    /// the record has no such field. Offsets instead of slices: a record is held for
    /// every package of an index at once, and this keeps it at 200 bytes, not 340.
    known: [(u32, u32); 19],
    /// Fields with letters apk-rs does not interpret, in order.
    pub extra: Vec<(u8, &'a str)>,
}

const ABSENT: (u32, u32) = (u32::MAX, 0);

impl PartialEq for RecordRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.line == other.line && self.fields().eq(other.fields())
    }
}

impl Eq for RecordRef<'_> {}

impl<'a> RecordRef<'a> {
    fn new(base: &'a str, line: usize) -> Self {
        RecordRef {
            line,
            base,
            known: [ABSENT; 19],
            extra: Vec::new(),
        }
    }

    fn slot(&self, slot: usize) -> Option<&'a str> {
        let (at, len) = *self.known.get(slot)?;
        if (at, len) == ABSENT {
            return None;
        }
        self.base.get(at as usize..at as usize + len as usize)
    }

    /// The value of field `letter` (`b'P'`, `b'D'`, ...).
    pub fn get(&self, letter: u8) -> Option<&'a str> {
        match SLOTS.get(letter as usize) {
            Some(&slot) if slot != u8::MAX => self.slot(slot as usize),
            _ => self
                .extra
                .iter()
                .find(|(l, _)| *l == letter)
                .map(|(_, v)| *v),
        }
    }

    pub fn name(&self) -> &'a str {
        self.slot(1).unwrap_or("")
    }

    pub fn version(&self) -> &'a str {
        self.slot(2).unwrap_or("")
    }

    /// Every field, known letters in apk's order, then the others.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &'a str)> + '_ {
        LETTERS
            .iter()
            .enumerate()
            .filter_map(|(i, l)| self.slot(i).map(|v| (*l, v)))
            .chain(self.extra.iter().copied())
    }

    /// Where the record lies in the text it was parsed from: the offsets of its first
    /// field's letter and of its last value's end (`None` for a record without fields).
    /// Read from the fields' offsets, without looking at their text.
    pub fn extent(&self) -> Option<(usize, usize)> {
        let base = self.base.as_ptr() as usize;
        let known = self
            .known
            .iter()
            .filter(|&&f| f != ABSENT)
            .map(|&(at, len)| (at as usize, at as usize + len as usize));
        let extra = self.extra.iter().map(|(_, v)| {
            let at = (v.as_ptr() as usize).wrapping_sub(base);
            (at, at.wrapping_add(v.len()))
        });
        let (first, end) = known
            .chain(extra)
            .fold((usize::MAX, 0), |(a, b), (s, e)| (a.min(s), b.max(e)));
        if first == usize::MAX {
            return None;
        }
        // Each value follows its two-byte `X:` prefix on the same line.
        let start = first.checked_sub(2)?;
        (end <= self.base.len()).then_some((start, end))
    }

    /// The text the record's offsets are into.
    pub fn base(&self) -> &'a str {
        self.base
    }

    /// The dependency-list fields (`D:`, `p:`, `i:`, `r:`) in the order [`fields`]
    /// gives them, without walking the other letters (index loading reads these and a
    /// few others by letter).
    ///
    /// [`fields`]: RecordRef::fields
    pub fn dependency_fields(&self) -> impl Iterator<Item = (u8, &'a str)> + '_ {
        const FIRST: usize = 14;
        debug_assert_eq!(&LETTERS[FIRST..FIRST + 4], b"Dpir");
        (FIRST..FIRST + 4)
            .filter_map(|i| self.slot(i).map(|v| (LETTERS[i], v)))
            .chain(
                self.extra
                    .iter()
                    .copied()
                    .filter(|(l, _)| matches!(l, b'D' | b'p' | b'i' | b'r')),
            )
    }

    /// The owned, typed form.
    pub fn to_info(&self) -> std::result::Result<PackageInfo, FieldError> {
        let mut pkg = PackageInfo::default();
        for (letter, value) in self.fields() {
            if !pkg.set_field(letter, value)? {
                pkg.extra.push((letter, value.to_owned()));
            }
        }
        Ok(pkg)
    }

    fn set(&mut self, letter: u8, value: &'a str) -> std::result::Result<(), FieldError> {
        let slot = SLOTS.get(letter as usize).copied().unwrap_or(u8::MAX);
        let repeated_list = matches!(letter, b'D' | b'p' | b'i' | b'r')
            && slot != u8::MAX
            && self.known[slot as usize] != ABSENT;
        if slot == u8::MAX || repeated_list {
            self.extra.push((letter, value));
            return Ok(());
        }
        let number = |what: &'static str| -> std::result::Result<(), FieldError> {
            value
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| FieldError::NotANumber {
                    what,
                    value: value.to_owned(),
                })
        };
        match letter {
            b'P' if !dep::is_valid_name(value) => {
                return Err(FieldError::InvalidName(value.to_owned()))
            }
            b'S' => number("size")?,
            b'I' => number("installed size")?,
            b't' => number("build time")?,
            b'k' => number("provider priority")?,
            b'q' => number("replaces priority")?,
            _ => {}
        }
        // `value` is a slice of `base` (the parser's), which an index limit keeps far
        // below 4 GiB; anything else is kept as an extra field rather than lost.
        let at = (value.as_ptr() as usize).wrapping_sub(self.base.as_ptr() as usize);
        let inside = at
            .checked_add(value.len())
            .is_some_and(|end| end <= self.base.len());
        match (u32::try_from(at), u32::try_from(value.len())) {
            (Ok(at), Ok(len)) if inside && at != u32::MAX => self.known[slot as usize] = (at, len),
            _ => self.extra.push((letter, value)),
        }
        Ok(())
    }
}

/// Parses an index text into borrowed records. `what` names the source in errors.
pub fn parse_refs<'a>(text: &'a str, what: &str) -> Result<Vec<RecordRef<'a>>> {
    let mut parts = parse_ref_parts(text, what)?.into_iter();
    let mut records = parts.next().unwrap_or_default();
    records.extend(parts.flatten());
    Ok(records)
}

/// [`parse_refs`] in parts, in order: a large text is parsed in two halves on two
/// threads (split between records), which are kept apart so that they need not be
/// copied into one list. The records and the first error are those of parsing it in
/// one go.
pub fn parse_ref_parts<'a>(text: &'a str, what: &str) -> Result<Vec<Vec<RecordRef<'a>>>> {
    const PARALLEL_PARSE: usize = 256 << 10;
    let split = (text.len() >= PARALLEL_PARSE)
        .then(|| memchr::memmem::find(&text.as_bytes()[text.len() / 2..], b"\n\n"))
        .flatten()
        .map(|at| text.len() / 2 + at + 2);
    let Some(split) = split else {
        return Ok(vec![parse_refs_from(text, 0, what)?]);
    };
    let (first, second) = text.split_at(split);
    let (head, tail) = std::thread::scope(|s| {
        let tail = s.spawn(|| {
            let lines = memchr::memchr_iter(b'\n', first.as_bytes()).count();
            parse_refs_from(second, lines, what)
        });
        (parse_refs_from(first, 0, what), tail.join())
    });
    let head = head?;
    match tail {
        Ok(tail) => Ok(vec![head, tail?]),
        Err(_) => Err(Error::format(what, "index parser failed")),
    }
}

/// About how many records `text` has (one more than its blank lines): for reserving
/// room before they are parsed.
pub fn count_records(text: &str) -> usize {
    memchr::memmem::find_iter(text.as_bytes(), b"\n\n").count() + 1
}

/// How a streamed parse ([`parse_ref_parts_streamed`]) ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Streamed {
    /// Every part parsed, every record passed the check, and all were handed over.
    Whole,
    /// A part did not parse or had a record failing the check: the parts before it
    /// were handed over, it and those after it were not.
    Broken,
}

/// [`parse_ref_parts`] with every record checked by `check`, and the parts handed to
/// `each` on this thread as soon as they are parsed and checked, while a second thread
/// parses the next: loading an index adds one part's records to its pool while the
/// next part parses, instead of waiting for them all. `each` returning an error stops
/// the parsing.
pub fn parse_ref_parts_streamed<'a, E>(
    text: &'a str,
    what: &str,
    check: &(dyn Fn(&RecordRef<'_>) -> bool + Sync),
    mut each: impl FnMut(&[RecordRef<'a>]) -> std::result::Result<(), E>,
) -> std::result::Result<Streamed, E> {
    /// About 128 KiB a part: a thousand Alpine records.
    const PART: usize = 128 << 10;
    if text.len() < 2 * PART {
        return match parse_refs_from(text, 0, what) {
            Ok(part) if part.iter().all(check) => each(&part).map(|()| Streamed::Whole),
            _ => Ok(Streamed::Broken),
        };
    }
    type Part<'a> = Vec<RecordRef<'a>>;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Part<'a>>>(2);
        // Parts handed over come back to be filled again: a few vectors serve the
        // whole text, instead of one allocated (and faulted in) for every part.
        let (give_back, given_back) = std::sync::mpsc::channel::<Part<'a>>();
        s.spawn(move || {
            let (mut rest, mut base) = (text, 0);
            while !rest.is_empty() {
                // Parts end after a blank line (a record's end), or at the text's end.
                let end = rest
                    .as_bytes()
                    .get(PART..)
                    .and_then(|tail| memchr::memmem::find(tail, b"\n\n"))
                    .map_or(rest.len(), |at| PART + at + 2);
                let (part, after) = rest.split_at(end);
                let mut records = given_back
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(end / 96));
                let parsed = parse_refs_into(part, base, what, &mut records)
                    .ok()
                    .filter(|()| records.iter().all(check))
                    .map(|()| records);
                let broken = parsed.is_none();
                if tx.send(parsed).is_err() || broken {
                    return;
                }
                base += memchr::memchr_iter(b'\n', part.as_bytes()).count();
                rest = after;
            }
        });
        // The parts in order, until the sender is done (or stopped at a broken one).
        for parsed in rx {
            let Some(mut records) = parsed else {
                return Ok(Streamed::Broken);
            };
            each(&records)?;
            records.clear();
            let _ = give_back.send(records);
        }
        Ok(Streamed::Whole)
    })
}

/// Parses `text`, whose first line is line `base + 1` of the source, into `out`.
fn parse_refs_from<'a>(text: &'a str, base: usize, what: &str) -> Result<Vec<RecordRef<'a>>> {
    // Room for records of 96 bytes on average (Alpine's average 380, the shortest
    // sensible ones 60): room never used is never touched, so costs no memory, while
    // growing copied the records and touched twice their size in fresh pages.
    let mut out = Vec::with_capacity(text.len() / 96);
    parse_refs_into(text, base, what, &mut out)?;
    Ok(out)
}

/// [`parse_refs_from`] into `out` (cleared first), for a caller reusing its vector.
fn parse_refs_into<'a>(
    text: &'a str,
    base: usize,
    what: &str,
    out: &mut Vec<RecordRef<'a>>,
) -> Result<()> {
    out.clear();
    let mut cur: Option<RecordRef<'a>> = None;
    let finish = |r: RecordRef<'a>, out: &mut Vec<RecordRef<'a>>| -> Result<()> {
        if r.name().is_empty() {
            return Err(Error::parse(
                what,
                r.line,
                "record has no package name (P:)",
            ));
        }
        if r.version().is_empty() {
            return Err(Error::parse(
                what,
                r.line,
                format!("package '{}' has no version (V:)", r.name()),
            ));
        }
        out.push(r);
        Ok(())
    };
    for (n, line) in lines(text).enumerate() {
        let n = n + base;
        if line.is_empty() {
            if let Some(r) = cur.take() {
                finish(r, out)?;
            }
            continue;
        }
        let (letter, value) = split_field(line).ok_or_else(|| {
            Error::parse(what, n + 1, format!("expected 'X:value', got '{line}'"))
        })?;
        let rec = cur.get_or_insert_with(|| RecordRef::new(text, n + 1));
        rec.set(letter, value)
            .map_err(|m| Error::parse(what, n + 1, m))?;
    }
    if let Some(r) = cur.take() {
        finish(r, out)?;
    }
    Ok(())
}

/// The lines of `text` split at each '\n' only, as `str::split('\n')` gives them (a
/// final empty line after a trailing newline included), found with SIMD: records'
/// lines are short, and the generic splitter's per-line cost showed in profiles.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .chain(std::iter::once(text.len()))
        .map(move |end| {
            // Both ends sit at a '\n' or the text's end: char boundaries.
            let line = text.get(start..end).unwrap_or("");
            start = end + 1;
            line
        })
}

/// Iterates over the records of an index-like text (the installed database), yielding
/// each record's lines with their numbers and the number of its first line.
pub fn records(text: &str) -> impl Iterator<Item = (usize, Vec<(usize, &str)>)> {
    // Split on '\n' only: a '\r' belongs to the value, so that rewriting is exact.
    let mut lines = lines(text).enumerate().peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some_and(|(_, l)| l.is_empty()) {
            lines.next();
        }
        let (start, _) = *lines.peek()?;
        let mut fields = Vec::with_capacity(20);
        while let Some((n, l)) = lines.next_if(|(_, l)| !l.is_empty()) {
            fields.push((n + 1, l));
        }
        Some((start + 1, fields))
    })
}

/// Parses a whole APKINDEX text into owned records. `what` names the source in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<PackageInfo>> {
    parse_refs(text, what)?
        .iter()
        .map(|r| r.to_info().map_err(|m| Error::parse(what, r.line, m)))
        .collect()
}

/// Writes records as an APKINDEX text: each record followed by a blank line.
pub fn write(pkgs: &[PackageInfo]) -> String {
    let text = |pkgs: &[PackageInfo]| {
        let mut out = String::with_capacity(pkgs.len() * 400);
        for p in pkgs {
            p.write_fields(&mut out);
            out.push('\n');
        }
        out
    };
    // A large index is written in two halves at once (about a microsecond a record,
    // on the serial tail of `apk index`).
    if pkgs.len() < PARALLEL_WRITE {
        return text(pkgs);
    }
    let (first, second) = pkgs.split_at(pkgs.len() / 2);
    std::thread::scope(|s| {
        let later = s.spawn(|| text(second));
        let mut out = text(first);
        match later.join() {
            Ok(rest) => out.push_str(&rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// From this many records on, [`write`] formats on two threads.
const PARALLEL_WRITE: usize = 1024;

/// The verified, unparsed contents of an `APKINDEX.tar.gz`.
#[derive(Debug, Clone, Default)]
pub struct RawIndex {
    pub description: Option<String>,
    pub text: String,
    pub signatures: Vec<crate::sign::Signature>,
}

/// From this many signed bytes on, an index's signature is checked on its own thread.
const PARALLEL_CHECK: usize = 64 << 10;

impl RawIndex {
    /// Reads and checks an `APKINDEX.tar.gz` (see [`IndexArchive::read`]).
    pub fn read(bytes: &[u8], keys: Option<&crate::sign::Keyring>, what: &str) -> Result<Self> {
        use crate::v2::archive;
        let (signatures, start) = crate::v2::signed::read_signature_member(bytes, what)?;
        let check = |signed: &[u8]| -> Result<()> {
            let Some(keys) = keys else { return Ok(()) };
            if signatures.is_empty() {
                return Err(Error::untrusted(
                    what,
                    "UNTRUSTED signature (index is not signed)",
                ));
            }
            if !keys.verify_any(&signatures, &crate::sign::StreamDigests::of(signed)) {
                return Err(Error::untrusted(what, "UNTRUSTED signature"));
            }
            Ok(())
        };
        // What is signed is the member after the signatures, which in an index runs to
        // the file's end: that is checked on a second core while the member inflates
        // (the two are most of opening an index: 2 ms and 4 ms for Alpine's main).
        let rest = start..bytes.len();
        let (member, trusted) = std::thread::scope(|s| {
            let checking = (keys.is_some() && bytes.len() - start >= PARALLEL_CHECK)
                .then(|| s.spawn(|| check(&bytes[rest.clone()])));
            let member = archive::inflate_member(bytes, start, archive::INDEX_LIMIT, what);
            (member, checking.map(|h| h.join()))
        });
        let member = member?;
        match trusted {
            // Checked over the right bytes (a file of more members is checked again).
            Some(Ok(r)) if member.compressed == rest => r?,
            _ => check(&bytes[member.compressed.clone()])?,
        }
        let mut out = RawIndex {
            signatures,
            ..Default::default()
        };
        let mut index = None;
        for (header, range) in archive::small_tar_extents(&member.data, what)? {
            match header.path.as_str() {
                "DESCRIPTION" => {
                    // Kept as written (abuild's "main " included), as apk-tools prints it.
                    let d = String::from_utf8_lossy(&member.data[range]);
                    out.description = Some(d.into_owned());
                }
                "APKINDEX" => index = Some(range),
                _ => {}
            }
        }
        let range = index.ok_or_else(|| Error::format(what, "no APKINDEX in the archive"))?;
        // The text is cut out of the inflated tar in place (no copy of the index).
        let mut text = member.data;
        text.truncate(range.end);
        text.drain(..range.start);
        out.text = String::from_utf8(text).map_err(|e| {
            Error::format(
                what,
                format!(
                    "APKINDEX is not UTF-8 (byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        Ok(out)
    }
}

/// A repository index as `APKINDEX.tar.gz` carries it.
#[derive(Debug, Clone, Default)]
pub struct IndexArchive {
    pub description: Option<String>,
    pub packages: Vec<PackageInfo>,
    pub signatures: Vec<crate::sign::Signature>,
}

impl IndexArchive {
    /// Reads an `APKINDEX.tar.gz`. With `keys`, a signature by one of them must cover the
    /// index stream; without, signatures are read but not checked (`--allow-untrusted`).
    pub fn read(bytes: &[u8], keys: Option<&crate::sign::Keyring>, what: &str) -> Result<Self> {
        let raw = RawIndex::read(bytes, keys, what)?;
        Ok(IndexArchive {
            packages: parse(&raw.text, &format!("{what}: APKINDEX"))?,
            description: raw.description,
            signatures: raw.signatures,
        })
    }

    /// The unsigned archive: a gzip'ed tar of `DESCRIPTION` (when set) and `APKINDEX`.
    /// Sign it with [`crate::v2::signed::resign`].
    pub fn write(&self, mtime: u64) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::format("APKINDEX.tar.gz", e.to_string());
        let mut w = crate::v2::archive::TarWriter::apk();
        if let Some(d) = &self.description {
            w.file("DESCRIPTION", 0o644, mtime, d.as_bytes())
                .map_err(io)?;
        }
        w.file("APKINDEX", 0o644, mtime, write(&self.packages).as_bytes())
            .map_err(io)?;
        Ok(crate::v2::archive::gzip_fast(&w.finish().map_err(io)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_index(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "C:Q1{i:027}=\nP:pkg{i}\nV:1.{i}-r0\nA:x86_64\nS:{i}\nI:{i}\n\
                     T:package number {i}\nD:so:libc.musl-x86_64.so.1 pkg{}>=1.0\n\n",
                    i / 2
                )
            })
            .collect()
    }

    #[test]
    fn a_large_index_parses_in_parts_as_in_one_go() {
        let text = big_index(6_000);
        assert!(text.len() >= 256 << 10);
        let parts = parse_ref_parts(&text, "x").expect("parses");
        assert_eq!(parts.len(), 2, "parsed on two threads");
        let whole = parse_refs_from(&text, 0, "x").expect("parses");
        let joined: Vec<_> = parts.into_iter().flatten().collect();
        assert_eq!(joined, whole);
        assert_eq!(joined[5_999].line, whole[5_999].line);
        assert_eq!(
            joined[5_999].get(b'D'),
            Some("so:libc.musl-x86_64.so.1 pkg2999>=1.0")
        );

        // An error in the second half names the line of the whole text; an error in
        // the first half wins over one in the second, as reading in order finds it.
        let late = text.replace("P:pkg5000\n", "P:pkg5000\nS:many\n");
        let e = parse_refs(&late, "x").expect_err("bad size");
        let e1 = parse_refs_from(&late, 0, "x").expect_err("bad size");
        assert_eq!(e.to_string(), e1.to_string());
        assert!(e.to_string().contains("line 45003:"), "{e}");
        let both = late.replace("P:pkg10\n", "P:pkg10\nI:lots\n");
        let e = parse_refs(&both, "x").expect_err("bad size");
        assert!(e.to_string().contains("line 93:"), "{e}");
    }

    #[test]
    fn a_streamed_parse_hands_over_every_part_in_order_or_stops_at_a_broken_one() {
        let text = big_index(6_000);
        let whole = parse_refs_from(&text, 0, "x").expect("parses");
        let (mut got, mut parts) = (Vec::new(), 0);
        let end = parse_ref_parts_streamed(&text, "x", &|_| true, |part| {
            parts += 1;
            got.extend(
                part.iter()
                    .map(|r| (r.line, r.name().to_owned(), r.get(b'D'))),
            );
            Ok::<(), ()>(())
        });
        assert_eq!(end, Ok(Streamed::Whole));
        assert!(parts > 2, "{parts} parts");
        let want: Vec<_> = whole
            .iter()
            .map(|r| (r.line, r.name().to_owned(), r.get(b'D')))
            .collect();
        assert_eq!(got, want);

        // A record failing the check in a late part: the parts before it only.
        let late = |r: &RecordRef<'_>| r.name() != "pkg5000";
        let mut names = Vec::new();
        let end = parse_ref_parts_streamed(&text, "x", &late, |part| {
            names.extend(part.iter().map(|r| r.name().to_owned()));
            Ok::<(), ()>(())
        });
        assert_eq!(end, Ok(Streamed::Broken));
        assert!(!names.is_empty() && names.len() < 5_000, "{}", names.len());
        assert_eq!(
            names[..],
            want[..names.len()]
                .iter()
                .map(|w| w.1.clone())
                .collect::<Vec<_>>()[..]
        );
        // Text that does not parse, likewise; an error from the receiver stops it all.
        let bad = text.replace("P:pkg4000\n", "P:pkg4000\nS:many\n");
        let end = parse_ref_parts_streamed(&bad, "x", &|_| true, |_| Ok::<(), ()>(()));
        assert_eq!(end, Ok(Streamed::Broken));
        let mut calls = 0;
        let end = parse_ref_parts_streamed(&text, "x", &|_| true, |_| {
            calls += 1;
            Err("enough")
        });
        assert_eq!((end, calls), (Err("enough"), 1));
    }

    #[test]
    fn a_records_extent_covers_its_fields_and_nothing_else() {
        let text = format!(
            "{SAMPLE}P:again\nD:a\nZ:x\nV:2\nD:b c\n\n{}",
            big_index(4_000)
        );
        let parts = parse_ref_parts(&text, "x").expect("parses");
        assert_eq!(parts.len(), 2);
        let mut seen = 0;
        for rec in parts.iter().flatten() {
            // From the walk over every field's text, as offsets into the whole text.
            let whole = text.as_ptr() as usize;
            let (mut first, mut end) = (usize::MAX, 0);
            for (_, v) in rec.fields() {
                let at = v.as_ptr() as usize - whole;
                first = first.min(at - 2);
                end = end.max(at + v.len());
            }
            let part = rec.base().as_ptr() as usize - whole;
            let (a, b) = rec.extent().expect("has fields");
            assert_eq!(
                (part + a, part + b),
                (first, end),
                "record at line {}",
                rec.line
            );
            let span = &text[first..end];
            assert!(span.starts_with(&format!("{}:", span.as_bytes()[0] as char)));
            assert!(!span.contains("\n\n") && !span.ends_with('\n'));
            seen += 1;
        }
        assert_eq!(seen, 4_003);
        let again = parts[0]
            .iter()
            .find(|r| r.name() == "again")
            .expect("record");
        let (a, b) = again.extent().expect("fields");
        assert_eq!(&again.base()[a..b], "P:again\nD:a\nZ:x\nV:2\nD:b c");
    }

    #[test]
    fn a_large_index_is_written_in_halves_as_in_one_go() {
        let text = big_index(3_000);
        let pkgs = parse(&text, "x").expect("parses");
        assert!(pkgs.len() >= PARALLEL_WRITE);
        let written = write(&pkgs);
        let mut one_by_one = String::new();
        for p in &pkgs {
            p.write_fields(&mut one_by_one);
            one_by_one.push('\n');
        }
        assert_eq!(written, one_by_one);
        // Every record once, in order, the two either side of the split included.
        assert_eq!(written.matches("\nP:pkg").count(), 3_000);
        let at = |name: &str| written.find(name).expect(name);
        assert!(at("\nP:pkg1499\nV:1.1499-r0\n") < at("\nP:pkg1500\nV:1.1500-r0\n"));
        assert!(written.ends_with("D:so:libc.musl-x86_64.so.1 pkg1499>=1.0\n\n"));
    }

    const SAMPLE: &str = "C:Q1ZX+on7zBgcokTctj4tLSmx7q5O4=
P:git-zsh-completion
V:5.8.1-r4
A:x86_64
S:97492
I:405504
T:Zsh completions for git: the good kind
U:https://www.zsh.org/
L:custom
o:zsh
m:Natanael Copa <ncopa@alpinelinux.org>
t:1647977252
c:0c813d4276d2e36ead29ca22b6c01045d86db58b
k:10
D:zsh so:libc.musl-x86_64.so.1
p:cmd:foo=1 bar
i:zsh=5.8.1-r4 git
r:oldgit
q:5
Z:future field

P:minimal
V:1

";

    #[test]
    fn parses_every_field_and_round_trips() {
        let pkgs = parse(SAMPLE, "sample").unwrap();
        assert_eq!(pkgs.len(), 2);
        let p = &pkgs[0];
        assert_eq!(p.name, "git-zsh-completion");
        assert_eq!(p.size, Some(97492));
        assert_eq!(p.installed_size, Some(405504));
        assert_eq!(p.provider_priority, Some(10));
        assert_eq!(
            p.description.as_deref(),
            Some("Zsh completions for git: the good kind")
        );
        assert_eq!(p.depends.len(), 2);
        assert_eq!(p.provides[0].to_string(), "cmd:foo=1");
        assert_eq!(p.install_if.len(), 2);
        assert_eq!(p.replaces_priority, Some(5));
        assert_eq!(p.extra, vec![(b'Z', "future field".to_string())]);
        assert_eq!(write(&pkgs), SAMPLE);
    }

    #[test]
    fn errors_name_the_line() {
        // apk-tools does not validate index versions: the record is kept as written.
        let pkgs = parse("P:a\nV:1\n\nP:b\nV:notaversion\n", "idx").unwrap();
        assert_eq!(pkgs[1].version, "notaversion");
        let e = parse("P:a\nS:x\n\n", "idx").unwrap_err();
        assert_eq!(e.to_string(), "idx: line 2: invalid size 'x': not a number");
        let e = parse("P:a\ngarbage\n", "idx").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse("P:a\nS:12x\n", "idx").unwrap_err();
        assert!(e.to_string().contains("invalid size"), "{e}");
        let e = parse("V:1\n", "idx").unwrap_err();
        assert!(e.to_string().contains("no package name"), "{e}");
        // A bad dependency does not fail the index: the package is kept, marked broken;
        // only a bad `D:` makes it uninstallable, as apk-tools has it.
        let text = "P:a\nV:1\nD:b\np:pc:x=v2.4\n\n";
        let pkgs = parse(text, "idx").unwrap();
        assert!(pkgs[0].is_broken() && pkgs[0].provides.is_empty());
        assert!(!pkgs[0].is_uninstallable());
        let bad_depends = parse("P:a\nV:1\nD:b=v2\n\n", "idx").unwrap();
        assert!(bad_depends[0].is_uninstallable());
        assert_eq!(write(&pkgs), text);
        let e = parse("V:1\n", "idx").unwrap_err();
        assert!(e.to_string().contains("no package name"), "{e}");
    }
}
