//! Global options and what they resolve to: the root, the keys, the verbosity.

use std::path::{Path, PathBuf};

use apk_format::sign::Keyring;

#[derive(clap::Args, Debug)]
pub struct GlobalOpts {
    /// Manage the file system rooted at ROOT
    #[arg(short = 'p', long, global = true, value_name = "ROOT")]
    pub root: Option<PathBuf>,
    /// Use packages from REPO as well
    #[arg(short = 'X', long = "repository", global = true, value_name = "REPO")]
    pub repository: Vec<String>,
    /// A repositories file line ([@tag] URL, or a `set`/`ndx`/`v2`/`v3` line)
    #[arg(long, global = true, value_name = "LINE")]
    pub repository_config: Vec<String>,
    /// Write progress as `DONE/TOTAL STAGE` lines to file descriptor FD
    #[arg(long, global = true, value_name = "FD", value_parser = atoi_u32, allow_hyphen_values = true)]
    pub progress_fd: Option<u32>,
    /// Read repositories from FILE instead of etc/apk/repositories
    #[arg(long, global = true, value_name = "FILE")]
    pub repositories_file: Option<PathBuf>,
    /// Trusted keys directory (relative to ROOT)
    #[arg(long, global = true, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// Install packages with untrusted signatures or no signature
    #[arg(long, global = true)]
    pub allow_untrusted: bool,
    /// Sign what is written (v3 files) with the private key FILE
    #[arg(long, global = true, value_name = "FILE")]
    pub sign_key: Vec<PathBuf>,
    /// How written ADB files are compressed: none, deflate[:0-9] (the default) or
    /// zstd[:0-22]
    #[arg(long, global = true, value_name = "ALG[:LEVEL]", value_parser = parse_compression)]
    pub compression: Option<apk_format::adb::container::CompressionSpec>,
    /// The package architecture
    #[arg(long, global = true, value_name = "ARCH")]
    pub arch: Vec<String>,
    /// Print less
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Print more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Do not use any local cache
    #[arg(long, global = true, overrides_with = "cache")]
    pub no_cache: bool,
    /// Use the local caches (the default)
    #[arg(long, global = true, overrides_with = "no_cache")]
    pub cache: bool,
    /// Do not use the network
    #[arg(long, global = true, overrides_with = "network")]
    pub no_network: bool,
    /// Use the network (the default)
    #[arg(long, global = true, overrides_with = "no_network")]
    pub network: bool,
    /// Show what would be done without doing it (`-s` for the applets that change the
    /// root)
    #[arg(long, global = true, overrides_with = "no_simulate")]
    pub simulate: bool,
    /// Do it for real (the default)
    #[arg(long, global = true, overrides_with = "simulate")]
    pub no_simulate: bool,
    /// Enable the forces that are safe to combine (overwrite, old apk, non-repository
    /// packages, binary output)
    #[arg(short = 'f', long, global = true)]
    pub force: bool,
    /// Overwrite files owned by other packages (with a warning)
    #[arg(long, global = true)]
    pub force_overwrite: bool,
    /// Continue even if the world cannot be satisfied, dropping what cannot be
    #[arg(long, global = true)]
    pub force_broken_world: bool,
    /// Fetch network indexes and packages even when cached copies exist
    #[arg(long, global = true)]
    pub force_refresh: bool,
    /// Go on with packages that ask for a newer apk (apk-rs checks no such requirement)
    #[arg(long, global = true)]
    pub force_old_apk: bool,
    /// Allow installing packages that no repository has (apk-rs keeps them as any other)
    #[arg(long, global = true)]
    pub force_non_repository: bool,
    /// Go on when repositories are missing (apk-rs warns and goes on in any case)
    #[arg(long, global = true)]
    pub force_missing_repositories: bool,
    /// Write binary output to a terminal (apk-rs writes none there)
    #[arg(long, global = true)]
    pub force_binary_stdout: bool,
    /// Run scripts without changing root into ROOT
    #[arg(long, global = true)]
    pub force_no_chroot: bool,
    /// info: the 2.x layout when no query option asks otherwise (the default)
    #[arg(long, global = true, overrides_with = "no_legacy_info")]
    pub legacy_info: bool,
    /// info: the query engine's layout (`Name: value` blocks)
    #[arg(long, global = true, overrides_with = "legacy_info")]
    pub no_legacy_info: bool,
    /// Extra dependencies to upgrade first (with the package owning apk itself)
    #[arg(long, global = true, value_name = "DEP")]
    pub preupgrade_depends: Vec<String>,
    /// The root is a tmpfs (apk-rs treats every root alike; accepted as apk-tools does)
    #[arg(long, global = true, overrides_with = "no_root_tmpfs")]
    pub root_tmpfs: bool,
    /// The root is not a tmpfs
    #[arg(long, global = true, overrides_with = "root_tmpfs")]
    pub no_root_tmpfs: bool,
    /// Flush the file systems after a commit (default: only for the host's root)
    #[arg(long, global = true, overrides_with = "no_sync")]
    pub sync: bool,
    /// Do not flush the file systems after a commit
    #[arg(long, global = true, overrides_with = "sync")]
    pub no_sync: bool,
    /// Run the commit hooks (etc/apk/commit_hooks.d; the default)
    #[arg(long, global = true, overrides_with = "no_commit_hooks")]
    pub commit_hooks: bool,
    /// Skip the commit hooks (each is named as skipped)
    #[arg(long, global = true, overrides_with = "commit_hooks")]
    pub no_commit_hooks: bool,
    /// Boot of a diskless system: create the database, skip the commit hooks, force
    /// overwriting, old packages, a broken world and packages from no repository
    #[arg(long, global = true)]
    pub initramfs_diskless_boot: bool,
    /// Read the overlay of a diskless system (lbu) from standard input
    #[arg(long, global = true)]
    pub overlay_from_stdin: bool,
    /// The uvol manager for packages with volumes (uvol/*); default /usr/sbin/uvol
    /// for the host's root
    #[arg(long, global = true, value_name = "PATH")]
    pub uvol_manager: Option<PathBuf>,
    /// Sizes and times for people (the default on a terminal)
    #[arg(long, global = true, overrides_with = "no_pretty_print")]
    pub pretty_print: bool,
    /// Sizes and times as plain numbers
    #[arg(long, global = true, overrides_with = "pretty_print")]
    pub no_pretty_print: bool,
    /// Create the package database in ROOT if it does not exist (add)
    #[arg(long, global = true)]
    pub initdb: bool,
    /// Do not change file owners or groups (apk restores them when run as root); as
    /// apk-tools, the same as --usermode
    #[arg(long, global = true)]
    pub no_chown: bool,
    /// Install as a regular user: no owners restored, scripts in a user namespace
    /// (needed to create a database as non-root; refused as root)
    #[arg(long, global = true)]
    pub usermode: bool,
    /// Do not run package scripts
    #[arg(long, global = true, overrides_with = "scripts")]
    pub no_scripts: bool,
    /// Run package scripts (the default)
    #[arg(long, global = true, overrides_with = "no_scripts")]
    pub scripts: bool,
    /// Do not write var/log/apk.log
    #[arg(long, global = true, overrides_with = "logfile")]
    pub no_logfile: bool,
    /// Write var/log/apk.log (the default for applets that change the root)
    #[arg(long, global = true, overrides_with = "no_logfile")]
    pub logfile: bool,
    /// Fetch network indexes even if the cached copies are fresh
    #[arg(short = 'U', long, global = true)]
    pub update_cache: bool,
    /// The package and index cache directory (relative to ROOT unless absolute)
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep downloaded packages in the cache directory even without etc/apk/cache
    #[arg(long, global = true, overrides_with = "no_cache_packages")]
    pub cache_packages: bool,
    /// Do not keep downloaded packages in the cache
    #[arg(long, global = true, overrides_with = "cache_packages")]
    pub no_cache_packages: bool,
    /// Download every package into the cache before changing anything (implies
    /// --cache-packages)
    #[arg(long, global = true, overrides_with = "no_cache_predownload")]
    pub cache_predownload: bool,
    /// Download packages while installing them (the default)
    #[arg(long, global = true, overrides_with = "cache_predownload")]
    pub no_cache_predownload: bool,
    /// Fetch network indexes again when their cached copies are older than MINUTES
    #[arg(long, global = true, value_name = "MINUTES", value_parser = atoi, allow_hyphen_values = true)]
    pub cache_max_age: Option<u64>,
    /// Ask before changing anything
    #[arg(short = 'i', long, global = true, overrides_with = "no_interactive")]
    pub interactive: bool,
    /// Do not ask before changing anything (the default)
    #[arg(long, global = true, overrides_with = "interactive")]
    pub no_interactive: bool,
    /// Show a progress bar (the default when standard output is a terminal)
    #[arg(long, global = true, overrides_with = "no_progress")]
    pub progress: bool,
    /// Do not show a progress bar
    #[arg(long, global = true, overrides_with = "progress")]
    pub no_progress: bool,
    /// Also delete changed configuration files and .apk-new files of removed packages
    #[arg(long, global = true, overrides_with = "no_purge")]
    pub purge: bool,
    /// Keep changed configuration files of removed packages (the default)
    #[arg(long, global = true, overrides_with = "purge")]
    pub no_purge: bool,
    /// Do not create .apk-new files: a changed protected file stays as it is
    #[arg(long, global = true, overrides_with = "no_clean_protected")]
    pub clean_protected: bool,
    /// Create .apk-new files for changed protected files (the default)
    #[arg(long, global = true, overrides_with = "clean_protected")]
    pub no_clean_protected: bool,
    /// Run scripts with apk's own environment instead of a clean one
    #[arg(long, global = true, overrides_with = "no_preserve_env")]
    pub preserve_env: bool,
    /// Run scripts in a clean environment (the default)
    #[arg(long, global = true, overrides_with = "preserve_env")]
    pub no_preserve_env: bool,
    /// Do not check TLS certificates of https repositories
    #[arg(long, global = true, overrides_with = "check_certificate")]
    pub no_check_certificate: bool,
    /// Check TLS certificates (the default)
    #[arg(long, global = true, overrides_with = "no_check_certificate")]
    pub check_certificate: bool,
    /// Print the primary architecture and exit
    #[arg(long, global = true)]
    pub print_arch: bool,
    /// Wait up to TIME seconds for the database lock
    #[arg(long, global = true, value_name = "TIME", value_parser = atoi, allow_hyphen_values = true)]
    pub wait: Option<u64>,
    /// Network timeout in seconds (connecting, and each read)
    #[arg(long, global = true, value_name = "SECONDS", value_parser = atoi, allow_hyphen_values = true)]
    pub timeout: Option<u64>,
}

pub struct Context {
    pub opts: GlobalOpts,
    pub root: PathBuf,
    /// 0 quiet, 1 normal, 2+ verbose.
    pub verbosity: i32,
    /// The database lock, once a writing applet took it; held until exit.
    lock: std::cell::OnceCell<apk_core::db::lock::Lock>,
    /// `--initdb` on a root that had no database: no lock is taken.
    unlocked_initdb: std::cell::Cell<bool>,
    /// `--overlay-from-stdin`'s files, once read.
    overlay: std::cell::OnceCell<std::collections::HashSet<String>>,
    /// The sources the database is opened with (`--from`).
    sources: std::cell::Cell<apk_core::db::Sources>,
    /// Packages given as files on the command line, by their id in the pool.
    pub local_files: std::cell::RefCell<std::collections::HashMap<apk_core::pool::PkgId, PathBuf>>,
    /// The database is opened for a commit: a snapshot made on opening it waits for
    /// [`crate::commands::solution::apply`] (see `OpenOptions::defer_snapshot`).
    for_commit: std::cell::Cell<bool>,
    /// Stale network indexes are fetched again as the database opens: apk-tools does
    /// so for the applets that write (`del` aside), and only for them.
    autoupdate: std::cell::Cell<bool>,
}

impl Context {
    pub fn new(opts: GlobalOpts) -> Result<Self, String> {
        let mut opts = opts;
        if opts.force {
            opts.force_overwrite = true;
            opts.force_old_apk = true;
            opts.force_non_repository = true;
            opts.force_binary_stdout = true;
        }
        if opts.force_refresh {
            opts.update_cache = true;
        }
        if opts.initramfs_diskless_boot {
            opts.initdb = true;
            opts.no_commit_hooks = true;
            opts.force_overwrite = true;
            opts.force_old_apk = true;
            opts.force_broken_world = true;
            opts.force_non_repository = true;
        }
        if opts.cache_predownload {
            opts.cache_packages = true;
        }

        let root = opts.root.clone().unwrap_or_else(|| PathBuf::from("/"));
        if let Some(d) = &opts.cache_dir {
            let dir = if d.is_absolute() {
                d.clone()
            } else {
                root.join(d)
            };
            // One that is not a folder fails the applets that open the database
            // ([`Context::setup_cache`]).
            if dir.is_dir() {
                apk_core::db::set_cache_dir(dir);
            }
        }
        let verbosity = 1 + i32::from(opts.verbose) - i32::from(opts.quiet);
        Ok(Context {
            opts,
            root,
            verbosity,
            lock: std::cell::OnceCell::new(),
            unlocked_initdb: std::cell::Cell::new(false),
            local_files: Default::default(),
            for_commit: Default::default(),
            autoupdate: Default::default(),
            sources: Default::default(),
            overlay: Default::default(),
        })
    }

    /// Usermode: asked for (`--usermode`, `--no-chown`), or found: a root whose database
    /// folder a user owns, as apk-tools detects it.
    pub fn usermode(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.opts.usermode
            || self.opts.no_chown
            || (!self.opts.initdb
                && std::fs::metadata(self.root.join("lib/apk/db")).is_ok_and(|m| m.uid() != 0))
    }

    /// A path inside the root (`etc/apk/keys` → `ROOT/etc/apk/keys`).
    pub fn in_root(&self, rel: &Path) -> PathBuf {
        self.root.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// A path option as apk-tools opens it against the root: absolute paths are the
    /// host's, relative ones lie in the root (`--keys-dir`, `--cache-dir`).
    pub fn root_relative(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        match &self.opts.keys_dir {
            Some(d) => self.root_relative(d),
            None => self.in_root(Path::new("etc/apk/keys")),
        }
    }

    /// Opens the root's package database. It lives until the process exits, which frees
    /// it wholesale: tearing down hundreds of thousands of small allocations one by one
    /// would cost a noticeable part of a run.
    pub fn open_db(
        &self,
    ) -> Result<std::mem::ManuallyDrop<apk_core::db::Database>, apk_core::Error> {
        self.open_db_updating(self.opts.update_cache)
    }

    /// Lets opening the database fetch stale network indexes (`update`).
    pub fn allow_autoupdate(&self) {
        self.autoupdate.set(true);
    }

    /// Opens the database; with `update`, network indexes are fetched even when the
    /// cached copies are fresh.
    pub fn open_db_updating(
        &self,
        update: bool,
    ) -> Result<std::mem::ManuallyDrop<apk_core::db::Database>, apk_core::Error> {
        let opts = apk_core::db::OpenOptions {
            root: self.root.clone(),
            repositories_file: self.opts.repositories_file.clone(),
            extra_repositories: self.opts.repository.clone(),
            repository_config: self.opts.repository_config.clone(),
            arch: self.opts.arch.clone(),
            no_network: self.opts.no_network,
            keys: self.keyring()?,
            no_cache: self.opts.no_cache,
            keys_dir: (!self.opts.allow_untrusted).then(|| self.keys_dir()),
            fetcher: self.fetcher(),
            update_cache: update,
            // Under `--simulate` apk-tools' update of an index writes nothing, and the
            // cached copy (if any) is read.
            no_autoupdate: !self.autoupdate.get() || self.opts.simulate,
            no_snapshot: false,
            defer_snapshot: self.for_commit.get(),
            sources: self.sources.get(),
            cache_max_age: self
                .opts
                .cache_max_age
                .map(|m| std::time::Duration::from_secs(m * 60)),
        };
        let db = apk_core::db::Database::open(&opts)?;
        for w in &db.config_warnings {
            crate::output::err(w);
        }
        for p in &db.unavailable {
            crate::output::warning(&p.message);
        }
        if db.pool.has_broken {
            crate::output::warning(format!(
                "The indexes contain broken packages which {}.",
                if db.pool.has_uninstallable {
                    "are not installable"
                } else {
                    "might not function properly"
                }
            ));
        }
        Ok(std::mem::ManuallyDrop::new(db))
    }

    /// Opens the database, printing the error when it cannot be opened.
    pub fn open_db_or_report(&self) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        self.open_db().map_err(error).ok()
    }

    /// Opens the database without some of its sources.
    pub fn open_db_with(
        &self,
        sources: apk_core::db::Sources,
    ) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        self.sources.set(sources);
        self.open_db_or_report()
    }

    /// Opens the database with the sources the query option `--from` leaves in.
    pub fn open_db_from(
        &self,
        from: crate::query::From,
    ) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        use crate::query::From;
        let sources = apk_core::db::Sources {
            no_cmdline_repos: false,
            no_sys_repos: matches!(from, From::None | From::Installed),
            no_installed_repo: matches!(from, From::None | From::Repositories),
            no_installed: matches!(from, From::None | From::Repositories),
        };
        self.sources.set(sources);
        self.open_db_or_report()
    }

    /// Opens the database without any repository (apk-tools' `info -e` and `info -W`):
    /// only the installed database, unless `--from` names the sources; the command
    /// line's repositories stay out even then.
    pub fn open_db_without_repos(
        &self,
        from_given: bool,
        from: crate::query::From,
    ) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        use crate::query::From;
        let from = if from_given { from } else { From::Installed };
        self.open_db_with(apk_core::db::Sources {
            no_cmdline_repos: true,
            no_sys_repos: matches!(from, From::None | From::Installed),
            no_installed_repo: !from_given || matches!(from, From::None | From::Repositories),
            no_installed: matches!(from, From::None | From::Repositories),
        })
    }

    /// Opens the database for an applet apk-tools opens without the root's state
    /// (`search`, `dot`, `fetch`): the installed database is not read unless the query
    /// options ask for a source (`--from`, `--installed`).
    pub fn open_db_stateless(
        &self,
        from_given: bool,
        from: crate::query::From,
    ) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        if from_given {
            return self.open_db_from(from);
        }
        self.open_db_with(apk_core::db::Sources {
            no_installed: true,
            ..Default::default()
        })
    }

    /// Opens the database for an applet that changes the root: unless simulating, the
    /// root's lock is taken first (waiting `--wait` seconds for another writer).
    pub fn open_db_for_commit(
        &self,
        autoupdate: bool,
    ) -> Option<std::mem::ManuallyDrop<apk_core::db::Database>> {
        self.autoupdate.set(autoupdate);
        if !self.take_lock() {
            return None;
        }
        self.open_log();
        let _ = self.setup_cache();
        self.for_commit.set(true);
        self.open_db_or_report()
    }

    /// As apk-tools sets up the cache when it opens a database (unless `--no-cache`):
    /// `--cache-dir` must be a folder, `etc/apk/cache` may be one (a symlink to nowhere
    /// counts as none, anything else fails), and without either the static cache
    /// `var/cache/apk` is made. `Err` gives the reason it cannot be set up.
    pub fn setup_cache(&self) -> Result<(), String> {
        if self.opts.no_cache {
            return Ok(());
        }
        let not_a_folder = |dir: &Path| match std::fs::metadata(dir) {
            Ok(_) => "Not a directory".to_owned(),
            Err(e) => apk_format::error::io_reason(&e),
        };
        if let Some(d) = &self.opts.cache_dir {
            let dir = self.root_relative(d);
            return match dir.is_dir() {
                true => Ok(()),
                false => Err(not_a_folder(&dir)),
            };
        }
        let configured = apk_core::fs::rootfs::RootFs::new(&self.root)
            .resolve_dir("etc/apk/cache")
            .unwrap_or_else(|_| self.root.join("etc/apk/cache"));
        if configured.is_dir() {
            return Ok(());
        }
        // Something else than a folder there (a symlink to nowhere counts as none).
        if configured.exists() {
            return Err(not_a_folder(&configured));
        }
        let _ = std::fs::create_dir_all(self.root.join("var/cache/apk"));
        Ok(())
    }

    /// Starts this run's entry in the root's `var/log/apk.log` for an applet that
    /// writes, as apk-tools does before it opens the database (not when simulating or
    /// with `--no-logfile`); once per run. A log that cannot be opened is a warning.
    pub fn open_log(&self) {
        if self.opts.simulate || self.opts.no_logfile {
            return;
        }
        if let Err(e) = crate::output::open_log(&self.root) {
            crate::output::warning(format!("Unable to open log: {e}"));
        }
    }

    /// Takes the root's lock unless simulating (or already held); false, with the error
    /// printed, when it cannot be had. With `--initdb` a root without a database
    /// directory goes on unlocked, as apk-tools does (it creates no lock file then).
    pub fn take_lock(&self) -> bool {
        if self.opts.simulate || self.lock.get().is_some() {
            return true;
        }
        if self.opts.initdb && !self.root.join("lib/apk/db").is_dir() {
            self.unlocked_initdb.set(true);
            return true;
        }
        if self.unlocked_initdb.get() {
            return true;
        }
        let wait = std::time::Duration::from_secs(self.opts.wait.unwrap_or(0));
        let mut told = || eprintln!("Waiting for repository lock");
        match apk_core::db::lock::Lock::acquire(&self.root, wait, &mut told) {
            Ok(l) => {
                let _ = self.lock.set(l);
                true
            }
            Err(e) => {
                error(e);
                false
            }
        }
    }

    /// Takes the root's lock for an applet that writes, before anything else is read,
    /// as apk-tools opens a database for writing; the reason in apk-tools' words when
    /// it cannot be had (`Resource temporarily unavailable` when another apk holds it,
    /// `Interrupted system call` when `--wait` ran out).
    pub fn lock_for_writing(&self) -> Result<(), String> {
        if self.opts.simulate || self.lock.get().is_some() {
            return Ok(());
        }
        let wait = std::time::Duration::from_secs(self.opts.wait.unwrap_or(0));
        let mut told = || eprintln!("Waiting for repository lock");
        match apk_core::db::lock::Lock::acquire(&self.root, wait, &mut told) {
            Ok(l) => {
                let _ = self.lock.set(l);
                Ok(())
            }
            Err(e) if e.io_error().map(|e| e.kind()) == Some(std::io::ErrorKind::WouldBlock) => {
                Err(if wait.is_zero() {
                    "Resource temporarily unavailable".into()
                } else {
                    "Interrupted system call".into()
                })
            }
            Err(e) => Err(e.apk_reason()),
        }
    }

    /// Whether to draw the progress bar: `--progress`, `--no-progress`, else when
    /// standard output is a terminal (apk-tools draws it whatever the verbosity).
    pub fn progress(&self) -> bool {
        !self.opts.no_progress && (self.opts.progress || crate::output::progress_by_default())
    }

    /// `--overlay-from-stdin`: the overlay's files, read from standard input once
    /// (`DIR/` or `DIR/FILE` lines; reading stops at a line without a `/`).
    pub fn overlay(&self) -> &std::collections::HashSet<String> {
        self.overlay.get_or_init(|| {
            let mut files = std::collections::HashSet::new();
            if !self.opts.overlay_from_stdin {
                return files;
            }
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
            for line in text.lines() {
                let Some((_, file)) = line.rsplit_once('/') else {
                    break;
                };
                if !file.is_empty() {
                    files.insert(line.to_owned());
                }
            }
            files
        })
    }

    /// The uvol manager, as apk-tools picks it: `--uvol-manager`, else
    /// `/usr/sbin/uvol` for the host's root only; an absolute path to an executable.
    pub fn uvol(&self) -> apk_core::commit::Uvol {
        use apk_core::commit::Uvol;
        use std::os::unix::fs::PermissionsExt;
        let host_root = self.opts.root.is_none()
            || std::fs::canonicalize(&self.root).is_ok_and(|p| p == Path::new("/"));
        let manager = match (&self.opts.uvol_manager, host_root) {
            (Some(m), _) => m.clone(),
            (None, true) => PathBuf::from("/usr/sbin/uvol"),
            (None, false) => return Uvol::Unavailable("uvol not supported with --root".into()),
        };
        let executable = std::fs::metadata(&manager)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if manager.is_absolute() && executable {
            Uvol::Manager(manager)
        } else {
            Uvol::Unavailable("uvol manager not available".into())
        }
    }

    /// Reads network repositories with the `--timeout` given (default 60 s).
    pub fn fetcher(&self) -> apk_core::repo::fetch::Fetcher {
        apk_core::repo::fetch::Fetcher::with_tls_verification(
            std::time::Duration::from_secs(self.opts.timeout.unwrap_or(60)),
            !self.opts.no_check_certificate,
        )
    }

    /// The package cache, when enabled: `etc/apk/cache` exists in the root (usually a
    /// symlink to `/var/cache/apk`, resolved inside the root).
    pub fn package_cache_dir(&self) -> Option<PathBuf> {
        if self.opts.no_cache {
            return None;
        }
        if let Some(d) = &self.opts.cache_dir {
            let dir = self.root_relative(d);
            return dir.is_dir().then_some(dir);
        }
        let dir = apk_core::fs::rootfs::RootFs::new(&self.root)
            .resolve_dir("etc/apk/cache")
            .ok()
            .filter(|d| d.is_dir());
        match dir {
            Some(d) => Some(d),
            // --cache-packages keeps packages in the index cache, var/cache/apk.
            None if self.opts.cache_packages => {
                let d = self.root.join("var/cache/apk");
                std::fs::create_dir_all(&d).ok()?;
                Some(d)
            }
            None => None,
        }
    }

    /// How to commit into this root.
    pub fn commit_options(
        &self,
        db: &apk_core::db::Database,
    ) -> Result<apk_core::commit::Options, apk_core::Error> {
        Ok(apk_core::commit::Options {
            keys: self.keyring()?,
            no_scripts: self.opts.no_scripts,
            chown: apk_core::fs::is_root() && !self.usermode(),
            arch: db.pool.arches.first().cloned().unwrap_or_default(),
            cache_dir: self.package_cache_dir(),
            fetcher: self.fetcher(),
            force_overwrite: self.opts.force_overwrite,
            clean_protected: self.opts.clean_protected,
            skip_commit_hooks: self.opts.no_commit_hooks,
            uvol: self.uvol(),
            overlay: self.overlay().clone(),
            purge: self.opts.purge,
            scripts: apk_core::fs::sandbox::ScriptOptions {
                preserve_env: self.opts.preserve_env,
                no_chroot: self.opts.force_no_chroot,
                usermode: self.usermode(),
            },
            usermode: self.usermode(),
            local_files: self.local_files.borrow().clone(),
        })
    }

    /// The trusted keys, or `None` with `--allow-untrusted`.
    pub fn keyring(&self) -> Result<Option<Keyring>, apk_core::Error> {
        if self.opts.allow_untrusted {
            return Ok(None);
        }
        let mut ring = Keyring::load_dir(&self.keys_dir())?;
        // Without --keys-dir, lib/apk/keys holds keys too (etc/apk/keys wins by name).
        if self.opts.keys_dir.is_none() {
            let lib = Keyring::load_dir(&self.in_root(Path::new("lib/apk/keys")))?;
            ring.merge_missing(lib);
        }
        Ok(Some(ring))
    }
}

/// Prints an error as apk does.
impl Context {
    /// [`Context::keyring`], its error reported (`None` then: the applet exits 1).
    pub fn keyring_or_report(&self) -> Option<Option<Keyring>> {
        match self.keyring() {
            Ok(k) => Some(k),
            Err(e) => {
                error(e);
                None
            }
        }
    }
}

pub fn error(e: impl std::fmt::Display) {
    crate::output::err(&format!("ERROR: {e}"));
}

/// A number read as C's `atoi` reads it, as apk-tools reads `--wait`, `--timeout`,
/// `--cache-max-age` and `--progress-fd`: blanks, a sign and the digits that follow
/// (the rest ignored; no digits is 0). None of those means anything below zero, which
/// reads as 0 here (no wait, no timeout, always stale, no progress descriptor).
fn atoi(s: &str) -> Result<u64, String> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = t.bytes().take_while(u8::is_ascii_digit).fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Ok(if negative { 0 } else { n })
}

/// [`atoi`] for a file descriptor (one too large to be any is 0: none).
fn atoi_u32(s: &str) -> Result<u32, String> {
    Ok(u32::try_from(atoi(s)?).unwrap_or(0))
}

fn parse_compression(s: &str) -> Result<apk_format::adb::container::CompressionSpec, String> {
    apk_format::adb::container::CompressionSpec::parse(s).ok_or_else(|| "invalid".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn numeric_options_are_read_as_atoi_reads_them() {
        for (s, n) in [
            ("12", 12),
            (" 7", 7),
            ("+3", 3),
            ("12abc", 12),
            ("abc", 0),
            ("-5", 0),
            ("", 0),
        ] {
            assert_eq!(super::atoi(s), Ok(n), "{s:?}");
        }
        assert_eq!(super::atoi_u32("99999999999"), Ok(0));
        assert_eq!(super::atoi_u32("3"), Ok(3));
    }
}
