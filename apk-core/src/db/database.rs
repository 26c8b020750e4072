//! Opening a root: reads its world, installed database, architecture and repositories
//! (their indexes verified against the keys) into a [`Pool`], in the order apk-tools
//! reads them, which is the order that decides ties later.

use std::path::{Path, PathBuf};

use super::{installed, snapshot};
use crate::codec::{Reader, Writer};
use crate::pool::{Dep, Pool};
use crate::repo::{RepositoriesFile, Repository};
use apk_format::dep::Dependency;
use apk_format::error::{Error, Result};
use apk_format::sign::Keyring;
use apk_format::v2::apkindex::RawIndex;

/// How to open a root.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub root: PathBuf,
    /// `--repositories-file` (relative to the working directory).
    pub repositories_file: Option<PathBuf>,
    /// `-X` repositories, read before the configured ones (as apk-tools 3 reads them).
    pub extra_repositories: Vec<String>,
    /// `--repository-config`: lines in the repositories file's format, read with the
    /// `-X` repositories.
    pub repository_config: Vec<String>,
    /// `--arch`: overrides `etc/apk/arch`; the first is primary.
    pub arch: Vec<String>,
    /// `--no-network`: remote repositories are known but not usable.
    pub no_network: bool,
    /// `None` with `--allow-untrusted`.
    pub keys: Option<Keyring>,
    /// `--no-cache`: ignore the package cache (and the snapshot).
    pub no_cache: bool,
    /// The keys directory `keys` was read from (part of the snapshot key).
    pub keys_dir: Option<PathBuf>,
    /// Reads network repositories.
    pub fetcher: crate::repo::fetch::Fetcher,
    /// `--update-cache`: fetch network indexes even when the cached copy is fresh.
    pub update_cache: bool,
    /// Never fetch a network index into the cache: use the cached copy, however old,
    /// or go without (apk-tools updates indexes only for the applets that write,
    /// `del` aside).
    pub no_autoupdate: bool,
    /// `--cache-max-age`: cached network indexes older than this are fetched again
    /// (default: 4 hours).
    pub cache_max_age: Option<std::time::Duration>,
    /// Read everything from the sources, neither using nor writing a snapshot.
    pub no_snapshot: bool,
    /// A snapshot made after reading everything is kept for
    /// [`Database::write_pending_snapshot`] rather than written at once: a committing
    /// applet writes it only when it commits nothing (`--simulate`, a request that does
    /// not solve), since a commit, even of no changes, rewrites the installed database
    /// the snapshot's key covers and would leave it stale at once.
    pub defer_snapshot: bool,
    /// The query option `--from`: which sources are left out. Set, the snapshot is
    /// not used.
    pub sources: Sources,
}

/// Sources of packages a root is opened without (apk-tools' open flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// The configured repositories (`etc/apk/repositories`, `--repositories-file`).
    pub no_sys_repos: bool,
    /// The command line's repositories (`-X`, `--repository-config`).
    pub no_cmdline_repos: bool,
    /// The packages of the cache (`etc/apk/cache/installed`).
    pub no_installed_repo: bool,
    /// The installed database.
    pub no_installed: bool,
}

/// The default age after which a cached network index is fetched again.
pub const DEFAULT_CACHE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(4 * 3600);

/// Where a repository's index is read from.
#[derive(Debug, Clone)]
pub enum IndexSource {
    /// A file: the repository itself (local) or the cached copy (network).
    File(PathBuf),
    /// Fetched for this run only (`--no-cache`).
    Memory(std::sync::Arc<Vec<u8>>),
    /// The cached copy, out of date: updating it failed, why.
    Stale(PathBuf, String),
    /// Could not be had: what was being done (apk-tools' words: `opening`,
    /// `fetching`, `updating and opening`), and why.
    Unavailable(&'static str, String),
}

/// How a repository problem counts in `apk update`'s summary (apk-tools counts network
/// repositories only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A local repository that could not be read.
    Local,
    /// A network repository that could not be read.
    Unavailable,
    /// A network repository read from an out-of-date cached copy.
    Stale,
}

/// A repository that could not be read as it should: its index URL, the warning that
/// says so (`updating and opening URL: reason`), how it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoProblem {
    pub url: String,
    pub message: String,
    pub kind: ProblemKind,
}

/// The directory network indexes are cached in: `etc/apk/cache` when it exists (the
/// package cache is enabled), else `var/cache/apk`.
pub fn index_cache_dir(root: &Path) -> PathBuf {
    if let Some(dir) = CACHE_DIR.get() {
        return dir.clone();
    }
    // `etc/apk/cache` is usually a symlink to `/var/cache/apk`, meant inside the root.
    let enabled = crate::fs::rootfs::RootFs::new(root).resolve_dir("etc/apk/cache");
    match enabled {
        Ok(dir) if dir.is_dir() => dir,
        _ => root.join("var/cache/apk"),
    }
}

static CACHE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// `--cache-dir`: the cache directory for this process, instead of `etc/apk/cache` /
/// `var/cache/apk` in the root.
pub fn set_cache_dir(dir: PathBuf) {
    let _ = CACHE_DIR.set(dir);
}

/// The package files in the package cache (`etc/apk/cache`): `(file name, size)`,
/// sorted.
pub fn cached_files(root: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(index_cache_dir(root))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let size = e.metadata().ok()?.len();
                    name.ends_with(".apk").then_some((name, size))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The cached copy of a network repository's index, named as apk-tools 3 names it (so
/// either tool uses the other's): `APKINDEX.<hash>.tar.gz`, the hash the first eight hex
/// digits of the SHA-256 of the index URL.
pub fn cached_index_path(root: &Path, index_url: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(index_url.as_bytes());
    let hex = apk_format::checksum::encode_hex(&digest[..4]);
    index_cache_dir(root).join(format!("APKINDEX.{hex}.tar.gz"))
}

/// Resolves where `repo`'s index is read from, fetching it over the network when the
/// cached copy is missing or stale (or always with `--no-cache`).
pub fn index_source(opts: &OpenOptions, repo: &Repository, arch: &str) -> IndexSource {
    let url = repo.index_url(arch);
    // `test:` repositories are read from disk but are remote otherwise (cached), as
    // apk-tools has them.
    let test = url.starts_with("test:");
    if !crate::repo::fetch::is_network(&url) && !test {
        return match Repository::local_path(&url) {
            Some(p) => IndexSource::File(PathBuf::from(p)),
            None => IndexSource::Unavailable("opening", "unsupported repository URL".into()),
        };
    }
    let limit = crate::repo::fetch::INDEX_LIMIT;
    if opts.no_cache {
        if opts.no_network && !test {
            return IndexSource::Unavailable("fetching", "network access is disabled".into());
        }
        return match opts.fetcher.get(&url, limit) {
            Ok(b) => IndexSource::Memory(std::sync::Arc::new(b)),
            Err(e) => IndexSource::Unavailable("fetching", e.reason()),
        };
    }
    let cached = cached_index_path(&opts.root, &url);
    let max_age = opts.cache_max_age.unwrap_or(DEFAULT_CACHE_MAX_AGE);
    let age = std::fs::metadata(&cached)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| t.elapsed().unwrap_or_default());
    let fresh = age.is_some_and(|a| a < max_age) && !opts.update_cache;
    if fresh || ((opts.no_network || opts.no_autoupdate) && age.is_some()) {
        return IndexSource::File(cached);
    }
    if opts.no_network || opts.no_autoupdate {
        return IndexSource::Unavailable("opening from cache", "No such file or directory".into());
    }
    let fetched = opts.fetcher.get(&url, limit).and_then(|bytes| {
        // As apk-tools downloads an index: through its verification, kept only when it
        // passes (an untrusted or broken download leaves the cached copy as it was).
        apk_format::package::verify_file(&bytes, opts.keys.as_ref(), &url)?;
        if let Some(dir) = cached.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        crate::fs::atomic::write_atomically(&cached, &bytes)
    });
    match fetched {
        Ok(()) => IndexSource::File(cached),
        // A stale copy beats none; the failure is still reported.
        Err(e) if age.is_some() => IndexSource::Stale(cached, e.reason()),
        Err(e) => IndexSource::Unavailable("updating and opening", e.reason()),
    }
}

/// What a database is read from, resolved before anything heavy is read.
struct Inputs {
    arches: Vec<String>,
    world_path: PathBuf,
    repositories_text: Option<String>,
    repos: Vec<Repository>,
    /// Further tags of each repository (named again with another tag; "" untagged).
    also_tags: Vec<Vec<String>>,
    /// apk-tools' messages (with their `WARNING: `/`ERROR: `) for repository
    /// configuration it could not use.
    warnings: Vec<String>,
    /// Where each repository's index comes from.
    sources: Vec<IndexSource>,
}

impl Inputs {
    fn resolve(opts: &OpenOptions) -> Result<Inputs> {
        let root = &opts.root;
        let arches = if opts.arch.is_empty() {
            let text = read_optional(&root.join("etc/apk/arch"))?;
            match text.as_deref().and_then(installed::parse_arch) {
                Some(a) => vec![a],
                None => vec![installed::native_arch().to_owned()],
            }
        } else {
            opts.arch.clone()
        };
        // Files are named in messages as apk-tools names them.
        let (file, what) = match &opts.repositories_file {
            Some(f) => (f.clone(), f.display().to_string()),
            None => (
                root.join("etc/apk/repositories"),
                "etc/apk/repositories".to_owned(),
            ),
        };
        let mut warnings = Vec::new();
        // As apk-tools 3 reads them: the command line's repositories (`-X`) first, then
        // the configured ones: the repositories file, then `repositories.d/*.list`
        // (only without --repositories-file).
        let (extra, config): (&[String], &[String]) = if opts.sources.no_cmdline_repos {
            (&[], &[])
        } else {
            (&opts.extra_repositories, &opts.repository_config)
        };
        let mut repos: Vec<Repository> = extra
            .iter()
            .flat_map(|u| Repository::from_command_line(u))
            .collect();
        // The variables every source shares, as apk-tools' one parser holds them: a
        // `set` on the command line counts in the repositories file too.
        let mut vars =
            std::collections::BTreeMap::from([("APK_ARCH".to_owned(), arches[0].clone())]);
        // Each `--repository-config` line on its own (numbered on from the `-X` ones,
        // as apk-tools counts them); one it cannot use is left out.
        for (i, line) in config.iter().enumerate() {
            let what = "<command line>";
            let n = extra.len() + i;
            let text = format!("{}{line}", "\n".repeat(n));
            let e = RepositoriesFile::parse(&text, what)?.expand(&mut vars, what);
            warnings.extend(e.warnings.iter().map(|w| format!("WARNING: {w}")));
            repos.extend(e.repositories);
        }
        let mut repositories_text = None;
        if !opts.sources.no_sys_repos {
            let mut files = vec![(file, what)];
            if opts.repositories_file.is_none() {
                for rel in crate::fs::confdir::repository_lists(root) {
                    let f = root.join(&rel);
                    let w = rel
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    files.push((f, w));
                }
            }
            let mut all = String::new();
            for (file, what) in files {
                let Some(text) = read_optional(&file)? else {
                    // apk-tools says so for a file named on the command line, and goes on.
                    if opts.repositories_file.as_ref() == Some(&file) {
                        warnings.push(format!(
                            "ERROR: failed to read repositories: {what}: No such file or directory"
                        ));
                    }
                    continue;
                };
                let e = RepositoriesFile::parse(&text, &what)?.expand(&mut vars, &what);
                warnings.extend(e.warnings.iter().map(|w| format!("WARNING: {w}")));
                // For a file named on the command line apk-tools adds why it stopped.
                if let (Some(why), true) =
                    (e.stopped, opts.repositories_file.as_ref() == Some(&file))
                {
                    warnings.push(format!("ERROR: failed to read repositories: {what}: {why}"));
                }
                repos.extend(e.repositories);
                all.push_str(&what);
                all.push('\n');
                all.push_str(&text);
            }
            repositories_text = Some(all);
        }
        // A repository named again is the same one, as apk-tools keeps it: another tag
        // makes it a member of that tag too.
        let mut unique: Vec<Repository> = Vec::new();
        let mut also_tags: Vec<Vec<String>> = Vec::new();
        for r in repos {
            let index = r.index_url(&arches[0]);
            match unique
                .iter()
                .position(|u| u.url == r.url && u.index_url(&arches[0]) == index)
            {
                Some(i) => {
                    if r.tag != unique[i].tag {
                        let t = r.tag.clone().unwrap_or_default();
                        if !also_tags[i].contains(&t) {
                            also_tags[i].push(t);
                        }
                    }
                }
                None => {
                    unique.push(r);
                    also_tags.push(Vec::new());
                }
            }
        }
        let repos = unique;
        let sources = repos
            .iter()
            .map(|r| index_source(opts, r, &arches[0]))
            .collect();
        Ok(Inputs {
            arches,
            world_path: root.join("etc/apk/world"),
            repositories_text,
            repos,
            also_tags,
            sources,
            warnings,
        })
    }

    /// The snapshot file, in the cache directory (`etc/apk/cache`, else
    /// `var/cache/apk`); none without a cache or with `--no-cache`.
    fn snapshot_path(&self, opts: &OpenOptions) -> Option<PathBuf> {
        if opts.no_cache || opts.no_snapshot || opts.sources != Sources::default() {
            return None;
        }
        let dir = index_cache_dir(&opts.root);
        dir.is_dir().then(|| dir.join("apk-rs.snapshot"))
    }

    /// Everything the loaded database depends on.
    fn key(&self, opts: &OpenOptions) -> [u8; 32] {
        let root = &opts.root;
        let mut k = snapshot::KeyBuilder::default();
        k.add("arches", self.arches.join(" ").as_bytes());
        k.add("no-network", &[u8::from(opts.no_network)]);
        // Which packages are cached decides what installs without a network.
        for (name, size) in cached_files(root) {
            k.add("cached", name.as_bytes());
            k.add("cached-size", &size.to_le_bytes());
        }
        k.add(
            "repositories",
            self.repositories_text.as_deref().unwrap_or("").as_bytes(),
        );
        k.add("extra", opts.extra_repositories.join("\n").as_bytes());
        k.add("config", opts.repository_config.join("\n").as_bytes());
        for f in [
            "etc/apk/world",
            "lib/apk/db/installed",
            "etc/apk/cache/installed",
        ] {
            k.add_file_identity(&root.join(f));
        }
        for (repo, source) in self.repos.iter().zip(&self.sources) {
            k.add("repository", repo.index_url(&self.arches[0]).as_bytes());
            match source {
                IndexSource::File(p) => k.add_file_identity(p),
                IndexSource::Memory(b) => k.add("fetched", b),
                IndexSource::Stale(p, why) => {
                    k.add_file_identity(p);
                    k.add("stale", why.as_bytes());
                }
                IndexSource::Unavailable(what, why) => {
                    k.add("unavailable", format!("{what}: {why}").as_bytes())
                }
            }
        }
        match &opts.keys_dir {
            None => k.add("trust", b"untrusted"),
            Some(dir) => {
                // The keys directory, and lib/apk/keys, which adds keys by default.
                for d in [dir.clone(), root.join("lib/apk/keys")] {
                    let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
                        .map(|rd| rd.flatten().map(|e| e.path()).collect())
                        .unwrap_or_default();
                    names.sort();
                    k.add("trust", d.to_string_lossy().as_bytes());
                    for n in names {
                        k.add_file_identity(&n);
                    }
                }
            }
        }
        k.finish()
    }
}

/// A loaded root.
#[derive(Debug, Clone)]
pub struct Database {
    pub root: PathBuf,
    pub pool: Pool,
    /// The world as written in `etc/apk/world`.
    pub world: Vec<Dependency>,
    /// Repositories that could not be read (or only from an old cached copy).
    pub unavailable: Vec<RepoProblem>,
    /// apk-tools' messages (`WARNING: ...`, `ERROR: ...`) for repository
    /// configuration it could not use: lines left out, a missing file.
    pub config_warnings: Vec<String>,
    /// Files of installed packages, as (directory, file name).
    pub installed_files: std::collections::HashMap<crate::pool::PkgId, Vec<(String, String)>>,
    /// Where and under which key the snapshot of this database goes, when opening it
    /// deferred writing it.
    pending_snapshot: std::cell::RefCell<Option<(PathBuf, [u8; 32])>>,
}

/// Reads metadata from the sources a snapshot was built from (loaded once, on the
/// first damaged record): the answer stays right even when the snapshot is not.
fn info_fallback(opts: &OpenOptions) -> crate::pool::InfoFallback {
    let opts = OpenOptions {
        no_snapshot: true,
        ..opts.clone()
    };
    let loaded: std::cell::OnceCell<Option<Database>> = std::cell::OnceCell::new();
    crate::pool::InfoFallback(Some(std::rc::Rc::new(move |name: &str, version: &str| {
        let db = loaded.get_or_init(|| Database::open(&opts).ok()).as_ref()?;
        let pool = &db.pool;
        let id = pool.find_name(name)?;
        let pkg = pool
            .providers(id)
            .iter()
            .map(|p| p.pkg)
            .find(|&p| pool.pkg(p).name == id && pool.version(p) == version)?;
        Some(pool.info(pkg).clone())
    })))
}

/// How a pass of [`Database::load`] ended.
enum Pass {
    Done,
    /// The v2 index of repository `i` was broken part-way: load again with it refused.
    Refuse(usize),
}

/// Whether an index record names its package's identity as apk-tools requires.
fn has_identity(r: &apk_format::v2::apkindex::RecordRef<'_>) -> bool {
    r.get(b'C')
        .and_then(|c| apk_format::checksum::Checksum::parse(c).ok())
        .is_some()
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl Database {
    /// Opens a root: from the snapshot in the cache directory when one matches the
    /// inputs, otherwise by reading everything (and then writing a snapshot).
    pub fn open(opts: &OpenOptions) -> Result<Database> {
        let inputs = Inputs::resolve(opts)?;
        let world = match read_optional(&inputs.world_path)? {
            Some(t) => installed::parse_world(&t, &inputs.world_path.display().to_string())?,
            None => Vec::new(),
        };
        let snapshot = inputs.snapshot_path(opts).map(|p| (p, inputs.key(opts)));
        let mut db = Database {
            root: opts.root.clone(),
            pool: Pool::default(),
            world,
            unavailable: Vec::new(),
            config_warnings: inputs.warnings.clone(),
            installed_files: std::collections::HashMap::new(),
            pending_snapshot: std::cell::RefCell::new(None),
        };
        if let Some((path, key)) = &snapshot {
            if db.load_snapshot(path, key) {
                db.pool.info_fallback = info_fallback(opts);
                return Ok(db);
            }
            db.installed_files.clear();
            db.unavailable.clear();
        }
        db.load(opts, &inputs)?;
        if let Some((path, key)) = snapshot {
            if opts.defer_snapshot {
                db.pending_snapshot.replace(Some((path, key)));
            } else {
                // A cache that cannot be written only costs time next run.
                let _ = db.write_snapshot(&path, &key);
            }
        }
        Ok(db)
    }

    /// Reads world, installed database, cache and repository indexes into the pool.
    ///
    /// A v2 index's records are added while its later parts still parse; one found
    /// broken part-way (a part that does not parse, a record without its identity) is
    /// refused whole, as apk-tools refuses it: the pool is built again with that index
    /// refused from the start. Only a broken index costs this second pass.
    fn load(&mut self, opts: &OpenOptions, inputs: &Inputs) -> Result<()> {
        let mut refused = vec![false; inputs.repos.len()];
        loop {
            match self.load_pass(opts, inputs, &refused)? {
                Pass::Done => return Ok(()),
                Pass::Refuse(i) => refused[i] = true,
            }
        }
    }

    /// One pass of [`Database::load`], with the v2 indexes of `refused` refused.
    fn load_pass(&mut self, opts: &OpenOptions, inputs: &Inputs, refused: &[bool]) -> Result<Pass> {
        let root = &opts.root;
        let mut pool = Pool::new();
        pool.arches = inputs.arches.clone();
        for d in &self.world {
            pool.intern_dep(d);
        }

        let installed_path = root.join("lib/apk/db/installed");
        let mut installed_files = std::collections::HashMap::new();
        let installed_text = if opts.sources.no_installed {
            None
        } else {
            read_optional(&installed_path)?
        };
        if let Some(text) = installed_text {
            for ipkg in installed::parse_installed(&text, &installed_path.display().to_string())? {
                let tag = ipkg
                    .info
                    .extra
                    .iter()
                    .find(|(l, _)| *l == b's')
                    .map(|(_, t)| t.clone());
                let tag = tag.map_or(crate::pool::TagId::DEFAULT, |t| pool.tag_id(&t));
                let files: Vec<(String, String)> = ipkg
                    .dirs
                    .iter()
                    .flat_map(|d| d.files.iter().map(|f| (d.path.clone(), f.name.to_string())))
                    .collect();
                let id = pool.add_package(ipkg.info, None, Some(tag));
                installed_files.insert(id, files);
            }
        }

        // Packages in the cache (`etc/apk/cache/installed` lists them) can be installed
        // without a repository.
        if !opts.no_cache && !opts.sources.no_installed_repo {
            let cached = root.join("etc/apk/cache/installed");
            if let Some(text) = read_optional(&cached)? {
                for info in apk_format::v2::apkindex::parse(&text, &cached.display().to_string())? {
                    pool.add_package(info, Some(crate::pool::RepoId::CACHED), None);
                }
            }
        }

        let mut unavailable = Vec::new();
        for (i, tags) in inputs.also_tags.iter().enumerate() {
            // Repository i is the pool's i + 1 (after the cache's).
            let bit = 1u64 << (i + 1).min(63);
            for t in tags {
                let id = if t.is_empty() {
                    crate::pool::TagId::DEFAULT
                } else {
                    pool.tag_id(t)
                };
                pool.tags[id.index()].allowed_repos |= bit;
            }
        }
        for (i, (repo, source)) in inputs.repos.iter().zip(&inputs.sources).enumerate() {
            let remote = repo.is_remote() && !repo.url.starts_with("test:");
            let url = repo.index_url(&pool.arches[0]);
            let masked = opts.no_network && repo.is_remote();
            // apk-tools' words for what failed, as it counts it.
            let (mut action, mut update_error) = match source {
                _ if !remote => ("opening", None),
                IndexSource::Memory(_) => ("fetching", None),
                IndexSource::Stale(_, why) => ("opening from cache", Some(why.clone())),
                _ => ("opening from cache", None),
            };
            let problem = |action: &str, why: &str, failed: bool| RepoProblem {
                url: url.clone(),
                message: format!("{action} {url}: {why}"),
                kind: match (remote, failed) {
                    (false, _) => ProblemKind::Local,
                    (true, true) => ProblemKind::Unavailable,
                    (true, false) => ProblemKind::Stale,
                },
            };
            let read = match source {
                IndexSource::File(path) | IndexSource::Stale(path, _) => std::fs::read(path)
                    .map(std::sync::Arc::new)
                    .map_err(|e| apk_format::error::io_reason(&e)),
                IndexSource::Memory(b) => Ok(b.clone()),
                IndexSource::Unavailable(what, why) => {
                    action = what;
                    update_error = None;
                    Err(why.clone())
                }
            };
            if update_error.is_some() {
                action = "updating and opening";
            }
            // A repository that cannot be used: listed (unavailable) and reported.
            let refuse = |pool: &mut Pool, why: &str| {
                pool.add_unusable_repo(&repo.url, repo.tag.as_deref(), remote);
                problem(action, update_error.as_deref().unwrap_or(why), true)
            };
            let bytes = match read {
                Ok(b) => b,
                Err(why) => {
                    unavailable.push(refuse(&mut pool, &why));
                    continue;
                }
            };
            // A v3 index: its packages, with their metadata owned.
            if bytes.starts_with(b"ADB") {
                match apk_format::adb::index::Opened::read(&bytes, opts.keys.as_ref(), &url) {
                    Ok(index) => {
                        let idx = pool.add_repo(
                            &repo.url,
                            repo.tag.as_deref(),
                            repo.is_remote(),
                            !masked,
                        );
                        pool.repos[idx.index()].description = index.description;
                        pool.repos[idx.index()].pkgname_spec = index.pkgname_spec;
                        drop(bytes);
                        let tree = pool.keep_adb(index.tree.into());
                        for v in index.packages {
                            pool.add_adb_package(tree, v, Some(idx));
                        }
                        if let Some(why) = update_error {
                            unavailable.push(problem("updating", &why, false));
                        }
                    }
                    Err(e) => unavailable.push(refuse(&mut pool, &e.apk_reason())),
                }
                continue;
            }
            // A broken index (truncated, unsigned, not parsing) is a warning and the
            // other repositories still count, as apk-tools has it.
            let what = format!("{url}: APKINDEX");
            let raw = match RawIndex::read(&bytes, opts.keys.as_ref(), &url) {
                Ok(raw) => raw,
                Err(e) => {
                    unavailable.push(refuse(&mut pool, &e.apk_reason()));
                    continue;
                }
            };
            // The file is read; only its text is needed from here on.
            drop(bytes);
            let description = raw.description;
            let text = std::sync::Arc::new(raw.text);
            // Every record needs its identity (`C:`, at least a SHA-1): apk-tools
            // refuses the whole index otherwise, as it does text that does not parse.
            if refused.get(i) == Some(&true) {
                unavailable.push(refuse(&mut pool, "v2 database format error"));
                continue;
            }
            let idx = pool.add_repo(&repo.url, repo.tag.as_deref(), repo.is_remote(), !masked);
            pool.repos[idx.index()].description = description;
            let kept = pool.keep_text(text.clone());
            // Room for every record (counted first, by the blank lines between them).
            pool.reserve_packages(apk_format::v2::apkindex::count_records(&text));
            // Each part's records are added as it comes and let go: the pool grows as
            // they go, while the next part parses.
            let streamed = apk_format::v2::apkindex::parse_ref_parts_streamed(
                &text,
                &what,
                &has_identity,
                |part| -> Result<()> {
                    for rec in part {
                        pool.add_record(rec, Some(idx), Some(kept))
                            .map_err(|m| Error::parse(&what, rec.line, m))?;
                    }
                    Ok(())
                },
            )?;
            if streamed == apk_format::v2::apkindex::Streamed::Broken {
                return Ok(Pass::Refuse(i));
            }
            if let Some(why) = update_error {
                unavailable.push(problem("updating", &why, false));
            }
        }
        pool.finish();
        if !opts.no_cache {
            pool.mark_cached(&cached_files(&opts.root));
        }
        self.pool = pool;
        self.unavailable = unavailable;
        self.installed_files = installed_files;
        Ok(Pass::Done)
    }

    /// The world with names interned.
    pub fn world_deps(&mut self) -> Vec<Dep> {
        let world = self.world.clone();
        world.iter().map(|d| self.pool.intern_dep(d)).collect()
    }
}

/// From this size of core payload, its checksum is compared on a second thread: below
/// it, starting the thread costs about what the check does.
const PARALLEL_CHECK_FROM: usize = 256 << 10;

impl Database {
    /// Writes the snapshot whose writing [`OpenOptions::defer_snapshot`] put off, if
    /// any (once).
    pub fn write_pending_snapshot(&self) {
        if let Some((path, key)) = self.pending_snapshot.take() {
            // A cache that cannot be written only costs time next run.
            let _ = self.write_snapshot(&path, &key);
        }
    }

    /// Writes this database as the snapshot for `key` at `path` (atomically).
    pub fn write_snapshot(&self, path: &Path, key: &[u8; 32]) -> Result<()> {
        let (raw, blobs) = encode_snapshot(self);
        snapshot::write(path, key, &raw, &blobs)
    }

    /// Loads the snapshot at `path` into this database (which holds the root and world)
    /// if it exists and matches `key`.
    pub fn load_snapshot(&mut self, path: &Path, key: &[u8; 32]) -> bool {
        let Some(opened) = snapshot::open(path, key) else {
            return false;
        };
        let core = opened
            .map
            .0
            .bytes()
            .get(opened.header.core.clone())
            .unwrap_or_default();
        // The mapped pages stay: the pool reads most tables in place, and pages given
        // back after decoding came back one fault at a time as the solver read them
        // (in the 115,000-package universe a run took 10-20% longer to save 0.6 MiB).
        let place = Some((&opened.map, opened.header.core.start));
        // The checksum of a large core is compared on a second core while this one
        // decodes (nothing decoded is used unless it matches): a warm 3.16 run spent a
        // twentieth of its time in it.
        let decoded = if core.len() >= PARALLEL_CHECK_FROM {
            std::thread::scope(|s| {
                let matches = s.spawn(|| opened.core_matches());
                let decoded = decode_snapshot(core, place, opened.header.blobs.clone(), self);
                matches.join().unwrap_or(false) && decoded.is_some()
            })
        } else {
            opened.core_matches()
                && decode_snapshot(core, place, opened.header.blobs.clone(), self).is_some()
        };
        if !decoded {
            return false;
        }
        self.pool.keep_snapshot(opened.map);
        true
    }
}

/// The core payload and the package metadata section.
fn encode_snapshot(db: &Database) -> (Vec<u8>, Vec<u8>) {
    let mut w = Writer::default();
    let mut blobs = Writer::default();
    db.pool.encode(&mut w, &mut blobs);
    w.len(db.unavailable.len());
    for p in &db.unavailable {
        w.str(&p.url);
        w.str(&p.message);
        w.u32(match p.kind {
            ProblemKind::Local => 0,
            ProblemKind::Unavailable => 1,
            ProblemKind::Stale => 2,
        });
    }
    let mut files: Vec<_> = db.installed_files.iter().collect();
    files.sort_by_key(|(k, _)| **k);
    w.len(files.len());
    for (pkg, list) in files {
        w.u32(pkg.0);
        w.len(list.len());
        for (d, f) in list {
            w.str(d);
            w.str(f);
        }
    }
    (w.buf, blobs.buf)
}

fn decode_snapshot(
    payload: &[u8],
    place: Option<(&std::sync::Arc<crate::pool::SnapshotBytes>, usize)>,
    blobs: std::ops::Range<usize>,
    db: &mut Database,
) -> Option<()> {
    let mut r = Reader::new(payload);
    db.pool = Pool::decode(&mut r, place, blobs)?;
    let n = r.len()?;
    db.unavailable = (0..n)
        .map(|_| {
            Some(RepoProblem {
                url: r.string()?,
                message: r.string()?,
                kind: match r.u32()? {
                    0 => ProblemKind::Local,
                    1 => ProblemKind::Unavailable,
                    2 => ProblemKind::Stale,
                    _ => return None,
                },
            })
        })
        .collect::<Option<_>>()?;
    let n = r.len()?;
    for _ in 0..n {
        let pkg = r.u32()?;
        let m = r.len()?;
        let list = (0..m)
            .map(|_| Some((r.string()?, r.string()?)))
            .collect::<Option<Vec<_>>>()?;
        db.installed_files.insert(crate::pool::PkgId(pkg), list);
    }
    r.is_empty().then_some(())
}

/// The core payload of `db`'s snapshot (what the fuzz target's seeds are made of).
pub fn encode_payload(db: &Database) -> Vec<u8> {
    encode_snapshot(db).0
}

/// Decodes a core payload as [`Database::load_snapshot`] does once the header and checksum matched, with
/// no metadata section (package metadata then reads as name and version only).
pub fn decode_payload(payload: &[u8]) -> Option<Database> {
    let mut db = Database {
        root: std::path::PathBuf::new(),
        pool: Pool::default(),
        world: Vec::new(),
        unavailable: Vec::new(),
        config_warnings: Vec::new(),
        installed_files: std::collections::HashMap::new(),
        pending_snapshot: std::cell::RefCell::new(None),
    };
    // Without the section, any record position is accepted (and never read).
    decode_snapshot(payload, None, 0..u32::MAX as usize, &mut db)?;
    Some(db)
}
