//! `apk query` (and `info --format`/`--fields`/`--no-legacy-info`): packages matched by
//! apk-tools 3's query engine, written in the default layout, JSON or YAML.

use apk_core::db::Database;

use crate::context::Context;
use crate::output::serialize;
use crate::query::engine::{self, Engine};
use crate::query::{Fields, QueryFilters, QueryOpts, QueryRecursion, Spec, STYLE};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub query: QueryOpts,
    #[command(flatten)]
    pub filters: QueryFilters,
    #[command(flatten)]
    pub recursion: QueryRecursion,
    #[arg(value_name = "QUERY")]
    pub args: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let spec = match args.query.spec(args.filters, args.recursion) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    let Some(mut db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    run_spec(&mut db, spec, &args.args)
}

/// Runs a query with `spec` on the open database and prints the answer; the exit
/// status as apk-tools has it (1 when a field asked for could not be given).
pub fn run_spec(db: &mut Database, mut spec: Spec, args: &[String]) -> u32 {
    // A request that does not solve answers nothing, and that is no failure.
    let solved = match engine::solved_for(db, &spec, args) {
        Ok(s) => s.unwrap_or_default(),
        Err(code) => return code,
    };
    if spec.summarize {
        return summarize(db, &spec, args, solved);
    }
    if spec.fields.is_empty() {
        spec.fields = Fields::default_pkg();
    }
    let e = Engine::new(db, &spec, solved);
    let (pkgs, _misses) = e.packages(args);
    let mut ser = serialize::writer(spec.format, STYLE);
    let mut partial = false;
    ser.start_array(Some(pkgs.len()));
    for p in pkgs {
        ser.start_object();
        partial |= e.serialize(ser.as_mut(), p, spec.fields);
        ser.end();
    }
    ser.end();
    print!("{}", ser.take());
    u32::from(partial && spec.fields != Fields::ALL)
}

/// `--summarize FIELD`: each value of one field over all matches, once, sorted.
fn summarize(
    db: &Database,
    spec: &Spec,
    args: &[String],
    solved: Vec<apk_core::pool::PkgId>,
) -> u32 {
    let e = Engine::new(db, spec, solved);
    let mut names: Vec<String> = Vec::new();
    let mut pkgs: Vec<apk_core::pool::PkgId> = Vec::new();
    e.matches(args, &mut |m| {
        if let Some(p) = m.pkg {
            e.summarize_into(p, spec.fields, &mut names, &mut pkgs);
        }
    });
    let mut ser = serialize::writer(spec.format, STYLE);
    if !names.is_empty() {
        names.sort();
        names.dedup();
        ser.start_array(Some(names.len()));
        for n in &names {
            ser.string(n, false);
        }
        ser.end();
    } else if !pkgs.is_empty() {
        engine::sort_packages(&db.pool, &mut pkgs);
        pkgs.dedup();
        ser.start_array(Some(pkgs.len()));
        for &p in &pkgs {
            ser.string(&db.pool.nv(p), false);
        }
        ser.end();
    }
    print!("{}", ser.take());
    0
}
