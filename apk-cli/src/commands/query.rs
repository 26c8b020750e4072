//! The read-only applets: `search`, `info`, `list`, `dot`, `policy` and `fetch`, with
//! the matching rules and output of apk-tools 3 (names and provided names are matched;
//! results are sorted by name, then version).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apk_core::db::Database;
use apk_core::pool::{Dep, DepMatch, NameId, PkgId, Pool};
use apk_core::solver::report;

use crate::context::{self, Context};
use crate::query::{Field, Fields, QueryFilters, QueryOpts, QueryRecursion, Spec};

/// The query options of an applet that prints its own layout: the spec (the filters
/// and `--from` honoured; `--fields`, `--format`, `--summarize` have no effect there,
/// as in apk-tools), or the refusal of what this build does not do for it.
fn legacy_spec(
    applet: &str,
    q: &QueryOpts,
    filters: QueryFilters,
    recursion: QueryRecursion,
) -> Result<Spec, u32> {
    let spec = q.spec(filters, recursion).map_err(|e| {
        eprintln!("ERROR: {e}");
        1u32
    })?;
    let unsupported = q
        .unsupported_matching()
        .or((recursion.recursive || recursion.world).then_some("--recursive/--world"));
    if let Some(opt) = unsupported {
        eprintln!("ERROR: {opt} is not supported by apk {applet} in this build of apk-rs");
        return Err(1);
    }
    Ok(spec)
}

/// Whether `pkg` passes the spec's filters (`--installed`, `--available`,
/// `--upgradable`, `--orphaned`).
fn passes_filters(pool: &Pool, spec: &Spec, pkg: PkgId) -> bool {
    let p = pool.pkg(pkg);
    if spec.installed && p.installed.is_none() {
        return false;
    }
    if spec.available && !pool.pkg_available(pkg) {
        return false;
    }
    if spec.upgradable && !crate::query::engine::upgradable(pool, pkg) {
        return false;
    }
    if spec.orphaned {
        let repo_mask = !(1u64 << apk_core::pool::REPO_CACHED);
        let in_repo = pool
            .providers(p.name)
            .iter()
            .any(|pr| pool.pkg(pr.pkg).repos & repo_mask != 0);
        if in_repo {
            return false;
        }
    }
    true
}

/// Shell-style wildcard match (`*`, `?`) without regard to case, as apk-tools matches
/// names (`fnmatch` with `FNM_CASEFOLD`); linear in the text for each `*`. A pattern
/// without wildcards is compared exactly.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern.contains(['*', '?']) {
        crate::query::engine::wildcard_match(pattern, text)
    } else {
        pattern == text
    }
}

/// Packages ordered as apk lists them: by name, then by version.
fn sort_pkgs(pool: &Pool, pkgs: &mut Vec<PkgId>) {
    pkgs.sort_by(|&a, &b| {
        let (pa, pb) = (pool.pkg(a), pool.pkg(b));
        pool.name(pa.name)
            .cmp(pool.name(pb.name))
            .then_with(|| apk_format::version::compare(pool.pkg_version(pa), pool.pkg_version(pb)))
    });
    pkgs.dedup();
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
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
pub fn search(ctx: &Context, args: SearchArgs) -> u32 {
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
    let Some(mut db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    let solved = match crate::query::engine::solved_for(&mut db, &spec, &args.patterns) {
        Ok(s) => s,
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

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
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

impl InfoArgs {
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
fn info_query(ctx: &Context, args: &InfoArgs, mut spec: Spec) -> u32 {
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
    super::apk_query::run_spec(&mut db, spec, &args.names)
}

fn dep_list(pool: &Pool, deps: &[Dep], sep: &str) -> String {
    deps.iter()
        .map(|d| format!("{}{sep}", pool.dep_string(d)))
        .collect()
}

pub fn info(ctx: &Context, args: InfoArgs) -> u32 {
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
    let engine = spec.format != crate::query::serialize::Format::Default
        || (!args.names.is_empty() && ctx.opts.no_legacy_info);
    if engine && !args.who_owns && !args.exists {
        return info_query(ctx, &args, spec);
    }
    if !args.who_owns {
        if let Err(code) = legacy_spec("info", &args.query, filters, recursion) {
            return code;
        }
    }
    let Some(db) = ctx.open_db_from(spec.from) else {
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
                    .find(|p| pool.pkg(p.pkg).installed.is_some())
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
    let mut out = String::new();
    for id in pkgs {
        let p = pool.pkg(id);
        let nv = pool.nv(id);
        let short = pool.name(p.name);
        let installed = p.installed.is_some();
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
    0
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
    use crate::query::serialize;
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

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(short = 'I', long)]
    installed: bool,
    #[arg(short = 'a', long)]
    available: bool,
    #[arg(short = 'u', long, alias = "upgradeable")]
    upgradable: bool,
    #[arg(short = 'o', long)]
    origin: bool,
    #[arg(short = 'O', long)]
    orphaned: bool,
    #[arg(short = 'P', long)]
    providers: bool,
    #[arg(short = 'd', long)]
    depends: bool,
    /// Installed packages as `name version` lines
    #[arg(long)]
    manifest: bool,
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(value_name = "PATTERN")]
    patterns: Vec<String>,
}

fn upgradable_from(pool: &Pool, pkg: PkgId) -> Option<PkgId> {
    let p = pool.pkg(pkg);
    let inst = pool
        .providers(p.name)
        .iter()
        .map(|pr| pr.pkg)
        .find(|&q| pool.pkg(q).name == p.name && pool.pkg(q).installed.is_some())?;
    let tag = pool.pkg(inst).installed.unwrap_or(0);
    if p.repos & pool.tags[tag as usize].allowed_repos == 0 {
        return None;
    }
    (apk_format::version::compare(pool.version(inst), pool.pkg_version(p))
        == std::cmp::Ordering::Less)
        .then_some(inst)
}

pub fn list(ctx: &Context, args: ListArgs) -> u32 {
    let filters = QueryFilters {
        installed: args.installed || args.manifest,
        available: args.available,
        upgradable: args.upgradable,
        orphaned: args.orphaned,
    };
    let spec = match legacy_spec("list", &args.query, filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    let pool = &db.pool;
    let mut names: Vec<NameId> = (0..pool.names.len() as NameId)
        .filter(|&n| {
            args.origin
                || args.patterns.is_empty()
                || args.patterns.iter().any(|p| glob_match(p, pool.name(n)))
        })
        .collect();
    names.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    let (installed, available, upgradable) = (
        args.installed || args.manifest || args.orphaned,
        args.available || args.upgradable,
        args.upgradable,
    );
    let mut out = String::new();
    // With nothing to match, apk-tools lists every package once under its own name,
    // whatever -d or -P say.
    let match_all = args.patterns.is_empty();
    for name in names {
        let sources: Vec<NameId> = if args.depends && !match_all {
            pool.rdepends(name).to_vec()
        } else {
            vec![name]
        };
        for src in sources {
            let mut provs: Vec<PkgId> = pool
                .providers(src)
                .iter()
                .filter(|p| (args.providers && !match_all) || pool.pkg(p.pkg).name == src)
                .map(|p| p.pkg)
                .collect();
            sort_pkgs(pool, &mut provs);
            for id in provs {
                let p = pool.pkg(id);
                if args.origin
                    && !args
                        .patterns
                        .iter()
                        .any(|o| pool.info(id).origin.as_deref() == Some(o))
                {
                    continue;
                }
                if installed && p.installed.is_none() {
                    continue;
                }
                if args.orphaned
                    && pool
                        .providers(p.name)
                        .iter()
                        .any(|q| pool.pkg(q.pkg).repos != 0)
                {
                    continue;
                }
                if available && !pool.pkg_available(id) {
                    continue;
                }
                let up = upgradable_from(pool, id);
                if upgradable && up.is_none() {
                    continue;
                }
                if args.providers {
                    let _ = write!(out, "<{}> ", pool.name(src));
                }
                if args.manifest {
                    let _ = writeln!(out, "{} {}", pool.name(p.name), pool.pkg_version(p));
                    continue;
                }
                if ctx.verbosity <= 0 {
                    let _ = writeln!(out, "{}", pool.name(p.name));
                    continue;
                }
                let origin = pool
                    .info(id)
                    .origin
                    .clone()
                    .unwrap_or_else(|| pool.name(p.name).to_owned());
                let _ = write!(
                    out,
                    "{} {} {{{origin}}} ({})",
                    pool.nv(id),
                    pool.info(id).arch.as_deref().unwrap_or(""),
                    pool.info(id).license.as_deref().unwrap_or("")
                );
                if p.installed.is_some() {
                    out.push_str(" [installed]");
                } else if let Some(u) = up {
                    let _ = write!(out, " [upgradable from: {}]", pool.nv(u));
                }
                if ctx.verbosity > 1 {
                    let _ = write!(
                        out,
                        "\n  {}\n",
                        pool.info(id).description.as_deref().unwrap_or("")
                    );
                }
                out.push('\n');
            }
        }
    }
    print!("{out}");
    0
}

#[derive(clap::Args, Debug)]
pub struct DotArgs {
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
        let st = self.state[pkg as usize];
        if st == EVALUATED {
            return 0;
        }
        if st <= EVALUATING {
            self.state[pkg as usize] -= 1;
            return 1;
        }
        self.state[pkg as usize] = EVALUATING;
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
                if self.installed_only && pool.pkg(p0.pkg).installed.is_none() {
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
        ret -= EVALUATING - self.state[pkg as usize];
        self.state[pkg as usize] = EVALUATED;
        ret
    }
}

pub fn dot(ctx: &Context, args: DotArgs) -> u32 {
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

#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    filters: QueryFilters,
    #[command(flatten)]
    recursion: QueryRecursion,
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub fn policy(ctx: &Context, args: PolicyArgs) -> u32 {
    let spec = match legacy_spec("policy", &args.query, args.filters, args.recursion) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(db) = ctx.open_db_from(spec.from) else {
        return 1;
    };
    let pool = &db.pool;
    let mut names: Vec<NameId> = args
        .names
        .iter()
        .filter_map(|n| pool.find_name(n))
        .collect();
    names.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    names.dedup();
    let mut out = String::new();
    for name in names {
        let _ = writeln!(out, "{} policy:", pool.name(name));
        let mut provs: Vec<PkgId> = pool
            .providers(name)
            .iter()
            .filter(|p| pool.pkg(p.pkg).name == name)
            .map(|p| p.pkg)
            .collect();
        // Oldest first, as apk-tools 3 sorts providers for display.
        sort_pkgs(pool, &mut provs);
        for id in provs {
            let p = pool.pkg(id);
            let _ = writeln!(out, "  {}:", pool.pkg_version(p));
            if let Some(tag) = p.installed {
                let t = &pool.tags[tag as usize].name;
                let prefix = if t.is_empty() {
                    String::new()
                } else {
                    format!("@{t} ")
                };
                let _ = writeln!(out, "    {prefix}lib/apk/db/installed");
            }
            // As apk-tools lists them: each repository holding the package, once for
            // every tag that allows any repository holding it.
            let repos = p.repos & !(1u64 << apk_core::pool::REPO_CACHED);
            for (i, repo) in pool.repos.iter().enumerate().skip(1) {
                if i >= 64 || repos & (1 << i) == 0 {
                    continue;
                }
                for (j, tag) in pool.tags.iter().enumerate() {
                    if tag.allowed_repos & repos == 0 {
                        continue;
                    }
                    let prefix = if j == 0 {
                        String::new()
                    } else {
                        format!("@{} ", tag.name)
                    };
                    let _ = writeln!(out, "    {prefix}{}", repo.url);
                }
            }
        }
    }
    print!("{out}");
    0
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    #[command(flatten)]
    query: QueryOpts,
    #[command(flatten)]
    filters: QueryFilters,
    #[command(flatten)]
    recursion: QueryRecursion,
    /// Only packages built after TIME (seconds since the epoch, or YYYY-MM-DD HH:MM:SS)
    #[arg(long, value_name = "TIME")]
    built_after: Option<String>,
    /// Hard-link local files instead of copying them
    #[arg(short = 'l', long)]
    link: bool,
    /// File names of the packages written (default ${name}-${version}.apk)
    #[arg(long, value_name = "SPEC")]
    pkgname_spec: Option<String>,
    /// Write the packages into DIR
    #[arg(short = 'o', long, value_name = "DIR")]
    output: Option<std::path::PathBuf>,
    /// Write the package files to standard output
    #[arg(short = 's', long)]
    stdout: bool,
    /// Print each package's URL instead of its name
    #[arg(long)]
    url: bool,
    #[arg(value_name = "QUERY")]
    names: Vec<String>,
}

/// `--built-after`: seconds since the epoch, or `YYYY-MM-DD HH:MM:SS` (UTC).
fn parse_time(s: &str) -> Option<u64> {
    if let Ok(t) = s.parse::<u64>() {
        return (t != 0).then_some(t);
    }
    let (date, time) = s.split_once(' ')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    // Days from the civil date (proleptic Gregorian).
    let (y, m) = if *m <= 2 { (y - 1, m + 9) } else { (*y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

/// A package's file name by `--pkgname-spec` (`${name}`, `${version}`, `${arch}`).
fn pkgname_subst(spec: &str, pool: &Pool, id: PkgId) -> Result<String, String> {
    let p = pool.pkg(id);
    let mut out = String::new();
    let mut rest = spec;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or("package name specification is invalid")?;
        match &after[..end] {
            "name" => out.push_str(pool.name(p.name)),
            "version" => out.push_str(pool.pkg_version(p)),
            "arch" => out.push_str(pool.info(id).arch.as_deref().unwrap_or("")),
            _ => return Err("package name specification is invalid".into()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn fetch(ctx: &Context, args: FetchArgs) -> u32 {
    use std::io::Write;
    let mut spec = match args.query.spec(args.filters, args.recursion) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    if let Some(opt) = args.query.unsupported_matching() {
        eprintln!("ERROR: {opt} is not supported by apk fetch in this build of apk-rs");
        return 1;
    }
    let built_after = match args.built_after.as_deref().map(parse_time) {
        Some(None) => {
            let v = args.built_after.as_deref().unwrap_or("");
            eprintln!("ERROR: command line: invalid argument for option 'built-after': '{v}'");
            return 1;
        }
        Some(t) => t,
        None => None,
    };
    let name_spec = args
        .pkgname_spec
        .clone()
        .unwrap_or_else(|| "${name}-${version}.apk".to_owned());
    // As apk-tools opens it for fetch: without the root's state unless --from asks.
    let from_given = args.query.from.is_some() || args.filters.installed;
    let sources = if from_given {
        None
    } else {
        Some(apk_core::db::Sources {
            no_installed: true,
            ..Default::default()
        })
    };
    let opened = match sources {
        Some(s) => ctx.open_db_with(s),
        None => ctx.open_db_from(spec.from),
    };
    let Some(mut db) = opened else {
        return 1;
    };
    let verbosity = if args.stdout { 0 } else { ctx.verbosity };
    if args.names.len() == 1 && args.names[0] == "coffee" {
        if verbosity > 0 {
            println!("Go and fetch your own coffee.");
        }
        return 0;
    }
    spec.auto_select_virtual = spec.recursive;
    let solved = match crate::query::engine::solved_for(&mut db, &spec, &args.names) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pool = &db.pool;
    let mut errors = 0;
    let mut pkgs: Vec<PkgId> = Vec::new();
    {
        let engine = crate::query::engine::Engine::new(&db, &spec, solved);
        engine.matches(&args.names, &mut |m| match m.pkg {
            None => {
                let q = m.query.as_deref().unwrap_or("");
                if !q.contains('*') {
                    if verbosity > 0 {
                        println!("{q}: unable to select package (or its dependencies)");
                    }
                    errors += 1;
                }
            }
            Some(p) => {
                let built = pool.info(p).build_time.unwrap_or(0);
                if built_after.is_some_and(|t| built != 0 && t >= built) {
                    return;
                }
                pkgs.push(p);
            }
        });
    }
    if errors > 0 {
        return errors;
    }
    sort_pkgs(pool, &mut pkgs);
    let opts = match ctx.commit_options(&db) {
        Ok(o) => o,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let dir = args
        .output
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let mut written: BTreeSet<String> = BTreeSet::new();
    for &id in &pkgs {
        let p = pool.pkg(id);
        let fail = |e: String| {
            context::error(format!("{}: {e}", pool.nv(id)));
        };
        let Some(url) = crate::query::engine::download_url(pool, id) else {
            fail("could not find a repo which provides this package (check repositories file and run 'apk update')".into());
            errors += 1;
            continue;
        };
        let file = match pkgname_subst(&name_spec, pool, id) {
            Ok(f) => f,
            Err(e) => {
                fail(e);
                errors += 1;
                continue;
            }
        };
        written.insert(file.clone());
        let dest = dir.join(&file);
        if !args.stdout
            && std::fs::metadata(&dest).is_ok_and(|m| Some(m.len()) == pool.info(id).size)
        {
            continue;
        }
        if verbosity > 0 {
            if args.url {
                println!("{url}");
            } else {
                println!("Downloading {}", pool.nv(id));
            }
        }
        if ctx.opts.simulate {
            continue;
        }
        let local = apk_core::repo::Repository::local_path(&url).map(std::path::PathBuf::from);
        if args.link && !args.stdout {
            if let Some(src) = &local {
                if std::fs::hard_link(src, &dest).is_ok() {
                    continue;
                }
            }
        }
        let _ = p;
        match apk_core::commit::fetch_package(pool, id, &opts) {
            Err(e) => {
                fail(e.to_string());
                errors += 1;
            }
            Ok((bytes, _)) => {
                // The file must be the package the index describes.
                let identity = apk_format::Package::parse(&bytes, &pool.nv(id))
                    .map(|pk| pk.info().checksum)
                    .map_err(|e| e.reason());
                match identity {
                    Ok(got) if got.is_some() && got == pool.checksum(id) => {}
                    Ok(_) => {
                        fail("file integrity error".into());
                        errors += 1;
                        continue;
                    }
                    Err(e) => {
                        fail(e);
                        errors += 1;
                        continue;
                    }
                }
                let done = if args.stdout {
                    std::io::stdout()
                        .write_all(&bytes)
                        .map_err(|e| e.to_string())
                } else {
                    apk_core::fs::atomic::write_atomically(&dest, &bytes).map_err(|e| e.to_string())
                };
                if let Err(e) = done {
                    fail(e);
                    errors += 1;
                }
            }
        }
    }
    // --purge: what else lies in the output folder goes.
    if errors == 0 && ctx.opts.purge && !args.stdout {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for n in names {
            if written.contains(&n) {
                continue;
            }
            if verbosity > 0 {
                println!("Purging {n}");
            }
            if !ctx.opts.simulate {
                let _ = std::fs::remove_file(dir.join(&n));
            }
        }
    }
    errors
}

/// `apk stats`: counts of the installed and available packages, as apk-tools prints them.
/// apk's "atoms" are its interned strings; apk-rs counts the distinct names and versions
/// it holds, the closest equivalent.
pub fn stats(ctx: &Context) -> u32 {
    let Some(db) = ctx.open_db_or_report() else {
        return 1;
    };
    let pool = &db.pool;
    let installed_db =
        std::fs::read_to_string(db.root.join("lib/apk/db/installed")).unwrap_or_default();
    // apk counts every directory of the database with its parents (and the root), and
    // every distinct owner/mode record among its atoms.
    let mut dirs: BTreeSet<&str> = BTreeSet::from([""]);
    let mut acls: BTreeSet<&str> = BTreeSet::from(["0:0:755", "0:0:644"]);
    for line in installed_db.lines() {
        if let Some(d) = line.strip_prefix("F:") {
            dirs.insert(d);
            dirs.extend(d.match_indices('/').map(|(i, _)| &d[..i]));
        } else if let Some(a) = line.strip_prefix("a:").or_else(|| line.strip_prefix("M:")) {
            acls.insert(a);
        }
    }
    let files: usize = db.installed_files.values().map(Vec::len).sum();
    let bytes: u64 = pool.installed.iter().map(|&p| pool.installed_size(p)).sum();
    let triggers = std::fs::read_to_string(db.root.join("lib/apk/db/triggers"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    // The strings apk-tools interns: package versions and texts, dependency versions,
    // repository descriptions, "noarch" and the default tag.
    let mut atoms: BTreeSet<String> = BTreeSet::from([String::new(), "noarch".to_owned()]);
    for (id, p) in pool.packages.iter().enumerate() {
        let id = id as apk_core::pool::PkgId;
        atoms.insert(pool.pkg_version(p).to_owned());
        let info = pool.info(id);
        for f in [
            &info.description,
            &info.url,
            &info.license,
            &info.arch,
            &info.origin,
            &info.maintainer,
            &info.commit,
        ]
        .into_iter()
        .flatten()
        {
            atoms.insert(f.clone());
        }
        let deps = pool.pkg_deps(p);
        for d in deps
            .depends
            .iter()
            .chain(deps.provides)
            .chain(deps.install_if)
        {
            if let Some(v) = pool.dep_version(d) {
                atoms.insert(v.to_owned());
            }
        }
    }
    atoms.extend(pool.repos.iter().filter_map(|r| r.description.clone()));
    print!(
        "installed:\n  packages: {}\n  dirs: {}\n  files: {}\n  bytes: {}\n  triggers: {}\navailable:\n  names: {}\n  packages: {}\natoms:\n  num: {}\n\n",
        pool.installed.len(),
        dirs.len(),
        files,
        bytes,
        triggers,
        pool.names.len(),
        pool.packages.len(),
        atoms.len() + acls.len(),
    );
    0
}
