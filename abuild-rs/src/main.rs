//! `abuild-rs`: builds Alpine packages and signed repositories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use abuild_rs::apkbuild::Apkbuild;
use abuild_rs::{build, lint, plan, repo};
use apk_format::sign::PrivateKey;
use apk_format::v2::package::{self, PackageBuilder};
use apk_format::v2::pkginfo::PkgInfo;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "abuild-rs",
    version,
    about = "Builds Alpine packages and signed repositories"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyType {
    Rsa,
    Ed25519,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signing key pair: DIR/NAME.rsa and DIR/NAME.rsa.pub (or .ed25519);
    /// as abuild-keygen, by default ~/.abuild/EMAIL-HEXTIME.rsa
    Keygen {
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long = "type", value_enum, default_value = "rsa")]
        key_type: KeyType,
        /// RSA modulus size
        #[arg(short = 'b', long, default_value_t = 4096)]
        bits: usize,
        /// Set PACKAGER_PRIVKEY to the new key in ~/.abuild/abuild.conf
        #[arg(short = 'a', long = "append")]
        append: bool,
        /// Install the public key into /etc/apk/keys
        #[arg(short = 'i', long = "install")]
        install: bool,
        /// Ask nothing (abuild-rs never asks)
        #[arg(short = 'n')]
        non_interactive: bool,
    },
    /// Sign packages or indexes in place, replacing existing signatures (as abuild-sign)
    Sign {
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Signature type, as abuild-sign's -t: RSA (SHA-1), RSA256 or RSA512; an
        /// Ed25519 key signs ED25519
        #[arg(short = 't', long = "type", value_name = "TYPE")]
        sig_type: Option<String>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Pack a directory tree into a package (the last step of a build)
    Pack {
        /// `.PKGINFO` fields (key = value); size and datahash are computed
        #[arg(long, value_name = "FILE")]
        pkginfo: PathBuf,
        /// The package's files
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Install scripts, as files named like the script (.post-install, ...)
        #[arg(long = "script", value_name = "FILE")]
        scripts: Vec<PathBuf>,
        /// Modification time of every entry (default: $SOURCE_DATE_EPOCH, else 0)
        #[arg(long)]
        mtime: Option<u64>,
        #[arg(long, value_name = "KEYFILE")]
        sign_key: Option<PathBuf>,
        #[arg(short = 'o', long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Build the APKBUILD in DIR (default: the current directory) into REPODEST
    Build {
        #[arg(short = 'C', value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        common: BuildArgs,
        /// The architecture to build for (default: this machine's)
        #[arg(long)]
        arch: Option<String>,
    },
    /// Build every DIR/<repo>/<pkg>/APKBUILD in dependency order, in parallel
    Repo {
        #[arg(long, value_name = "DIR")]
        aports: PathBuf,
        #[command(flatten)]
        common: BuildArgs,
        /// Architectures, comma-separated
        #[arg(long, value_delimiter = ',', required = true)]
        arch: Vec<String>,
        /// Builds at a time (default: the number of CPUs)
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
    },
    /// Print the build graph of a tree: JSON, or a GitLab CI pipeline
    Plan {
        #[arg(long, value_name = "DIR")]
        aports: PathBuf,
        #[arg(long, value_delimiter = ',', required = true)]
        arch: Vec<String>,
        #[arg(long, value_parser = ["json", "gitlab-ci"], default_value = "json")]
        format: String,
        /// Where the pipeline's jobs collect packages
        #[arg(long, value_name = "DIR", default_value = "packages")]
        repodest: String,
    },
    /// Rebuild and sign the index of every repository in REPODEST for an architecture
    Index {
        #[arg(long, value_name = "DIR")]
        repodest: PathBuf,
        #[arg(long)]
        arch: String,
        #[arg(long, value_name = "KEYFILE")]
        sign_key: PathBuf,
    },
    /// Rewrite sha512sums in the APKBUILD of DIR from its sources
    Checksum {
        #[arg(short = 'C', value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Report common mistakes in the APKBUILD of DIR
    Lint {
        #[arg(short = 'C', value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Internal: prints the owners of the entries under DIR (run inside fakeroot)
    #[command(hide = true)]
    StagedOwners { dir: PathBuf },
    /// Subcommands of abuild that this build does not have yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(clap::Args, Clone)]
struct BuildArgs {
    /// Where packages go: REPODEST/<repo>/<arch>/
    #[arg(long, value_name = "DIR")]
    repodest: PathBuf,
    /// The private key packages and indexes are signed with (its public key is
    /// KEYFILE.pub)
    #[arg(long, value_name = "KEYFILE")]
    sign_key: PathBuf,
    /// More repositories makedepends may come from
    #[arg(short = 'X', long = "repository", value_name = "REPO")]
    repositories: Vec<String>,
    /// Show the output of the build stages
    #[arg(short, long)]
    verbose: bool,
}

impl BuildArgs {
    fn options(&self, carch: &str) -> build::Options {
        let srcdest = std::env::var("SRCDEST")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir().join("abuild-rs-distfiles"));
        build::Options {
            carch: carch.to_owned(),
            repodest: absolute(&self.repodest),
            sign_key: absolute(&self.sign_key),
            repositories: self.repositories.clone(),
            srcdest,
            apk: build::Options::find_apk(),
            epoch: build::Options::epoch_from_env(),
            verbose: self.verbose,
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn run_build(dir: &Path, args: &BuildArgs, arch: Option<String>) -> Result<(), String> {
    let carch = arch.unwrap_or_else(|| apk_core::db::installed::native_arch().to_owned());
    let b = Apkbuild::read(dir, &carch).map_err(|e| e.0)?;
    let opts = args.options(&carch);
    let built = build::build(&b, &opts).map_err(|e| e.0)?;
    let out = opts.repodest.join(&b.repo).join(&carch);
    let description = build::index_description(&b.repo, &b.startdir);
    build::update_index(&out, &description, &opts.sign_key).map_err(|e| e.0)?;
    for p in &built.packages {
        println!(">>> {}: {}", b.pkgname(), p.display());
    }
    Ok(())
}

fn run_repo(
    aports: &Path,
    args: &BuildArgs,
    arches: &[String],
    jobs: Option<usize>,
) -> Result<(), String> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut failed = Vec::new();
    for arch in arches {
        let (g, invalid) = repo::graph(aports, arch);
        for e in &invalid {
            eprintln!("ERROR: {e}");
            failed.push(e.0.clone());
        }
        let opts = args.options(arch);
        let log = |m: &str| eprintln!("{m}");
        let report = repo::run(&g, &opts, jobs, &log);
        for (name, outcome) in &report.outcomes {
            match outcome {
                repo::Outcome::Built(n) => println!("{arch} {name}: built ({n} packages)"),
                repo::Outcome::Skipped => println!("{arch} {name}: up to date"),
                repo::Outcome::Failed(why) => {
                    println!("{arch} {name}: FAILED");
                    failed.push(format!("{arch} {name}: {why}"));
                }
                repo::Outcome::Blocked(why) => {
                    println!("{arch} {name}: not built");
                    failed.push(format!("{arch} {name}: {why}"));
                }
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} builds failed:
{}",
        failed.len(),
        failed.join(
            "
"
        )
    ))
}

fn run_plan(aports: &Path, arches: &[String], format: &str, repodest: &str) -> Result<(), String> {
    let mut plans = Vec::new();
    for arch in arches {
        let (g, invalid) = repo::graph(aports, arch);
        if let Some(e) = invalid.first() {
            return Err(e.0.clone());
        }
        plans.push((arch.clone(), g));
    }
    let text = if format == "json" {
        plan::json(&plans)
    } else {
        plan::gitlab_ci(&plans, &aports.display().to_string(), repodest)
    };
    print!("{text}");
    Ok(())
}

fn run_index(repodest: &Path, arch: &str, key: &Path) -> Result<(), String> {
    if !repodest.exists() {
        // Nothing built yet (the first job of a pipeline): nothing to index.
        return Ok(());
    }
    let rd = std::fs::read_dir(repodest).map_err(|e| format!("{}: {e}", repodest.display()))?;
    let mut repos: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    repos.sort();
    for repo in repos {
        let dir = repo.join(arch);
        if dir.is_dir() {
            let name = repo
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            build::update_index(&dir, &format!("{name} "), key).map_err(|e| e.0)?;
        }
    }
    Ok(())
}

fn run_lint(dir: &Path) -> Result<(), String> {
    let b = Apkbuild::read(dir, apk_core::db::installed::native_arch()).map_err(|e| e.0)?;
    let problems = lint::lint(&b);
    for p in &problems {
        println!("{}/APKBUILD: {p}", b.startdir.display());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} problems", problems.len()))
    }
}

fn keygen(
    name: Option<String>,
    out: Option<PathBuf>,
    key_type: KeyType,
    bits: usize,
    append: bool,
    install: bool,
) -> apk_core::Result<()> {
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let out = out.unwrap_or_else(|| home.join(".abuild"));
    // As abuild-keygen: the packager's e-mail (else user@host) and the time in hex.
    let name = name.unwrap_or_else(|| {
        let packager = std::env::var("PACKAGER").unwrap_or_default();
        let email = packager
            .split_once('<')
            .and_then(|(_, r)| r.split_once('>'))
            .map(|(e, _)| e.to_owned())
            .unwrap_or_else(|| {
                let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{user}@{}", host.trim())
            });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("{email}-{now:x}")
    });
    let (key, ext) = match key_type {
        KeyType::Rsa => (PrivateKey::generate_rsa(bits)?, "rsa"),
        KeyType::Ed25519 => (PrivateKey::generate_ed25519(), "ed25519"),
    };
    std::fs::create_dir_all(&out).map_err(|e| apk_core::Error::io(&out, e))?;
    let private = out.join(format!("{name}.{ext}"));
    let public = out.join(format!("{name}.{ext}.pub"));
    std::fs::write(&private, key.to_pem()?).map_err(|e| apk_core::Error::io(&private, e))?;
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| apk_core::Error::io(&private, e))?;
    std::fs::write(&public, key.public_key().to_pem())
        .map_err(|e| apk_core::Error::io(&public, e))?;
    if append {
        let conf = home.join(".abuild/abuild.conf");
        if let Some(d) = conf.parent() {
            std::fs::create_dir_all(d).map_err(|e| apk_core::Error::io(d, e))?;
        }
        let mut text = std::fs::read_to_string(&conf).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("PACKAGER_PRIVKEY=\"{}\"\n", private.display()));
        std::fs::write(&conf, text).map_err(|e| apk_core::Error::io(&conf, e))?;
    }
    if install {
        let keys = PathBuf::from("/etc/apk/keys");
        std::fs::create_dir_all(&keys).map_err(|e| apk_core::Error::io(&keys, e))?;
        let dest = keys.join(format!("{name}.{ext}.pub"));
        std::fs::copy(&public, &dest).map_err(|e| apk_core::Error::io(&dest, e))?;
    }
    println!("{}\n{}", private.display(), public.display());
    Ok(())
}

fn sign(key_path: &Path, sig_type: Option<&str>, files: &[PathBuf]) -> apk_core::Result<()> {
    use apk_format::sign::Algorithm;
    let (key, key_name) = PrivateKey::load(key_path)?;
    let algo = match sig_type {
        None => key.default_algorithm(),
        Some("RSA") => Algorithm::RsaSha1,
        Some("RSA256") => Algorithm::RsaSha256,
        Some("RSA512") => Algorithm::RsaSha512,
        Some(t) => {
            return Err(apk_core::Error::format(
                key_path.display().to_string(),
                format!("unknown signature type '{t}' (RSA, RSA256 or RSA512)"),
            ))
        }
    };
    for f in files {
        let bytes = apk_core::fs::atomic::read(f)?;
        let what = f.display().to_string();
        let signed = apk_format::v2::signed::resign_with(&bytes, &key, algo, &key_name, &what)?;
        apk_core::fs::atomic::write_atomically(f, &signed)?;
    }
    Ok(())
}

fn pack(
    pkginfo: &Path,
    root: &Path,
    scripts: &[PathBuf],
    mtime: Option<u64>,
    sign_key: Option<&Path>,
    output: &Path,
) -> apk_core::Result<()> {
    let text = std::fs::read_to_string(pkginfo).map_err(|e| apk_core::Error::io(pkginfo, e))?;
    let info = PkgInfo::parse(&text, &pkginfo.display().to_string())?;
    // Fail early on metadata apk would reject.
    info.to_package_info(&pkginfo.display().to_string())?;
    let mtime = mtime
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok()?.parse().ok())
        .unwrap_or(0);
    let mut builder = PackageBuilder {
        pkginfo: info,
        mtime,
        ..Default::default()
    };
    builder.add_tree(root)?;
    for s in scripts {
        let name = s
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !package::SCRIPT_NAMES.contains(&name.as_str()) {
            return Err(apk_core::Error::format(
                s.display().to_string(),
                "not a script name apk knows",
            ));
        }
        let body = apk_core::fs::atomic::read(s)?;
        builder.scripts.push((name, body));
    }
    let key = sign_key.map(PrivateKey::load).transpose()?;
    let bytes = builder.build(key.as_ref().map(|(k, n)| (k, n.as_str())))?;
    apk_core::fs::atomic::write_atomically(output, &bytes)
}

fn msg(r: Result<(), String>) -> apk_core::Result<()> {
    r.map_err(|m| apk_core::Error::format("abuild-rs", m))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if abuild_rs::compat::is_abuild_command_line(&args) {
        return ExitCode::from(abuild_rs::compat::main(&args));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen {
            name,
            out,
            key_type,
            bits,
            append,
            install,
            non_interactive: _,
        } => keygen(name, out, key_type, bits, append, install),
        Command::Sign {
            key,
            sig_type,
            files,
        } => sign(&key, sig_type.as_deref(), &files),
        Command::Pack {
            pkginfo,
            root,
            scripts,
            mtime,
            sign_key,
            output,
        } => pack(
            &pkginfo,
            &root,
            &scripts,
            mtime,
            sign_key.as_deref(),
            &output,
        ),
        Command::Build { dir, common, arch } => msg(run_build(&dir, &common, arch)),
        Command::Repo {
            aports,
            common,
            arch,
            jobs,
        } => msg(run_repo(&aports, &common, &arch, jobs)),
        Command::Plan {
            aports,
            arch,
            format,
            repodest,
        } => msg(run_plan(&aports, &arch, &format, &repodest)),
        Command::Index {
            repodest,
            arch,
            sign_key,
        } => msg(run_index(&repodest, &arch, &sign_key)),
        Command::Checksum { dir } => {
            let srcdest = std::env::var("SRCDEST")
                .map(PathBuf::from)
                .unwrap_or_else(|_| std::env::temp_dir().join("abuild-rs-distfiles"));
            msg(lint::checksum(&dir, &srcdest).map(|_| ()).map_err(|e| e.0))
        }
        Command::Lint { dir } => msg(run_lint(&dir)),
        Command::StagedOwners { dir } => {
            abuild_rs::owners::print_owners(&dir).map_err(|e| apk_core::Error::io(&dir, e))
        }
        Command::Other(words) => {
            let name = words.first().cloned().unwrap_or_default();
            Err(apk_core::Error::format(
                "abuild-rs",
                format!("'{name}' is not implemented in this build"),
            ))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(1)
        }
    }
}
