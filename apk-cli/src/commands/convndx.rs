//! `apk convndx INDEX...`: v2 indexes (`APKINDEX.tar.gz`, each checked against the
//! trusted keys) converted into one v3 index written to standard output, as
//! apk-tools 3's `convndx` does.

use std::io::Write;

use apk_format::adb::index::IndexBuilder;
use apk_format::adb::{self, container, trust};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(value_name = "INDEX")]
    indexes: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let Some(keys) = ctx.keyring_or_report() else {
        return 1;
    };
    let fetcher = ctx.fetcher();
    let mut builder = IndexBuilder::new();
    for arg in &args.indexes {
        let read = fetcher
            .get(arg, apk_core::repo::fetch::INDEX_LIMIT)
            .and_then(|bytes| apk_format::v2::apkindex::RawIndex::read(&bytes, keys.as_ref(), arg));
        match read {
            Ok(raw) => {
                builder.add_v2_index(&raw.text);
                if ctx.verbosity >= 1 {
                    eprintln!("{arg}: {} packages", builder.len());
                }
            }
            Err(e) => {
                context::error(format!("{arg}: {}", e.apk_reason()));
                return 99;
            }
        }
    }
    let tree = builder.finish(None, None);
    let mut sigs = Vec::new();
    for key in &ctx.opts.sign_key {
        let signed = apk_format::sign::PrivateKey::load(key)
            .and_then(|(k, _)| trust::sign(adb::SCHEMA_INDEX, &tree, &k));
        match signed {
            Ok(s) => sigs.push(s),
            Err(e) => {
                context::error(format!("{}: {}", key.display(), e.apk_reason()));
                return 99;
            }
        }
    }
    let file = container::write(adb::SCHEMA_INDEX, &tree, &sigs);
    let out = container::compress(&file, ctx.opts.compression.unwrap_or_default());
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&out).and_then(|_| stdout.flush()) {
        context::error(format!("standard output: {e}"));
        return 99;
    }
    0
}
