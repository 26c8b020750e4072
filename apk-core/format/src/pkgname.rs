//! Package file name specifications (`--pkgname-spec`, an index's `pkgname-spec`):
//! text with `${field}` variables, each optionally cut to its first N bytes with
//! `${field:N}`, as apk-tools 3 expands them. The defaults are apk-tools' own: a file
//! next to its index is `${name}-${version}.apk`, one in a repository folder is
//! `${arch}/${name}-${version}.apk`, one in the package cache is
//! `${name}-${version}.${hash:8}.apk`.

use std::fmt;

pub const DEFAULT: &str = "${name}-${version}.apk";
pub const DEFAULT_REPO: &str = "${arch}/${name}-${version}.apk";
pub const DEFAULT_CACHE: &str = "${name}-${version}.${hash:8}.apk";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// `${` without its `}`, or a length that is not a number.
    Syntax,
    /// A variable the package does not have, or a spec whose last path part does not
    /// start with `${name}` followed by `-`, `_` or `.` (apk-tools needs that to map a
    /// file name back to its package).
    Name,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpecError::Syntax => "file format is invalid or inconsistent",
            SpecError::Name => "package name specification is invalid",
        })
    }
}

impl std::error::Error for SpecError {}

/// Expands `spec`, asking `var` for each variable's text (`None`: no such variable).
pub fn subst(spec: &str, mut var: impl FnMut(&str) -> Option<String>) -> Result<String, SpecError> {
    let mut out = String::new();
    let mut rest = spec;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or(SpecError::Syntax)?;
        let (key, limit) = match after[..end].split_once(':') {
            Some((k, n)) => (k, Some(n.parse::<usize>().map_err(|_| SpecError::Syntax)?)),
            None => (&after[..end], None),
        };
        let mut text = var(key).ok_or(SpecError::Name)?;
        if let Some(n) = limit {
            let mut cut = n.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        out.push_str(&text);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables a package has for a spec: its name, version, architecture and
/// identity (hex).
pub struct PkgVars<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub hash: &'a [u8],
}

impl PkgVars<'_> {
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "name" => self.name.to_owned(),
            "version" => self.version.to_owned(),
            "arch" => self.arch.to_owned(),
            "hash" => crate::checksum::encode_hex(self.hash),
            _ => return None,
        })
    }

    pub fn expand(&self, spec: &str) -> Result<String, SpecError> {
        subst(spec, |k| self.get(k))
    }
}

/// Checks a spec as apk-tools does before using it: it expands for a sample package,
/// and its last path part starts with `${name}` and one of `-`, `_`, `.`.
pub fn validate(spec: &str) -> Result<(), SpecError> {
    let sample = PkgVars {
        name: "test",
        version: "1",
        arch: "noarch",
        hash: &[],
    };
    sample.expand(spec)?;
    let last = spec.rsplit('/').next().unwrap_or(spec);
    match last.strip_prefix("${name}") {
        Some(r) if r.starts_with(['-', '_', '.']) => Ok(()),
        _ => Err(SpecError::Name),
    }
}

/// The last part of a path (`a/b/c.apk` → `c.apk`).
pub fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> PkgVars<'static> {
        PkgVars {
            name: "test-a",
            version: "1.0-r0",
            arch: "x86_64",
            hash: &[0xab, 0xcd, 0xef, 0x01, 0x23, 0x45],
        }
    }

    #[test]
    fn expands_variables_and_lengths() {
        let v = vars();
        assert_eq!(v.expand(DEFAULT).unwrap(), "test-a-1.0-r0.apk");
        assert_eq!(v.expand(DEFAULT_REPO).unwrap(), "x86_64/test-a-1.0-r0.apk");
        assert_eq!(
            v.expand(DEFAULT_CACHE).unwrap(),
            "test-a-1.0-r0.abcdef01.apk"
        );
        assert_eq!(
            v.expand("${name:3}/${name}-${version}.apk").unwrap(),
            "tes/test-a-1.0-r0.apk"
        );
        assert_eq!(v.expand("${name:99}").unwrap(), "test-a");
        assert_eq!(v.expand("plain").unwrap(), "plain");
    }

    #[test]
    fn refuses_bad_specs() {
        let v = vars();
        assert_eq!(v.expand("${name"), Err(SpecError::Syntax));
        assert_eq!(v.expand("${name:x}"), Err(SpecError::Syntax));
        assert_eq!(v.expand("${nope}.apk"), Err(SpecError::Name));
        assert!(validate("https://x/${arch}/${name}-${version}.apk").is_ok());
        assert!(validate("${name}_${version}.pkg").is_ok());
        assert_eq!(validate("${version}-${name}.apk"), Err(SpecError::Name));
        assert_eq!(validate("${name}${version}.apk"), Err(SpecError::Name));
    }
}
