//! `apk audit`: lists what in the root differs from the installed database.

use apk_core::audit::{self, Mode};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Audit configuration files only (the default)
    #[arg(long)]
    backup: bool,
    /// Audit all files installed by packages, except configuration files
    #[arg(long)]
    system: bool,
    /// Like --system, and report files and directories no package installed
    #[arg(long)]
    full: bool,
    /// Check owners and modes too
    #[arg(long)]
    check_permissions: bool,
    /// Print only the packages with changed files
    #[arg(long)]
    packages: bool,
    /// Descend into the directories given
    #[arg(short = 'r', long)]
    recursive: bool,
    #[arg(value_name = "DIR")]
    dirs: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    if ctx.usermode() {
        context::error("audit does not support usermode!");
        return 99;
    }
    let mode = if args.full {
        Mode::Full
    } else if args.system {
        Mode::System
    } else {
        Mode::Backup
    };
    let opts = audit::Options {
        mode,
        check_permissions: args.check_permissions,
        recursive: args.recursive,
        dirs: args.dirs,
    };
    let findings = match audit::audit(&ctx.root, &opts) {
        Ok(f) => f,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    if args.packages {
        let mut seen = std::collections::BTreeSet::new();
        for nv in findings.iter().filter_map(|f| f.package.as_deref()) {
            if seen.insert(nv) {
                // Names only with -q, as apk-tools prints them.
                let name = nv.rsplitn(3, '-').nth(2).unwrap_or(nv);
                println!("{}", if ctx.verbosity < 1 { name } else { nv });
            }
        }
        return 0;
    }
    for f in &findings {
        if ctx.verbosity < 1 {
            println!("{}", f.path);
        } else {
            println!("{} {}", f.kind, f.path);
        }
    }
    0
}
