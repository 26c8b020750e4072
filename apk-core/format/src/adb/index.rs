//! v3 indexes (`indx`, a repository's `Packages.adb`): the repository's description
//! and every package's metadata, as the v2 APKINDEX gives them.

use super::container::{decompress, Container};
use super::package::package_info;
use super::schema::{ndx, pi, pkg, PKGINFO};
use super::trust::{self, TrustError};
use super::value::{Db, Obj, Val, TYPE_ARRAY, TYPE_OBJECT};
use super::writer::{compare_obj, Writer};
use crate::error::{Error, Result};
use crate::pkgname;
use crate::sign::Keyring;
use crate::PackageInfo;

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub description: Option<String>,
    /// How package files are named (`${name}-${version}.apk` when absent).
    pub pkgname_spec: Option<String>,
    pub packages: Vec<PackageInfo>,
}

/// An index's blocks (`plain`: decompressed), its schema checked and, with `keys`, one
/// of its signatures verified.
fn checked<'a>(plain: &'a [u8], keys: Option<&Keyring>, what: &str) -> Result<Container<'a>> {
    let c = Container::parse(plain, what)?;
    if c.schema != super::SCHEMA_INDEX {
        return Err(Error::format(what, "not a v3 index (schema)"));
    }
    if let Some(k) = keys {
        trust::verify(&c, k).map_err(|e| match e {
            TrustError::Untrusted => Error::untrusted(what, e),
            TrustError::BadBlock => Error::signature(what, e),
        })?;
    }
    Ok(c)
}

/// A v3 index opened for loading: its tree (the ADB block) to keep, and where each
/// package's object is in it, so that packages are read in place when needed.
#[derive(Debug, Clone)]
pub struct Opened {
    pub tree: Vec<u8>,
    pub description: Option<String>,
    pub pkgname_spec: Option<String>,
    /// The value of each package object with a name and a version.
    pub packages: Vec<u32>,
}

impl Opened {
    /// Reads an index; with `keys`, one of its signatures must verify.
    pub fn read(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Opened> {
        let plain = decompress(bytes, what)?.0;
        let c = checked(&plain, keys, what)?;
        let tree = c.adb().to_vec();
        let db = Db::new(&tree);
        let root = db.obj(db.root());
        let pkgs = root.obj(ndx::PACKAGES);
        let packages = (1..=pkgs.len())
            .filter(|&i| {
                let p = pkgs.obj(i);
                p.blob(pi::NAME).is_some_and(|b| !b.is_empty())
                    && p.blob(pi::VERSION).is_some_and(|b| !b.is_empty())
            })
            .map(|i| pkgs.val(i).0)
            .collect();
        Ok(Opened {
            description: root.str(ndx::DESCRIPTION).map(|s| s.into_owned()),
            pkgname_spec: root.str(ndx::PKGNAME_SPEC).map(|s| s.into_owned()),
            packages,
            tree,
        })
    }
}

impl Index {
    /// Reads an index; with `keys`, one of its signatures must verify.
    pub fn read(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Index> {
        let plain = decompress(bytes, what)?.0;
        let c = checked(&plain, keys, what)?;
        let db = Db::new(c.adb());
        let root = db.obj(db.root());
        let pkgs = root.obj(ndx::PACKAGES);
        let packages = (1..=pkgs.len())
            .map(|i| package_info(&pkgs.obj(i)))
            .filter(|p| !p.name.is_empty() && !p.version.is_empty())
            .collect();
        Ok(Index {
            description: root.str(ndx::DESCRIPTION).map(|s| s.into_owned()),
            pkgname_spec: root.str(ndx::PKGNAME_SPEC).map(|s| s.into_owned()),
            packages,
        })
    }
}

/// The identity `mkndx` gives a v3 package (`--hash`): the SHA-256 of its ADB block,
/// whole or cut to 160 bits. A v2 package's identity is always the SHA-1 of its
/// control stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityHash {
    #[default]
    Sha256,
    Sha256_160,
}

impl IdentityHash {
    /// By apk-tools' name (`sha256`, `sha256-160`); others are not allowed.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(IdentityHash::Sha256),
            "sha256-160" => Some(IdentityHash::Sha256_160),
            _ => None,
        }
    }
}

/// The package-info field of a v2 index letter, as apk-tools maps them.
pub(crate) fn v2_field(letter: u8) -> Option<usize> {
    Some(match letter {
        b'C' => pi::HASHES,
        b'P' => pi::NAME,
        b'V' => pi::VERSION,
        b'T' => pi::DESCRIPTION,
        b'U' => pi::URL,
        b'I' => pi::INSTALLED_SIZE,
        b'S' => pi::FILE_SIZE,
        b'L' => pi::LICENSE,
        b'A' => pi::ARCH,
        b'D' => pi::DEPENDS,
        b'i' => pi::INSTALL_IF,
        b'p' => pi::PROVIDES,
        b'k' => pi::PROVIDER_PRIORITY,
        b'o' => pi::ORIGIN,
        b'm' => pi::MAINTAINER,
        b't' => pi::BUILD_TIME,
        b'c' => pi::REPO_COMMIT,
        b'g' => pi::TAGS,
        b'r' => pi::REPLACES,
        _ => return None,
    })
}

/// A v2 index value of field `f` converted as apk-tools converts it (`None`: it
/// stores nothing; a value it cannot convert is kept as its error value).
pub(crate) fn v2_value(w: &mut Writer, f: usize, value: &str) -> Option<Val> {
    Some(match f {
        pi::HASHES => {
            let c = crate::checksum::Checksum::parse(value).ok()?;
            w.blob(c.bytes())
        }
        pi::REPO_COMMIT => w.blob(&value.get(..40).and_then(crate::checksum::decode_hex)?),
        _ => {
            let (name, kind) = PKGINFO.fields[f - 1];
            super::build::scalar_or_error(w, name, kind, value)
        }
    })
}

/// An existing index opened for an incremental `mkndx` (`--index`): its entries are
/// found again by file name and copied as they are.
pub struct OldIndex<'a> {
    db: Db<'a>,
}

impl<'a> OldIndex<'a> {
    /// `plain`: the index decompressed ([`decompress`]); with `keys`, one of its
    /// signatures must verify.
    pub fn open(plain: &'a [u8], keys: Option<&Keyring>, what: &str) -> Result<Self> {
        let c = checked(plain, keys, what)?;
        Ok(OldIndex {
            db: Db::new(c.adb()),
        })
    }

    fn packages(&self) -> Obj<'a> {
        self.db.obj(self.db.root()).obj(ndx::PACKAGES)
    }

    /// The entry (1-based) whose file `path` is by `spec`, as apk-tools looks it up:
    /// every split of the file name at the character after `${name}` is a candidate
    /// name; an entry of that name (and `size`, unless 0) matches when the spec
    /// expands to the file name (the whole path when both have folders).
    pub fn find(&self, path: &str, size: u64, spec: &str) -> Option<usize> {
        let format = pkgname::last_segment(spec);
        let split = format.strip_prefix("${name}")?.chars().next()?;
        let filename = pkgname::last_segment(path);
        let (expected, format) = if path.contains('/') && spec.contains('/') {
            (path, spec)
        } else {
            (filename, format)
        };
        let pkgs = self.packages();
        for (i, c) in filename.char_indices().skip(1) {
            if c != split {
                continue;
            }
            let name = &filename[..i];
            for n in 1..=pkgs.len() {
                let p = pkgs.obj(n);
                if p.blob(pi::NAME) != Some(name.as_bytes())
                    || (size != 0 && p.int(pi::FILE_SIZE) != size)
                {
                    continue;
                }
                if pkgname::subst(format, |k| field_text(&p, k))
                    .ok()
                    .as_deref()
                    == Some(expected)
                {
                    return Some(n);
                }
            }
        }
        None
    }
}

/// A scalar field of package metadata as text, by its schema name (`name`,
/// `version`, `hashes`, `file-size`, ...), for name specifications.
pub fn field_text(p: &Obj<'_>, field: &str) -> Option<String> {
    use super::dump::{blob_text, number_text};
    use super::schema::{Kind, PKGINFO};
    let i = PKGINFO.fields.iter().position(|(n, _)| *n == field)? + 1;
    let v = p.val(i);
    match PKGINFO.fields[i - 1].1 {
        Kind::Blob(s) => Some(if v.is_null() {
            String::new()
        } else {
            blob_text(&p.db, v, s)
        }),
        Kind::Numeric(s) => Some(number_text(p.int(i), s)),
        _ => None,
    }
}

/// Builds an index tree as apk-tools' `mkndx` does: entries added one by one (new
/// packages of either format, or copies out of an old index), sorted when written.
pub struct IndexBuilder {
    w: Writer,
    pkgs: Vec<Val>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexBuilder {
    pub fn new() -> Self {
        IndexBuilder {
            w: Writer::new(8000),
            pkgs: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.pkgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pkgs.is_empty()
    }

    /// The text of a field of the entry added last (see [`field_text`]).
    pub fn last_field(&self, field: &str) -> Option<String> {
        let v = *self.pkgs.last()?;
        let db = self.w.db();
        let o = db.obj(v);
        field_text(&o, field)
    }

    /// Copies entry `n` of `old`.
    pub fn add_old(&mut self, old: &OldIndex<'_>, n: usize) {
        let v = self.w.copy(&old.db, old.packages().val(n));
        self.push(v);
    }

    fn push(&mut self, v: Val) {
        if !v.is_null() {
            self.pkgs.push(v);
        }
    }

    /// Adds a v3 package (its file's bytes): its metadata copied, its file size and
    /// identity set.
    pub fn add_v3(&mut self, bytes: &[u8], what: &str, hash: IdentityHash) -> Result<()> {
        use sha2::{Digest, Sha256};
        let (plain, _) = decompress(bytes, what)?;
        let c = Container::parse(&plain, what)?;
        if c.schema != super::SCHEMA_PACKAGE {
            return Err(Error::format(what, "not a v3 package (schema)"));
        }
        let src = Db::new(c.adb());
        let info = src.obj(src.root()).obj(pkg::INFO);
        let w = &mut self.w;
        let mut slots = vec![Val::NULL; PKGINFO.fields.len() + 1];
        for (i, slot) in slots.iter_mut().enumerate().take(info.num()).skip(1) {
            *slot = w.copy(&src, info.val(i));
        }
        slots[pi::FILE_SIZE] = w.int(bytes.len() as u64);
        let digest = Sha256::digest(c.adb());
        slots[pi::HASHES] = match hash {
            IdentityHash::Sha256 => w.blob(&digest),
            IdentityHash::Sha256_160 => w.blob(&digest[..20]),
        };
        let v = w.obj(&slots, TYPE_OBJECT);
        self.push(v);
        Ok(())
    }

    /// Adds a v2 package from its `.PKGINFO` fields (in file order), its identity
    /// and its file size, converting the fields as apk-tools does; a field given
    /// twice (other than the dependency lists) is an error.
    pub fn add_v2(
        &mut self,
        fields: &[(String, String)],
        identity: &[u8],
        size: u64,
        what: &str,
    ) -> Result<()> {
        let w = &mut self.w;
        let mut slots = vec![Val::NULL; PKGINFO.fields.len() + 1];
        let mut deps: [Vec<Val>; 3] = Default::default();
        for (k, v) in fields {
            let f = match k.as_str() {
                "arch" => pi::ARCH,
                "builddate" => pi::BUILD_TIME,
                "commit" => pi::REPO_COMMIT,
                "depend" => pi::DEPENDS,
                "install_if" => pi::INSTALL_IF,
                "license" => pi::LICENSE,
                "maintainer" => pi::MAINTAINER,
                "origin" => pi::ORIGIN,
                "pkgdesc" => pi::DESCRIPTION,
                "pkgname" => pi::NAME,
                "pkgver" => pi::VERSION,
                "provider_priority" => pi::PROVIDER_PRIORITY,
                "provides" => pi::PROVIDES,
                "replaces" => pi::REPLACES,
                "size" => pi::INSTALLED_SIZE,
                "url" => pi::URL,
                _ => continue,
            };
            if !slots[f].is_null() {
                return Err(Error::format(
                    what,
                    format!("ADB package format: '{k}' given twice"),
                ));
            }
            let list = match f {
                pi::DEPENDS => 0,
                pi::PROVIDES => 1,
                pi::REPLACES => 2,
                // Converted as an index's value is (apk-tools goes on past one it
                // cannot convert).
                _ => {
                    if let Some(val) = v2_value(w, f, v) {
                        slots[f] = val;
                    }
                    continue;
                }
            };
            for atom in v.split_whitespace() {
                deps[list].push(super::build::dependency(w, k, atom)?);
            }
        }
        for (f, list) in [pi::DEPENDS, pi::PROVIDES, pi::REPLACES]
            .into_iter()
            .zip(deps)
        {
            slots[f] = super::build::dependency_list(w, list, TYPE_ARRAY);
        }
        slots[pi::FILE_SIZE] = w.int(size);
        slots[pi::HASHES] = w.blob(identity);
        let v = w.obj(&slots, TYPE_OBJECT);
        self.push(v);
        Ok(())
    }

    /// Adds every record of a v2 index's text (`APKINDEX`) as apk-tools' `convndx`
    /// converts them: each `X:value` line by its letter, in order, a value that does
    /// not convert left out; a blank line ends a record. Returns how many were added.
    pub fn add_v2_index(&mut self, text: &str) -> usize {
        let before = self.pkgs.len();
        let w = &mut self.w;
        let mut slots = vec![Val::NULL; PKGINFO.fields.len() + 1];
        let mut pending = false;
        let mut records = Vec::new();
        for line in text.split('\n') {
            if line.len() < 2 {
                if pending {
                    records.push(w.obj(&slots, TYPE_OBJECT));
                    slots.iter_mut().for_each(|v| *v = Val::NULL);
                    pending = false;
                }
                continue;
            }
            let (letter, value) = (line.as_bytes()[0], line.get(2..).unwrap_or(""));
            let Some(f) = v2_field(letter) else {
                continue;
            };
            pending = true;
            if let Some(v) = v2_value(w, f, value) {
                slots[f] = v;
            }
        }
        if pending {
            records.push(w.obj(&slots, TYPE_OBJECT));
        }
        for v in records {
            self.push(v);
        }
        self.pkgs.len() - before
    }

    /// The index's tree: its description, name specification and entries (sorted).
    pub fn finish(mut self, description: Option<&str>, pkgname_spec: Option<&str>) -> Vec<u8> {
        let w = &mut self.w;
        let desc = w.blob(description.unwrap_or("").as_bytes());
        let spec = pkgname_spec.map_or(Val::NULL, |s| w.blob(s.as_bytes()));
        {
            let db = w.db();
            self.pkgs
                .sort_by(|a, b| compare_obj(&db, &PKGINFO, &db.obj(*a), &db.obj(*b)));
        }
        let mut list = vec![Val::NULL];
        list.extend(self.pkgs);
        let packages = w.obj(&list, TYPE_OBJECT);
        let mut root = vec![Val::NULL, desc, packages];
        if !spec.is_null() {
            root.push(spec);
        }
        let root = w.obj(&root, TYPE_OBJECT);
        self.w.finish(root)
    }
}

/// Builds the tree of an index of v3 packages (`files`: each package's bytes and the
/// name for errors), identities by SHA-256.
pub fn build(files: &[(&[u8], &str)], description: Option<&str>) -> Result<Vec<u8>> {
    let mut b = IndexBuilder::new();
    for (bytes, what) in files {
        b.add_v3(bytes, what, IdentityHash::Sha256)?;
    }
    Ok(b.finish(description, None))
}
