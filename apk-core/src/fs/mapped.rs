//! Read-only memory maps of whole files, with a fallback to reading them.
//!
//! This is the one place apk-core uses `unsafe`: mapping saves the copy of a snapshot
//! into memory (measured in `benches/`). The file is never written in place by apk-rs
//! (snapshots are replaced by rename), which is what makes the mapping sound in practice.

use std::fs::File;
use std::path::Path;

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

    /// Tells the kernel that the pages of `range` are not needed for now (they were
    /// copied out): they leave this process's resident set and, if read again, come
    /// back from the page cache. Best effort; a read copy is left alone.
    pub fn release(&self, range: std::ops::Range<usize>) {
        if let MappedFile::Mapped(m) = self {
            let len = range.end.saturating_sub(range.start);
            if range.end <= m.len() && len > 0 {
                // SAFETY: the map is a read-only mapping of a file that this process
                // never writes through it, so dropping its pages loses nothing: a later
                // access reads the same bytes from the file again. No reference into
                // the range is invalidated (the memory stays mapped).
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, len)
                };
            }
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            MappedFile::Mapped(m) => m,
            MappedFile::Read(v) => v,
        }
    }
}
