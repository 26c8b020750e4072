//! Reading the tree of an ADB block in place. A value is 32 bits: the top four give its
//! type, the rest a small integer or the offset (from the start of the block) of what
//! it points at: a 32- or 64-bit integer, a blob with an 8/16/32-bit length, or an
//! array or object (a count, itself included, then that many values). A value that
//! points outside the block reads as null, as apk-tools reads it: hostile offsets cost
//! an answer, never a crash.

/// One 32-bit value of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Val(pub u32);

const TYPE_MASK: u32 = 0xf000_0000;
const VALUE_MASK: u32 = 0x0fff_ffff;

pub const TYPE_SPECIAL: u32 = 0x0000_0000;
pub const TYPE_INT: u32 = 0x1000_0000;
pub const TYPE_INT_32: u32 = 0x2000_0000;
pub const TYPE_INT_64: u32 = 0x3000_0000;
pub const TYPE_BLOB_8: u32 = 0x8000_0000;
pub const TYPE_BLOB_16: u32 = 0x9000_0000;
pub const TYPE_BLOB_32: u32 = 0xa000_0000;
pub const TYPE_ARRAY: u32 = 0xd000_0000;
pub const TYPE_OBJECT: u32 = 0xe000_0000;
/// A value that could not be made (apk-tools keeps it where a conversion failed).
pub const TYPE_ERROR: u32 = 0xf000_0000;

impl Val {
    pub const NULL: Val = Val(0);

    pub fn kind(self) -> u32 {
        self.0 & TYPE_MASK
    }

    pub fn value(self) -> u32 {
        self.0 & VALUE_MASK
    }

    pub fn is_null(self) -> bool {
        self.0 == 0
    }
}

/// The tree of one ADB block: its bytes, header included (offsets count from there).
#[derive(Debug, Clone, Copy)]
pub struct Db<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Db<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Db { bytes }
    }

    /// The header's compatibility version (0 for every file apk-tools 3 reads).
    pub fn compat_version(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    pub fn version(&self) -> u8 {
        self.bytes.get(1).copied().unwrap_or(0)
    }

    pub fn root(&self) -> Val {
        self.u32_at(4).map_or(Val::NULL, Val)
    }

    fn at(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        self.bytes.get(offset..offset.checked_add(len)?)
    }

    fn u32_at(&self, offset: usize) -> Option<u32> {
        self.at(offset, 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An integer value (0 for anything else, as apk-tools reads it).
    pub fn int(&self, v: Val) -> u64 {
        let off = v.value() as usize;
        match v.kind() {
            TYPE_INT => u64::from(v.value()),
            TYPE_INT_32 => self.u32_at(off).map_or(0, u64::from),
            TYPE_INT_64 => self.at(off, 8).map_or(0, |b| {
                u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }),
            _ => 0,
        }
    }

    /// A blob value, or `None` for a value that is not one or points outside.
    pub fn blob(&self, v: Val) -> Option<&'a [u8]> {
        let off = v.value() as usize;
        let (len, skip) = match v.kind() {
            TYPE_BLOB_8 => (usize::from(*self.at(off, 1)?.first()?), 1),
            TYPE_BLOB_16 => {
                let b = self.at(off, 2)?;
                (usize::from(u16::from_le_bytes([b[0], b[1]])), 2)
            }
            TYPE_BLOB_32 => (self.u32_at(off)? as usize, 4),
            _ => return None,
        };
        self.at(off.checked_add(skip)?, len)
    }

    /// An array or object value; an empty one for anything else.
    pub fn obj(&self, v: Val) -> Obj<'a> {
        let empty = Obj {
            db: *self,
            vals: &[],
        };
        if v.kind() != TYPE_ARRAY && v.kind() != TYPE_OBJECT {
            return empty;
        }
        let off = v.value() as usize;
        let Some(num) = self.u32_at(off) else {
            return empty;
        };
        match usize::try_from(num)
            .ok()
            .and_then(|n| n.checked_mul(4))
            .and_then(|len| self.at(off, len))
        {
            Some(vals) if num > 0 => Obj { db: *self, vals },
            _ => empty,
        }
    }
}

/// An object or array: slot 0 is the count, fields or items start at 1.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a> {
    pub db: Db<'a>,
    vals: &'a [u8],
}

impl<'a> Obj<'a> {
    /// Number of slots, the count included (1 for an empty or missing object).
    pub fn num(&self) -> usize {
        (self.vals.len() / 4).max(1)
    }

    /// Items of an array.
    pub fn len(&self) -> usize {
        self.num() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot `i` (null past the end).
    pub fn val(&self, i: usize) -> Val {
        match self.vals.get(i * 4..i * 4 + 4) {
            Some(b) if i > 0 => Val(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => Val::NULL,
        }
    }

    pub fn int(&self, i: usize) -> u64 {
        self.db.int(self.val(i))
    }

    pub fn blob(&self, i: usize) -> Option<&'a [u8]> {
        self.db.blob(self.val(i))
    }

    /// A text field (lossy for bytes that are not UTF-8).
    pub fn str(&self, i: usize) -> Option<std::borrow::Cow<'a, str>> {
        self.blob(i).map(String::from_utf8_lossy)
    }

    pub fn obj(&self, i: usize) -> Obj<'a> {
        self.db.obj(self.val(i))
    }

    /// The items of an array, in order.
    pub fn items(&self) -> impl Iterator<Item = Val> + '_ {
        (1..self.num()).map(|i| self.val(i))
    }
}
