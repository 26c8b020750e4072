//! `apk mkndx --output FILE [OPTIONS] PKG...`: a v3 index of v2 and v3 packages, as
//! apk-tools 3's `mkndx` writes it: each package's signature checked first, entries
//! of an older index (`--index`) reused for files not newer than it, the index signed
//! with the global `--sign-key` and compressed with deflate.

use std::path::{Path, PathBuf};

use apk_format::adb::index::{IdentityHash, IndexBuilder, OldIndex};
use apk_format::adb::{self, container, trust};
use apk_format::pkgname;

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the index to FILE
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The index description
    #[arg(short = 'd', long, value_name = "TEXT")]
    description: Option<String>,
    /// Reuse the entries of this older index for files not newer than it
    #[arg(short = 'x', long, value_name = "INDEX")]
    index: Option<PathBuf>,
    /// Identity of v3 packages: sha256 (default) or sha256-160
    #[arg(long, value_name = "HASH")]
    hash: Option<String>,
    /// How package files are named, stored in the index (default ${name}-${version}.apk)
    #[arg(long, value_name = "SPEC")]
    pkgname_spec: Option<String>,
    /// Take the packages only from --index, naming them by SPEC instead of by file
    #[arg(long, value_name = "SPEC")]
    filter_spec: Option<String>,
    /// Removed in apk-tools 3: use --pkgname-spec 'ARCH/${name}-${version}.apk'
    #[arg(long, value_name = "ARCH")]
    rewrite_arch: Option<String>,
    #[arg(value_name = "PACKAGE")]
    packages: Vec<String>,
}

fn mtime(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).map_or(0, |m| m.mtime())
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let hash = match args.hash.as_deref().map(IdentityHash::by_name) {
        None => IdentityHash::Sha256,
        Some(Some(h)) => h,
        Some(None) => {
            let h = args.hash.as_deref().unwrap_or("");
            context::error(format!("hash '{h}' not recognized or allowed"));
            context::error(format!(
                "command line: invalid argument for option 'hash': '{h}'"
            ));
            return 1;
        }
    };
    if let Some(arch) = &args.rewrite_arch {
        context::error(format!(
            "--rewrite-arch is removed, use instead: --pkgname-spec '{arch}/${{name}}-${{version}}.apk'"
        ));
        return 1;
    }
    let Some(output) = args.output.as_ref() else {
        context::error("Please specify --output FILE");
        return 99;
    };
    let mut lookup_spec = args
        .pkgname_spec
        .clone()
        .unwrap_or_else(|| pkgname::DEFAULT.to_owned());
    if let Some(f) = &args.filter_spec {
        if args.index.is_none() {
            context::error("--filter-spec requires --index");
            return 99;
        }
        lookup_spec = f.clone();
    }
    let Some(keys) = ctx.keyring_or_report() else {
        return 1;
    };
    // The older index: read, decompressed and checked before any package.
    let mut old_bytes = None;
    let mut index_mtime = 0;
    if let Some(x) = &args.index {
        let what = x.display().to_string();
        index_mtime = mtime(x);
        let opened = apk_core::fs::atomic::read(x).and_then(|b| {
            let (plain, _) = container::decompress(&b, &what)?;
            let plain = plain.into_owned();
            OldIndex::open(&plain, keys.as_ref(), &what)?;
            Ok(plain)
        });
        match opened {
            Ok(p) => old_bytes = Some(p),
            Err(e) => {
                context::error(format!("{what}: {}", e.apk_reason()));
                return 99;
            }
        }
    }
    let old = match old_bytes.as_deref().map(|p| OldIndex::open(p, None, "")) {
        Some(Ok(o)) => Some(o),
        _ => None,
    };
    let mut builder = IndexBuilder::new();
    let (mut errors, mut new) = (0, 0);
    for arg in &args.packages {
        let mut size = 0;
        let mut use_previous = true;
        if args.filter_spec.is_none() {
            match std::fs::metadata(arg) {
                Ok(m) => {
                    use std::os::unix::fs::MetadataExt;
                    size = m.len();
                    use_previous = index_mtime >= m.mtime();
                }
                Err(e) => {
                    context::error(format!("{arg}: {}", apk_format::error::io_reason(&e)));
                    errors += 1;
                    continue;
                }
            }
        }
        let found = old
            .as_ref()
            .filter(|_| use_previous)
            .and_then(|o| Some((o, o.find(arg, size, &lookup_spec)?)));
        if let Some((o, n)) = found {
            if ctx.verbosity >= 2 {
                println!("{arg}: indexed from old index");
            }
            builder.add_old(o, n);
            continue;
        }
        if args.filter_spec.is_some() {
            continue;
        }
        match apk_core::repo::indexer::add_to_v3_index(
            &mut builder,
            Path::new(arg),
            keys.as_ref(),
            hash,
        ) {
            Ok(()) => {
                if let Some(spec) = &args.pkgname_spec {
                    let named = pkgname::subst(spec, |k| builder.last_field(k));
                    if named.as_deref().map(pkgname::last_segment).ok()
                        != Some(pkgname::last_segment(arg))
                    {
                        crate::output::warning(format!(
                            "{arg}: not matching package name specification '{spec}'"
                        ));
                    }
                }
                if ctx.verbosity >= 2 {
                    println!("{arg}: indexed new package");
                }
                new += 1;
            }
            Err(e) => {
                context::error(format!("{arg}: {}", e.apk_reason()));
                errors += 1;
            }
        }
    }
    if errors > 0 {
        context::error(format!("{errors} errors, not creating index"));
        return 99;
    }
    let total = builder.len();
    let tree = builder.finish(args.description.as_deref(), args.pkgname_spec.as_deref());
    let result = (|| {
        let mut sigs = Vec::new();
        for key in &ctx.opts.sign_key {
            let (k, _) = apk_format::sign::PrivateKey::load(key)?;
            sigs.push(trust::sign(adb::SCHEMA_INDEX, &tree, &k)?);
        }
        let file = container::write(adb::SCHEMA_INDEX, &tree, &sigs);
        apk_core::fs::atomic::write_atomically(
            output,
            &container::compress(&file, ctx.opts.compression.unwrap_or_default()),
        )
    })();
    match result {
        Ok(()) => {
            if ctx.verbosity >= 1 {
                println!("Index has {total} packages (of which {new} are new)");
            }
            0
        }
        Err(e) => {
            context::error(format!("Index creation failed: {}", e.apk_reason()));
            99
        }
    }
}
