//! `apk add`: adds dependencies to the world and installs what they need.

use apk_core::solver::{flags, Request};
use apk_format::dep::{Dependency, Op};
use apk_format::PackageInfo;

use super::solution;
use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Prefer the latest versions of the named packages
    #[arg(short = 'l', long)]
    latest: bool,
    /// Upgrade the named packages and their dependencies
    #[arg(short = 'u', long)]
    upgrade: bool,
    /// Create a virtual package NAME[=VERSION] depending on the arguments, and add it
    #[arg(short = 't', long = "virtual", value_name = "NAME")]
    virtual_pkg: Option<String>,
    #[arg(value_name = "DEP")]
    deps: Vec<String>,
}

/// apk-tools' exit status for an applet that gave up with an error (a negative
/// return there, reported as 99).
const FAILED: u32 = 99;

fn bad_spec(spec: &str) -> u32 {
    context::error(format!("{spec}: bad package specifier"));
    FAILED
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    if !ctx.take_lock() {
        return 1;
    }
    let Some(mut db) = ctx.open_db_for_commit(true) else {
        return 1;
    };
    let mut world = db.world_deps();
    let mut req = Request::default();
    let fl = (flags::LATEST.when(args.latest)) | (flags::UPGRADE.when(args.upgrade));

    let mut virtual_dep = None;
    if let Some(spec) = &args.virtual_pkg {
        let Ok(mut d) = Dependency::parse(spec) else {
            return bad_spec(spec);
        };
        if d.conflict || d.tag.is_some() || !d.name.starts_with('.') {
            return bad_spec(spec);
        }
        if d.op.is_any() {
            d.op = Op::parse("=").unwrap_or_default();
            d.version = virtual_version();
        } else if d.op != Op::parse("=").unwrap_or_default() {
            return bad_spec(spec);
        }
        if args.deps.is_empty() {
            crate::output::warning("creating empty virtual package");
        }
        virtual_dep = Some(d);
    }

    let mut virtual_depends = Vec::new();
    for arg in args.deps.iter().filter(|a| !a.is_empty()) {
        // A package file (`./x.apk`, `/path/x.apk`): read, checked against the trusted
        // keys, and added to the world by its identity, as apk-tools does.
        if arg.contains('.') && std::path::Path::new(arg).exists() {
            let d = match local_package(ctx, &mut db, arg) {
                Ok(d) => d,
                Err(e) => {
                    context::error(format!("{arg}: {e}"));
                    return FAILED;
                }
            };
            if virtual_dep.is_some() {
                virtual_depends.push(d);
            } else {
                let dep = db.pool.intern_dep(&d);
                req.name_flags.push((dep.name, fl, fl));
                solution::world_add(&mut world, dep);
            }
            continue;
        }
        let parsed = Dependency::parse(arg)
            .ok()
            .filter(|d| virtual_dep.is_none() || d.tag.is_none());
        let Some(d) = parsed else {
            let (kind, format) = if virtual_dep.is_some() {
                ("package", "name([<>~=]version)")
            } else {
                ("world", "name(@tag)([<>~=]version)")
            };
            context::error(format!(
                "'{arg}' is not a valid {kind} dependency, format is {format}"
            ));
            return FAILED;
        };
        if virtual_dep.is_some() {
            virtual_depends.push(d);
        } else {
            let dep = db.pool.intern_dep(&d);
            req.name_flags.push((dep.name, fl, fl));
            solution::world_add(&mut world, dep);
        }
    }
    let added_late = virtual_dep.is_some() || !ctx.local_files.borrow().is_empty();
    if let Some(vd) = virtual_dep {
        let info = PackageInfo {
            name: vd.name.clone(),
            version: vd.version.clone(),
            arch: Some("noarch".into()),
            description: Some("virtual meta package".into()),
            checksum: Some(virtual_identity(&vd.name, &vd.version)),
            depends: virtual_depends,
            installed_size: Some(0),
            ..Default::default()
        };
        db.pool
            .add_package(info, Some(apk_core::pool::RepoId::CACHED), None);
        let dep = db.pool.intern_dep(&vd);
        req.name_flags.push((dep.name, fl, fl));
        solution::world_add(&mut world, dep);
    }
    // Packages added here (files, the virtual one) count among the names' reverse
    // dependencies too: "required by" names them.
    if added_late {
        db.pool.finish();
    }
    req.world = world;
    solution::solve_and_commit(ctx, &db, &mut req)
}

/// Reads a package file given on the command line into the pool (from a pseudo
/// repository of its own, so the solver sees it as available) and returns the world
/// entry apk-tools writes for it: `name><identity>`.
fn local_package(
    ctx: &Context,
    db: &mut apk_core::db::Database,
    arg: &str,
) -> Result<Dependency, String> {
    let path = std::path::absolute(arg).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).map_err(|e| apk_format::error::io_reason(&e))?;
    let keys = ctx.keyring().map_err(|e| e.apk_reason())?;
    let pkg = apk_format::Package::parse(&bytes, arg).map_err(|e| e.apk_reason())?;
    if let Some(keys) = &keys {
        pkg.verify_signature(&bytes, keys, arg)
            .map_err(|e| e.apk_reason())?;
    }
    let mut info = pkg.into_info();
    let identity = info.checksum.ok_or("package has no identity")?.to_string();
    info.replaces.clear();
    info.replaces_priority = None;
    let name = info.name.clone();
    let repo = db
        .pool
        .add_repo(&format!("local:{}", path.display()), None, false, true);
    let id = db.pool.add_package(info, Some(repo), None);
    ctx.local_files.borrow_mut().insert(id, path);
    Dependency::parse(&format!("{name}><{identity}")).map_err(|e| e.to_string())
}

/// The identity apk-tools gives a virtual package: SHA-1 of the process id, the name
/// with its terminating NUL and the version (unique per run, as there).
fn virtual_identity(name: &str, version: &str) -> apk_format::checksum::Checksum {
    let pid = std::process::id() as i32;
    let mut data = pid.to_ne_bytes().to_vec();
    data.extend_from_slice(name.as_bytes());
    data.push(0);
    data.extend_from_slice(version.as_bytes());
    apk_format::checksum::Checksum::sha1_of(&data)
}

/// The version apk gives a virtual package created without one: the UTC time.
fn virtual_version() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}.{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(19_000), (2022, 1, 8));
    }
}
