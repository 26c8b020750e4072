//! `apk mkndx --output FILE [--description TEXT] PKG...`: a v3 index of v3 packages, as
//! apk-tools 3's `mkndx` writes it (each package's signature checked first; the index
//! signed with the global `--sign-key`, compressed with deflate).

use std::path::PathBuf;

use apk_format::adb::{self, container, trust};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the index to FILE
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The index description
    #[arg(short = 'd', long, value_name = "TEXT")]
    description: Option<String>,
    #[arg(value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(output) = args.output else {
        context::error("Please specify --output FILE");
        return 99;
    };
    let keys = match ctx.keyring() {
        Ok(k) => k,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let mut files = Vec::new();
    let mut errors = 0;
    for p in &args.packages {
        let what = p.display().to_string();
        let checked = apk_core::fs::atomic::read(p).and_then(|bytes| {
            if let Some(k) = &keys {
                let pkg = apk_format::Package::parse(&bytes, &what)?;
                pkg.verify_signature(&bytes, k, &what)?;
            }
            Ok(bytes)
        });
        match checked {
            Ok(bytes) => files.push((bytes, what)),
            Err(e) => {
                context::error(format!("{what}: {}", e.apk_reason()));
                errors += 1;
            }
        }
    }
    if errors > 0 {
        context::error(format!("{errors} errors, not creating index"));
        return 99;
    }
    let refs: Vec<(&[u8], &str)> = files
        .iter()
        .map(|(b, w)| (b.as_slice(), w.as_str()))
        .collect();
    let result = adb::index::build(&refs, args.description.as_deref()).and_then(|tree| {
        let mut sigs = Vec::new();
        for key in &ctx.opts.sign_key {
            let (k, _) = apk_format::sign::PrivateKey::load(key)?;
            sigs.push(trust::sign(adb::SCHEMA_INDEX, &tree, &k)?);
        }
        let file = container::write(adb::SCHEMA_INDEX, &tree, &sigs);
        apk_core::fs::atomic::write_atomically(&output, &container::compress_deflate(&file))
    });
    match result {
        Ok(()) => {
            println!(
                "Index has {n} packages (of which {n} are new)",
                n = files.len()
            );
            0
        }
        Err(e) => {
            context::error(format!("Index creation failed: {}", e.apk_reason()));
            99
        }
    }
}
