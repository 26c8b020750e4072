//! The package universe of one run: every name and package apk knows about, interned
//! into dense ids, with the repositories and tags they come from and what is installed.
//!
//! The order of things here is part of apk's observable behaviour, so it follows
//! apk-tools: providers of a name are listed in load order (installed packages first,
//! then each repository in turn); a package seen again with the same identity (`C:`) is
//! the same package, now also available from that repository; reverse dependencies are
//! collected by walking names in apk's hash-table order (MurmurHash3 of the name, seed
//! 5381, 20000 buckets, newest first within a bucket), which is the order its error
//! reports list requirers in.

pub mod builder;
mod codec;
mod ids;
mod info;
mod table;

pub use crate::fs::mapped::SnapshotBytes;
use info::{Cold, InfoCache, InfoSource};
pub use info::{InfoFallback, InfoReader};
use table::{Strs, Table};

use rustc_hash::FxHashMap;
use zerocopy::{FromBytes, Immutable, KnownLayout, TryFromBytes};

use apk_format::checksum::Checksum;
use apk_format::dep::{DepRef, Dependency, Op};
use apk_format::hash::murmur3_32;
use apk_format::v2::apkindex::RecordRef;
use apk_format::PackageInfo;

pub use ids::{NameId, PkgId, RepoId, TagId};

/// A string in the pool's string store (see [`Pool::str`]): names, versions and
/// dependency versions all live in one buffer instead of one allocation each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Str {
    off: u32,
    len: u32,
}

impl Default for Str {
    fn default() -> Self {
        Str::NONE
    }
}

impl Str {
    /// No string (a dependency without version).
    pub const NONE: Str = Str {
        off: u32::MAX,
        len: 0,
    };

    pub fn is_none(self) -> bool {
        self.off == u32::MAX
    }
}

/// A dependency with its name interned; its version is read with [`Pool::dep_version`].
/// Laid out as the snapshot stores it (16 bytes, no padding), which reads a table of
/// them in place.
#[derive(Debug, Clone, Copy, TryFromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Dep {
    pub name: NameId,
    /// [`Str::NONE`] when the atom has no version (any version; a virtual provide).
    version: Str,
    pub op: Op,
    pub conflict: bool,
    /// The repository tag (`@tag`) index.
    pub tag: TagId,
}

impl Dep {
    /// `name`, any version.
    pub fn any(name: NameId) -> Dep {
        Dep {
            name,
            op: Op::ANY,
            version: Str::NONE,
            conflict: false,
            tag: TagId::DEFAULT,
        }
    }

    /// Does the atom name a version (`=1.2`, `<3`, a checksum)?
    pub fn has_version(&self) -> bool {
        !self.version.is_none()
    }

    /// The same atom for any version of its name.
    pub fn without_version(self) -> Dep {
        Dep {
            op: Op::ANY,
            version: Str::NONE,
            ..self
        }
    }
}

/// The four dependency lists of a package.
#[derive(Debug, Clone, Copy)]
pub struct PkgDeps<'a> {
    pub depends: &'a [Dep],
    pub provides: &'a [Dep],
    pub install_if: &'a [Dep],
    pub replaces: &'a [Dep],
}

/// A package providing a name, at a version (`None`: a provide without version).
/// Laid out as the snapshot stores it (8 bytes), which reads a table of them in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Provider {
    pub pkg: PkgId,
    /// Index into the package's `provides`; `u16::MAX` for the package's own name (a
    /// provides list holds fewer entries).
    via: u16,
    /// Always 0.
    pad: u16,
}

impl Provider {
    /// `pkg` providing a name through its `via`-th provide (`None`: its own name).
    pub const fn new(pkg: PkgId, via: Option<u16>) -> Provider {
        Provider {
            pkg,
            via: match via {
                Some(v) => v,
                None => u16::MAX,
            },
            pad: 0,
        }
    }

    /// Index into the package's `provides` (`None`: the package's own name).
    pub fn via(self) -> Option<u16> {
        (self.via != u16::MAX).then_some(self.via)
    }
}

/// Laid out as the snapshot stores it (12 bytes), which reads a table of them in place.
#[derive(Debug, Clone, Copy, Default, TryFromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Name {
    name: Str,
    /// 0: only real packages, 1: some providers are virtual, 2: all are.
    pub priority: u8,
    pub is_dependency: bool,
    /// Always 0.
    pad: [u8; 2],
}

/// Laid out as the snapshot stores it (48 bytes, the 64-bit field first), which reads a
/// table of them in place.
#[derive(Debug, Clone, TryFromBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Package {
    /// Repositories holding this package (bit per repository).
    pub repos: u64,
    pub name: NameId,
    version: Str,
    /// Where the package's dependency lists start in the pool's `deps`, and their
    /// lengths (depends, provides, install_if, replaces).
    deps_at: u32,
    deps_len: [u16; 4],
    provider_priority: u32,
    /// Position in the installed database (its install order).
    pub installed_order: u32,
    /// The tag it is installed under; `u16::MAX` when it is not installed (read with
    /// [`Package::installed`]).
    installed: u16,
    /// The package cannot be installed (its metadata did not parse).
    pub uninstallable: bool,
    /// The package file is in the local cache.
    pub cached: bool,
    /// Its installed size is 0 (the solver asks this of every package it meets; the
    /// size itself is read with [`Pool::installed_size`]).
    no_size: bool,
    /// Always 0.
    pad: [u8; 3],
}

impl Package {
    /// Installed, and under which tag.
    pub fn installed(&self) -> Option<TagId> {
        (self.installed != u16::MAX).then_some(TagId(self.installed))
    }

    fn tag_bits(tag: Option<TagId>) -> u16 {
        tag.map_or(u16::MAX, |t| t.0)
    }

    pub fn provider_priority(&self) -> u32 {
        self.provider_priority
    }

    /// Does the package install nothing (installed size 0)?
    pub fn has_no_size(&self) -> bool {
        self.no_size
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tag {
    /// The name after `@`, or empty for the default tag.
    pub name: String,
    pub allowed_repos: u64,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub url: String,
    pub tag: TagId,
    pub remote: bool,
    /// The index's description (`apk version -I`, `apk update`).
    pub description: Option<String>,
    /// How the index names its package files (`pkgname-spec` of a v3 index).
    pub pkgname_spec: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub names: Table<Name>,
    pub packages: Table<Package>,
    /// Names, versions and dependency versions, one after the other ([`Str`] spans).
    strs: Strs,
    /// Every package's dependency lists, one package after the other.
    deps: Table<Dep>,
    /// Lists reused while a record's dependencies are parsed.
    dep_scratch: [Vec<Dep>; 4],
    /// Names are looked up for every dependency of every package loaded: a hash table
    /// of name ids with their names' spans in `strs` (a name's span never changes once
    /// interned), hashed by those strings (a fast, non-cryptographic hash pays off; the
    /// keys are not attacker-chosen per process).
    name_index: hashbrown::HashTable<(NameId, Str)>,
    /// Name ids in the order of their names (from a snapshot), for lookups without
    /// building `name_ids`.
    sorted_names: Table<NameId>,
    by_checksum: FxHashMap<Checksum, PkgId>,
    /// Identity, size and metadata source of the packages not read from the snapshot
    /// (package `snap_packages + i` is entry `i`).
    cold: Vec<Cold>,
    /// Packages below this id were read from the snapshot, whose metadata section
    /// starts at `snap_cold_at` with their [`ColdRecord`]s.
    snap_packages: u32,
    snap_cold_at: usize,
    infos: InfoCache,
    pub tags: Vec<Tag>,
    /// Index 0 is the cache; configured repositories follow.
    pub repos: Vec<Repo>,
    pub available_repos: u64,
    /// Installed packages in database order.
    pub installed: Vec<PkgId>,
    /// Some index held packages that cannot be installed.
    pub has_broken: bool,
    /// Some of those are uninstallable (a dependency list did not parse).
    pub has_uninstallable: bool,
    /// Architectures whose packages can be installed (the first is the primary one).
    pub arches: Vec<String>,
    /// The snapshot this pool was decoded from, which package metadata is read from.
    snapshot: Option<std::sync::Arc<SnapshotBytes>>,
    /// The metadata blocks inflated so far, by offset: a query over many packages
    /// inflates each block once (what it keeps is what it would decode anyway).
    blocks: std::cell::RefCell<FxHashMap<usize, std::rc::Rc<[u8]>>>,
    /// Where metadata comes from when a snapshot record turns out damaged.
    pub(crate) info_fallback: InfoFallback,
    /// Index texts kept so that package metadata is parsed only when asked for.
    texts: Vec<std::sync::Arc<String>>,
    /// v3 index trees kept for the same reason.
    adbs: Vec<std::sync::Arc<[u8]>>,
    /// Providers per name while packages are being added; [`Pool::finish`] flattens
    /// them into `providers`.
    providers_building: Vec<Growing<Provider>>,
    providers: Lists<Provider>,
    rdepends: Lists<NameId>,
    rinstall_if: Lists<NameId>,
}

/// What adding a package needs of its metadata (borrowed from a record or a
/// [`PackageInfo`]).
struct Core<'a> {
    name: &'a str,
    /// The name's id when the caller already interned it.
    name_id: Option<NameId>,
    version: &'a str,
    arch: Option<&'a str>,
    checksum: Option<&'a Checksum>,
    installed_size: Option<u64>,
    provider_priority: Option<u32>,
}

/// Lists of ids per name, stored flat (`items[start[n]..start[n + 1]]`): one allocation
/// for all names instead of one per name.
#[derive(Debug, Clone)]
pub struct Lists<T> {
    start: Table<u32>,
    items: Table<T>,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists {
            start: Table::default(),
            items: Table::default(),
        }
    }
}

impl<T: Copy> Lists<T> {
    fn get(&self, n: NameId) -> &[T] {
        let n = n.index();
        match (self.start.get(n), self.start.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }

    fn from_growing(v: &[Growing<T>]) -> Self {
        let mut start = Vec::with_capacity(v.len() + 1);
        let mut items = Vec::with_capacity(v.iter().map(|l| l.len()).sum());
        start.push(0);
        for l in v {
            items.extend_from_slice(l);
            start.push(items.len() as u32);
        }
        Lists {
            start: start.into(),
            items: items.into(),
        }
    }

    fn to_growing(&self, names: usize) -> Vec<Growing<T>> {
        (0..names)
            .map(|n| Growing::from_slice(self.get(NameId::new(n))))
            .collect()
    }

    fn checked(start: Table<u32>, items: Table<T>) -> Option<Self> {
        let ordered = start.first().is_none_or(|&s| s == 0)
            && start.windows(2).all(|w| w[0] <= w[1])
            && start.last().is_none_or(|&e| e as usize == items.len());
        ordered.then_some(Lists { start, items })
    }
}

/// A list being built that holds one item without an allocation of its own: most
/// names have one provider, and a `Vec` each was most of the allocations made while
/// a large index is added.
type Growing<T> = smallvec::SmallVec<[T; 1]>;

/// The bit of a repository in a package's `repos` mask (none past 64 repositories).
fn repo_bit(repo: Option<RepoId>) -> u64 {
    repo.map_or(0, RepoId::bit)
}

/// The byte range of a record inside the text its fields borrow from.
fn record_span(text: &str, rec: &RecordRef<'_>) -> Option<(usize, usize)> {
    // The record's offsets are into the part of `text` it was parsed from.
    let part = (rec.base().as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let (start, end) = rec.extent()?;
    let span = (part + start, part + end);
    (span.1 <= text.len()).then_some(span)
}

const NAME_BUCKETS: u32 = 20000;

impl Pool {
    pub fn new() -> Self {
        Pool {
            // The cache counts as an untagged repository.
            tags: vec![Tag {
                name: String::new(),
                allowed_repos: RepoId::CACHED.bit(),
            }],
            repos: vec![Repo {
                url: "cache".into(),
                tag: TagId::DEFAULT,
                remote: false,
                description: None,
                pkgname_spec: None,
            }],
            available_repos: RepoId::CACHED.bit(),
            ..Default::default()
        }
    }

    /// A string of the store (`""` for [`Str::NONE`]).
    pub fn str(&self, s: Str) -> &str {
        Self::str_in(&self.strs, s)
    }

    /// Adds a string to the store.
    fn intern_str(&mut self, s: &str) -> Str {
        match (u32::try_from(self.strs.len()), u32::try_from(s.len())) {
            (Ok(off), Ok(len)) if off.checked_add(len).is_some_and(|e| e < u32::MAX) => {
                self.strs.push_str(s);
                Str { off, len }
            }
            // Beyond 4 GiB of names and versions: nothing real comes near it.
            _ => Str { off: 0, len: 0 },
        }
    }

    fn name_hash(name: &str) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        h.write(name.as_bytes());
        h.finish()
    }

    pub fn name_id(&mut self, name: &str) -> NameId {
        if let Some(id) = self.find_name(name) {
            return id;
        }
        // A new name: from here on the hash index answers (the sorted one is stale).
        if self.name_index.len() != self.names.len() {
            self.rebuild_name_index();
        }
        self.sorted_names = Table::default();
        let id = NameId::new(self.names.len());
        let s = self.intern_str(name);
        self.names.push(Name {
            name: s,
            ..Default::default()
        });
        let strs = &self.strs;
        self.name_index
            .insert_unique(Self::name_hash(name), (id, s), |&(_, s)| {
                Self::name_hash(Self::str_in(strs, s))
            });
        id
    }

    /// A string of `strs` (for when the pool is partly borrowed mutably).
    fn str_in(strs: &str, s: Str) -> &str {
        let start = s.off as usize;
        strs.get(start..start + s.len as usize).unwrap_or("")
    }

    pub fn find_name(&self, name: &str) -> Option<NameId> {
        if self.name_index.len() == self.names.len() {
            return self
                .name_index
                .find(Self::name_hash(name), |&(_, s)| self.str(s) == name)
                .map(|&(i, _)| i);
        }
        // A pool decoded from a snapshot has its names in sorted order instead, and
        // builds the hash index on the first insertion only.
        if self.sorted_names.len() == self.names.len() {
            return self
                .sorted_names
                .binary_search_by(|&id| self.name(id).cmp(name))
                .ok()
                .map(|i| self.sorted_names[i]);
        }
        NameId::all(self.names.len()).find(|&i| self.name(i) == name)
    }

    pub fn name(&self, id: NameId) -> &str {
        self.str(self.names[id.index()].name)
    }

    fn rebuild_name_index(&mut self) {
        let (names, strs) = (&self.names, &self.strs);
        let hash = |s: Str| Self::name_hash(Self::str_in(strs, s));
        let mut index = hashbrown::HashTable::with_capacity(names.len());
        for i in NameId::all(names.len()) {
            let s = names[i.index()].name;
            index.insert_unique(hash(s), (i, s), |&(_, s)| hash(s));
        }
        self.name_index = index;
    }

    /// A package's version.
    pub fn version(&self, id: PkgId) -> &str {
        self.str(self.packages[id.index()].version)
    }

    /// The version of `p` (a package of this pool).
    pub fn pkg_version(&self, p: &Package) -> &str {
        self.str(p.version)
    }

    /// The version a dependency asks for (`None`: any version).
    pub fn dep_version(&self, d: &Dep) -> Option<&str> {
        d.has_version().then(|| self.str(d.version))
    }

    /// The dependency lists of `p` (a package of this pool).
    pub fn pkg_deps(&self, p: &Package) -> PkgDeps<'_> {
        PkgDeps {
            depends: self.dep_list(p, 0),
            provides: self.dep_list(p, 1),
            install_if: self.dep_list(p, 2),
            replaces: self.dep_list(p, 3),
        }
    }

    /// List `k` of `p` (0 depends, 1 provides, 2 install_if, 3 replaces).
    fn dep_list(&self, p: &Package, k: usize) -> &[Dep] {
        dep_list_in(&self.deps, p, k)
    }

    pub fn depends(&self, id: PkgId) -> &[Dep] {
        self.dep_list(self.pkg(id), 0)
    }

    pub fn provides(&self, id: PkgId) -> &[Dep] {
        self.dep_list(self.pkg(id), 1)
    }

    pub fn install_if(&self, id: PkgId) -> &[Dep] {
        self.dep_list(self.pkg(id), 2)
    }

    pub fn replaces(&self, id: PkgId) -> &[Dep] {
        self.dep_list(self.pkg(id), 3)
    }

    pub fn pkg(&self, id: PkgId) -> &Package {
        &self.packages[id.index()]
    }

    /// A package's file name in the package cache (apk-tools'
    /// `${name}-${version}.${hash:8}.apk`); `None` for a package without identity.
    pub fn cache_file_name(&self, id: PkgId) -> Option<String> {
        let pkg = self.pkg(id);
        let hex = apk_format::checksum::encode_hex(&self.checksum(id)?.bytes()[..4]);
        Some(format!(
            "{}-{}.{hex}.apk",
            self.name(pkg.name),
            self.pkg_version(pkg)
        ))
    }

    /// The package a file in the package cache is, as apk-tools finds it: one whose
    /// cache name is `file` and whose size is `size`.
    pub fn cached_package(&self, file: &str, size: u64) -> Option<PkgId> {
        file.char_indices()
            .skip(1)
            .filter(|&(_, c)| c == '-')
            .filter_map(|(i, _)| self.find_name(&file[..i]))
            .flat_map(|n| self.providers(n).iter().filter(|p| p.via().is_none()))
            .map(|p| p.pkg)
            .find(|&id| {
                self.info(id).size == Some(size)
                    && self.cache_file_name(id).as_deref() == Some(file)
            })
    }

    /// Marks the packages whose files are in the package cache `dir` (`(name, size)`
    /// of its entries) as cached: installable without their repository.
    pub fn mark_cached(&mut self, entries: &[(String, u64)]) {
        for (name, size) in entries {
            if let Some(id) = self.cached_package(name, *size) {
                self.packages.change(|p| p[id.index()].cached = true);
            }
        }
    }

    /// The packages providing a name, in load order.
    pub fn providers(&self, name: NameId) -> &[Provider] {
        match self.providers_building.get(name.index()) {
            Some(v) if !self.providers_building.is_empty() => v,
            _ => self.providers.get(name),
        }
    }

    /// Every name in the order apk-tools walks them all (its name hash table): what
    /// it prints in that order, such as `apk dot` without names, follows it.
    pub fn names_in_hash_order(&self) -> Vec<NameId> {
        name_order(&self.names, &self.strs)
    }

    /// The names whose packages depend on `name`, in apk's order.
    pub fn rdepends(&self, name: NameId) -> &[NameId] {
        self.rdepends.get(name)
    }

    /// The installed package of `name` (not a provider of it), if any.
    pub fn installed_of(&self, name: NameId) -> Option<PkgId> {
        self.providers(name)
            .iter()
            .map(|p| p.pkg)
            .find(|&id| self.pkg(id).name == name && self.pkg(id).installed().is_some())
    }

    /// The names whose packages have `name` in their install_if.
    pub fn rinstall_if(&self, name: NameId) -> &[NameId] {
        self.rinstall_if.get(name)
    }

    /// Adds a provider; reopens the flat lists when called after [`Pool::finish`].
    fn push_provider(&mut self, name: NameId, p: Provider) {
        if self.providers_building.is_empty() {
            self.providers_building = self.providers.to_growing(self.names.len());
        }
        if self.providers_building.len() < self.names.len() {
            self.providers_building
                .resize_with(self.names.len(), Growing::new);
        }
        self.providers_building[name.index()].push(p);
    }

    /// The tag index for `@name`, created when new.
    pub fn tag_id(&mut self, name: &str) -> TagId {
        if let Some(i) = self.find_tag(name) {
            return i;
        }
        self.tags.push(Tag {
            name: name.to_owned(),
            allowed_repos: 0,
        });
        TagId::new(self.tags.len() - 1)
    }

    pub fn find_tag(&self, name: &str) -> Option<TagId> {
        self.tags
            .iter()
            .position(|t| t.name == name)
            .map(TagId::new)
    }

    pub fn tag(&self, id: TagId) -> &Tag {
        &self.tags[id.index()]
    }

    pub fn repo(&self, id: RepoId) -> &Repo {
        &self.repos[id.index()]
    }

    /// Repositories allowed by the tags in `mask` (bit per tag).
    pub fn pinning_mask_repos(&self, mask: u32) -> u64 {
        self.tags
            .iter()
            .enumerate()
            .filter(|(i, _)| *i < 32 && mask & (1 << i) != 0)
            .fold(0, |acc, (_, t)| acc | t.allowed_repos)
    }

    /// Registers a configured repository; returns its index.
    pub fn add_repo(
        &mut self,
        url: &str,
        tag: Option<&str>,
        remote: bool,
        available: bool,
    ) -> RepoId {
        let tag = match tag {
            Some(t) => self.tag_id(t),
            None => TagId::DEFAULT,
        };
        let idx = RepoId::new(self.repos.len());
        self.repos.push(Repo {
            url: url.to_owned(),
            tag,
            remote,
            description: None,
            pkgname_spec: None,
        });
        self.tags[tag.index()].allowed_repos |= idx.bit();
        if available {
            self.available_repos |= idx.bit();
        }
        idx
    }

    /// Registers a configured repository that could not be used: listed, but its tag
    /// gains nothing from it (as apk-tools counts a tag's repositories, only those
    /// that opened), so a world naming only that tag is refused.
    pub fn add_unusable_repo(&mut self, url: &str, tag: Option<&str>, remote: bool) -> RepoId {
        let idx = self.add_repo(url, tag, remote, false);
        let tag = self.repos[idx.index()].tag;
        self.tags[tag.index()].allowed_repos &= !idx.bit();
        idx
    }

    /// The world's dependencies whose repository tag no usable repository has
    /// (`pkg@tag` where no `@tag` repository opened).
    pub fn missing_tags(&self, world: &[Dep]) -> Vec<Dep> {
        world
            .iter()
            .filter(|d| d.tag != TagId::DEFAULT && self.tags[d.tag.index()].allowed_repos == 0)
            .copied()
            .collect()
    }

    pub fn intern_dep(&mut self, d: &Dependency) -> Dep {
        self.intern_dep_ref(&d.as_ref())
    }

    fn intern_dep_ref(&mut self, d: &DepRef<'_>) -> Dep {
        let tag = d.tag.map_or(TagId::DEFAULT, |t| self.tag_id(t));
        let name = self.name_id(d.name);
        let version = if d.op.is_any() {
            Str::NONE
        } else {
            self.intern_str(d.version)
        };
        Dep {
            name,
            op: d.op,
            version,
            conflict: d.conflict,
            tag,
        }
    }

    /// Adds a package straight from an index record, parsing its dependency fields
    /// without building owned [`Dependency`] values first (the hot path of loading an
    /// index). A field that does not parse, or names a tag, makes the package broken.
    /// Keeps an index text for [`Pool::add_record`]; returns its number.
    /// Keeps a v3 index tree (its ADB block) for [`Pool::add_adb_package`].
    pub fn keep_adb(&mut self, tree: std::sync::Arc<[u8]>) -> u32 {
        self.adbs.push(tree);
        (self.adbs.len() - 1) as u32
    }

    /// Adds the package object `val` of kept v3 tree `tree` (see [`Pool::keep_adb`]):
    /// what solving needs is read now, the rest of its metadata when asked for.
    pub fn add_adb_package(&mut self, tree: u32, val: u32, repo: Option<RepoId>) -> PkgId {
        use apk_format::adb::value::{Db, Val};
        let bytes = self.adbs[tree as usize].clone();
        let db = Db::new(&bytes);
        let o = db.obj(Val(val));
        // Only the solver's fields now; the rest is read again on demand.
        let info = apk_format::adb::package::package_core_info(&o);
        let installed_before = info
            .checksum
            .as_ref()
            .and_then(|c| self.by_checksum.get(c).copied())
            .is_some();
        let id = self.add_package(info, repo, None);
        if !installed_before {
            if let Some(c) = self.cold_mut(id) {
                c.source = InfoSource::Adb(tree, val);
            }
        }
        id
    }

    /// Makes room for `packages` more packages (an index's records): the tables grow
    /// once instead of doubling, which copied each and held both copies at the peak.
    /// Capacity never touched costs no memory.
    pub fn reserve_packages(&mut self, packages: usize) {
        self.packages.reserve(packages);
        self.cold.reserve(packages);
        // Alpine's indexes average under six dependency atoms a package.
        self.deps.reserve(packages * 8);
        self.by_checksum.reserve(packages);
        // Names: a package's own and those its lists bring in, about two a package.
        if self.name_index.len() == self.names.len() {
            let strs = &self.strs;
            self.name_index.reserve(packages * 2, |&(_, s)| {
                Self::name_hash(Self::str_in(strs, s))
            });
        }
        self.names.reserve(packages * 2);
    }

    pub fn keep_text(&mut self, text: std::sync::Arc<String>) -> u32 {
        self.texts.push(text);
        (self.texts.len() - 1) as u32
    }

    pub fn add_record(
        &mut self,
        rec: &RecordRef<'_>,
        repo: Option<RepoId>,
        text: Option<u32>,
    ) -> std::result::Result<PkgId, apk_format::package_info::FieldError> {
        // The package's own name is interned before its dependencies' (apk's order).
        let name_id = self.name_id(rec.name());
        let mut lists = std::mem::take(&mut self.dep_scratch);
        lists.iter_mut().for_each(Vec::clear);
        let mut broken = false;
        let Some(t) = text else {
            let mut info = PackageInfo::default();
            for (letter, value) in rec.fields() {
                match dep_list_slot(letter) {
                    Some(slot) => self.read_dep_field(
                        letter,
                        value,
                        slot,
                        &mut lists,
                        &mut info.unparsed,
                        &mut broken,
                        repo,
                    ),
                    None => {
                        if !info.set_field(letter, value)? {
                            info.extra.push((letter, value.to_owned()));
                        }
                    }
                }
            }
            let id = self.insert_package(info, &lists, broken, repo, None);
            self.dep_scratch = lists;
            return Ok(id);
        };
        // With the text kept, only what solving needs is read now, into these (a whole
        // record built and dropped for every package was 2% of loading an index); names
        // and versions are read from the record. The fields are read in the order
        // `fields` gives them, so that the first bad value is the one named.
        use apk_format::v2::apkindex::fields;
        let checksum = rec.get(b'C').map(fields::checksum).transpose()?;
        let installed_size = rec
            .get(b'I')
            .map(|v| fields::num(v, "installed size"))
            .transpose()?;
        let provider_priority = rec
            .get(b'k')
            .map(|v| fields::num(v, "provider priority"))
            .transpose()?;
        let mut unparsed = Vec::new();
        for (letter, value) in rec.dependency_fields() {
            if let Some(slot) = dep_list_slot(letter) {
                self.read_dep_field(
                    letter,
                    value,
                    slot,
                    &mut lists,
                    &mut unparsed,
                    &mut broken,
                    repo,
                );
            }
        }
        let span = record_span(&self.texts[t as usize], rec)
            .and_then(|(a, b)| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?)));
        let core = Core {
            name: rec.name(),
            name_id: Some(name_id),
            version: rec.version(),
            arch: rec.get(b'A'),
            checksum: checksum.as_ref(),
            installed_size,
            provider_priority,
        };
        let (id, new) = self.insert_core(&core, &lists, broken, repo, None);
        self.dep_scratch = lists;
        if new {
            let source = match span {
                Some((a, b)) => InfoSource::Text(t, a, b),
                None => InfoSource::Owned(Box::new(PackageInfo {
                    checksum,
                    name: rec.name().to_owned(),
                    version: rec.version().to_owned(),
                    arch: rec.get(b'A').map(str::to_owned),
                    installed_size,
                    provider_priority,
                    unparsed,
                    ..PackageInfo::default()
                })),
            };
            self.cold.push(Cold {
                checksum,
                installed_size: installed_size.unwrap_or(0),
                source,
            });
            self.infos.cover(self.packages.len());
        } else {
            let installed = self.packages[id.index()].installed().is_some();
            if let (Some((a, b)), Some(c)) = (span, self.cold_mut(id)) {
                if !installed && !matches!(c.source, InfoSource::Text(..)) {
                    c.source = InfoSource::Text(t, a, b);
                }
            }
        }
        Ok(id)
    }

    fn intern_deps(&mut self, deps: &[Dependency]) -> Vec<Dep> {
        deps.iter().map(|d| self.intern_dep(d)).collect()
    }

    /// Adds a package from an index (`repo`) or the installed database (`repo = None`,
    /// with its tag). A package already known by identity gains the repository.
    pub fn add_package(
        &mut self,
        info: PackageInfo,
        repo: Option<RepoId>,
        installed_tag: Option<TagId>,
    ) -> PkgId {
        if let Some(id) = self.merge_known(info.checksum.as_ref(), repo, installed_tag) {
            return id;
        }
        // The package's own name is interned before its dependencies, as apk does.
        self.name_id(&info.name);
        let lists = [
            self.intern_deps(&info.depends),
            self.intern_deps(&info.provides),
            self.intern_deps(&info.install_if),
            self.intern_deps(&info.replaces),
        ];
        let broken = info.is_uninstallable();
        self.insert_package(info, &lists, broken, repo, installed_tag)
    }

    /// A package already known by identity: it gains the repository (and the installed
    /// state), and is not added again.
    fn merge_known(
        &mut self,
        checksum: Option<&Checksum>,
        repo: Option<RepoId>,
        installed_tag: Option<TagId>,
    ) -> Option<PkgId> {
        let id = *self.by_checksum.get(checksum?)?;
        let installed_order = self.installed.len() as u32;
        let newly_installed = self.packages.change(|packages| {
            let p = &mut packages[id.index()];
            p.repos |= repo_bit(repo);
            p.cached |= repo == Some(RepoId::CACHED);
            let newly = installed_tag.is_some() && p.installed().is_none();
            if newly {
                p.installed = Package::tag_bits(installed_tag);
                p.installed_order = installed_order;
            }
            newly
        });
        if newly_installed == Some(true) {
            self.installed.push(id);
        }
        Some(id)
    }

    fn insert_package(
        &mut self,
        info: PackageInfo,
        lists: &[Vec<Dep>; 4],
        broken: bool,
        repo: Option<RepoId>,
        installed_tag: Option<TagId>,
    ) -> PkgId {
        let core = Core {
            name: &info.name,
            name_id: None,
            version: &info.version,
            arch: info.arch.as_deref(),
            checksum: info.checksum.as_ref(),
            installed_size: info.installed_size,
            provider_priority: info.provider_priority,
        };
        let (id, new) = self.insert_core(&core, lists, broken, repo, installed_tag);
        if new {
            self.cold.push(Cold {
                checksum: info.checksum,
                installed_size: info.installed_size.unwrap_or(0),
                source: InfoSource::Owned(Box::new(info)),
            });
            self.infos.cover(self.packages.len());
        }
        id
    }

    /// Adds a package from what solving needs of it (a known identity merges instead);
    /// true when it is new, and the caller then pushes its [`Cold`] entry.
    /// Reads one dependency-list field (`D:`, `p:`, `i:`, `r:`) of a record into
    /// `lists[slot]`, as apk-tools does: an unparsable `D:` makes the package
    /// uninstallable; an unparsable `i:` drops the whole rule; `p:` keeps what parsed.
    /// Each makes the indexes "contain broken packages"; the text is kept in `unparsed`.
    #[allow(clippy::too_many_arguments)]
    fn read_dep_field(
        &mut self,
        letter: u8,
        value: &str,
        slot: usize,
        lists: &mut [Vec<Dep>; 4],
        unparsed: &mut Vec<(u8, String)>,
        broken: &mut bool,
        repo: Option<RepoId>,
    ) {
        let mut bad = false;
        for atom in value.split_ascii_whitespace() {
            match DepRef::parse(atom) {
                Ok(d) if d.tag.is_none() => {
                    let dep = self.intern_dep_ref(&d);
                    lists[slot].push(dep);
                }
                _ => {
                    bad = true;
                    break;
                }
            }
        }
        if bad {
            unparsed.push((letter, value.to_owned()));
            if repo.is_some() {
                self.has_broken = true;
            }
            match letter {
                b'D' => *broken = true,
                b'i' => lists[2].clear(),
                _ => {}
            }
        }
    }

    fn insert_core(
        &mut self,
        info: &Core<'_>,
        lists: &[Vec<Dep>; 4],
        broken: bool,
        repo: Option<RepoId>,
        installed_tag: Option<TagId>,
    ) -> (PkgId, bool) {
        if let Some(id) = self.merge_known(info.checksum, repo, installed_tag) {
            return (id, false);
        }
        let repo_bit = repo_bit(repo);
        let name = match info.name_id {
            Some(id) => id,
            None => self.name_id(info.name),
        };
        let id = PkgId::new(self.packages.len());
        let arch_ok = info.arch.is_none_or(|a| self.arch_compatible(a));
        // Lists longer than a package could sensibly have are refused with the package.
        let too_long = lists.iter().any(|l| l.len() > usize::from(u16::MAX));
        let broken = broken || too_long;
        let uninstallable = broken || !arch_ok;
        self.has_broken |= broken && repo.is_some();
        self.has_uninstallable |= broken && repo.is_some();
        if let Some(c) = info.checksum {
            self.by_checksum.insert(*c, id);
        }
        self.push_provider(name, Provider::new(id, None));
        let provides = if too_long { &[][..] } else { &lists[1][..] };
        for (i, p) in provides.iter().enumerate() {
            self.push_provider(p.name, Provider::new(id, Some(i as u16)));
        }
        let installed_order = self.installed.len() as u32;
        if installed_tag.is_some() {
            self.installed.push(id);
        }
        let deps_at = u32::try_from(self.deps.len()).unwrap_or(u32::MAX);
        let mut deps_len = [0u16; 4];
        if !too_long {
            for (len, list) in deps_len.iter_mut().zip(lists) {
                *len = list.len() as u16;
                self.deps.extend_from_slice(list);
            }
        }
        let version = self.intern_str(info.version);
        let installed_size = info.installed_size.unwrap_or(0);
        self.packages.push(Package {
            name,
            version,
            deps_at,
            deps_len,
            provider_priority: info.provider_priority.unwrap_or(0),
            repos: repo_bit,
            installed: Package::tag_bits(installed_tag),
            installed_order,
            uninstallable,
            cached: repo == Some(RepoId::CACHED),
            no_size: installed_size == 0,
            pad: [0; 3],
        });
        (id, true)
    }

    /// The version a provider offers its name at (`None`: a provide without version).
    pub fn provider_version(&self, p: Provider) -> Option<&str> {
        match p.via() {
            None => Some(self.version(p.pkg)),
            Some(i) => self
                .provides(p.pkg)
                .get(i as usize)
                .and_then(|d| self.dep_version(d)),
        }
    }

    /// Does provider `p` (or nothing, `None`) satisfy `dep`?
    pub fn dep_is_provided(&self, dep: &Dep, p: Option<Provider>) -> bool {
        let Some(p) = p else { return dep.conflict };
        dep.conflict ^ self.version_matches(dep, p)
    }

    /// As [`Pool::dep_is_provided`] for a dependency of package `owner`: a package never
    /// conflicts with what it provides itself (`!mail-reader` beside `p:mail-reader`
    /// means "instead of any other mail-reader").
    pub fn dep_of_is_provided(&self, owner: Option<PkgId>, dep: &Dep, p: Option<Provider>) -> bool {
        if dep.conflict && owner.is_some() && owner == p.map(|p| p.pkg) {
            return true;
        }
        self.dep_is_provided(dep, p)
    }

    fn version_matches(&self, dep: &Dep, p: Provider) -> bool {
        let Some(want) = self.dep_version(dep) else {
            return true;
        };
        if dep.op.is_checksum() {
            return self.checksum(p.pkg).is_some_and(|c| c.to_string() == want);
        }
        match self.provider_version(p) {
            Some(v) => dep.op.matches(v, want),
            None => false,
        }
    }

    /// How `dep` (of package `owner`, if any) relates to `pkg`: satisfied, conflicting,
    /// or irrelevant.
    pub fn dep_analyze(&self, owner: Option<PkgId>, dep: &Dep, pkg: PkgId) -> DepMatch {
        if dep.conflict && owner == Some(pkg) {
            return DepMatch::Irrelevant;
        }
        let p = self.pkg(pkg);
        let provider = if dep.name == p.name {
            Some(Provider::new(pkg, None))
        } else {
            self.pkg_deps(p)
                .provides
                .iter()
                .position(|d| d.name == dep.name)
                .map(|i| Provider::new(pkg, Some(i as u16)))
        };
        match provider {
            None => DepMatch::Irrelevant,
            Some(pr) if self.dep_is_provided(dep, Some(pr)) => DepMatch::Satisfies,
            Some(_) => DepMatch::Conflicts,
        }
    }

    /// Builds reverse dependencies and name priorities; call once everything is loaded.
    pub fn finish(&mut self) {
        if !self.providers_building.is_empty() {
            self.providers_building
                .resize_with(self.names.len(), Growing::new);
            self.providers = Lists::from_growing(&self.providers_building);
            self.providers_building = Vec::new();
        }
        let (names, providers, packages, deps) =
            (&self.names, &self.providers, &self.packages, &self.deps);
        let (rdepends, rinstall_if) =
            reverse_lists(providers, packages, deps, &name_order(names, &self.strs));
        // A name's priority: 0 when only packages of that name provide it, 1 when
        // others provide it too, 2 when it is purely virtual.
        let priorities: Vec<u8> = NameId::all(names.len())
            .map(|name| {
                let providers = providers.get(name);
                let num_virtual = providers
                    .iter()
                    .filter(|p| packages[p.pkg.index()].name != name)
                    .count();
                if num_virtual == 0 {
                    0
                } else if num_virtual != providers.len() {
                    1
                } else {
                    2
                }
            })
            .collect();
        let mut is_dependency = vec![false; names.len()];
        for p in packages.iter() {
            for d in dep_list_in(deps, p, 0).iter().filter(|d| !d.conflict) {
                is_dependency[d.name.index()] = true;
            }
        }
        (self.rdepends, self.rinstall_if) = (rdepends, rinstall_if);
        self.names.change(|names| {
            for ((n, priority), dep) in names.iter_mut().zip(priorities).zip(is_dependency) {
                n.priority = priority;
                n.is_dependency |= dep;
            }
        });
    }

    /// Can packages of `arch` be installed here?
    pub fn arch_compatible(&self, arch: &str) -> bool {
        arch == "noarch" || self.arches.iter().any(|a| a == arch)
    }

    /// Is the package in a repository that is currently usable?
    pub fn pkg_available(&self, id: PkgId) -> bool {
        self.pkg(id).repos & self.available_repos != 0
    }

    /// Whether the package's file can be had for a reinstall: from a usable repository,
    /// or from the package cache (apk-tools' test before "Reinstalling").
    pub fn pkg_obtainable(&self, id: PkgId) -> bool {
        self.pkg(id).cached || self.pkg_available(id)
    }

    /// `name-version`, as apk prints a package.
    pub fn nv(&self, id: PkgId) -> String {
        let p = self.pkg(id);
        format!("{}-{}", self.name(p.name), self.pkg_version(p))
    }

    /// A dependency as apk prints it.
    pub fn dep_string(&self, d: &Dep) -> String {
        let mut s = String::new();
        if d.conflict {
            s.push('!');
        }
        s.push_str(self.name(d.name));
        if d.tag != TagId::DEFAULT {
            s.push('@');
            s.push_str(&self.tags[d.tag.index()].name);
        }
        if let Some(v) = self.dep_version(d) {
            s.push_str(d.op.as_str().unwrap_or("?"));
            s.push_str(v);
        }
        s
    }
}

/// The outcome of [`Pool::dep_analyze`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepMatch {
    Irrelevant,
    Satisfies,
    Conflicts,
}

/// Names in the order apk-tools walks its name hash table (bucket, then newest first).
fn name_order(names: &[Name], strs: &str) -> Vec<NameId> {
    // By bucket, the later name first within one: a counting sort over the buckets.
    let buckets: Vec<u32> = names
        .iter()
        .map(|n| murmur3_32(Pool::str_in(strs, n.name).as_bytes(), 5381) % NAME_BUCKETS)
        .collect();
    let mut start = vec![0u32; NAME_BUCKETS as usize + 1];
    for &b in &buckets {
        start[b as usize + 1] += 1;
    }
    for i in 0..NAME_BUCKETS as usize {
        start[i + 1] += start[i];
    }
    let mut order = vec![NameId(0); names.len()];
    for (i, &b) in buckets.iter().enumerate().rev() {
        let at = &mut start[b as usize];
        order[*at as usize] = NameId::new(i);
        *at += 1;
    }
    order
}

/// List `k` of `p` in `deps` (0 depends, 1 provides, 2 install_if, 3 replaces).
fn dep_list_in<'a>(deps: &'a [Dep], p: &Package, k: usize) -> &'a [Dep] {
    let start = p.deps_at as usize + p.deps_len[..k].iter().map(|&l| l as usize).sum::<usize>();
    deps.get(start..start + p.deps_len[k] as usize)
        .unwrap_or(&[])
}

/// Which of a record's four dependency lists a field letter fills.
fn dep_list_slot(letter: u8) -> Option<usize> {
    match letter {
        b'D' => Some(0),
        b'p' => Some(1),
        b'i' => Some(2),
        b'r' => Some(3),
        _ => None,
    }
}

/// For each name, the names (in `order`) having a provider whose dependencies (first
/// list) or install_if rules (second list) mention it, each once: one walk collects the
/// pairs, a counting sort groups them by name (keeping walk order).
fn reverse_lists(
    providers: &Lists<Provider>,
    packages: &[Package],
    deps: &[Dep],
    order: &[NameId],
) -> (Lists<NameId>, Lists<NameId>) {
    let n = order.len();
    let mut seen = [vec![NameId(u32::MAX); n], vec![NameId(u32::MAX); n]];
    let mut pairs: [Vec<(NameId, NameId)>; 2] = Default::default();
    for &name in order {
        for p in providers.get(name) {
            let pkg = &packages[p.pkg.index()];
            for (k, list) in [dep_list_in(deps, pkg, 0), dep_list_in(deps, pkg, 2)]
                .into_iter()
                .enumerate()
            {
                for dep in list {
                    let r = dep.name.index();
                    if seen[k][r] != name {
                        seen[k][r] = name;
                        pairs[k].push((dep.name, name));
                    }
                }
            }
        }
    }
    let group = |pairs: &[(NameId, NameId)]| {
        let mut start = vec![0u32; n + 1];
        for &(r, _) in pairs {
            start[r.index() + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut cursor: Vec<u32> = start[..n].to_vec();
        let mut items = vec![NameId(0); pairs.len()];
        for &(r, name) in pairs {
            items[cursor[r.index()] as usize] = name;
            cursor[r.index()] += 1;
        }
        Lists {
            start: start.into(),
            items: items.into(),
        }
    };
    (group(&pairs[0]), group(&pairs[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_walked_by_bucket_then_newest_first() {
        let mut pool = Pool::new();
        for i in 0..50_000 {
            pool.name_id(&format!("so:lib{i}.so.{}", i % 7));
        }
        let mut by_sorting: Vec<(u32, std::cmp::Reverse<usize>, NameId)> = pool
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = Pool::str_in(&pool.strs, n.name);
                let bucket = murmur3_32(name.as_bytes(), 5381) % NAME_BUCKETS;
                (bucket, std::cmp::Reverse(i), NameId::new(i))
            })
            .collect();
        by_sorting.sort();
        let want: Vec<NameId> = by_sorting.into_iter().map(|(_, _, n)| n).collect();
        assert_eq!(name_order(&pool.names, &pool.strs), want);
    }

    #[test]
    fn murmur3_known_answers() {
        // Reference values of MurmurHash3_x86_32.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
    }
}
