//! `apk cache clean|download|sync`: keeps the package cache (`etc/apk/cache`) holding
//! exactly the packages the world needs.

use std::collections::BTreeSet;

use apk_core::commit::{cache_file_name, fetch_package};
use std::path::Path;

use apk_core::pool::PkgId;
use apk_core::solver::{self, flags, Request};

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// With dependencies given: cache the world's packages too
    #[arg(long)]
    add_dependencies: bool,
    /// Only packages still available from a repository
    #[arg(short = 'a', long)]
    available: bool,
    /// Cache packages even when they conflict
    #[arg(long)]
    ignore_conflict: bool,
    /// Prefer the latest versions
    #[arg(short = 'l', long)]
    latest: bool,
    /// Cache the upgrades of installed packages rather than the installed versions
    #[arg(short = 'u', long)]
    upgrade: bool,
    #[arg(value_parser = ["clean", "download", "sync", "purge"])]
    action: String,
    /// `download`/`sync`: the dependencies to cache (default: the world's)
    #[arg(value_name = "DEPENDENCY")]
    deps: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    // As apk-tools 3: the folder apk opened as its cache is cleaned even when packages
    // are not cached there (no `etc/apk/cache`: `var/cache/apk`, where indexes are
    // kept), but packages are downloaded only into an active package cache; without a
    // cache (`--no-cache`) there is nothing to do. Either way the applet succeeds.
    let active = ctx.package_cache_dir();
    let opened = active.clone().or_else(|| {
        let d = ctx.root.join(STATIC_CACHE);
        (!ctx.opts.no_cache && d.is_dir()).then_some(d)
    });
    let clean_it = args.action != "download";
    let download = matches!(args.action.as_str(), "download" | "sync") && active.is_some();
    if opened.is_none() || !(clean_it || download) {
        return 0;
    }
    let Some(mut db) = ctx.open_db_or_report() else {
        return 1;
    };
    let mut errors = 0;
    // Cleaning first (`purge` takes every package), then downloading. Besides the
    // cache, the static cache folder is looked at when the cache is elsewhere.
    if clean_it {
        let purge = args.action == "purge";
        let stat = |d: &Path| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(d).ok().map(|m| (m.dev(), m.ino()))
        };
        let static_dir = ctx.root.join(STATIC_CACHE);
        if let Some(dir) = &opened {
            if stat(&static_dir).is_some() && stat(&static_dir) != stat(dir) {
                clean(ctx, &db, &static_dir, purge);
            }
            clean(ctx, &db, dir, purge);
        }
    }
    let Some(cache_dir) = active.filter(|_| download) else {
        return errors;
    };
    // As apk-tools: the world's dependencies unless others are given (then with
    // --add-dependencies only), and those given.
    let mut world = if args.deps.is_empty() || args.add_dependencies {
        db.world_deps()
    } else {
        Vec::new()
    };
    for d in &args.deps {
        match apk_format::dep::Dependency::parse(d) {
            Ok(dep) => world.push(db.pool.intern_dep(&dep)),
            Err(_) => {
                context::error(format!("bad dependency: {d}"));
                return 99;
            }
        }
    }
    let mut req = Request {
        world,
        flags: flags::UPGRADE.when(args.upgrade)
            | flags::LATEST.when(args.latest)
            | flags::AVAILABLE.when(args.available)
            | flags::IGNORE_CONFLICT.when(args.ignore_conflict),
        ..Default::default()
    };
    let cs = solver::solve(&db.pool, &mut req);
    if cs.errors > 0 {
        solution::print_errors(&db, &cs, &req.world);
        return cs.errors;
    }
    // The packages installed once the world is satisfied, in the solver's order.
    let removed: BTreeSet<PkgId> = cs.changes.iter().filter_map(|c| c.old).collect();
    let mut wanted: Vec<PkgId> = cs.changes.iter().filter_map(|c| c.new).collect();
    for &p in &db.pool.installed {
        if !removed.contains(&p) && !wanted.contains(&p) {
            wanted.push(p);
        }
    }
    let opts = match ctx.commit_options(&db) {
        Ok(o) => o,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    if precache(ctx, &db, &cache_dir, &wanted, &opts).is_err() {
        // apk-tools gives up on the applet (its exit status 99).
        errors = 99;
    }
    errors
}

/// Where apk keeps indexes, and packages too when no other cache is configured.
const STATIC_CACHE: &str = "var/cache/apk";

/// Downloads `pkgs` into the cache before anything is changed, as apk-tools does
/// for `--cache-predownload`: `Downloading N packages...`, then each one numbered.
/// Packages already cached, in a local repository, empty or in no usable repository
/// are left out. Returns how many were downloaded, or `Err` after reporting failures.
pub fn precache(
    ctx: &Context,
    db: &apk_core::db::Database,
    cache_dir: &std::path::Path,
    pkgs: &[PkgId],
    opts: &apk_core::commit::Options,
) -> Result<u32, u32> {
    let pool = &db.pool;
    let todo: Vec<PkgId> = pkgs
        .iter()
        .copied()
        .filter(|&id| {
            let p = pool.pkg(id);
            !p.cached
                && !cache_file_name(pool, id).is_some_and(|f| cache_dir.join(f).exists())
                && !in_local_repo(pool, id)
                && !p.has_no_size()
                && p.repos & pool.available_repos & !1 != 0
        })
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    let v = ctx.verbosity > 0;
    if v {
        println!("Downloading {} packages...", todo.len());
    }
    let width = todo.len().to_string().len();
    let mut errors = 0;
    for (i, &id) in todo.iter().enumerate() {
        if v {
            println!(
                "({:>width$}/{}) Downloading {}",
                i + 1,
                todo.len(),
                pool.nv(id)
            );
        }
        let Some(file) = cache_file_name(pool, id) else {
            continue;
        };
        let dest = cache_dir.join(&file);
        let fetched = fetch_package(pool, id, opts)
            .map_err(|e| e.to_string())
            .and_then(|(bytes, _)| {
                apk_core::fs::atomic::write_atomically(&dest, &bytes).map_err(|e| e.to_string())
            });
        if let Err(e) = fetched {
            context::error(format!("{}: {e}", pool.nv(id)));
            errors += 1;
        }
    }
    if errors > 0 {
        Err(errors)
    } else {
        Ok(todo.len() as u32)
    }
}

/// `clean` (and `purge`): as apk-tools cleans the cache, every entry but `installed`
/// is looked at. A known package stays unless it is in a local repository or neither
/// installed nor available (`purge`: unless installed on a root in memory); an index
/// stays if a configured repository's cached index has its name; anything else goes.
fn clean(ctx: &Context, db: &apk_core::db::Database, cache_dir: &Path, purge: bool) {
    let pool = &db.pool;
    let arch = pool.arches.first().map(String::as_str).unwrap_or("");
    let indexes: BTreeSet<String> = pool
        .repos
        .iter()
        .skip(1)
        .filter_map(|repo| {
            let url = apk_core::repo::Repository::from_url(&repo.url, None).index_url(arch);
            let index = apk_core::db::cached_index_path(&ctx.root, &url);
            Some(index.file_name()?.to_string_lossy().into_owned())
        })
        .collect();
    let names: Vec<(String, u64)> = std::fs::read_dir(cache_dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let size = e.metadata().ok()?.len();
                    Some((e.file_name().to_string_lossy().into_owned(), size))
                })
                .collect()
        })
        .unwrap_or_default();
    // In directory order, as apk-tools walks it.
    let permanent = !ctx.opts.root_tmpfs;
    for (name, size) in names {
        // apk-rs's own snapshot of the database (README) stays too.
        if name == "installed" || name == "apk-rs.snapshot" {
            continue;
        }
        let keep = match pool.cached_package(&name, size) {
            Some(id) => {
                let installed = pool.pkg(id).installed().is_some();
                let available = pool.pkg(id).repos & pool.available_repos & !1 != 0;
                !(purge && (permanent || !installed))
                    && !in_local_repo(pool, id)
                    && (installed || available)
            }
            None => indexes.contains(&name),
        };
        if keep {
            continue;
        }
        if ctx.verbosity > 1 {
            println!("deleting {name}");
        }
        if ctx.opts.simulate {
            continue;
        }
        // What cannot be removed stays, unreported, as with apk-tools.
        let path = cache_dir.join(&name);
        if std::fs::remove_file(&path).is_err() && path.is_dir() {
            let _ = std::fs::remove_dir(&path);
        }
    }
}

/// Whether a repository on this machine (a folder, `file://`) has the package.
fn in_local_repo(pool: &apk_core::pool::Pool, id: apk_core::pool::PkgId) -> bool {
    let repos = pool.pkg(id).repos;
    pool.repos
        .iter()
        .enumerate()
        .skip(1)
        .any(|(i, r)| i < 64 && repos & (1 << i) != 0 && !r.remote)
}
