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
    let Some(cache_dir) = ctx.package_cache_dir() else {
        context::error("Package cache is not enabled.");
        return 1;
    };
    let Some(mut db) = ctx.open_db_or_report() else {
        return 1;
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
    let mut errors = 0;
    // As apk-tools: cleaning first (`purge` takes every package), then downloading.
    if args.action != "download" {
        errors += clean(ctx, &db, &cache_dir, args.action == "purge");
    }
    if matches!(args.action.as_str(), "download" | "sync") {
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
    }
    errors
}

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

/// Whether a repository on this machine (a folder, `file://`) has the package.
/// `clean` (and `purge`): as apk-tools cleans the cache, every entry but `installed`
/// is looked at. A known package stays unless it is in a local repository or neither
/// installed nor available (`purge`: unless installed on a root in memory); an index
/// stays if a configured repository's cached index has its name; anything else goes.
fn clean(ctx: &Context, db: &apk_core::db::Database, cache_dir: &Path, purge: bool) -> u32 {
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
    let mut errors = 0;
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
        let path = cache_dir.join(&name);
        let removed = std::fs::remove_file(&path).or_else(|e| match path.is_dir() {
            true => std::fs::remove_dir(&path),
            false => Err(e),
        });
        if let Err(e) = removed {
            context::error(format!("{name}: {e}"));
            errors += 1;
        }
    }
    errors
}

fn in_local_repo(pool: &apk_core::pool::Pool, id: apk_core::pool::PkgId) -> bool {
    let repos = pool.pkg(id).repos;
    pool.repos
        .iter()
        .enumerate()
        .skip(1)
        .any(|(i, r)| i < 64 && repos & (1 << i) != 0 && !r.remote)
}
