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
//! moves. Protected paths ([`protect`]) changed by the user are kept, the new version
//! written beside them as `.apk-new`.

pub mod script;

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
use crate::db::state::{self, Installed};
use crate::fs::rootfs::{self, RootFs};

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
    // Packages are fetched, verified and unpacked into memory on a second thread, a
    // couple ahead of the one being written.
    let wanted: Vec<FetchJob> = cs
        .changes
        .iter()
        .filter(|c| needs_file(pool, c))
        .filter_map(|c| c.new)
        .map(|id| FetchJob::new(pool, id, opts))
        .collect();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        scope.spawn(move || {
            for job in wanted {
                if tx.send((job.id, prepare(&job, opts))).is_err() {
                    break;
                }
            }
        });
        let mut c = Committer {
            fs: RootFs::new(root),
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
            prepared: rx,
            on,
        };
        let lines = report::change_lines_by_change(pool, cs);
        for (change, line) in cs.changes.iter().zip(lines) {
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
        }
        c.run_triggers();
        crash_point("before-db");
        c.write_database(world)?;
        Ok(c.errors)
    })
}

/// When a commit hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookTime {
    PreCommit,
    PostCommit,
}

impl HookTime {
    pub fn action(self) -> &'static str {
        match self {
            HookTime::PreCommit => "pre-commit",
            HookTime::PostCommit => "post-commit",
        }
    }
}

/// Runs the commit hooks (`etc/apk/commit_hooks.d/*`, then the system's in `lib`) with
/// `pre-commit` or `post-commit`, as apk-tools runs them around a commit: in the root
/// as scripts run, each one's output shown under its name. Returns false when a
/// pre-commit hook failed: the commit must not go on.
pub fn run_commit_hooks(
    root: &Path,
    time: HookTime,
    opts: &Options,
    on: &mut dyn FnMut(Event),
) -> bool {
    if opts.no_scripts {
        return true;
    }
    let action = time.action();
    for rel in crate::fs::confdir::commit_hooks(root) {
        let path = rel.display().to_string();
        if opts.skip_commit_hooks {
            on(Event::Note(format!("Skipping: {path} {action}")));
            continue;
        }
        let file = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        on(Event::Hook {
            path: path.clone(),
            action,
        });
        let mut header = Some(format!("Executing {action} {file}"));
        let outcome = script::run_program(
            &opts.scripts,
            root,
            &format!("/{path}"),
            None,
            action,
            &[action],
            &mut |l| {
                on(Event::HookOutput {
                    header: header.take(),
                    line: l.text,
                    stderr: l.stderr,
                })
            },
        );
        let failure = match outcome {
            script::Outcome::Ok => None,
            script::Outcome::Failed(code) => Some(format!("{path}: exited with error {code}")),
            script::Outcome::Killed(sig) => Some(format!("{path}: killed by signal {sig}")),
            script::Outcome::NotRun(why) => Some(format!("{path}: failed to execute: {why}")),
        };
        if let Some(f) = failure {
            on(Event::Error(f));
            // A failed pre-commit hook stops the commit, and the hooks after it.
            if time == HookTime::PreCommit {
                return false;
            }
        }
    }
    true
}

/// How many packages may be read ahead of the one being written.
const READ_AHEAD: usize = 2;
/// Packages installing more than this are not unpacked into memory ahead of time but
/// streamed while written.
const READ_AHEAD_LIMIT: u64 = 64 << 20;

/// A virtual package (`add -t`) has no file: only its record lands.
fn is_virtual(pool: &Pool, id: PkgId) -> bool {
    let pkg = pool.pkg(id);
    pool.checksum(id).is_none() && pkg.repos == RepoId::CACHED.bit()
}

/// True for the changes that install a package file.
fn needs_file(pool: &Pool, c: &Change) -> bool {
    match (c.old, c.new) {
        (Some(o), Some(n)) if o == n && !c.reinstall => false,
        // "[APK unavailable, skipped] Reinstalling": nothing to read it from.
        (Some(o), Some(n)) if o == n && !pool.pkg_available(n) => false,
        (_, Some(n)) => !is_virtual(pool, n),
        _ => false,
    }
}

/// A package read and checked ahead of being written.
struct Prepared {
    bytes: Vec<u8>,
    downloaded: bool,
    package: Package,
    /// Every entry with its contents, all verified (paths, checksums, `datahash`);
    /// `None` for a big package, streamed (and verified) while written.
    entries: Option<Vec<(EntryHeader, Vec<u8>)>>,
}

/// Fetches a package, checks its signature and that it is the one the index
/// describes, and unpacks it into memory unless it is big.
fn prepare(job: &FetchJob, opts: &Options) -> std::result::Result<Prepared, String> {
    let nv = &job.nv;
    let (bytes, downloaded) = job.fetch(&opts.fetcher).map_err(|e| e.to_string())?;
    let package = Package::parse(&bytes, nv).map_err(|e| e.reason())?;
    if let Some(keys) = &opts.keys {
        package
            .verify_signature(&bytes, keys, nv)
            .map_err(|e| e.reason())?;
    }
    if let (Some(want), Some(got)) = (job.checksum, package.info().checksum) {
        if want != got {
            return Err("package file does not match the index (checksum differs)".into());
        }
    }
    let small = package
        .info()
        .installed_size
        .is_some_and(|n| n <= READ_AHEAD_LIMIT);
    let entries = if small {
        let mut list = Vec::new();
        package
            .walk_data(&bytes, nv, |h, data| {
                list.push((h.clone(), data.to_vec()));
                Ok(())
            })
            .map_err(|e| e.reason())?;
        Some(list)
    } else {
        None
    };
    Ok(Prepared {
        bytes,
        downloaded,
        package,
        entries,
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

/// A package's file name in the cache: `name-version.<hash>.apk`, the hash from its
/// identity; `None` for packages without one.
pub fn cache_file_name(pool: &Pool, id: PkgId) -> Option<String> {
    let pkg = pool.pkg(id);
    let hex = apk_format::checksum::encode_hex(&pool.checksum(id)?.bytes()[..4]);
    Some(format!(
        "{}-{}.{hex}.apk",
        pool.name(pkg.name),
        pool.pkg_version(pkg)
    ))
}

/// Where a package file can be read from, worked out from the pool (which stays on
/// the thread that owns it) for the thread that reads ahead.
struct FetchJob {
    id: PkgId,
    nv: String,
    checksum: Option<Checksum>,
    cache_file: Option<PathBuf>,
    urls: Vec<String>,
}

impl FetchJob {
    fn new(pool: &Pool, id: PkgId, opts: &Options) -> FetchJob {
        let pkg = pool.pkg(id);
        let name = pool.name(pkg.name);
        let urls = pool
            .repos
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| {
                *i < 64 && pkg.repos & (1 << i) != 0 && pool.available_repos & (1 << i) != 0
            })
            .map(|(_, repo)| {
                Repository::from_url(&repo.url, None).package_url(
                    &opts.arch,
                    name,
                    pool.pkg_version(pkg),
                )
            })
            .collect();
        let urls = match opts.local_files.get(&id) {
            Some(path) => vec![path.to_string_lossy().into_owned()],
            None => urls,
        };
        FetchJob {
            id,
            nv: pool.nv(id),
            checksum: pool.checksum(id),
            cache_file: opts
                .cache_dir
                .as_ref()
                .and_then(|d| Some(d.join(cache_file_name(pool, id)?))),
            urls,
        }
    }

    /// Reads the file: from the cache, else from the first repository that has it.
    /// The flag tells whether it came over the network.
    fn fetch(
        &self,
        fetcher: &crate::repo::fetch::Fetcher,
    ) -> std::result::Result<(Vec<u8>, bool), FetchError> {
        if let Some(b) = self.cache_file.as_ref().and_then(|c| fs::read(c).ok()) {
            return Ok((b, false));
        }
        let mut last_err = FetchError::NoRepository;
        for url in &self.urls {
            match fetcher.get(url, crate::repo::fetch::PACKAGE_LIMIT) {
                Ok(b) => return Ok((b, crate::repo::fetch::is_network(url))),
                Err(e) => last_err = FetchError::Failed(e),
            }
        }
        Err(last_err)
    }
}

/// Why a package file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no repository has this package")]
    NoRepository,
    /// The last repository tried failed so.
    #[error("{0}")]
    Failed(Error),
}

/// Reads a package file: from the cache, else from the first usable repository that
/// has it. The flag tells whether it came over the network.
pub fn fetch_package(
    pool: &Pool,
    id: PkgId,
    opts: &Options,
) -> std::result::Result<(Vec<u8>, bool), FetchError> {
    FetchJob::new(pool, id, opts).fetch(&opts.fetcher)
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
    /// Packages read ahead, in the order of the changes that install them.
    prepared: std::sync::mpsc::Receiver<(PkgId, std::result::Result<Prepared, String>)>,
    on: &'a mut dyn FnMut(Event),
}

/// A package being written: its database record so far and its files under
/// temporary names.
#[derive(Default)]
struct Stage {
    /// `name-version` of the package, for messages.
    nv: String,
    /// A file could not be installed (`f:f` in the database).
    broken_files: bool,
    record: InstalledPackage,
    dir_index: HashMap<String, usize>,
    /// (temporary file, final destination).
    moves: Vec<(PathBuf, PathBuf)>,
    /// Directories this package created, to be removed again if it fails.
    created_dirs: Vec<PathBuf>,
    /// Paths taken over from other packages (`replaces`).
    takeovers: Vec<String>,
    paths: HashSet<String>,
    /// Path → (temporary file, checksum), for hard links to earlier files.
    written: HashMap<String, (PathBuf, String)>,
    touches_ids: bool,
    /// Resolved parent directories, by relative path. Valid for one package: its own
    /// symlinks are only renamed into place after it is staged.
    parents: HashMap<String, PathBuf>,
    /// Volumes written to the uvol manager, to be brought up once the package landed.
    volumes: Vec<String>,
}

impl Stage {
    fn parent_dir(&mut self, fs: &RootFs, path: &str) -> std::result::Result<PathBuf, String> {
        let rel = parent_of(path);
        if let Some(p) = self.parents.get(rel) {
            return Ok(p.clone());
        }
        let resolved = fs.make_parents(path).map_err(|e| e.to_string())?;
        self.parents.insert(rel.to_owned(), resolved.clone());
        Ok(resolved)
    }

    fn dir(&mut self, path: &str) -> &mut InstalledDir {
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
    fn discard(&self) {
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
fn retry_stale<T>(tmp: &Path, mut op: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    match op() {
        Ok(v) => Ok(v),
        Err(_) if fs::symlink_metadata(tmp).is_ok() => {
            fs::remove_file(tmp)?;
            op()
        }
        Err(e) => Err(e),
    }
}

/// The `Z:` checksum of an entry: the archive's own SHA-1 (already checked against the
/// contents while reading), else computed.
fn entry_checksum(h: &EntryHeader, content: &[u8]) -> String {
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
fn unless_default(acl: Acl, default_mode: u32) -> Option<Acl> {
    let default = Acl {
        uid: 0,
        gid: 0,
        mode: default_mode,
    };
    (acl != default).then_some(acl)
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, n)| n)
}

fn q1(digest: impl AsRef<[u8]>) -> String {
    let mut b = [0u8; 20];
    b.copy_from_slice(digest.as_ref());
    Checksum::Sha1(b).to_string()
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
            (Some(o), Some(n)) if o == n && !self.pool.pkg_available(n) => {}
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
            self.state.remove(&name);
            self.state.insert(InstalledPackage {
                info,
                dirs: Vec::new(),
            });
            return Ok(());
        }

        let prepared = match self.prepared.recv() {
            Ok((id, result)) if id == new => result?,
            _ => return Err("internal error: packages read out of order".into()),
        };
        let package = &prepared.package;
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
        let stage = self.stage(&prepared, &nv, previous.as_ref())?;
        for (tmp, dest) in &stage.moves {
            if let Err(e) = fs::rename(tmp, dest) {
                stage.discard();
                return Err(format!("{}: {e}", dest.display()));
            }
        }
        for volume in &stage.volumes {
            let _ = self.run_uvol("up", &[volume], None);
        }

        // Files the new version dropped, unless another package took them over.
        if let Some(prev) = &previous {
            for path in prev.file_paths() {
                let kept = stage.paths.contains(&path);
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
        record.info.checksum = package.info().checksum;
        record.info.replaces = package.info().replaces.clone();
        record.info.replaces_priority = package.info().replaces_priority;
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
        if prepared.downloaded {
            self.keep_in_cache(new, &prepared.bytes);
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
        (self.state.recorded_checksum(path) != Some(current.as_str())).then_some(current)
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

    /// The temporary name an entry is written under before it is renamed over `dest`:
    /// derived from the destination, so that a run after a crash reuses (and so
    /// cleans up) what the crashed run left, instead of piling up new names.
    fn temp_for(dest: &Path) -> PathBuf {
        let digest = Sha1::digest(dest.as_os_str().as_encoded_bytes());
        let name = format!(".apk.{}", apk_format::checksum::encode_hex(&digest[..8]));
        dest.with_file_name(name)
    }

    /// Writes every entry of the package under a temporary name; nothing is renamed
    /// into place here.
    fn stage(
        &mut self,
        prepared: &Prepared,
        what: &str,
        previous: Option<&InstalledPackage>,
    ) -> std::result::Result<Stage, String> {
        let mut stage = Stage {
            nv: what.to_owned(),
            ..Stage::default()
        };
        let package = &prepared.package;
        let origin = &package.info().origin;
        let replaces = &package.info().replaces;
        let result = match &prepared.entries {
            Some(entries) => entries.iter().try_for_each(|(h, data)| {
                self.stage_entry(&mut stage, h, data, origin, replaces, previous)
                    .map_err(|m| Error::format(what, m))
            }),
            None => package
                .walk_data(&prepared.bytes, what, |h, data| {
                    self.stage_entry(&mut stage, h, data, origin, replaces, previous)
                        .map_err(|m| Error::format(what, m))
                })
                .map(|_| ()),
        };
        if let Err(e) = result {
            stage.discard();
            return Err(e.reason());
        }
        Ok(stage)
    }

    #[allow(clippy::too_many_arguments)]
    fn stage_entry(
        &mut self,
        stage: &mut Stage,
        h: &EntryHeader,
        data: &[u8],
        origin: &Option<String>,
        replaces: &[Dependency],
        previous: Option<&InstalledPackage>,
    ) -> std::result::Result<(), String> {
        let path = h.path.as_str();
        let acl = self.acl(h);
        if h.kind == EntryKind::Dir {
            (self.on)(Event::Trace(format!("{path}/ (dir)")));
            if is_uvol(path) {
                // The uvol manager keeps volumes; no folder is made for them.
                stage.dir(path).acl = unless_default(acl, 0o755);
                return Ok(());
            }
            return self.stage_dir(stage, path, h, acl);
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
                        .and_then(|d| d.files.iter().find(|f| f.name == file_name(path)))
                        .and_then(|f| f.checksum.clone())
                }
                Ok(()) => {
                    stage.volumes.push(volume);
                    Some(entry_checksum(h, data))
                }
            };
            stage.paths.insert(path.to_owned());
            stage.dir(parent_of(path)).files.push(InstalledFile {
                name: file_name(path).to_owned(),
                acl: unless_default(acl, 0o644),
                checksum,
            });
            return Ok(());
        }
        if let Some(owner) = self.state.owner(path) {
            let oname = &owner.info.name;
            if previous.is_none_or(|p| &p.info.name != oname) {
                let replaced = replaces.iter().any(|r| &r.name == oname);
                let same_origin = origin.is_some() && *origin == owner.info.origin;
                if !replaced && !same_origin {
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
            stage.dir(parent_of(path)).files.push(InstalledFile {
                name: file_name(path).to_owned(),
                acl: unless_default(acl, 0o644),
                checksum: Some(checksum),
            });
            return Ok(());
        }
        if path == "etc/passwd" || path == "etc/group" {
            stage.touches_ids = true;
        }
        let parent = stage.parent_dir(&self.fs, path)?;
        let dest = parent.join(file_name(path));
        if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            return Err(format!("{path}: a directory is in the way"));
        }
        if stage.paths.contains(path) {
            return Err(format!("{path}: duplicate entry in the package"));
        }
        let tmp = Self::temp_for(&dest);
        let io = |e: std::io::Error| format!("{path}: {e}");
        let checksum = match h.kind {
            EntryKind::File => {
                let mut f = retry_stale(&tmp, || {
                    fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                        .open(&tmp)
                })
                .map_err(io)?;
                stage.moves.push((tmp.clone(), dest.clone()));
                f.write_all(data).map_err(io)?;
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(h.mtime))
                    .map_err(io)?;
                if self.opts.chown {
                    std::os::unix::fs::fchown(&f, Some(acl.uid), Some(acl.gid)).map_err(io)?;
                }
                // After the owner: chown clears setuid bits.
                f.set_permissions(fs::Permissions::from_mode(self.applied_mode(acl)))
                    .map_err(io)?;
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
        match self.user_modified(path, &dest) {
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
        stage.dir(parent_of(path)).files.push(InstalledFile {
            name: file_name(path).to_owned(),
            acl: unless_default(acl, 0o644),
            checksum: Some(checksum),
        });
        Ok(())
    }

    fn stage_dir(
        &mut self,
        stage: &mut Stage,
        path: &str,
        h: &EntryHeader,
        acl: Acl,
    ) -> std::result::Result<(), String> {
        let parent = self.fs.make_parents(path).map_err(|e| e.to_string())?;
        let host = parent.join(file_name(path));
        match fs::symlink_metadata(&host) {
            // An existing directory, or a symlink to one (`lib -> usr/lib`), stays as is.
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                let resolved = self.fs.resolve_dir(path).map_err(|e| e.to_string())?;
                if !resolved.is_dir() {
                    fs::create_dir_all(&resolved).map_err(|e| format!("{path}: {e}"))?;
                }
            }
            Ok(_) => return Err(format!("{path}: exists and is not a directory")),
            Err(_) => {
                fs::create_dir(&host).map_err(|e| format!("{path}: {e}"))?;
                stage.created_dirs.push(host.clone());
                self.set_owner(&host, acl)
                    .map_err(|e| format!("{path}: {e}"))?;
                // In usermode a directory stays writable and searchable for its owner,
                // as apk-tools has it.
                let mode = if self.opts.usermode {
                    self.applied_mode(acl) | 0o300
                } else {
                    self.applied_mode(acl)
                };
                fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("{path}: {e}"))?;
                let t = SystemTime::UNIX_EPOCH + Duration::from_secs(h.mtime);
                let _ = fs::File::open(&host).and_then(|f| f.set_modified(t));
                self.changed_dirs.insert(parent_of(path).to_owned());
            }
        }
        stage.dir(path).acl = unless_default(acl, 0o755);
        Ok(())
    }

    /// Owner and mode an entry gets: names mapped through the root's `etc/passwd` and
    /// `etc/group` when restoring owners, numeric ids otherwise; setuid/setgid bits
    /// only together with the owner.
    fn acl(&mut self, h: &EntryHeader) -> Acl {
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
        }
    }

    /// The mode put on disk: setuid and setgid only with the owner they were meant for
    /// (so not when owners are not restored).
    fn applied_mode(&self, acl: Acl) -> u32 {
        if self.opts.chown {
            acl.mode
        } else {
            acl.mode & 0o1777
        }
    }

    fn set_owner(&self, path: &Path, acl: Acl) -> std::io::Result<()> {
        if !self.opts.chown {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(acl.uid), Some(acl.gid))
    }

    /// Runs one script of a package (`nested` within a package's change, as apk
    /// indents it; triggers run at the end are not). Returns false when it failed, which
    /// is counted as an error and recorded on the package (`f:s`), as apk-tools does.
    fn run_script(
        &mut self,
        package: &str,
        nv: &str,
        scripts: &[(String, Vec<u8>)],
        action: &str,
        args: &[String],
        nested: bool,
    ) -> bool {
        let Some((_, body)) = scripts.iter().find(|(a, _)| a == action) else {
            return true;
        };
        if self.opts.no_scripts {
            return true;
        }
        let name = format!("{nv}.{action}");
        (self.on)(Event::Executing {
            name: name.clone(),
            nested,
        });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let on = &mut *self.on;
        let mut on_line = |l: script::OutputLine| {
            on(Event::ScriptOutput {
                line: l.text,
                stderr: l.stderr,
                nested,
            })
        };
        let outcome = script::run(
            &self.opts.scripts,
            self.fs.path(),
            &name,
            package,
            action,
            body,
            &args,
            &mut on_line,
        );
        // A script may have added users or groups (adduser in a pre-install): names
        // are looked up afresh, as apk-tools resets its id cache after each script.
        self.ids = None;
        let failure = match outcome {
            script::Outcome::Ok => return true,
            script::Outcome::Failed(code) => format!("{name}: exited with error {code}"),
            script::Outcome::Killed(sig) => format!("{name}: killed by signal {sig}"),
            script::Outcome::NotRun(why) => format!("{name}: failed to execute: {why}"),
        };
        self.error(failure);
        false
    }

    /// Runs the `.trigger` of every installed package whose trigger globs match a
    /// directory changed by this commit (every matching directory for packages this
    /// commit installed), with the matched directories as arguments.
    fn run_triggers(&mut self) {
        if self.opts.no_scripts || self.state.triggers.is_empty() {
            return;
        }
        let all_dirs: BTreeSet<String> = self
            .state
            .packages()
            .flat_map(|p| p.dirs.iter().map(|d| d.path.clone()))
            .collect();
        let mut runs = Vec::new();
        for p in self.state.packages() {
            let Some(globs) = self.state.triggers.get(&p.info.name) else {
                continue;
            };
            let patterns: Vec<glob::Pattern> = globs
                .iter()
                .filter_map(|g| glob::Pattern::new(g).ok())
                .collect();
            let candidates = if self.fresh.contains(&p.info.name) {
                &all_dirs
            } else {
                &self.changed_dirs
            };
            let matched: Vec<String> = candidates
                .iter()
                .map(|d| format!("/{d}"))
                .filter(|d| patterns.iter().any(|pat| pat.matches(d)))
                .collect();
            if !matched.is_empty() {
                runs.push((p.info.nv(), p.info.name.clone(), matched));
            }
        }
        for (nv, name, dirs) in runs {
            let scripts = self.state.scripts.get(&name).cloned().unwrap_or_default();
            if !self.run_script(&name, &nv, &scripts, "trigger", &dirs, false) {
                self.state.mark_broken(&name, 's');
                self.errors += 1;
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
        crate::fs::atomic::write_atomically(
            &root.join(state::INSTALLED),
            self.state.installed_text().as_bytes(),
        )?;
        let etc_apk = root.join("etc/apk");
        fs::create_dir_all(&etc_apk).map_err(|e| Error::io(&etc_apk, e))?;
        crate::fs::atomic::write_atomically(
            &root.join("etc/apk/world"),
            crate::db::installed::write_world(world).as_bytes(),
        )
    }
}

/// User and group ids by name, from the root's `etc/passwd` and `etc/group`.
#[derive(Debug, Default)]
struct IdMap {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

impl IdMap {
    fn load(root: &Path) -> IdMap {
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
