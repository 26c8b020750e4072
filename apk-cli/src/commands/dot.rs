//! `apk dot`: the dependency graph of packages in Graphviz format.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_core::pool::{NameId, PkgId, Pool};

use crate::context::Context;
use crate::query::legacy::legacy_spec;
use crate::query::{QueryFilters, QueryOpts, QueryRecursion};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only show the parts of the graph that have errors
    #[arg(long)]
    errors: bool,
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    filters: QueryFilters,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

struct Dot<'a> {
    pool: &'a Pool,
    state: Vec<i32>,
    out: String,
    started: bool,
    errors_only: bool,
    installed_only: bool,
    error_names: BTreeSet<NameId>,
}

const EVALUATED: i32 = -1;
const EVALUATING: i32 = -2;

impl Dot<'_> {
    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.out
                .push_str("digraph \"apkindex\" {\n  rankdir=LR;\n  node [shape=box];\n");
        }
    }

    fn error_name(&mut self, name: NameId) {
        if !self.error_names.insert(name) {
            return;
        }
        self.start();
        let _ = writeln!(
            self.out,
            "  \"{}\" [style=dashed, color=red, fontcolor=red, shape=octagon];",
            self.pool.name(name)
        );
    }

    fn dump(&mut self, pkg: PkgId) -> i32 {
        let st = self.state[pkg.index()];
        if st == EVALUATED {
            return 0;
        }
        if st <= EVALUATING {
            self.state[pkg.index()] -= 1;
            return 1;
        }
        self.state[pkg.index()] = EVALUATING;
        let pool = self.pool;
        let mut ret = 0;
        for d in pool.depends(pkg) {
            if d.conflict {
                continue;
            }
            let provs = pool.providers(d.name);
            if provs.is_empty() {
                self.error_name(d.name);
                let _ = writeln!(
                    self.out,
                    "  \"{}\" -> \"{}\" [color=red];",
                    pool.nv(pkg),
                    pool.name(d.name)
                );
                continue;
            }
            for &p0 in provs {
                if self.installed_only && pool.pkg(p0.pkg).installed().is_none() {
                    continue;
                }
                if !pool.dep_is_provided(d, Some(p0)) {
                    continue;
                }
                let r = self.dump(p0.pkg);
                ret += r;
                if r != 0 || !self.errors_only {
                    self.start();
                    let _ = write!(
                        self.out,
                        "  \"{}\" -> \"{}\"[",
                        pool.nv(pkg),
                        pool.nv(p0.pkg)
                    );
                    if r != 0 {
                        self.out.push_str("color=red,");
                    }
                    if pool.pkg(p0.pkg).name != d.name {
                        let _ = write!(self.out, "arrowhead=inv,label=\"{}\",", pool.name(d.name));
                    }
                    self.out.push_str("];\n");
                }
            }
        }
        ret -= EVALUATING - self.state[pkg.index()];
        self.state[pkg.index()] = EVALUATED;
        ret
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let from_given = args.query.from.is_some() || args.filters.installed;
    let spec = match legacy_spec("dot", &args.query, args.filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(mut db) = ctx.open_db_stateless(from_given, spec.from) else {
        return 1;
    };
    let solved = match crate::query::engine::recursive_matches(&mut db, &spec, &args.names) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pool = &db.pool;
    let mut dot = Dot {
        pool,
        state: vec![0; pool.packages.len()],
        out: String::new(),
        started: false,
        errors_only: args.errors,
        installed_only: spec.installed,
        error_names: BTreeSet::new(),
    };
    if let Some(solved) = &solved {
        for &p in solved {
            dot.dump(p);
        }
    } else if args.names.is_empty() {
        // As apk-tools: every name in its hash table's order, each name's own packages
        // in provider order (only the installed ones with --installed).
        for name in pool.names_in_hash_order() {
            for p in pool.providers(name) {
                let own = pool.pkg(p.pkg).name == name;
                if own && (!spec.installed || pool.pkg(p.pkg).installed().is_some()) {
                    dot.dump(p.pkg);
                }
            }
        }
    }
    // With names: as apk-tools matches each argument (on the name, or on what a
    // package provides), walking every name in hash order and dumping the best of
    // each name's matching packages (the installed one, else the newest).
    for arg in args.names.iter().filter(|_| solved.is_none()) {
        let wildcard = arg.contains(['*', '?']);
        let dep = match apk_format::dep::Dependency::parse(arg) {
            Ok(d) if !wildcard => d,
            _ => apk_format::dep::Dependency::any(arg),
        };
        // A name is compared with the argument as given (so `zlib<2` names none), a
        // provided name with the argument's name, its version checked.
        let matches = |text: &str, whole: bool| match wildcard {
            true => crate::query::engine::wildcard_match(arg, text),
            false => {
                text == if whole {
                    arg.as_str()
                } else {
                    dep.name.as_str()
                }
            }
        };
        for name in pool.names_in_hash_order() {
            let name_match = matches(pool.name(name), true);
            let mut best: Option<apk_core::pool::PkgId> = None;
            for p in pool.providers(name) {
                let pkg = pool.pkg(p.pkg);
                if pkg.name != name || (spec.installed && pkg.installed().is_none()) {
                    continue;
                }
                let by_name = name_match && dep.version_matches(pool.pkg_version(pkg), None);
                let by_provides = !by_name
                    && pool.pkg_deps(pkg).provides.iter().any(|d| {
                        matches(pool.name(d.name), false)
                            && (dep.op.is_any()
                                || pool
                                    .dep_version(d)
                                    .is_some_and(|v| dep.op.matches(&dep.version, v)))
                    });
                if !(by_name || by_provides) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some(b) => {
                        pkg.installed().is_some()
                            || apk_format::version::compare(
                                pool.pkg_version(pkg),
                                pool.pkg_version(pool.pkg(b)),
                            ) == std::cmp::Ordering::Greater
                    }
                };
                if better {
                    best = Some(p.pkg);
                }
            }
            if let Some(b) = best {
                dot.dump(b);
            }
        }
    }
    if !dot.started {
        return 1;
    }
    println!("{}}}", dot.out);
    0
}
