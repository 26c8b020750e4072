//! `apk index`: builds `APKINDEX.tar.gz` from package files, in parallel, reusing the
//! records of an older index for files that have not changed since it was written.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use apk_core::index::{IndexArchive, PackageInfo};
use apk_core::package::Package;
use rayon::prelude::*;

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

/// Old index records by `name-version`, usable for files not modified after `mtime`.
struct OldIndex {
    mtime: SystemTime,
    records: HashMap<String, PackageInfo>,
}

fn load_old(path: &Path) -> apk_core::Result<OldIndex> {
    let bytes = apk_core::file::read(path)?;
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| apk_core::Error::io(path, e))?;
    let idx = IndexArchive::read(&bytes, None, &path.display().to_string())?;
    let records = idx.packages.into_iter().map(|p| (p.nv(), p)).collect();
    Ok(OldIndex { mtime, records })
}

fn reuse(old: Option<&OldIndex>, path: &Path) -> Option<PackageInfo> {
    let old = old?;
    let meta = std::fs::metadata(path).ok()?;
    if meta.modified().ok()? > old.mtime {
        return None;
    }
    let stem = path.file_name()?.to_str()?.strip_suffix(".apk")?;
    let rec = old.records.get(stem)?;
    (rec.size == Some(meta.len())).then(|| rec.clone())
}

fn read_package(path: &Path) -> apk_core::Result<PackageInfo> {
    let bytes = apk_core::file::read(path)?;
    Package::parse(&bytes, &path.display().to_string()).map(|p| p.info)
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
    let old = match args.index.as_deref().map(load_old).transpose() {
        Ok(o) => o,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let results: Vec<(apk_core::Result<PackageInfo>, bool)> = args
        .packages
        .par_iter()
        .map(|p| match reuse(old.as_ref(), p) {
            Some(rec) => (Ok(rec), false),
            None => (read_package(p), true),
        })
        .collect();
    let mut pkgs = Vec::with_capacity(results.len());
    let (mut errors, mut new) = (0u32, 0usize);
    for (r, fresh) in results {
        match r {
            Ok(info) => {
                new += usize::from(fresh);
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
    pkgs.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| apk_core::version::compare(&a.version, &b.version))
    });
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
        .write(0)
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
