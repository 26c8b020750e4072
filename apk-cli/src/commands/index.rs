//! `apk index`: builds `APKINDEX.tar.gz` from package files, in parallel, reusing the
//! records of an older index for files that have not changed since it was written.

use std::collections::HashSet;
use std::path::PathBuf;

use apk_core::index::{IndexArchive, PackageInfo};
use apk_core::indexer::{self, OldIndex};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the index to FILE
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    output: PathBuf,
    /// Add a description to the index
    #[arg(short = 'd', long = "description", value_name = "TEXT")]
    description: Option<String>,
    /// Read an existing index and reuse its records for unchanged packages
    #[arg(short = 'x', long = "index", value_name = "INDEX")]
    index: Option<PathBuf>,
    /// Set the architecture of every package to ARCH
    #[arg(long, value_name = "ARCH")]
    rewrite_arch: Option<String>,
    /// Do not warn about dependencies no package in the index provides
    #[arg(long)]
    no_warnings: bool,
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
}

/// Names (packages and what they provide) present in the index.
fn provided_names(pkgs: &[PackageInfo]) -> HashSet<&str> {
    pkgs.iter()
        .flat_map(|p| {
            std::iter::once(p.name.as_str()).chain(p.provides.iter().map(|d| d.name.as_str()))
        })
        .collect()
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let old = match args.index.as_deref().map(OldIndex::load).transpose() {
        Ok(o) => o,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let mut pkgs = Vec::with_capacity(args.packages.len());
    let (mut errors, mut new) = (0u32, 0usize);
    for item in indexer::index_files(&args.packages, old.as_ref()) {
        match item.record {
            Ok(info) => {
                new += usize::from(item.fresh);
                pkgs.push(info);
            }
            Err(e) => {
                context::error(e);
                errors += 1;
            }
        }
    }
    if errors > 0 {
        return errors;
    }
    if let Some(arch) = &args.rewrite_arch {
        for p in &mut pkgs {
            p.arch = Some(arch.clone());
        }
    }
    indexer::sort_records(&mut pkgs);
    if !args.no_warnings && ctx.verbosity > 0 {
        let names = provided_names(&pkgs);
        for p in &pkgs {
            for d in p
                .depends
                .iter()
                .filter(|d| !d.conflict && !names.contains(d.name.as_str()))
            {
                eprintln!("WARNING: {}: no provider for dependency {d}", p.nv());
            }
        }
    }
    let total = pkgs.len();
    let archive = IndexArchive {
        description: args.description,
        packages: pkgs,
        signatures: Vec::new(),
    };
    let written = archive
        .write(apk_core::archive::build_time())
        .and_then(|bytes| apk_core::file::write_atomically(&args.output, &bytes));
    if let Err(e) = written {
        context::error(e);
        return 1;
    }
    if ctx.verbosity > 0 {
        println!("Index has {total} packages (of which {new} are new)");
    }
    0
}
