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
    /// Who owns each file path: where the owner lists it. The paths themselves are
    /// not kept again (8,000 files took 1.4 MB as a map of path strings).
    owners: hashbrown::HashTable<FileRef>,
    hasher: std::hash::RandomState,
    /// Directory path → number of packages listing it.
    dir_refs: HashMap<String, u32>,
    /// Scripts by package name: (action without the dot, contents).
    pub scripts: HashMap<String, Vec<(String, Vec<u8>)>>,
    /// Trigger globs by package name.
    pub triggers: HashMap<String, Vec<String>>,
    /// The root keeps `scripts.tar` (uncompressed) rather than `scripts.tar.gz`.
    pub scripts_uncompressed: bool,
}

/// Where an installed package lists a file: its slot, and the directory and file
/// positions in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileRef {
    slot: u32,
    dir: u32,
    file: u32,
}

/// The directory and name of `path` (`""` for a file at the top).
fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn path_hash(hasher: &std::hash::RandomState, dir: &str, name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    h.write(dir.as_bytes());
    h.write_u8(b'/');
    h.write(name.as_bytes());
    h.finish()
}

/// The directory and name `r` points at.
fn file_at(slots: &[Option<InstalledPackage>], r: FileRef) -> Option<(&str, &str)> {
    let p = slots.get(r.slot as usize)?.as_ref()?;
    let d = p.dirs.get(r.dir as usize)?;
    Some((&d.path, &d.files.get(r.file as usize)?.name))
}

/// Every file `p` lists, as it is in `slot`: where, and its directory and name.
fn file_refs(slot: usize, p: &InstalledPackage) -> impl Iterator<Item = (FileRef, &str, &str)> {
    p.dirs.iter().enumerate().flat_map(move |(di, d)| {
        d.files.iter().enumerate().map(move |(fi, f)| {
            let r = FileRef {
                slot: slot as u32,
                dir: di as u32,
                file: fi as u32,
            };
            (r, d.path.as_str(), &*f.name)
        })
    })
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

    /// Where the owner of `path` lists it.
    fn owner_ref(&self, path: &str) -> Option<FileRef> {
        let (dir, name) = split_path(path);
        let slots = &self.slots;
        self.owners
            .find(path_hash(&self.hasher, dir, name), |&r| {
                file_at(slots, r) == Some((dir, name))
            })
            .copied()
    }

    /// The name of the package owning `path`.
    pub fn owner(&self, path: &str) -> Option<&InstalledPackage> {
        let r = self.owner_ref(path)?;
        self.slots[r.slot as usize].as_ref()
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
        let r = self.owner_ref(path)?;
        let p = self.slots[r.slot as usize].as_ref()?;
        p.dirs[r.dir as usize].files[r.file as usize]
            .checksum
            .as_deref()
    }

    /// True when another installed package than `name` lists directory `dir`.
    pub fn dir_refs(&self, dir: &str) -> u32 {
        self.dir_refs.get(dir).copied().unwrap_or(0)
    }

    /// Adds a package at the end of the database order. It owns its files from now
    /// on, whoever owned them before.
    pub fn insert(&mut self, mut p: InstalledPackage) {
        // Lists grown one file at a time: their spare room would stay for the run.
        for d in &mut p.dirs {
            d.files.shrink_to_fit();
        }
        p.dirs.shrink_to_fit();
        let slot = self.slots.len();
        for d in &p.dirs {
            *self.dir_refs.entry(d.path.clone()).or_default() += 1;
        }
        self.by_name.insert(p.info.name.clone(), slot);
        self.slots.push(Some(p));
        let Some(p) = self.slots[slot].as_ref() else {
            return;
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        for (r, dir, name) in file_refs(slot, p) {
            let here = Some((dir, name));
            match self.owners.entry(
                path_hash(hasher, dir, name),
                |&o| file_at(slots, o) == here,
                |&o| file_at(slots, o).map_or(0, |(d, n)| path_hash(hasher, d, n)),
            ) {
                hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = r,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(r);
                }
            }
        }
    }

    /// Forgets the entry of exactly `r` (listing `dir`/`name`), if it is the owner's.
    fn drop_owner(&mut self, r: FileRef, dir: &str, name: &str) {
        if let Ok(e) = self
            .owners
            .find_entry(path_hash(&self.hasher, dir, name), |&o| o == r)
        {
            e.remove();
        }
    }

    /// Removes a package, returning it; its files and directories lose their owner.
    pub fn remove(&mut self, name: &str) -> Option<InstalledPackage> {
        let slot = self.by_name.remove(name)?;
        let p = self.slots[slot].take()?;
        for (r, dir, name) in file_refs(slot, &p) {
            self.drop_owner(r, dir, name);
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
        let Some(r) = self.owner_ref(path) else {
            return;
        };
        let (dir, name) = split_path(path);
        self.drop_owner(r, dir, name);
        let Some(d) = self.slots[r.slot as usize]
            .as_mut()
            .and_then(|p| p.dirs.get_mut(r.dir as usize))
        else {
            return;
        };
        d.files.remove(r.file as usize);
        // The files after it moved up one place: so do their entries.
        let later: Vec<(u32, Box<str>)> = d.files[r.file as usize..]
            .iter()
            .enumerate()
            .map(|(i, f)| (r.file + i as u32, f.name.clone()))
            .collect();
        for (now, name) in later {
            let was = FileRef { file: now + 1, ..r };
            let hash = path_hash(&self.hasher, dir, &name);
            if let Some(e) = self.owners.find_mut(hash, |&o| o == was) {
                e.file = now;
            }
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

    /// `lib/apk/db/installed`, handed to `sink` in parts.
    pub fn write_installed(
        &self,
        sink: impl FnMut(&str) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        installed::write_installed_in_parts(self.sorted().into_iter(), sink)
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
    /// package's scripts as `name-version.X1<hex>.action` (gzip'ed for `.tar.gz`, by
    /// libdeflate: zlib's `-9` here was 0.44% of `--initdb add alpine-base`'s samples,
    /// on the serial end of every commit).
    pub fn scripts_file(&self) -> Result<Vec<u8>> {
        let tar = self.scripts_tar()?;
        Ok(if self.scripts_uncompressed {
            tar
        } else {
            archive::gzip_fast(&tar)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db(text: &str) -> Installed {
        let mut st = Installed::default();
        for p in installed::parse_installed(text, "installed").expect("parses") {
            st.insert(p);
        }
        st
    }

    fn owner_of(st: &Installed, path: &str) -> Option<String> {
        st.owner(path).map(|p| p.info.name.clone())
    }

    #[test]
    fn owners_follow_inserts_takeovers_and_removals() {
        let mut st = db("P:a\nV:1\nF:usr/bin\nR:x\nZ:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nR:y\nR:z\nZ:Q1zzzzzzzzzzzzzzzzzzzzzzzzzzz=\nF:etc\nR:conf\n\n\
             P:b\nV:1\nF:usr/bin\nR:y\nF:srv\nR:data\n\n");
        assert_eq!(owner_of(&st, "usr/bin/x").as_deref(), Some("a"));
        // Listed by both: the later package owns it.
        assert_eq!(owner_of(&st, "usr/bin/y").as_deref(), Some("b"));
        assert_eq!(owner_of(&st, "etc/conf").as_deref(), Some("a"));
        assert_eq!(owner_of(&st, "usr/bin"), None);
        assert_eq!(owner_of(&st, "bin/x"), None);

        // Taken out of a's list from the middle: the files after it keep their owner
        // and what it recorded.
        st.disown("usr/bin/y");
        st.disown("usr/bin/x");
        assert_eq!(owner_of(&st, "usr/bin/x"), None);
        assert_eq!(owner_of(&st, "usr/bin/z").as_deref(), Some("a"));
        assert_eq!(
            st.recorded_checksum("usr/bin/z"),
            Some("Q1zzzzzzzzzzzzzzzzzzzzzzzzzzz=")
        );
        let a = st.get("a").expect("a");
        let names: Vec<&str> = a.dirs[0].files.iter().map(|f| &*f.name).collect();
        assert_eq!(
            names,
            ["y", "z"],
            "b's y stays listed by a until a is written anew"
        );
        assert_eq!(owner_of(&st, "usr/bin/y"), None);

        // Removing a package frees its files and nobody else's.
        st.remove("a");
        assert_eq!(owner_of(&st, "usr/bin/z"), None);
        assert_eq!(owner_of(&st, "etc/conf"), None);
        assert_eq!(owner_of(&st, "srv/data").as_deref(), Some("b"));
        // A new package taking a freed path owns it.
        st.insert(
            installed::parse_installed("P:c\nV:1\nF:usr/bin\nR:z\n\n", "installed")
                .expect("parses")
                .remove(0),
        );
        assert_eq!(owner_of(&st, "usr/bin/z").as_deref(), Some("c"));
    }
}
