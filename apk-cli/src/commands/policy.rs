//! `apk policy`: the versions of a package available, and from which repositories.

use std::fmt::Write as _;

use apk_core::pool::{NameId, PkgId};

use crate::context::Context;
use crate::query::legacy::{legacy_spec, sort_pkgs};
use crate::query::{QueryFilters, QueryOpts, QueryRecursion};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    filters: QueryFilters,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let spec = match legacy_spec("policy", &args.query, args.filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    let pool = &db.pool;
    let mut names: Vec<NameId> = args
        .names
        .iter()
        .filter_map(|n| pool.find_name(n))
        .collect();
    names.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    names.dedup();
    let mut out = String::new();
    for name in names {
        let mut provs: Vec<PkgId> = pool
            .providers(name)
            .iter()
            .filter(|p| pool.pkg(p.pkg).name == name)
            .map(|p| p.pkg)
            .collect();
        // A name no package has as its own (`so:...`, a virtual) gets no header:
        // apk-tools prints one per name of the packages it lists.
        if provs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} policy:", pool.name(name));
        // Oldest first, as apk-tools 3 sorts providers for display.
        sort_pkgs(pool, &mut provs);
        for id in provs {
            let p = pool.pkg(id);
            let _ = writeln!(out, "  {}:", pool.pkg_version(p));
            if let Some(tag) = p.installed() {
                let t = &pool.tags[tag.index()].name;
                let prefix = if t.is_empty() {
                    String::new()
                } else {
                    format!("@{t} ")
                };
                let _ = writeln!(out, "    {prefix}lib/apk/db/installed");
            }
            // As apk-tools lists them: each repository holding the package, once for
            // every tag that allows any repository holding it.
            let repos = p.repos & !apk_core::pool::RepoId::CACHED.bit();
            for (i, repo) in pool.repos.iter().enumerate().skip(1) {
                if i >= 64 || repos & (1 << i) == 0 {
                    continue;
                }
                for (j, tag) in pool.tags.iter().enumerate() {
                    if tag.allowed_repos & repos == 0 {
                        continue;
                    }
                    let prefix = if j == 0 {
                        String::new()
                    } else {
                        format!("@{} ", tag.name)
                    };
                    let _ = writeln!(out, "    {prefix}{}", repo.url);
                }
            }
        }
    }
    print!("{out}");
    0
}
