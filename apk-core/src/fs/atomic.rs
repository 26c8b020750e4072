//! Whole-file reads and atomic replacement, naming the path in every error.
//!
//! A replacement is written to a temporary file in the same directory and renamed over
//! the target, so readers (and memory maps) see the old or the new contents, never a mix.

use std::path::Path;

use apk_format::error::{Error, Result};

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole text file.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Replaces `path` with `bytes` atomically, and durably: the data reaches the disk
/// before the rename makes it visible.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, &[bytes], true)
}

/// Replaces `path` with `bytes` atomically, leaving it to the system when the data
/// reaches the disk: for files that can be made again (caches, build output), where a
/// flush per file would only make the writer wait.
pub fn write_atomically_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, &[bytes], false)
}

/// As [`write_atomically_unsynced`], for contents in several parts (written one after
/// the other, without joining them in memory first).
pub fn write_parts_atomically_unsynced(path: &Path, parts: &[&[u8]]) -> Result<()> {
    replace(path, parts, false)
}

/// Replaces `path` atomically and durably with what `write` writes: contents made
/// piece by piece go to the file as they are made, never whole in memory.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    replace_with(path, true, |f| {
        let mut w = std::io::BufWriter::with_capacity(64 << 10, f);
        write(&mut w)?;
        std::io::Write::flush(&mut w)
    })
}

fn replace(path: &Path, parts: &[&[u8]], sync: bool) -> Result<()> {
    replace_with(path, sync, |f| {
        use std::io::Write;
        for part in parts {
            f.write_all(part)?;
        }
        Ok(())
    })
}

fn replace_with(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            write(&mut f)?;
            if sync {
                f.sync_all()?;
            }
            Ok(())
        })
        .map_err(|e| Error::io(&tmp, e));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Flushes every file system to disk (`sync(2)`), as apk-tools does after a commit
/// to the host's root.
pub fn sync_all() {
    rustix::fs::sync();
}
