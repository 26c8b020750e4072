//! Opening a root: reads its world, installed database, architecture and repositories
//! (their indexes verified against the keys) into a [`Pool`], in the order apk-tools
//! reads them, which is the order that decides ties later.

use std::path::{Path, PathBuf};

use crate::db;
use crate::dep::Dependency;
use crate::error::{Error, Result};
use crate::index::RawIndex;
use crate::pool::{Dep, Pool};
use crate::repo::{RepositoriesFile, Repository};
use crate::sign::Keyring;

/// How to open a root.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub root: PathBuf,
    /// `--repositories-file` (relative to the working directory).
    pub repositories_file: Option<PathBuf>,
    /// `-X` repositories, added after the configured ones.
    pub extra_repositories: Vec<String>,
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
}

/// What a database is read from, resolved before anything heavy is read.
struct Inputs {
    arches: Vec<String>,
    world_path: PathBuf,
    repositories_text: Option<String>,
    repos: Vec<Repository>,
}

impl Inputs {
    fn resolve(opts: &OpenOptions) -> Result<Inputs> {
        let root = &opts.root;
        let arches = if opts.arch.is_empty() {
            let text = read_optional(&root.join("etc/apk/arch"))?;
            match text.as_deref().and_then(db::parse_arch) {
                Some(a) => vec![a],
                None => vec![db::native_arch().to_owned()],
            }
        } else {
            opts.arch.clone()
        };
        let (file, what) = match &opts.repositories_file {
            Some(f) => (f.clone(), f.display().to_string()),
            None => {
                let f = root.join("etc/apk/repositories");
                let w = f.display().to_string();
                (f, w)
            }
        };
        let repositories_text = read_optional(&file)?;
        let mut repos = Vec::new();
        if let Some(text) = &repositories_text {
            let parsed = RepositoriesFile::parse(text, &what)?;
            repos.extend(parsed.repositories(&arches[0])?);
        }
        repos.extend(
            opts.extra_repositories
                .iter()
                .map(|u| Repository::from_url(u, None)),
        );
        Ok(Inputs {
            arches,
            world_path: root.join("etc/apk/world"),
            repositories_text,
            repos,
        })
    }

    /// The snapshot file, in the cache directory (`etc/apk/cache`, else
    /// `var/cache/apk`); none without a cache or with `--no-cache`.
    fn snapshot_path(&self, opts: &OpenOptions) -> Option<PathBuf> {
        if opts.no_cache {
            return None;
        }
        ["etc/apk/cache", "var/cache/apk"]
            .iter()
            .map(|d| opts.root.join(d))
            .find(|d| d.is_dir())
            .map(|d| d.join("apk-rs.snapshot"))
    }

    /// Everything the loaded database depends on.
    fn key(&self, opts: &OpenOptions) -> [u8; 32] {
        let root = &opts.root;
        let mut k = crate::snapshot::KeyBuilder::default();
        k.add("arches", self.arches.join(" ").as_bytes());
        k.add("no-network", &[u8::from(opts.no_network)]);
        k.add(
            "repositories",
            self.repositories_text.as_deref().unwrap_or("").as_bytes(),
        );
        k.add("extra", opts.extra_repositories.join("\n").as_bytes());
        for f in [
            "etc/apk/world",
            "lib/apk/db/installed",
            "etc/apk/cache/installed",
        ] {
            k.add_file_identity(&root.join(f));
        }
        for repo in &self.repos {
            let url = repo.index_url(&self.arches[0]);
            match Repository::local_path(&url) {
                Some(p) => k.add_file_identity(Path::new(p)),
                None => k.add("remote", url.as_bytes()),
            }
        }
        match &opts.keys_dir {
            None => k.add("trust", b"untrusted"),
            Some(dir) => {
                let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map(|rd| rd.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                names.sort();
                k.add("trust", dir.to_string_lossy().as_bytes());
                for n in names {
                    k.add_file_identity(&n);
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
    /// Repositories that could not be read, with the reason.
    pub unavailable: Vec<(String, String)>,
    /// Files of installed packages, as (directory, file name).
    pub installed_files: std::collections::HashMap<crate::pool::PkgId, Vec<(String, String)>>,
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
            Some(t) => db::parse_world(&t, &inputs.world_path.display().to_string())?,
            None => Vec::new(),
        };
        let snapshot = inputs.snapshot_path(opts).map(|p| (p, inputs.key(opts)));
        let mut db = Database {
            root: opts.root.clone(),
            pool: Pool::default(),
            world,
            unavailable: Vec::new(),
            installed_files: std::collections::HashMap::new(),
        };
        if let Some((path, key)) = &snapshot {
            if crate::snapshot::load(path, key, &mut db) {
                return Ok(db);
            }
            db.installed_files.clear();
            db.unavailable.clear();
        }
        db.load(opts, &inputs)?;
        if let Some((path, key)) = &snapshot {
            // A cache that cannot be written only costs time next run.
            let _ = crate::snapshot::write(path, key, &db);
        }
        Ok(db)
    }

    /// Reads world, installed database, cache and repository indexes into the pool.
    fn load(&mut self, opts: &OpenOptions, inputs: &Inputs) -> Result<()> {
        let root = &opts.root;
        let mut pool = Pool::new();
        pool.arches = inputs.arches.clone();
        for d in &self.world {
            pool.intern_dep(d);
        }

        let installed_path = root.join("lib/apk/db/installed");
        let mut installed_files = std::collections::HashMap::new();
        if let Some(text) = read_optional(&installed_path)? {
            for ipkg in db::parse_installed(&text, &installed_path.display().to_string())? {
                let tag = ipkg
                    .info
                    .extra
                    .iter()
                    .find(|(l, _)| *l == b's')
                    .map(|(_, t)| t.clone());
                let tag = tag.map_or(0, |t| pool.tag_id(&t));
                let files: Vec<(String, String)> = ipkg
                    .dirs
                    .iter()
                    .flat_map(|d| d.files.iter().map(|f| (d.path.clone(), f.name.clone())))
                    .collect();
                let id = pool.add_package(ipkg.info, None, Some(tag));
                installed_files.insert(id, files);
            }
        }

        // Packages in the cache (`etc/apk/cache/installed` lists them) can be installed
        // without a repository.
        if !opts.no_cache {
            let cached = root.join("etc/apk/cache/installed");
            if let Some(text) = read_optional(&cached)? {
                for info in crate::index::parse(&text, &cached.display().to_string())? {
                    pool.add_package(info, Some(crate::pool::REPO_CACHED), None);
                }
            }
        }

        let mut unavailable = Vec::new();
        for repo in &inputs.repos {
            let remote = repo.is_remote() && !repo.url.starts_with("test:");
            let url = repo.index_url(&pool.arches[0]);
            let masked = opts.no_network && repo.is_remote();
            let Some(path) = Repository::local_path(&url) else {
                pool.add_repo(&repo.url, repo.tag.as_deref(), true, false);
                unavailable.push((
                    url,
                    "fetching over the network is not implemented in this build".into(),
                ));
                continue;
            };
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    pool.add_repo(&repo.url, repo.tag.as_deref(), remote, false);
                    unavailable.push((url.clone(), e.to_string()));
                    continue;
                }
            };
            let raw = RawIndex::read(&bytes, opts.keys.as_ref(), &url)?;
            let what = format!("{url}: APKINDEX");
            let text: std::sync::Arc<str> = raw.text.into();
            let records = crate::index::parse_refs(&text, &what)?;
            let idx = pool.add_repo(&repo.url, repo.tag.as_deref(), repo.is_remote(), !masked);
            let kept = pool.keep_text(text.clone());
            for rec in &records {
                pool.add_record(rec, Some(idx), Some(kept))
                    .map_err(|m| Error::parse(&what, rec.line, m))?;
            }
        }
        pool.finish();
        self.pool = pool;
        self.unavailable = unavailable;
        self.installed_files = installed_files;
        Ok(())
    }

    /// The world with names interned.
    pub fn world_deps(&mut self) -> Vec<Dep> {
        let world = self.world.clone();
        world.iter().map(|d| self.pool.intern_dep(d)).collect()
    }
}
