//! `apk fetch`: download packages (and with `-R` their dependencies) into a folder,
//! to stdout, or print their URLs.

use std::collections::BTreeSet;

use apk_core::pool::{PkgId, Pool};

use crate::context::{self, Context};
use crate::query::legacy::sort_pkgs;
use crate::query::{QueryFilters, QueryOpts, QueryRecursion};

#[derive(clap::Args, Debug)]
pub struct Args {
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

/// A package's file name by `--pkgname-spec` (`${name}`, `${version}`, `${arch}`,
/// `${hash}`).
fn pkgname_subst(spec: &str, pool: &Pool, id: PkgId) -> Result<String, String> {
    let p = pool.pkg(id);
    let checksum = pool.checksum(id);
    let vars = apk_format::pkgname::PkgVars {
        name: pool.name(p.name),
        version: pool.pkg_version(p),
        arch: pool.info(id).arch.as_deref().unwrap_or(""),
        hash: checksum.as_ref().map_or(&[][..], |c| c.bytes()),
    };
    vars.expand(spec).map_err(|e| e.to_string())
}

pub fn run(ctx: &Context, args: Args) -> u32 {
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
    let Some(mut db) = ctx.open_db_stateless(from_given, spec.from) else {
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
    // A request that does not solve fetches nothing, and apk-tools exits 0.
    let solved = match crate::query::engine::solved_for(&mut db, &spec, &args.names) {
        Ok(s) => s.unwrap_or_default(),
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
                // The file must be the package the index describes, as apk-tools
                // checks it: by its identity (and a v2 package's datahash).
                let checked = apk_format::Package::parse(&bytes, &pool.nv(id))
                    .map_err(|e| e.reason())
                    .and_then(|pk| match pool.checksum(id) {
                        Some(want) if pk.is_intact(&bytes, &want) => Ok(()),
                        _ => Err(pk.integrity_error().to_owned()),
                    });
                if let Err(e) = checked {
                    fail(e);
                    errors += 1;
                    continue;
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
