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
    /// Without names, fix packages whose extended attributes failed too
    #[arg(short = 'x', long)]
    xattr: bool,
    /// Restore the owners and modes of the installed packages' folders
    #[arg(long)]
    directory_permissions: bool,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(mut db) = ctx.open_db_for_commit(true) else {
        return 1;
    };
    let fl = flags::REINSTALL | flags::UPGRADE.when(args.upgrade);
    let inherit = fl.when(args.depends);
    let mut req = Request {
        world: db.world_deps(),
        ..Default::default()
    };
    let mut errors = 0;
    if args.names.is_empty() {
        // As apk-tools: every package an earlier commit left broken (files, scripts,
        // and with -x extended attributes).
        for &p in &db.pool.installed {
            let marks: String = db
                .pool
                .info(p)
                .extra
                .iter()
                .filter(|(l, _)| *l == b'f')
                .map(|(_, v)| v.as_str())
                .collect();
            if marks.contains('f') || marks.contains('s') || (args.xattr && marks.contains('x')) {
                req.name_flags.push((db.pool.pkg(p).name, fl, inherit));
            }
        }
    }
    for n in &args.names {
        match db.pool.find_name(n) {
            Some(name) => req.name_flags.push((name, fl, inherit)),
            None => {
                context::error(format!("Package '{n}' not found"));
                errors += 1;
            }
        }
    }
    if errors > 0 {
        return errors;
    }
    if args.directory_permissions && !ctx.opts.simulate && fix_directories(ctx, &db.root) > 0 {
        context::error("Failed to fix directory permissions");
        return 99;
    }
    let _ = &mut db;
    solution::solve_and_commit(ctx, &db, &mut req)
}

/// `--directory-permissions`: each folder the installed packages list gets the owner
/// and mode the database records for it (`-v`: `fixing directory NAME`). Returns the
/// number of folders that could not be fixed.
fn fix_directories(ctx: &Context, root: &std::path::Path) -> u32 {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(state) = apk_core::db::state::Installed::load(root) else {
        return 1;
    };
    let mut failures = 0;
    for (path, acl) in state.dir_acls() {
        if path.is_empty() {
            continue;
        }
        let host = root.join(&path);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let ok = meta.mode() & 0o7777 == acl.mode && meta.uid() == acl.uid && meta.gid() == acl.gid;
        if ok {
            continue;
        }
        if ctx.verbosity > 1 {
            crate::output::out(&format!("fixing directory {path}"));
        }
        let chown = !apk_core::fs::is_root()
            || std::os::unix::fs::chown(&host, Some(acl.uid), Some(acl.gid)).is_ok();
        let chmod =
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(acl.mode)).is_ok();
        if !(chown && chmod) {
            failures += 1;
        }
    }
    failures
}
