//! `apk upgrade`: upgrades the installed packages (or the named ones), after a
//! pre-upgrade of apk itself and the `--preupgrade-depends` when asked for.

use apk_core::db::Database;
use apk_core::pool::{Dep, PkgId};
use apk_core::solver::{self, flags, Request};
use apk_format::dep::Dependency;

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also replace packages that are no longer in any repository by available ones
    #[arg(short = 'a', long)]
    available: bool,
    /// Keep the named packages at their installed versions
    #[arg(long)]
    ignore: bool,
    /// Prefer the latest versions
    #[arg(short = 'l', long)]
    latest: bool,
    /// Do not upgrade apk first
    #[arg(long, alias = "no-preupgrade", overrides_with = "self_upgrade")]
    no_self_upgrade: bool,
    /// Upgrade apk first (the default)
    #[arg(long, alias = "preupgrade", overrides_with = "no_self_upgrade")]
    self_upgrade: bool,
    /// Drop world entries no repository provides
    #[arg(long)]
    prune: bool,
    /// Only do the pre-upgrade (apk and --preupgrade-depends)
    #[arg(long, alias = "preupgrade-only")]
    self_upgrade_only: bool,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

/// The installed package owning `path` (`proc/self/exe` finds apk itself).
fn owner_of(db: &Database, path: &str) -> Option<PkgId> {
    let (dir, file) = path.rsplit_once('/')?;
    db.pool.installed.iter().copied().find(|&p| {
        db.installed_files
            .get(&p)
            .is_some_and(|files| files.iter().any(|(d, f)| d == dir && f == file))
    })
}

/// Runs the pre-upgrade; `Some(status)` when the applet should stop there.
fn preupgrade(
    ctx: &Context,
    db: &mut Database,
    fl: solver::SolverFlags,
    only: bool,
) -> Option<u32> {
    let mut deps: Vec<Dep> = Vec::new();
    if let Some(p) = owner_of(db, "proc/self/exe") {
        let name = db.pool.pkg(p).name;
        solution::world_add(&mut deps, Dep::any(name));
    }
    for spec in &ctx.opts.preupgrade_depends {
        let mut warn = false;
        for word in spec.split_ascii_whitespace() {
            match Dependency::parse(word) {
                Ok(d) => {
                    let d = db.pool.intern_dep(&d);
                    solution::world_add(&mut deps, d);
                }
                Err(_) => warn = true,
            }
        }
        if warn {
            crate::output::warning(format!(
                "Ignored invalid preupgrade dependencies from: {spec}"
            ));
        }
    }
    let pool = &db.pool;
    let mut name_flags = Vec::new();
    for d in &deps {
        let installed = pool
            .providers(d.name)
            .iter()
            .map(|p| p.pkg)
            .find(|&p| pool.pkg(p).name == d.name && pool.pkg(p).installed().is_some());
        let Some(inst) = installed else { continue };
        let materialized =
            !d.conflict && pool.dep_is_provided(d, Some(apk_core::pool::Provider::new(inst, None)));
        if !materialized {
            continue;
        }
        let newer = pool.providers(d.name).iter().any(|p| {
            let p0 = pool.pkg(p.pkg);
            p0.name == d.name
                && p0.repos != 0
                && apk_format::version::compare(pool.pkg_version(p0), pool.version(inst))
                    == std::cmp::Ordering::Greater
        });
        if newer {
            name_flags.push((d.name, fl, flags::NONE));
        }
    }
    if name_flags.is_empty() {
        return only.then_some(0);
    }
    let mut req = Request {
        world: db.world_deps(),
        name_flags,
        preupgrade: true,
        ..Default::default()
    };
    let cs = solver::solve(&db.pool, &mut req);
    if cs.errors > 0 {
        crate::output::warning(
            "Failed to perform initial preupgrade, continuing with a full upgrade.",
        );
        return only.then_some(0);
    }
    if cs.changes.is_empty() {
        return only.then_some(0);
    }
    if !only && ctx.opts.simulate {
        crate::output::warning("This simulation might not reliable as a preupgrade is available.");
        return None;
    }
    if ctx.verbosity > 0 {
        println!("Preupgrading:");
    }
    let errors = solution::apply(ctx, db, &cs, &req.world);
    if errors > 0 || only {
        return Some(errors);
    }
    // The full upgrade is solved against the root as the preupgrade left it.
    match ctx.open_db_or_report() {
        Some(fresh) => {
            *db = std::mem::ManuallyDrop::into_inner(fresh);
            None
        }
        None => Some(1),
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(mut db) = ctx.open_db_for_commit(true) else {
        return 1;
    };
    let world = db.world_deps();
    if !solution::world_tags_exist(ctx, &db, &world, "continuing with upgrade") {
        return 99;
    }
    let mut fl =
        flags::UPGRADE | flags::AVAILABLE.when(args.available) | flags::LATEST.when(args.latest);
    let root_set = ctx.opts.root.is_some();
    if (args.self_upgrade_only || !root_set) && !args.no_self_upgrade && args.names.is_empty() {
        if let Some(status) = preupgrade(ctx, &mut db, fl, args.self_upgrade_only) {
            return status;
        }
    }
    if args.self_upgrade_only {
        return 0;
    }
    let mut world = db.world_deps();
    if args.available {
        for d in &mut world {
            if d.op.is_checksum() {
                *d = d.without_version();
            }
        }
    }
    if args.prune {
        let pool = &db.pool;
        world.retain(|d| {
            pool.providers(d.name)
                .iter()
                .any(|p| pool.pkg_available(p.pkg))
        });
    }
    let mut req = Request::default();
    if !args.names.is_empty() {
        if !args.ignore {
            fl.remove(flags::UPGRADE);
        }
        let mut errors = 0;
        for n in &args.names {
            match db.pool.find_name(n) {
                Some(name) => {
                    let f = if args.ignore {
                        flags::INSTALLED
                    } else {
                        flags::UPGRADE
                    };
                    req.name_flags.push((name, f, flags::NONE));
                }
                None => {
                    context::error(format!("Package '{n}' not found"));
                    errors += 1;
                }
            }
        }
        if errors > 0 {
            return errors;
        }
    }
    req.world = world;
    req.flags = fl;
    solution::solve_and_commit(ctx, &db, &mut req)
}
