//! `apk cache clean|download|sync`: keeps the package cache (`etc/apk/cache`) holding
//! exactly the packages the world needs.

use std::collections::BTreeSet;

use apk_core::commit::{cache_file_name, fetch_package};
use apk_core::pool::PkgId;
use apk_core::solver::{self, flags, Request};

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Prefer the latest versions
    #[arg(short = 'l', long)]
    latest: bool,
    /// Cache the upgrades of installed packages rather than the installed versions
    #[arg(short = 'u', long)]
    upgrade: bool,
    #[arg(value_parser = ["clean", "download", "sync"])]
    action: String,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(cache_dir) = ctx.package_cache_dir() else {
        context::error("Package cache is not enabled.");
        return 1;
    };
    let Some(mut db) = ctx.open_db_or_report() else {
        return 1;
    };
    let mut req = Request {
        world: db.world_deps(),
        flags: (if args.upgrade { flags::UPGRADE } else { 0 })
            | (if args.latest { flags::LATEST } else { 0 }),
        ..Default::default()
    };
    let cs = solver::solve(&db.pool, &mut req);
    if cs.errors > 0 {
        solution::print_errors(&db, &cs, &req.world);
        return cs.errors;
    }
    // The packages installed once the world is satisfied.
    let mut wanted: BTreeSet<PkgId> = db.pool.installed.iter().copied().collect();
    for c in &cs.changes {
        if let Some(o) = c.old {
            wanted.remove(&o);
        }
        if let Some(n) = c.new {
            wanted.insert(n);
        }
    }
    let mut errors = 0;
    if args.action != "clean" {
        let opts = match ctx.commit_options(&db) {
            Ok(o) => o,
            Err(e) => {
                context::error(e);
                return 1;
            }
        };
        for &id in &wanted {
            let Some(file) = cache_file_name(&db.pool, id) else {
                continue;
            };
            let dest = cache_dir.join(&file);
            // Nothing from a local repository is cached, as apk-tools has it.
            if dest.exists() || db.pool.pkg(id).repos & !1 == 0 || in_local_repo(&db.pool, id) {
                continue;
            }
            if ctx.verbosity > 1 {
                println!("Downloading {}", db.pool.nv(id));
            }
            let fetched = fetch_package(&db.pool, id, &opts).and_then(|(bytes, _)| {
                apk_core::file::write_atomically(&dest, &bytes).map_err(|e| e.to_string())
            });
            if let Err(e) = fetched {
                context::error(format!("{}: {e}", db.pool.nv(id)));
                errors += 1;
            }
        }
    }
    if args.action != "download" {
        let mut keep: BTreeSet<String> = wanted
            .iter()
            .chain(db.pool.installed.iter())
            .filter(|&&id| !in_local_repo(&db.pool, id))
            .filter_map(|&id| cache_file_name(&db.pool, id))
            .collect();
        for repo in db.pool.repos.iter().skip(1) {
            let arch = db.pool.arches.first().map(String::as_str).unwrap_or("");
            let url = apk_core::repo::Repository::from_url(&repo.url, None).index_url(arch);
            let index = apk_core::database::cached_index_path(&ctx.root, &url);
            keep.extend(index.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
        let names: Vec<String> = std::fs::read_dir(&cache_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            let ours = name.ends_with(".apk") || name.starts_with("APKINDEX.");
            if !ours || keep.contains(&name) {
                continue;
            }
            if ctx.verbosity > 1 {
                println!("Removing {name}");
            }
            if let Err(e) = std::fs::remove_file(cache_dir.join(&name)) {
                context::error(format!("{name}: {e}"));
                errors += 1;
            }
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
    db: &apk_core::database::Database,
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
        let fetched = fetch_package(pool, id, opts).and_then(|(bytes, _)| {
            apk_core::file::write_atomically(&dest, &bytes).map_err(|e| e.to_string())
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
fn in_local_repo(pool: &apk_core::pool::Pool, id: apk_core::pool::PkgId) -> bool {
    let repos = pool.pkg(id).repos;
    pool.repos
        .iter()
        .enumerate()
        .skip(1)
        .any(|(i, r)| i < 64 && repos & (1 << i) != 0 && !r.remote)
}
