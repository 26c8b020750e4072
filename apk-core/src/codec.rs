//! The little-endian primitives of apk-rs's own binary caches (the database snapshot and
//! the pool tables inside it): length-prefixed strings, counts and integers, written by
//! [`Writer`] and read back by [`Reader`], which fails instead of reading past the end.
//! A leaf: it knows nothing of what is encoded.

/// The writing half.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    /// Pads with zeros to a multiple of `n` bytes (so that a table after it can be read
    /// in place as values of that alignment).
    pub fn align(&mut self, n: usize) {
        self.buf.resize(self.buf.len().next_multiple_of(n), 0);
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    /// `b` as it is (no length before it).
    pub fn bytes_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
            None => self.u8(0),
        }
    }
}

/// A bounds-checked reader: every method fails (`None`) instead of reading past the end.
pub struct Reader<'a> {
    data: &'a [u8],
    /// The length of what the reader was made over (positions count from its start).
    total: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            total: data.len(),
        }
    }
    /// How far the reader is from the start of what it was made over.
    pub fn pos(&self) -> usize {
        self.total - self.data.len()
    }
    /// Skips to the next position that is a multiple of `n` (what [`Writer::align`]
    /// padded).
    pub fn align(&mut self, n: usize) -> Option<()> {
        let pad = self.pos().next_multiple_of(n) - self.pos();
        self.take(pad).map(|_| ())
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// `n` records of `N` bytes each, read in one step (their fields then read
    /// without a bounds check each).
    pub fn records<const N: usize>(
        &mut self,
        n: usize,
    ) -> Option<impl ExactSizeIterator<Item = &'a [u8; N]>> {
        let bytes = self.take(n.checked_mul(N)?)?;
        Some(
            bytes
                .chunks_exact(N)
                .map(|c| <&[u8; N]>::try_from(c).unwrap_or(&[0; N])),
        )
    }
    /// `n` little-endian u32 values.
    pub fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    /// A count, refused when it could not possibly fit in what is left (each element
    /// takes at least one byte), so corrupt counts cannot make huge allocations.
    pub fn len(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        (n <= self.data.len()).then_some(n)
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    pub fn string(&mut self) -> Option<String> {
        self.str().map(str::to_owned)
    }
    pub fn opt_string(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.string()?)),
            _ => None,
        }
    }
    pub fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }
    /// What is left to read.
    pub fn rest(&self) -> &'a [u8] {
        self.data
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Little-endian fields of a fixed-size record (offsets are constants: no bounds
/// checks once the record's size is known).
pub fn u16_at<const N: usize>(r: &[u8; N], at: usize) -> u16 {
    u16::from_le_bytes([r[at], r[at + 1]])
}
pub fn u32_at<const N: usize>(r: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
}
pub fn u64_at<const N: usize>(r: &[u8; N], at: usize) -> u64 {
    u64::from(u32_at(r, at)) | (u64::from(u32_at(r, at + 4)) << 32)
}
