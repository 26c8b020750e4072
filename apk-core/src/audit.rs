//! `apk audit` (apk-audit(8)): what in the root differs from what the installed
//! database recorded.
//!
//! Each finding is a letter and a path: `A` file added, `d`/`D` directory added (empty /
//! with contents), `U` contents changed, `M` owner or mode changed (with
//! `--check-permissions`), `X` file deleted. `--backup` (the default) looks only at
//! protected configuration paths, `--system` at everything packages installed except
//! those, `--full` also reports what no package installed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::commit::protect::{ProtectedPaths, Protection};
use crate::commit::rootfs::current_checksum;
use crate::commit::state::Installed;
use crate::db::{Acl, InstalledFile};
use crate::error::Result;

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
    /// Directories to audit, relative to the root; all the database's when empty.
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: char,
    pub path: String,
    /// The package owning the path, if one does.
    pub package: Option<String>,
}

/// What `--full` never reports: apk's own state and the kernel's file systems.
const FULL_IGNORED: &str = "!lib/apk\n!var/cache\n!tmp\n!proc\n!sys\n!dev\n!run\n";

struct Recorded<'a> {
    file: &'a InstalledFile,
    package: &'a str,
}

struct Auditor<'a> {
    root: &'a Path,
    opts: &'a Options,
    protect: ProtectedPaths,
    files: BTreeMap<String, BTreeMap<&'a str, Recorded<'a>>>,
    findings: Vec<Finding>,
    scanned: BTreeSet<String>,
}

/// Audits `root` against its installed database.
pub fn audit(root: &Path, opts: &Options) -> Result<Vec<Finding>> {
    let state = Installed::load(root)?;
    let mut protect = ProtectedPaths::load(root);
    if opts.mode == Mode::Full {
        protect.add_rules(FULL_IGNORED);
    }
    let mut files: BTreeMap<String, BTreeMap<&str, Recorded>> = BTreeMap::new();
    for p in state.packages() {
        for d in &p.dirs {
            let entry = files.entry(d.path.clone()).or_default();
            for f in &d.files {
                entry.insert(
                    &f.name,
                    Recorded {
                        file: f,
                        package: &p.info.name,
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
        findings: Vec::new(),
        scanned: BTreeSet::new(),
    };
    let dirs: Vec<String> = if opts.dirs.is_empty() {
        a.files.keys().cloned().collect()
    } else {
        opts.dirs
            .iter()
            .map(|d| d.trim_matches('/').to_owned())
            .collect()
    };
    for d in dirs {
        a.scan(&d, !opts.dirs.is_empty() && opts.recursive);
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

impl Auditor<'_> {
    fn is_config(&self, path: &str, is_link: bool) -> bool {
        match self.protect.of(path) {
            Protection::Modified | Protection::All => true,
            Protection::SymlinksOnly => is_link,
            Protection::None | Protection::Ignore => false,
        }
    }

    /// Changes to installed files are reported for configuration in backup mode, and
    /// for everything else in the system modes.
    fn reports_change(&self, path: &str, is_link: bool) -> bool {
        if self.protect.of(path) == Protection::Ignore {
            return false;
        }
        let config = self.is_config(path, is_link);
        match self.opts.mode {
            Mode::Backup => config,
            Mode::System | Mode::Full => !config,
        }
    }

    /// Additions are reported for configuration in backup mode, and for everything in
    /// full mode.
    fn reports_addition(&self, path: &str, is_link: bool) -> bool {
        match self.protect.of(path) {
            Protection::Ignore => false,
            _ => match self.opts.mode {
                Mode::Backup => self.is_config(path, is_link),
                Mode::System => false,
                Mode::Full => !self.is_config(path, is_link),
            },
        }
    }

    fn push(&mut self, kind: char, path: String, package: Option<&str>) {
        self.findings.push(Finding {
            kind,
            path,
            package: package.map(str::to_owned),
        });
    }

    fn scan(&mut self, dir: &str, recursive: bool) {
        if !self.scanned.insert(dir.to_owned()) {
            return;
        }
        let host = self.root.join(dir);
        let mut names: Vec<String> = fs::read_dir(&host)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut seen = BTreeSet::new();
        for name in &names {
            let path = join(dir, name);
            let Ok(meta) = fs::symlink_metadata(host.join(name)) else {
                self.push('e', path, None);
                continue;
            };
            if meta.is_dir() {
                self.scan_subdir(&path, recursive);
                continue;
            }
            seen.insert(name.clone());
            let is_link = meta.file_type().is_symlink();
            // Everything under a `!` rule is listed by a backup audit, changed or not.
            if self.opts.mode == Mode::Backup
                && self.protect.of(&path) == Protection::All
                && !name.ends_with(".apk-new")
            {
                let owner = self
                    .files
                    .get(dir)
                    .and_then(|m| m.get(name.as_str()))
                    .map(|r| r.package.to_owned());
                self.push('A', path, owner.as_deref());
                continue;
            }
            let recorded = self
                .files
                .get(dir)
                .and_then(|m| m.get(name.as_str()))
                .map(|r| (r.file.checksum.clone(), r.file.acl, r.package.to_owned()));
            match recorded {
                None => {
                    if self.reports_addition(&path, is_link) {
                        self.push('A', path, None);
                    }
                }
                Some((checksum, acl, package)) => {
                    if !self.reports_change(&path, is_link) {
                        continue;
                    }
                    let current = current_checksum(&host.join(name));
                    if checksum.is_some() && current != checksum {
                        self.push('U', path, Some(&package));
                    } else if self.opts.check_permissions && !acl_matches(acl, &meta, is_link) {
                        self.push('M', path, Some(&package));
                    }
                }
            }
        }
        let missing: Vec<(String, String)> = self
            .files
            .get(dir)
            .map(|m| {
                m.iter()
                    .filter(|(n, _)| !seen.contains(**n))
                    .map(|(n, r)| (join(dir, n), r.package.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        for (path, package) in missing {
            if self.reports_change(&path, false) {
                self.push('X', path, Some(&package));
            }
        }
    }

    fn scan_subdir(&mut self, path: &str, recursive: bool) {
        let known = self.files.contains_key(path);
        if !known && self.reports_addition(path, false) {
            let empty = fs::read_dir(self.root.join(path)).is_ok_and(|mut rd| rd.next().is_none());
            self.push(if empty { 'd' } else { 'D' }, path.to_owned(), None);
        }
        if recursive {
            self.scan(path, true);
        }
    }
}

/// Compares what is on disk with a recorded owner and mode (`a:`; files without one
/// are root's, 0644, symlinks 0777).
fn acl_matches(acl: Option<Acl>, meta: &fs::Metadata, is_link: bool) -> bool {
    let want = acl.unwrap_or(Acl {
        uid: 0,
        gid: 0,
        mode: if is_link { 0o777 } else { 0o644 },
    });
    if is_link {
        return meta.uid() == want.uid && meta.gid() == want.gid;
    }
    meta.uid() == want.uid && meta.gid() == want.gid && meta.mode() & 0o7777 == want.mode
}
