//! Reading the pool's tables of plain values out of a snapshot: in place when the
//! snapshot is mapped (a warm run neither copies them nor faults in heap pages for
//! them), else copied. A table read in place is copied out the first time it changes
//! (`Table::change`: a package marked installed or cached, strings, names or
//! dependencies added after a snapshot was loaded).

use std::sync::Arc;

use crate::codec::Reader;
use crate::fs::mapped::SnapshotBytes;
pub(crate) use crate::fs::mapped::{Table, Text as Strs};

/// Where a snapshot's core payload lies: the mapped file and the payload's offset in it
/// (`None`: tables are copied out of the reader).
pub(crate) type Place<'a> = Option<(&'a Arc<SnapshotBytes>, usize)>;

/// `n` little-endian 32-bit values at the reader's position, which is first moved to a
/// multiple of 4 (as [`crate::codec::Writer::align`] wrote it): read in place when
/// `place` maps them (little-endian machines), else decoded with `from`.
pub(crate) fn read_u32s<T>(
    r: &mut Reader<'_>,
    n: usize,
    place: Place<'_>,
    from: impl Fn(u32) -> T,
) -> Option<Table<T>>
where
    T: zerocopy::TryFromBytes + zerocopy::Immutable + zerocopy::KnownLayout,
{
    r.align(4)?;
    let at = r.pos();
    let bytes = r.take(n.checked_mul(4)?)?;
    if cfg!(target_endian = "little") && std::mem::size_of::<T>() == 4 {
        if let Some(t) =
            place.and_then(|(file, base)| Table::in_file(file, base + at..base + at + bytes.len()))
        {
            return Some(t);
        }
    }
    Some(Table::from_vec(
        bytes
            .chunks_exact(4)
            .map(|b| from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
    ))
}

/// A length-prefixed text at the reader's position, read in place when `place` maps it;
/// `None` when it is not UTF-8.
pub(crate) fn read_text(r: &mut Reader<'_>, place: Place<'_>) -> Option<Strs> {
    let n = r.len()?;
    let at = r.pos();
    let bytes = r.take(n)?;
    if let Some(t) = place.and_then(|(file, base)| Strs::in_file(file, base + at..base + at + n)) {
        return Some(t);
    }
    Some(Strs::from_string(
        std::str::from_utf8(bytes).ok()?.to_owned(),
    ))
}

/// `n` records of `N` bytes at the reader's position (moved to a multiple of `T`'s
/// alignment, at least 4, first), laid out as `T` is: read in place when `place` maps
/// them (little-endian machines; zerocopy checks every value), else decoded with
/// `decode`.
pub(crate) fn read_records<T, const N: usize>(
    r: &mut Reader<'_>,
    n: usize,
    place: Place<'_>,
    decode: impl Fn(&[u8; N]) -> Option<T>,
) -> Option<Table<T>>
where
    T: zerocopy::TryFromBytes + zerocopy::Immutable + zerocopy::KnownLayout,
{
    r.align(std::mem::align_of::<T>().max(4))?;
    let at = r.pos();
    let len = n.checked_mul(N)?;
    if cfg!(target_endian = "little") && std::mem::size_of::<T>() == N {
        if let Some(t) =
            place.and_then(|(file, base)| Table::in_file(file, base + at..base + at + len))
        {
            r.take(len)?;
            return Some(t);
        }
    }
    let values = r.records::<N>(n)?.map(decode).collect::<Option<Vec<T>>>()?;
    Some(Table::from_vec(values))
}
