//! The APKINDEX text format: package records of `X:value` lines separated by blank lines.
//!
//! Field letters (apk-package(5)): `C` identity, `P` name, `V` version, `A` arch, `S` file
//! size, `I` installed size, `T` description, `U` url, `L` license, `o` origin, `m`
//! maintainer, `t` build time, `c` commit, `k` provider priority, `D` depends, `p`
//! provides, `i` install_if, `r` replaces, `q` replaces priority. Unknown letters are kept
//! in order and written back after the known ones. The installed database uses the same
//! records plus file entries (see [`crate::db`]).

use crate::checksum::Checksum;
use crate::dep::{self, Dependency};
use crate::error::{Error, Result};
use crate::version;

/// Metadata of one package, as an index or the installed database records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageInfo {
    pub checksum: Option<Checksum>,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub size: Option<u64>,
    pub installed_size: Option<u64>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub license: Option<String>,
    pub origin: Option<String>,
    pub maintainer: Option<String>,
    pub build_time: Option<u64>,
    pub commit: Option<String>,
    pub provider_priority: Option<u32>,
    pub depends: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub install_if: Vec<Dependency>,
    pub replaces: Vec<Dependency>,
    pub replaces_priority: Option<u32>,
    /// Fields this version does not interpret, kept so that rewriting loses nothing.
    pub extra: Vec<(u8, String)>,
    /// Dependency fields (`D p i r`) that did not parse, kept verbatim. apk loads such a
    /// package but cannot install it: see [`PackageInfo::is_broken`].
    pub unparsed: Vec<(u8, String)>,
}

impl PackageInfo {
    /// `name-version`, as apk names a package in messages.
    pub fn nv(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Applies one `X:value` field; an error message for a malformed value. `Ok(false)`
    /// means the letter is not a package field: the caller keeps it (as `extra`, or as
    /// the database's file entries).
    pub fn set_field(&mut self, letter: u8, value: &str) -> Result<bool, String> {
        fn num<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("invalid {what} '{v}': not a number"))
        }
        match letter {
            b'C' => self.checksum = Some(Checksum::parse(value).map_err(|e| e.to_string())?),
            b'P' => {
                if !dep::is_valid_name(value) {
                    return Err(format!("invalid package name '{value}'"));
                }
                self.name = value.to_owned()
            }
            b'V' => {
                if !version::is_valid(value) {
                    return Err(format!("invalid version '{value}'"));
                }
                self.version = value.to_owned()
            }
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
                self.unparsed.retain(|(l, _)| *l != letter);
                match dep::parse_list(value) {
                    Ok(deps) => *list = deps,
                    Err(_) => {
                        list.clear();
                        self.unparsed.push((letter, value.to_owned()));
                    }
                }
            }
            b'q' => self.replaces_priority = Some(num(value, "replaces priority")?),
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
            if !list.is_empty() {
                line(letter, &dep::format_list(list));
            } else if let Some((_, raw)) = self.unparsed.iter().find(|(l, _)| *l as char == letter)
            {
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

    /// A package whose dependency fields did not all parse: listed, never installed.
    pub fn is_broken(&self) -> bool {
        !self.unparsed.is_empty()
    }

    /// Checks that the record names a package.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("record has no package name (P:)".into());
        }
        if self.version.is_empty() {
            return Err(format!("package '{}' has no version (V:)", self.name));
        }
        Ok(())
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

/// Iterates over the records of an index text, yielding each record's fields with the
/// number of the line it starts at. Fields borrow from `text`.
pub fn records(text: &str) -> impl Iterator<Item = (usize, Vec<(usize, &str)>)> {
    let mut lines = text.lines().enumerate().peekable();
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

/// Parses a whole APKINDEX text. `what` names the source in errors.
pub fn parse(text: &str, what: &str) -> Result<Vec<PackageInfo>> {
    let mut out = Vec::with_capacity(text.len() / 400);
    for (start, fields) in records(text) {
        let mut pkg = PackageInfo::default();
        for (line_no, line) in fields {
            let (letter, value) = split_field(line).ok_or_else(|| {
                Error::parse(what, line_no, format!("expected 'X:value', got '{line}'"))
            })?;
            match pkg.set_field(letter, value) {
                Ok(true) => {}
                Ok(false) => pkg.extra.push((letter, value.to_owned())),
                Err(msg) => return Err(Error::parse(what, line_no, msg)),
            }
        }
        pkg.validate()
            .map_err(|msg| Error::parse(what, start, msg))?;
        out.push(pkg);
    }
    Ok(out)
}

/// Writes records as an APKINDEX text: each record followed by a blank line.
pub fn write(pkgs: &[PackageInfo]) -> String {
    let mut out = String::with_capacity(pkgs.len() * 400);
    for p in pkgs {
        p.write_fields(&mut out);
        out.push('\n');
    }
    out
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
        use crate::archive;
        let (signatures, start) = crate::package::read_signature_member(bytes, what)?;
        let member = archive::inflate_member(bytes, start, archive::INDEX_LIMIT, what)?;
        if let Some(keys) = keys {
            let digests = crate::sign::StreamDigests::of(&bytes[member.compressed.clone()]);
            if signatures.is_empty() {
                return Err(Error::signature(
                    what,
                    "UNTRUSTED signature (index is not signed)",
                ));
            }
            if !keys.verify_any(&signatures, &digests) {
                return Err(Error::signature(what, "UNTRUSTED signature"));
            }
        }
        let mut out = IndexArchive {
            signatures,
            ..Default::default()
        };
        let mut text = None;
        for entry in archive::read_small_tar(&member.data, what)? {
            match entry.header.path.as_str() {
                "DESCRIPTION" => {
                    out.description =
                        Some(String::from_utf8_lossy(&entry.data).trim_end().to_owned())
                }
                "APKINDEX" => text = Some(entry.data),
                _ => {}
            }
        }
        let text = text.ok_or_else(|| Error::format(what, "no APKINDEX in the archive"))?;
        let text = std::str::from_utf8(&text).map_err(|e| {
            Error::format(
                what,
                format!("APKINDEX is not UTF-8 (byte {})", e.valid_up_to()),
            )
        })?;
        out.packages = parse(text, &format!("{what}: APKINDEX"))?;
        Ok(out)
    }

    /// The unsigned archive: a gzip'ed tar of `DESCRIPTION` (when set) and `APKINDEX`.
    /// Sign it with [`crate::package::resign`].
    pub fn write(&self, mtime: u64) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::format("APKINDEX.tar.gz", e.to_string());
        let mut w = crate::archive::TarWriter::new();
        if let Some(d) = &self.description {
            w.file("DESCRIPTION", 0o644, 0, 0, mtime, d.as_bytes(), None)
                .map_err(io)?;
        }
        w.file(
            "APKINDEX",
            0o644,
            0,
            0,
            mtime,
            write(&self.packages).as_bytes(),
            None,
        )
        .map_err(io)?;
        Ok(crate::archive::gzip(&w.finish().map_err(io)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = parse("P:a\nV:1\n\nP:b\nV:notaversion\n", "idx").unwrap_err();
        assert_eq!(e.to_string(), "idx: line 5: invalid version 'notaversion'");
        let e = parse("P:a\ngarbage\n", "idx").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse("P:a\nS:12x\n", "idx").unwrap_err();
        assert!(e.to_string().contains("invalid size"), "{e}");
        let e = parse("V:1\n", "idx").unwrap_err();
        assert!(e.to_string().contains("no package name"), "{e}");
        // A bad dependency does not fail the index: the package is kept, marked broken.
        let text = "P:a\nV:1\nD:b\np:pc:x=v2.4\n\n";
        let pkgs = parse(text, "idx").unwrap();
        assert!(pkgs[0].is_broken() && pkgs[0].provides.is_empty());
        assert_eq!(write(&pkgs), text);
        let e = parse("V:1\n", "idx").unwrap_err();
        assert!(e.to_string().contains("no package name"), "{e}");
    }
}
