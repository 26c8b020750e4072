//! `apk extract --destination DIR PKG...`: verifies, then writes a package's files.

use std::path::PathBuf;

use apk_core::extract::{self, Options};
use apk_format::error::ErrorKind;
use apk_format::Package;

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Extract into DIR (default: the current directory)
    #[arg(long, value_name = "DIR")]
    destination: Option<PathBuf>,
    /// Do not restore file owners
    #[arg(long)]
    no_chown: bool,
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let dest = args.destination.unwrap_or_else(|| PathBuf::from("."));
    let Some(keys) = ctx.keyring_or_report() else {
        return 1;
    };
    let opts = Options {
        chown: !args.no_chown && apk_core::fs::is_root(),
        overwrite: ctx.opts.force_overwrite,
    };
    if let Err(e) = std::fs::read_dir(&dest) {
        let why = apk_format::error::io_reason(&e);
        context::error(format!(
            "Error opening destination '{}': {why}",
            dest.display()
        ));
        return 99;
    }
    // As apk-tools: each package announced, the first failure ends the run.
    for file in &args.packages {
        let what = file.display().to_string();
        println!("Extracting {what}...");
        // Verify the whole package before the first byte of it is written.
        let result = apk_core::fs::atomic::read(file).and_then(|bytes| {
            let pkg = Package::verify(&bytes, keys.as_ref(), &what)?;
            extract::extract(&pkg, &bytes, &what, &dest, opts)
        });
        if let Err(e) = result {
            // apk-tools' wording for what it words (a file in the way, trust); the
            // exact reason where apk-tools only says the format is invalid.
            match e.kind {
                ErrorKind::Io(_) | ErrorKind::Untrusted(_) => {
                    context::error(format!("{what}: {}", e.apk_reason()))
                }
                _ => context::error(e),
            }
            return 99;
        }
    }
    0
}
