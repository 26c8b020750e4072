//! Reading the packages a commit installs: from the cache, else the first repository
//! that has them, a few ahead of the one being written (`READ_AHEAD`), each checked
//! against its identity and signature before anything of it is used.

use super::*;

/// How many packages may be read ahead of the one being written.
pub(super) const READ_AHEAD: usize = 2;

/// Packages installing more than this are not unpacked into memory ahead of time but
/// streamed while written (with 1 MiB, `--initdb add alpine-base` peaks at 21 MiB
/// instead of 26, and runs no slower: side-by-side, session 7).
pub(super) const READ_AHEAD_LIMIT: u64 = 1 << 20;

/// A package whose file is never read: only its record lands. apk-tools reads no file
/// for a package installing nothing (installed size 0: virtual packages of `add -t`,
/// empty meta packages), so it runs none of its scripts either.
pub(super) fn is_virtual(pool: &Pool, id: PkgId) -> bool {
    let pkg = pool.pkg(id);
    pool.installed_size(id) == 0
        || (pkg.repos == RepoId::CACHED.bit() && pool.checksum(id).is_none())
}

/// True for the changes that install a package file.
pub(super) fn needs_file(pool: &Pool, c: &Change) -> bool {
    match (c.old, c.new) {
        (Some(o), Some(n)) if o == n && !c.reinstall => false,
        // "[APK unavailable, skipped] Reinstalling": nothing to read it from.
        (Some(o), Some(n)) if o == n && !pool.pkg_available(n) => false,
        (_, Some(n)) => !is_virtual(pool, n),
        _ => false,
    }
}

/// A package read and checked ahead of being written.
pub(super) struct Prepared {
    pub(super) bytes: Vec<u8>,
    pub(super) downloaded: bool,
    pub(super) package: Package,
    /// Every entry with its contents, all verified (paths, checksums, `datahash`);
    /// `None` for a big package, streamed (and verified) while written.
    pub(super) entries: Option<Vec<(EntryHeader, Vec<u8>)>>,
}

/// Fetches a package, checks its signature and that it is the one the index
/// describes, and unpacks it into memory unless it is big.
pub(super) fn prepare(job: &FetchJob, opts: &Options) -> std::result::Result<Prepared, String> {
    let nv = &job.nv;
    let (bytes, downloaded) = job.fetch(&opts.fetcher).map_err(|e| e.to_string())?;
    let package = Package::parse(&bytes, nv).map_err(|e| e.reason())?;
    if let Some(keys) = &opts.keys {
        package
            .verify_signature(&bytes, keys, nv)
            .map_err(|e| e.reason())?;
    }
    if let Some(want) = job.checksum {
        if package.info().checksum.is_some() && !package.has_identity(&want) {
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

/// A package's file name in the cache: `name-version.<hash>.apk`, the hash from its
/// identity; `None` for packages without one.
pub fn cache_file_name(pool: &Pool, id: PkgId) -> Option<String> {
    pool.cache_file_name(id)
}

/// Where repository `repo` (an index into `pool.repos`) keeps `id`'s file: by the
/// index's `pkgname-spec`, else apk-tools' default; `${arch}` is the package's own
/// architecture (`default_arch` for a package without one).
pub fn package_url(
    pool: &Pool,
    repo: usize,
    id: PkgId,
    default_arch: &str,
) -> std::result::Result<String, apk_format::pkgname::SpecError> {
    let r = &pool.repos[repo];
    let pkg = pool.pkg(id);
    let info = pool.info(id);
    let checksum = pool.checksum(id);
    let vars = apk_format::pkgname::PkgVars {
        name: pool.name(pkg.name),
        version: pool.pkg_version(pkg),
        arch: info.arch.as_deref().unwrap_or(default_arch),
        hash: checksum.as_ref().map_or(&[][..], |c| c.bytes()),
    };
    Repository::from_url(&r.url, None).package_url(r.pkgname_spec.as_deref(), &vars)
}

/// Where a package file can be read from, worked out from the pool (which stays on
/// the thread that owns it) for the thread that reads ahead.
pub(super) struct FetchJob {
    pub(super) id: PkgId,
    pub(super) nv: String,
    pub(super) checksum: Option<Checksum>,
    pub(super) cache_file: Option<PathBuf>,
    pub(super) urls: Vec<String>,
    /// A file named on the command line: cached as apk-tools caches it.
    pub(super) from_command_line: bool,
}

impl FetchJob {
    pub(super) fn new(pool: &Pool, id: PkgId, opts: &Options) -> FetchJob {
        let pkg = pool.pkg(id);
        let urls = pool
            .repos
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| {
                *i < 64 && pkg.repos & (1 << i) != 0 && pool.available_repos & (1 << i) != 0
            })
            .filter_map(|(i, _)| package_url(pool, i, id, &opts.arch).ok())
            .collect();
        let from_command_line = opts.local_files.contains_key(&id);
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
            from_command_line,
        }
    }

    /// Reads the file: from the cache, else from the first repository that has it.
    /// The flag tells whether it belongs in the cache, as apk-tools decides: it came
    /// from a remote repository (`test:` ones included) or the command line.
    pub(super) fn fetch(
        &self,
        fetcher: &crate::repo::fetch::Fetcher,
    ) -> std::result::Result<(Vec<u8>, bool), FetchError> {
        if let Some(b) = self.cache_file.as_ref().and_then(|c| fs::read(c).ok()) {
            return Ok((b, false));
        }
        let mut last_err = FetchError::NoRepository;
        for url in &self.urls {
            match fetcher.get(url, crate::repo::fetch::PACKAGE_LIMIT) {
                Ok(b) => {
                    let remote = crate::repo::fetch::is_network(url) || url.starts_with("test:");
                    return Ok((b, remote || self.from_command_line));
                }
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
