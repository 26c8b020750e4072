//! Building one APKBUILD for one architecture: sources fetched and checked, the
//! `makedepends` installed into a per-build sysroot with our own `apk`, the stages
//! run, the tree split into (sub)packages, dependencies traced, packages written and
//! signed into `REPODEST/<repo>/<arch>/`, and that index rebuilt and signed.
//!
//! Work happens in `<startdir>/.abuild-rs/<arch>/` (`src`, `pkg`, `tmp`, `sysroot`),
//! so builds of one package for several architectures do not meet.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use apk_format::sign::PrivateKey;
use apk_format::v2::package::PackageBuilder;
use apk_format::v2::pkginfo::PkgInfo;
use sha2::{Digest, Sha512};

use crate::apkbuild::{base_env, shell, Apkbuild, Subpackage};
use crate::owners::{self, Fakeroot, OwnerMap};
use crate::tracedeps;

const PRELUDE: &str = include_str!("shell/prelude.sh");

#[derive(Debug, Clone)]
pub struct Options {
    pub carch: String,
    pub repodest: PathBuf,
    pub sign_key: PathBuf,
    /// Other repositories `makedepends` may come from.
    pub repositories: Vec<String>,
    /// Where downloaded sources are kept (`SRCDEST`).
    pub srcdest: PathBuf,
    /// Our `apk`, which installs the `makedepends`.
    pub apk: PathBuf,
    /// `SOURCE_DATE_EPOCH`: build date and the time of every file.
    pub epoch: u64,
    /// Print the stages' output (else it is kept and shown only on failure).
    pub verbose: bool,
}

impl Options {
    /// The `apk` next to this program, else `$APK`, else `apk` on the `PATH`.
    pub fn find_apk() -> PathBuf {
        if let Ok(p) = std::env::var("APK") {
            return PathBuf::from(p);
        }
        let sibling = std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.join("apk")));
        match sibling {
            Some(p) if p.is_file() => p,
            _ => PathBuf::from("apk"),
        }
    }

    /// `$SOURCE_DATE_EPOCH`, else now.
    pub fn epoch_from_env() -> u64 {
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            })
    }
}

/// What a build produced: the package files written.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub packages: Vec<PathBuf>,
}

/// A failed build: the stage and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into()))
}

struct Dirs {
    work: PathBuf,
    src: PathBuf,
    pkg: PathBuf,
    tmp: PathBuf,
    sysroot: PathBuf,
    /// The fakeroot session of the staging stages, when building as a user.
    fakeroot: Option<Fakeroot>,
}

/// One of abuild's steps, which its verbs run (`abuild fetch`, `abuild rootpkg`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Remove the work folder (`clean`).
    Clean,
    /// Install `makedepends` into the build's sysroot (`deps`).
    Deps,
    /// Copy or download the sources and check them (`fetch`, `verify`).
    Fetch,
    /// Unpack the archives among them (`unpack`).
    Unpack,
    Prepare,
    Build,
    Check,
    /// Run `package()` into a fresh `$pkgdir` (`package`).
    Package,
    /// `package()`, the split functions and the packages written (`rootpkg`).
    Rootpkg,
}

/// Everything `abuild` (`all`) does for one package.
pub const ALL_STEPS: &[Step] = &[
    Step::Clean,
    Step::Deps,
    Step::Fetch,
    Step::Unpack,
    Step::Prepare,
    Step::Build,
    Step::Check,
    Step::Rootpkg,
];

/// Builds `b` for `opts.carch`.
pub fn build(b: &Apkbuild, opts: &Options) -> Result<Built, Failure> {
    run_steps(b, opts, ALL_STEPS)
}

/// The work folder of `b`'s build for `carch`: `src`, `pkg`, `tmp` and the sysroot.
fn dirs_of(b: &Apkbuild, carch: &str) -> Dirs {
    let work = b.startdir.join(".abuild-rs").join(carch);
    Dirs {
        src: work.join("src"),
        pkg: work.join("pkg"),
        tmp: work.join("tmp"),
        sysroot: work.join("sysroot"),
        fakeroot: Fakeroot::detect(&work),
        work,
    }
}

/// Removes `b`'s work folder for `carch` (abuild's `clean`).
pub fn clean(b: &Apkbuild, carch: &str) {
    let work = dirs_of(b, carch).work;
    let _ = std::fs::remove_dir_all(&work);
    // The per-arch folders share one parent: drop it too once the last one is gone,
    // as abuild leaves no trace of a finished build beside the APKBUILD.
    if let Some(parent) = work.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

/// Runs `steps` in order, each from what the previous ones (or an earlier run) left in
/// the work folder; returns the packages written (by `Rootpkg`).
pub fn run_steps(b: &Apkbuild, opts: &Options, steps: &[Step]) -> Result<Built, Failure> {
    let name = b.pkgname().to_owned();
    if !b.builds_for(&opts.carch) {
        return fail(format!(
            "{name}: not built for {} (arch=\"{}\")",
            opts.carch,
            b.var("arch")
        ));
    }
    let dirs = dirs_of(b, &opts.carch);
    let mut built = Built::default();
    // Each stage runs in $builddir when it exists, else in the APKBUILD's folder, as
    // abuild runs them; a missing check() only warns (the prelude's default).
    const IN_BUILDDIR: &str = "if [ -d \"$builddir\" ]; then cd \"$builddir\"; fi\n";
    let env = |dirs: &Dirs| {
        let sysroot = dirs
            .sysroot
            .join("lib/apk/db")
            .is_dir()
            .then(|| dirs.sysroot.clone());
        stage_env(b, opts, dirs, sysroot.as_deref())
    };
    for &step in steps {
        if step != Step::Clean {
            for d in [&dirs.src, &dirs.pkg, &dirs.tmp] {
                std::fs::create_dir_all(d).map_err(|e| Failure(format!("{}: {e}", d.display())))?;
            }
        }
        match step {
            Step::Clean => clean(b, &opts.carch),
            Step::Deps => {
                install_makedepends(b, opts, &dirs)?;
            }
            Step::Fetch => fetch_sources(b, opts, &dirs)?,
            Step::Unpack => unpack_sources(b, &dirs)?,
            Step::Prepare => {
                run_stage(
                    b,
                    opts,
                    &env(&dirs),
                    "prepare",
                    &format!("{IN_BUILDDIR}prepare"),
                )?;
            }
            Step::Build => {
                if b.has_function("build") {
                    run_stage(
                        b,
                        opts,
                        &env(&dirs),
                        "build",
                        &format!("{IN_BUILDDIR}build"),
                    )?;
                }
            }
            Step::Check => {
                if !b.has_option("!check") {
                    run_stage(
                        b,
                        opts,
                        &env(&dirs),
                        "check",
                        &format!("{IN_BUILDDIR}check"),
                    )?;
                }
            }
            Step::Package | Step::Rootpkg => {
                // A fresh $pkgdir, as abuild makes one for every package() run.
                let _ = std::fs::remove_dir_all(&dirs.pkg);
                std::fs::create_dir_all(&dirs.pkg)
                    .map_err(|e| Failure(format!("{}: {e}", dirs.pkg.display())))?;
                owners::make_users(&b.words("pkgusers"), &b.words("pkggroups"))
                    .map_err(|e| Failure(format!("{name}: {e}")))?;
                let env = env(&dirs);
                if let Some(f) = &dirs.fakeroot {
                    f.reset();
                }
                run_stage_as(
                    b,
                    opts,
                    &env,
                    "package",
                    &format!("{IN_BUILDDIR}package"),
                    dirs.fakeroot.as_ref(),
                )?;
                let pkgdir = dirs.pkg.join(&name);
                if !pkgdir.is_dir() {
                    return fail(format!(
                        "{name}: package() did not create $pkgdir (use mkdir -p \"$pkgdir\" for a package without files)"
                    ));
                }
                if step == Step::Rootpkg {
                    let mut metas = vec![Meta::main(b)];
                    for sub in b.subpackages() {
                        metas.push(split(b, opts, &env, &dirs, &sub)?);
                    }
                    for m in &metas {
                        postcheck(b, &m.name, &dirs.pkg.join(&m.name))?;
                    }
                    built = write_packages(b, opts, &dirs, &metas)?;
                }
            }
        }
    }
    Ok(built)
}

/// Copies (local) or downloads (remote, into `srcdest`) every source into `srcdir`
/// and checks its `sha512sums` entry.
fn fetch_sources(b: &Apkbuild, opts: &Options, dirs: &Dirs) -> Result<(), Failure> {
    let name = b.pkgname();
    let sums = b.sha512sums();
    let fetcher = apk_core::repo::fetch::Fetcher::default();
    for s in b.sources() {
        let dest = dirs.src.join(&s.filename);
        let origin = source_file(b, &s, &opts.srcdest, &fetcher)?;
        if !origin.is_file() {
            return fail(format!(
                "{name}: source '{}' not found ({})",
                s.filename,
                origin.display()
            ));
        }
        std::fs::copy(&origin, &dest).map_err(|e| Failure(format!("{}: {e}", dest.display())))?;
        let want = sums.get(&s.filename).cloned().unwrap_or_default();
        let got = sha512_file(&dest).map_err(|e| Failure(format!("{}: {e}", dest.display())))?;
        if got != want {
            return fail(format!(
                "{name}: sha512sum of '{}' does not match: expected {want}, got {got}",
                s.filename
            ));
        }
    }
    Ok(())
}

/// Where a source is read from: a local path (relative to the APKBUILD, or `file://`),
/// or the copy of a remote one in `srcdest`, downloaded when missing.
pub fn source_file(
    b: &Apkbuild,
    s: &crate::apkbuild::Source,
    srcdest: &Path,
    fetcher: &apk_core::repo::fetch::Fetcher,
) -> Result<PathBuf, Failure> {
    if let Some(path) = s.location.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if !s.is_remote() {
        return Ok(b.startdir.join(&s.location));
    }
    let cached = srcdest.join(&s.filename);
    if !cached.is_file() {
        let bytes = fetcher
            .get(&s.location, 4 << 30)
            .map_err(|e| Failure(format!("{}: fetching source: {e}", b.pkgname())))?;
        // Whole or not at all: a half download must not pass for the cached file.
        std::fs::create_dir_all(srcdest)
            .map_err(|e| Failure(format!("{}: {e}", srcdest.display())))?;
        apk_core::fs::atomic::write_atomically_unsynced(&cached, &bytes)
            .map_err(|e| Failure(e.to_string()))?;
    }
    Ok(cached)
}

pub fn sha512_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha512::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(apk_format::checksum::encode_hex(&h.finalize()))
}

const ARCHIVES: &[&str] = &[
    ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tar.lz", ".tar",
];

fn unpack_sources(b: &Apkbuild, dirs: &Dirs) -> Result<(), Failure> {
    for s in b.sources() {
        let file = dirs.src.join(&s.filename);
        let cmd = if ARCHIVES.iter().any(|ext| s.filename.ends_with(ext)) {
            let mut c = Command::new("tar");
            c.arg("-xf").arg(&file).arg("-C").arg(&dirs.src);
            c
        } else if s.filename.ends_with(".zip") {
            let mut c = Command::new("unzip");
            c.arg("-q").arg(&file).arg("-d").arg(&dirs.src);
            c
        } else {
            continue;
        };
        run_quiet(cmd)
            .map_err(|e| Failure(format!("{}: unpacking '{}': {e}", b.pkgname(), s.filename)))?;
    }
    Ok(())
}

fn run_quiet(mut cmd: Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Installs `makedepends` (and `checkdepends` when checking) into a sysroot with our
/// apk, from the repositories being built and the configured ones.
fn install_makedepends(
    b: &Apkbuild,
    opts: &Options,
    dirs: &Dirs,
) -> Result<Option<PathBuf>, Failure> {
    let mut deps = b.words("makedepends");
    deps.extend(b.words("makedepends_host"));
    if b.has_function("check") && !b.has_option("!check") {
        deps.extend(b.words("checkdepends"));
    }
    // What this build makes itself is not installed from a repository.
    let own = b.provided_names();
    deps.retain(|d| apk_format::dep::Dependency::parse(d).map_or(true, |p| !own.contains(&p.name)));
    if deps.is_empty() {
        return Ok(None);
    }
    let root = &dirs.sysroot;
    let keys = root.join("etc/apk/keys");
    std::fs::create_dir_all(&keys).map_err(|e| Failure(format!("{}: {e}", keys.display())))?;
    let pubkey = PathBuf::from(format!("{}.pub", opts.sign_key.display()));
    if let Some(file) = pubkey.file_name() {
        std::fs::copy(&pubkey, keys.join(file))
            .map_err(|e| Failure(format!("{}: {e}", pubkey.display())))?;
    }
    let mut cmd = Command::new(&opts.apk);
    cmd.arg("--root")
        .arg(root)
        .args(["--initdb", "--no-scripts", "--no-progress", "--arch"])
        .arg(&opts.carch);
    // A sysroot made by a user is made in usermode (owners not restored), as apk-tools
    // requires of a database created without root.
    if !apk_core::fs::is_root() {
        cmd.arg("--usermode");
    }
    let mut repos: Vec<String> = std::fs::read_dir(&opts.repodest)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join(&opts.carch).join("APKINDEX.tar.gz").is_file())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    repos.sort();
    repos.extend(opts.repositories.iter().cloned());
    for r in &repos {
        cmd.arg("-X").arg(r);
    }
    cmd.arg("add").args(&deps);
    let out = cmd
        .output()
        .map_err(|e| Failure(format!("running {}: {e}", opts.apk.display())))?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let missing: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("(no such package)"))
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.trim_end_matches(':'))
            .collect();
        if !missing.is_empty() {
            return fail(format!(
                "{}: makedepends not found in any repository: {}",
                b.pkgname(),
                missing.join(" ")
            ));
        }
        return fail(format!(
            "{}: installing makedepends failed:\n{}",
            b.pkgname(),
            text.trim()
        ));
    }
    Ok(Some(root.clone()))
}

fn stage_env(
    b: &Apkbuild,
    opts: &Options,
    dirs: &Dirs,
    sysroot: Option<&Path>,
) -> Vec<(String, String)> {
    let mut env = base_env(&b.startdir, &opts.carch);
    let d = |p: &Path| p.display().to_string();
    env.push(("srcdir".into(), d(&dirs.src)));
    env.push(("pkgdir".into(), d(&dirs.pkg.join(b.pkgname()))));
    env.push(("tmpdir".into(), d(&dirs.tmp)));
    env.push(("SOURCE_DATE_EPOCH".into(), opts.epoch.to_string()));
    let inherited = |k: &str| std::env::var(k).unwrap_or_default();
    let (mut cppflags, mut cflags, mut ldflags) = (
        inherited("CPPFLAGS"),
        inherited("CFLAGS"),
        inherited("LDFLAGS"),
    );
    let mut path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut ld_path = inherited("LD_LIBRARY_PATH");
    let mut pkg_config = inherited("PKG_CONFIG_PATH");
    if let Some(root) = sysroot {
        let r = d(root);
        let join = |a: &str, b: String, sep: &str| {
            if a.is_empty() {
                b
            } else {
                format!("{b}{sep}{a}")
            }
        };
        cppflags = join(&cppflags, format!("-I{r}/usr/include"), " ");
        cflags = join(&cflags, format!("-I{r}/usr/include"), " ");
        ldflags = join(
            &ldflags,
            format!("-L{r}/usr/lib -Wl,-rpath-link,{r}/usr/lib"),
            " ",
        );
        path = format!("{r}/usr/bin:{r}/bin:{path}");
        ld_path = join(&ld_path, format!("{r}/usr/lib:{r}/lib"), ":");
        pkg_config = join(
            &pkg_config,
            format!("{r}/usr/lib/pkgconfig:{r}/usr/share/pkgconfig"),
            ":",
        );
        env.push(("PKG_CONFIG_SYSROOT_DIR".into(), String::new()));
    }
    env.retain(|(k, _)| k != "PATH");
    env.extend([
        ("CPPFLAGS".into(), cppflags),
        ("CFLAGS".into(), cflags),
        ("LDFLAGS".into(), ldflags),
        ("PATH".into(), path),
        ("LD_LIBRARY_PATH".into(), ld_path),
        ("PKG_CONFIG_PATH".into(), pkg_config),
    ]);
    if let Ok(cc) = std::env::var("CC") {
        env.push(("CC".into(), cc));
    }
    env
}

/// Runs one stage: the prelude, the APKBUILD, then `body`, with `set -e`. Its output
/// is shown when verbose, else kept and shown if it fails.
fn run_stage(
    b: &Apkbuild,
    opts: &Options,
    env: &[(String, String)],
    stage: &str,
    body: &str,
) -> Result<String, Failure> {
    run_stage_as(b, opts, env, stage, body, None)
}

/// [`run_stage`], inside the fakeroot session `fake` when given.
fn run_stage_as(
    b: &Apkbuild,
    opts: &Options,
    env: &[(String, String)],
    stage: &str,
    body: &str,
    fake: Option<&Fakeroot>,
) -> Result<String, Failure> {
    let script = format!(
        "set -e\n{PRELUDE}\n. ./APKBUILD\n: \"${{builddir:=$srcdir/$pkgname-$pkgver}}\"\nexport builddir\n{body}\n"
    );
    let mut cmd = shell();
    cmd.arg("-c").arg(&script);
    if let Some(f) = fake {
        cmd = f.wrap(&cmd);
    }
    cmd.current_dir(&b.startdir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    if opts.verbose {
        eprintln!(">>> {}: {stage}", b.pkgname());
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    }
    let out = cmd.output().map_err(|e| {
        Failure(format!(
            "{}: {stage}: cannot run the shell: {e}",
            b.pkgname()
        ))
    })?;
    if !out.status.success() {
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return fail(format!(
            "{}: {stage}() failed ({})\n{}",
            b.pkgname(),
            out.status,
            tail.join("\n")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The metadata of one package of the build, as its split function left it.
#[derive(Debug, Clone, Default)]
struct Meta {
    name: String,
    pkgdesc: String,
    /// `url` and `license` as the split function left them (tpaste's set their own).
    url: String,
    license: String,
    depends: Vec<String>,
    provides: Vec<String>,
    install_if: Vec<String>,
    replaces: Vec<String>,
    provider_priority: String,
    replaces_priority: String,
    noarch: bool,
}

impl Meta {
    fn main(b: &Apkbuild) -> Meta {
        Meta {
            name: b.pkgname().to_owned(),
            pkgdesc: b.var("pkgdesc").to_owned(),
            url: b.var("url").to_owned(),
            license: b.var("license").to_owned(),
            depends: b.words("depends"),
            provides: b.words("provides"),
            install_if: b.words("install_if"),
            replaces: b.words("replaces"),
            provider_priority: b.var("provider_priority").to_owned(),
            replaces_priority: b.var("replaces_priority").to_owned(),
            noarch: b.is_noarch(),
        }
    }
}

/// The checks abuild makes on a package's tree before packing it, each of which an
/// option in APKBUILD(5) turns off: nothing under FHS-foreign places (`!fhs`), no
/// `lib64` directories (`lib64`), no setuid/setgid files (`suid`).
fn postcheck(b: &Apkbuild, name: &str, dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let fail_with = |what: String| fail(format!("{name}: {what}"));
    if !b.has_option("!fhs") {
        for place in ["usr/local", "opt", "srv", "var/run"] {
            if std::fs::symlink_metadata(dir.join(place)).is_ok() {
                return fail_with(format!(
                    "packages must not put anything under /{place} (options=\"!fhs\" allows it)"
                ));
            }
        }
    }
    if !b.has_option("lib64") {
        for place in ["lib64", "usr/lib64"] {
            if std::fs::symlink_metadata(dir.join(place)).is_ok() {
                return fail_with(format!(
                    "/{place} is not used on Alpine (options=\"lib64\" allows it)"
                ));
            }
        }
    }
    if !b.has_option("suid") {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(meta) = e.path().symlink_metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(e.path());
                } else if meta.is_file() && meta.permissions().mode() & 0o6000 != 0 {
                    let rel = e.path().strip_prefix(dir).map(|p| p.display().to_string());
                    return fail_with(format!(
                        "/{} is setuid or setgid (options=\"suid\" allows it)",
                        rel.unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs a subpackage's split function and reads back the variables it may set.
fn split(
    b: &Apkbuild,
    opts: &Options,
    env: &[(String, String)],
    dirs: &Dirs,
    sub: &Subpackage,
) -> Result<Meta, Failure> {
    let subdir = dirs.pkg.join(&sub.name);
    let mut env = env.to_vec();
    env.push(("subpkgname".into(), sub.name.clone()));
    env.push(("subpkgdir".into(), subdir.display().to_string()));
    let fields = [
        "depends",
        "pkgdesc",
        "url",
        "license",
        "provides",
        "install_if",
        "replaces",
        "provider_priority",
        "replaces_priority",
    ];
    // As abuild, which runs each split function in a fresh run of the APKBUILD: the
    // function starts from the APKBUILD's own values (depends, replaces, provides, ...)
    // and keeps what it does not change; the default ones set their own.
    let mut body = String::new();
    body.push_str(&format!(
        "case \"$(command -V {f} 2>/dev/null)\" in *function*) ;; *) echo \"no split function '{f}' for {n}\" >&2; exit 1;; esac\n",
        f = sub.function,
        n = sub.name
    ));
    body.push_str(&format!(
        "cd \"$pkgdir\"\n{}\nmkdir -p \"$subpkgdir\"\n",
        sub.function
    ));
    for f in fields {
        body.push_str(&format!("printf '\\001{f}=%s\\000' \"${{{f}-}}\"\n"));
    }
    let out = run_stage_as(
        b,
        opts,
        &env,
        &format!("{} split", sub.name),
        &body,
        dirs.fakeroot.as_ref(),
    )?;
    let mut vars = BTreeMap::new();
    for item in out.split('\0') {
        // Values follow a \x01 mark, after anything the function printed itself.
        if let Some((k, v)) = item
            .rsplit_once('\u{1}')
            .and_then(|(_, kv)| kv.split_once('='))
        {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    let words = |k: &str| -> Vec<String> {
        vars.get(k)
            .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    Ok(Meta {
        name: sub.name.clone(),
        pkgdesc: vars.get("pkgdesc").cloned().unwrap_or_default(),
        url: vars.get("url").cloned().unwrap_or_default(),
        license: vars.get("license").cloned().unwrap_or_default(),
        depends: words("depends"),
        provides: words("provides"),
        install_if: words("install_if"),
        replaces: words("replaces"),
        provider_priority: vars.get("provider_priority").cloned().unwrap_or_default(),
        replaces_priority: vars.get("replaces_priority").cloned().unwrap_or_default(),
        noarch: match sub.arch.as_deref() {
            Some("noarch") => true,
            Some(_) => false,
            None => b.is_noarch(),
        },
    })
}

/// Names other than this build's own that provide a `so:` library, from the
/// repositories the sysroot used (read back from its installed database).
fn sysroot_provides(sysroot: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(sysroot.join("lib/apk/db/installed")).unwrap_or_default();
    let Ok(pkgs) = apk_core::db::installed::parse_installed(&text, "sysroot") else {
        return BTreeSet::new();
    };
    pkgs.iter()
        .flat_map(|p| p.info.provides.iter().map(|d| d.name.clone()))
        .collect()
}

fn write_packages(
    b: &Apkbuild,
    opts: &Options,
    dirs: &Dirs,
    metas: &[Meta],
) -> Result<Built, Failure> {
    let version = b.full_version();
    // As abuild: empty standard folders of the main package go, unless keepdirs.
    if !b.has_option("keepdirs") {
        let main = dirs.pkg.join(b.pkgname());
        for d in ["usr/lib", "usr/bin", "usr/share", "usr", "etc", "lib"] {
            let _ = std::fs::remove_dir(main.join(d));
        }
    }
    let tracing = !b.has_option("!tracedeps");
    let traced: Vec<tracedeps::Traced> = metas
        .iter()
        .map(|m| {
            if tracing {
                tracedeps::trace(&dirs.pkg.join(&m.name), &version)
            } else {
                tracedeps::Traced::default()
            }
        })
        .collect();
    let mut known_so: BTreeSet<String> = sysroot_provides(&dirs.sysroot);
    for t in &traced {
        for p in &t.provides {
            known_so.insert(p.split('=').next().unwrap_or(p).to_owned());
        }
    }
    let (key, key_name) = PrivateKey::load(&opts.sign_key)
        .map_err(|e| Failure(format!("{}: {e}", opts.sign_key.display())))?;
    // As abuild: the last commit (and `-dirty`), empty outside a git checkout.
    let commit = git_commit(&b.startdir).unwrap_or_default();
    // As abuild notes it in `.PKGINFO`: the fakeroot the files were staged in.
    let fakeroot_version = match &dirs.fakeroot {
        Some(f) => f.version(),
        None => owners::inside_fakeroot_version(),
    };
    let owner_map = OwnerMap::new(
        &b.words("pkgusers"),
        &b.words("pkggroups"),
        dirs.fakeroot.is_some(),
    );
    let packager = std::env::var("PACKAGER")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Unknown".to_owned());
    let mut built = Built::default();
    for (i, m) in metas.iter().enumerate() {
        let t = &traced[i];
        // What abuild finds itself goes after `# automatically detected:`, sorted.
        let mut auto_depends = BTreeSet::new();
        for lib in &t.needed_libs {
            let name = format!("so:{lib}");
            if known_so.contains(&name) {
                auto_depends.insert(name);
            } else if opts.verbose {
                eprintln!(
                    ">>> {}: {name} is not packaged; no dependency added",
                    m.name
                );
            }
        }
        for pc in &t.needed_pc {
            let name = format!("pc:{pc}");
            if known_so.contains(&name) {
                auto_depends.insert(name);
            }
        }
        // Symlinks into another package of this build (libfoo.so -> libfoo.so.1).
        for target in &t.link_targets {
            if let Some((j, _)) = traced
                .iter()
                .enumerate()
                .find(|(j, o)| *j != i && o.paths.contains(target))
            {
                auto_depends.insert(format!("{}={version}", metas[j].name));
            }
        }
        let auto_provides: BTreeSet<String> = t
            .provides
            .iter()
            .filter(|p| !m.provides.contains(p))
            .cloned()
            .collect();
        let mut depends = m.depends.clone();
        // A shell install script or trigger needs /bin/sh, as abuild adds it.
        if b.pkgname() != "busybox"
            && !depends
                .iter()
                .any(|d| dep_name(d) == "busybox" || dep_name(d) == "/bin/sh")
            && shell_scripts(b, &m.name)
        {
            depends.push("/bin/sh".to_owned());
        }
        let arch = if m.noarch {
            "noarch"
        } else {
            opts.carch.as_str()
        };
        let mut builder = PackageBuilder {
            mtime: opts.epoch,
            ..Default::default()
        };
        let staged = dirs.pkg.join(&m.name);
        let faked = match &dirs.fakeroot {
            Some(f) => Some(
                f.owners(&staged)
                    .map_err(|e| Failure(format!("{}: {e}", m.name)))?,
            ),
            None => None,
        };
        builder
            .add_tree_owned(&staged, &mut |rel, meta| {
                let (u, g) = faked
                    .as_ref()
                    .and_then(|f| f.get(rel).copied())
                    .unwrap_or((meta.uid(), meta.gid()));
                owner_map.owner(u, g)
            })
            .map_err(|e| Failure(e.to_string()))?;
        let scripts = scripts_of(b, &m.name)?;
        let mut size = apparent_size(&dirs.pkg.join(&m.name));
        // apk-tools 2 takes a package of size 0 for a virtual one: abuild says 1 when
        // there is anything at all.
        if size == 0 && (!builder.entries.is_empty() || !scripts.is_empty()) {
            size = 1;
        }
        let mut info = PkgInfo::default();
        info.comments.push(format!(
            " Generated by abuild-rs {}",
            env!("CARGO_PKG_VERSION")
        ));
        if let Some(v) = &fakeroot_version {
            info.comments.push(format!(" using {v}"));
        }
        info.push("pkgname", &m.name);
        info.push("pkgver", &version);
        info.push("pkgdesc", &m.pkgdesc);
        info.push("url", &m.url);
        info.push("builddate", opts.epoch.to_string());
        info.push("packager", &packager);
        info.push("size", size.to_string());
        info.push("arch", arch);
        info.push("origin", b.pkgname());
        info.push("commit", &commit);
        let mut push = |k: &str, v: &str| {
            if !v.is_empty() {
                info.push(k, v);
            }
        };
        push("maintainer", b.var("maintainer"));
        push("replaces_priority", &m.replaces_priority);
        push("provider_priority", &m.provider_priority);
        info.push(
            "license",
            m.license
                .split_ascii_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        for r in &m.replaces {
            info.push("replaces", r);
        }
        for d in depends.iter().filter(|d| **d != m.name) {
            info.push("depend", d);
        }
        for p in &m.provides {
            info.push("provides", p);
        }
        let triggers = triggers_of(b, &m.name);
        if !triggers.is_empty() {
            info.push("triggers", triggers.join(" "));
        }
        if !m.install_if.is_empty() {
            info.push("install_if", m.install_if.join(" "));
        }
        info.push_comment(" automatically detected:");
        for p in &auto_provides {
            info.push("provides", p);
        }
        for d in &auto_depends {
            info.push("depend", d);
        }
        builder.pkginfo = info;
        builder.scripts = scripts;
        let mut bytes = builder
            .build(Some((&key, &key_name)))
            .map_err(|e| Failure(format!("{}: {e}", m.name)))?;
        // `ABUILD_V3_PACKAGES` (apk-rs's own setting): the same package in apk-tools 3's
        // format, signed with the same key.
        if v3_packages() {
            let file = apk_format::adb::build::from_v2(&bytes, &m.name, &[&key])
                .map_err(|e| Failure(format!("{}: {e}", m.name)))?;
            bytes = apk_format::adb::container::compress_deflate(&file);
        }
        let out_dir = opts.repodest.join(&b.repo).join(&opts.carch);
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| Failure(format!("{}: {e}", out_dir.display())))?;
        let file = out_dir.join(format!("{}-{version}.apk", m.name));
        apk_core::fs::atomic::write_atomically_unsynced(&file, &bytes)
            .map_err(|e| Failure(e.to_string()))?;
        built.packages.push(file);
    }
    Ok(built)
}

/// Whether packages are written in apk-tools 3's format (`ABUILD_V3_PACKAGES` set).
fn v3_packages() -> bool {
    std::env::var_os("ABUILD_V3_PACKAGES").is_some_and(|v| !v.is_empty())
}

/// The name of a dependency atom (`so:libc.so=1` → `so:libc.so`, `!foo` → `foo`).
fn dep_name(d: &str) -> &str {
    let d = d.trim_start_matches('!');
    d.find(['<', '>', '=', '~']).map_or(d, |i| &d[..i])
}

/// Whether package `name` has an install script or trigger starting with `#!/bin/sh`.
fn shell_scripts(b: &Apkbuild, name: &str) -> bool {
    b.words("install")
        .into_iter()
        .chain(
            b.words("triggers")
                .into_iter()
                .filter_map(|t| t.split_once('=').map(|(f, _)| f.to_owned())),
        )
        .filter(|f| f.rsplit_once('.').is_some_and(|(n, _)| n == name))
        .any(|f| {
            std::fs::read(b.startdir.join(&f)).is_ok_and(|body| {
                let first = body.split(|&c| c == b'\n').next().unwrap_or_default();
                let rest = first.strip_prefix(b"#!").unwrap_or_default();
                let rest = String::from_utf8_lossy(rest);
                rest.trim_start().starts_with("/bin/sh")
            })
        })
}

/// The package size as abuild counts it: the apparent sizes of the regular files, each
/// inode once.
fn apparent_size(dir: &Path) -> u64 {
    use std::collections::HashSet;
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if m.is_dir() {
                walk(&e.path(), seen, total);
            } else if m.is_file() && seen.insert((m.dev(), m.ino())) {
                *total += m.len();
            }
        }
    }
    let (mut seen, mut total) = (HashSet::new(), 0);
    walk(dir, &mut seen, &mut total);
    total
}

/// `install`: the scripts (`NAME.pre-install`, ...) that belong to package `name`.
fn scripts_of(b: &Apkbuild, name: &str) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut out = Vec::new();
    for file in b.words("install") {
        let Some(action) = file.strip_prefix(name).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let script = format!(".{action}");
        if !apk_format::v2::package::SCRIPT_NAMES.contains(&script.as_str()) {
            return fail(format!(
                "{}: '{file}' is not an install script name",
                b.pkgname()
            ));
        }
        let path = b.startdir.join(&file);
        let body = std::fs::read(&path).map_err(|e| {
            Failure(format!(
                "{}: install script {}: {e}",
                b.pkgname(),
                path.display()
            ))
        })?;
        out.push((script, body));
    }
    for entry in b.words("triggers") {
        let Some((file, _)) = entry.split_once('=') else {
            continue;
        };
        if file == format!("{name}.trigger") {
            let path = b.startdir.join(file);
            let body = std::fs::read(&path).map_err(|e| {
                Failure(format!("{}: trigger {}: {e}", b.pkgname(), path.display()))
            })?;
            out.push((".trigger".into(), body));
        }
    }
    Ok(out)
}

/// `triggers="NAME.trigger=/a:/b"`: the watched paths of package `name`.
fn triggers_of(b: &Apkbuild, name: &str) -> Vec<String> {
    b.words("triggers")
        .iter()
        .filter_map(|e| e.split_once('='))
        .filter(|(f, _)| *f == format!("{name}.trigger"))
        .flat_map(|(_, paths)| paths.split(':').map(str::to_owned))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The index description abuild writes: `"<repo> <git describe of the APKBUILD's folder>"`
/// (the repository name and a space outside a git checkout).
pub fn index_description(repo: &str, startdir: &Path) -> String {
    let describe = Command::new("git")
        .args(["describe"])
        .current_dir(startdir)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{repo} {describe}")
}

fn git_commit(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let c = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    if !(out.status.success() && c.len() == 40) {
        return None;
    }
    // abuild marks a checkout with uncommitted changes.
    let dirty = Command::new("git")
        .args(["diff-index", "--quiet", "HEAD", "--"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| !s.success());
    Some(if dirty { format!("{c}-dirty") } else { c })
}

/// Rebuilds and signs `REPODEST/<repo>/<arch>/APKINDEX.tar.gz` from the packages
/// there, reusing the records of unchanged files.
pub fn update_index(dir: &Path, description: &str, sign_key: &Path) -> Result<(), Failure> {
    let key =
        PrivateKey::load(sign_key).map_err(|e| Failure(format!("{}: {e}", sign_key.display())))?;
    IndexState::load(dir)?.write(dir, description, &key)
}

/// The records of one repository directory's index, kept in memory between the builds
/// of a run so that each build only reads the packages it wrote.
#[derive(Debug, Default)]
pub struct IndexState {
    /// By file name.
    records: BTreeMap<String, apk_format::PackageInfo>,
}

impl IndexState {
    /// The records of every package in `dir` (unchanged ones taken from its index).
    pub fn load(dir: &Path) -> Result<IndexState, Failure> {
        let index = dir.join("APKINDEX.tar.gz");
        let old = index
            .is_file()
            .then(|| apk_core::repo::indexer::OldIndex::load(&index, None).ok())
            .flatten();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Failure(format!("{}: {e}", dir.display())))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "apk"))
            .collect();
        files.sort();
        let mut state = IndexState::default();
        for item in apk_core::repo::indexer::index_files(&files, old.as_ref(), None) {
            let record = item.record.map_err(|e| Failure(e.to_string()))?;
            state.records.insert(file_key(&item.path), record);
        }
        Ok(state)
    }

    /// Reads (or reads again) the given package files.
    pub fn add(&mut self, files: &[PathBuf]) -> Result<(), Failure> {
        for f in files {
            let record = apk_core::repo::indexer::read_package_info(f)
                .map_err(|e| Failure(e.to_string()))?;
            self.records.insert(file_key(f), record);
        }
        Ok(())
    }

    /// Writes and signs the index of `dir`.
    pub fn write(
        &self,
        dir: &Path,
        description: &str,
        key: &(PrivateKey, String),
    ) -> Result<(), Failure> {
        let mut pkgs: Vec<_> = self.records.values().cloned().collect();
        // As abuild's `apk index --rewrite-arch <arch dir>`: noarch packages are found
        // under the architecture's folder.
        if let Some(arch) = dir.file_name().and_then(|n| n.to_str()) {
            for p in &mut pkgs {
                p.arch = Some(arch.to_owned());
            }
        }
        apk_core::repo::indexer::sort_records(&mut pkgs);
        let bytes = apk_format::v2::apkindex::IndexArchive {
            description: Some(description.to_owned()),
            packages: pkgs,
            signatures: Vec::new(),
        }
        .write(apk_format::v2::archive::build_time())
        .map_err(|e| Failure(e.to_string()))?;
        let signed = apk_format::v2::signed::resign(&bytes, &key.0, &key.1, "APKINDEX.tar.gz")
            .map_err(|e| Failure(e.to_string()))?;
        apk_core::fs::atomic::write_atomically_unsynced(&dir.join("APKINDEX.tar.gz"), &signed)
            .map_err(|e| Failure(e.to_string()))?;
        // As abuild with `ABUILD_V3_INDEX` set: a v3 index of the same packages too
        // (always for v3 packages).
        if v3_packages() || std::env::var_os("ABUILD_V3_INDEX").is_some_and(|v| !v.is_empty()) {
            let arch = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
            apk_core::repo::indexer::write_v3_index(dir, arch, description, &key.0)
                .map_err(|e| Failure(e.to_string()))?;
        }
        Ok(())
    }
}

fn file_key(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
