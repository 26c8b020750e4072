//! `apk adbsign [--reset-signatures] FILE...`: signs v3 (ADB) files in place with the
//! global `--sign-key` keys, as apk-tools 3's `adbsign` does: the tree and data kept
//! byte for byte, the existing signatures kept (unless reset) and the new ones added
//! after them, the file's compression kept unless `--compression` says otherwise.
//! A file that cannot be signed is reported and left as it was.

use apk_format::adb::container::{self, BlockKind, CompressionSpec, Container};
use apk_format::adb::trust::{self, TrustError};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Drop the file's signatures before adding the new ones
    #[arg(long)]
    reset_signatures: bool,
    #[arg(value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
}

/// The compression a file has, as `--compression` would name it.
fn compression_of(bytes: &[u8]) -> CompressionSpec {
    use container::Compression;
    match bytes.get(..4) {
        Some(b"ADB.") => CompressionSpec {
            alg: Some(Compression::None),
            level: 1,
        },
        Some(b"ADBc") => {
            let alg = match bytes.get(4) {
                Some(0) => Compression::None,
                Some(2) => Compression::Zstd,
                _ => Compression::Deflate,
            };
            CompressionSpec {
                alg: Some(alg),
                level: bytes.get(5).copied().unwrap_or(0),
            }
        }
        _ => CompressionSpec::default(),
    }
}

fn resign(ctx: &Context, path: &std::path::Path, reset: bool) -> apk_format::Result<()> {
    let what = path.display().to_string();
    let keys = ctx.keyring()?;
    let bytes = apk_core::fs::atomic::read(path)?;
    let (plain, _) = container::decompress(&bytes, &what)?;
    let c = Container::parse(&plain, &what)?;
    if let Some(k) = &keys {
        trust::verify(&c, k).map_err(|e| match e {
            TrustError::Untrusted => apk_format::Error::untrusted(&what, e),
            TrustError::BadBlock => apk_format::Error::signature(&what, e),
        })?;
    }
    let adb = c.adb();
    let mut sigs: Vec<Vec<u8>> = if reset {
        Vec::new()
    } else {
        c.blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Sig)
            .map(|b| b.payload.to_vec())
            .collect()
    };
    for key in &ctx.opts.sign_key {
        let (k, _) = apk_format::sign::PrivateKey::load(key)?;
        sigs.push(trust::sign(c.schema, adb, &k)?);
    }
    let mut file = container::write(c.schema, adb, &sigs);
    for b in c.blocks.iter().filter(|b| b.kind == BlockKind::Data) {
        file.extend(container::block(2, b.payload));
    }
    let spec = ctx.opts.compression.unwrap_or(compression_of(&bytes));
    apk_core::fs::atomic::write_atomically(path, &container::compress(&file, spec))
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    for f in &args.files {
        if let Err(e) = resign(ctx, f, args.reset_signatures) {
            context::error(format!("{}: {}", f.display(), e.apk_reason()));
        }
    }
    0
}
