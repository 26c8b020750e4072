//! What a commit changes in memory before it is written back: the installed packages
//! with their files (`lib/apk/db/installed`), who owns each path, the install scripts
//! (`lib/apk/db/scripts.tar.gz`, or `scripts.tar` where a root already has one) and the
//! trigger paths (`lib/apk/db/triggers`). All three are written as apk-tools 3 writes
//! them: packages sorted by name (case-insensitively first), scripts named
//! `name-version.X1<hex identity>.action` in apk's script order.

use std::collections::HashMap;
use std::path::Path;

use crate::db::installed::{self, InstalledPackage};
use apk_format::checksum::Checksum;
use apk_format::error::{Error, Result};
use apk_format::v2::archive::{self, TarWriter};
use apk_format::PackageInfo;

pub const INSTALLED: &str = "lib/apk/db/installed";
/// The scripts database as apk-tools 2 keeps it (and 3 keeps using where it exists).
pub const SCRIPTS: &str = "lib/apk/db/scripts.tar";
/// The scripts database as apk-tools 3 starts it.
pub const SCRIPTS_GZ: &str = "lib/apk/db/scripts.tar.gz";

/// Script actions in the order apk-tools keeps them.
pub const SCRIPT_ORDER: [&str; 7] = [
    "pre-install",
    "post-install",
    "pre-deinstall",
    "post-deinstall",
    "pre-upgrade",
    "post-upgrade",
    "trigger",
];
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
    /// The root keeps `scripts.tar` (uncompressed) rather than `scripts.tar.gz`.
    pub scripts_uncompressed: bool,
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Splits a scripts database entry name, `name-version.<identity>.action`, where the
/// identity is `Q1`/`Q2` base64 (apk-tools 2) or `X1`/`X2` hex (apk-tools 3).
fn parse_script_name(entry: &str) -> Option<(&str, Checksum, &str)> {
    let (rest, action) = entry.rsplit_once('.')?;
    let (nv, id) = rest.rsplit_once('.')?;
    let sum = match id.get(..1)? {
        "Q" => Checksum::parse(id).ok()?,
        "X" => Checksum::from_hex(id.get(2..)?).ok()?,
        _ => return None,
    };
    Some((nv, sum, action))
}

/// `name-version.X1<hex>` as apk-tools 3 names a package's scripts.
fn script_key(p: &InstalledPackage) -> String {
    let id = match p.info.checksum {
        Some(c @ Checksum::Sha1(_)) => format!("X1{}", c.to_hex()),
        Some(c @ Checksum::Sha256(_)) => format!("X2{}", c.to_hex()),
        None => String::new(),
    };
    format!("{}.{id}", p.info.nv())
}

fn action_rank(action: &str) -> usize {
    SCRIPT_ORDER
        .iter()
        .position(|a| *a == action)
        .unwrap_or(SCRIPT_ORDER.len())
}

impl Installed {
    /// Reads the database files of `root`: `scripts.tar` when it exists, else
    /// `scripts.tar.gz`, as apk-tools 3 does.
    pub fn load(root: &Path) -> Result<Installed> {
        let files = [INSTALLED, SCRIPTS, TRIGGERS].map(|f| {
            let path = root.join(f);
            read_optional(&path).map(|b| (path.display().to_string(), b))
        });
        let [installed, scripts, triggers] = files;
        let (installed, mut scripts, triggers) = (installed?, scripts?, triggers?);
        let uncompressed = scripts.1.is_some();
        if !uncompressed {
            let path = root.join(SCRIPTS_GZ);
            let what = path.display().to_string();
            if let Some(gz) = read_optional(&path)? {
                let member = archive::inflate_member(&gz, 0, archive::CONTROL_LIMIT, &what)?;
                scripts = (what, Some(member.data));
            }
        }
        let mut st = Installed::parse(
            (&installed.0, installed.1.as_deref()),
            (&scripts.0, scripts.1.as_deref()),
            (&triggers.0, triggers.1.as_deref()),
        )?;
        st.scripts_uncompressed = uncompressed;
        Ok(st)
    }

    /// Reads the three database files from their contents (`None`: the file does not
    /// exist); each comes with the name used in errors. The scripts come as a tar.
    pub fn parse(
        installed: (&str, Option<&[u8]>),
        scripts: (&str, Option<&[u8]>),
        triggers: (&str, Option<&[u8]>),
    ) -> Result<Installed> {
        let mut st = Installed::default();
        if let (what, Some(bytes)) = installed {
            let text =
                std::str::from_utf8(bytes).map_err(|_| Error::format(what, "not UTF-8 text"))?;
            for p in installed::parse_installed(text, what)? {
                st.insert(p);
            }
        }
        if let (what, Some(bytes)) = scripts {
            for e in archive::read_small_tar(bytes, what)? {
                let Some((nv, sum, action)) = parse_script_name(&e.header.path) else {
                    continue;
                };
                // The name is the part before one of the dashes (names have dashes too).
                let Some(p) = nv
                    .match_indices('-')
                    .filter_map(|(i, _)| st.get(&nv[..i]))
                    .find(|p| p.info.nv() == nv && p.info.checksum == Some(sum))
                else {
                    continue;
                };
                let name = p.info.name.clone();
                let list = st.scripts.entry(name).or_default();
                list.retain(|(a, _)| a != action);
                list.push((action.to_owned(), e.data));
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

    /// The installed packages in the order apk-tools writes its database: by name
    /// (case-insensitively, then exactly), then version.
    pub fn sorted(&self) -> Vec<&InstalledPackage> {
        let mut v: Vec<&InstalledPackage> = self.packages().collect();
        v.sort_by(|a, b| {
            let (x, y) = (&a.info.name, &b.info.name);
            x.to_ascii_lowercase()
                .cmp(&y.to_ascii_lowercase())
                .then_with(|| x.cmp(y))
                .then_with(|| apk_format::version::compare(&a.info.version, &b.info.version))
        });
        v
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

    /// The package owning folder `dir` (relative, no slashes at the ends) among those
    /// listing it, as apk-tools settles it in database order: the one replacing the
    /// others by `replaces_priority`, else the one whose origin is its own name, else
    /// the first by name.
    pub fn dir_owner(&self, dir: &str) -> Option<&InstalledPackage> {
        let mut owner: Option<&InstalledPackage> = None;
        for p in self.slots.iter().flatten() {
            if !p.dirs.iter().any(|d| d.path == dir) {
                continue;
            }
            if owner.is_none_or(|o| replaces_dir(&o.info, &p.info)) {
                owner = Some(p);
            }
        }
        owner
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

    /// Records a broken flag (`f:` letters `f`, `s`, `x`, `S`, in apk's order) on an
    /// installed package.
    pub fn mark_broken(&mut self, name: &str, flag: char) {
        let Some(p) = self.by_name.get(name).and_then(|&s| self.slots[s].as_mut()) else {
            return;
        };
        let mut flags: String = p
            .info
            .extra
            .iter()
            .filter(|(l, _)| *l == b'f')
            .flat_map(|(_, v)| v.chars())
            .collect();
        if !flags.contains(flag) {
            flags.push(flag);
        }
        let ordered: String = "fsxS".chars().filter(|c| flags.contains(*c)).collect();
        p.info.extra.retain(|(l, _)| *l != b'f');
        p.info.extra.push((b'f', ordered));
    }

    /// Each folder an installed package lists, with the owner and mode its package
    /// records (`M:`; root's 0755 when none), the first package listing it deciding.
    pub fn dir_acls(&self) -> Vec<(String, crate::db::installed::Acl)> {
        let mut seen: HashMap<&str, crate::db::installed::Acl> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for p in self.slots.iter().flatten() {
            for d in &p.dirs {
                if !seen.contains_key(d.path.as_str()) {
                    order.push(&d.path);
                }
                let acl = d.acl.unwrap_or(crate::db::installed::Acl {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    xattrs: None,
                });
                seen.entry(&d.path).or_insert(acl);
            }
        }
        order.into_iter().map(|d| (d.to_owned(), seen[d])).collect()
    }

    /// The folders and files the installed packages hold, counted as apk-tools counts
    /// them for `-v`'s closing line: every folder a package lists, with its parents up
    /// to the root folder, once; every file.
    pub fn dir_and_file_counts(&self) -> (usize, usize) {
        let mut dirs: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut files = 0;
        for p in self.slots.iter().flatten() {
            for d in &p.dirs {
                files += d.files.len();
                let mut path = d.path.as_str();
                while dirs.insert(path) && !path.is_empty() {
                    path = path.rsplit_once('/').map_or("", |(parent, _)| parent);
                }
            }
        }
        (dirs.len(), files)
    }

    /// `lib/apk/db/installed`.
    pub fn installed_text(&self) -> String {
        installed::write_installed_from(self.sorted().into_iter())
    }

    /// Where the scripts database is written: `scripts.tar` where the root had one,
    /// else `scripts.tar.gz`.
    pub fn scripts_path(&self) -> &'static str {
        if self.scripts_uncompressed {
            SCRIPTS
        } else {
            SCRIPTS_GZ
        }
    }

    /// The scripts database as written to [`Installed::scripts_path`]: each installed
    /// package's scripts as `name-version.X1<hex>.action` (gzip'ed for `.tar.gz`).
    pub fn scripts_file(&self) -> Result<Vec<u8>> {
        let tar = self.scripts_tar()?;
        Ok(if self.scripts_uncompressed {
            tar
        } else {
            archive::gzip(&tar)
        })
    }

    /// The scripts database's tar.
    pub fn scripts_tar(&self) -> Result<Vec<u8>> {
        let mut tar = TarWriter::apk();
        for p in self.sorted() {
            let Some(list) = self.scripts.get(&p.info.name) else {
                continue;
            };
            let mut list: Vec<&(String, Vec<u8>)> = list.iter().collect();
            list.sort_by_key(|(a, _)| action_rank(a));
            let key = script_key(p);
            for (action, data) in list {
                let mtime = p.info.build_time.unwrap_or(0);
                tar.file(&format!("{key}.{action}"), 0o755, mtime, data)
                    .map_err(|e| Error::io(self.scripts_path(), e))?;
            }
        }
        tar.finish().map_err(|e| Error::io(self.scripts_path(), e))
    }

    /// `lib/apk/db/triggers`: `Q1id glob...` for each installed package with triggers.
    pub fn triggers_text(&self) -> String {
        let mut out = String::new();
        for p in self.sorted() {
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

/// Does `new` take the ownership of a folder from `owner` (apk-tools' rule)?
pub fn replaces_dir(owner: &PackageInfo, new: &PackageInfo) -> bool {
    if owner.name == new.name {
        return true;
    }
    let (a, b) = (
        owner.replaces_priority.unwrap_or(0),
        new.replaces_priority.unwrap_or(0),
    );
    if a != b {
        return a < b;
    }
    if let Some(o) = owner.origin.as_deref().filter(|o| !o.is_empty()) {
        if new.origin.as_deref() == Some(o) {
            if o == owner.name {
                return false;
            }
            if o == new.name {
                return true;
            }
        }
    }
    owner.name > new.name
}
