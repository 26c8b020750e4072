//! `apk audit` (apk-audit(8)): what in the root differs from what the installed
//! database recorded.
//!
//! Each finding is a letter and a path: `A` file added, `D` directory no package has
//! (`d` with `-r`, which then looks inside), `U` contents changed, `M` owner or mode
//! changed (with `--check-permissions`), `m` the same for a directory, `X` file
//! deleted, `e` unreadable. The root is walked from its top (or from the folders
//! given) as apk-tools walks it: `--backup` (the default) goes only where protected
//! paths lie and reports changed configuration (and every file under a `!` rule),
//! `--system` looks at what packages installed outside configuration, `--full` at
//! everything but configuration and apk's own state, with its own path rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::db::installed::{Acl, InstalledFile};
use crate::db::protect::{ProtectedPaths, Protection};
use crate::db::state::Installed;
use crate::fs::rootfs::current_checksum;
use apk_format::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Configuration files only.
    #[default]
    Backup,
    /// Files installed by packages, except configuration.
    System,
    /// As `System`, and what no package installed.
    Full,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub mode: Mode,
    pub check_permissions: bool,
    pub recursive: bool,
    /// Directories to audit, relative to the root; the whole root when empty.
    pub dirs: Vec<String>,
    /// `--details`: what the database recorded and what was found, for each finding.
    pub details: bool,
    /// `--ignore-busybox-symlinks`: unrecorded links to busybox are not reported.
    pub ignore_busybox_symlinks: bool,
    /// `--protected-paths FILE`: these rules instead of the root's.
    pub rules: Option<String>,
}

/// Owner, group, mode and content hash (hex) of a path: as recorded, or as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: char,
    /// The path, relative to the root; directories end with `/`.
    pub path: String,
    /// The package owning the path, if one does, as `name-version`.
    pub package: Option<String>,
    /// With `details`: what the database recorded, and what is there.
    pub recorded: Option<Stat>,
    pub found: Option<Stat>,
}

/// `--full` judges paths by these rules instead of the root's: configuration is left
/// alone, and so are apk's own state and the kernel's and users' trees.
const FULL_RULES: &str =
    "+etc\n@etc/init.d\n-dev\n-home\n-lib/apk\n-lib/rc/cache\n-proc\n-root\n-run\n-sys\n-tmp\n-var\n";

struct Recorded<'a> {
    file: &'a InstalledFile,
    package: String,
    /// Its package came from a v3 file (`f:S`): the digests are SHA-256 cut to 160
    /// bits.
    sha256_160: bool,
}

struct Auditor<'a> {
    root: &'a Path,
    opts: &'a Options,
    protect: ProtectedPaths,
    /// Recorded files by directory, then name.
    files: BTreeMap<String, BTreeMap<&'a str, Recorded<'a>>>,
    /// Directories some package lists, with the owner and mode of the first one.
    dirs: BTreeMap<String, Option<Acl>>,
    /// Recorded files seen on disk (`dir`, `name`).
    seen: BTreeSet<(String, String)>,
    /// Directories the walk went into (missing files are looked for there only).
    visited: BTreeSet<String>,
    findings: Vec<Finding>,
}

/// Audits `root` against its installed database.
pub fn audit(root: &Path, opts: &Options) -> Result<Vec<Finding>> {
    let state = Installed::load(root)?;
    let protect = if let Some(rules) = &opts.rules {
        let mut p = ProtectedPaths::empty();
        p.add_rules(rules);
        p
    } else if opts.mode == Mode::Full {
        let mut p = ProtectedPaths::empty();
        p.add_rules(FULL_RULES);
        p
    } else {
        ProtectedPaths::load(root)
    };
    let mut files: BTreeMap<String, BTreeMap<&str, Recorded>> = BTreeMap::new();
    let mut dirs: BTreeMap<String, Option<Acl>> = BTreeMap::new();
    for p in state.packages() {
        let sha256_160 = p
            .info
            .extra
            .iter()
            .any(|(l, v)| *l == b'f' && v.contains('S'));
        for d in &p.dirs {
            dirs.entry(d.path.clone()).or_insert(d.acl);
            let entry = files.entry(d.path.clone()).or_default();
            for f in &d.files {
                entry.insert(
                    &f.name,
                    Recorded {
                        file: f,
                        package: p.info.nv(),
                        sha256_160,
                    },
                );
            }
        }
    }
    let mut a = Auditor {
        root,
        opts,
        protect,
        files,
        dirs,
        seen: BTreeSet::new(),
        visited: BTreeSet::new(),
        findings: Vec::new(),
    };
    if opts.dirs.is_empty() {
        a.walk("");
    } else {
        for d in &opts.dirs {
            a.walk(d.trim_matches('/'));
        }
    }
    if matches!(opts.mode, Mode::System | Mode::Full) {
        a.missing();
    }
    Ok(a.findings)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn none(p: Protection) -> bool {
    matches!(p, Protection::None | Protection::Ignore)
}

impl Auditor<'_> {
    /// Walks one directory's entries (sorted; apk-tools takes them in the order the file
    /// system gives).
    fn walk(&mut self, dir: &str) {
        self.visited.insert(dir.to_owned());
        let host = self.root.join(dir);
        let mut names: Vec<String> = fs::read_dir(&host)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            let path = join(dir, &name);
            let Ok(meta) = fs::symlink_metadata(host.join(&name)) else {
                let owner = self.recorded(dir, &name).map(|r| r.package.clone());
                self.seen.insert((dir.to_owned(), name.clone()));
                self.push('e', path, owner);
                continue;
            };
            if meta.is_dir() {
                self.walk_dir(&path, &meta);
            } else {
                self.file(dir, &name, &meta);
            }
        }
    }

    fn walk_dir(&mut self, path: &str, meta: &fs::Metadata) {
        let mode = self.protect.of(path);
        let known = self.dirs.contains_key(path);
        let mut recurse = true;
        let audited = match self.opts.mode {
            Mode::Backup => {
                recurse = self.protect.has_protected_below(path);
                !none(mode)
            }
            Mode::System => {
                if !known {
                    return;
                }
                true
            }
            Mode::Full => mode == Protection::None,
        };
        let reason = if audited {
            self.audit_dir(path, known, meta)
        } else {
            None
        };
        if let Some(r) = reason {
            let recorded = (self.opts.details && r == 'm').then(|| {
                let acl = self.dirs.get(path).copied().flatten().unwrap_or(Acl {
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                    xattrs: None,
                });
                Stat {
                    mode: acl.mode,
                    uid: acl.uid,
                    gid: acl.gid,
                    hash: None,
                }
            });
            let found = self.opts.details.then(|| Stat {
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                hash: None,
            });
            self.push_detailed(r, format!("{path}/"), None, recorded, found);
        }
        if reason != Some('D') && recurse {
            self.walk(path);
        }
    }

    fn audit_dir(&self, path: &str, known: bool, meta: &fs::Metadata) -> Option<char> {
        if !known {
            return Some(if self.opts.recursive { 'd' } else { 'D' });
        }
        if self.opts.check_permissions {
            let acl = self.dirs.get(path).copied().flatten().unwrap_or(Acl {
                uid: 0,
                gid: 0,
                mode: 0o755,
                xattrs: None,
            });
            if meta.mode() & 0o7777 != acl.mode || meta.uid() != acl.uid || meta.gid() != acl.gid {
                return Some('m');
            }
        }
        None
    }

    fn recorded(&self, dir: &str, name: &str) -> Option<&Recorded<'_>> {
        self.files.get(dir).and_then(|m| m.get(name))
    }

    fn file(&mut self, dir: &str, name: &str, meta: &fs::Metadata) {
        let path = join(dir, name);
        let is_link = meta.file_type().is_symlink();
        let mode = self.protect.of(&path);
        let sha256_160 = self.recorded(dir, name).is_some_and(|r| r.sha256_160);
        let recorded = self
            .recorded(dir, name)
            .map(|r| (r.file.checksum.clone(), r.file.acl(), r.package.clone()));
        if recorded.is_some() {
            self.seen.insert((dir.to_owned(), name.to_owned()));
        }
        let mut reason = None;
        match self.opts.mode {
            Mode::Full => match mode {
                Protection::None => {}
                Protection::SymlinksOnly if !is_link => {}
                _ => return,
            },
            Mode::Backup => {
                match mode {
                    Protection::None | Protection::Ignore => return,
                    Protection::Modified => {}
                    Protection::SymlinksOnly if is_link => {}
                    Protection::SymlinksOnly => return,
                    Protection::All => reason = Some('A'),
                }
                if (recorded.is_none() || reason == Some('A')) && name.ends_with(".apk-new") {
                    return;
                }
            }
            Mode::System => {
                if recorded.is_none() || !none(mode) {
                    return;
                }
            }
        }
        if recorded.is_none() && is_link && self.opts.ignore_busybox_symlinks {
            let target = fs::read_link(self.root.join(&path)).unwrap_or_default();
            let t = target.as_os_str().as_encoded_bytes();
            if t == b"/bin/busybox" || t == b"/bin/bbsuid" || t == b"/bin/busybox-extras" {
                return;
            }
        }
        let package = recorded.as_ref().map(|r| r.2.clone());
        // A reason the protection rules already gave is reported without reading the
        // file (no hash), as apk-tools reports it.
        let preset = reason.is_some();
        let reason = reason.or_else(|| match &recorded {
            None => Some('A'),
            Some((checksum, acl, _)) => {
                let host = self.root.join(&path);
                let changed = checksum
                    .as_deref()
                    .is_some_and(|c| !crate::fs::rootfs::matches_recorded(&host, c));
                if changed || is_link && checksum.is_none() {
                    Some('U')
                } else if !is_link && disk_xattrs(&host) != acl.and_then(|a| a.xattrs) {
                    Some('x')
                } else if self.opts.check_permissions && !acl_matches(*acl, meta, is_link) {
                    Some('M')
                } else {
                    None
                }
            }
        });
        if let Some(r) = reason {
            let (rec, found) = if self.opts.details {
                let host = self.root.join(&path);
                let rec = recorded.as_ref().map(|(checksum, acl, _)| {
                    let acl = acl.unwrap_or(Acl {
                        uid: 0,
                        gid: 0,
                        mode: if is_link { 0o777 } else { 0o644 },
                        xattrs: None,
                    });
                    Stat {
                        mode: acl.mode,
                        uid: acl.uid,
                        gid: acl.gid,
                        hash: checksum.as_deref().and_then(hex_of_checksum),
                    }
                });
                // What is there, hashed as recorded (SHA-1, or SHA-256 cut to 160 bits
                // for a v3 package's), else with SHA-256.
                let hash = if preset {
                    None
                } else if recorded.as_ref().is_some_and(|r| r.0.is_some()) {
                    let now = if sha256_160 {
                        crate::fs::rootfs::current_checksum_sha256_160(&host)
                    } else {
                        current_checksum(&host)
                    };
                    now.as_deref().and_then(hex_of_checksum)
                } else {
                    sha256_hex(&host)
                };
                let found = Stat {
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    hash,
                };
                (rec, Some(found))
            } else {
                (None, None)
            };
            self.push_detailed(r, path, package, rec, found);
        }
    }

    /// Recorded files not found in the directories walked.
    fn missing(&mut self) {
        let mut out = Vec::new();
        for (dir, names) in &self.files {
            if !self.visited.contains(dir) {
                continue;
            }
            for (name, r) in names {
                let path = join(dir, name);
                if self.seen.contains(&(dir.clone(), (*name).to_owned()))
                    || self.protect.of(&path) == Protection::Ignore
                {
                    continue;
                }
                let rec = self.opts.details.then(|| {
                    let acl = r.file.acl().unwrap_or(Acl {
                        uid: 0,
                        gid: 0,
                        mode: 0o644,
                        xattrs: None,
                    });
                    Stat {
                        mode: acl.mode,
                        uid: acl.uid,
                        gid: acl.gid,
                        hash: r.file.checksum.as_deref().and_then(hex_of_checksum),
                    }
                });
                out.push((path, r.package.clone(), rec));
            }
        }
        for (path, package, rec) in out {
            self.push_detailed('X', path, Some(package), rec, None);
        }
    }

    fn push(&mut self, kind: char, path: String, package: Option<String>) {
        self.push_detailed(kind, path, package, None, None);
    }

    fn push_detailed(
        &mut self,
        kind: char,
        path: String,
        package: Option<String>,
        recorded: Option<Stat>,
        found: Option<Stat>,
    ) {
        self.findings.push(Finding {
            kind,
            path,
            package,
            recorded,
            found,
        });
    }
}

/// Compares what is on disk with a recorded owner and mode (`a:`; files without one
/// are root's, 0644, symlinks 0777).
/// The digest of a file's extended attributes as they are on disk (see
/// `xattr_digest`), `None` without any.
fn disk_xattrs(path: &Path) -> Option<[u8; 20]> {
    let names = xattr::list(path).ok()?;
    let list: Vec<(String, Vec<u8>)> = names
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok()??;
            Some((n.to_string_lossy().into_owned(), v))
        })
        .collect();
    apk_format::v2::archive::xattr_digest(&list)
}

fn acl_matches(acl: Option<Acl>, meta: &fs::Metadata, is_link: bool) -> bool {
    let want = acl.unwrap_or(Acl {
        uid: 0,
        gid: 0,
        mode: if is_link { 0o777 } else { 0o644 },
        xattrs: None,
    });
    if is_link {
        return meta.uid() == want.uid && meta.gid() == want.gid;
    }
    meta.uid() == want.uid && meta.gid() == want.gid && meta.mode() & 0o7777 == want.mode
}

/// The hex digest inside a database checksum (`Q1` + base64 SHA-1).
fn hex_of_checksum(q: &str) -> Option<String> {
    match apk_format::checksum::Checksum::parse(q).ok()? {
        apk_format::checksum::Checksum::Sha1(b) => Some(apk_format::checksum::encode_hex(&b)),
        apk_format::checksum::Checksum::Sha256(b) => Some(apk_format::checksum::encode_hex(&b)),
    }
}

/// SHA-256 (hex) of a file's contents, or of a symlink's target.
fn sha256_hex(path: &Path) -> Option<String> {
    use sha2::Digest;
    let meta = fs::symlink_metadata(path).ok()?;
    let data = if meta.file_type().is_symlink() {
        fs::read_link(path)
            .ok()?
            .as_os_str()
            .as_encoded_bytes()
            .to_vec()
    } else if meta.is_file() {
        fs::read(path).ok()?
    } else {
        return None;
    };
    Some(apk_format::checksum::encode_hex(&sha2::Sha256::digest(
        &data,
    )))
}
