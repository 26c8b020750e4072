//! Paths inside an install root, seen as a process changed into that root would see
//! them.
//!
//! A root holds symlinks written by packages (`lib64 -> lib`, `bin -> usr/bin`). Writing
//! through them on the host would let an absolute target (`/etc`) or enough `..` escape
//! the root, so parent directories are resolved here by hand: an absolute target starts
//! again at the root and `..` stops there, like `openat2(RESOLVE_IN_ROOT)`. The last
//! component is never followed: it is replaced by rename or removed.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

/// Why a path inside the root cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum RootPathError {
    #[error("too many levels of symlinks in '{0}'")]
    TooManyLinks(String),
    #[error("'{0}' is in the way: not a directory")]
    NotADirectory(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How many symlinks one resolution may follow (the kernel's limit).
const MAX_LINKS: u32 = 40;

#[derive(Debug, Clone)]
pub struct RootFs {
    root: PathBuf,
}

impl RootFs {
    pub fn new(root: &Path) -> Self {
        RootFs {
            root: root.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The host path of the directory that holds `rel` (a safe relative path), with
    /// every symlink among its parents resolved inside the root. Parents that do not
    /// exist yet are kept as named.
    pub fn resolve_parent(&self, rel: &str) -> Result<PathBuf, RootPathError> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        self.resolve_dir(parent)
    }

    /// The host path of `rel` itself, following a symlink in the last component too.
    pub fn resolve_dir(&self, rel: &str) -> Result<PathBuf, RootPathError> {
        let mut queue: VecDeque<String> = rel
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = queue.pop_front() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let host = self.host(&resolved).join(&part);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(RootPathError::TooManyLinks(rel.to_owned()));
                    }
                    let target = fs::read_link(&host).map_err(|source| RootPathError::Io {
                        path: host.clone(),
                        source,
                    })?;
                    let target = target.to_string_lossy();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    for (i, c) in target.split('/').filter(|c| !c.is_empty()).enumerate() {
                        queue.insert(i, c.to_owned());
                    }
                }
                Ok(m) if !m.is_dir() => {
                    return Err(RootPathError::NotADirectory(resolved_display(
                        &resolved, &part,
                    )));
                }
                _ => resolved.push(part),
            }
        }
        Ok(self.host(&resolved))
    }

    fn host(&self, parts: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(parts);
        p
    }

    /// The host path of `rel`'s last component inside its resolved parent.
    pub fn entry_path(&self, rel: &str) -> Result<PathBuf, RootPathError> {
        let name = rel.rsplit_once('/').map_or(rel, |(_, n)| n);
        Ok(self.resolve_parent(rel)?.join(name))
    }

    /// Creates the missing parents of `rel` (mode 0755), returning the resolved parent.
    pub fn make_parents(&self, rel: &str) -> Result<PathBuf, RootPathError> {
        let parent = self.resolve_parent(rel)?;
        fs::create_dir_all(&parent).map_err(|source| RootPathError::Io {
            path: parent.clone(),
            source,
        })?;
        Ok(parent)
    }
}

fn resolved_display(resolved: &[String], part: &str) -> String {
    let mut s = resolved.join("/");
    if !s.is_empty() {
        s.push('/');
    }
    s.push_str(part);
    s
}

/// The checksum apk records for what is at `path` now: SHA-1 of a file's contents or of
/// a symlink's target, as `Q1...`. `None` when nothing (or a directory) is there.
pub fn current_checksum(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    let digest = if meta.file_type().is_symlink() {
        let target = fs::read_link(path).ok()?;
        Sha1::digest(target.as_os_str().as_encoded_bytes())
    } else if meta.is_file() {
        Sha1::digest(fs::read(path).ok()?)
    } else {
        return None;
    };
    Some(apk_format::checksum::Checksum::Sha1(digest.into()).to_string())
}

/// The same as [`current_checksum`] with SHA-256 cut to 160 bits, which apk-tools
/// records for the files of v3 packages (`f:S`), also written `Q1...`.
pub fn current_checksum_sha256_160(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    let digest = if meta.file_type().is_symlink() {
        let target = fs::read_link(path).ok()?;
        sha2::Sha256::digest(target.as_os_str().as_encoded_bytes())
    } else if meta.is_file() {
        sha2::Sha256::digest(fs::read(path).ok()?)
    } else {
        return None;
    };
    let mut b = [0u8; 20];
    b.copy_from_slice(&digest[..20]);
    Some(apk_format::checksum::Checksum::Sha1(b).to_string())
}

/// Whether what is at `path` is what the database recorded (`Z:`), by either digest
/// apk-tools records.
pub fn matches_recorded(path: &Path, recorded: &str) -> bool {
    current_checksum(path).as_deref() == Some(recorded)
        || current_checksum_sha256_160(path).as_deref() == Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        fs::write(root.join("file"), b"x").unwrap();
        let fs = RootFs::new(root);
        assert_eq!(
            fs.resolve_parent("lib/libc.so").unwrap(),
            root.join("usr/lib")
        );
        assert_eq!(
            fs.resolve_parent("escape/etc/passwd").unwrap(),
            root.join("etc")
        );
        assert_eq!(
            fs.resolve_parent("up/etc/passwd").unwrap(),
            root.join("etc")
        );
        assert_eq!(
            fs.resolve_parent("new/dir/x").unwrap(),
            root.join("new/dir")
        );
        assert!(matches!(
            fs.resolve_parent("loop/x"),
            Err(RootPathError::TooManyLinks(_))
        ));
        assert!(matches!(
            fs.resolve_parent("file/x"),
            Err(RootPathError::NotADirectory(p)) if p == "file"
        ));
        assert_eq!(fs.entry_path("lib").unwrap(), root.join("lib"));
    }

    #[test]
    fn checksums_of_files_and_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"hello\n").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("l")).unwrap();
        let file = current_checksum(&dir.path().join("f")).unwrap();
        let link = current_checksum(&dir.path().join("l")).unwrap();
        assert_eq!(
            file,
            apk_format::checksum::Checksum::sha1_of(b"hello\n").to_string()
        );
        assert_eq!(
            link,
            apk_format::checksum::Checksum::sha1_of(b"target").to_string()
        );
        assert_eq!(current_checksum(&dir.path().join("none")), None);
        assert_eq!(current_checksum(dir.path()), None);
    }
}
