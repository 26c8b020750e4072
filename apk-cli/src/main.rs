//! `apk`: the command line. Global options are parsed as apk-tools parses them (anywhere
//! on the line); each applet lives in `commands/`.

#![cfg_attr(not(test), no_main)]

// The print macros of the whole crate, in place of std's (defined before the modules,
// so every one of them uses these): as apk-tools, a write to a standard stream that is
// gone (`apk search | head -1`: the pipe's reader left) is ignored and the command goes
// on to its own exit status, where std's macros stop the process with a panic.
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::write_stream(&mut std::io::stdout(), format_args!($($arg)*))
    };
}
macro_rules! println {
    () => { print!("\n") };
    ($($arg:tt)*) => { print!("{}\n", format_args!($($arg)*)) };
}
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::output::write_stream(&mut std::io::stderr(), format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => { eprint!("\n") };
    ($($arg:tt)*) => { eprint!("{}\n", format_args!($($arg)*)) };
}

mod commands;
mod context;
mod output;
mod query;

use clap::Subcommand;

use context::GlobalOpts;

#[derive(clap::Args)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Add packages to the world and install them
    Add(commands::add::Args),
    /// Remove packages from the world and uninstall them
    Del(commands::del::Args),
    /// Upgrade installed packages
    Upgrade(commands::upgrade::Args),
    /// Reinstall or upgrade installed packages
    Fix(commands::fix::Args),
    /// Search packages by name, provided name or description
    Search(commands::search::Args),
    /// Show package details
    Info(commands::info::Args),
    /// Query packages: their fields, in the default layout, JSON or YAML
    Query(commands::query::Args),
    /// List packages
    List(commands::list::Args),
    /// Dependency graph in graphviz format
    Dot(commands::dot::Args),
    /// Show the repositories that provide each version of a package
    Policy(commands::policy::Args),
    /// Show statistics about installed and available packages
    Stats,
    /// Fetch the indexes of network repositories into the cache
    Update,
    /// List files that differ from the installed database
    Audit(commands::audit::Args),
    /// Manage the package cache: clean, download, sync
    Cache(commands::cache::Args),
    /// Download packages from the repositories
    Fetch(commands::fetch::Args),
    /// Compare versions, or check their validity
    Version(commands::version::Args),
    /// Verify package and index files
    Verify(commands::verify::Args),
    /// Create a repository index from packages
    Index(commands::index::Args),
    /// Show the checksums of package contents
    Manifest(commands::manifest::Args),
    /// Extract package files into a directory
    Extract(commands::extract::Args),
    /// Dump v3 (ADB) files as YAML or JSON
    Adbdump(commands::adbdump::Args),
    /// Create a v3 repository index from packages
    Mkndx(commands::mkndx::Args),
    /// Sign v3 (ADB) files in place
    Adbsign(commands::adbsign::Args),
    /// Make v3 (ADB) files from adbdump's YAML (written to standard output)
    Adbgen(commands::adbgen::Args),
    /// Convert v2 indexes to one v3 index (written to standard output)
    Convndx(commands::convndx::Args),
    /// Convert the installed database to a v3 one (installed.adb)
    Convdb(commands::convdb::Args),
    /// Create a v3 package
    Mkpkg(commands::mkpkg::Args),
    /// Words that are not applets (reported as apk-tools reports them)
    #[command(external_subcommand)]
    Other(Vec<String>),
}

impl Command {
    /// Whether apk-tools opens the database (and so sets up the cache folder) for the
    /// applet, with or without the root's state.
    fn opens_db(&self) -> bool {
        self.reads_state()
            || matches!(
                self,
                Command::Search(_) | Command::Dot(_) | Command::Fetch(_) | Command::Index(_)
            )
    }

    /// Whether apk-tools opens the database for writing (and so locks it first).
    fn writes(&self) -> bool {
        matches!(
            self,
            Command::Add(_)
                | Command::Del(_)
                | Command::Upgrade(_)
                | Command::Fix(_)
                | Command::Update
        )
    }

    /// Whether apk-tools opens the root's state (world, installed database) for the
    /// applet, which then fails when the database is not there.
    fn reads_state(&self) -> bool {
        match self {
            Command::Add(_)
            | Command::Del(_)
            | Command::Upgrade(_)
            | Command::Fix(_)
            | Command::Info(_)
            | Command::Query(_)
            | Command::List(_)
            | Command::Policy(_)
            | Command::Stats
            | Command::Update
            | Command::Audit(_)
            | Command::Cache(_)
            | Command::Manifest(_) => true,
            Command::Version(a) => a.reads_state(),
            Command::Search(_)
            | Command::Dot(_)
            | Command::Fetch(_)
            | Command::Verify(_)
            | Command::Index(_)
            | Command::Extract(_)
            | Command::Adbdump(_)
            | Command::Mkndx(_)
            | Command::Mkpkg(_)
            | Command::Adbsign(_)
            | Command::Adbgen(_)
            | Command::Convdb(_)
            | Command::Convndx(_)
            | Command::Other(_) => false,
        }
    }
}

/// What `--version` prints: apk-tools' line, which scripts read to tell which apk they
/// have, with apk-rs's own name and version in it.
fn version_line() -> String {
    format!(
        "apk-tools 3.0.6 (apk-rs {}), compiled for {}.",
        env!("CARGO_PKG_VERSION"),
        apk_core::db::installed::native_arch()
    )
}

/// Which option the long option word `key` names among `names` (long names or aliases,
/// each with what the caller keeps of its option), as apk-tools matches one: an exact
/// name wins over a longer one it begins (`--progress`, `--progress-fd`); otherwise
/// `key` must begin exactly one name. `Err(true)`: it begins several; `Err(false)`:
/// none.
fn match_long<'a, T: Copy>(
    names: impl Iterator<Item = (&'a str, T)> + Clone,
    key: &str,
) -> Result<T, bool> {
    if let Some((_, v)) = names.clone().find(|(n, _)| *n == key) {
        return Ok(v);
    }
    let mut by_prefix = names.filter(|(n, _)| n.starts_with(key));
    match (by_prefix.next(), by_prefix.next()) {
        (Some((_, v)), None) => Ok(v),
        (Some(_), Some(_)) => Err(true),
        _ => Err(false),
    }
}

/// The command line, for [`ambiguous_option`] on the error paths.
static ARGV: std::sync::OnceLock<Vec<std::ffi::OsString>> = std::sync::OnceLock::new();

/// The first long option of the command line (before `--`) that begins the names of
/// several options the applet takes (global ones among them) and is none of them:
/// apk-tools stops there with "ambiguous option". `None` when an option it does not
/// have at all comes first, or none is ambiguous. Looked for only once parsing failed
/// (it builds every applet).
fn ambiguous_option() -> Option<String> {
    let argv: Vec<String> = ARGV
        .get()?
        .iter()
        .skip(1)
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let globals = root_command();
    let long = |cmd: &clap::Command| -> Vec<(String, bool)> {
        cmd.get_arguments()
            .flat_map(|a| {
                let v = takes_values(a);
                let aliases = a.get_all_aliases().unwrap_or_default();
                a.get_long()
                    .into_iter()
                    .chain(aliases)
                    .map(move |n| (n.to_owned(), v))
            })
            .collect()
    };
    let find = |names: &[(String, bool)], key: &str| {
        match_long(names.iter().map(|(n, v)| (n.as_str(), *v)), key)
    };
    // The applet: the first word naming one that no global option takes as its value.
    let global_names = long(&globals);
    let words = argv.iter().take_while(|w| *w != "--");
    let mut skip = false;
    let mut applet = None;
    for w in words.clone() {
        if std::mem::take(&mut skip) {
            continue;
        }
        match w.strip_prefix("--") {
            Some(l) if !l.contains('=') => skip = find(&global_names, l).unwrap_or(false),
            Some(_) => {}
            None if w.starts_with('-') => {}
            None => {
                if let Some((_, add)) = APPLETS.iter().find(|(n, _)| *n == w) {
                    applet = Some(add);
                    break;
                }
            }
        }
    }
    let mut names = global_names;
    if let Some(add) = applet {
        names.extend(long(&add(clap::Command::new("applet"))));
    }
    let mut skip = false;
    for w in words {
        if std::mem::take(&mut skip) {
            continue;
        }
        let Some(l) = w.strip_prefix("--") else {
            continue;
        };
        let key = l.split('=').next().unwrap_or(l);
        match find(&names, key) {
            Ok(takes) => skip = takes && !l.contains('='),
            Err(true) => return Some(key.to_owned()),
            Err(false) => return None,
        }
    }
    None
}

/// Prints apk-tools' error for an ambiguous option when the command line has one.
fn reported_ambiguous() -> bool {
    let Some(name) = ambiguous_option() else {
        return false;
    };
    eprintln!("ERROR: command line: ambiguous option '{name}'");
    true
}

/// `apk` with its global options and no applets.
fn root_command() -> clap::Command {
    use clap::Args;
    GlobalOpts::augment_args(
        clap::Command::new("apk")
            .version(env!("CARGO_PKG_VERSION"))
            .about("Alpine package manager (apk-rs)")
            .disable_help_subcommand(true)
            .infer_long_args(true)
            .args_override_self(true),
    )
}

/// Each applet's name and what adds its own options (no global ones) to a command: the
/// derived [`Command`]'s applets but `Other`, for building one without the others.
type AddOptions = fn(clap::Command) -> clap::Command;
const APPLETS: &[(&str, AddOptions)] = {
    use clap::Args;
    use commands as c;
    &[
        ("add", c::add::Args::augment_args),
        ("del", c::del::Args::augment_args),
        ("upgrade", c::upgrade::Args::augment_args),
        ("fix", c::fix::Args::augment_args),
        ("search", c::search::Args::augment_args),
        ("info", c::info::Args::augment_args),
        ("query", c::query::Args::augment_args),
        ("list", c::list::Args::augment_args),
        ("dot", c::dot::Args::augment_args),
        ("policy", c::policy::Args::augment_args),
        ("stats", |c| c),
        ("update", |c| c),
        ("audit", c::audit::Args::augment_args),
        ("cache", c::cache::Args::augment_args),
        ("fetch", c::fetch::Args::augment_args),
        ("version", c::version::Args::augment_args),
        ("verify", c::verify::Args::augment_args),
        ("index", c::index::Args::augment_args),
        ("manifest", c::manifest::Args::augment_args),
        ("extract", c::extract::Args::augment_args),
        ("adbdump", c::adbdump::Args::augment_args),
        ("mkndx", c::mkndx::Args::augment_args),
        ("adbsign", c::adbsign::Args::augment_args),
        ("adbgen", c::adbgen::Args::augment_args),
        ("convndx", c::convndx::Args::augment_args),
        ("convdb", c::convdb::Args::augment_args),
        ("mkpkg", c::mkpkg::Args::augment_args),
    ]
};

/// Whether `word` names an applet.
fn is_applet_name(word: &str) -> bool {
    APPLETS.iter().any(|(name, _)| *name == word)
}

/// One applet's own options (no global ones), as the derived [`Command`] builds it,
/// without building every other applet; `None` when `word` names none.
fn applet_args(word: &str) -> Option<clap::Command> {
    let (name, add) = APPLETS.iter().find(|(name, _)| *name == word)?;
    Some(add(clap::Command::new(*name)))
}

/// The applet `sc` with the global options as its own (after its own, which are the
/// first `.1` of its arguments), when none of its options has the id of one: clap then
/// neither copies them into it nor copies their values back and forth between the two
/// levels (1.3 M instructions of a warm run's 19).
fn with_own_globals(sc: clap::Command) -> Option<(clap::Command, usize)> {
    use clap::Args;
    let own = sc.get_arguments().count();
    let sc = GlobalOpts::augment_args(sc);
    let args: Vec<&clap::Arg> = sc.get_arguments().collect();
    let (own_args, globals) = args.split_at(own);
    let disjoint = globals
        .iter()
        .all(|g| own_args.iter().all(|a| a.get_id() != g.get_id()));
    disjoint.then(|| {
        let sc = sc
            .mut_args(|a| a.global(false))
            .infer_long_args(true)
            .args_override_self(true);
        (sc, own)
    })
}

/// Parses `argv` (applet first) against `sc`, the applet with the global options as its
/// own.
fn parse_own_globals(sc: clap::Command, argv: Vec<std::ffi::OsString>) -> Result<Cli, u8> {
    use clap::FromArgMatches;
    let last = argv.last().cloned();
    let mut matches = clap::Command::new("apk")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .subcommand(sc)
        .try_get_matches_from(argv)
        .map_err(|e| usage_error_after(&e, last.as_deref()))?;
    let global = match matches.subcommand() {
        Some((_, sub)) => GlobalOpts::from_arg_matches(sub),
        None => GlobalOpts::from_arg_matches(&matches),
    }
    .map_err(|e| usage_error(&e))?;
    let command = Command::from_arg_matches_mut(&mut matches).map_err(|e| usage_error(&e))?;
    Ok(Cli {
        global,
        command: Some(command),
    })
}

/// Parses the command line as apk-tools does: options anywhere, long options by any
/// unambiguous prefix (`--update` is `--update-cache`). Errors are printed in apk's
/// words; the exit status comes back.
fn parse(argv: Vec<std::ffi::OsString>) -> Result<Cli, u8> {
    let _ = ARGV.set(argv.clone());
    // `-V` anywhere (the applet's options included) prints the version, as apk-tools
    // does when it reads the option.
    let mut options = argv.iter().skip(1).take_while(|w| *w != "--");
    if options.any(|w| w == "-V" || w == "--version") {
        println!("{}", version_line());
        return Err(0);
    }
    if !has_config() {
        if let Some((sc, argv)) = one_applet(&argv) {
            return parse_own_globals(sc, argv);
        }
    }
    use clap::FromArgMatches;
    let cmd = Command::augment_subcommands(root_command());
    let argv = with_config(&cmd, argv);
    let argv = yes_no_values(argv)?;
    let argv = applet_first(&cmd, argv);
    // Parsing against the one applet named: clap copies the ~70 global options into
    // every subcommand it knows, which for all of them cost more than the rest of a
    // warm `--simulate add` together (1.5 ms of 7).
    let applet = argv
        .get(1)
        .and_then(|w| w.to_str())
        .and_then(|w| cmd.find_subcommand(w));
    if let Some((sc, _)) = applet.and_then(|sc| with_own_globals(sc.clone())) {
        return parse_own_globals(sc, argv);
    }
    let cmd = match applet.cloned() {
        Some(sc) => root_command().subcommand(sc),
        None => cmd,
    };
    let last = argv.last().cloned();
    let matches = cmd
        .mut_subcommands(|sc| sc.infer_long_args(true).args_override_self(true))
        .try_get_matches_from(argv)
        .map_err(|e| usage_error_after(&e, last.as_deref()))?;
    Cli::from_arg_matches(&matches).map_err(|e| usage_error(&e))
}

/// The common command line, ready to parse without building every applet (which cost
/// a warm `--simulate add` 0.45 of its 5 ms): the applet with the global options as its
/// own and `argv` with the applet first, as [`parse`]'s full way makes them (but for
/// the applet's one-line description, which only its help shows). `None` unless the
/// applet is the first word naming one and every word before it is a global option
/// whose meaning the global options alone settle (an exact long name, or a short one
/// taking a value), and no help or `--option=value` is asked for.
fn one_applet(argv: &[std::ffi::OsString]) -> Option<(clap::Command, Vec<std::ffi::OsString>)> {
    let words: Vec<&str> = argv
        .iter()
        .skip(1)
        .map(|w| w.to_str())
        .collect::<Option<_>>()?;
    let short = |w: &str| w.starts_with('-') && !w.starts_with("--");
    let asks = |w: &&str| {
        (short(w) && w.contains('h'))
            || w.starts_with("--h")
            || (w.starts_with("--") && w.contains('='))
    };
    if words.iter().take_while(|w| **w != "--").any(asks) {
        return None;
    }
    let guess = 1 + words.iter().position(|w| is_applet_name(w))?;
    let (sc, own) = applet_args(&argv[guess].to_string_lossy()).and_then(with_own_globals)?;
    let globals: Vec<&clap::Arg> = sc.get_arguments().skip(own).collect();
    // What the full way decides for an option word, where the global options alone
    // settle it.
    let facts = |w: &str| -> Option<OptionWord> {
        let global = match w.strip_prefix("--") {
            Some(long) => globals.iter().find(|a| a.get_long() == Some(long))?,
            None => globals
                .iter()
                .find(|a| w.len() == 2 && a.get_short().is_some_and(|c| w.ends_with(c)))
                .filter(|a| takes_values(a))?,
        };
        Some(OptionWord {
            takes_value: takes_values(global),
            global_valued: takes_values(global),
        })
    };
    let pos = applet_position(argv, is_applet_name, facts).ok()??;
    (pos == guess).then(|| (sc, reorder(argv.to_vec(), pos)))
}

/// Whether the option takes a value.
fn takes_values(a: &clap::Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_action().takes_values()
}

/// Where apk's configuration file is read from when `$APK_CONFIG` is not set: the
/// first, else (when it does not exist) the second.
const CONFIG_FILES: [&str; 2] = ["/etc/apk/config", "/lib/apk/config"];

/// Whether apk's configuration file is there (what [`with_config`] reads).
fn has_config() -> bool {
    std::env::var_os("APK_CONFIG").is_some()
        || CONFIG_FILES
            .iter()
            .any(|p| std::path::Path::new(p).exists())
}

/// The options of apk's configuration file (`$APK_CONFIG`, else `/etc/apk/config`,
/// else `/lib/apk/config`: one `option [value]` per line, `#` comments), put before
/// the command line's so that those win. An option apk does not have is a warning.
fn with_config(cmd: &clap::Command, argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let text = match std::env::var_os("APK_CONFIG") {
        Some(p) => std::fs::read_to_string(p).ok(),
        None => match std::fs::read_to_string(CONFIG_FILES[0]) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::read_to_string(CONFIG_FILES[1]).ok()
            }
            r => r.ok(),
        },
    };
    let Some(text) = text else {
        return argv;
    };
    // The applet named on the command line: its options are allowed too.
    let applet = argv.iter().skip(1).find_map(|w| {
        let w = w.to_string_lossy();
        cmd.get_subcommands().find(|sc| sc.get_name() == w)
    });
    // The commit options are the commit applets' only, as apk-tools reads the file.
    const COMMIT_OPTIONS: &[&str] = &[
        "clean-protected",
        "no-clean-protected",
        "commit-hooks",
        "no-commit-hooks",
        "initramfs-diskless-boot",
        "overlay-from-stdin",
        "scripts",
        "no-scripts",
        "simulate",
        "no-simulate",
    ];
    let commit_applet =
        applet.is_some_and(|sc| matches!(sc.get_name(), "add" | "del" | "fix" | "upgrade"));
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .chain(applet.into_iter().flat_map(|sc| sc.get_arguments()))
        .filter(|a| {
            a.get_long()
                .is_some_and(|l| commit_applet || !COMMIT_OPTIONS.contains(&l))
        })
        .collect();
    let mut words: Vec<std::ffi::OsString> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let (key, value) = match line.split_once(' ') {
            Some((k, v)) => (k.trim_end(), Some(v)),
            None => (line.trim_end(), None),
        };
        if key.is_empty() {
            continue;
        }
        let names = args.iter().filter_map(|a| Some((a.get_long()?, *a)));
        let Ok(arg) = match_long(names, key) else {
            output::warning(format!("config: unrecognized option '{key}'"));
            continue;
        };
        let long = arg.get_long().unwrap_or(key);
        let takes_value = arg.get_action().takes_values();
        match (takes_value, value) {
            (true, Some(v)) => {
                words.push(format!("--{long}").into());
                words.push(v.into());
            }
            (true, None) => output::warning(format!("config: option '{key}' expects an argument")),
            (false, Some(v)) if YES_NO_OPTIONS.contains(&long) || AUTO_OPTIONS.contains(&long) => {
                words.push(format!("--{long}={v}").into())
            }
            (false, Some(v)) => output::warning(format!(
                "config: option '{key}' does not expect argument (got '{v}')"
            )),
            (false, None) => words.push(format!("--{long}").into()),
        }
    }
    let mut out = Vec::with_capacity(argv.len() + words.len());
    let mut rest = argv.into_iter();
    out.extend(rest.next());
    out.extend(words);
    out.extend(rest);
    out
}

/// apk-tools' yes/no options (`--X`, `--no-X`, `--X=yes|no`), and those that also take
/// `auto`.
const YES_NO_OPTIONS: &[&str] = &[
    "cache",
    "cache-packages",
    "cache-predownload",
    "check-certificate",
    "clean-protected",
    "commit-hooks",
    "legacy-info",
    "logfile",
    "network",
    "preserve-env",
    "purge",
    "scripts",
    "simulate",
];
const AUTO_OPTIONS: &[&str] = &[
    "interactive",
    "pretty-print",
    "progress",
    "root-tmpfs",
    "sync",
];

/// `--X=yes` and `--X=no` of apk-tools' yes/no options, as `--X` and `--no-X`;
/// `--X=auto` (where allowed) leaves the default.
fn yes_no_values(argv: Vec<std::ffi::OsString>) -> Result<Vec<std::ffi::OsString>, u8> {
    let mut out = Vec::with_capacity(argv.len());
    let mut options_end = false;
    for w in argv {
        let text = w.to_string_lossy().into_owned();
        options_end |= text == "--";
        let pair = text
            .strip_prefix("--")
            .and_then(|r| r.split_once('='))
            .filter(|_| !options_end);
        let Some((key, value)) = pair else {
            out.push(w);
            continue;
        };
        let all = YES_NO_OPTIONS.iter().chain(AUTO_OPTIONS);
        let exact = all.clone().find(|n| **n == key);
        let prefixed: Vec<&&str> = all.filter(|n| n.starts_with(key)).collect();
        let name = match (exact, prefixed.as_slice()) {
            (Some(n), _) => *n,
            // A prefix of a yes/no option only when the value is one (`--root=.` is
            // `--root`, not `--rootnode`).
            (None, [n]) if matches!(value, "yes" | "no" | "auto") => **n,
            _ => {
                out.push(w);
                continue;
            }
        };
        match value {
            "yes" => out.push(format!("--{name}").into()),
            "no" => out.push(format!("--no-{name}").into()),
            "auto" if AUTO_OPTIONS.contains(&name) => {}
            _ => {
                eprintln!("ERROR: command line: invalid argument for option '{key}': '{value}'");
                return Err(1);
            }
        }
    }
    Ok(out)
}

/// Applets whose options include apk's commit group (`-s` is `--simulate` there).
const COMMIT_APPLETS: &[&str] = &["add", "del", "upgrade", "fix", "cache"];

/// apk-tools reads options wherever they stand; clap wants an applet's own options after
/// the applet. So the words before the applet name are moved after it (the order of
/// options does not matter to apk), and a lone `-s` of a commit applet becomes
/// `--simulate`.
fn applet_first(cmd: &clap::Command, argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // Options that take a value (global, or of any applet, as apk-tools reads an
    // applet's options before its name too): their next word is not the applet.
    let takes_value = |word: &str| {
        let all: Vec<&clap::Arg> = cmd
            .get_arguments()
            .chain(cmd.get_subcommands().flat_map(|sc| sc.get_arguments()))
            .filter(|a| !a.is_positional())
            .collect();
        if let Some(l) = word.strip_prefix("--") {
            if l.contains('=') {
                return false;
            }
            // A one-letter prefix counts only as an exact name.
            let names = all.iter().filter_map(|a| Some((a.get_long()?, *a)));
            return match match_long(names, l) {
                Ok(a) if l.len() > 1 || a.get_long() == Some(l) => takes_values(a),
                _ => false,
            };
        }
        word.len() == 2
            && word.starts_with('-')
            && all
                .iter()
                .any(|a| takes_values(a) && a.get_short().is_some_and(|c| word.ends_with(c)))
    };
    let is_applet = |w: &str| cmd.get_subcommands().any(|sc| sc.get_name() == w);
    let global_valued = |w: &str| {
        cmd.get_arguments().any(|a| {
            takes_values(a)
                && (w
                    .strip_prefix("--")
                    .is_some_and(|l| a.get_long() == Some(l))
                    || (w.len() == 2 && a.get_short().is_some_and(|c| w.ends_with(c))))
        })
    };
    let facts = |w: &str| {
        Some(OptionWord {
            takes_value: takes_value(w),
            global_valued: global_valued(w),
        })
    };
    match applet_position(&argv, is_applet, facts) {
        Ok(Some(pos)) => reorder(argv, pos),
        _ => argv,
    }
}

/// What finding the applet needs to know of an option word before it.
struct OptionWord {
    /// Whether it takes the next word as its value (as some option, global or not).
    takes_value: bool,
    /// Whether a global option of that name takes a value.
    global_valued: bool,
}

/// Where the applet stands in `argv`, found as apk-tools finds it: the first word naming
/// one that no global option takes as its value (`-s add`: mkpkg's `-s` takes a script,
/// but `add` is the applet, and `-s` then `--simulate`). `Ok(None)`: there is none;
/// `Err(())`: `facts` could not tell of an option word.
fn applet_position(
    argv: &[std::ffi::OsString],
    is_applet: impl Fn(&str) -> bool,
    facts: impl Fn(&str) -> Option<OptionWord>,
) -> Result<Option<usize>, ()> {
    let mut i = 1;
    while i < argv.len() {
        let w = argv[i].to_string_lossy();
        if w == "--" {
            break;
        }
        if w.starts_with('-') && w.len() > 1 {
            let next_is_applet = argv
                .get(i + 1)
                .is_some_and(|n| is_applet(&n.to_string_lossy()));
            let word = facts(&w).ok_or(())?;
            if word.takes_value && (!next_is_applet || word.global_valued) {
                i += 1;
            }
        } else {
            return Ok(Some(i));
        }
        i += 1;
    }
    Ok(None)
}

/// `argv` with the applet at `pos` moved first: the words before it follow it (the order
/// of options does not matter to apk), and a lone `-s` of a commit applet becomes
/// `--simulate`.
fn reorder(argv: Vec<std::ffi::OsString>, pos: usize) -> Vec<std::ffi::OsString> {
    let applet = argv[pos].to_string_lossy().into_owned();
    let commit = COMMIT_APPLETS.contains(&applet.as_str());
    let fix = |w: &std::ffi::OsString| {
        if commit && w == "-s" {
            std::ffi::OsString::from("--simulate")
        } else {
            w.clone()
        }
    };
    let mut out = vec![argv[0].clone(), argv[pos].clone()];
    out.extend(argv[1..pos].iter().map(fix));
    let mut after_dashes = false;
    for w in &argv[pos + 1..] {
        after_dashes |= w == "--";
        out.push(if after_dashes { w.clone() } else { fix(w) });
    }
    out
}

fn usage_error(e: &clap::Error) -> u8 {
    usage_error_after(e, None)
}

/// [`usage_error`], knowing the command line's last word: an option there whose value
/// is missing is named as it was given (`-t`, `--virtual`), as apk-tools names it.
fn usage_error_after(e: &clap::Error, last: Option<&std::ffi::OsStr>) -> u8 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        // apk-tools prints its version line, and before the help text too; asking for
        // help (as giving no applet) exits 1 there.
        ErrorKind::DisplayVersion => {
            println!("{}", version_line());
            return 0;
        }
        ErrorKind::DisplayHelp => {
            println!("{}\n", version_line());
            let _ = e.print();
            return 1;
        }
        ErrorKind::TooManyValues => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(a)) => a.clone(),
                _ => String::new(),
            };
            if let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue) {
                let name = arg.split([' ', '=']).next().unwrap_or("");
                let name = name.trim_start_matches('-');
                eprintln!(
                    "ERROR: command line: option '{name}' does not expect argument (got '{value}')"
                );
                return 1;
            }
        }
        ErrorKind::UnknownArgument => {
            if reported_ambiguous() {
                return 1;
            }
            if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
                let name = arg.trim_start_matches('-');
                let name = name.split('=').next().unwrap_or(name);
                eprintln!("ERROR: command line: unrecognized option '{name}'");
                return 1;
            }
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(a)) => a.clone(),
                _ => String::new(),
            };
            let value = match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            // The option must be the last word: a short one (`-t`), or the long one
            // clap names (`--virtual <NAME>`) or a prefix of it (`--virt`).
            let given = last
                .and_then(|w| w.to_str())
                .filter(|w| w.starts_with('-') && !w.contains('='))
                .filter(|w| {
                    !w.starts_with("--") || arg.split(' ').next().is_some_and(|a| a.starts_with(*w))
                });
            if let (true, Some(w)) = (value.is_empty(), given) {
                let w = w.trim_start_matches('-');
                eprintln!("ERROR: command line: option '{w}' expects an argument");
                return 1;
            }
            // `--compression <SPEC>` → `compression`, as apk-tools names options.
            let name = arg
                .split([' ', '='])
                .next()
                .unwrap_or("")
                .trim_start_matches('-');
            if !name.is_empty() {
                eprintln!("ERROR: command line: invalid argument for option '{name}': '{value}'");
                return 1;
            }
        }
        _ => {}
    }
    let text = e.render().to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ");
    eprintln!("ERROR: command line: {first}");
    1
}

/// A commit keeps every installed package's record until it writes the database, while
/// its reading thread allocates and frees the pieces in flight: in a second malloc
/// arena those leave a heap of their own behind. One arena for both keeps the peak
/// lower (the 200-package install, `/usr/bin/time` maxrss in paired runs: 8.38-8.58
/// MiB against 8.59-8.77 MiB with glibc's default).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_ARENA_MAX: std::ffi::c_int = -8;
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: glibc's `mallopt` takes two integers and may be called at any time
        // (it locks the arena it changes); no thread has been started yet.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

/// The process's entry, in place of Rust's runtime start (`#![no_main]`). That start
/// finds the main thread's stack for its overflow guard through glibc's
/// `pthread_getattr_np`, which reads `/proc/self/maps` and the CPU affinity, and maps
/// a signal stack: a third of a millisecond of every run here (task clock of a program
/// that prints a line: 1.01 ms with it, 0.67 ms without), 4-6% of a warm
/// `--simulate add`'s (4.78/4.63 -> 4.49/4.45 ms). What else it does is done here: the standard descriptors are
/// made open and `SIGPIPE` ignored before anything else runs, and standard output is
/// flushed at the end. (Arguments come from glibc as before; a stack overflow ends the
/// process with `SIGSEGV` instead of a message.)
#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    start_up();
    let code = run();
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    std::ffi::c_int::from(code)
}

/// What Rust's runtime start does before `main` but the stack overflow guard: a closed
/// standard descriptor is opened on `/dev/null` (so that no file opened later becomes
/// standard output), and a write to a closed pipe fails with `EPIPE` instead of killing
/// the process.
fn start_up() {
    use rustix::fd::BorrowedFd;
    for fd in 0..3 {
        // SAFETY: the descriptor is only asked about, not used or closed.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        if rustix::io::fcntl_getfd(fd) == Err(rustix::io::Errno::BADF) {
            // Opened on the lowest free descriptor: this one. Kept open for the run.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                std::mem::forget(null);
            }
        }
    }
    const SIGPIPE: std::ffi::c_int = 13;
    const SIG_IGN: usize = 1;
    unsafe extern "C" {
        fn signal(signum: std::ffi::c_int, handler: usize) -> usize;
    }
    // SAFETY: `signal` takes a signal number and a handler; `SIG_IGN` is a valid one
    // and no thread has been started yet.
    unsafe {
        signal(SIGPIPE, SIG_IGN);
    }
}

/// The command's work; the exit status comes back.
fn run() -> u8 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv
        .get(1)
        .is_some_and(|a| a == apk_core::fs::sandbox::SANDBOX_ARG)
    {
        let code = apk_core::fs::sandbox::sandbox_main(&argv[2..]);
        return u8::try_from(code).unwrap_or(127);
    }
    if let Ok(exe) = std::env::current_exe() {
        apk_core::fs::sandbox::set_launcher(exe);
    }
    let cli = match parse(argv) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if cli.command.as_ref().is_some_and(Command::writes) {
        one_malloc_arena();
    }
    // As apk-tools: the architecture apk was built for, printed as the option is read
    // (before the root is opened; neither `--arch` nor the root's `etc/apk/arch`
    // changes it).
    // No applet: the usage, as apk-tools prints it before opening anything.
    if cli.command.is_none() && !cli.global.print_arch {
        println!("{}\n", version_line());
        use clap::Subcommand;
        let _ = Command::augment_subcommands(root_command()).print_help();
        return 1;
    }
    if cli.global.print_arch {
        println!("{}", apk_core::db::installed::native_arch());
        return 0;
    }
    let ctx = match context::Context::new(cli.global) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("ERROR: {msg}");
            return 1;
        }
    };
    // As apk-tools: every applet opens the root first (`--initdb` makes it).
    if !ctx.root.is_dir() {
        let made = ctx.opts.initdb && std::fs::create_dir_all(&ctx.root).is_ok();
        if !made {
            let why = match std::fs::metadata(&ctx.root) {
                Ok(_) => "Not a directory".to_owned(),
                Err(e) => apk_format::error::io_reason(&e),
            };
            eprintln!("ERROR: Unable to open root: {why}");
            return 99;
        }
    }
    // Creating a database: as root only without --usermode, as a user only with it.
    if ctx.opts.initdb && !ctx.opts.simulate {
        let root_user = apk_core::fs::is_root();
        let asked = ctx.opts.usermode || ctx.opts.no_chown;
        if root_user && asked {
            eprintln!("ERROR: --usermode not allowed as root");
            return 99;
        }
        if !root_user && !asked {
            eprintln!("ERROR: Use --usermode to allow creating database as non-root");
            return 99;
        }
    }
    let Some(command) = cli.command else {
        return 1;
    };
    // Applets that read the root's state need its database, as apk-tools opens it:
    // `lib/apk/db` and `etc/apk/world` must be there unless `--initdb` creates them
    // (an installed database that is missing only reads as empty).
    // Applets that write take the lock first, in the database folder.
    if command.writes() {
        ctx.open_log();
    }
    if command.reads_state() && !ctx.opts.initdb && command.writes() && !ctx.opts.simulate {
        if let Err(why) = database_folder(&ctx.root).and_then(|()| ctx.lock_for_writing()) {
            output::err(&format!("ERROR: Unable to lock database: {why}"));
            output::err(&format!("ERROR: Failed to open apk database: {why}"));
            return 99;
        }
    }
    if command.opens_db() {
        if let Err(why) = ctx.setup_cache() {
            output::err(&format!("ERROR: Unable to setup the cache: {why}"));
            output::err(&format!("ERROR: Failed to open apk database: {why}"));
            return 99;
        }
    }
    // Under `--simulate`, `--initdb` creates nothing, so the database must be there.
    if command.reads_state() && (!ctx.opts.initdb || ctx.opts.simulate) {
        if let Err(why) = database_folder(&ctx.root).and_then(|()| world_present(&ctx.root)) {
            output::err(&format!("ERROR: Unable to read database: {why}"));
            output::err(&format!("ERROR: Failed to open apk database: {why}"));
            return 99;
        }
    }
    let failures = match command {
        Command::Add(a) => commands::add::run(&ctx, a),
        Command::Del(a) => commands::del::run(&ctx, a),
        Command::Upgrade(a) => commands::upgrade::run(&ctx, a),
        Command::Fix(a) => commands::fix::run(&ctx, a),
        Command::Search(a) => commands::search::run(&ctx, a),
        Command::Info(a) => commands::info::run(&ctx, a),
        Command::Query(a) => commands::query::run(&ctx, a),
        Command::Adbdump(a) => commands::adbdump::run(&ctx, a),
        Command::Mkndx(a) => commands::mkndx::run(&ctx, a),
        Command::Adbsign(a) => commands::adbsign::run(&ctx, a),
        Command::Adbgen(a) => commands::adbgen::run(&ctx, a),
        Command::Convdb(a) => commands::convdb::run(&ctx, a),
        Command::Convndx(a) => commands::convndx::run(&ctx, a),
        Command::Mkpkg(a) => commands::mkpkg::run(&ctx, a),
        Command::List(a) => commands::list::run(&ctx, a),
        Command::Dot(a) => commands::dot::run(&ctx, a),
        Command::Policy(a) => commands::policy::run(&ctx, a),
        Command::Fetch(a) => commands::fetch::run(&ctx, a),
        Command::Stats => commands::stats::run(&ctx),
        Command::Update => commands::update::run(&ctx),
        Command::Audit(a) => commands::audit::run(&ctx, a),
        Command::Cache(a) => commands::cache::run(&ctx, a),
        Command::Version(a) => commands::version::run(&ctx, a),
        Command::Verify(a) => commands::verify::run(&ctx, a),
        Command::Index(a) => commands::index::run(&ctx, a),
        Command::Manifest(a) => commands::manifest::run(&ctx, a),
        Command::Extract(a) => commands::extract::run(&ctx, a),
        Command::Other(_) if reported_ambiguous() => 1,
        Command::Other(words) => {
            let name = words.first().map(String::as_str).unwrap_or("");
            eprintln!("ERROR: '{name}' is not an apk command. See 'apk --help'.");
            1
        }
    };
    // apk-tools caps its exit status at 99 (error counts, and 99 for a failure).
    failures.min(99) as u8
}

/// Whether the root's database folder is there.
fn database_folder(root: &std::path::Path) -> Result<(), String> {
    match std::fs::metadata(root.join("lib/apk/db")) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err("Not a directory".into()),
        Err(e) => Err(apk_format::error::io_reason(&e)),
    }
}

/// Whether the root's world file can be read.
fn world_present(root: &std::path::Path) -> Result<(), String> {
    match std::fs::File::open(root.join("etc/apk/world")) {
        Ok(_) => Ok(()),
        Err(e) => Err(apk_format::error::io_reason(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    /// Every applet of the derived [`Command`], each as `applet_args` builds it.
    #[test]
    fn the_applet_table_builds_every_applet_as_the_derived_command_does() {
        let full = Command::augment_subcommands(root_command());
        let names: Vec<&str> = full.get_subcommands().map(|sc| sc.get_name()).collect();
        assert_eq!(names, APPLETS.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        for sc in full.get_subcommands() {
            let one = applet_args(sc.get_name()).expect("in the table");
            // The description is the one thing the table leaves out (help takes the full
            // way).
            let one = one.about(sc.get_about().cloned().unwrap_or_default());
            assert_eq!(shape(&one), shape(sc), "{}", sc.get_name());
        }
        assert!(applet_args("frobnicate").is_none());
    }

    /// `sc` as Debug shows it, but for its place among its parent's applets (the first
    /// `disp_ord`, which adding it to a parent sets).
    fn shape(sc: &clap::Command) -> String {
        let text = format!("{sc:?}");
        let Some(at) = text.find("disp_ord: ") else {
            return text;
        };
        let end = at + text[at..].find(", ").unwrap_or(0);
        format!("{}{}", &text[..at], &text[end..])
    }

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// The full way's applet and words, as [`parse`] makes them with no configuration.
    fn full_way(argv: Vec<OsString>) -> Option<(clap::Command, Vec<OsString>)> {
        let cmd = Command::augment_subcommands(root_command());
        let argv = applet_first(&cmd, argv);
        let sc = cmd.find_subcommand(argv.get(1)?.to_str()?)?.clone();
        let (sc, _) = with_own_globals(sc)?;
        Some((sc, argv))
    }

    #[test]
    fn the_one_applet_way_parses_what_the_full_way_parses() {
        let taken = [
            "apk --root /r --simulate add alpine-base build-base",
            "apk add --update --no-cache curl",
            "apk -X /repo --allow-untrusted add x",
            "apk --root /mnt --initdb add alpine-base",
            "apk -p /r del x",
            "apk --arch x86_64 -X /repo fetch -o /out x",
            "apk info -e musl",
            "apk version -t 1.0 2.0",
            "apk stats",
            "apk update",
            "apk --repositories-file /dev/null index -o out.tar.gz a.apk -- -h",
            "apk add -- busybox=1.36",
        ];
        for line in taken {
            let (sc, argv) = one_applet(&words(line)).unwrap_or_else(|| panic!("{line}"));
            let (full, full_argv) = full_way(words(line)).expect("the full way");
            let sc = sc.about(full.get_about().cloned().unwrap_or_default());
            assert_eq!(argv, full_argv, "{line}");
            assert_eq!(shape(&sc), shape(&full), "{line}");
        }
        // What the global options alone do not settle goes the full way.
        let left = [
            "apk --help",
            "apk add -h",
            "apk add --he",
            "apk -qh add",
            "apk --upd add x",
            "apk --scripts=no add x",
            "apk -v add x",
            "apk --root /r -s add x",
            "apk --version",
            "apk frobnicate x",
            "apk -- add x",
            "apk",
        ];
        for line in left {
            assert!(one_applet(&words(line)).is_none(), "{line}");
        }
    }
}
