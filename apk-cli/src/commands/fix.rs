//! `apk fix`: reinstalls (or upgrades) installed packages, keeping the world.

use apk_core::solver::{flags, Request};

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Fix the dependencies of the named packages too
    #[arg(short = 'd', long)]
    depends: bool,
    /// Reinstall the packages (the default)
    #[arg(short = 'r', long)]
    reinstall: bool,
    /// Upgrade the packages instead of reinstalling the same version
    #[arg(short = 'u', long)]
    upgrade: bool,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(mut db) = ctx.open_db_for_commit() else {
        return 1;
    };
    let fl = flags::REINSTALL | if args.upgrade { flags::UPGRADE } else { 0 };
    let inherit = if args.depends { fl } else { 0 };
    let mut req = Request {
        world: db.world_deps(),
        ..Default::default()
    };
    let mut errors = 0;
    for n in &args.names {
        let installed = db.pool.find_name(n).filter(|&name| {
            db.pool
                .providers(name)
                .iter()
                .any(|p| db.pool.pkg(p.pkg).installed.is_some() && db.pool.pkg(p.pkg).name == name)
        });
        match installed {
            Some(name) => req.name_flags.push((name, fl, inherit)),
            None => {
                context::error(format!("{n} is not installed"));
                errors += 1;
            }
        }
    }
    if errors > 0 {
        return errors;
    }
    let _ = &mut db;
    solution::solve_and_commit(ctx, &db, &mut req)
}
