//! `.PKGINFO`: the `key = value` metadata file at the head of a package's control stream,
//! as abuild writes it. Keys may repeat (`depend`, `provides`, `replaces`, ...); comments
//! start with `#`. Kept as an ordered list so that a rewrite is exact.

use crate::dep::{self, Dependency};
use crate::error::{Error, Result};
use crate::version;
use crate::PackageInfo;

/// A `datahash` that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid datahash '{0}'")]
pub struct InvalidDatahash(pub String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkgInfo {
    /// Lines in order: `Some((key, value))` for fields, `None` entries are not stored;
    /// comments are kept separately as they only lead the file.
    pub comments: Vec<String>,
    pub fields: Vec<(String, String)>,
}

/// A `.PKGINFO` line split at its first ` = `, else at its first `=`: what
/// `split_once(" = ")` then `split_once('=')` give, without building a substring
/// searcher for every line (40,000 of them, 2% of `apk index` over 2,000 packages).
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let mut first = None;
    for i in memchr::memchr_iter(b'=', b) {
        if i > 0 && b[i - 1] == b' ' && b.get(i + 1) == Some(&b' ') {
            // The spaces are ASCII: both cuts fall on character boundaries.
            return Some((&line[..i - 1], &line[i + 2..]));
        }
        first.get_or_insert(i);
    }
    first.map(|i| (&line[..i], &line[i + 1..]))
}

impl PkgInfo {
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let mut out = PkgInfo::default();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(c) = trimmed.strip_prefix('#') {
                out.comments.push(c.to_owned());
                continue;
            }
            let (k, v) = split_key_value(line).ok_or_else(|| {
                Error::parse(what, n + 1, format!("expected 'key = value', got '{line}'"))
            })?;
            let key = k.trim();
            if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return Err(Error::parse(what, n + 1, format!("invalid key '{key}'")));
            }
            out.fields.push((key.to_owned(), v.trim().to_owned()));
        }
        Ok(out)
    }

    pub fn write(&self) -> String {
        let mut s = String::new();
        for c in &self.comments {
            s.push('#');
            s.push_str(c);
            s.push('\n');
        }
        for (k, v) in &self.fields {
            // A comment between fields (abuild's `# automatically detected:`).
            if k == "#" {
                s.push('#');
                s.push_str(v);
                s.push('\n');
                continue;
            }
            s.push_str(k);
            s.push_str(" = ");
            s.push_str(v);
            s.push('\n');
        }
        s
    }

    /// The value of `key`: of a key given twice, the later line's, as apk-tools
    /// reads them.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Appends a comment line after the fields so far (written as `#value`).
    pub fn push_comment(&mut self, text: impl Into<String>) {
        self.fields.push(("#".to_owned(), text.into()));
    }

    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.fields.push((key.to_owned(), value.into()));
    }

    /// Sets `key` to `value`, replacing its first occurrence or appending it.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(f) => f.1 = value.into(),
            None => self.push(key, value),
        }
    }

    /// The `datahash` (SHA-256 of the data stream), when present.
    pub fn datahash(&self) -> Option<Result<[u8; 32], InvalidDatahash>> {
        self.get("datahash").map(|h| {
            crate::checksum::decode_hex(h)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| InvalidDatahash(h.to_owned()))
        })
    }

    /// Index metadata for this package (without `C:` and `S:`, which come from the file).
    pub fn to_package_info(&self, what: &str) -> Result<PackageInfo> {
        let bad = |msg: String| Error::format(what, msg);
        let mut p = PackageInfo {
            name: self.get("pkgname").unwrap_or("").to_owned(),
            version: self.get("pkgver").unwrap_or("").to_owned(),
            ..PackageInfo::default()
        };
        if !dep::is_valid_name(&p.name) {
            return Err(bad(format!(
                ".PKGINFO: invalid or missing pkgname '{}'",
                p.name
            )));
        }
        if !version::is_valid(&p.version) {
            return Err(bad(format!(
                ".PKGINFO: invalid or missing pkgver '{}'",
                p.version
            )));
        }
        let text = |k: &str| self.get(k).map(str::to_owned);
        let number = |k: &str| -> Result<Option<u64>> {
            self.get(k)
                .map(|v| {
                    v.parse()
                        .map_err(|_| bad(format!(".PKGINFO: {k} '{v}' is not a number")))
                })
                .transpose()
        };
        let deps = |k: &str| -> Result<Vec<Dependency>> {
            let mut out = Vec::new();
            for v in self.all(k) {
                out.extend(dep::parse_list(v).map_err(|e| bad(format!(".PKGINFO: {k}: {e}")))?);
            }
            Ok(out)
        };
        p.description = text("pkgdesc");
        p.url = text("url");
        p.arch = text("arch");
        p.license = text("license");
        p.origin = text("origin");
        p.maintainer = text("maintainer");
        p.commit = text("commit");
        p.installed_size = number("size")?;
        p.build_time = number("builddate")?;
        p.provider_priority = number("provider_priority")?.map(|v| v as u32);
        p.replaces_priority = number("replaces_priority")?.map(|v| v as u32);
        p.depends = deps("depend")?;
        p.provides = deps("provides")?;
        p.replaces = deps("replaces")?;
        p.install_if = deps("install_if")?;
        Ok(p)
    }

    /// Trigger paths (`triggers = /usr/share/foo/* /etc/bar`).
    pub fn triggers(&self) -> Vec<String> {
        self.all("triggers")
            .flat_map(|v| v.split_ascii_whitespace())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Generated by abuild 3.9.0
# using fakeroot version 1.25.3
pkgname = hello
pkgver = 1.0-r0
pkgdesc = Says hello = loudly
url = https://example.org
builddate = 1700000000
packager = Someone <a@b>
size = 4096
arch = x86_64
origin = hello
license = MIT
depend = libc
depend = so:libfoo.so.1
provides = cmd:hello=1.0-r0
install_if = a b
replaces = oldhello
provider_priority = 10
triggers = /usr/share/a/* /etc/b
datahash = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
";

    #[test]
    fn parses_and_round_trips() {
        let p = PkgInfo::parse(SAMPLE, ".PKGINFO").unwrap();
        assert_eq!(p.write(), SAMPLE);
        let info = p.to_package_info("hello.apk").unwrap();
        assert_eq!(info.name, "hello");
        assert_eq!(info.description.as_deref(), Some("Says hello = loudly"));
        assert_eq!(info.installed_size, Some(4096));
        assert_eq!(dep::format_list(&info.depends), "libc so:libfoo.so.1");
        assert_eq!(dep::format_list(&info.install_if), "a b");
        assert_eq!(info.provider_priority, Some(10));
        assert_eq!(p.triggers(), vec!["/usr/share/a/*", "/etc/b"]);
        assert_eq!(p.datahash().unwrap().unwrap()[1], 0x11);
    }

    #[test]
    fn rejects_bad_metadata() {
        assert!(PkgInfo::parse("pkgname hello\n", "x").is_err());
        let p = PkgInfo::parse("pkgname = hello\npkgver = one\n", "x").unwrap();
        let e = p.to_package_info("hello.apk").unwrap_err();
        assert!(e.to_string().contains("invalid or missing pkgver"), "{e}");
        let p = PkgInfo::parse("pkgname = hello\npkgver = 1\nsize = big\n", "x").unwrap();
        assert!(p.to_package_info("x").is_err());
        let p = PkgInfo::parse("pkgname = a\npkgver = 1\ndatahash = xyz\n", "x").unwrap();
        assert!(p.datahash().unwrap().is_err());
    }

    #[test]
    fn a_line_splits_where_the_first_spaced_equals_is_else_at_the_first_equals() {
        use proptest::prelude::*;
        fn reference(l: &str) -> Option<(&str, &str)> {
            l.split_once(" = ").or_else(|| l.split_once('='))
        }
        for l in [
            "a = b",
            "a=b = c",
            "a = b = c",
            "a==b",
            "=",
            " = ",
            "a =b",
            "a= b",
            "ab",
            "",
        ] {
            assert_eq!(split_key_value(l), reference(l), "{l:?}");
        }
        proptest!(|(l in "[a =é]{0,12}")| {
            prop_assert_eq!(split_key_value(&l), reference(&l));
        });
    }
}
