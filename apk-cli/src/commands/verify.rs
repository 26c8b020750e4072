//! `apk verify FILE...`: signatures and checksums of packages and indexes.

use std::path::PathBuf;

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(keys) = ctx.keyring_or_report() else {
        return 1;
    };
    let mut failed = 0;
    for file in &args.files {
        let what = file.display().to_string();
        let result = apk_core::fs::atomic::read(file)
            .and_then(|b| apk_format::package::verify_file(&b, keys.as_ref(), &what));
        match result {
            Ok(_) if ctx.verbosity > 0 => println!("{what}: OK"),
            Ok(_) => {}
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
