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

use rustc_hash::FxHashMap;

use crate::snapshot::{Reader, Writer};
use apk_format::checksum::Checksum;
use apk_format::dep::{DepRef, Dependency, Op};
use apk_format::v2::apkindex::{PackageInfo, RecordRef};

pub type NameId = u32;
pub type PkgId = u32;

/// The cache pseudo-repository is bit 0; configured repositories start at 1.
pub const REPO_CACHED: u32 = 0;
pub const FIRST_REPO: u32 = 1;
/// Tag 0 is the default (untagged) one.
pub const DEFAULT_TAG: u16 = 0;

/// A string in the pool's string store (see [`Pool::str`]): names, versions and
/// dependency versions all live in one buffer instead of one allocation each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy)]
pub struct Dep {
    pub name: NameId,
    /// [`Str::NONE`] when the atom has no version (any version; a virtual provide).
    version: Str,
    pub op: Op,
    pub conflict: bool,
    /// The repository tag (`@tag`) index.
    pub tag: u16,
}

impl Dep {
    /// `name`, any version.
    pub fn any(name: NameId) -> Dep {
        Dep {
            name,
            op: Op::ANY,
            version: Str::NONE,
            conflict: false,
            tag: DEFAULT_TAG,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    pub pkg: PkgId,
    /// Index into the package's `provides` (`None`: the package's own name).
    pub via: Option<u16>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Name {
    name: Str,
    /// 0: only real packages, 1: some providers are virtual, 2: all are.
    pub priority: u8,
    pub is_dependency: bool,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: NameId,
    version: Str,
    /// Where the package's dependency lists start in the pool's `deps`, and their
    /// lengths (depends, provides, install_if, replaces).
    deps_at: u32,
    deps_len: [u16; 4],
    provider_priority: u32,
    /// Repositories holding this package (bit per repository).
    pub repos: u64,
    /// Installed, and under which tag.
    pub installed: Option<u16>,
    /// Position in the installed database (its install order).
    pub installed_order: u32,
    /// The package cannot be installed (its metadata did not parse).
    pub uninstallable: bool,
    /// The package file is in the local cache.
    pub cached: bool,
    /// Its installed size is 0 (the solver asks this of every package it meets; the
    /// size itself is read with [`Pool::installed_size`]).
    no_size: bool,
}

impl Package {
    pub fn provider_priority(&self) -> u32 {
        self.provider_priority
    }

    /// Does the package install nothing (installed size 0)?
    pub fn has_no_size(&self) -> bool {
        self.no_size
    }
}

/// What is read of a package only now and then: its identity (`C:`), installed size
/// and where its full metadata comes from. Packages loaded from a snapshot keep this
/// there (a fixed-size record each, read when asked); others keep it in the pool.
#[derive(Debug, Clone)]
struct Cold {
    checksum: Option<Checksum>,
    installed_size: u64,
    source: InfoSource,
}

#[derive(Debug, Clone)]
enum InfoSource {
    Owned(Box<PackageInfo>),
    /// The package's record in a kept index text (text, start, end).
    Text(u32, u32, u32),
}

/// A package's record in the snapshot's metadata section: kind and bytes of the
/// checksum, installed size, the deflated block holding its metadata (offset, length,
/// CRC-32 of the compressed bytes), where in the inflated block its blob lies (offset,
/// 24-bit length), then the record's own CRC-32.
const COLD_RECORD: usize = 64;

/// Packages whose metadata blobs are deflated together: small enough that reading
/// one package's metadata inflates little, large enough to compress well.
const BLOB_BLOCK: usize = 256;

struct ColdRecord {
    checksum: Option<Checksum>,
    installed_size: u64,
    /// The compressed block: offset in the section, length, CRC-32.
    block: (usize, usize, u32),
    /// The blob inside the inflated block: offset, length.
    blob: (usize, usize),
}

impl ColdRecord {
    fn encode(&self) -> [u8; COLD_RECORD] {
        let mut r = [0u8; COLD_RECORD];
        match &self.checksum {
            Some(Checksum::Sha1(b)) => {
                r[0] = 1;
                r[1..21].copy_from_slice(b);
            }
            Some(Checksum::Sha256(b)) => {
                r[0] = 2;
                r[1..33].copy_from_slice(b);
            }
            None => {}
        }
        r[33..41].copy_from_slice(&self.installed_size.to_le_bytes());
        r[41..45].copy_from_slice(&(self.block.0 as u32).to_le_bytes());
        r[45..49].copy_from_slice(&(self.block.1 as u32).to_le_bytes());
        r[49..53].copy_from_slice(&self.block.2.to_le_bytes());
        r[53..57].copy_from_slice(&(self.blob.0 as u32).to_le_bytes());
        r[57..60].copy_from_slice(&(self.blob.1 as u32).to_le_bytes()[..3]);
        let crc = crc32fast::hash(&r[..60]);
        r[60..].copy_from_slice(&crc.to_le_bytes());
        r
    }

    /// `None` when the record fails its checksum.
    fn decode(r: &[u8]) -> Option<ColdRecord> {
        let r: &[u8; COLD_RECORD] = r.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        if crc32fast::hash(&r[..60]) != u32_at(60) {
            return None;
        }
        let checksum = match r[0] {
            0 => None,
            1 => Some(Checksum::Sha1(r[1..21].try_into().ok()?)),
            2 => Some(Checksum::Sha256(r[1..33].try_into().ok()?)),
            _ => return None,
        };
        let mut size = [0u8; 8];
        size.copy_from_slice(&r[33..41]);
        Some(ColdRecord {
            checksum,
            installed_size: u64::from_le_bytes(size),
            block: (u32_at(41) as usize, u32_at(45) as usize, u32_at(49)),
            blob: (
                u32_at(53) as usize,
                u32::from_le_bytes([r[57], r[58], r[59], 0]) as usize,
            ),
        })
    }
}

/// Decoded metadata kept once asked for, in chunks made on first use (a run asks for
/// a few packages of many).
#[derive(Debug, Clone, Default)]
struct InfoCache {
    chunks: Vec<std::cell::OnceCell<InfoChunk>>,
}

type InfoChunk = Box<[std::cell::OnceCell<Box<PackageInfo>>]>;

const INFO_CHUNK: usize = 64;

impl InfoCache {
    fn cover(&mut self, packages: usize) {
        let n = packages.div_ceil(INFO_CHUNK);
        if self.chunks.len() < n {
            self.chunks.resize(n, std::cell::OnceCell::new());
        }
    }

    fn get_or_init(&self, id: PkgId, f: impl FnOnce() -> Box<PackageInfo>) -> &PackageInfo {
        let id = id as usize;
        let chunk = self.chunks[id / INFO_CHUNK]
            .get_or_init(|| vec![std::cell::OnceCell::new(); INFO_CHUNK].into());
        chunk[id % INFO_CHUNK].get_or_init(f)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tag {
    /// `@name`, or empty for the default tag.
    pub name: String,
    pub allowed_repos: u64,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub url: String,
    pub tag: u16,
    pub remote: bool,
    /// The index's description (`apk version -I`, `apk update`).
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub names: Vec<Name>,
    pub packages: Vec<Package>,
    /// Names, versions and dependency versions, one after the other ([`Str`] spans).
    strs: String,
    /// Every package's dependency lists, one package after the other.
    deps: Vec<Dep>,
    /// Lists reused while a record's dependencies are parsed.
    dep_scratch: [Vec<Dep>; 4],
    /// Names are looked up for every dependency of every package loaded: a hash table
    /// of name ids, hashed by their strings in `strs` (a fast, non-cryptographic hash
    /// pays off; the keys are not attacker-chosen per process).
    name_index: hashbrown::HashTable<NameId>,
    /// Name ids in the order of their names (from a snapshot), for lookups without
    /// building `name_ids`.
    sorted_names: Vec<NameId>,
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
    texts: Vec<std::sync::Arc<str>>,
    /// Providers per name while packages are being added; [`Pool::finish`] flattens
    /// them into `providers`.
    providers_building: Vec<Vec<Provider>>,
    providers: Lists<Provider>,
    rdepends: Lists<NameId>,
    rinstall_if: Lists<NameId>,
}

/// Lists of ids per name, stored flat (`items[start[n]..start[n + 1]]`): one allocation
/// for all names instead of one per name.
#[derive(Debug, Clone)]
pub struct Lists<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Lists {
            start: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T: Copy> Lists<T> {
    fn get(&self, n: NameId) -> &[T] {
        let n = n as usize;
        match (self.start.get(n), self.start.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }

    fn from_vecs(v: &[Vec<T>]) -> Self {
        let mut start = Vec::with_capacity(v.len() + 1);
        let mut items = Vec::with_capacity(v.iter().map(Vec::len).sum());
        start.push(0);
        for l in v {
            items.extend_from_slice(l);
            start.push(items.len() as u32);
        }
        Lists { start, items }
    }

    fn to_vecs(&self, names: usize) -> Vec<Vec<T>> {
        (0..names).map(|n| self.get(n as NameId).to_vec()).collect()
    }

    fn encode(&self, w: &mut Writer, item: impl Fn(&mut Writer, &T)) {
        w.len(self.start.len());
        for s in &self.start {
            w.u32(*s);
        }
        w.len(self.items.len());
        for i in &self.items {
            item(w, i);
        }
    }

    fn decode(r: &mut Reader<'_>, item: impl Fn(&mut Reader<'_>) -> Option<T>) -> Option<Self> {
        let n = r.len()?;
        let start = r.u32s(n)?;
        let m = r.len()?;
        let items: Vec<T> = (0..m).map(|_| item(r)).collect::<Option<_>>()?;
        Self::checked(start, items)
    }

    fn checked(start: Vec<u32>, items: Vec<T>) -> Option<Self> {
        let ordered = start.first().is_none_or(|&s| s == 0)
            && start.windows(2).all(|w| w[0] <= w[1])
            && start.last().is_none_or(|&e| e as usize == items.len());
        ordered.then_some(Lists { start, items })
    }
}

impl Lists<u32> {
    fn decode_u32(r: &mut Reader<'_>) -> Option<Self> {
        let n = r.len()?;
        let start = r.u32s(n)?;
        let m = r.len()?;
        let items = r.u32s(m)?;
        Self::checked(start, items)
    }
}

/// Reads a package's metadata (by name and version) from the original sources, for
/// when its record in the snapshot fails its checksum.
#[derive(Clone, Default)]
pub struct InfoFallback(pub Option<std::rc::Rc<InfoReader>>);

/// Reads a package's metadata given its name and version.
pub type InfoReader = dyn Fn(&str, &str) -> Option<PackageInfo>;

impl std::fmt::Debug for InfoFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InfoFallback({})", self.0.is_some())
    }
}

/// A mapped snapshot kept alive by the pool decoded from it.
pub struct SnapshotBytes(pub crate::mapped::MappedFile);

impl std::fmt::Debug for SnapshotBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotBytes({} bytes)", self.0.bytes().len())
    }
}

/// The bit of a repository in a package's `repos` mask (none past 64 repositories).
fn repo_bit(repo: Option<u32>) -> u64 {
    repo.map_or(0, |r| if r < 64 { 1u64 << r } else { 0 })
}

/// The byte range of a record inside the text its fields borrow from.
fn record_span(text: &str, rec: &RecordRef<'_>) -> Option<(usize, usize)> {
    let base = text.as_ptr() as usize;
    let mut span: Option<(usize, usize)> = None;
    for (_, v) in rec.fields() {
        // Each value follows its two-byte `X:` prefix on the same line.
        let start = (v.as_ptr() as usize).checked_sub(base)?.checked_sub(2)?;
        let end = start + 2 + v.len();
        span = Some(span.map_or((start, end), |(a, b)| (a.min(start), b.max(end))));
    }
    span.filter(|&(_, end)| end <= text.len())
}

/// MurmurHash3 (x86, 32-bit), which apk-tools hashes names with.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k ^= (*b as u32) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

const NAME_BUCKETS: u32 = 20000;

impl Pool {
    pub fn new() -> Self {
        Pool {
            // The cache counts as an untagged repository.
            tags: vec![Tag {
                name: String::new(),
                allowed_repos: 1 << REPO_CACHED,
            }],
            repos: vec![Repo {
                url: "cache".into(),
                tag: DEFAULT_TAG,
                remote: false,
                description: None,
            }],
            available_repos: 1 << REPO_CACHED,
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
        self.sorted_names.clear();
        let id = self.names.len() as NameId;
        let s = self.intern_str(name);
        self.names.push(Name {
            name: s,
            ..Default::default()
        });
        let (names, strs) = (&self.names, &self.strs);
        self.name_index
            .insert_unique(Self::name_hash(name), id, |&i| {
                Self::name_hash(Self::str_in(strs, names[i as usize].name))
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
                .find(Self::name_hash(name), |&i| {
                    self.str(self.names[i as usize].name) == name
                })
                .copied();
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
        (0..self.names.len() as NameId).find(|&i| self.name(i) == name)
    }

    pub fn name(&self, id: NameId) -> &str {
        self.str(self.names[id as usize].name)
    }

    fn rebuild_name_index(&mut self) {
        let (names, strs) = (&self.names, &self.strs);
        let hash = |i: NameId| Self::name_hash(Self::str_in(strs, names[i as usize].name));
        let mut index = hashbrown::HashTable::with_capacity(names.len());
        for i in 0..names.len() as NameId {
            index.insert_unique(hash(i), i, |&j| hash(j));
        }
        self.name_index = index;
    }

    /// A package's version.
    pub fn version(&self, id: PkgId) -> &str {
        self.str(self.packages[id as usize].version)
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
        let start = p.deps_at as usize + p.deps_len[..k].iter().map(|&l| l as usize).sum::<usize>();
        self.deps
            .get(start..start + p.deps_len[k] as usize)
            .unwrap_or(&[])
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
        &self.packages[id as usize]
    }

    /// The packages providing a name, in load order.
    pub fn providers(&self, name: NameId) -> &[Provider] {
        match self.providers_building.get(name as usize) {
            Some(v) if !self.providers_building.is_empty() => v,
            _ => self.providers.get(name),
        }
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
            .find(|&id| self.pkg(id).name == name && self.pkg(id).installed.is_some())
    }

    /// The names whose packages have `name` in their install_if.
    pub fn rinstall_if(&self, name: NameId) -> &[NameId] {
        self.rinstall_if.get(name)
    }

    /// Adds a provider; reopens the flat lists when called after [`Pool::finish`].
    fn push_provider(&mut self, name: NameId, p: Provider) {
        if self.providers_building.is_empty() {
            self.providers_building = self.providers.to_vecs(self.names.len());
        }
        if self.providers_building.len() < self.names.len() {
            self.providers_building.resize(self.names.len(), Vec::new());
        }
        self.providers_building[name as usize].push(p);
    }

    fn cold(&self, id: PkgId) -> Option<&Cold> {
        self.cold.get(id.checked_sub(self.snap_packages)? as usize)
    }

    fn cold_mut(&mut self, id: PkgId) -> Option<&mut Cold> {
        self.cold
            .get_mut(id.checked_sub(self.snap_packages)? as usize)
    }

    /// The snapshot record of a package read from it (`None` when damaged).
    fn cold_record(&self, id: PkgId) -> Option<ColdRecord> {
        if id >= self.snap_packages {
            return None;
        }
        let at = self
            .snap_cold_at
            .checked_add((id as usize).checked_mul(COLD_RECORD)?)?;
        let bytes = self.snapshot.as_ref()?.0.bytes();
        ColdRecord::decode(bytes.get(at..at.checked_add(COLD_RECORD)?)?)
    }

    /// A package's identity (`C:`).
    pub fn checksum(&self, id: PkgId) -> Option<Checksum> {
        if let Some(c) = self.cold(id) {
            return c.checksum;
        }
        match self.cold_record(id) {
            Some(r) => r.checksum,
            None => self.info(id).checksum,
        }
    }

    /// A package's installed size.
    pub fn installed_size(&self, id: PkgId) -> u64 {
        if let Some(c) = self.cold(id) {
            return c.installed_size;
        }
        match self.cold_record(id) {
            Some(r) => r.installed_size,
            None => self.info(id).installed_size.unwrap_or(0),
        }
    }

    /// A package's full metadata (description, url, license, ...), kept once read.
    pub fn info(&self, id: PkgId) -> &PackageInfo {
        if let Some(Cold {
            source: InfoSource::Owned(info),
            ..
        }) = self.cold(id)
        {
            return info;
        }
        self.infos.get_or_init(id, || Box::new(self.read_info(id)))
    }

    /// A package's metadata without keeping it (for writing every package once).
    fn info_once(&self, id: PkgId) -> std::borrow::Cow<'_, PackageInfo> {
        match self.cold(id) {
            Some(Cold {
                source: InfoSource::Owned(info),
                ..
            }) => std::borrow::Cow::Borrowed(&**info),
            _ => std::borrow::Cow::Owned(self.read_info(id)),
        }
    }

    /// Reads a package's metadata from where it lies (index text, snapshot record, or
    /// the original sources when that record is damaged).
    fn read_info(&self, id: PkgId) -> PackageInfo {
        let text = match self.cold(id).map(|c| &c.source) {
            Some(InfoSource::Owned(info)) => return (**info).clone(),
            Some(InfoSource::Text(t, start, end)) => Some((*t, *start, *end)),
            None => None,
        };
        let p = &self.packages[id as usize];
        let from_text = text.and_then(|(t, start, end)| {
            let text = self
                .texts
                .get(t as usize)?
                .get(start as usize..end as usize)?;
            let recs = apk_format::v2::apkindex::parse_refs(text, "index").ok()?;
            recs.first()?.to_info().ok()
        });
        let decoded = from_text.or_else(|| {
            let record = self.cold_record(id)?;
            let block = self.metadata_block(record.block)?;
            let (off, len) = record.blob;
            Self::decode_info(&mut Reader::new(block.get(off..off.checked_add(len)?)?))
        });
        // A damaged snapshot record is read again from where it came from.
        let decoded = decoded.or_else(|| {
            let fallback = self.info_fallback.0.as_ref()?;
            fallback(self.name(p.name), self.pkg_version(p))
        });
        // Both sources were verified when loaded, so this only guards against a bug.
        decoded.unwrap_or_else(|| PackageInfo {
            name: self.name(p.name).to_owned(),
            version: self.pkg_version(p).to_owned(),
            ..Default::default()
        })
    }

    /// A metadata block of the snapshot, inflated (`None` when damaged).
    fn metadata_block(&self, (off, len, crc): (usize, usize, u32)) -> Option<std::rc::Rc<[u8]>> {
        if let Some(bytes) = self.blocks.borrow().get(&off) {
            return Some(bytes.clone());
        }
        let at = self.snap_cold_at.checked_add(off)?;
        let bytes = self
            .snapshot
            .as_ref()?
            .0
            .bytes()
            .get(at..at.checked_add(len)?)?;
        if crc32fast::hash(bytes) != crc {
            return None;
        }
        let mut inflated = Vec::new();
        use std::io::Read;
        // Our own file, checked above; the limit only keeps a bug from eating memory.
        flate2::read::DeflateDecoder::new(bytes)
            .take(1 << 30)
            .read_to_end(&mut inflated)
            .ok()?;
        let inflated: std::rc::Rc<[u8]> = inflated.into();
        self.blocks.borrow_mut().insert(off, inflated.clone());
        Some(inflated)
    }

    /// The tag index for `@name`, created when new.
    pub fn tag_id(&mut self, name: &str) -> u16 {
        if let Some(i) = self.tags.iter().position(|t| t.name == name) {
            return i as u16;
        }
        self.tags.push(Tag {
            name: name.to_owned(),
            allowed_repos: 0,
        });
        (self.tags.len() - 1) as u16
    }

    pub fn find_tag(&self, name: &str) -> Option<u16> {
        self.tags
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u16)
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
    pub fn add_repo(&mut self, url: &str, tag: Option<&str>, remote: bool, available: bool) -> u32 {
        let tag = match tag {
            Some(t) => self.tag_id(t),
            None => DEFAULT_TAG,
        };
        let idx = self.repos.len() as u32;
        self.repos.push(Repo {
            url: url.to_owned(),
            tag,
            remote,
            description: None,
        });
        if idx < 64 {
            self.tags[tag as usize].allowed_repos |= 1 << idx;
            if available {
                self.available_repos |= 1 << idx;
            }
        }
        idx
    }

    pub fn intern_dep(&mut self, d: &Dependency) -> Dep {
        self.intern_dep_ref(&d.as_ref())
    }

    fn intern_dep_ref(&mut self, d: &DepRef<'_>) -> Dep {
        let tag = d.tag.map_or(DEFAULT_TAG, |t| self.tag_id(t));
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
    pub fn keep_text(&mut self, text: std::sync::Arc<str>) -> u32 {
        self.texts.push(text);
        (self.texts.len() - 1) as u32
    }

    pub fn add_record(
        &mut self,
        rec: &RecordRef<'_>,
        repo: Option<u32>,
        text: Option<u32>,
    ) -> std::result::Result<PkgId, String> {
        self.name_id(rec.name());
        let mut info = PackageInfo::default();
        let mut lists = std::mem::take(&mut self.dep_scratch);
        lists.iter_mut().for_each(Vec::clear);
        let mut broken = false;
        // With the text kept, only what solving needs is read now.
        let lazy = text.is_some();
        for (letter, value) in rec.fields() {
            let slot = match letter {
                b'D' => 0,
                b'p' => 1,
                b'i' => 2,
                b'r' => 3,
                b'P' | b'V' | b'C' | b'A' | b'I' | b'k' => {
                    info.set_field(letter, value)?;
                    continue;
                }
                _ if lazy => continue,
                _ => {
                    if !info.set_field(letter, value)? {
                        info.extra.push((letter, value.to_owned()));
                    }
                    continue;
                }
            };
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
            // As apk-tools: an unparsable `D:` makes the package uninstallable; an
            // unparsable `i:` drops the whole rule; `p:` keeps what parsed. Each makes
            // the indexes "contain broken packages".
            if bad {
                info.unparsed.push((letter, value.to_owned()));
                if repo.is_some() {
                    self.has_broken = true;
                }
                match letter {
                    b'D' => broken = true,
                    b'i' => lists[2].clear(),
                    _ => {}
                }
            }
        }
        let id = self.insert_package(info, &lists, broken, repo, None);
        self.dep_scratch = lists;
        if let Some(t) = text {
            let installed = self.packages[id as usize].installed.is_some();
            let span = record_span(&self.texts[t as usize], rec)
                .and_then(|(a, b)| Some((u32::try_from(a).ok()?, u32::try_from(b).ok()?)));
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
        repo: Option<u32>,
        installed_tag: Option<u16>,
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
        repo: Option<u32>,
        installed_tag: Option<u16>,
    ) -> Option<PkgId> {
        let id = *self.by_checksum.get(checksum?)?;
        let installed_order = self.installed.len() as u32;
        let p = &mut self.packages[id as usize];
        p.repos |= repo_bit(repo);
        p.cached |= repo == Some(REPO_CACHED);
        if installed_tag.is_some() && p.installed.is_none() {
            p.installed = installed_tag;
            p.installed_order = installed_order;
            self.installed.push(id);
        }
        Some(id)
    }

    fn insert_package(
        &mut self,
        info: PackageInfo,
        lists: &[Vec<Dep>; 4],
        broken: bool,
        repo: Option<u32>,
        installed_tag: Option<u16>,
    ) -> PkgId {
        if let Some(id) = self.merge_known(info.checksum.as_ref(), repo, installed_tag) {
            return id;
        }
        let repo_bit = repo_bit(repo);
        let name = self.name_id(&info.name);
        let id = self.packages.len() as PkgId;
        let arch_ok = info.arch.as_deref().is_none_or(|a| self.arch_compatible(a));
        // Lists longer than a package could sensibly have are refused with the package.
        let too_long = lists.iter().any(|l| l.len() > usize::from(u16::MAX));
        let broken = broken || too_long;
        let uninstallable = broken || !arch_ok;
        self.has_broken |= broken && repo.is_some();
        self.has_uninstallable |= broken && repo.is_some();
        if let Some(c) = info.checksum {
            self.by_checksum.insert(c, id);
        }
        self.push_provider(name, Provider { pkg: id, via: None });
        let provides = if too_long { &[][..] } else { &lists[1][..] };
        for (i, p) in provides.iter().enumerate() {
            self.push_provider(
                p.name,
                Provider {
                    pkg: id,
                    via: Some(i as u16),
                },
            );
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
        let version = self.intern_str(&info.version);
        let installed_size = info.installed_size.unwrap_or(0);
        self.packages.push(Package {
            name,
            version,
            deps_at,
            deps_len,
            provider_priority: info.provider_priority.unwrap_or(0),
            repos: repo_bit,
            installed: installed_tag,
            installed_order,
            uninstallable,
            cached: repo == Some(REPO_CACHED),
            no_size: installed_size == 0,
        });
        self.cold.push(Cold {
            checksum: info.checksum,
            installed_size,
            source: InfoSource::Owned(Box::new(info)),
        });
        self.infos.cover(self.packages.len());
        id
    }

    /// The version a provider offers its name at (`None`: a provide without version).
    pub fn provider_version(&self, p: Provider) -> Option<&str> {
        match p.via {
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
            Some(Provider { pkg, via: None })
        } else {
            self.pkg_deps(p)
                .provides
                .iter()
                .position(|d| d.name == dep.name)
                .map(|i| Provider {
                    pkg,
                    via: Some(i as u16),
                })
        };
        match provider {
            None => DepMatch::Irrelevant,
            Some(pr) if self.dep_is_provided(dep, Some(pr)) => DepMatch::Satisfies,
            Some(_) => DepMatch::Conflicts,
        }
    }

    /// Builds reverse dependencies and name priorities; call once everything is loaded.
    pub fn finish(&mut self) {
        let mut order: Vec<(u32, usize, NameId)> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let bucket = murmur3_32(self.str(n.name).as_bytes(), 5381) % NAME_BUCKETS;
                (bucket, usize::MAX - i, i as NameId)
            })
            .collect();
        order.sort_unstable();
        let order: Vec<NameId> = order.into_iter().map(|(_, _, n)| n).collect();
        if !self.providers_building.is_empty() {
            self.providers_building.resize(self.names.len(), Vec::new());
            self.providers = Lists::from_vecs(&self.providers_building);
            self.providers_building = Vec::new();
        }
        (self.rdepends, self.rinstall_if) = self.reverse_lists(&order);
        for name in 0..self.names.len() as NameId {
            let providers = self.providers.get(name);
            let num_virtual = providers
                .iter()
                .filter(|p| self.packages[p.pkg as usize].name != name)
                .count();
            self.names[name as usize].priority = if num_virtual == 0 {
                0
            } else if num_virtual != providers.len() {
                1
            } else {
                2
            };
        }
        let mut is_dependency = vec![false; self.names.len()];
        for p in &self.packages {
            for d in self.pkg_deps(p).depends.iter().filter(|d| !d.conflict) {
                is_dependency[d.name as usize] = true;
            }
        }
        for (n, dep) in self.names.iter_mut().zip(is_dependency) {
            n.is_dependency |= dep;
        }
    }

    /// For each name, the names (in `order`) having a provider whose dependencies
    /// (first list) or install_if rules (second list) mention it, each once: one walk
    /// collects the pairs, a counting sort groups them by name (keeping walk order).
    fn reverse_lists(&self, order: &[NameId]) -> (Lists<NameId>, Lists<NameId>) {
        let n = self.names.len();
        let mut seen = [vec![u32::MAX; n], vec![u32::MAX; n]];
        let mut pairs: [Vec<(NameId, NameId)>; 2] = Default::default();
        for &name in order {
            for p in self.providers.get(name) {
                let d = self.pkg_deps(&self.packages[p.pkg as usize]);
                for (k, list) in [d.depends, d.install_if].into_iter().enumerate() {
                    for dep in list {
                        let r = dep.name as usize;
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
                start[r as usize + 1] += 1;
            }
            for i in 0..n {
                start[i + 1] += start[i];
            }
            let mut cursor: Vec<u32> = start[..n].to_vec();
            let mut items = vec![0 as NameId; pairs.len()];
            for &(r, name) in pairs {
                items[cursor[r as usize] as usize] = name;
                cursor[r as usize] += 1;
            }
            Lists { start, items }
        };
        (group(&pairs[0]), group(&pairs[1]))
    }

    /// Can packages of `arch` be installed here?
    pub fn arch_compatible(&self, arch: &str) -> bool {
        arch == "noarch" || self.arches.iter().any(|a| a == arch)
    }

    /// Is the package in a repository that is currently usable?
    pub fn pkg_available(&self, id: PkgId) -> bool {
        self.pkg(id).repos & self.available_repos != 0
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
        if d.tag != DEFAULT_TAG {
            s.push('@');
            s.push_str(&self.tags[d.tag as usize].name);
        }
        if let Some(v) = self.dep_version(d) {
            s.push_str(d.op.as_str().unwrap_or("?"));
            s.push_str(v);
        }
        s
    }
}

/// Snapshot encoding (see [`crate::snapshot`]).
impl Pool {
    fn encode_info(w: &mut Writer, i: &PackageInfo) {
        match &i.checksum {
            Some(c) => w.str(&c.to_string()),
            None => w.str(""),
        }
        w.str(&i.name);
        w.str(&i.version);
        for s in [
            &i.arch,
            &i.description,
            &i.url,
            &i.license,
            &i.origin,
            &i.maintainer,
            &i.commit,
        ] {
            w.opt_str(s.as_deref());
        }
        for v in [i.size, i.installed_size, i.build_time] {
            w.opt_u64(v);
        }
        for v in [i.provider_priority, i.replaces_priority] {
            w.opt_u64(v.map(u64::from));
        }
        for list in [&i.depends, &i.provides, &i.install_if, &i.replaces] {
            w.str(&apk_format::dep::format_list(list));
        }
        for fields in [&i.extra, &i.unparsed] {
            w.len(fields.len());
            for (l, v) in fields {
                w.u8(*l);
                w.str(v);
            }
        }
    }

    fn decode_info(r: &mut Reader<'_>) -> Option<PackageInfo> {
        let c = r.str()?;
        let checksum = if c.is_empty() {
            None
        } else {
            Some(Checksum::parse(c).ok()?)
        };
        let mut i = PackageInfo {
            checksum,
            name: r.string()?,
            version: r.string()?,
            ..Default::default()
        };
        for s in [
            &mut i.arch,
            &mut i.description,
            &mut i.url,
            &mut i.license,
            &mut i.origin,
            &mut i.maintainer,
            &mut i.commit,
        ] {
            *s = r.opt_string()?;
        }
        for v in [&mut i.size, &mut i.installed_size, &mut i.build_time] {
            *v = r.opt_u64()?;
        }
        for v in [&mut i.provider_priority, &mut i.replaces_priority] {
            *v = r.opt_u64()?.map(|x| x as u32);
        }
        for list in [
            &mut i.depends,
            &mut i.provides,
            &mut i.install_if,
            &mut i.replaces,
        ] {
            *list = apk_format::dep::parse_list(r.str()?).ok()?;
        }
        for fields in [&mut i.extra, &mut i.unparsed] {
            let n = r.len()?;
            *fields = (0..n)
                .map(|_| Some((r.u8()?, r.string()?)))
                .collect::<Option<_>>()?;
        }
        Some(i)
    }

    fn encode_str(w: &mut Writer, s: Str) {
        w.u32(s.off);
        w.u32(s.len);
    }

    fn decode_str(r: &mut Reader<'_>) -> Option<Str> {
        Some(Str {
            off: r.u32()?,
            len: r.u32()?,
        })
    }

    /// Encodes the pool into `w`; package metadata goes into `blobs`, a section read
    /// only when asked for. Names, dependencies and packages are fixed-size records
    /// pointing into one string section, so loading them allocates nothing per item.
    pub(crate) fn encode(&self, w: &mut Writer, blobs: &mut Writer) {
        w.len(self.arches.len());
        for a in &self.arches {
            w.str(a);
        }
        w.len(self.tags.len());
        for t in &self.tags {
            w.str(&t.name);
            w.u64(t.allowed_repos);
        }
        w.len(self.repos.len());
        for r in &self.repos {
            w.str(&r.url);
            w.u16(r.tag);
            w.u8(u8::from(r.remote));
            w.opt_str(r.description.as_deref());
        }
        w.u64(self.available_repos);
        w.u8(u8::from(self.has_broken) | (u8::from(self.has_uninstallable) << 1));
        w.str(&self.strs);
        w.len(self.names.len());
        for n in &self.names {
            Self::encode_str(w, n.name);
            w.u8(n.priority);
            w.u8(u8::from(n.is_dependency));
        }
        let mut sorted: Vec<NameId> = (0..self.names.len() as NameId).collect();
        sorted.sort_by(|&a, &b| self.name(a).cmp(self.name(b)));
        for id in sorted {
            w.u32(id);
        }
        let providers = if self.providers_building.is_empty() {
            self.providers.clone()
        } else {
            Lists::from_vecs(&self.providers_building)
        };
        providers.encode(w, |w, p| {
            w.u32(p.pkg);
            w.u16(p.via.unwrap_or(u16::MAX));
        });
        self.rdepends.encode(w, |w, id| w.u32(*id));
        self.rinstall_if.encode(w, |w, id| w.u32(*id));
        w.len(self.deps.len());
        for d in &self.deps {
            w.u32(d.name);
            Self::encode_str(w, d.version);
            w.u8(d.op.bits());
            w.u8(u8::from(d.conflict));
            w.u16(d.tag);
        }
        w.len(self.packages.len());
        // The metadata section starts with a fixed-size record per package, then the
        // metadata blobs they point to.
        let records_at = blobs.buf.len();
        blobs
            .buf
            .resize(records_at + self.packages.len() * COLD_RECORD, 0);
        let mut block = Writer::default();
        let mut pending = Vec::with_capacity(BLOB_BLOCK);
        for (id, p) in self.packages.iter().enumerate() {
            w.u32(p.name);
            Self::encode_str(w, p.version);
            w.u32(p.deps_at);
            for l in p.deps_len {
                w.u16(l);
            }
            w.u32(p.provider_priority);
            w.u64(p.repos);
            w.u16(p.installed.map_or(u16::MAX, |t| t));
            w.u32(p.installed_order);
            w.u8(u8::from(p.uninstallable)
                | (u8::from(p.cached) << 1)
                | (u8::from(p.no_size) << 2));
            let start = block.buf.len();
            Self::encode_info(&mut block, &self.info_once(id as PkgId));
            // A blob too long for its record reads as damaged: from its source.
            let len = block.buf.len() - start;
            pending.push((id, start, if len < 1 << 24 { len } else { 0 }));
            if pending.len() == BLOB_BLOCK || id + 1 == self.packages.len() {
                self.flush_block(blobs, records_at, &mut block, &mut pending);
            }
        }
        w.len(self.installed.len());
        for id in &self.installed {
            w.u32(*id);
        }
    }

    /// Deflates the blobs of `pending` packages (collected in `block`) into the
    /// metadata section and writes their records.
    fn flush_block(
        &self,
        blobs: &mut Writer,
        records_at: usize,
        block: &mut Writer,
        pending: &mut Vec<(usize, usize, usize)>,
    ) {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let compressed = z
            .write_all(&block.buf)
            .and_then(|()| z.finish())
            .unwrap_or_default();
        let at = blobs.buf.len();
        blobs.buf.extend_from_slice(&compressed);
        let crc = crc32fast::hash(&compressed);
        for (id, start, len) in pending.drain(..) {
            let record = ColdRecord {
                checksum: self.checksum(id as PkgId),
                installed_size: self.installed_size(id as PkgId),
                block: (at - records_at, compressed.len(), crc),
                blob: (start, len),
            };
            let r = records_at + id * COLD_RECORD;
            blobs.buf[r..r + COLD_RECORD].copy_from_slice(&record.encode());
        }
        block.buf.clear();
    }

    /// Decodes a pool from `r`, a reader over part of `base` (the mapped snapshot, which
    /// the caller then hands to the pool with [`Pool::keep_snapshot`]).
    pub(crate) fn decode(r: &mut Reader<'_>, blobs: std::ops::Range<usize>) -> Option<Pool> {
        let mut pool = Pool::default();
        let n = r.len()?;
        pool.arches = (0..n).map(|_| r.string()).collect::<Option<_>>()?;
        let n = r.len()?;
        pool.tags = (0..n)
            .map(|_| {
                Some(Tag {
                    name: r.string()?,
                    allowed_repos: r.u64()?,
                })
            })
            .collect::<Option<_>>()?;
        let n = r.len()?;
        pool.repos = (0..n)
            .map(|_| {
                Some(Repo {
                    url: r.string()?,
                    tag: r.u16()?,
                    remote: r.u8()? != 0,
                    description: r.opt_string()?,
                })
            })
            .collect::<Option<_>>()?;
        pool.available_repos = r.u64()?;
        let broken = r.u8()?;
        pool.has_broken = broken & 1 != 0;
        pool.has_uninstallable = broken & 2 != 0;
        pool.strs = r.string()?;
        let n = r.len()?;
        pool.names.reserve(n);
        for _ in 0..n {
            pool.names.push(Name {
                name: Self::decode_str(r)?,
                priority: r.u8()?,
                is_dependency: r.u8()? != 0,
            });
        }
        pool.sorted_names = r.u32s(n)?;
        let in_order = pool.sorted_names.windows(2).all(|w| {
            let (a, b) = (w[0] as usize, w[1] as usize);
            a < n && b < n && pool.name(w[0]) < pool.name(w[1])
        });
        if !in_order || pool.sorted_names.first().is_some_and(|&i| i as usize >= n) {
            return None;
        }
        pool.providers = Lists::decode(r, |r| {
            let pkg = r.u32()?;
            let via = r.u16()?;
            Some(Provider {
                pkg,
                via: (via != u16::MAX).then_some(via),
            })
        })?;
        pool.rdepends = Lists::decode_u32(r)?;
        pool.rinstall_if = Lists::decode_u32(r)?;
        let n = r.len()?;
        pool.deps.reserve(n);
        for _ in 0..n {
            pool.deps.push(Dep {
                name: r.u32()?,
                version: Self::decode_str(r)?,
                op: Op::from_bits(r.u8()?)?,
                conflict: r.u8()? != 0,
                tag: r.u16()?,
            });
        }
        let n = r.len()?;
        // Each package has its record at the start of the metadata section.
        if blobs.end.checked_sub(blobs.start)? < n.checked_mul(COLD_RECORD)? {
            return None;
        }
        pool.packages.reserve(n);
        for _ in 0..n {
            let name = r.u32()?;
            let version = Self::decode_str(r)?;
            let deps_at = r.u32()?;
            let deps_len = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
            let provider_priority = r.u32()?;
            let repos = r.u64()?;
            let installed = r.u16()?;
            let installed_order = r.u32()?;
            let bits = r.u8()?;
            pool.packages.push(Package {
                name,
                version,
                deps_at,
                deps_len,
                provider_priority,
                repos,
                installed: (installed != u16::MAX).then_some(installed),
                installed_order,
                uninstallable: bits & 1 != 0,
                cached: bits & 2 != 0,
                no_size: bits & 4 != 0,
            });
        }
        pool.snap_packages = u32::try_from(n).ok()?;
        pool.snap_cold_at = blobs.start;
        pool.infos.cover(n);
        let n = r.len()?;
        pool.installed = r.u32s(n)?;
        pool.validate_ids().then_some(pool)
    }

    pub(crate) fn keep_snapshot(&mut self, bytes: std::sync::Arc<SnapshotBytes>) {
        self.snapshot = Some(bytes);
    }

    /// Every id in the tables points inside them, and every string inside the string
    /// section (a snapshot that passed its checksum but was written by a buggy build
    /// must not make the solver index out of bounds).
    fn validate_ids(&self) -> bool {
        let (nn, np) = (self.names.len() as u32, self.packages.len() as u32);
        let str_ok = |s: Str| {
            (s.off as usize)
                .checked_add(s.len as usize)
                .is_some_and(|end| self.strs.get(s.off as usize..end).is_some())
        };
        let dep_ok = |d: &Dep| {
            d.name < nn
                && (d.tag as usize) < self.tags.len()
                && (d.version.is_none() || str_ok(d.version))
        };
        let lists_fit = |start: &[u32]| start.is_empty() || start.len() == self.names.len() + 1;
        lists_fit(&self.providers.start)
            && lists_fit(&self.rdepends.start)
            && lists_fit(&self.rinstall_if.start)
            && self.names.iter().all(|n| str_ok(n.name))
            && self.deps.iter().all(dep_ok)
            && self.providers.items.iter().all(|p| {
                p.pkg < np
                    && p.via
                        .is_none_or(|v| v < self.packages[p.pkg as usize].deps_len[1])
            })
            && self
                .rdepends
                .items
                .iter()
                .chain(&self.rinstall_if.items)
                .all(|&x| x < nn)
            && self.packages.iter().all(|p| {
                let total: usize = p.deps_len.iter().map(|&l| usize::from(l)).sum();
                p.name < nn
                    && str_ok(p.version)
                    && (p.deps_at as usize)
                        .checked_add(total)
                        .is_some_and(|end| end <= self.deps.len())
                    && p.installed.is_none_or(|t| (t as usize) < self.tags.len())
            })
            && self.installed.iter().all(|&i| i < np)
    }
}

/// The outcome of [`Pool::dep_analyze`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepMatch {
    Irrelevant,
    Satisfies,
    Conflicts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_answers() {
        // Reference values of MurmurHash3_x86_32.
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
    }
}
