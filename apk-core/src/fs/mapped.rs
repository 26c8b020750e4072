//! Read-only memory maps of whole files, with a fallback to reading them.
//!
//! apk-core's `unsafe` for speed is here (the script sandbox's process set-up is its
//! other use): mapping saves the copy of a snapshot
//! into memory (measured in `benches/`), and [`Table`] / [`Text`] read its tables in
//! place (no heap copy, no page faults for one). The file is never written
//! in place by apk-rs (snapshots are replaced by rename), which is what makes the
//! mapping sound in practice.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

/// A file's bytes, mapped when possible.
pub enum MappedFile {
    Mapped(Mmap),
    Read(Vec<u8>),
}

impl MappedFile {
    /// Opens and maps `path`; `None` when it cannot be read at all.
    pub fn open(path: &Path) -> Option<MappedFile> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        if len == 0 {
            return Some(MappedFile::Read(Vec::new()));
        }
        // SAFETY: the map is read-only and private to this process. apk-rs never
        // modifies a snapshot in place: writers create a temporary file and rename it
        // over the old one, so the inode mapped here keeps its contents. Another
        // program truncating the file could still fault a reader (SIGBUS); snapshots
        // live in apk's own cache directory, where only apk writes.
        match unsafe { Mmap::map(&file) } {
            Ok(m) => {
                // Page-cache folios can be large (ext4 on recent kernels): mapped
                // whole, touching a few records would make megabytes resident.
                let _ = m.advise(memmap2::Advice::NoHugePage);
                Some(MappedFile::Mapped(m))
            }
            Err(_) => std::fs::read(path).ok().map(MappedFile::Read),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            MappedFile::Mapped(m) => m,
            MappedFile::Read(v) => v,
        }
    }
}

/// A mapped snapshot, shared by the pool decoded from it and the tables it reads in
/// place.
pub struct SnapshotBytes(pub MappedFile);

impl std::fmt::Debug for SnapshotBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotBytes({} bytes)", self.0.bytes().len())
    }
}

/// Plain values, held in memory or read in place from a mapped snapshot: a slice of `T`
/// that keeps what it points into alive. Reading a warm snapshot's tables in place
/// costs neither a copy nor the heap pages a copy would fault in; reading either kind
/// is one pointer and a length (no branch on which kind it is).
pub struct Table<T> {
    ptr: *const T,
    len: usize,
    keep: Keep<T>,
}

/// What a [`Table`] points into. A file's bytes never change; the `Vec` changes only
/// inside [`Table::change`], which points the table at it again afterwards.
enum Keep<T> {
    Owned(Vec<T>),
    File(Arc<SnapshotBytes>),
}

// SAFETY: a `Table` owns its `Vec` (changed only through `&mut self`) or shares read-only
// bytes through an `Arc` (itself `Send + Sync`); the pointer only points into one of
// them, so sending or sharing a `Table` is as safe as sending or sharing a `Vec<T>` or
// a `&[T]`.
unsafe impl<T: Send + Sync> Send for Table<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Table<T> {}

impl<T> Table<T> {
    pub fn from_vec(v: Vec<T>) -> Self {
        Table {
            ptr: v.as_ptr(),
            len: v.len(),
            keep: Keep::Owned(v),
        }
    }
}

impl<T> Table<T> {
    /// Is this table read in place from a file (not held in memory)?
    pub fn is_in_file(&self) -> bool {
        matches!(self.keep, Keep::File(_))
    }
}

impl<T: Clone> Table<T> {
    /// Changes the table's values in memory (a table read in place is copied out
    /// first), then points at them again.
    pub fn change<R>(&mut self, f: impl FnOnce(&mut Vec<T>) -> R) -> Option<R> {
        let mut out = None;
        if let Keep::File(_) = self.keep {
            *self = Table::from_vec(self.to_vec());
        }
        if let Keep::Owned(v) = &mut self.keep {
            out = Some(f(v));
            self.ptr = v.as_ptr();
            self.len = v.len();
        }
        out
    }

    pub fn extend_from_slice(&mut self, values: &[T]) {
        self.change(|v| v.extend_from_slice(values));
    }

    pub fn push(&mut self, value: T) {
        self.change(|v| v.push(value));
    }

    pub fn reserve(&mut self, n: usize) {
        self.change(|v| v.reserve(n));
    }
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table::from_vec(Vec::new())
    }
}

impl<T> From<Vec<T>> for Table<T> {
    fn from(v: Vec<T>) -> Self {
        Table::from_vec(v)
    }
}

impl<T> Table<T>
where
    T: zerocopy::TryFromBytes + zerocopy::Immutable + zerocopy::KnownLayout,
{
    /// The bytes `range` of `file` as `[T]`, read in place; `None` when the range is
    /// outside the file, not aligned for `T`, not a whole number of `T`s or when a value
    /// is not a valid `T` (a `bool` byte other than 0 or 1): zerocopy checks each (for a
    /// type any bytes make, the check is nothing).
    pub fn in_file(file: &Arc<SnapshotBytes>, range: std::ops::Range<usize>) -> Option<Self> {
        let bytes = file.0.bytes().get(range)?;
        let values = <[T] as zerocopy::TryFromBytes>::try_ref_from_bytes(bytes).ok()?;
        Some(Table {
            ptr: values.as_ptr(),
            len: values.len(),
            keep: Keep::File(Arc::clone(file)),
        })
    }
}

impl<T> std::ops::Deref for Table<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` and `len` are those of a valid `&[T]` into what `keep` holds: the
        // buffer of its `Vec` (changed only by `change`, which sets them again after),
        // or bytes of the file that zerocopy checked (alignment, size, each value
        // valid). A file's bytes stay
        // at the same address, unchanged, for as long as the `Arc` lives: a mapping is
        // unmapped only when the `MappedFile` drops, a read copy is a `Vec` nothing
        // mutates behind the shared `Arc`, and apk-rs never writes a snapshot in place
        // (see `MappedFile::open`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Clone> Clone for Table<T> {
    fn clone(&self) -> Self {
        match &self.keep {
            Keep::Owned(v) => Table::from_vec(v.clone()),
            Keep::File(f) => Table {
                ptr: self.ptr,
                len: self.len,
                keep: Keep::File(Arc::clone(f)),
            },
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// UTF-8 text held in memory or read in place (checked once when read).
#[derive(Clone, Default)]
pub struct Text(Table<u8>);

impl Text {
    /// The bytes `range` of `file` as text; `None` when they are not UTF-8.
    pub fn in_file(file: &Arc<SnapshotBytes>, range: std::ops::Range<usize>) -> Option<Self> {
        let bytes = Table::<u8>::in_file(file, range)?;
        std::str::from_utf8(&bytes).ok()?;
        Some(Text(bytes))
    }

    pub fn from_string(s: String) -> Self {
        Text(Table::from_vec(s.into_bytes()))
    }

    /// Appends `s` (text read in place is copied out first).
    pub fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
}

impl Text {
    /// Is this text read in place from a file (not held in memory)?
    pub fn is_in_file(&self) -> bool {
        self.0.is_in_file()
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        // SAFETY: the bytes are UTF-8: text read from a file was checked when it was
        // read, and owned text is only ever made of `String`s and `&str`s (`from_string`,
        // `push_str`); neither kind changes afterwards (see `Table`'s `Deref`).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(bytes: &[u8]) -> (tempfile::TempDir, Arc<SnapshotBytes>) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = MappedFile::open(&path).unwrap();
        assert!(matches!(file, MappedFile::Mapped(_)));
        (tmp, Arc::new(SnapshotBytes(file)))
    }

    #[test]
    fn a_table_is_read_in_place_only_where_its_values_fit() {
        let mut bytes = Vec::new();
        for v in [7u32, 0xdead_beef, 3] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.push(1);
        let (_tmp, file) = mapped(&bytes);
        let t = Table::<u32>::in_file(&file, 0..12).unwrap();
        assert!(t.is_in_file());
        if cfg!(target_endian = "little") {
            assert_eq!(&*t, &[7, 0xdead_beef, 3]);
        }
        assert_eq!(t.clone().len(), 3);
        // Not aligned for u32, not a whole number of them, past the end: refused.
        assert!(Table::<u32>::in_file(&file, 1..9).is_none());
        assert!(Table::<u32>::in_file(&file, 0..6).is_none());
        assert!(Table::<u32>::in_file(&file, 4..16).is_none());
        let owned = Table::from_vec(vec![1u32, 2]);
        assert!(!owned.is_in_file());
        assert_eq!(&*owned.clone(), &[1, 2]);
        assert!(Table::<u32>::default().is_empty());
    }

    #[derive(
        Debug,
        Clone,
        Copy,
        PartialEq,
        zerocopy::TryFromBytes,
        zerocopy::Immutable,
        zerocopy::KnownLayout,
    )]
    #[repr(C)]
    struct Flagged {
        id: u16,
        on: bool,
        level: u8,
    }

    #[test]
    fn values_with_invalid_bytes_are_refused_and_a_table_read_in_place_grows_by_copy() {
        let (_tmp, file) = mapped(&[5, 0, 1, 9, 6, 0, 0, 3, 7, 0, 2, 0]);
        let mut t = Table::<Flagged>::in_file(&file, 0..8).unwrap();
        assert!(t.is_in_file());
        if cfg!(target_endian = "little") {
            assert_eq!(
                t[1],
                Flagged {
                    id: 6,
                    on: false,
                    level: 3
                }
            );
        }
        // The third record's `bool` is 2.
        assert!(Table::<Flagged>::in_file(&file, 0..12).is_none());
        let extra = Flagged {
            id: 1,
            on: true,
            level: 0,
        };
        t.extend_from_slice(&[extra]);
        assert!(!t.is_in_file());
        assert_eq!((t.len(), t[2]), (3, extra));
        t.reserve(100);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn text_read_in_place_is_checked_and_copied_out_to_grow() {
        let (_tmp, file) = mapped(&[b"musl\xc3\xa9".as_slice(), b"\xffbusybox"].concat());
        // "é" is two bytes: the text is the first six; the seventh is not UTF-8.
        let mut t = Text::in_file(&file, 0..6).unwrap();
        assert!(t.is_in_file());
        assert_eq!(&*t, "muslé");
        assert!(Text::in_file(&file, 0..5).is_none(), "half a character");
        t.push_str("-dev");
        assert!(!t.is_in_file());
        assert_eq!(&*t, "muslé-dev");
        let mut grown = Text::from_string("a".into());
        for _ in 0..100 {
            grown.push_str("bc");
        }
        assert_eq!(grown.len(), 201);
        assert!(grown.ends_with("bcbc"));
    }
}
