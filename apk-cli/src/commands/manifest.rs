//! `apk manifest PKG...`: `sha1:<hex>  <path>` for every regular file of a package file,
//! or of an installed package named instead of a file.

use std::path::Path;

use apk_format::checksum::Checksum;
use apk_format::package::EntryKind;
use apk_format::Package;

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<String>,
}

fn manifest_file(ctx: &Context, path: &Path, prefix: &str) -> apk_core::Result<()> {
    let what = path.display().to_string();
    let bytes = apk_core::fs::atomic::read(path)?;
    let pkg = Package::parse(&bytes, &what)?;
    if let Some(keys) = ctx.keyring()? {
        pkg.verify_signature(&bytes, &keys, &what)?;
    }
    let mut lines = String::new();
    pkg.walk_data(&bytes, &what, |h, _| {
        if h.kind == EntryKind::File {
            if let Some(sum) = &h.apk_checksum {
                lines.push_str(&format!("{prefix}sha1:{sum}  {}\n", h.path));
            }
        }
        Ok(())
    })?;
    print!("{lines}");
    Ok(())
}

fn manifest_installed(ctx: &Context, name: &str, prefix: &str) -> apk_core::Result<()> {
    let db_path = ctx.in_root(Path::new("lib/apk/db/installed"));
    let text = std::fs::read_to_string(&db_path).map_err(|e| apk_core::Error::io(&db_path, e))?;
    let pkgs = apk_core::db::installed::parse_installed(&text, &db_path.display().to_string())?;
    let pkg = pkgs
        .iter()
        .find(|p| p.info.name == name)
        // Neither an installed package nor a file: apk-tools tries to open it as one,
        // and reports why it could not.
        .ok_or_else(|| {
            let why = std::fs::File::open(name)
                .err()
                .unwrap_or_else(|| std::io::ErrorKind::InvalidData.into());
            apk_core::Error::io(name, why)
        })?;
    // A package installed from a v3 file (`f:S`) has its 20-byte digests cut from a
    // SHA-256, not SHA-1.
    let sha256_160 = pkg
        .info
        .extra
        .iter()
        .any(|(l, v)| *l == b'f' && v.contains('S'));
    for d in &pkg.dirs {
        for f in &d.files {
            let Some(sum) = f.checksum.as_deref().and_then(|z| Checksum::parse(z).ok()) else {
                continue;
            };
            let kind = if matches!(sum, Checksum::Sha1(_)) {
                if sha256_160 {
                    "sha256-160"
                } else {
                    "sha1"
                }
            } else {
                "sha256"
            };
            let path = if d.path.is_empty() {
                f.name.to_string()
            } else {
                format!("{}/{}", d.path, f.name)
            };
            println!("{prefix}{kind}:{}  {path}", sum.to_hex());
        }
    }
    Ok(())
}

/// Each argument's manifest; what cannot be read is reported in apk-tools' words and,
/// as there, does not change the exit status.
pub fn run(ctx: &Context, args: Args) -> u32 {
    // apk-tools opens the database with its repositories first: one that cannot be
    // read is warned about, a database that cannot be read fails the applet.
    if ctx.open_db_or_report().is_none() {
        return 1;
    }
    for p in &args.packages {
        let prefix = if ctx.verbosity > 1 {
            format!("{p}: ")
        } else {
            String::new()
        };
        let path = Path::new(p);
        let r = if path.is_file() {
            manifest_file(ctx, path, &prefix)
        } else {
            manifest_installed(ctx, p, &prefix)
        };
        if let Err(e) = r {
            context::error(format!("{p}: {}", e.apk_reason()));
        }
    }
    0
}
