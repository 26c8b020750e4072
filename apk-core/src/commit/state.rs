//! What a commit changes in memory before it is written back: the installed packages
//! with their files (`lib/apk/db/installed`), who owns each path, the install scripts
//! (`lib/apk/db/scripts.tar`) and the trigger paths (`lib/apk/db/triggers`).

use std::collections::HashMap;
use std::path::Path;

use crate::archive::{self, TarWriter};
use crate::db::{self, InstalledPackage};
use crate::error::{Error, Result};

pub const INSTALLED: &str = "lib/apk/db/installed";
pub const SCRIPTS: &str = "lib/apk/db/scripts.tar";
pub const TRIGGERS: &str = "lib/apk/db/triggers";

/// The installed packages, in database order, and indexes over them.
#[derive(Debug, Default)]
pub struct Installed {
    /// `None` where a package was removed during this commit.
    slots: Vec<Option<InstalledPackage>>,
    by_name: HashMap<String, usize>,
    /// File path → slot of its owner.
    owners: HashMap<String, usize>,
    /// Directory path → number of packages listing it.
    dir_refs: HashMap<String, u32>,
    /// Scripts by package name: (action without the dot, contents).
    pub scripts: HashMap<String, Vec<(String, Vec<u8>)>>,
    /// Trigger globs by package name.
    pub triggers: HashMap<String, Vec<String>>,
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// `name-version.Q1...` as scripts.tar and the triggers file key packages.
fn script_key(p: &InstalledPackage) -> String {
    let id = p.info.checksum.map(|c| c.to_string()).unwrap_or_default();
    format!("{}.{id}", p.info.nv())
}

impl Installed {
    /// Reads the database files of `root`.
    pub fn load(root: &Path) -> Result<Installed> {
        let files = [INSTALLED, SCRIPTS, TRIGGERS].map(|f| {
            let path = root.join(f);
            read_optional(&path).map(|b| (path.display().to_string(), b))
        });
        let [installed, scripts, triggers] = files;
        let (installed, scripts, triggers) = (installed?, scripts?, triggers?);
        Installed::parse(
            (&installed.0, installed.1.as_deref()),
            (&scripts.0, scripts.1.as_deref()),
            (&triggers.0, triggers.1.as_deref()),
        )
    }

    /// Reads the three database files from their contents (`None`: the file does not
    /// exist); each comes with the name used in errors.
    pub fn parse(
        installed: (&str, Option<&[u8]>),
        scripts: (&str, Option<&[u8]>),
        triggers: (&str, Option<&[u8]>),
    ) -> Result<Installed> {
        let mut st = Installed::default();
        if let (what, Some(bytes)) = installed {
            let text =
                std::str::from_utf8(bytes).map_err(|_| Error::format(what, "not UTF-8 text"))?;
            for p in db::parse_installed(text, what)? {
                st.insert(p);
            }
        }
        let keys: HashMap<String, String> = st
            .packages()
            .map(|p| (script_key(p), p.info.name.clone()))
            .collect();
        if let (what, Some(bytes)) = scripts {
            for e in archive::read_small_tar(bytes, what)? {
                let Some((key, action)) = e.header.path.rsplit_once('.') else {
                    continue;
                };
                if let Some(name) = keys.get(key) {
                    st.scripts
                        .entry(name.clone())
                        .or_default()
                        .push((action.to_owned(), e.data));
                }
            }
        }
        if let (_, Some(bytes)) = triggers {
            let by_id: HashMap<String, String> = st
                .packages()
                .filter_map(|p| Some((p.info.checksum?.to_string(), p.info.name.clone())))
                .collect();
            for line in String::from_utf8_lossy(bytes).lines() {
                let mut words = line.split_ascii_whitespace();
                let Some(name) = words.next().and_then(|id| by_id.get(id)) else {
                    continue;
                };
                st.triggers
                    .insert(name.clone(), words.map(str::to_owned).collect());
            }
        }
        Ok(st)
    }

    pub fn packages(&self) -> impl Iterator<Item = &InstalledPackage> {
        self.slots.iter().flatten()
    }

    pub fn get(&self, name: &str) -> Option<&InstalledPackage> {
        self.by_name.get(name).and_then(|&s| self.slots[s].as_ref())
    }

    /// The name of the package owning `path`.
    pub fn owner(&self, path: &str) -> Option<&InstalledPackage> {
        self.owners.get(path).and_then(|&s| self.slots[s].as_ref())
    }

    /// The recorded checksum of an owned file.
    pub fn recorded_checksum(&self, path: &str) -> Option<&str> {
        let owner = self.owner(path)?;
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        owner
            .dirs
            .iter()
            .filter(|d| d.path == dir)
            .flat_map(|d| d.files.iter())
            .find(|f| f.name == name)
            .and_then(|f| f.checksum.as_deref())
    }

    /// True when another installed package than `name` lists directory `dir`.
    pub fn dir_refs(&self, dir: &str) -> u32 {
        self.dir_refs.get(dir).copied().unwrap_or(0)
    }

    /// Adds a package at the end of the database order.
    pub fn insert(&mut self, p: InstalledPackage) {
        let slot = self.slots.len();
        for d in &p.dirs {
            *self.dir_refs.entry(d.path.clone()).or_default() += 1;
        }
        for path in p.file_paths() {
            self.owners.insert(path, slot);
        }
        self.by_name.insert(p.info.name.clone(), slot);
        self.slots.push(Some(p));
    }

    /// Removes a package, returning it; its files and directories lose their owner.
    pub fn remove(&mut self, name: &str) -> Option<InstalledPackage> {
        let slot = self.by_name.remove(name)?;
        let p = self.slots[slot].take()?;
        for path in p.file_paths() {
            if self.owners.get(&path) == Some(&slot) {
                self.owners.remove(&path);
            }
        }
        for d in &p.dirs {
            if let Some(n) = self.dir_refs.get_mut(&d.path) {
                *n = n.saturating_sub(1);
            }
        }
        Some(p)
    }

    /// Moves `path` out of its current owner's file list (the new owner is recorded
    /// when it is inserted).
    pub fn disown(&mut self, path: &str) {
        let Some(slot) = self.owners.remove(path) else {
            return;
        };
        let Some(p) = self.slots[slot].as_mut() else {
            return;
        };
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        for d in p.dirs.iter_mut().filter(|d| d.path == dir) {
            d.files.retain(|f| f.name != name);
        }
    }

    /// Replaces the tag (`s:`) an installed package is pinned with.
    pub fn set_tag(&mut self, name: &str, tag: Option<&str>) {
        let Some(p) = self.by_name.get(name).and_then(|&s| self.slots[s].as_mut()) else {
            return;
        };
        p.info.extra.retain(|(l, _)| *l != b's');
        if let Some(t) = tag {
            p.info.extra.push((b's', t.to_owned()));
        }
    }

    /// `lib/apk/db/installed`.
    pub fn installed_text(&self) -> String {
        db::write_installed_from(self.packages())
    }

    /// `lib/apk/db/scripts.tar`: each installed package's scripts, as
    /// `name-version.Q1id.action`.
    pub fn scripts_tar(&self) -> Result<Vec<u8>> {
        let mut tar = TarWriter::apk();
        for p in self.packages() {
            let Some(list) = self.scripts.get(&p.info.name) else {
                continue;
            };
            let key = script_key(p);
            for (action, data) in list {
                let mtime = p.info.build_time.unwrap_or(0);
                tar.file(&format!("{key}.{action}"), 0o755, mtime, data)
                    .map_err(|e| Error::io(SCRIPTS, e))?;
            }
        }
        tar.finish().map_err(|e| Error::io(SCRIPTS, e))
    }

    /// `lib/apk/db/triggers`: `Q1id glob...` for each installed package with triggers.
    pub fn triggers_text(&self) -> String {
        let mut out = String::new();
        for p in self.packages() {
            let (Some(list), Some(id)) = (self.triggers.get(&p.info.name), p.info.checksum) else {
                continue;
            };
            if list.is_empty() {
                continue;
            }
            out.push_str(&id.to_string());
            for t in list {
                out.push(' ');
                out.push_str(t);
            }
            out.push('\n');
        }
        out
    }
}
