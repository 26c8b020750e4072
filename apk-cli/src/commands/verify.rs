//! `apk verify FILE...`: signatures and checksums of packages and indexes.

use std::path::PathBuf;

use apk_format::sign::Keyring;
use apk_format::v2::apkindex::IndexArchive;
use apk_format::v2::package::{self, FileKind, Package};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Verifies one file, which may be a package or an index.
pub fn verify_file(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> apk_core::Result<()> {
    match package::classify(bytes, what)? {
        FileKind::Package => Package::verify(bytes, keys, what).map(|_| ()),
        FileKind::Index => IndexArchive::read(bytes, keys, what).map(|_| ()),
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let keys = match ctx.keyring() {
        Ok(k) => k,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let mut failed = 0;
    for file in &args.files {
        let what = file.display().to_string();
        let result =
            apk_core::fs::atomic::read(file).and_then(|b| verify_file(&b, keys.as_ref(), &what));
        match result {
            Ok(()) if ctx.verbosity > 0 => println!("{what}: OK"),
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                if ctx.verbosity > 0 {
                    println!("{what}: {}", e.reason());
                } else {
                    println!("{what}");
                }
            }
        }
    }
    failed
}
