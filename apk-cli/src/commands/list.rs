//! `apk list`: packages by state (`-I -a -u -o -O -P`), one line each as apk-tools 3
//! prints them.

use std::fmt::Write as _;

use apk_core::pool::{NameId, PkgId, Pool};

use crate::context::Context;
use crate::query::legacy::{glob_match, legacy_spec, sort_pkgs};
use crate::query::{QueryFilters, QueryOpts, QueryRecursion};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'I', long)]
    installed: bool,
    #[arg(short = 'a', long)]
    available: bool,
    #[arg(short = 'u', long, alias = "upgradeable")]
    upgradable: bool,
    #[arg(short = 'o', long)]
    origin: bool,
    #[arg(short = 'O', long)]
    orphaned: bool,
    #[arg(short = 'P', long)]
    providers: bool,
    #[arg(short = 'd', long)]
    depends: bool,
    /// Installed packages as `name version` lines
    #[arg(long)]
    manifest: bool,
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(value_name = "PATTERN")]
    patterns: Vec<String>,
}

fn upgradable_from(pool: &Pool, pkg: PkgId) -> Option<PkgId> {
    let p = pool.pkg(pkg);
    let inst = pool
        .providers(p.name)
        .iter()
        .map(|pr| pr.pkg)
        .find(|&q| pool.pkg(q).name == p.name && pool.pkg(q).installed().is_some())?;
    let tag = pool.pkg(inst).installed().unwrap_or_default();
    if p.repos & pool.tags[tag.index()].allowed_repos == 0 {
        return None;
    }
    (apk_format::version::compare(pool.version(inst), pool.pkg_version(p))
        == std::cmp::Ordering::Less)
        .then_some(inst)
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let filters = QueryFilters {
        installed: args.installed || args.manifest,
        available: args.available,
        upgradable: args.upgradable,
        orphaned: args.orphaned,
    };
    let spec = match legacy_spec("list", &args.query, filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(mut db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    let solved = match crate::query::engine::recursive_matches(&mut db, &spec, &args.patterns) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pool = &db.pool;
    let mut names: Vec<NameId> = NameId::all(pool.names.len())
        .filter(|&n| {
            args.origin
                || args.patterns.is_empty()
                || args.patterns.iter().any(|p| glob_match(p, pool.name(n)))
        })
        .collect();
    names.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    let (installed, available, upgradable) = (
        args.installed || args.manifest || args.orphaned,
        args.available || args.upgradable,
        args.upgradable,
    );
    // One package's line (or lines), as apk-tools prints it.
    let print_pkg = |out: &mut String, src: NameId, id: PkgId, up: Option<PkgId>| {
        let p = pool.pkg(id);
        if args.providers {
            let _ = write!(out, "<{}> ", pool.name(src));
        }
        if args.manifest {
            let _ = writeln!(out, "{} {}", pool.name(p.name), pool.pkg_version(p));
            return;
        }
        if ctx.verbosity <= 0 {
            let _ = writeln!(out, "{}", pool.name(p.name));
            return;
        }
        let origin = pool
            .info(id)
            .origin
            .clone()
            .unwrap_or_else(|| pool.name(p.name).to_owned());
        let _ = write!(
            out,
            "{} {} {{{origin}}} ({})",
            pool.nv(id),
            pool.info(id).arch.as_deref().unwrap_or(""),
            pool.info(id).license.as_deref().unwrap_or("")
        );
        if p.installed().is_some() {
            out.push_str(" [installed]");
        } else if let Some(u) = up {
            let _ = write!(out, " [upgradable from: {}]", pool.nv(u));
        }
        if ctx.verbosity > 1 {
            let _ = write!(
                out,
                "\n  {}\n",
                pool.info(id).description.as_deref().unwrap_or("")
            );
        }
        out.push('\n');
    };
    let mut out = String::new();
    // Each package solved, once, under its own name, the filters not applied (as
    // apk-tools lists them).
    if let Some(mut pkgs) = solved {
        pkgs.sort();
        pkgs.dedup();
        sort_pkgs(pool, &mut pkgs);
        for id in pkgs {
            print_pkg(&mut out, pool.pkg(id).name, id, upgradable_from(pool, id));
        }
        print!("{out}");
        return 0;
    }
    // With nothing to match, apk-tools lists every package once under its own name,
    // whatever -d or -P say.
    let match_all = args.patterns.is_empty();
    for name in names {
        let sources: Vec<NameId> = if args.depends && !match_all {
            pool.rdepends(name).to_vec()
        } else {
            vec![name]
        };
        for src in sources {
            let mut provs: Vec<PkgId> = pool
                .providers(src)
                .iter()
                .filter(|p| (args.providers && !match_all) || pool.pkg(p.pkg).name == src)
                .map(|p| p.pkg)
                .collect();
            sort_pkgs(pool, &mut provs);
            for id in provs {
                let p = pool.pkg(id);
                // --origin matches the patterns (wildcards too) against the origin;
                // with none, every package, as apk-tools lists them.
                if args.origin
                    && !match_all
                    && !args.patterns.iter().any(|o| {
                        pool.info(id)
                            .origin
                            .as_deref()
                            .is_some_and(|origin| glob_match(o, origin))
                    })
                {
                    continue;
                }
                if installed && p.installed().is_none() {
                    continue;
                }
                if args.orphaned
                    && pool
                        .providers(p.name)
                        .iter()
                        .any(|q| pool.pkg(q.pkg).repos != 0)
                {
                    continue;
                }
                if available && !pool.pkg_available(id) {
                    continue;
                }
                let up = upgradable_from(pool, id);
                if upgradable && up.is_none() {
                    continue;
                }
                print_pkg(&mut out, src, id, up);
            }
        }
    }
    print!("{out}");
    0
}
