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
    /// Print what the database recorded and what was found for each change
    #[arg(long)]
    details: bool,
    /// Do not report unrecorded symlinks to busybox
    #[arg(long)]
    ignore_busybox_symlinks: bool,
    /// Protected path rules from FILE instead of the root's
    #[arg(long, value_name = "FILE")]
    protected_paths: Option<std::path::PathBuf>,
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
    let rules = match &args.protected_paths {
        None => None,
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t),
            Err(e) => {
                context::error(format!(
                    "unable to read protected path file: {}: {}",
                    f.display(),
                    apk_format::error::io_reason(&e)
                ));
                return 1;
            }
        },
    };
    let opts = audit::Options {
        mode,
        check_permissions: args.check_permissions,
        recursive: args.recursive,
        dirs: args.dirs,
        details: args.details,
        ignore_busybox_symlinks: args.ignore_busybox_symlinks,
        rules,
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
    let stat = |sign: char, st: &audit::Stat| {
        let hash = st
            .hash
            .as_ref()
            .map(|h| format!(" hash={h}"))
            .unwrap_or_default();
        println!(
            "{sign} mode={:o} uid={} gid={}{hash}",
            st.mode, st.uid, st.gid
        );
    };
    for f in &findings {
        if ctx.verbosity < 1 {
            println!("{}", f.path);
        } else {
            if let Some(r) = &f.recorded {
                stat('-', r);
            }
            if let Some(r) = &f.found {
                stat('+', r);
            }
            println!("{} {}", f.kind, f.path);
        }
    }
    0
}
