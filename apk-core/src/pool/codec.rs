//! The pool's tables in the snapshot (see [`crate::db::snapshot`]): the core payload
//! (strings, names, packages, per-name lists) and the metadata section of fixed-size
//! records and deflated blocks, each with its own CRC-32.

use super::table::{self, Place};
use super::*;
use crate::codec::{u16_at, u32_at, u64_at, Reader, Writer};

/// A package's record in the snapshot's metadata section: kind and bytes of the
/// checksum, installed size, the deflated block holding its metadata (offset, length,
/// CRC-32 of the compressed bytes), where in the inflated block its blob lies (offset,
/// 24-bit length), then the record's own CRC-32.
pub(super) const COLD_RECORD: usize = 64;

/// Sizes of the core payload's fixed records, as [`Pool::encode`] writes them field by
/// field: a name (its string span, priority, dependency flag), a provider (package,
/// provided-name index), a dependency (name, version span, operator, conflict, tag)
/// and a package (see its decoding for the fields).
const NAME_RECORD: usize = 12;
const PROVIDER_RECORD: usize = 8;
const DEP_RECORD: usize = 16;
const PACKAGE_RECORD: usize = 48;
// Name, provider and dependency records are the structs as they lie in memory (read
// in place).
const _: () = assert!(std::mem::size_of::<Name>() == NAME_RECORD);
const _: () = assert!(std::mem::size_of::<Provider>() == PROVIDER_RECORD);
const _: () = assert!(std::mem::size_of::<Dep>() == DEP_RECORD);
const _: () = assert!(std::mem::size_of::<Package>() == PACKAGE_RECORD);

/// Packages whose metadata blobs are deflated together: small enough that reading
/// one package's metadata inflates little, large enough to compress well.
pub(super) const BLOB_BLOCK: usize = 256;

pub(super) struct ColdRecord {
    pub(super) checksum: Option<Checksum>,
    pub(super) installed_size: u64,
    /// The compressed block: offset in the section, length, CRC-32.
    pub(super) block: (usize, usize, u32),
    /// The blob inside the inflated block: offset, length.
    pub(super) blob: (usize, usize),
}

impl ColdRecord {
    pub(super) fn encode(&self) -> [u8; COLD_RECORD] {
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
    pub(super) fn decode(r: &[u8]) -> Option<ColdRecord> {
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

impl Lists<NameId> {
    pub(super) fn decode_ids(r: &mut Reader<'_>, place: Place<'_>) -> Option<Self> {
        let n = r.len()?;
        let start = table::read_u32s(r, n, place, |x| x)?;
        let m = r.len()?;
        let items = table::read_u32s(r, m, place, NameId)?;
        Self::checked(start, items)
    }
}

impl<T: Copy> Lists<T> {
    /// Both tables 4-aligned, so that they can be read in place.
    pub(super) fn encode(&self, w: &mut Writer, item: impl Fn(&mut Writer, &T)) {
        w.len(self.start.len());
        w.align(4);
        for s in self.start.iter() {
            w.u32(*s);
        }
        w.len(self.items.len());
        w.align(4);
        for i in self.items.iter() {
            item(w, i);
        }
    }
}

/// Snapshot encoding (see [`crate::db::snapshot`]).
impl Pool {
    pub(super) fn encode_info(w: &mut Writer, i: &PackageInfo) {
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
        for list in [
            &i.depends,
            &i.provides,
            &i.install_if,
            &i.replaces,
            &i.recommends,
        ] {
            w.str(&apk_format::dep::format_list(list));
        }
        w.str(&i.tags.join(" "));
        for fields in [&i.extra, &i.unparsed] {
            w.len(fields.len());
            for (l, v) in fields {
                w.u8(*l);
                w.str(v);
            }
        }
    }

    pub(super) fn decode_info(r: &mut Reader<'_>) -> Option<PackageInfo> {
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
            &mut i.recommends,
        ] {
            *list = apk_format::dep::parse_list(r.str()?).ok()?;
        }
        i.tags = r
            .str()?
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect();
        for fields in [&mut i.extra, &mut i.unparsed] {
            let n = r.len()?;
            *fields = (0..n)
                .map(|_| Some((r.u8()?, r.string()?)))
                .collect::<Option<_>>()?;
        }
        Some(i)
    }

    pub(super) fn encode_str(w: &mut Writer, s: Str) {
        w.u32(s.off);
        w.u32(s.len);
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
            w.u16(r.tag.0);
            w.u8(u8::from(r.remote));
            w.opt_str(r.description.as_deref());
            w.opt_str(r.pkgname_spec.as_deref());
        }
        w.u64(self.available_repos);
        w.u8(u8::from(self.has_broken) | (u8::from(self.has_uninstallable) << 1));
        w.str(&self.strs);
        w.len(self.names.len());
        // As `Name` is laid out: read in place.
        w.align(4);
        for n in self.names.iter() {
            Self::encode_str(w, n.name);
            w.u8(n.priority);
            w.u8(u8::from(n.is_dependency));
            w.u16(0);
        }
        let mut sorted: Vec<NameId> = NameId::all(self.names.len()).collect();
        sorted.sort_by(|&a, &b| self.name(a).cmp(self.name(b)));
        w.align(4);
        for id in sorted {
            w.u32(id.0);
        }
        let providers = if self.providers_building.is_empty() {
            self.providers.clone()
        } else {
            Lists::from_growing(&self.providers_building)
        };
        // As `Provider` is laid out: read in place.
        providers.encode(w, |w, p| {
            w.u32(p.pkg.0);
            w.u16(p.via().unwrap_or(u16::MAX));
            w.u16(0);
        });
        self.rdepends.encode(w, |w, id| w.u32(id.0));
        self.rinstall_if.encode(w, |w, id| w.u32(id.0));
        w.len(self.deps.len());
        // As `Dep` is laid out: read in place.
        w.align(4);
        for d in self.deps.iter() {
            w.u32(d.name.0);
            Self::encode_str(w, d.version);
            w.u8(d.op.bits());
            w.u8(u8::from(d.conflict));
            w.u16(d.tag.0);
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
        // As `Package` is laid out (8-aligned): read in place.
        w.align(8);
        for (id, p) in self.packages.iter().enumerate() {
            w.u64(p.repos);
            w.u32(p.name.0);
            Self::encode_str(w, p.version);
            w.u32(p.deps_at);
            for l in p.deps_len {
                w.u16(l);
            }
            w.u32(p.provider_priority);
            w.u32(p.installed_order);
            w.u16(p.installed);
            for b in [p.uninstallable, p.cached, p.no_size] {
                w.u8(u8::from(b));
            }
            w.bytes_raw(&[0; 3]);
            let start = block.buf.len();
            Self::encode_info(&mut block, &self.info_once(PkgId::new(id)));
            // A blob too long for its record reads as damaged: from its source.
            let len = block.buf.len() - start;
            pending.push((id, start, if len < 1 << 24 { len } else { 0 }));
            if pending.len() == BLOB_BLOCK || id + 1 == self.packages.len() {
                self.flush_block(blobs, records_at, &mut block, &mut pending);
            }
        }
        w.len(self.installed.len());
        for id in &self.installed {
            w.u32(id.0);
        }
    }

    /// Deflates the blobs of `pending` packages (collected in `block`) into the
    /// metadata section and writes their records. At the fastest level: the snapshot
    /// is written at the end of every command that read an index afresh (an install's
    /// last step), and level 6 cost 1.4 ms of `--initdb add alpine-base` for 4 KB less
    /// in a 54 KB file.
    pub(super) fn flush_block(
        &self,
        blobs: &mut Writer,
        records_at: usize,
        block: &mut Writer,
        pending: &mut Vec<(usize, usize, usize)>,
    ) {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
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
                checksum: self.checksum(PkgId::new(id)),
                installed_size: self.installed_size(PkgId::new(id)),
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
    /// Tables of plain values (strings, sorted names, per-name lists) are read in place
    /// when `place` gives the mapped file the reader is over.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        place: Place<'_>,
        blobs: std::ops::Range<usize>,
    ) -> Option<Pool> {
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
                    tag: TagId(r.u16()?),
                    remote: r.u8()? != 0,
                    description: r.opt_string()?,
                    pkgname_spec: r.opt_string()?,
                })
            })
            .collect::<Option<_>>()?;
        pool.available_repos = r.u64()?;
        let broken = r.u8()?;
        pool.has_broken = broken & 1 != 0;
        pool.has_uninstallable = broken & 2 != 0;
        pool.strs = table::read_text(r, place)?;
        let n = r.len()?;
        pool.names = table::read_records::<Name, NAME_RECORD>(r, n, place, |x| {
            Some(Name {
                name: Str {
                    off: u32_at(x, 0),
                    len: u32_at(x, 4),
                },
                priority: x[8],
                is_dependency: match x[9] {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
                pad: [0; 2],
            })
        })?;
        pool.sorted_names = table::read_u32s(r, n, place, NameId)?;
        // Compared as bytes (the order `str` has), each name's span checked once: a
        // span outside the string section fails the check.
        let strs = pool.strs.as_bytes();
        let name_bytes = |id: NameId| {
            let s = pool.names.get(id.index())?.name;
            let start = s.off as usize;
            strs.get(start..start.checked_add(s.len as usize)?)
        };
        let in_order = pool
            .sorted_names
            .windows(2)
            .all(|w| matches!((name_bytes(w[0]), name_bytes(w[1])), (Some(a), Some(b)) if a < b));
        if !in_order || pool.sorted_names.first().is_some_and(|&i| i.index() >= n) {
            return None;
        }
        pool.providers = {
            let n = r.len()?;
            let start = table::read_u32s(r, n, place, |x| x)?;
            let m = r.len()?;
            let items = table::read_records::<Provider, PROVIDER_RECORD>(r, m, place, |x| {
                let via = u16_at(x, 4);
                Some(Provider::new(
                    PkgId(u32_at(x, 0)),
                    (via != u16::MAX).then_some(via),
                ))
            })?;
            Lists::checked(start, items)?
        };
        pool.rdepends = Lists::decode_ids(r, place)?;
        pool.rinstall_if = Lists::decode_ids(r, place)?;
        let n = r.len()?;
        // Operators are checked with the other fields (`validate_ids`).
        pool.deps = table::read_records::<Dep, DEP_RECORD>(r, n, place, |x| {
            Some(Dep {
                name: NameId(u32_at(x, 0)),
                version: Str {
                    off: u32_at(x, 4),
                    len: u32_at(x, 8),
                },
                op: Op::from_bits(x[12])?,
                conflict: match x[13] {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
                tag: TagId(u16_at(x, 14)),
            })
        })?;
        let n = r.len()?;
        // Each package has its record at the start of the metadata section.
        if blobs.end.checked_sub(blobs.start)? < n.checked_mul(COLD_RECORD)? {
            return None;
        }
        let bool_at = |x: &[u8; PACKAGE_RECORD], i: usize| match x[i] {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        pool.packages = table::read_records::<Package, PACKAGE_RECORD>(r, n, place, |x| {
            Some(Package {
                repos: u64_at(x, 0),
                name: NameId(u32_at(x, 8)),
                version: Str {
                    off: u32_at(x, 12),
                    len: u32_at(x, 16),
                },
                deps_at: u32_at(x, 20),
                deps_len: [u16_at(x, 24), u16_at(x, 26), u16_at(x, 28), u16_at(x, 30)],
                provider_priority: u32_at(x, 32),
                installed_order: u32_at(x, 36),
                installed: u16_at(x, 40),
                uninstallable: bool_at(x, 42)?,
                cached: bool_at(x, 43)?,
                no_size: bool_at(x, 44)?,
                pad: [0; 3],
            })
        })?;
        pool.snap_packages = u32::try_from(n).ok()?;
        pool.snap_cold_at = blobs.start;
        pool.infos.cover(n);
        let n = r.len()?;
        pool.installed = r.u32s(n)?.into_iter().map(PkgId).collect();
        pool.validate_ids().then_some(pool)
    }

    pub(crate) fn keep_snapshot(&mut self, bytes: std::sync::Arc<SnapshotBytes>) {
        self.snapshot = Some(bytes);
    }

    /// Are the strings, names, providers, dependencies, packages and tables of ids read
    /// in place from a mapped snapshot (not copied)? For tests and diagnostics.
    pub fn reads_tables_in_place(&self) -> bool {
        self.strs.is_in_file()
            && self.sorted_names.is_in_file()
            && self.deps.is_in_file()
            && self.names.is_in_file()
            && self.packages.is_in_file()
            && self.providers.items.is_in_file()
            && self.providers.start.is_in_file()
            && [&self.rdepends, &self.rinstall_if]
                .iter()
                .all(|l| l.start.is_in_file() && l.items.is_in_file())
    }

    /// Every id in the tables points inside them, and every string inside the string
    /// section (a snapshot that passed its checksum but was written by a buggy build
    /// must not make the solver index out of bounds).
    pub(super) fn validate_ids(&self) -> bool {
        let (nn, np) = (
            NameId::new(self.names.len()),
            PkgId::new(self.packages.len()),
        );
        // Inside the string section (a span that is not on character boundaries reads
        // as empty: `Pool::str` never panics).
        let strs_len = self.strs.len();
        let str_ok = |s: Str| {
            (s.off as usize)
                .checked_add(s.len as usize)
                .is_some_and(|end| end <= strs_len)
        };
        let dep_ok = |d: &Dep| {
            d.name < nn
                && Op::from_bits(d.op.bits()).is_some()
                && d.tag.index() < self.tags.len()
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
                    && p.pad == 0
                    && p.via()
                        .is_none_or(|v| v < self.packages[p.pkg.index()].deps_len[1])
            })
            && self
                .rdepends
                .items
                .iter()
                .chain(self.rinstall_if.items.iter())
                .all(|&x| x < nn)
            && self.packages.iter().all(|p| {
                let total: usize = p.deps_len.iter().map(|&l| usize::from(l)).sum();
                p.name < nn
                    && str_ok(p.version)
                    && (p.deps_at as usize)
                        .checked_add(total)
                        .is_some_and(|end| end <= self.deps.len())
                    && p.installed().is_none_or(|t| t.index() < self.tags.len())
                    && p.pad == [0; 3]
            })
            && self.installed.iter().all(|&i| i < np)
    }
}
