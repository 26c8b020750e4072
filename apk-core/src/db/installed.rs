//! The local state of a root: the installed database (`lib/apk/db/installed`), the world
//! (`etc/apk/world`) and the architecture (`etc/apk/arch`).
//!
//! The installed database is an APKINDEX-style text where each package record is followed
//! by its files: `F:` a directory (with `M:uid:gid:mode` when not root-owned 0755), then
//! `R:` a file in it, `a:uid:gid:mode` its owner and mode when not the default, `Z:` its
//! checksum. `r:` (replaces), `q:` (replaces priority), `s:` (repository tag) and `f:`
//! (broken flags) may come between the record and its files.

use apk_format::dep::Dependency;
use apk_format::error::{Error, Result};
use apk_format::v2::apkindex;
use apk_format::PackageInfo;

/// `uid:gid:mode[:xattrs]` of an `M:` or `a:` line (mode in octal; the digest of the
/// extended attributes, `Q1...`, when there are any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Acl {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub xattrs: Option<[u8; 20]>,
}

impl Acl {
    pub fn parse(s: &str) -> Option<Acl> {
        let mut it = s.splitn(4, ':');
        let uid = it.next()?.parse().ok()?;
        let gid = it.next()?.parse().ok()?;
        let mode = u32::from_str_radix(it.next()?, 8).ok()?;
        let xattrs = match it.next() {
            Some(d) => match apk_format::checksum::Checksum::parse(d).ok()? {
                apk_format::checksum::Checksum::Sha1(b) => Some(b),
                apk_format::checksum::Checksum::Sha256(_) => None,
            },
            None => None,
        };
        Some(Acl {
            uid,
            gid,
            mode,
            xattrs,
        })
    }

    /// Owner and mode alone.
    pub fn plain(uid: u32, gid: u32, mode: u32) -> Acl {
        Acl {
            uid,
            gid,
            mode,
            xattrs: None,
        }
    }
}

impl std::fmt::Display for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{:o}", self.uid, self.gid, self.mode)?;
        if let Some(d) = self.xattrs {
            write!(f, ":{}", apk_format::checksum::Checksum::Sha1(d))?;
        }
        Ok(())
    }
}

/// A file of an installed package. Kept small (56 bytes besides its name, no other
/// allocation of its own): a database lists every file of the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    pub name: Box<str>,
    /// Only where it differs from root's 0644 (`a:`); shared by every file with the
    /// same owner and mode (a root has a handful of them).
    pub acl: Option<std::sync::Arc<Acl>>,
    /// `Z:` as written (`Q1...`).
    pub checksum: Option<FileSum>,
}

impl InstalledFile {
    pub fn new(name: &str, acl: Option<Acl>, checksum: Option<&str>) -> InstalledFile {
        InstalledFile {
            name: name.into(),
            acl: acl.map(shared_acl),
            checksum: checksum.map(FileSum::from),
        }
    }

    /// Its owner and mode, when they differ from root's 0644.
    pub fn acl(&self) -> Option<Acl> {
        self.acl.as_deref().copied()
    }
}

/// The one shared copy of `acl` (made on first use).
fn shared_acl(acl: Acl) -> std::sync::Arc<Acl> {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex, OnceLock};
    static SHARED: OnceLock<Mutex<HashSet<Arc<Acl>>>> = OnceLock::new();
    let mut set = match SHARED.get_or_init(Default::default).lock() {
        Ok(set) => set,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(a) = set.get(&acl) {
        return a.clone();
    }
    let a = Arc::new(acl);
    set.insert(a.clone());
    a
}

/// A file's `Z:` as written: the usual form (`Q1` and the SHA-1 in 28 base64
/// characters) held inline, anything else boxed.
#[derive(Clone, PartialEq, Eq)]
pub enum FileSum {
    Q1([u8; 30]),
    Other(Box<str>),
}

impl From<&str> for FileSum {
    fn from(s: &str) -> FileSum {
        match <[u8; 30]>::try_from(s.as_bytes()) {
            Ok(b) if s.starts_with("Q1") => FileSum::Q1(b),
            _ => FileSum::Other(s.into()),
        }
    }
}

impl std::ops::Deref for FileSum {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // Made from a `str` of exactly these bytes, so it is UTF-8.
            FileSum::Q1(b) => std::str::from_utf8(b).unwrap_or_default(),
            FileSum::Other(s) => s,
        }
    }
}

impl std::fmt::Display for FileSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for FileSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDir {
    pub path: String,
    pub acl: Option<Acl>,
    pub files: Vec<InstalledFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledPackage {
    pub info: PackageInfo,
    pub dirs: Vec<InstalledDir>,
}

impl InstalledPackage {
    /// Every file path (relative to the root) this package owns.
    pub fn file_paths(&self) -> impl Iterator<Item = String> + '_ {
        self.dirs.iter().flat_map(|d| {
            d.files.iter().map(move |f| {
                if d.path.is_empty() {
                    f.name.to_string()
                } else {
                    format!("{}/{}", d.path, f.name)
                }
            })
        })
    }
}

/// Parses `lib/apk/db/installed`. `what` names the file in errors.
pub fn parse_installed(text: &str, what: &str) -> Result<Vec<InstalledPackage>> {
    let mut out = Vec::new();
    for (start, fields) in apkindex::records(text) {
        let mut pkg = InstalledPackage::default();
        for (line_no, line) in fields {
            let err = |m: String| Error::parse(what, line_no, m);
            let (letter, value) = apkindex::split_field(line)
                .ok_or_else(|| err(format!("expected 'X:value', got '{line}'")))?;
            let acl =
                || Acl::parse(value).ok_or_else(|| err(format!("invalid owner/mode '{value}'")));
            match letter {
                b'F' => pkg.dirs.push(InstalledDir {
                    path: value.to_owned(),
                    acl: None,
                    files: Vec::new(),
                }),
                b'M' => {
                    let dir = pkg
                        .dirs
                        .last_mut()
                        .ok_or_else(|| err("M: before any F:".into()))?;
                    dir.acl = Some(acl()?);
                }
                b'R' => {
                    let dir = pkg
                        .dirs
                        .last_mut()
                        .ok_or_else(|| err("R: before any F:".into()))?;
                    dir.files.push(InstalledFile::new(value, None, None));
                }
                b'a' | b'Z' => {
                    let file = pkg
                        .dirs
                        .last_mut()
                        .and_then(|d| d.files.last_mut())
                        .ok_or_else(|| err(format!("{}: before any R:", letter as char)))?;
                    if letter == b'a' {
                        file.acl = Some(shared_acl(acl()?));
                    } else {
                        file.checksum = Some(FileSum::from(value));
                    }
                }
                _ => match pkg.info.set_field(letter, value) {
                    Ok(true) => {}
                    Ok(false) => pkg.info.extra.push((letter, value.to_owned())),
                    Err(m) => return Err(err(m.to_string())),
                },
            }
        }
        pkg.info
            .validate()
            .map_err(|m| Error::parse(what, start, m))?;
        out.push(pkg);
    }
    Ok(out)
}

/// Writes `lib/apk/db/installed`.
pub fn write_installed(pkgs: &[InstalledPackage]) -> String {
    write_installed_from(pkgs.iter())
}

/// Writes `lib/apk/db/installed` from packages in database order.
pub fn write_installed_from<'a>(pkgs: impl Iterator<Item = &'a InstalledPackage>) -> String {
    let mut whole = String::new();
    let _ = write_installed_in_parts(pkgs, |part| {
        whole.push_str(part);
        Ok(())
    });
    whole
}

/// Writes `lib/apk/db/installed` from packages in database order, handing `sink` the
/// text in parts of about 64 KiB (a root's database need not be whole in memory
/// beside the database it is written from).
pub fn write_installed_in_parts<'a>(
    pkgs: impl Iterator<Item = &'a InstalledPackage>,
    mut sink: impl FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::fmt::Write;
    const PART: usize = 64 << 10;
    let mut out = String::with_capacity(PART + PART / 2);
    let mut hand_over_if_full = |out: &mut String| -> std::io::Result<()> {
        if out.len() >= PART {
            sink(out)?;
            out.clear();
        }
        Ok(())
    };
    for p in pkgs {
        // apk-tools writes `S:`, `I:`, `T:`, `U:` and `L:` for every installed package,
        // empty or not.
        let filled;
        let i = &p.info;
        let info = if i.size.is_none()
            || i.installed_size.is_none()
            || i.description.is_none()
            || i.url.is_none()
            || i.license.is_none()
        {
            let mut q = i.clone();
            q.size.get_or_insert(0);
            q.installed_size.get_or_insert(0);
            for f in [&mut q.description, &mut q.url, &mut q.license] {
                f.get_or_insert_with(String::new);
            }
            filled = q;
            &filled
        } else {
            i
        };
        if p.dirs.is_empty() {
            // apk-tools 3 writes `r:`, `q:`, `s:` and `f:` together with the first
            // directory, so a package without one loses them; so do we, or the two tools
            // would read the same root differently.
            let mut info = info.clone();
            info.replaces.clear();
            info.replaces_priority = None;
            info.extra.retain(|(k, _)| !matches!(k, b's' | b'f'));
            info.write_fields(&mut out);
        } else {
            info.write_fields(&mut out);
        }
        for d in &p.dirs {
            let _ = writeln!(out, "F:{}", d.path);
            if let Some(a) = d.acl {
                let _ = writeln!(out, "M:{a}");
            }
            for f in &d.files {
                let _ = writeln!(out, "R:{}", f.name);
                if let Some(a) = &f.acl {
                    let _ = writeln!(out, "a:{a}");
                }
                if let Some(z) = &f.checksum {
                    let _ = writeln!(out, "Z:{z}");
                }
                hand_over_if_full(&mut out)?;
            }
        }
        out.push('\n');
        hand_over_if_full(&mut out)?;
    }
    sink(&out)
}

/// Parses `etc/apk/world`: dependency atoms separated by white space.
pub fn parse_world(text: &str, what: &str) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for atom in line.split_ascii_whitespace() {
            out.push(
                Dependency::parse(atom).map_err(|e| Error::parse(what, n + 1, e.to_string()))?,
            );
        }
    }
    Ok(out)
}

/// Writes the world as apk does: one atom per line, sorted by name.
pub fn write_world(deps: &[Dependency]) -> String {
    let mut sorted: Vec<&Dependency> = deps.iter().collect();
    sorted.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
    let mut out = String::new();
    for d in sorted {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    // apk-tools ends the file with a newline even when the world is empty.
    if out.is_empty() {
        out.push('\n');
    }
    out
}

/// Parses `etc/apk/arch`: the first word is the primary architecture.
pub fn parse_arch(text: &str) -> Option<String> {
    text.split_ascii_whitespace().next().map(str::to_owned)
}

/// The architecture apk-tools was built for on this machine, as Alpine names it.
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "x86",
        "arm" => "armv7",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE=
P:musl
V:1.2.3-r0
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1649396308
c:ee13d43a53938d8a04ba787b9423f3270a3c14a7
p:so:libc.musl-x86_64.so.1=1
r:musl-dev
q:1
s:edge
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yy4QeOCUBBC1JvLuw4cJNgbaNZM=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=
F:var/empty
M:0:0:555
F:etc
R:shadow
a:0:42:640

C:Q1C4uoV7SdMdDhYg4OCVmI71D8HIA=
P:b
V:1

";

    #[test]
    fn installed_round_trip() {
        let pkgs = parse_installed(INSTALLED, "installed").unwrap();
        assert_eq!(pkgs.len(), 2);
        let musl = &pkgs[0];
        assert_eq!(musl.dirs.len(), 3);
        assert_eq!(musl.dirs[0].files[1].acl(), Some(Acl::plain(0, 0, 0o777)));
        assert_eq!(musl.dirs[1].acl.map(|a| a.mode), Some(0o555));
        assert_eq!(musl.info.replaces_priority, Some(1));
        assert_eq!(musl.info.extra, vec![(b's', "edge".to_string())]);
        let paths: Vec<String> = musl.file_paths().collect();
        assert_eq!(
            paths,
            [
                "lib/ld-musl-x86_64.so.1",
                "lib/libc.musl-x86_64.so.1",
                "etc/shadow"
            ]
        );
        // What apk-tools writes back: every record with its size, description, URL
        // and license lines, empty or not.
        let written = INSTALLED.replace("P:b\nV:1\n", "P:b\nV:1\nS:0\nI:0\nT:\nU:\nL:\n");
        assert_eq!(write_installed(&pkgs), written);
    }

    #[test]
    fn acls_with_extended_attribute_digests_round_trip() {
        let line = "0:0:755:Q1b88EjgEp9Cf6JyKbOVcRZcO1WJM=";
        let acl = Acl::parse(line).unwrap();
        assert_eq!((acl.uid, acl.gid, acl.mode), (0, 0, 0o755));
        assert!(acl.xattrs.is_some());
        assert_eq!(acl.to_string(), line);
        assert_eq!(Acl::parse("1:2:644").unwrap(), Acl::plain(1, 2, 0o644));
        assert!(Acl::parse("0:0:755:nonsense").is_none());
    }

    #[test]
    fn installed_errors() {
        let e = parse_installed("P:a\nV:1\nR:orphan\n", "db").unwrap_err();
        assert_eq!(e.to_string(), "db: line 3: R: before any F:");
        let e = parse_installed("P:a\nV:1\nF:x\nM:0:0:9z\n", "db").unwrap_err();
        assert!(e.to_string().contains("invalid owner/mode"), "{e}");
    }

    #[test]
    fn world_round_trip() {
        let w = parse_world("busybox\nalpine-base curl>=7\n!foo\nvim@edge\n", "world").unwrap();
        assert_eq!(w.len(), 5);
        assert_eq!(
            write_world(&w),
            "alpine-base\nbusybox\ncurl>=7\n!foo\nvim@edge\n"
        );
        assert!(parse_world("a==1\n", "world").is_err());
    }
}
