//! `/etc/apk/repositories` (apk-repositories(5)): repository lines with optional type
//! keyword (`v2`, `v3`, `ndx`) and `@tag`, `set [-default] key=value` variables with
//! `${key}` expansion, comments. Also the `test:` scheme of the conformance runner: an
//! index file read from disk but treated as remote.
//!
//! The file is kept line by line so that rewriting it changes nothing a user wrote.

pub mod fetch;
pub mod indexer;

use std::collections::BTreeMap;

use apk_format::error::Result;
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
    /// A line apk-tools cannot use: it ends the file there, with a warning for some
    /// (`FILE:LINE: unrecogized keyword: x`), and the reason a file named on the
    /// command line failed (`repositories file syntax error`).
    Stop {
        warning: Option<String>,
        error: &'static str,
    },
}

/// Why apk-tools stopped reading a repositories file, in its words.
pub const SYNTAX_ERROR: &str = "repositories file syntax error";
pub const KEYWORD_ERROR: &str = "unsupported repositories file keyword";
pub const VARIABLE_ERROR: &str = "undefined repositories file variable";
pub const FORMAT_ERROR: &str = "file format is invalid or inconsistent";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoriesFile {
    /// Each line's text and its meaning.
    pub lines: Vec<(String, Line)>,
}

/// What the repositories of one file (or command line) came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    pub repositories: Vec<Repository>,
    /// apk-tools' warnings, without their `WARNING: `.
    pub warnings: Vec<String>,
    /// Why the file ended early, if it did.
    pub stopped: Option<&'static str>,
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
    /// Reads the file line by line, as apk-tools does: a line it cannot use ends the
    /// file ([`Line::Stop`]); nothing fails.
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let mut out = RepositoriesFile::default();
        let mut stopped = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let parsed = if stopped || line.starts_with('#') {
                Line::Comment
            } else if line.is_empty() {
                Line::Blank
            } else {
                parse_line(line, what, n + 1)
            };
            stopped |= matches!(parsed, Line::Stop { .. });
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
        let mut vars = BTreeMap::from([("APK_ARCH".to_owned(), arch.to_owned())]);
        let e = self.expand(&mut vars, what);
        Ok((e.repositories, e.warnings))
    }

    /// The repositories the file declares with `vars` (shared by every source of one
    /// database, as apk-tools shares them: `APK_ARCH`, and what `set` lines set).
    pub fn expand(&self, vars: &mut BTreeMap<String, String>, what: &str) -> Expanded {
        let mut out = Expanded::default();
        for (n, (_, line)) in self.lines.iter().enumerate() {
            let mut expand = |s: &str, vars: &BTreeMap<String, String>| {
                expand_vars(s, vars).map_err(|key| match key {
                    Some(key) => {
                        out.warnings
                            .push(format!("{what}:{}: undefined variable: {key}", n + 1));
                        VARIABLE_ERROR
                    }
                    None => FORMAT_ERROR,
                })
            };
            match line {
                Line::Set {
                    default,
                    key,
                    value,
                } => {
                    let v = match expand(value, vars) {
                        Ok(v) => v,
                        Err(why) => {
                            out.stopped = Some(why);
                            break;
                        }
                    };
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
                    let url = match expand(url, vars) {
                        Ok(u) => u,
                        Err(why) => {
                            out.stopped = Some(why);
                            break;
                        }
                    };
                    let url = url.trim_end_matches('/');
                    if !is_url(url) {
                        out.warnings
                            .push(format!("{what}:{}: invalid url: {url}", n + 1));
                        out.stopped = Some(SYNTAX_ERROR);
                        break;
                    }
                    let kind = kind.unwrap_or_else(|| default_kind(url));
                    let mut urls = Vec::new();
                    if components.is_empty() {
                        urls.push(url.to_owned());
                    }
                    let mut why = None;
                    for c in components {
                        match expand(c, vars) {
                            Ok(c) => urls.push(format!("{url}/{c}")),
                            Err(e) => {
                                why = Some(e);
                                break;
                            }
                        }
                    }
                    if why.is_some() {
                        out.stopped = why;
                        break;
                    }
                    out.repositories
                        .extend(urls.into_iter().map(|url| Repository {
                            kind,
                            tag: tag.clone(),
                            url,
                        }));
                }
                Line::Stop { warning, error } => {
                    out.warnings.extend(warning.clone());
                    out.stopped = Some(error);
                    break;
                }
                Line::Blank | Line::Comment => {}
            }
        }
        out
    }
}

/// One line (trimmed, not blank, not a comment), as apk-tools' parser reads it.
fn parse_line(line: &str, what: &str, n: usize) -> Line {
    let stop = |warning: Option<String>, error| Line::Stop { warning, error };
    let mut words = line.split_ascii_whitespace().peekable();
    let Some(&first) = words.peek() else {
        return Line::Blank;
    };
    let mut kind = None;
    if !first.starts_with('@') && !is_url(first) {
        match first {
            "set" => {
                words.next();
                let mut default = false;
                let mut rest = line["set".len()..].trim_start();
                while rest.starts_with('-') {
                    let opt = rest.split_ascii_whitespace().next().unwrap_or("");
                    if opt != "-default" {
                        return stop(
                            Some(format!("{what}:{n}: invalid option: {opt}")),
                            SYNTAX_ERROR,
                        );
                    }
                    default = true;
                    rest = rest[opt.len()..].trim_start();
                }
                let valid = |k: &str| valid_key(k) && !k.starts_with("APK_");
                return match rest.split_once('=') {
                    Some((key, value)) if valid(key) => Line::Set {
                        default,
                        key: key.to_owned(),
                        value: value.to_owned(),
                    },
                    _ => stop(
                        Some(format!("{what}:{n}: invalid variable definition: {rest}")),
                        VARIABLE_ERROR,
                    ),
                };
            }
            "v2" => kind = Some(RepoKind::V2),
            "v3" => kind = Some(RepoKind::V3),
            "ndx" => kind = Some(RepoKind::Ndx),
            // apk-tools' words (its spelling too).
            _ => {
                return stop(
                    Some(format!("{what}:{n}: unrecogized keyword: {first}")),
                    KEYWORD_ERROR,
                )
            }
        }
        words.next();
    }
    let mut tag = None;
    if let Some(t) = words.peek().and_then(|w| w.strip_prefix('@')) {
        // (apk-tools would make a tag of a lone `@`; apk-rs takes it for the error
        // it surely is.)
        if t.is_empty() {
            return stop(None, SYNTAX_ERROR);
        }
        tag = Some(t.to_owned());
        words.next();
    }
    let Some(url) = words.next() else {
        return stop(None, SYNTAX_ERROR);
    };
    Line::Repo {
        kind,
        tag,
        url: url.to_owned(),
        components: words.map(str::to_owned).collect(),
    }
}

/// `${key}` (and `${key:N}`, cut to N bytes) replaced from `vars`, as apk-tools
/// substitutes them: `Err(Some(key))` for a variable not set, `Err(None)` for a
/// reference that does not parse.
fn expand_vars(
    s: &str,
    vars: &BTreeMap<String, String>,
) -> std::result::Result<String, Option<String>> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or(None)?;
        let (key, cut) = match after[..end].split_once(':') {
            Some((k, n)) => (k, Some(n.parse::<usize>().map_err(|_| None)?)),
            None => (&after[..end], None),
        };
        let v = vars.get(key).ok_or_else(|| Some(key.to_owned()))?;
        let v = match cut {
            Some(n) => v.get(..n.min(v.len())).unwrap_or(v),
            None => v,
        };
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
        let (repos, warnings) = f.repositories_warning("x86_64", "r").unwrap();
        assert_eq!(repos.len(), 1);
        assert_eq!(
            warnings,
            ["etc/apk/repositories:2: unrecogized keyword: relative/b"]
        );
        let f = RepositoriesFile::parse("set x=rel\n/a\nv2 ${x}/b\n/c\n", "r").unwrap();
        let (repos, warnings) = f.repositories_warning("x86_64", "r").unwrap();
        assert_eq!(repos.len(), 1);
        assert_eq!(warnings, ["r:3: invalid url: rel/b"]);
    }

    #[test]
    fn lines_apk_tools_rejects_end_the_file_without_failing() {
        let stops = |text: &str| {
            let f = RepositoriesFile::parse(text, "f").unwrap();
            let mut vars = BTreeMap::from([("APK_ARCH".to_owned(), "x86_64".to_owned())]);
            let e = f.expand(&mut vars, "f");
            let urls: Vec<String> = e.repositories.into_iter().map(|r| r.url).collect();
            (urls, e.warnings, e.stopped)
        };
        // A tag or keyword without a URL: silently the end.
        assert_eq!(
            stops("/a\n@edge\n/b\n"),
            (vec!["/a".into()], vec![], Some(SYNTAX_ERROR))
        );
        assert_eq!(stops("v2\n/b\n"), (vec![], vec![], Some(SYNTAX_ERROR)));
        // ndx takes components as the others do.
        assert_eq!(
            stops("ndx /r/packages.adb x\n").0,
            ["/r/packages.adb/x".to_owned()]
        );
        assert_eq!(
            stops("set -x a=1\n/a\n"),
            (
                vec![],
                vec!["f:1: invalid option: -x".into()],
                Some(SYNTAX_ERROR)
            )
        );
        assert_eq!(
            stops("set APK_X=1\n"),
            (
                vec![],
                vec!["f:1: invalid variable definition: APK_X=1".into()],
                Some(VARIABLE_ERROR)
            )
        );
        assert_eq!(
            stops("/a\n/${nope}/b\n"),
            (
                vec!["/a".into()],
                vec!["f:2: undefined variable: nope".into()],
                Some(VARIABLE_ERROR)
            )
        );
        assert_eq!(stops("/${APK_ARCH:3}\n").0, ["/x86".to_owned()]);
        assert_eq!(stops("/${APK_ARCH\n").2, Some(FORMAT_ERROR));
    }

    #[test]
    fn variables_are_shared_between_files() {
        let mut vars = BTreeMap::from([("APK_ARCH".to_owned(), "x86_64".to_owned())]);
        let first = RepositoriesFile::parse("set mirror=/m\n", "a").unwrap();
        assert!(first.expand(&mut vars, "a").repositories.is_empty());
        let second = RepositoriesFile::parse("set -default mirror=/d\nv2 ${mirror}/main\n", "b")
            .unwrap()
            .expand(&mut vars, "b");
        assert_eq!(second.repositories[0].url, "/m/main");
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
    fn lines_in_error_name_no_repository() {
        for bad in [
            "set APK_ARCH=x",
            "set 1x=y",
            "set novalue",
            "@ https://x",
            "v2 ${nope}/x",
            "@t",
        ] {
            let f = RepositoriesFile::parse(bad, "repositories").unwrap();
            let mut vars = BTreeMap::new();
            let e = f.expand(&mut vars, "repositories");
            assert!(e.repositories.is_empty() && e.stopped.is_some(), "{bad}");
        }
    }
}
