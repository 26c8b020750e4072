//! `apk search`: packages whose names (or, with `-d`, descriptions) match, as
//! apk-tools 3 lists them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_core::pool::{DepMatch, PkgId};
use apk_core::solver::report;

use crate::context::Context;
use crate::query::{Field, Fields, QueryFilters, QueryOpts, QueryRecursion};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all versions, not only the best of each name
    #[arg(short = 'a', long)]
    all: bool,
    /// Search descriptions too
    #[arg(short = 'd', long)]
    description: bool,
    /// Match names exactly
    #[arg(short = 'e', short_alias = 'x', long)]
    exact: bool,
    /// Packages whose origin is the query
    #[arg(long)]
    has_origin: bool,
    /// Print the origin instead of the package name
    #[arg(short = 'o', long)]
    origin: bool,
    /// Print the packages that depend on each match
    #[arg(short = 'r', long)]
    rdepends: bool,
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    filters: QueryFilters,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(value_name = "PATTERN")]
    patterns: Vec<String>,
}

/// `apk search`: apk-tools 3's query engine in search mode (substrings, names and
/// provided names; `-e` exact, `-d` descriptions too, `--has-origin`), each match
/// printed by name (`-o` origin; `-v` version, `-vv` description), or with `-r` the
/// packages that depend on it.
pub fn run(ctx: &Context, args: Args) -> u32 {
    let from_given = args.query.from.is_some() || args.filters.installed;
    let mut spec = match args.query.spec(args.filters, args.recursion) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    spec.search = true;
    spec.empty_matches_all = true;
    if args.all {
        spec.all_matches = true;
    }
    if args.description {
        spec.match_fields = Fields::of(&[Field::Name, Field::Description]);
        spec.search = true;
        spec.all_matches = true;
    }
    if args.exact {
        spec.search = false;
    }
    if args.has_origin {
        spec.match_fields = Fields::of(&[Field::Origin]);
        spec.all_matches = true;
        spec.search = false;
    }
    if args.query.search {
        spec.search = true;
    }
    spec.match_fields = spec.match_fields.with(Field::Name).with(Field::Provides);
    let Some(mut db) = ctx.open_db_stateless(from_given, spec.from) else {
        return 1;
    };
    let solved = match crate::query::engine::solved_for(&mut db, &spec, &args.patterns) {
        Ok(Some(s)) => s,
        Ok(None) => return 1,
        Err(code) => return code,
    };
    let pool = &db.pool;
    let engine = crate::query::engine::Engine::new(&db, &spec, solved);
    let (found, misses) = engine.packages(&args.patterns);
    let v = ctx.verbosity;
    let name_of = |id: PkgId| -> String {
        let p = pool.pkg(id);
        let mut line = match (&pool.info(id).origin, args.origin) {
            (Some(o), true) if !o.is_empty() => o.clone(),
            _ => pool.name(p.name).to_owned(),
        };
        if v > 0 {
            let _ = write!(line, "-{}", pool.pkg_version(p));
        }
        if v > 1 && !args.origin {
            let _ = write!(
                line,
                " - {}",
                pool.info(id).description.as_deref().unwrap_or("")
            );
        }
        line.push('\n');
        line
    };
    let mut out = String::new();
    for id in found {
        if args.rdepends {
            if v > 0 {
                let _ = writeln!(out, "{} is required by:", pool.nv(id));
            }
            let rdeps = report::reverse_dependents(pool, id, false, |_, d, m| {
                m == DepMatch::Satisfies && !d.conflict
            });
            let mut seen = BTreeSet::new();
            for (p0, _, _) in rdeps {
                if seen.insert(p0) {
                    out.push_str(&name_of(p0));
                }
            }
        } else {
            out.push_str(&name_of(id));
        }
    }
    print!("{out}");
    // Exact queries that matched nothing count, as apk-tools returns them.
    misses
}
