//! `apk adbgen FILE...`: v3 (ADB) files from the YAML text `apk adbdump` prints, as
//! apk-tools 3's `adbgen` makes them: written uncompressed to standard output, signed
//! with the global `--sign-key` keys.

use std::io::Write;

use apk_format::adb::{container, gen, trust};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
}

fn make(ctx: &Context, path: &std::path::Path) -> apk_format::Result<Vec<u8>> {
    let what = path.display().to_string();
    let bytes = apk_core::fs::atomic::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let (schema, tree) = gen::generate(&text, &what)?;
    let mut sigs = Vec::new();
    for key in &ctx.opts.sign_key {
        let (k, _) = apk_format::sign::PrivateKey::load(key)?;
        sigs.push(trust::sign(schema, &tree, &k)?);
    }
    Ok(container::write(schema, &tree, &sigs))
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let mut out = std::io::stdout().lock();
    for f in &args.files {
        match make(ctx, f) {
            Ok(file) => {
                if let Err(e) = out.write_all(&file).and_then(|_| out.flush()) {
                    context::error(format!("standard output: {e}"));
                    return 1;
                }
            }
            Err(e) => {
                // What is wrong and where (apk-tools says only that the format is
                // invalid).
                context::error(e);
                return 1;
            }
        }
    }
    0
}
