//! abuild's own command line, so that what works for abuild works for abuild-rs:
//! `abuild-rs [-rfFdkKqvmc] [-P REPODEST] [-s SRCDEST] [-D DESCRIPTION] [-C DIR]
//! [VERB...]`, run in the folder of an APKBUILD (or `-C DIR`), with abuild's configuration (`/etc/abuild.conf`, then
//! `~/.abuild/abuild.conf`, read by the shell as abuild reads them, over the
//! environment: `PACKAGER`, `PACKAGER_PRIVKEY`, `REPODEST`, `SRCDEST`, `JOBS`).
//!
//! Verbs: `all` (the default: everything, unless the packages are up to date), `fetch`,
//! `verify`, `checksum`, `unpack`, `deps`, `undeps`, `prepare`, `build`, `check`,
//! `package`, `rootpkg`, `index`, `clean`, `cleanpkg`, `cleanoldpkg`, `listpkg`,
//! `sanitycheck`, `up2date`, `srcpkg`. `-r` installs the build dependencies (into the
//! build's own sysroot, as every abuild-rs build does), `-f` builds even when up to
//! date, `-K` keeps the work folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apkbuild::Apkbuild;
use crate::build::{self, Failure, Step};

/// abuild's verbs.
pub const VERBS: &[&str] = &[
    "all",
    "fetch",
    "verify",
    "checksum",
    "unpack",
    "deps",
    "undeps",
    "prepare",
    "build",
    "check",
    "package",
    "rootpkg",
    "index",
    "clean",
    "cleanpkg",
    "cleanoldpkg",
    "listpkg",
    "sanitycheck",
    "up2date",
    "srcpkg",
];

/// Whether `args` (without the program name) read as abuild's command line rather than
/// abuild-rs's own subcommands: no arguments, only abuild's short options, or a verb
/// without abuild-rs's `--long` options.
pub fn is_abuild_command_line(args: &[String]) -> bool {
    if args.iter().any(|a| a.starts_with("--")) {
        return false;
    }
    let mut words = args.iter();
    while let Some(a) = words.next() {
        if let Some(flags) = a.strip_prefix('-') {
            if matches!(flags, "P" | "s" | "D" | "C") {
                words.next();
            }
            continue;
        }
        return VERBS.contains(&a.as_str());
    }
    true
}

#[derive(Debug, Default)]
struct Flags {
    install_deps: bool,
    force: bool,
    keep_work: bool,
    quiet: bool,
    verbose: bool,
    repodest: Option<PathBuf>,
    srcdest: Option<PathBuf>,
    description: Option<String>,
    print_arch: bool,
    /// `-C DIR`: the APKBUILD's folder (default: the current one).
    dir: Option<PathBuf>,
}

/// abuild's configuration, as its shell files set it over the environment.
fn config() -> std::collections::HashMap<String, String> {
    const VARS: &[&str] = &[
        "PACKAGER",
        "PACKAGER_PRIVKEY",
        "REPODEST",
        "SRCDEST",
        "JOBS",
        "CARCH",
        "ABUILD_V3_INDEX",
        "ABUILD_V3_PACKAGES",
    ];
    let conf = std::env::var("ABUILD_CONF").unwrap_or_else(|_| "/etc/abuild.conf".into());
    let user = std::env::var("ABUILD_USERCONF").unwrap_or_else(|_| {
        format!(
            "{}/.abuild/abuild.conf",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let mut script = format!(
        "[ -f '{conf}' ] && . '{conf}' >/dev/null 2>&1; [ -f '{user}' ] && . '{user}' >/dev/null 2>&1\n"
    );
    for v in VARS {
        script.push_str(&format!("printf '%s=%s\\0' {v} \"${{{v}-}}\"\n"));
    }
    let out = Command::new("sh").arg("-c").arg(script).output();
    let mut map = std::collections::HashMap::new();
    if let Ok(out) = out {
        for item in String::from_utf8_lossy(&out.stdout).split('\0') {
            if let Some((k, v)) = item.split_once('=') {
                if !v.is_empty() {
                    map.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }
    map
}

/// Runs abuild's command line; returns the exit status.
pub fn main(args: &[String]) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(Failure(m)) => {
            eprintln!(">>> ERROR: {m}");
            1
        }
    }
}

fn run(args: &[String]) -> Result<u8, Failure> {
    let mut flags = Flags::default();
    let mut verbs = Vec::new();
    let mut words = args.iter();
    while let Some(a) = words.next() {
        match a.as_str() {
            "-P" => flags.repodest = words.next().map(PathBuf::from),
            "-s" => flags.srcdest = words.next().map(PathBuf::from),
            "-D" => flags.description = words.next().cloned(),
            "-C" => flags.dir = words.next().map(PathBuf::from),
            a if a.starts_with('-') && a.len() > 1 => {
                for c in a[1..].chars() {
                    match c {
                        'r' => flags.install_deps = true,
                        'f' => flags.force = true,
                        'K' | 'k' => flags.keep_work = true,
                        'q' => flags.quiet = true,
                        'v' => flags.verbose = true,
                        'A' => flags.print_arch = true,
                        // Root allowed, no dependency check, colours: nothing to change.
                        'F' | 'd' | 'm' | 'c' => {}
                        _ => return Err(Failure(format!("unknown option -{c}"))),
                    }
                }
            }
            v => verbs.push(v.to_owned()),
        }
    }
    let conf = config();
    let carch = conf
        .get("CARCH")
        .cloned()
        .unwrap_or_else(|| apk_core::db::installed::native_arch().to_owned());
    if flags.print_arch {
        println!("{carch}");
        return Ok(0);
    }
    if verbs.is_empty() {
        verbs.push("all".into());
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let repodest = flags
        .repodest
        .clone()
        .or_else(|| conf.get("REPODEST").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(&home).join("packages"));
    let srcdest = flags
        .srcdest
        .clone()
        .or_else(|| conf.get("SRCDEST").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/cache/distfiles"));
    for v in ["PACKAGER", "ABUILD_V3_INDEX", "ABUILD_V3_PACKAGES"] {
        if let Some(p) = conf.get(v) {
            std::env::set_var(v, p);
        }
    }
    let key = conf.get("PACKAGER_PRIVKEY").map(PathBuf::from);
    let dir = flags.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let b = Apkbuild::read(&dir, &carch).map_err(|e| Failure(e.0))?;
    let opts = build::Options {
        carch: carch.clone(),
        repodest: std::path::absolute(&repodest).unwrap_or(repodest),
        sign_key: key.clone().unwrap_or_default(),
        repositories: Vec::new(),
        srcdest,
        apk: build::Options::find_apk(),
        epoch: build::Options::epoch_from_env(),
        verbose: flags.verbose || !flags.quiet,
    };
    let need_key = || -> Result<(), Failure> {
        match &key {
            Some(k) if k.is_file() => Ok(()),
            _ => Err(Failure(
                "no private key found: set PACKAGER_PRIVKEY (abuild-rs keygen -a makes one)".into(),
            )),
        }
    };
    let out_dir = opts.repodest.join(&b.repo).join(&carch);
    let description = flags
        .description
        .clone()
        .unwrap_or_else(|| build::index_description(&b.repo, &b.startdir));
    let name = b.pkgname().to_owned();
    let say = |m: &str| {
        if !flags.quiet {
            eprintln!(">>> {name}: {m}");
        }
    };
    for verb in &verbs {
        match verb.as_str() {
            "all" => {
                if !flags.force && up2date(&b, &out_dir) {
                    say("Package is up to date");
                    continue;
                }
                need_key()?;
                build::run_steps(&b, &opts, build::ALL_STEPS)?;
                build::update_index(&out_dir, &description, &opts.sign_key)?;
                if !flags.keep_work {
                    build::clean(&b, &carch);
                }
            }
            "fetch" | "verify" => {
                build::run_steps(&b, &opts, &[Step::Fetch])?;
            }
            "checksum" => {
                crate::lint::checksum(&b.startdir, &opts.srcdest)?;
            }
            "unpack" => {
                build::run_steps(&b, &opts, &[Step::Fetch, Step::Unpack])?;
            }
            "deps" => {
                build::run_steps(&b, &opts, &[Step::Deps])?;
            }
            "undeps" => {
                let sysroot = b.startdir.join(".abuild-rs").join(&carch).join("sysroot");
                let _ = std::fs::remove_dir_all(sysroot);
            }
            "prepare" => {
                build::run_steps(&b, &opts, &[Step::Prepare])?;
            }
            "build" => {
                build::run_steps(&b, &opts, &[Step::Build])?;
            }
            "check" => {
                build::run_steps(&b, &opts, &[Step::Check])?;
            }
            "package" => {
                build::run_steps(&b, &opts, &[Step::Package])?;
            }
            "rootpkg" => {
                need_key()?;
                build::run_steps(&b, &opts, &[Step::Rootpkg])?;
                build::update_index(&out_dir, &description, &opts.sign_key)?;
            }
            "index" => {
                need_key()?;
                build::update_index(&out_dir, &description, &opts.sign_key)?;
            }
            "clean" => build::clean(&b, &carch),
            "cleanpkg" | "cleanoldpkg" => {
                let ours = package_files(&b);
                let names: Vec<String> = package_names(&b);
                for f in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
                    let file = f.file_name().to_string_lossy().into_owned();
                    let mine = names.iter().any(|n| {
                        file.strip_prefix(&format!("{n}-"))
                            .and_then(|v| v.strip_suffix(".apk"))
                            .is_some_and(apk_format::version::is_valid)
                    });
                    let current = ours.contains(&file);
                    let remove = if verb == "cleanpkg" {
                        current
                    } else {
                        mine && !current
                    };
                    if remove {
                        let _ = std::fs::remove_file(f.path());
                    }
                }
                if key.as_ref().is_some_and(|k| k.is_file()) && out_dir.is_dir() {
                    build::update_index(&out_dir, &description, &opts.sign_key)?;
                }
            }
            "listpkg" => {
                for f in package_files(&b) {
                    println!("{f}");
                }
            }
            "sanitycheck" => say("Checking sanity of APKBUILD..."),
            "up2date" => {
                if !up2date(&b, &out_dir) {
                    return Ok(1);
                }
            }
            "srcpkg" => srcpkg(&b, &opts.repodest)?,
            other => return Err(Failure(format!("{other}: not an abuild verb"))),
        }
    }
    Ok(0)
}

fn package_names(b: &Apkbuild) -> Vec<String> {
    std::iter::once(b.pkgname().to_owned())
        .chain(b.subpackages().into_iter().map(|s| s.name))
        .collect()
}

/// The files a build of `b` makes: `name-pkgver-rN.apk` for it and each subpackage.
fn package_files(b: &Apkbuild) -> Vec<String> {
    let v = b.full_version();
    package_names(b)
        .into_iter()
        .map(|n| format!("{n}-{v}.apk"))
        .collect()
}

/// As abuild's `up2date`: every package file exists and is newer than the APKBUILD and
/// the local sources.
fn up2date(b: &Apkbuild, out_dir: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut inputs = vec![b.startdir.join("APKBUILD")];
    inputs.extend(
        b.sources()
            .into_iter()
            .filter(|s| !s.is_remote() && !s.location.starts_with("file://"))
            .map(|s| b.startdir.join(&s.location)),
    );
    let newest = inputs.iter().filter_map(|p| mtime(p)).max();
    package_files(b)
        .iter()
        .all(|f| match mtime(&out_dir.join(f)) {
            Some(t) => newest.is_none_or(|n| t >= n),
            None => false,
        })
}

/// `REPODEST/src/NAME-VER-rREL.src.tar.gz`: the APKBUILD and its local files.
fn srcpkg(b: &Apkbuild, repodest: &Path) -> Result<(), Failure> {
    let dir = repodest.join("src");
    std::fs::create_dir_all(&dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let out = dir.join(format!("{}-{}.src.tar.gz", b.pkgname(), b.full_version()));
    let mut files = vec!["APKBUILD".to_owned()];
    files.extend(
        b.sources()
            .into_iter()
            .filter(|s| !s.is_remote() && !s.location.starts_with("file://"))
            .map(|s| s.location),
    );
    files.extend(b.words("install"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .args(&files)
        .current_dir(&b.startdir)
        .status()
        .map_err(|e| Failure(format!("tar: {e}")))?;
    if !status.success() {
        return Err(Failure(format!("{}: tar failed", out.display())));
    }
    println!("{}", out.display());
    Ok(())
}
