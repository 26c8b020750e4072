//! Writing an ADB tree as apk-tools writes it, so that the same inputs give the same
//! block: values appended in the order they are made, each aligned to its size, and
//! identical data (by MurmurHash3 over its parts, then bytes) stored once, in hash
//! buckets as apk-tools keeps them (an aligned earlier copy is reused; a misaligned
//! one is replaced by the new copy).

use std::cmp::Ordering;

use super::schema::{Kind, Object, Scalar};
use super::value::{self, Db, Obj, Val};
use crate::hash::murmur3_32;

/// One stored piece of data.
#[derive(Clone, Copy)]
struct Entry {
    hash: u32,
    len: usize,
    offs: usize,
}

pub struct Writer {
    buf: Vec<u8>,
    buckets: Vec<Vec<Entry>>,
}

impl Writer {
    /// A tree with `buckets` dedup buckets (apk-tools: 8000 for an index, 1000 for a
    /// package).
    pub fn new(buckets: usize) -> Self {
        Writer {
            // The header: compatibility and format version 0, the root set last.
            buf: vec![0u8; 8],
            buckets: vec![Vec::new(); buckets.max(1)],
        }
    }

    fn raw(&mut self, parts: &[&[u8]], alignment: usize) -> usize {
        let pad = self.buf.len().next_multiple_of(alignment) - self.buf.len();
        self.buf.resize(self.buf.len() + pad, 0);
        let offs = self.buf.len();
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        offs
    }

    fn data(&mut self, parts: &[&[u8]], alignment: usize) -> usize {
        let mut hash = 5381u32;
        let mut len = 0;
        for p in parts {
            hash = murmur3_32(p, hash);
            len += p.len();
        }
        let bucket = hash as usize % self.buckets.len();
        let same = |buf: &[u8], e: &Entry| {
            e.hash == hash && e.len == len && {
                let mut at = e.offs;
                parts.iter().all(|p| {
                    let ok = buf.get(at..at + p.len()) == Some(*p);
                    at += p.len();
                    ok
                })
            }
        };
        let found = self.buckets[bucket].iter().position(|e| same(&self.buf, e));
        match found {
            Some(i) if self.buckets[bucket][i].offs.is_multiple_of(alignment) => {
                self.buckets[bucket][i].offs
            }
            Some(i) => {
                let offs = self.raw(parts, alignment);
                self.buckets[bucket][i] = Entry { hash, len, offs };
                offs
            }
            None => {
                let offs = self.raw(parts, alignment);
                self.buckets[bucket].push(Entry { hash, len, offs });
                offs
            }
        }
    }

    fn at(kind: u32, offs: usize) -> Val {
        Val(kind | offs as u32)
    }

    /// A blob (null when empty).
    pub fn blob(&mut self, b: &[u8]) -> Val {
        self.blob_parts(&[b])
    }

    /// A blob made of `parts` (hashed part by part, as apk-tools hashes it).
    pub fn blob_parts(&mut self, parts: &[&[u8]]) -> Val {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let (kind, head): (u32, Vec<u8>) = if n > 0xffff {
            (value::TYPE_BLOB_32, (n as u32).to_le_bytes().to_vec())
        } else if n > 0xff {
            (value::TYPE_BLOB_16, (n as u16).to_le_bytes().to_vec())
        } else if n > 0 {
            (value::TYPE_BLOB_8, vec![n as u8])
        } else {
            return Val::NULL;
        };
        let mut all: Vec<&[u8]> = vec![&head];
        all.extend_from_slice(parts);
        let offs = self.data(&all, head.len());
        Self::at(kind, offs)
    }

    /// A nested database: the tree `adb` (an ADB block's payload) as a block of its
    /// own, stored apart in a blob with a 32-bit length, as apk-tools nests one.
    pub fn adb_blob(&mut self, adb: &[u8]) -> Val {
        if adb.len() <= 8 {
            return Val::NULL;
        }
        let block = super::container::block(0, adb);
        let len = (block.len() as u32).to_le_bytes();
        let offs = self.raw(&[&len, &block], 4);
        Self::at(value::TYPE_BLOB_32, offs)
    }

    /// A blob stored apart, never shared (a value patched after the tree is done).
    pub fn blob_raw(&mut self, b: &[u8]) -> Val {
        let n = b.len();
        if n == 0 || n > 0xff {
            return self.blob(b);
        }
        let offs = self.raw(&[&[n as u8], b], 1);
        Self::at(value::TYPE_BLOB_8, offs)
    }

    pub fn int(&mut self, v: u64) -> Val {
        if v >= 1 << 32 {
            let offs = self.data(&[&v.to_le_bytes()], 4);
            Self::at(value::TYPE_INT_64, offs)
        } else if v >= 0x1000_0000 {
            let offs = self.data(&[&(v as u32).to_le_bytes()], 4);
            Self::at(value::TYPE_INT_32, offs)
        } else {
            Val(value::TYPE_INT | v as u32)
        }
    }

    /// An object or array from its slots (slot 0 ignored), trailing nulls dropped.
    pub fn obj(&mut self, slots: &[Val], kind: u32) -> Val {
        let mut n = slots.len();
        while n > 1 && slots[n - 1].is_null() {
            n -= 1;
        }
        if n <= 1 {
            return Val::NULL;
        }
        let mut bytes = Vec::with_capacity(n * 4);
        bytes.extend_from_slice(&(n as u32).to_le_bytes());
        for v in &slots[1..n] {
            bytes.extend_from_slice(&v.0.to_le_bytes());
        }
        Self::at(kind, self.data(&[&bytes], 4))
    }

    /// A value of another tree, copied with everything it points at.
    pub fn copy(&mut self, src: &Db<'_>, v: Val) -> Val {
        let off = v.value() as usize;
        let raw = |len: usize| src.bytes.get(off..off + len).map(<[u8]>::to_vec);
        let (len, align) = match v.kind() {
            value::TYPE_SPECIAL | value::TYPE_INT => return v,
            value::TYPE_INT_32 => (4, 4),
            value::TYPE_INT_64 => (8, 8),
            value::TYPE_BLOB_8 => match src.bytes.get(off) {
                Some(&l) => (1 + usize::from(l), 1),
                None => return Val::NULL,
            },
            value::TYPE_BLOB_16 => match src.bytes.get(off..off + 2) {
                Some(l) => (2 + usize::from(u16::from_le_bytes([l[0], l[1]])), 2),
                None => return Val::NULL,
            },
            value::TYPE_BLOB_32 => match src.bytes.get(off..off + 4) {
                Some(l) => (4 + u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, 4),
                None => return Val::NULL,
            },
            value::TYPE_ARRAY | value::TYPE_OBJECT => {
                let o = src.obj(v);
                let num = o.num();
                let mut bytes = Vec::with_capacity(num * 4);
                bytes.extend_from_slice(&(num as u32).to_le_bytes());
                for i in 1..num {
                    let c = self.copy(src, o.val(i));
                    bytes.extend_from_slice(&c.0.to_le_bytes());
                }
                return Self::at(v.kind(), self.data(&[&bytes], 4));
            }
            _ => return Val::NULL,
        };
        match raw(len) {
            Some(bytes) => Self::at(v.kind(), self.data(&[&bytes], align)),
            None => Val::NULL,
        }
    }

    /// The finished block with `root` set.
    pub fn finish(mut self, root: Val) -> Vec<u8> {
        self.buf[4..8].copy_from_slice(&root.0.to_le_bytes());
        self.buf
    }

    /// The tree written so far, for reading values back while building.
    pub fn db(&self) -> Db<'_> {
        Db::new(&self.buf)
    }
}

/// Orders two values of `kind` as apk-tools' schema comparisons do (what its array
/// sorting uses).
pub fn compare(db: &Db<'_>, kind: Kind, a: Val, b: Val) -> Ordering {
    compare_in(db, a, db, b, kind)
}

/// [`compare`] of values in two trees.
fn compare_in(da: &Db<'_>, a: Val, db: &Db<'_>, b: Val, kind: Kind) -> Ordering {
    match kind {
        Kind::Blob(Scalar::Version) => {
            let s =
                |d: &Db<'_>, v| String::from_utf8_lossy(d.blob(v).unwrap_or_default()).into_owned();
            crate::version::compare(&s(da, a), &s(db, b))
        }
        Kind::Blob(_) => da
            .blob(a)
            .unwrap_or_default()
            .cmp(db.blob(b).unwrap_or_default()),
        Kind::Numeric(_) => da.int(a).cmp(&db.int(b)),
        Kind::Object(s) | Kind::Array(s) => compare_obj_in(s, &da.obj(a), &db.obj(b)),
        Kind::Adb(_, s) => {
            // A nested database: its block (header, tree), compared by root object.
            let tree = |d: &Db<'_>, v| -> Option<Vec<u8>> {
                let raw = d.blob(v)?;
                let blocks = super::container::parse_blocks(raw).ok()?;
                Some(blocks.first()?.payload.to_vec())
            };
            let (ta, tb) = (
                tree(da, a).unwrap_or_default(),
                tree(db, b).unwrap_or_default(),
            );
            let (xa, xb) = (Db::new(&ta), Db::new(&tb));
            compare_obj_in(s, &xa.obj(xa.root()), &xb.obj(xb.root()))
        }
    }
}

/// Field by field, every field (apk-tools' exact comparison).
pub fn compare_obj(_db: &Db<'_>, schema: &Object, a: &Obj<'_>, b: &Obj<'_>) -> Ordering {
    compare_obj_in(schema, a, b)
}

fn compare_obj_in(schema: &Object, a: &Obj<'_>, b: &Obj<'_>) -> Ordering {
    let n = a.num().max(b.num());
    for i in 1..n {
        let kind = match schema.fields.len() {
            // An array's items all have the kind of its one field.
            1 if schema.fields[0].0.is_empty() => schema.fields[0].1,
            _ => match schema.fields.get(i - 1) {
                Some((_, k)) => *k,
                None => continue,
            },
        };
        let r = compare_in(&a.db, a.val(i), &b.db, b.val(i), kind);
        if r != Ordering::Equal {
            return r;
        }
    }
    Ordering::Equal
}
