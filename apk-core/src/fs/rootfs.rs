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
        let (resolved, _) = self.walk(Vec::new(), rel, rel)?;
        Ok(self.host(&resolved))
    }

    /// Resolves the components of `rest` one by one after `resolved` (components
    /// already resolved), as the kernel would inside the root. Returns the resolved
    /// components and the index of the first one that does not exist (their count when
    /// all do): below a missing directory nothing is looked at, nothing can be there.
    fn walk(
        &self,
        mut resolved: Vec<String>,
        rest: &str,
        whole: &str,
    ) -> Result<(Vec<String>, usize), RootPathError> {
        let mut queue: VecDeque<String> = rest
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut missing_from: Option<usize> = None;
        let mut links = 0;
        while let Some(part) = queue.pop_front() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    if missing_from.is_some_and(|m| resolved.len() <= m) {
                        missing_from = None;
                    }
                    continue;
                }
                _ if missing_from.is_some() => {
                    resolved.push(part);
                    continue;
                }
                _ => {}
            }
            let host = self.host(&resolved).join(&part);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(RootPathError::TooManyLinks(whole.to_owned()));
                    }
                    let target = fs::read_link(&host).map_err(|source| RootPathError::Io {
                        path: host.clone(),
                        source,
                    })?;
                    let target = target.to_string_lossy();
                    if target.starts_with('/') {
                        resolved.clear();
                        missing_from = None;
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
                Ok(_) => resolved.push(part),
                Err(_) => {
                    missing_from = Some(resolved.len());
                    resolved.push(part);
                }
            }
        }
        let missing_from = missing_from.unwrap_or(resolved.len());
        Ok((resolved, missing_from))
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

    /// Creates the missing parents of `rel` (mode 0755 less the umask, as
    /// `mkdir -p`), returning the resolved parent. Parents in `known` are not looked at
    /// again; the resolved parent is added to it.
    pub fn make_parents(&self, rel: &str, known: &mut KnownDirs) -> Result<PathBuf, RootPathError> {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        if parent.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some((host, _)) = known.dirs.get(parent) {
            return Ok(host.clone());
        }
        // From the nearest ancestor already known, else from the root.
        let mut start = (Vec::new(), parent);
        let mut ancestor = parent;
        while let Some((up, _)) = ancestor.rsplit_once('/') {
            if let Some(parts) = known.dirs.get(up).and_then(|(h, _)| self.parts_of(h)) {
                start = (parts, &parent[up.len() + 1..]);
                break;
            }
            ancestor = up;
        }
        let (resolved, missing_from) = self.walk(start.0, start.1, parent)?;
        for end in missing_from + 1..=resolved.len() {
            let dir = self.host(&resolved[..end]);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(source) => return Err(RootPathError::Io { path: dir, source }),
            }
        }
        let host = self.host(&resolved);
        let made = missing_from < resolved.len();
        known.dirs.insert(parent.to_owned(), (host.clone(), made));
        Ok(host)
    }

    /// The resolved components of a host path under the root.
    fn parts_of(&self, host: &Path) -> Option<Vec<String>> {
        host.strip_prefix(&self.root)
            .ok()?
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect()
    }
}

/// Directories of a root known to be there (each a directory, or a symlink to one,
/// when it was looked at), by path relative to the root, with their resolved host
/// path; an install resolves each folder once instead of once per entry. Only a change
/// to the root can make one stale, so whoever removes something, renames a symlink
/// into place or runs a script there calls [`KnownDirs::forget`].
#[derive(Debug, Default)]
pub struct KnownDirs {
    /// Relative path -> (resolved host path, made by this process since the last
    /// `forget`).
    dirs: std::collections::HashMap<String, (PathBuf, bool)>,
}

impl KnownDirs {
    /// The resolved host path of `rel`, when known to be a directory.
    pub fn get(&self, rel: &str) -> Option<&PathBuf> {
        self.dirs.get(rel).map(|(host, _)| host)
    }

    /// Whether `rel` was made by this process since the last [`KnownDirs::forget`]:
    /// then only what this process put there since is in it.
    pub fn made_here(&self, rel: &str) -> bool {
        self.dirs.get(rel).is_some_and(|&(_, made)| made)
    }

    /// Records that `rel` is a directory at `host` (resolved inside the root), `made`
    /// by this process.
    pub fn insert(&mut self, rel: &str, host: PathBuf, made: bool) {
        self.dirs.insert(rel.to_owned(), (host, made));
    }

    /// Forgets everything: the root changed in a way that may have moved a directory.
    pub fn forget(&mut self) {
        self.dirs.clear();
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
    fn parents_are_made_once_and_resolved_on_from_a_known_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        let fs = RootFs::new(root);
        let mut known = KnownDirs::default();
        // Missing parents are made, through the symlink, inside the root.
        let made = fs.make_parents("lib/x/y/file", &mut known).unwrap();
        assert_eq!(made, root.join("usr/lib/x/y"));
        assert!(root.join("usr/lib/x/y").is_dir());
        assert_eq!(known.get("lib/x/y"), Some(&made));
        assert!(known.made_here("lib/x/y"));
        // Resolved on from the known ancestor.
        let deeper = fs.make_parents("lib/x/y/z/file", &mut known).unwrap();
        assert_eq!(deeper, root.join("usr/lib/x/y/z"));
        assert!(deeper.is_dir());
        // A folder that was there is known, not made here.
        assert_eq!(
            fs.make_parents("etc/passwd", &mut known).unwrap(),
            root.join("etc")
        );
        assert!(!known.made_here("etc"));
        assert_eq!(fs.make_parents("top", &mut known).unwrap(), root);
        // What is known is not looked at again, until forgotten.
        fs::remove_dir(&deeper).unwrap();
        assert_eq!(
            fs.make_parents("lib/x/y/z/other", &mut known).unwrap(),
            deeper
        );
        assert!(!deeper.exists());
        known.forget();
        assert_eq!(known.get("lib/x/y"), None);
        assert_eq!(
            fs.make_parents("lib/x/y/z/other", &mut known).unwrap(),
            deeper
        );
        assert!(deeper.is_dir());
        // Something not a folder in the way is an error, nothing made.
        fs::write(root.join("etc/file"), b"x").unwrap();
        assert!(matches!(
            fs.make_parents("etc/file/sub/x", &mut known),
            Err(RootPathError::NotADirectory(p)) if p == "etc/file"
        ));
        assert!(!root.join("etc/file/sub").exists());
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
