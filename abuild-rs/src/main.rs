//! `abuild-rs`: builds Alpine packages and signed repositories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apk_core::package::{self, PackageBuilder};
use apk_core::pkginfo::PkgInfo;
use apk_core::sign::PrivateKey;
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
    /// Generate a signing key pair: DIR/NAME.rsa and DIR/NAME.rsa.pub (or .ed25519)
    Keygen {
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long = "type", value_enum, default_value = "rsa")]
        key_type: KeyType,
        /// RSA modulus size
        #[arg(long, default_value_t = 4096)]
        bits: usize,
    },
    /// Sign packages or indexes in place, replacing existing signatures (as abuild-sign)
    Sign {
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
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
    /// Subcommands of abuild that this build does not have yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

fn keygen(name: &str, out: &Path, key_type: KeyType, bits: usize) -> apk_core::Result<()> {
    let (key, ext) = match key_type {
        KeyType::Rsa => (PrivateKey::generate_rsa(bits)?, "rsa"),
        KeyType::Ed25519 => (PrivateKey::generate_ed25519(), "ed25519"),
    };
    std::fs::create_dir_all(out).map_err(|e| apk_core::Error::io(out, e))?;
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
    println!("{}\n{}", private.display(), public.display());
    Ok(())
}

fn sign(key_path: &Path, files: &[PathBuf]) -> apk_core::Result<()> {
    let (key, key_name) = PrivateKey::load(key_path)?;
    for f in files {
        let bytes = apk_core::file::read(f)?;
        let signed = package::resign(&bytes, &key, &key_name, &f.display().to_string())?;
        apk_core::file::write_atomically(f, &signed)?;
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
        let body = apk_core::file::read(s)?;
        builder.scripts.push((name, body));
    }
    let key = sign_key.map(PrivateKey::load).transpose()?;
    let bytes = builder.build(key.as_ref().map(|(k, n)| (k, n.as_str())))?;
    apk_core::file::write_atomically(output, &bytes)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen {
            name,
            out,
            key_type,
            bits,
        } => keygen(&name, &out, key_type, bits),
        Command::Sign { key, files } => sign(&key, &files),
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
