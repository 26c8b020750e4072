//! `apk info`: package details (`-d -w -s -R -r -i -L -t -P -a ...`), `--who-owns`
//! and the installed list, in apk-tools 3's legacy layout or through the query engine.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_core::db::Database;
use apk_core::pool::{Dep, DepMatch, PkgId, Pool};
use apk_core::solver::report;

use crate::context::{self, Context};
use crate::query::legacy::{legacy_spec, passes_filters, sort_pkgs};
use crate::query::{Field, Fields, QueryFilters, QueryOpts, QueryRecursion, Spec};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'a', long)]
    all: bool,
    #[arg(short = 'd', long)]
    description: bool,
    #[arg(short = 'w', long)]
    webpage: bool,
    #[arg(short = 's', long)]
    size: bool,
    #[arg(short = 'R', long)]
    depends: bool,
    #[arg(short = 'P', long)]
    provides: bool,
    #[arg(short = 'r', long)]
    rdepends: bool,
    #[arg(long)]
    install_if: bool,
    /// The installed packages whose install_if names the package
    #[arg(long)]
    rinstall_if: bool,
    /// Trigger paths of installed packages
    #[arg(short = 't', long)]
    triggers: bool,
    /// What installed packages replace
    #[arg(long)]
    replaces: bool,
    #[arg(long)]
    license: bool,
    /// Exit status tells whether the packages are installed
    #[arg(short = 'e', long, alias = "installed")]
    exists: bool,
    /// List the files of installed packages
    #[arg(short = 'L', long)]
    contents: bool,
    /// Which installed package owns each path
    #[arg(short = 'W', long)]
    who_owns: bool,
    #[command(flatten)]
    query: QueryOpts,
    /// Only packages available from repositories
    #[arg(long)]
    available: bool,
    /// Only packages an upgrade would replace
    #[arg(long)]
    upgradable: bool,
    /// Only installed packages no repository has
    #[arg(long)]
    orphaned: bool,
    /// The packages the queries need, recursively
    #[arg(long)]
    recursive: bool,
    /// Include the world in a recursive query
    #[arg(long)]
    world: bool,
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

impl Args {
    /// The fields info's own options ask for (`-d`, `-w`, `-s`, ...).
    fn fields(&self) -> Fields {
        let mut f = Fields::default();
        for (on, field) in [
            (self.description, Field::Description),
            (self.webpage, Field::Url),
            (self.size, Field::InstalledSize),
            (self.depends, Field::Depends),
            (self.provides, Field::Provides),
            (self.rdepends, Field::RevDepends),
            (self.install_if, Field::InstallIf),
            (self.rinstall_if, Field::RevInstallIf),
            (self.triggers, Field::Triggers),
            (self.replaces, Field::Replaces),
            (self.license, Field::License),
            (self.contents, Field::Contents),
        ] {
            if on {
                f = f.with(field);
            }
        }
        if self.all {
            f = Fields::ALL;
        }
        f
    }
}

/// `info` through the query engine (`--format`, or `--no-legacy-info` with names), as
/// apk-tools 3 answers it.
fn info_query(ctx: &Context, args: &Args, mut spec: Spec) -> u32 {
    spec.revdeps_installed = true;
    spec.revdeps_field = spec.revdeps_field.or(Some(Field::Package));
    spec.all_matches = true;
    if args.names.is_empty() {
        spec.installed = true;
        spec.empty_matches_all = true;
    }
    spec.fields = Fields(spec.fields.0 | args.fields().0);
    if spec.fields.is_empty() {
        spec.fields = Fields::of(&[Field::Description, Field::Url, Field::InstalledSize]);
    }
    spec.fields = spec.fields.with(Field::Name).with(Field::Version);
    if spec.match_fields.is_empty() {
        spec.match_fields = Fields::of(&[Field::Name, Field::Provides]);
    }
    let Some(mut db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    super::query::run_spec(&mut db, spec, &args.names)
}

fn dep_list(pool: &Pool, deps: &[Dep], sep: &str) -> String {
    deps.iter()
        .map(|d| format!("{}{sep}", pool.dep_string(d)))
        .collect()
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let filters = QueryFilters {
        installed: false,
        available: args.available,
        upgradable: args.upgradable,
        orphaned: args.orphaned,
    };
    let recursion = QueryRecursion {
        recursive: args.recursive,
        world: args.world,
    };
    let spec = match args.query.spec(filters, recursion) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    let engine = spec.format != crate::output::serialize::Format::Default
        || (!args.names.is_empty() && ctx.opts.no_legacy_info);
    if engine && !args.who_owns && !args.exists {
        return info_query(ctx, &args, spec);
    }
    if !args.who_owns {
        if let Err(code) = legacy_spec("info", &args.query, filters, recursion) {
            return code;
        }
    }
    // As apk-tools opens the database for `-e` and `-W`: without repositories.
    let db = if args.who_owns || args.exists {
        ctx.open_db_without_repos(args.query.from.is_some(), spec.from)
    } else {
        ctx.open_db_from(spec.from)
    };
    let Some(db) = db else {
        return 1;
    };
    let pool = &db.pool;
    let v = ctx.verbosity;
    if args.who_owns {
        return who_owns(&db, &spec, &args.names, v);
    }
    if args.names.is_empty() {
        let mut pkgs = pool.installed.clone();
        pkgs.retain(|&p| passes_filters(pool, &spec, p));
        sort_pkgs(pool, &mut pkgs);
        for p in pkgs {
            let pk = pool.pkg(p);
            match v.max(1) {
                1 => println!("{}", pool.name(pk.name)),
                2 => println!("{}-{}", pool.name(pk.name), pool.pkg_version(pk)),
                _ => println!(
                    "{}-{} - {}",
                    pool.name(pk.name),
                    pool.pkg_version(pk),
                    pool.info(p).description.as_deref().unwrap_or("")
                ),
            }
        }
        return 0;
    }
    if args.exists {
        let mut errors = 0;
        for n in &args.names {
            let installed = pool.find_name(n).and_then(|name| {
                pool.providers(name)
                    .iter()
                    .find(|p| pool.pkg(p.pkg).installed().is_some())
                    .map(|p| p.pkg)
            });
            match installed {
                Some(p) if v > 0 => println!("{}", pool.name(pool.pkg(p).name)),
                Some(_) => {}
                None => errors += 1,
            }
        }
        return errors;
    }
    // What to print: info's own options and --fields; by default the description,
    // the webpage and the installed size.
    let mut f = Fields(args.fields().0 | spec.fields.0);
    if f.is_empty() {
        f = Fields::of(&[Field::Description, Field::Url, Field::InstalledSize]);
    }
    let (desc, web, size) = (
        f.has(Field::Description),
        f.has(Field::Url),
        f.has(Field::InstalledSize),
    );
    let mut pkgs = Vec::new();
    for n in &args.names {
        let Some(name) = pool.find_name(n) else {
            continue;
        };
        pkgs.extend(pool.providers(name).iter().map(|p| p.pkg));
    }
    pkgs.retain(|&p| passes_filters(pool, &spec, p));
    sort_pkgs(pool, &mut pkgs);
    // As apk-tools, the exit code counts the names (without wildcards) that matched
    // nothing.
    let misses = {
        let mut m = spec.clone();
        m.all_matches = true;
        if m.match_fields.is_empty() {
            m.match_fields = Fields::of(&[Field::Name, Field::Provides]);
        }
        crate::query::engine::Engine::new(&db, &m, Vec::new())
            .packages(&args.names)
            .1
    };
    let mut out = String::new();
    let pkgs_shown_not_installed = pkgs.iter().any(|&id| pool.pkg(id).installed().is_none());
    for id in pkgs {
        let p = pool.pkg(id);
        let nv = pool.nv(id);
        let short = pool.name(p.name);
        let installed = p.installed().is_some();
        let mut blob = |field: &str, value: &str| {
            if v > 1 {
                let _ = writeln!(out, "{short}: {value}");
            } else {
                let _ = write!(out, "{nv} {field}:\n{value}\n\n");
            }
        };
        if desc {
            blob(
                "description",
                pool.info(id).description.as_deref().unwrap_or(""),
            );
        }
        if web {
            blob("webpage", pool.info(id).url.as_deref().unwrap_or(""));
        }
        if size {
            let s = report::human_size(pool.installed_size(id));
            if v > 1 {
                let _ = writeln!(out, "{short}: {s}");
            } else {
                let _ = write!(out, "{nv} installed size:\n{s}\n\n");
            }
        }
        let sep = if v > 1 { " " } else { "\n" };
        let deps_section = |out: &mut String, title: &str, deps: &[Dep]| {
            if v == 1 {
                let _ = writeln!(out, "{nv} {title}:");
            }
            if v > 1 {
                let _ = write!(out, "{short}: ");
            }
            out.push_str(&dep_list(pool, deps, sep));
            out.push('\n');
        };
        if f.has(Field::Depends) {
            deps_section(&mut out, "depends on", pool.pkg_deps(p).depends);
        }
        if f.has(Field::Provides) {
            deps_section(&mut out, "provides", pool.pkg_deps(p).provides);
        }
        if f.has(Field::RevDepends) && installed {
            if v == 1 {
                let _ = writeln!(out, "{nv} is required by:");
            }
            if v > 1 {
                let _ = write!(out, "{short}: ");
            }
            let rdeps = report::reverse_dependents(pool, id, true, |_, d, m| {
                m == DepMatch::Satisfies && !d.conflict
            });
            let mut seen = BTreeSet::new();
            for (p0, _, _) in rdeps {
                if seen.insert(p0) {
                    let _ = write!(out, "{}{sep}", pool.nv(p0));
                }
            }
            out.push('\n');
        }
        if f.has(Field::Contents) && installed {
            if v == 1 {
                let _ = writeln!(out, "{nv} contains:");
            }
            if let Some(files) = db.installed_files.get(&id) {
                for (d, f) in files {
                    let path = if d.is_empty() {
                        f.clone()
                    } else {
                        format!("{d}/{f}")
                    };
                    if v > 1 {
                        let _ = write!(out, "{short}: ");
                    }
                    let _ = writeln!(out, "{path}");
                }
            }
            out.push('\n');
        }
        if f.has(Field::Triggers) && installed {
            if v == 1 {
                let _ = writeln!(out, "{nv} triggers:");
            }
            for t in installed_triggers(&db, id) {
                if v > 1 {
                    let _ = write!(out, "{short}: trigger ");
                }
                let _ = writeln!(out, "{t}");
            }
            out.push('\n');
        }
        if f.has(Field::InstallIf) {
            deps_section(
                &mut out,
                "has auto-install rule",
                pool.pkg_deps(p).install_if,
            );
        }
        if f.has(Field::RevInstallIf) && installed {
            if v == 1 {
                let _ = writeln!(out, "{nv} affects auto-installation of:");
            }
            if v > 1 {
                let _ = write!(out, "{short}: ");
            }
            for &n0 in pool.rinstall_if(p.name) {
                let Some(p0) = pool.installed_of(n0) else {
                    continue;
                };
                let names_this = pool
                    .pkg_deps(pool.pkg(p0))
                    .install_if
                    .iter()
                    .any(|d| d.name == p.name && !d.conflict);
                if names_this {
                    let _ = write!(out, "{}{sep}", pool.nv(p0));
                }
            }
            out.push('\n');
        }
        if f.has(Field::Replaces) && installed {
            let replaces: Vec<String> = pool
                .info(id)
                .replaces
                .iter()
                .map(|d| d.to_string())
                .collect();
            if v == 1 {
                let _ = writeln!(out, "{nv} replaces:");
            }
            if v > 1 {
                let _ = write!(out, "{short}: ");
            }
            for r in replaces {
                let _ = write!(out, "{r}{sep}");
            }
            out.push('\n');
        }
        if f.has(Field::License) {
            let lic = pool.info(id).license.as_deref().unwrap_or("");
            if v > 1 {
                let _ = writeln!(out, "{short}: {lic}");
            } else {
                let _ = write!(out, "{nv} license:\n{lic}\n\n");
            }
        }
    }
    print!("{out}");
    // With every field asked for (`-a`), a package shown that is not installed is a
    // partial answer (its installed-only fields are left out): status 1, as apk-tools.
    let partial = pkgs_shown_not_installed;
    if misses == 0 && partial && f == Fields::ALL {
        return 1;
    }
    misses
}

/// The trigger paths recorded for an installed package (`lib/apk/db/triggers`).
fn installed_triggers(db: &Database, id: apk_core::pool::PkgId) -> Vec<String> {
    let Some(sum) = db.pool.checksum(id) else {
        return Vec::new();
    };
    let key = sum.to_string();
    let text = std::fs::read_to_string(db.root.join("lib/apk/db/triggers")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| *k == key)
        .flat_map(|(_, rest)| rest.split_ascii_whitespace().map(str::to_owned))
        .collect()
}

/// `info -W`: the owner of each path (a relative path from the working directory),
/// through a symlink to an absolute target if need be; quiet, the owners' names once
/// each; with `--format`, the query engine's answer.
fn who_owns(db: &Database, spec: &Spec, paths: &[String], v: i32) -> u32 {
    use crate::output::serialize;
    let engine = crate::query::engine::Engine::new(db, spec, Vec::new());
    let path_of = |arg: &String| -> String {
        if arg.starts_with('/') {
            return arg.clone();
        }
        std::fs::canonicalize(arg)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| arg.clone())
    };
    if spec.format != serialize::Format::Default {
        let fields = if spec.fields.is_empty() {
            Fields::of(&[Field::Query, Field::PathTarget, Field::Error, Field::Name])
        } else {
            spec.fields
        };
        let mut ser = serialize::writer(spec.format, crate::query::STYLE);
        ser.start_array(Some(paths.len()));
        for arg in paths {
            let path = path_of(arg);
            let m = engine.who_owns(&path);
            ser.start_object();
            if fields.has(Field::Query) && !path.is_empty() {
                ser.key(Field::Query.key());
                ser.string(&path, false);
            }
            if let (true, Some(t)) = (fields.has(Field::PathTarget), &m.path_target) {
                ser.key(Field::PathTarget.key());
                ser.string(t, false);
            }
            match m.pkg {
                Some(p) => {
                    engine.serialize(ser.as_mut(), p, fields);
                }
                None => {
                    ser.key(Field::Error.key());
                    ser.string("owner not found", false);
                }
            }
            ser.end();
        }
        ser.end();
        print!("{}", ser.take());
        return 0;
    }
    let mut errors = 0;
    let mut owners: Vec<PkgId> = Vec::new();
    for arg in paths {
        let path = path_of(arg);
        let m = engine.who_owns(&path);
        let Some(p) = m.pkg else {
            context::error(format!("{path}: Could not find owner package"));
            errors += 1;
            continue;
        };
        if v >= 1 {
            let via = if m.path_target.is_some() {
                "symlink target "
            } else {
                ""
            };
            println!("{path} {via}is owned by {}", db.pool.nv(p));
        } else if !owners.contains(&p) {
            owners.push(p);
        }
    }
    sort_pkgs(&db.pool, &mut owners);
    for p in owners {
        println!("{}", db.pool.name(db.pool.pkg(p).name));
    }
    errors
}
