//! Writing a package's files into a directory, safely.
//!
//! Entry paths were already checked by [`Package::walk_data`] (relative, no `..`, no
//! devices, hard links to earlier files). Here the filesystem side is guarded: no parent
//! of an entry may be a symlink (a package or a previous occupant cannot redirect a write
//! outside the destination), files are written under a temporary name and renamed over
//! the target (a symlink in the way is replaced, never followed), and setuid/setgid bits
//! are dropped unless ownership is restored too.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use apk_format::error::{Error, Result};
use apk_format::package::{EntryHeader, EntryKind};
use apk_format::Package;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Restore numeric owners from the archive (needs root).
    pub chown: bool,
    /// Replace files already there (`--force-overwrite`); without it an existing
    /// file, link or other non-directory stops the extraction ("File exists"), as
    /// apk-tools stops.
    pub overwrite: bool,
}

struct Writer<'a> {
    dest: &'a Path,
    opts: Options,
    checked_dirs: HashSet<PathBuf>,
    dirs: Vec<(PathBuf, u64)>,
}

impl Writer<'_> {
    fn err(&self, path: &str, e: impl std::fmt::Display) -> Error {
        Error::format(self.dest.join(path).display().to_string(), e.to_string())
    }

    /// Makes sure every parent of `rel` is a real directory inside the destination,
    /// creating missing ones.
    fn prepare_parents(&mut self, rel: &str) -> Result<()> {
        let mut cur = self.dest.to_path_buf();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            cur.push(part);
            if self.checked_dirs.contains(&cur) {
                continue;
            }
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.err(
                        rel,
                        format!("refusing to write through symlink '{}'", cur.display()),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.err(rel, format!("'{}' is not a directory", cur.display())))
                }
                Err(_) => fs::create_dir(&cur).map_err(|e| self.err(rel, e))?,
            }
            self.checked_dirs.insert(cur.clone());
        }
        Ok(())
    }

    fn mode(&self, h: &EntryHeader) -> u32 {
        if self.opts.chown {
            h.mode & 0o7777
        } else {
            h.mode & 0o1777
        }
    }

    fn chown(&self, path: &Path, h: &EntryHeader) -> Result<()> {
        if !self.opts.chown {
            return Ok(());
        }
        let id = |v: u64| u32::try_from(v).ok();
        std::os::unix::fs::lchown(path, id(h.uid), id(h.gid)).map_err(|e| self.err(&h.path, e))
    }

    fn write_entry(&mut self, h: &EntryHeader, data: &[u8]) -> Result<()> {
        self.prepare_parents(&h.path)?;
        let target = self.dest.join(&h.path);
        if !self.opts.overwrite && h.kind != EntryKind::Dir && fs::symlink_metadata(&target).is_ok()
        {
            let exists = std::io::Error::from_raw_os_error(rustix::io::Errno::EXIST.raw_os_error());
            return Err(Error::io(&target, exists));
        }
        match h.kind {
            EntryKind::Dir => self.write_dir(&target, h),
            EntryKind::File => self.write_file(&target, h, data),
            EntryKind::Symlink => {
                let tmp = temp_name(&target);
                let link = h.link.as_deref().unwrap_or("");
                std::os::unix::fs::symlink(link, &tmp).map_err(|e| self.err(&h.path, e))?;
                self.chown(&tmp, h)?;
                self.replace(&tmp, &target, h)
            }
            EntryKind::HardLink => {
                let src = self.dest.join(h.link.as_deref().unwrap_or(""));
                let tmp = temp_name(&target);
                fs::hard_link(&src, &tmp).map_err(|e| self.err(&h.path, e))?;
                self.replace(&tmp, &target, h)
            }
            _ => Err(self.err(&h.path, "unsupported entry type")),
        }
    }

    fn write_dir(&mut self, target: &Path, h: &EntryHeader) -> Result<()> {
        match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(self.err(&h.path, "exists and is not a directory")),
            Err(_) => fs::create_dir(target).map_err(|e| self.err(&h.path, e))?,
        }
        self.chown(target, h)?;
        fs::set_permissions(target, fs::Permissions::from_mode(self.mode(h)))
            .map_err(|e| self.err(&h.path, e))?;
        self.checked_dirs.insert(target.to_path_buf());
        self.dirs.push((target.to_path_buf(), h.mtime));
        Ok(())
    }

    fn write_file(&mut self, target: &Path, h: &EntryHeader, data: &[u8]) -> Result<()> {
        let tmp = temp_name(target);
        let result = (|| -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(data)?;
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(h.mtime))?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.err(&h.path, e));
        }
        self.chown(&tmp, h)?;
        // chown clears setuid bits, so the mode comes after it.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(self.mode(h)))
            .map_err(|e| self.err(&h.path, e))?;
        self.replace(&tmp, target, h)
    }

    /// Renames `tmp` over `target`; a directory in the way is an error.
    fn replace(&self, tmp: &Path, target: &Path, h: &EntryHeader) -> Result<()> {
        if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
            let _ = fs::remove_file(tmp);
            return Err(self.err(&h.path, "a directory is in the way"));
        }
        fs::rename(tmp, target).map_err(|e| {
            let _ = fs::remove_file(tmp);
            self.err(&h.path, e)
        })
    }

    /// Directory mtimes last, deepest first, since writing into them changes them.
    fn finish(mut self) -> Result<()> {
        self.dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (dir, mtime) in &self.dirs {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(*mtime);
            let f = fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
            f.set_modified(t).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".apk.{}.{name}", std::process::id()))
}

/// Extracts the (already parsed) package's data into `dest`, returning the entries
/// written. Verification of paths and checksums happens as the stream is read; callers
/// that must not write anything from a bad package verify first ([`Package::verify`]).
pub fn extract(
    pkg: &Package,
    bytes: &[u8],
    what: &str,
    dest: &Path,
    opts: Options,
) -> Result<Vec<EntryHeader>> {
    let mut w = Writer {
        dest,
        opts,
        checked_dirs: HashSet::new(),
        dirs: Vec::new(),
    };
    let mut written = Vec::new();
    pkg.walk_data(bytes, what, |h, data| {
        w.write_entry(h, data)?;
        written.push(h.clone());
        Ok(())
    })?;
    w.finish()?;
    Ok(written)
}
