//! `apk version -t A B` and `apk version -c V...`.

use apk_format::version;

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Compare the two versions given: prints <, > or =
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Check that the versions given are valid; prints the invalid ones
    #[arg(short = 'c', long = "check")]
    check: bool,
    /// Print the description and address of each repository's index
    #[arg(short = 'I', long = "indexes")]
    indexes: bool,
    /// Consider packages from all repository tags
    #[arg(short = 'a', long)]
    all: bool,
    /// Only show packages whose relation is one of these characters (<, =, >)
    #[arg(short = 'l', long, value_name = "CHARS")]
    limit: Option<String>,
    /// Installed packages to compare (default: all), or the versions of `-t`, `-c`
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

impl Args {
    /// `-t` and `-c` compare strings without a database.
    pub fn reads_state(&self) -> bool {
        !self.test && !self.check
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    // As apk-tools: the arguments are the versions; `-t` wants exactly two.
    if args.test {
        let [a, b] = args.names.as_slice() else {
            return 1;
        };
        if !version::is_valid(a) || !version::is_valid(b) {
            return 1;
        }
        let sign = match version::compare(a, b) {
            std::cmp::Ordering::Less => "<",
            std::cmp::Ordering::Equal => "=",
            std::cmp::Ordering::Greater => ">",
        };
        println!("{sign}");
        return 0;
    }
    if args.check {
        let mut bad = 0;
        for v in args.names.iter().filter(|v| !version::is_valid(v)) {
            if ctx.verbosity > 0 {
                println!("{v}");
            }
            bad += 1;
        }
        return bad;
    }
    if args.indexes {
        return print_indexes(ctx);
    }
    compare_installed(ctx, &args)
}

/// `apk version -I`: `description [url]` for every repository whose index was read.
fn print_indexes(ctx: &Context) -> u32 {
    let Some(db) = ctx.open_db_or_report() else {
        return 1;
    };
    for line in index_lines(&db.pool) {
        println!("{line}");
    }
    0
}

/// `description [url]` for every usable repository, as `apk version -I` and
/// `apk update` print them.
pub fn index_lines(pool: &apk_core::pool::Pool) -> Vec<String> {
    pool.repos
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| *i < 64 && pool.available_repos & (1 << i) != 0)
        // An index without a description (v3's often) leaves the space before the URL.
        .map(|(_, r)| format!("{} [{}]", r.description.as_deref().unwrap_or(""), r.url))
        .collect()
}

/// `apk version [NAME...]`: each installed package against the newest version its
/// repositories (those of its tag, or all with `-a`) offer.
fn compare_installed(ctx: &Context, args: &Args) -> u32 {
    let Some(db) = ctx.open_db_or_report() else {
        return 1;
    };
    let pool = &db.pool;
    let limit = match &args.limit {
        Some(l) if l.is_empty() => None,
        Some(l) => Some(l.clone()),
        None if args.names.is_empty() && ctx.verbosity == 1 => Some("<".to_string()),
        None => None,
    };
    let mut names: Vec<_> = pool
        .installed
        .iter()
        .map(|&p| pool.pkg(p).name)
        .filter(|&n| {
            args.names.is_empty()
                || args
                    .names
                    .iter()
                    .any(|g| crate::query::legacy::glob_match(g, pool.name(n)))
        })
        .collect();
    names.sort_by(|a, b| pool.name(*a).cmp(pool.name(*b)));
    names.dedup();
    let mut rows = Vec::new();
    for name in names {
        let providers = pool.providers(name);
        let Some(installed) = providers
            .iter()
            .map(|p| p.pkg)
            .find(|&p| pool.pkg(p).name == name && pool.pkg(p).installed().is_some())
        else {
            continue;
        };
        let tag = pool.pkg(installed).installed().unwrap_or_default();
        let allowed = pool.tags[tag.index()].allowed_repos;
        let (mut latest, mut latest_repos) = (installed, 0u64);
        for p in providers.iter().map(|p| p.pkg) {
            let pk = pool.pkg(p);
            if pk.name != name || pk.repos == 0 || !(args.all || pk.repos & allowed != 0) {
                continue;
            }
            match version::compare(pool.pkg_version(pk), pool.version(latest)) {
                std::cmp::Ordering::Greater => {
                    latest = p;
                    latest_repos = pk.repos;
                }
                std::cmp::Ordering::Equal => latest_repos |= pk.repos,
                std::cmp::Ordering::Less => {}
            }
        }
        let op = match version::compare(pool.version(installed), pool.version(latest)) {
            std::cmp::Ordering::Less => "<",
            std::cmp::Ordering::Equal => "=",
            std::cmp::Ordering::Greater => ">",
        };
        if limit.as_deref().is_some_and(|l| !l.contains(op)) {
            continue;
        }
        let tag = (1..pool.tags.len())
            .find(|&i| latest_repos & pool.tags[i].allowed_repos != 0)
            .map(|i| format!("@{}", pool.tags[i].name))
            .unwrap_or_default();
        rows.push((name, pool.nv(installed), op, pool.version(latest), tag));
    }
    let width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(39);
    // A message, as apk-tools prints it: not with -q.
    if ctx.verbosity > 0 {
        println!("{:<width$}   Available:", "Installed:");
    }
    for (name, nv, op, latest, tag) in rows {
        if ctx.verbosity <= 0 {
            println!("{}", pool.name(name));
        } else {
            println!("{nv:<width$} {op} {latest} {tag}");
        }
    }
    0
}
