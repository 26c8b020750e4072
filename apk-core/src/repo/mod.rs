//! `/etc/apk/repositories` (apk-repositories(5)): repository lines with optional type
//! keyword (`v2`, `v3`, `ndx`) and `@tag`, `set [-default] key=value` variables with
//! `${key}` expansion, comments. Also the `test:` scheme of the conformance runner: an
//! index file read from disk but treated as remote.
//!
//! The file is kept line by line so that rewriting it changes nothing a user wrote.

pub mod fetch;
pub mod indexer;

use std::collections::BTreeMap;

use apk_format::error::{Error, Result};
use apk_format::pkgname::{self, PkgVars, SpecError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    /// A repository directory with `<arch>/APKINDEX.tar.gz`.
    V2,
    /// A repository directory with `<arch>/Packages.adb` (apk 3 format; not read yet).
    V3,
    /// A URL naming the index file itself.
    Ndx,
}

/// A repository after variable expansion and component splitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub kind: RepoKind,
    pub tag: Option<String>,
    pub url: String,
}

impl Repository {
    /// Builds a repository from a URL as given with `-X` (the default type rules).
    pub fn from_url(url: &str, tag: Option<&str>) -> Self {
        Repository {
            kind: default_kind(url),
            tag: tag.map(str::to_owned),
            url: url.trim_end_matches('/').to_owned(),
        }
    }

    /// The repositories a command line `-X` value names, as apk-tools reads one (no
    /// keywords, no check of the URL): `[@TAG] URL [COMPONENT...]`, a repository for
    /// each component; a tag without a URL names none.
    pub fn from_command_line(value: &str) -> Vec<Self> {
        let mut words = value.split_ascii_whitespace();
        let Some(mut url) = words.next() else {
            return Vec::new();
        };
        let mut tag = None;
        if let Some(t) = url.strip_prefix('@') {
            tag = Some(t);
            match words.next() {
                Some(u) => url = u,
                None => return Vec::new(),
            }
        }
        let base = Repository::from_url(url, tag);
        let components: Vec<&str> = words.collect();
        if components.is_empty() {
            return vec![base];
        }
        components
            .iter()
            .map(|c| Repository {
                url: format!("{}/{c}", base.url),
                ..base.clone()
            })
            .collect()
    }

    /// True for repositories fetched over the network (masked by `--no-network`).
    pub fn is_remote(&self) -> bool {
        ["http://", "https://", "ftp://", "test:"]
            .iter()
            .any(|p| self.url.starts_with(p))
    }

    /// Where the index of `arch` lives.
    pub fn index_url(&self, arch: &str) -> String {
        match self.kind {
            RepoKind::Ndx => self.url.clone(),
            RepoKind::V2 => format!("{}/{arch}/APKINDEX.tar.gz", self.url),
            RepoKind::V3 => format!("{}/{arch}/Packages.adb", self.url),
        }
    }

    /// Where a package file lives: by the index's own name specification when it has
    /// one, else by apk-tools' default for the repository's kind. A spec holding `://`
    /// is a whole URL; any other is below the repository's base (an index file's
    /// folder, `.` for a bare file name).
    pub fn package_url(
        &self,
        spec: Option<&str>,
        vars: &PkgVars<'_>,
    ) -> std::result::Result<String, SpecError> {
        let (base, default) = match self.kind {
            RepoKind::Ndx => (
                self.url.rsplit_once('/').map_or(".", |(b, _)| b),
                pkgname::DEFAULT,
            ),
            RepoKind::V2 | RepoKind::V3 => (self.url.as_str(), pkgname::DEFAULT_REPO),
        };
        let spec = spec.unwrap_or(default);
        let name = vars.expand(spec)?;
        Ok(if spec.contains("://") {
            name
        } else {
            format!("{base}/{name}")
        })
    }

    /// A local filesystem path for `url` (plain path, relative or absolute, `file:`,
    /// `test:`), if it is one: as apk-tools has it, anything but `scheme://...`.
    pub fn local_path(url: &str) -> Option<&str> {
        if url.starts_with('/') {
            return Some(url);
        }
        if let Some(p) = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("test:"))
        {
            return Some(p.strip_prefix("//").map_or(p, |_| &p[1..]));
        }
        let head = &url.as_bytes()[..url.len().min(10)];
        match head.iter().position(|&c| c == b':') {
            Some(i) if url[i + 1..].starts_with("//") => None,
            _ => Some(url),
        }
    }
}

fn default_kind(url: &str) -> RepoKind {
    if url.ends_with(".tar.gz") || url.ends_with(".adb") {
        RepoKind::Ndx
    } else {
        RepoKind::V2
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Blank,
    Comment,
    Set {
        default: bool,
        key: String,
        value: String,
    },
    Repo {
        kind: Option<RepoKind>,
        tag: Option<String>,
        url: String,
        components: Vec<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoriesFile {
    /// Each line's text and its meaning.
    pub lines: Vec<(String, Line)>,
    /// Lines skipped with apk-tools' warning (`FILE:LINE: unrecogized keyword: x`).
    pub warnings: Vec<String>,
}

/// A repository URL as apk-tools 3 recognises one in a repositories file: an absolute
/// path or `scheme://...`.
fn is_url(word: &str) -> bool {
    word.starts_with('/') || word.contains("://")
}

fn valid_key(k: &str) -> bool {
    k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RepositoriesFile {
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let mut out = RepositoriesFile::default();
        // As apk-tools reads a file: a line it cannot use ends the file.
        let mut stopped = false;
        for (n, raw) in text.lines().enumerate() {
            if stopped {
                out.lines.push((raw.to_owned(), Line::Comment));
                continue;
            }
            let err = |m: String| Error::parse(what, n + 1, m);
            let line = raw.trim();
            let parsed = if line.is_empty() {
                Line::Blank
            } else if line.starts_with('#') {
                Line::Comment
            } else {
                let mut words = line.split_ascii_whitespace().peekable();
                if words.peek() == Some(&"set") {
                    words.next();
                    let mut default = false;
                    if words.peek() == Some(&"-default") {
                        words.next();
                        default = true;
                    }
                    let assign = words
                        .next()
                        .ok_or_else(|| err("set: missing key=value".into()))?;
                    let (key, value) = assign
                        .split_once('=')
                        .ok_or_else(|| err(format!("set: expected key=value, got '{assign}'")))?;
                    if !valid_key(key) || key.starts_with("APK_") {
                        return Err(err(format!("set: invalid variable name '{key}'")));
                    }
                    Line::Set {
                        default,
                        key: key.to_owned(),
                        value: value.to_owned(),
                    }
                } else if words.peek().is_some_and(|w| {
                    !w.starts_with('@') && !is_url(w) && !matches!(*w, "v2" | "v3" | "ndx")
                }) {
                    // apk-tools' words (its spelling too); the line is left out.
                    out.warnings.push(format!(
                        "{what}:{}: unrecogized keyword: {}",
                        n + 1,
                        words.peek().copied().unwrap_or("")
                    ));
                    stopped = true;
                    Line::Comment
                } else {
                    let kind = match words.peek() {
                        Some(&"v2") => Some(RepoKind::V2),
                        Some(&"v3") => Some(RepoKind::V3),
                        Some(&"ndx") => Some(RepoKind::Ndx),
                        _ => None,
                    };
                    if kind.is_some() {
                        words.next();
                    }
                    let mut tag = None;
                    if let Some(t) = words.peek().and_then(|w| w.strip_prefix('@')) {
                        if t.is_empty() {
                            return Err(err("empty repository tag".into()));
                        }
                        tag = Some(t.to_owned());
                        words.next();
                    }
                    let url = words
                        .next()
                        .ok_or_else(|| err("missing repository URL".into()))?;
                    let components: Vec<String> = words.map(str::to_owned).collect();
                    if kind == Some(RepoKind::Ndx) && !components.is_empty() {
                        return Err(err("components are not valid with ndx".into()));
                    }
                    Line::Repo {
                        kind,
                        tag,
                        url: url.to_owned(),
                        components,
                    }
                }
            };
            out.lines.push((raw.to_owned(), parsed));
        }
        Ok(out)
    }

    pub fn write(&self) -> String {
        let mut s = String::new();
        for (raw, _) in &self.lines {
            s.push_str(raw);
            s.push('\n');
        }
        s
    }

    /// The repositories the file declares, in order, with variables expanded.
    pub fn repositories(&self, arch: &str) -> Result<Vec<Repository>> {
        self.repositories_warning(arch, "repositories")
            .map(|(r, _)| r)
    }

    /// [`repositories`](Self::repositories), and apk-tools' warnings for the lines
    /// left out (`WHAT:LINE: invalid url: x`).
    pub fn repositories_warning(
        &self,
        arch: &str,
        what: &str,
    ) -> Result<(Vec<Repository>, Vec<String>)> {
        let mut warnings = Vec::new();
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("APK_ARCH".into(), arch.into());
        let mut out = Vec::new();
        for (n, (_, line)) in self.lines.iter().enumerate() {
            let expand =
                |s: &str| expand_vars(s, &vars).map_err(|m| Error::parse("repositories", n + 1, m));
            match line {
                Line::Set {
                    default,
                    key,
                    value,
                } => {
                    let v = expand(value)?;
                    if !*default || !vars.contains_key(key) {
                        vars.insert(key.clone(), v);
                    }
                }
                Line::Repo {
                    kind,
                    tag,
                    url,
                    components,
                } => {
                    let url = expand(url)?;
                    let url = url.trim_end_matches('/');
                    if !is_url(url) {
                        // apk-tools stops reading the file there.
                        warnings.push(format!("{what}:{}: invalid url: {url}", n + 1));
                        break;
                    }
                    let kind = kind.unwrap_or_else(|| default_kind(url));
                    if components.is_empty() {
                        out.push(Repository {
                            kind,
                            tag: tag.clone(),
                            url: url.to_owned(),
                        });
                    }
                    for c in components {
                        out.push(Repository {
                            kind,
                            tag: tag.clone(),
                            url: format!("{url}/{}", expand(c)?),
                        });
                    }
                }
                Line::Blank | Line::Comment => {}
            }
        }
        Ok((out, warnings))
    }
}

fn expand_vars(s: &str, vars: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated variable in '{s}'"))?;
        let key = &after[..end];
        let v = vars
            .get(key)
            .ok_or_else(|| format!("undefined variable '{key}'"))?;
        out.push_str(v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_repository_may_carry_a_tag_and_components() {
        let urls = |v: &str| -> Vec<(Option<String>, String)> {
            Repository::from_command_line(v)
                .into_iter()
                .map(|r| (r.tag, r.url))
                .collect()
        };
        assert_eq!(urls("/srv/repo/"), [(None, "/srv/repo".to_owned())]);
        assert_eq!(
            urls("@edge https://mirror/alpine/edge main community"),
            [
                (
                    Some("edge".into()),
                    "https://mirror/alpine/edge/main".into()
                ),
                (
                    Some("edge".into()),
                    "https://mirror/alpine/edge/community".into()
                )
            ]
        );
        assert!(urls("@edge").is_empty());
        assert!(urls("  ").is_empty());
    }

    const FILE: &str = "# main mirrors
https://dl-cdn.alpinelinux.org/alpine/v3.16/main
@edge https://dl-cdn.alpinelinux.org/alpine/edge/testing

set -default mirror=https://example.com/distro
set mirror=https://mirror.example.com/distro
set -default mirror=https://ignored.example.com
v3 ${mirror} main community
ndx @local file:///srv/repo/x86_64/APKINDEX.tar.gz
/srv/local/
test:///tmp/idx/APKINDEX.tar.gz
v2 ${mirror}/${APK_ARCH}-extra
";

    #[test]
    fn a_line_apk_tools_cannot_use_ends_the_file() {
        let f = RepositoriesFile::parse("/a\nrelative/b\n/c\n", "etc/apk/repositories").unwrap();
        assert_eq!(
            f.warnings,
            ["etc/apk/repositories:2: unrecogized keyword: relative/b"]
        );
        let (repos, warnings) = f.repositories_warning("x86_64", "r").unwrap();
        assert_eq!(repos.len(), 1);
        assert!(warnings.is_empty());
        let f = RepositoriesFile::parse("set x=rel\n/a\nv2 ${x}/b\n/c\n", "r").unwrap();
        let (repos, warnings) = f.repositories_warning("x86_64", "r").unwrap();
        assert_eq!(repos.len(), 1);
        assert_eq!(warnings, ["r:3: invalid url: rel/b"]);
    }

    #[test]
    fn parses_expands_and_round_trips() {
        let f = RepositoriesFile::parse(FILE, "repositories").unwrap();
        assert_eq!(f.write(), FILE);
        let repos = f.repositories("x86_64").unwrap();
        let urls: Vec<&str> = repos.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://dl-cdn.alpinelinux.org/alpine/v3.16/main",
                "https://dl-cdn.alpinelinux.org/alpine/edge/testing",
                "https://mirror.example.com/distro/main",
                "https://mirror.example.com/distro/community",
                "file:///srv/repo/x86_64/APKINDEX.tar.gz",
                "/srv/local",
                "test:///tmp/idx/APKINDEX.tar.gz",
                "https://mirror.example.com/distro/x86_64-extra",
            ]
        );
        assert_eq!(repos[1].tag.as_deref(), Some("edge"));
        assert_eq!(repos[2].kind, RepoKind::V3);
        assert_eq!(repos[4].kind, RepoKind::Ndx);
        assert_eq!(repos[6].kind, RepoKind::Ndx);
        assert!(repos[6].is_remote() && repos[0].is_remote() && !repos[5].is_remote());
        assert_eq!(
            repos[0].index_url("x86_64"),
            "https://dl-cdn.alpinelinux.org/alpine/v3.16/main/x86_64/APKINDEX.tar.gz"
        );
        let a = PkgVars {
            name: "a",
            version: "1-r0",
            arch: "x86_64",
            hash: &[1, 2],
        };
        assert_eq!(
            repos[4].package_url(None, &a).unwrap(),
            "file:///srv/repo/x86_64/a-1-r0.apk"
        );
        assert_eq!(
            repos[4]
                .package_url(Some("${name}.${hash}.apk"), &a)
                .unwrap(),
            "file:///srv/repo/x86_64/a.0102.apk"
        );
        assert_eq!(
            repos[4]
                .package_url(Some("https://x/${arch}/${name}.apk"), &a)
                .unwrap(),
            "https://x/x86_64/a.apk"
        );
        let bare = Repository::from_url("index.adb", None);
        assert_eq!(bare.package_url(None, &a).unwrap(), "./a-1-r0.apk");
        let v2 = Repository::from_url("https://h/main", None);
        assert_eq!(
            v2.package_url(None, &a).unwrap(),
            "https://h/main/x86_64/a-1-r0.apk"
        );
        assert_eq!(
            Repository::local_path(&repos[4].url),
            Some("/srv/repo/x86_64/APKINDEX.tar.gz")
        );
        assert_eq!(
            Repository::local_path(&repos[6].url),
            Some("//tmp/idx/APKINDEX.tar.gz")
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "set APK_ARCH=x",
            "set 1x=y",
            "set novalue",
            "@ https://x",
            "ndx https://x/i.tar.gz main",
            "v2 ${nope}/x",
            "@t",
        ] {
            let r =
                RepositoriesFile::parse(bad, "repositories").and_then(|f| f.repositories("x86_64"));
            assert!(r.is_err(), "{bad}");
        }
    }
}
