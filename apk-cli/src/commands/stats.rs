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
    // repository descriptions and "noarch" (an empty string is never interned).
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
    atoms.remove("");
    print!(
        "installed:\n  packages: {}\n  dirs: {}\n  files: {}\n  bytes: {}\n  triggers: {}\navailable:\n  names: {}\n  packages: {}\natoms:\n  num: {}\n\n",
        pool.installed.len(),
        dirs.len(),
        files,
        bytes,
        triggers,
        pool.names.len(),
        pool.packages.len(),
        atoms.len() + acls.len(),
    );
    0
}
