//! Staging a package's files: each entry written under a temporary name beside its
//! destination (parents resolved inside the root), its mode, owner and checksum
//! recorded, and renamed into place only once the whole package is written.

use super::*;
use apk_format::PackageInfo;

/// A package being written: its database record so far and its files under
/// temporary names.
#[derive(Default)]
pub(super) struct Stage {
    /// `name-version` of the package, for messages.
    pub(super) nv: String,
    /// A file could not be installed (`f:f` in the database).
    pub(super) broken_files: bool,
    pub(super) record: InstalledPackage,
    pub(super) dir_index: HashMap<String, usize>,
    /// (temporary file, final destination).
    pub(super) moves: Vec<(PathBuf, PathBuf)>,
    /// Directories this package created, to be removed again if it fails.
    pub(super) created_dirs: Vec<PathBuf>,
    /// Paths taken over from other packages (`replaces`).
    pub(super) takeovers: Vec<String>,
    pub(super) paths: HashSet<String>,
    /// Path → (temporary file, checksum), for hard links to earlier files.
    pub(super) written: HashMap<String, (PathBuf, String)>,
    pub(super) touches_ids: bool,
    /// A symlink is renamed into place (or a file over one): the directories known
    /// to the commit are forgotten once the package landed.
    pub(super) links_changed: bool,
    /// Volumes written to the uvol manager, to be brought up once the package landed.
    pub(super) volumes: Vec<String>,
}

impl Stage {
    pub(super) fn dir(&mut self, path: &str) -> &mut InstalledDir {
        let idx = match self.dir_index.get(path) {
            Some(&i) => i,
            None => {
                self.record.dirs.push(InstalledDir {
                    path: path.to_owned(),
                    acl: None,
                    files: Vec::new(),
                });
                let i = self.record.dirs.len() - 1;
                self.dir_index.insert(path.to_owned(), i);
                i
            }
        };
        &mut self.record.dirs[idx]
    }

    /// Removes what was written; the package does not land.
    pub(super) fn discard(&self) {
        for (tmp, _) in &self.moves {
            let _ = fs::remove_file(tmp);
        }
        for d in self.created_dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Runs `op`, which creates `tmp`; when something is already there (left by a run that
/// crashed), removes it and tries once more.
pub(super) fn retry_stale<T>(
    tmp: &Path,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    match op() {
        Ok(v) => Ok(v),
        Err(_) if fs::symlink_metadata(tmp).is_ok() => {
            fs::remove_file(tmp)?;
            op()
        }
        Err(e) => Err(e),
    }
}

/// The `Z:` checksum of an entry: the archive's own SHA-1 (checked against the
/// contents while reading when no datahash covers the stream; as carried otherwise,
/// as apk-tools records it), else computed.
pub(super) fn entry_checksum(h: &EntryHeader, content: &[u8]) -> String {
    let recorded = h
        .apk_checksum
        .as_deref()
        .and_then(apk_format::checksum::decode_hex)
        .and_then(|b| <[u8; 20]>::try_from(b).ok());
    match recorded {
        Some(b) => Checksum::Sha1(b).to_string(),
        None => q1(Sha1::digest(content)),
    }
}

/// The owner and mode to record (`a:`/`M:`): none when root's with the default mode.
pub(super) fn unless_default(acl: Acl, default_mode: u32) -> Option<Acl> {
    let default = Acl {
        uid: 0,
        gid: 0,
        mode: default_mode,
        xattrs: None,
    };
    (acl != default).then_some(acl)
}

/// Whether a file or directory created with `mode & 0o777` still needs its mode set:
/// for setuid, setgid and sticky bits, and for bits the umask took away (or when the
/// umask is not known).
fn needs_chmod(mode: u32) -> bool {
    mode & 0o7000 != 0 || crate::fs::umask().is_none_or(|u| mode & u != 0)
}

pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

pub(super) fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, n)| n)
}

pub(super) fn q1(digest: impl AsRef<[u8]>) -> String {
    let mut b = [0u8; 20];
    b.copy_from_slice(digest.as_ref());
    Checksum::Sha1(b).to_string()
}

/// User and group ids by name, from the root's `etc/passwd` and `etc/group`.
#[derive(Debug, Default)]
pub(super) struct IdMap {
    pub(super) users: HashMap<String, u32>,
    pub(super) groups: HashMap<String, u32>,
}

impl IdMap {
    pub(super) fn load(root: &Path) -> IdMap {
        let read = |f: &str| -> HashMap<String, u32> {
            let text = fs::read_to_string(root.join(f)).unwrap_or_default();
            text.lines()
                .filter_map(|l| {
                    let mut it = l.split(':');
                    let name = it.next()?;
                    let id = it.nth(1)?.parse().ok()?;
                    Some((name.to_owned(), id))
                })
                .collect()
        };
        IdMap {
            users: read("etc/passwd"),
            groups: read("etc/group"),
        }
    }
}

impl Committer<'_> {
    /// The temporary name an entry is written under before it is renamed over `dest`:
    /// derived from the destination, so that a run after a crash reuses (and so
    /// cleans up) what the crashed run left, instead of piling up new names.
    pub(super) fn temp_for(dest: &Path) -> PathBuf {
        let digest = Sha1::digest(dest.as_os_str().as_encoded_bytes());
        let name = format!(".apk.{}", apk_format::checksum::encode_hex(&digest[..8]));
        dest.with_file_name(name)
    }

    /// Writes every entry of the package under a temporary name as its pieces come
    /// from the reading thread (all of them are taken, whatever fails); nothing is
    /// renamed into place here. Also returns the file's bytes when it belongs in the
    /// cache.
    pub(super) fn stage(
        &mut self,
        package: &Package,
        what: &str,
        previous: Option<&InstalledPackage>,
    ) -> std::result::Result<(Stage, Option<Vec<u8>>), String> {
        let mut stage = Stage {
            nv: what.to_owned(),
            ..Stage::default()
        };
        let info = package.info();
        let pieces = std::rc::Rc::clone(&self.pieces);
        // The first thing that went wrong here; the reading thread's own verdict comes
        // with the package's end.
        let mut failed: Option<String> = None;
        let end = loop {
            let Ok(piece) = pieces.recv() else {
                break Err("internal error: the package reader stopped".into());
            };
            match piece {
                Piece::Entries(list) => {
                    for (h, data) in &list {
                        if failed.is_none() {
                            let staged =
                                self.stage_entry(&mut stage, h, data, None, info, previous);
                            failed = staged.err();
                        }
                    }
                }
                // Big files go from the inflating stream to their temporary file: never
                // held whole (apk-tools holds a few kilobytes); one whose digest turns
                // out wrong fails the package, and its temporary file goes with the stage.
                Piece::File(h) => {
                    let mut chunks = Chunks::new(&pieces);
                    if failed.is_none() {
                        let staged = self.stage_entry(
                            &mut stage,
                            &h,
                            &[],
                            Some(&mut chunks),
                            info,
                            previous,
                        );
                        // When the stream broke under the file, the reader says why.
                        if !chunks.broke() {
                            failed = staged.err();
                        }
                    }
                    if let Some(end) = chunks.finish() {
                        break end;
                    }
                }
                Piece::End(result) => break result,
                Piece::Head(..) | Piece::Chunk(_) | Piece::FileEnd => {
                    break Err("internal error: package pieces out of order".into())
                }
            }
        };
        match (failed, end) {
            (Some(e), _) | (None, Err(e)) => {
                stage.discard();
                self.known_dirs.forget();
                Err(e)
            }
            (None, Ok(for_cache)) => Ok((stage, for_cache)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_entry(
        &mut self,
        stage: &mut Stage,
        h: &EntryHeader,
        data: &[u8],
        stream: Option<&mut dyn std::io::BufRead>,
        info: &PackageInfo,
        previous: Option<&InstalledPackage>,
    ) -> std::result::Result<(), String> {
        let path = h.path.as_str();
        // Only a plain file written here is copied from a stream; the rare others
        // (volumes, overlay files) read it whole first.
        let mut held = Vec::new();
        let (data, mut stream) = match stream {
            Some(r) if is_uvol(path) || self.opts.overlay.contains(path) => {
                r.read_to_end(&mut held)
                    .map_err(|e| format!("{path}: {e}"))?;
                (&held[..], None)
            }
            s => (data, s),
        };
        let acl = self.acl(h);
        if h.kind == EntryKind::Dir {
            (self.on)(Event::Trace(format!("{path}/ (dir)")));
            if is_uvol(path) {
                // The uvol manager keeps volumes; no folder is made for them.
                stage.dir(path).acl = unless_default(acl, 0o755);
                return Ok(());
            }
            return self.stage_dir(stage, path, acl);
        }
        if is_uvol(path) && h.kind == EntryKind::File {
            (self.on)(Event::Trace(path.to_owned()));
            let volume = file_name(path).to_owned();
            let checksum = match self.write_volume(&volume, data) {
                Err(why) => {
                    self.error(format!("{}: failed to extract {path}: {why}", stage.nv));
                    stage.broken_files = true;
                    // As apk-tools keeps the database's entry: what an earlier install
                    // of the package recorded stays.
                    previous
                        .and_then(|p| p.dirs.iter().find(|d| d.path == parent_of(path)))
                        .and_then(|d| d.files.iter().find(|f| &*f.name == file_name(path)))
                        .and_then(|f| f.checksum.as_deref().map(str::to_owned))
                }
                Ok(()) => {
                    stage.volumes.push(volume);
                    Some(entry_checksum(h, data))
                }
            };
            stage.paths.insert(path.to_owned());
            stage.dir(parent_of(path)).files.push(InstalledFile::new(
                file_name(path),
                unless_default(acl, 0o644),
                checksum.as_deref(),
            ));
            return Ok(());
        }
        if let Some(owner) = self.state.owner(path) {
            let oname = &owner.info.name;
            if previous.is_none_or(|p| &p.info.name != oname) {
                match replaces_file(&owner.info, info) {
                    // The owner keeps it: the file is not written, nothing is wrong.
                    Replaces::No => return Ok(()),
                    Replaces::Yes => {}
                    Replaces::Conflict => {
                        // As apk-tools: the file is skipped and the package marked broken
                        // (`f:f`), or with --force-overwrite taken over with a warning.
                        let msg = format!("{path} owned by {}.", owner.info.nv());
                        if !self.opts.force_overwrite {
                            self.error(format!("{}: trying to overwrite {msg}", stage.nv));
                            stage.broken_files = true;
                            return Ok(());
                        }
                        (self.on)(Event::Warning(format!("{}: overwriting {msg}", stage.nv)));
                    }
                }
                stage.takeovers.push(path.to_owned());
            }
        }
        (self.on)(Event::Trace(path.to_owned()));
        if self.opts.overlay.contains(path) && self.state.owner(path).is_none() {
            // As apk-tools: the package owns it now, the overlay's contents stay.
            let checksum = match h.kind {
                EntryKind::Symlink => entry_checksum(h, h.link.as_deref().unwrap_or("").as_bytes()),
                _ => entry_checksum(h, data),
            };
            stage.paths.insert(path.to_owned());
            stage.dir(parent_of(path)).files.push(InstalledFile::new(
                file_name(path),
                unless_default(acl, 0o644),
                Some(&checksum),
            ));
            return Ok(());
        }
        if path == "etc/passwd" || path == "etc/group" {
            stage.touches_ids = true;
        }
        let parent = self
            .fs
            .make_parents(path, &mut self.known_dirs)
            .map_err(|e| e.to_string())?;
        let dest = parent.join(file_name(path));
        // In a folder this commit made, what is there is what it put there, which the
        // database records (and the folders it made): nothing when no package owns the
        // path and it is no folder made here.
        let nothing_there = self.known_dirs.made_here(parent_of(path))
            && self.state.owner(path).is_none()
            && self.known_dirs.get(path).is_none();
        let existing = if nothing_there {
            None
        } else {
            fs::symlink_metadata(&dest).ok()
        };
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            // apk-tools finds it when renaming into place, and says so.
            return Err(format!("failed to commit {path}: Is a directory"));
        }
        if h.kind == EntryKind::Symlink || existing.as_ref().is_some_and(|m| m.is_symlink()) {
            stage.links_changed = true;
        }
        if stage.paths.contains(path) {
            return Err(format!("{path}: duplicate entry in the package"));
        }
        let tmp = Self::temp_for(&dest);
        let io = |e: std::io::Error| format!("{path}: {e}");
        let checksum = match h.kind {
            EntryKind::File => {
                // Created afresh (a stale one from a crashed run is removed first), so
                // with the mode asked for, less the umask.
                let mode = self.applied_mode(acl);
                let mut f = retry_stale(&tmp, || {
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode & 0o777)
                        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                        .open(&tmp)
                })
                .map_err(io)?;
                stage.moves.push((tmp.clone(), dest.clone()));
                match stream.take() {
                    Some(r) => write_buffered(r, &mut f),
                    None => f.write_all(data),
                }
                .map_err(io)?;
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(h.mtime))
                    .map_err(io)?;
                if self.opts.chown {
                    std::os::unix::fs::fchown(&f, Some(acl.uid), Some(acl.gid)).map_err(io)?;
                }
                // After the owner: chown clears setuid bits.
                if needs_chmod(mode) {
                    f.set_permissions(fs::Permissions::from_mode(mode))
                        .map_err(io)?;
                }
                // Extended attributes as apk-tools sets them: all as root, `user.` ones
                // otherwise; one that cannot be set is a warning.
                for (name, value) in &h.xattrs {
                    if !self.opts.chown && !name.starts_with("user.") {
                        continue;
                    }
                    if xattr::FileExt::set_xattr(&f, name, value).is_err() {
                        (self.on)(Event::Warning(format!(
                            "{}: failed to preserve {path}: xattrs",
                            stage.nv
                        )));
                        break;
                    }
                }
                entry_checksum(h, data)
            }
            EntryKind::Symlink => {
                let target = h.link.as_deref().unwrap_or("");
                retry_stale(&tmp, || std::os::unix::fs::symlink(target, &tmp)).map_err(io)?;
                stage.moves.push((tmp.clone(), dest.clone()));
                self.set_owner(&tmp, acl).map_err(io)?;
                entry_checksum(h, target.as_bytes())
            }
            EntryKind::HardLink => {
                let src = h.link.as_deref().unwrap_or("");
                let (src_tmp, csum) = stage
                    .written
                    .get(src)
                    .cloned()
                    .ok_or_else(|| format!("{path}: hard link to unknown '{src}'"))?;
                retry_stale(&tmp, || fs::hard_link(&src_tmp, &tmp)).map_err(io)?;
                stage.moves.push((tmp.clone(), dest.clone()));
                csum
            }
            _ => return Err(format!("{path}: unsupported entry type")),
        };
        // A protected file the user changed stays; the new one goes beside it. One that
        // already holds the new contents is left as it is (its mode included), as
        // apk-tools leaves it.
        let mut link_source = tmp;
        // (Nothing there: nothing the user changed.)
        let modified = existing.and_then(|_| self.user_modified(path, &dest));
        match modified {
            Some(current) if current != checksum && !self.opts.clean_protected => {
                let last = stage.moves.len() - 1;
                stage.moves[last].1 = parent.join(format!("{}.apk-new", file_name(path)));
                (self.on)(Event::Note(format!("  Installing file to {path}.apk-new")));
            }
            Some(_) if h.kind == EntryKind::File => {
                if let Some((tmp, _)) = stage.moves.pop() {
                    let _ = fs::remove_file(&tmp);
                }
                link_source = dest.clone();
            }
            _ => {}
        }
        if h.kind == EntryKind::File {
            stage
                .written
                .insert(path.to_owned(), (link_source, checksum.clone()));
        }
        stage.paths.insert(path.to_owned());
        if !self.changed_dirs.contains(parent_of(path)) {
            self.changed_dirs.insert(parent_of(path).to_owned());
        }
        stage.dir(parent_of(path)).files.push(InstalledFile::new(
            file_name(path),
            unless_default(acl, 0o644),
            Some(&checksum),
        ));
        Ok(())
    }

    pub(super) fn stage_dir(
        &mut self,
        stage: &mut Stage,
        path: &str,
        acl: Acl,
    ) -> std::result::Result<(), String> {
        let parent = self
            .fs
            .make_parents(path, &mut self.known_dirs)
            .map_err(|e| e.to_string())?;
        if self.known_dirs.get(path).is_some() {
            // Already there (made or seen earlier in this commit): stays as is.
            stage.dir(path).acl = unless_default(acl, 0o755);
            return Ok(());
        }
        let host = parent.join(file_name(path));
        match fs::symlink_metadata(&host) {
            // An existing directory, or a symlink to one (`lib -> usr/lib`), stays as is.
            Ok(m) if m.is_dir() => self.known_dirs.insert(path, host, false),
            Ok(m) if m.file_type().is_symlink() => {
                let resolved = self.fs.resolve_dir(path).map_err(|e| e.to_string())?;
                if !resolved.is_dir() {
                    fs::create_dir_all(&resolved).map_err(|e| format!("{path}: {e}"))?;
                }
            }
            Ok(_) => return Err(format!("{path}: exists and is not a directory")),
            Err(_) => {
                // In usermode a directory stays writable and searchable for its owner,
                // as apk-tools has it.
                let mode = if self.opts.usermode {
                    self.applied_mode(acl) | 0o300
                } else {
                    self.applied_mode(acl)
                };
                std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), mode & 0o777)
                    .create(&host)
                    .map_err(|e| format!("{path}: {e}"))?;
                stage.created_dirs.push(host.clone());
                self.set_owner(&host, acl)
                    .map_err(|e| format!("{path}: {e}"))?;
                if needs_chmod(mode) {
                    fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                        .map_err(|e| format!("{path}: {e}"))?;
                }
                // (No modification time: adding the entries sets it again, as it
                // does for apk-tools, which sets none either.)
                self.changed_dirs.insert(parent_of(path).to_owned());
                self.known_dirs.insert(path, host, true);
            }
        }
        stage.dir(path).acl = unless_default(acl, 0o755);
        Ok(())
    }

    /// Owner and mode an entry gets: names mapped through the root's `etc/passwd` and
    /// `etc/group` when restoring owners, numeric ids otherwise; setuid/setgid bits
    /// only together with the owner.
    pub(super) fn acl(&mut self, h: &EntryHeader) -> Acl {
        let mut uid = u32::try_from(h.uid).unwrap_or(0);
        let mut gid = u32::try_from(h.gid).unwrap_or(0);
        // Names are mapped through the root's users and groups whether or not owners
        // are restored: the database records them so in usermode too, as apk-tools does.
        let ids = self.ids.get_or_insert_with(|| IdMap::load(self.fs.path()));
        if let Some(u) = h.uname.as_deref().and_then(|n| ids.users.get(n)) {
            uid = *u;
        }
        if let Some(g) = h.gname.as_deref().and_then(|n| ids.groups.get(n)) {
            gid = *g;
        }
        // The database records the package's mode; what is applied may be less (see
        // `applied_mode`).
        Acl {
            uid,
            gid,
            mode: h.mode & 0o7777,
            // (apk-tools records none for the root folder.)
            xattrs: if h.path.is_empty() {
                None
            } else {
                apk_format::v2::archive::xattr_digest(&h.xattrs)
            },
        }
    }

    /// The mode put on disk: setuid and setgid only with the owner they were meant for
    /// (so not when owners are not restored).
    pub(super) fn applied_mode(&self, acl: Acl) -> u32 {
        if self.opts.chown {
            acl.mode
        } else {
            acl.mode & 0o1777
        }
    }

    pub(super) fn set_owner(&self, path: &Path, acl: Acl) -> std::io::Result<()> {
        if !self.opts.chown {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(acl.uid), Some(acl.gid))
    }
}

/// Who keeps a file two packages ship, as apk-tools decides it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Replaces {
    /// The new package takes it over.
    Yes,
    /// The installed owner keeps it; the new package does without.
    No,
    /// Neither says: an error unless forced.
    Conflict,
}

/// `owner` has the file installed, `new` ships it too: each one's `replaces` naming
/// the other (with its version) counts with its `replaces_priority`; the higher keeps
/// the file, a tie goes to the new package; without any, packages of one origin
/// share files.
pub(super) fn replaces_file(owner: &PackageInfo, new: &PackageInfo) -> Replaces {
    let prio = |by: &PackageInfo, of: &PackageInfo| -> i64 {
        let names = |d: &&Dependency| {
            d.name == of.name && !d.conflict && d.version_matches(&of.version, None)
        };
        if by.replaces.iter().any(|d| names(&d)) {
            i64::from(by.replaces_priority.unwrap_or(0))
        } else {
            -1
        }
    };
    let (a, b) = (prio(owner, new), prio(new, owner));
    if a > b {
        Replaces::No
    } else if b >= 0
        || (owner.origin.as_deref().is_some_and(|o| !o.is_empty()) && owner.origin == new.origin)
    {
        Replaces::Yes
    } else {
        Replaces::Conflict
    }
}

/// Writes what `r` holds, a buffer of it per `write` (`io::copy` would go through its own
/// 8 KiB buffer).
fn write_buffered(r: &mut dyn std::io::BufRead, w: &mut fs::File) -> std::io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        let n = buf.len();
        w.write_all(buf)?;
        r.consume(n);
    }
}
