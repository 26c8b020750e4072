//! Applying a solver changeset to a root: fetching and verifying packages, writing
//! their files, running their scripts and triggers, and writing the database back.
//!
//! Each package lands in two steps. Its data stream is read once, every entry written
//! under a temporary name (`.apk.*`) next to its destination while paths, per-file
//! checksums, ownership and the stream's `datahash` are checked; only when the whole
//! package checked out are the temporary files renamed into place. A package that
//! fails leaves nothing behind. The database files (`scripts.tar.gz`, `triggers`,
//! `installed`, then `world`) are each replaced atomically after all files are in
//! place, so a crash leaves the previous database, and files that no package records,
//! which the next install or `apk fix` overwrites.
//!
//! Ownership follows apk: a path owned by another package may only be overwritten when
//! the new package `replaces` it (or both come from the same origin), and ownership then
//! moves. Protected paths ([`crate::db::protect`]) changed by the user are kept, the new version
//! written beside them as `.apk-new`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha1::{Digest, Sha1};

use crate::db::installed::{Acl, InstalledDir, InstalledFile, InstalledPackage};
use crate::pool::{PkgId, Pool, RepoId};
use crate::repo::Repository;
use crate::solver::{report, Change, Changeset};
use apk_format::checksum::Checksum;
use apk_format::dep::Dependency;
use apk_format::error::{Error, Result};
use apk_format::package::{EntryHeader, EntryKind};
use apk_format::sign::Keyring;
use apk_format::Package;

use crate::db::protect::ProtectedPaths;
use crate::fs::sandbox as script;

mod fetch;
mod hooks;
mod scripts;
mod stage;

use crate::db::state::{self, Installed};
use crate::fs::rootfs::{self, KnownDirs, RootFs};
use fetch::*;
pub use fetch::{cache_file_name, fetch_package, package_url, FetchError};
pub use hooks::{run_commit_hooks, HookTime};
use stage::*;

/// How to commit.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Trusted keys; `None` with `--allow-untrusted`.
    pub keys: Option<Keyring>,
    /// `--no-scripts`.
    pub no_scripts: bool,
    /// Restore file owners (as root, unless `--no-chown`).
    pub chown: bool,
    /// The primary architecture (the repository directory packages are fetched from).
    pub arch: String,
    /// The package cache directory, when one is configured.
    pub cache_dir: Option<PathBuf>,
    /// Reads packages from network repositories.
    pub fetcher: crate::repo::fetch::Fetcher,
    /// `--force-overwrite`: take files owned by other packages (with a warning).
    pub force_overwrite: bool,
    /// `--clean-protected`: no `.apk-new` files; a changed protected file stays.
    pub clean_protected: bool,
    /// `--purge`: removals delete changed protected files and `.apk-new` files too.
    pub purge: bool,
    /// How scripts run (`--preserve-env`, `--force-no-chroot`).
    pub scripts: script::ScriptOptions,
    /// Packages given as files (`apk add ./x.apk`), read from there.
    pub local_files: HashMap<PkgId, PathBuf>,
    /// `--usermode` (or a root owned by a user): no owners restored, directories kept
    /// writable for their owner, scripts in a user namespace.
    pub usermode: bool,
    /// `--no-commit-hooks`: the hooks are named as skipped, not run.
    pub skip_commit_hooks: bool,
    /// The uvol manager that takes package files under `uvol/` (volumes), or why
    /// there is none.
    pub uvol: Uvol,
    /// `--overlay-from-stdin`: files of a diskless system's overlay (lbu). A package
    /// installing one takes it over in the database; the overlay's file stays.
    pub overlay: HashSet<String>,
}

/// Where the volumes of packages (`uvol/NAME` entries) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uvol {
    /// The uvol manager program, run on the host.
    Manager(PathBuf),
    /// None, and apk-tools' words for why (`uvol not supported with --root`).
    Unavailable(String),
}

impl Default for Uvol {
    fn default() -> Self {
        Uvol::Unavailable("uvol manager not available".into())
    }
}

/// Whether a package path is a volume (under `uvol/`).
fn is_uvol(path: &str) -> bool {
    path == "uvol" || path.starts_with("uvol/")
}

/// What a commit reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A change begins: `(1/3) Installing name (1.0-r0)`.
    Change(String),
    /// The change last begun is done.
    Applied,
    /// Every change is done; the triggers and the database are next.
    ChangesDone,
    /// A script is about to run: `name-1.0-r0.post-install`; `nested` within a
    /// package's change (apk indents those).
    Executing {
        name: String,
        nested: bool,
    },
    /// A line a running script printed (without apk's `* ` prefix).
    ScriptOutput {
        line: String,
        stderr: bool,
        nested: bool,
    },
    /// A counted error, without the `ERROR: ` prefix.
    Error(String),
    /// A line of information (`  Installing file to etc/x.apk-new`).
    Note(String),
    /// A commit hook starts: its path in the root and the action (`pre-commit`).
    Hook {
        path: String,
        action: &'static str,
    },
    /// A line a commit hook printed; `header` (`Executing pre-commit NAME`) goes before
    /// the first line of the hook's output, unless the hook's start was shown.
    HookOutput {
        header: Option<String>,
        line: String,
        stderr: bool,
    },
    Warning(String),
    /// A line another program printed, shown as it is on the same stream.
    Output {
        line: String,
        stderr: bool,
    },
    /// A line for `-vv`: each entry as it is written (`usr/ (dir)`, `usr/bin/x`) or
    /// removed (`usr/bin/x`, `(not removing)` where a new version keeps it).
    Trace(String),
}

/// Applies `cs` to the root and writes `world`; returns the number of errors (packages
/// or scripts that failed). `Err` only when the database itself cannot be read or
/// written.
pub fn commit(
    root: &Path,
    pool: &Pool,
    cs: &Changeset,
    world: &[Dependency],
    opts: &Options,
    on: &mut dyn FnMut(Event),
) -> Result<u32> {
    let state = Installed::load(root)?;
    // Packages are fetched, verified and unpacked on a second thread, their contents
    // handed over in pieces (see `fetch`).
    let wanted: Vec<FetchJob> = cs
        .changes
        .iter()
        .filter(|c| needs_file(pool, c))
        .filter_map(|c| c.new)
        .map(|id| FetchJob::new(pool, id, opts))
        .collect();
    std::thread::scope(|scope| {
        let (tx, rx) = fetch::pipeline();
        scope.spawn(move || read_packages(wanted, opts, tx));
        let mut c = Committer {
            fs: RootFs::new(root),
            known_dirs: KnownDirs::default(),
            pool,
            opts,
            state,
            protect: ProtectedPaths::load(root),
            ids: None,
            changed_dirs: BTreeSet::new(),
            fresh: HashSet::new(),
            errors: 0,
            failed_here: false,
            landed: 0,
            pieces: std::rc::Rc::new(rx),
            on,
        };
        let lines = report::change_lines_by_change(pool, cs);
        for (change, line) in cs.changes.iter().zip(lines) {
            let shown = line.is_some();
            if let Some(line) = line {
                (c.on)(Event::Change(line));
            }
            c.failed_here = false;
            c.apply(change);
            // As apk-tools counts: one error per change that failed or left its
            // package broken, however many things went wrong in it.
            if c.failed_here {
                c.errors += 1;
            }
            if shown {
                (c.on)(Event::Applied);
            }
        }
        (c.on)(Event::ChangesDone);
        c.run_triggers();
        crash_point("before-db");
        c.write_database(world)?;
        Ok(c.errors)
    })
}

/// Writes the database files of an empty root (`--initdb`).
pub fn init_database(root: &Path, arch: Option<&str>) -> Result<()> {
    // What apk-tools creates: the database and configuration directories only.
    let dirs: [(&str, u32); 2] = [("etc/apk", 0o755), ("lib/apk/db", 0o755)];
    for (d, mode) in dirs {
        let p = root.join(d);
        if !p.is_dir() {
            fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(&p, e))?;
        }
    }
    for f in [state::INSTALLED, state::TRIGGERS, "etc/apk/world"] {
        let p = root.join(f);
        if !p.exists() {
            crate::fs::atomic::write_atomically(&p, b"")?;
        }
    }
    let arch = arch.unwrap_or(crate::db::installed::native_arch());
    crate::fs::atomic::write_atomically(
        &root.join("etc/apk/arch"),
        format!("{arch}\n").as_bytes(),
    )?;
    Ok(())
}

/// Fault injection for the crash-safety tests, compiled only with the
/// `fault-injection` feature (which the test suites enable, never a release build):
/// when `APK_RS_CRASH_AT` names `point`, the process aborts there, as abruptly as a
/// SIGKILL. Points: `package:N` (after the N-th package landed), `before-db` (all files
/// in place, database not written), `mid-db` (scripts and triggers written, `installed`
/// not).
#[cfg(feature = "fault-injection")]
fn crash_point(point: &str) {
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("APK_RS_CRASH_AT").ok());
    if wanted.as_deref() == Some(point) {
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn crash_point(_point: &str) {}

struct Committer<'a> {
    fs: RootFs,
    /// Folders of the root resolved (and made) so far; see [`KnownDirs`].
    known_dirs: KnownDirs,
    pool: &'a Pool,
    opts: &'a Options,
    state: Installed,
    protect: ProtectedPaths,
    /// User and group names of the root, read when first needed.
    ids: Option<IdMap>,
    /// Directories whose contents changed (for triggers), relative to the root.
    changed_dirs: BTreeSet<String>,
    /// Packages installed by this commit: their triggers see every matching directory.
    fresh: HashSet<String>,
    errors: u32,
    /// An error was reported since the current change (or trigger) began.
    failed_here: bool,
    /// Packages installed so far.
    landed: u32,
    /// The packages read, in the order of the changes that install them.
    pieces: std::rc::Rc<fetch::Pipe>,
    on: &'a mut dyn FnMut(Event),
}

impl Committer<'_> {
    fn error(&mut self, msg: String) {
        self.failed_here = true;
        (self.on)(Event::Error(msg));
    }

    fn apply(&mut self, change: &Change) {
        match (change.old, change.new) {
            (Some(o), Some(n)) if o == n && !change.reinstall => {
                let name = self.pool.name(self.pool.pkg(n).name).to_owned();
                let tag = (change.new_tag != crate::pool::TagId::DEFAULT)
                    .then(|| self.pool.tags[change.new_tag.index()].name.clone());
                self.state.set_tag(&name, tag.as_deref());
            }
            (Some(o), Some(n)) if o == n && !self.pool.pkg_obtainable(n) => {}
            (old, Some(n)) => {
                if let Err(msg) = self.install(old, n, change.new_tag) {
                    self.error(format!("{}: {msg}", self.pool.nv(n)));
                }
            }
            (Some(o), None) => self.remove(o),
            (None, None) => {}
        }
    }

    fn tag_name(&self, tag: crate::pool::TagId) -> Option<String> {
        (tag != crate::pool::TagId::DEFAULT).then(|| self.pool.tags[tag.index()].name.clone())
    }

    fn install(
        &mut self,
        old: Option<PkgId>,
        new: PkgId,
        tag: crate::pool::TagId,
    ) -> std::result::Result<(), String> {
        let pool = self.pool;
        let pkg = pool.pkg(new);
        let name = pool.name(pkg.name).to_owned();
        let nv = pool.nv(new);
        let mut info = pool.info(new).clone();
        // The tag and any broken marks are this install's to set afresh.
        info.extra.retain(|(l, _)| *l != b's' && *l != b'f');
        if let Some(t) = self.tag_name(tag) {
            info.extra.push((b's', t));
        }
        let old_version = old.map(|o| pool.version(o).to_string());

        if is_virtual(pool, new) {
            // What an older version installed goes, as when it is purged.
            if let Some(prev) = self.state.get(&name).cloned() {
                for path in prev.file_paths() {
                    if self.state.owner(&path).is_some_and(|o| o.info.name == name) {
                        self.remove_file(&path);
                    }
                }
            }
            if let Some(prev) = self.state.remove(&name) {
                self.remove_unused_dirs(&prev);
            }
            self.state.insert(InstalledPackage {
                info,
                dirs: Vec::new(),
            });
            return Ok(());
        }

        let package = match self.pieces.recv() {
            Ok(Piece::Head(id, result)) if id == new => result?,
            _ => return Err("internal error: packages read out of order".into()),
        };
        let package = &package;
        let scripts: Vec<(String, Vec<u8>)> = package
            .scripts()
            .map(|(n, d)| (n.trim_start_matches('.').to_owned(), d.to_vec()))
            .collect();
        let (pre, post) = if old.is_some() {
            ("pre-upgrade", "post-upgrade")
        } else {
            ("pre-install", "post-install")
        };
        let mut args = vec![pool.pkg_version(pkg).to_string()];
        args.extend(old_version.clone());
        let pre_ok = self.run_script(&name, &nv, &scripts, pre, &args, true);

        let previous = self.state.get(&name).cloned();
        let (stage, for_cache) = self.stage(package, &nv, previous.as_ref())?;
        for (tmp, dest) in &stage.moves {
            if let Err(e) = fs::rename(tmp, dest) {
                stage.discard();
                self.known_dirs.forget();
                return Err(format!("{}: {e}", dest.display()));
            }
        }
        if stage.links_changed {
            self.known_dirs.forget();
        }
        for volume in &stage.volumes {
            let _ = self.run_uvol("up", &[volume], None);
        }

        // Files the new version dropped, unless another package took them over.
        if let Some(prev) = &previous {
            // A dropped path that is now one of the new files under another name (its
            // folder moved behind a symlink, as in a /usr merge) stays: apk-tools
            // compares device and inode.
            let rootfs = &self.fs;
            let file_id = |path: &str| {
                use std::os::unix::fs::MetadataExt;
                let host = rootfs.entry_path(path).ok()?;
                let m = fs::symlink_metadata(host).ok()?;
                Some((m.dev(), m.ino()))
            };
            let new_ids: std::collections::HashSet<(u64, u64)> =
                stage.paths.iter().filter_map(|p| file_id(p)).collect();
            let dropped: Vec<(String, bool)> = prev
                .file_paths()
                .map(|path| {
                    let kept = stage.paths.contains(&path)
                        || file_id(&path).is_some_and(|id| new_ids.contains(&id));
                    (path, kept)
                })
                .collect();
            for (path, kept) in dropped {
                let note = if kept { " (not removing)" } else { "" };
                (self.on)(Event::Trace(format!("{path}{note}")));
                let still_ours = self.state.owner(&path).is_some_and(|o| o.info.name == name);
                if still_ours && !kept {
                    self.remove_file(&path);
                }
            }
        }
        for path in &stage.takeovers {
            self.state.disown(path);
        }
        let removed = self.state.remove(&name);
        let broken_files = stage.broken_files;
        let mut record = stage.record;
        // The index leaves out what only the installed database keeps: replaces.
        record.info = info;
        // The identity the package is known by (an index's), else the file's own.
        record.info.checksum = pool.checksum(new).or(package.info().checksum);
        record.info.replaces = package.info().replaces.clone();
        record.info.replaces_priority = package.info().replaces_priority;
        // As apk-tools marks them for triggers: every folder the package lists (and
        // the version it replaces listed) has changed, files written there or not.
        self.changed_dirs
            .extend(record.dirs.iter().map(|d| d.path.clone()));
        if let Some(prev) = &removed {
            self.changed_dirs
                .extend(prev.dirs.iter().map(|d| d.path.clone()));
        }
        self.state.insert(record);
        if let Some(prev) = removed {
            self.remove_unused_dirs(&prev);
        }
        if stage.touches_ids {
            self.ids = None;
        }
        self.state.scripts.insert(name.clone(), scripts.clone());
        let triggers = package.triggers();
        if triggers.is_empty() {
            self.state.triggers.remove(&name);
        } else {
            self.state.triggers.insert(name.clone(), triggers);
        }
        if let Some(bytes) = for_cache {
            self.keep_in_cache(new, &bytes);
        }
        self.landed += 1;
        crash_point(&format!("package:{}", self.landed));
        self.fresh.insert(name.clone());
        let post_ok = self.run_script(&name, &nv, &scripts, post, &args, true);
        if !(pre_ok && post_ok) {
            self.state.mark_broken(&name, 's');
        }
        if broken_files {
            self.state.mark_broken(&name, 'f');
        }
        // A v3 package's file digests are SHA-256 cut to 160 bits (`f:S`).
        if package.format() == apk_format::package::Format::V3 {
            self.state.mark_broken(&name, 'S');
        }
        Ok(())
    }

    fn remove(&mut self, old: PkgId) {
        let pool = self.pool;
        let name = pool.name(pool.pkg(old).name).to_owned();
        let nv = pool.nv(old);
        let Some(prev) = self.state.get(&name).cloned() else {
            return;
        };
        let scripts = self.state.scripts.get(&name).cloned().unwrap_or_default();
        let args = vec![prev.info.version.clone()];
        self.run_script(&name, &nv, &scripts, "pre-deinstall", &args, true);
        for path in prev.file_paths() {
            (self.on)(Event::Trace(path.clone()));
            self.remove_file(&path);
        }
        self.changed_dirs
            .extend(prev.dirs.iter().map(|d| d.path.clone()));
        self.state.remove(&name);
        self.remove_unused_dirs(&prev);
        self.run_script(&name, &nv, &scripts, "post-deinstall", &args, true);
        self.state.scripts.remove(&name);
        self.state.triggers.remove(&name);
    }

    /// Runs the uvol manager: `uvol ACTION ARGS...` (with `input` on its standard
    /// input), its output shown as `uvol(ACTION): line`.
    fn run_uvol(
        &mut self,
        action: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> std::result::Result<(), String> {
        let Uvol::Manager(manager) = &self.opts.uvol else {
            return Err("uvol manager not available".into());
        };
        let label = format!("uvol({action})");
        let child = std::process::Command::new(manager)
            .arg(action)
            .args(args)
            .stdin(if input.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                (self.on)(Event::Error(format!("{label}: uvol run exec error: {e}")));
                return Err("uvol error".into());
            }
        };
        let feeder = match (child.stdin.take(), input) {
            (Some(mut w), Some(data)) => {
                let data = data.to_vec();
                Some(std::thread::spawn(move || {
                    let _ = w.write_all(&data);
                }))
            }
            _ => None,
        };
        let output = child.wait_with_output();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let output = output.map_err(|e| format!("{label}: {e}"))?;
        for (bytes, stderr) in [(&output.stdout, false), (&output.stderr, true)] {
            for line in String::from_utf8_lossy(bytes).lines() {
                (self.on)(Event::Output {
                    line: format!("{label}: {line}"),
                    stderr,
                });
            }
        }
        if output.status.success() {
            Ok(())
        } else {
            let code = output.status.code().unwrap_or(1);
            (self.on)(Event::Error(format!("{label}: exited with error {code}")));
            Err("uvol error".into())
        }
    }

    /// Hands a volume to the uvol manager: `create NAME SIZE ro`, then `write NAME
    /// SIZE` with the contents; a failure removes what was created.
    fn write_volume(&mut self, name: &str, data: &[u8]) -> std::result::Result<(), String> {
        if let Uvol::Unavailable(why) = &self.opts.uvol {
            return Err(why.clone());
        }
        let size = data.len().to_string();
        let result = self
            .run_uvol("create", &[name, &size, "ro"], None)
            .and_then(|()| self.run_uvol("write", &[name, &size], Some(data)));
        if result.is_err() {
            let _ = self.run_uvol("remove", &[name], None);
        }
        result
    }

    /// Removes an installed file, unless it is protected and was changed by the user.
    fn remove_file(&mut self, path: &str) {
        if is_uvol(path) {
            // A volume is taken down and removed by the uvol manager.
            let name = file_name(path).to_owned();
            if matches!(self.opts.uvol, Uvol::Manager(_))
                && self.run_uvol("down", &[&name], None).is_ok()
            {
                let _ = self.run_uvol("remove", &[&name], None);
            }
            return;
        }
        let Ok(host) = self.fs.entry_path(path) else {
            return;
        };
        let protected = self.protect.of(path).keeps_changes();
        if protected {
            // The package's `.apk-new` goes with it.
            let apk_new = host.with_file_name(format!("{}.apk-new", file_name(path)));
            let _ = fs::remove_file(apk_new);
        }
        if !self.opts.purge && self.user_modified(path, &host).is_some() {
            return;
        }
        match fs::remove_file(&host) {
            Ok(()) => {
                // (It may have been a symlink to a folder.)
                self.known_dirs.forget();
                self.changed_dirs.insert(parent_of(path).to_owned());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => (self.on)(Event::Warning(format!("{}: {e}", host.display()))),
        }
    }

    /// A protected file that differs from what the database recorded (or that no
    /// package recorded) is the user's.
    /// Returns what is there now (its checksum) when so.
    fn user_modified(&self, path: &str, host: &Path) -> Option<String> {
        if !self.protect.of(path).keeps_changes() {
            return None;
        }
        let current = rootfs::current_checksum(host)?;
        let recorded = self.state.recorded_checksum(path);
        let unchanged = recorded.is_some_and(|r| rootfs::matches_recorded(host, r));
        (!unchanged).then_some(current)
    }

    /// Removes the directories of `prev` no installed package lists any more, deepest
    /// first, when they are empty.
    fn remove_unused_dirs(&mut self, prev: &InstalledPackage) {
        let mut dirs: Vec<&str> = prev
            .dirs
            .iter()
            .map(|d| d.path.as_str())
            .filter(|d| !d.is_empty() && self.state.dir_refs(d) == 0)
            .collect();
        dirs.sort_by(|a, b| b.cmp(a));
        for d in dirs {
            if let Ok(host) = self.fs.resolve_dir(d) {
                if fs::symlink_metadata(self.fs.entry_path(d).unwrap_or_default())
                    .is_ok_and(|m| m.is_dir())
                    && fs::remove_dir(&host).is_ok()
                {
                    self.known_dirs.forget();
                    self.changed_dirs.insert(parent_of(d).to_owned());
                }
            }
        }
    }

    fn cache_file(&self, id: PkgId) -> Option<PathBuf> {
        let dir = self.opts.cache_dir.as_ref()?;
        Some(dir.join(cache_file_name(self.pool, id)?))
    }

    /// A downloaded package goes into the cache once it verified.
    fn keep_in_cache(&mut self, id: PkgId, bytes: &[u8]) {
        if let Some(path) = self.cache_file(id) {
            if let Err(e) = crate::fs::atomic::write_atomically(&path, bytes) {
                (self.on)(Event::Warning(format!(
                    "caching {}: {}",
                    path.display(),
                    e.reason()
                )));
            }
        }
    }

    fn write_database(&mut self, world: &[Dependency]) -> Result<()> {
        let root = self.fs.path().to_path_buf();
        let dbdir = root.join("lib/apk/db");
        fs::create_dir_all(&dbdir).map_err(|e| Error::io(&dbdir, e))?;
        crate::fs::atomic::write_atomically(
            &root.join(self.state.scripts_path()),
            &self.state.scripts_file()?,
        )?;
        crate::fs::atomic::write_atomically(
            &root.join(state::TRIGGERS),
            self.state.triggers_text().as_bytes(),
        )?;
        crash_point("mid-db");
        crate::fs::atomic::write_atomically_with(&root.join(state::INSTALLED), |w| {
            self.state
                .write_installed(|part| w.write_all(part.as_bytes()))
        })?;
        let etc_apk = root.join("etc/apk");
        fs::create_dir_all(&etc_apk).map_err(|e| Error::io(&etc_apk, e))?;
        crate::fs::atomic::write_atomically(
            &root.join("etc/apk/world"),
            crate::db::installed::write_world(world).as_bytes(),
        )
    }
}
