//! `apk stats`: counts of names, packages, repositories and installed files.

use std::collections::BTreeSet;

use crate::context::Context;

/// `apk stats`: counts of the installed and available packages, as apk-tools prints them.
/// apk's "atoms" are its interned strings; apk-rs counts the distinct names and versions
/// it holds, the closest equivalent.
pub fn run(ctx: &Context) -> u32 {
    let Some(db) = ctx.open_db_or_report() else {
        return 1;
    };
    let pool = &db.pool;
    let installed_db =
        std::fs::read_to_string(db.root.join("lib/apk/db/installed")).unwrap_or_default();
    // apk counts every directory of the database with its parents (and the root, when
    // there is one), and every distinct owner/mode record among its atoms.
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    let mut acls: BTreeSet<&str> = BTreeSet::from(["0:0:755", "0:0:644"]);
    for line in installed_db.lines() {
        if let Some(d) = line.strip_prefix("F:") {
            dirs.extend(["", d]);
            dirs.extend(d.match_indices('/').map(|(i, _)| &d[..i]));
        } else if let Some(a) = line.strip_prefix("a:").or_else(|| line.strip_prefix("M:")) {
            acls.insert(a);
        }
    }
    let files: usize = db.installed_files.values().map(Vec::len).sum();
    let bytes: u64 = pool.installed.iter().map(|&p| pool.installed_size(p)).sum();
    let triggers = std::fs::read_to_string(db.root.join("lib/apk/db/triggers"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    // The strings apk-tools interns: package versions and texts, dependency versions
    // (replaces too: the installed database has them),
    // repository descriptions, the root's architectures and "noarch" (an empty string
    // is never interned).
    let mut atoms: BTreeSet<String> = BTreeSet::from(["noarch".to_owned()]);
    for (id, p) in pool.packages.iter().enumerate() {
        let id = apk_core::pool::PkgId::new(id);
        atoms.insert(pool.pkg_version(p).to_owned());
        let info = pool.info(id);
        for f in [
            &info.description,
            &info.url,
            &info.license,
            &info.arch,
            &info.origin,
            &info.maintainer,
            &info.commit,
        ]
        .into_iter()
        .flatten()
        {
            atoms.insert(f.clone());
        }
        let deps = pool.pkg_deps(p);
        for d in deps
            .depends
            .iter()
            .chain(deps.provides)
            .chain(deps.install_if)
            .chain(deps.replaces)
        {
            if let Some(v) = pool.dep_version(d) {
                atoms.insert(v.to_owned());
            }
        }
    }
    atoms.extend(pool.repos.iter().filter_map(|r| r.description.clone()));
    // The architectures the root installs (`etc/apk/arch`, `--arch`), the world's
    // versions and every repository tag (as `@tag`).
    atoms.extend(pool.arches.iter().cloned());
    atoms.extend(db.world.iter().map(|d| d.version.clone()));
    atoms.extend(
        pool.tags
            .iter()
            .filter(|t| !t.name.is_empty())
            .map(|t| format!("@{}", t.name)),
    );
    atoms.remove("");
    // Looking up the package a cached file is, apk-tools makes a name of each part of
    // the file name before a '-' until one names the package: those are names too.
    let mut made: BTreeSet<&str> = BTreeSet::new();
    let cached = if ctx.opts.no_cache {
        Vec::new()
    } else {
        apk_core::db::cached_files(&db.root)
    };
    for (file, size) in &cached {
        for (i, _) in file.char_indices().skip(1).filter(|&(_, c)| c == '-') {
            let prefix = &file[..i];
            if pool.find_name(prefix).is_none() {
                made.insert(prefix);
            }
            if pool
                .cached_package(file, *size)
                .is_some_and(|p| pool.name(pool.pkg(p).name) == prefix)
            {
                break;
            }
        }
    }
    print!(
        "installed:\n  packages: {}\n  dirs: {}\n  files: {}\n  bytes: {}\n  triggers: {}\navailable:\n  names: {}\n  packages: {}\natoms:\n  num: {}\n\n",
        pool.installed.len(),
        dirs.len(),
        files,
        bytes,
        triggers,
        pool.names.len() + made.len(),
        pool.packages.len(),
        atoms.len() + acls.len(),
    );
    0
}
