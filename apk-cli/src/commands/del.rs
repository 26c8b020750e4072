//! `apk del`: removes names from the world (with `-r`, also what depends on them) and
//! removes what is no longer needed; tells which named packages stay and why.

use std::collections::HashSet;

use apk_core::db::Database;
use apk_core::pool::{DepMatch, NameId, PkgId, Pool};
use apk_core::solver::{self, report, Request};

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also delete the installed packages that depend on the named ones
    #[arg(short = 'r', long = "rdepends")]
    rdepends: bool,
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

/// The installed package of exactly this name.
fn installed_pkg(pool: &Pool, name: NameId) -> Option<PkgId> {
    pool.providers(name)
        .iter()
        .map(|p| p.pkg)
        .find(|&p| pool.pkg(p).name == name && pool.pkg(p).installed().is_some())
}

/// Drops the package's name from the world and marks it for removal (so that another
/// provider is preferred over keeping it); with `-r` the same for its dependents, and
/// the names it provides leave the world too.
fn delete_pkg(pool: &Pool, pkg: PkgId, recursive: bool, req: &mut Request) {
    let name = pool.pkg(pkg).name;
    req.world.retain(|d| d.name != name);
    req.name_flags
        .push((name, solver::flags::REMOVE, solver::flags::NONE));
    if !recursive {
        return;
    }
    // With -r the names it provides leave the world too (`so:libssl.so.3` for
    // libssl3), as apk-tools drops them.
    for d in pool.pkg_deps(pool.pkg(pkg)).provides {
        req.world.retain(|w| w.name != d.name);
    }
    let dependents =
        report::reverse_dependents(pool, pkg, true, |_, _, m| m == DepMatch::Satisfies);
    for (p0, _, _) in dependents {
        if !req
            .name_flags
            .iter()
            .any(|(n, _, _)| *n == pool.pkg(p0).name)
        {
            delete_pkg(pool, p0, recursive, req);
        }
    }
}

/// Explains, for each named package that stays installed, what still needs it.
fn not_deleted(
    db: &Database,
    names: &[NameId],
    marked: &[bool],
    in_world: &HashSet<NameId>,
) -> String {
    let pool = &db.pool;
    let mut out = String::new();
    let mut sorted = names.to_vec();
    sorted.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    sorted.dedup();
    for name in sorted {
        let mut line: Option<String> = None;
        let mut visited = HashSet::new();
        // Only a name that was installed can fail to be removed.
        if installed_pkg(pool, name).is_none() {
            continue;
        }
        for p in pool.providers(name) {
            if marked[p.pkg.index()] {
                explain(pool, p.pkg, name, marked, in_world, &mut visited, &mut line);
            }
        }
        if let Some(l) = line {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

fn explain(
    pool: &Pool,
    pkg: PkgId,
    name: NameId,
    marked: &[bool],
    in_world: &HashSet<NameId>,
    visited: &mut HashSet<PkgId>,
    line: &mut Option<String>,
) {
    let l = line.get_or_insert_with(|| format!("  {}:", pool.name(name)));
    let p = pool.pkg(pkg);
    if in_world.contains(&p.name) {
        l.push(' ');
        l.push_str(pool.name(p.name));
    }
    for d in pool.pkg_deps(p).provides {
        if in_world.contains(&d.name) {
            l.push(' ');
            l.push_str(pool.name(d.name));
        }
    }
    let dependents: Vec<PkgId> = report::reverse_dependents(pool, pkg, false, |p0, _, m| {
        marked[p0.index()] && m == DepMatch::Satisfies
    })
    .into_iter()
    .map(|(p0, _, _)| p0)
    .collect();
    let mut seen_here = HashSet::new();
    for p0 in dependents {
        if seen_here.insert(p0) && visited.insert(p0) {
            explain(pool, p0, name, marked, in_world, visited, line);
        }
    }
    for d in pool.pkg_deps(p).install_if {
        for pr in pool.providers(d.name) {
            if marked[pr.pkg.index()] && visited.insert(pr.pkg) {
                explain(pool, pr.pkg, name, marked, in_world, visited, line);
            }
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(mut db) = ctx.open_db_for_commit(false) else {
        return 1;
    };
    let mut req = Request {
        world: db.world_deps(),
        force_broken_world: ctx.opts.force_broken_world,
        ..Default::default()
    };
    let mut named = Vec::new();
    let mut errors = 0;
    for n in &args.names {
        let Some(name) = db.pool.find_name(n) else {
            context::error(format!("No such package: {n}"));
            errors += 1;
            continue;
        };
        named.push(name);
        match installed_pkg(&db.pool, name) {
            Some(pkg) => delete_pkg(&db.pool, pkg, args.rdepends, &mut req),
            None => req.world.retain(|d| d.name != name),
        }
    }
    if errors > 0 {
        return errors;
    }
    let cs = solver::solve(&db.pool, &mut req);
    if cs.errors > 0 {
        solution::print_errors(&db, &cs, &req.world);
        return cs.errors;
    }
    // What the root holds after the change: the installed packages the changeset keeps,
    // and the ones it brings.
    let mut marked = vec![false; db.pool.packages.len()];
    for (id, p) in db.pool.packages.iter().enumerate() {
        marked[id] = p.installed().is_some();
    }
    for c in &cs.changes {
        if let Some(o) = c.old {
            marked[o.index()] = false;
        }
    }
    for c in &cs.changes {
        if let Some(n) = c.new {
            marked[n.index()] = true;
        }
    }
    let in_world: HashSet<NameId> = req.world.iter().map(|d| d.name).collect();
    let explanation = not_deleted(&db, &named, &marked, &in_world);
    if !explanation.is_empty() {
        crate::output::out("World updated, but the following packages are not removed due to:");
        for line in explanation.lines() {
            crate::output::out(line);
        }
        println!();
    }
    solution::apply(ctx, &db, &cs, &req.world)
}
