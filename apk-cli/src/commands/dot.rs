//! `apk dot`: the dependency graph of packages in Graphviz format.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_core::pool::{NameId, PkgId, Pool};

use crate::context::Context;
use crate::query::legacy::{legacy_spec, sort_pkgs};
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
    let spec = match legacy_spec("dot", &args.query, args.filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(db) = ctx.open_db_from(spec.from) else {
        return 1;
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
    let mut pkgs = Vec::new();
    if args.names.is_empty() {
        pkgs.extend(pool.installed.iter().copied());
    }
    for n in &args.names {
        let Some(name) = pool.find_name(n) else {
            continue;
        };
        pkgs.extend(pool.providers(name).iter().map(|p| p.pkg));
    }
    sort_pkgs(pool, &mut pkgs);
    for p in pkgs {
        dot.dump(p);
    }
    if !dot.started {
        return 1;
    }
    println!("{}}}", dot.out);
    0
}
