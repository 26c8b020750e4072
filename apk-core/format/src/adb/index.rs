//! v3 indexes (`indx`, a repository's `Packages.adb`): the repository's description
//! and every package's metadata, as the v2 APKINDEX gives them.

use super::container::{decompress, Container};
use super::package::package_info;
use super::schema::ndx;
use super::trust::{self, TrustError};
use super::value::Db;
use crate::error::{Error, Result};
use crate::sign::Keyring;
use crate::PackageInfo;

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub description: Option<String>,
    /// How package files are named (`${name}-${version}.apk` when absent).
    pub pkgname_spec: Option<String>,
    pub packages: Vec<PackageInfo>,
}

impl Index {
    /// Reads an index; with `keys`, one of its signatures must verify.
    pub fn read(bytes: &[u8], keys: Option<&Keyring>, what: &str) -> Result<Index> {
        let (plain, _) = decompress(bytes, what)?;
        let c = Container::parse(&plain, what)?;
        if c.schema != super::SCHEMA_INDEX {
            return Err(Error::format(what, "not a v3 index (schema)"));
        }
        if let Some(k) = keys {
            trust::verify(&c, k).map_err(|e| match e {
                TrustError::Untrusted => Error::untrusted(what, e),
                TrustError::BadBlock => Error::signature(what, e),
            })?;
        }
        let db = Db::new(c.adb());
        let root = db.obj(db.root());
        let pkgs = root.obj(ndx::PACKAGES);
        let packages = (1..=pkgs.len())
            .map(|i| package_info(&pkgs.obj(i)))
            .filter(|p| !p.name.is_empty() && !p.version.is_empty())
            .collect();
        Ok(Index {
            description: root.str(ndx::DESCRIPTION).map(|s| s.into_owned()),
            pkgname_spec: root.str(ndx::PKGNAME_SPEC).map(|s| s.into_owned()),
            packages,
        })
    }
}

/// Builds the tree of an index of v3 packages (`files`: each package's bytes and the
/// name for errors) as apk-tools' `mkndx` builds it: each package's metadata copied,
/// its file size and identity (SHA-256 of its ADB block) set, the list sorted.
pub fn build(files: &[(&[u8], &str)], description: Option<&str>) -> Result<Vec<u8>> {
    use super::schema::{pi, pkg, PKGINFO};
    use super::value::{Db, Val, TYPE_OBJECT};
    use super::writer::{compare_obj, Writer};
    use sha2::{Digest, Sha256};

    let mut w = Writer::new(8000);
    let mut pkgs: Vec<Val> = Vec::new();
    for (bytes, what) in files {
        let (plain, _) = decompress(bytes, what)?;
        let c = Container::parse(&plain, what)?;
        if c.schema != super::SCHEMA_PACKAGE {
            return Err(Error::not_supported(
                *what,
                "only v3 packages can be indexed by this build of apk-rs",
            ));
        }
        let src = Db::new(c.adb());
        let info = src.obj(src.root()).obj(pkg::INFO);
        let mut slots = vec![Val::NULL; PKGINFO.fields.len() + 1];
        for (i, slot) in slots.iter_mut().enumerate().take(info.num()).skip(1) {
            *slot = w.copy(&src, info.val(i));
        }
        slots[pi::FILE_SIZE] = w.int(bytes.len() as u64);
        slots[pi::HASHES] = w.blob(&Sha256::digest(c.adb()));
        let v = w.obj(&slots, TYPE_OBJECT);
        if !v.is_null() {
            pkgs.push(v);
        }
    }
    let desc = w.blob(description.unwrap_or("").as_bytes());
    {
        let db = w.db();
        pkgs.sort_by(|a, b| compare_obj(&db, &PKGINFO, &db.obj(*a), &db.obj(*b)));
    }
    let mut list = vec![Val::NULL];
    list.extend(pkgs);
    let packages = w.obj(&list, TYPE_OBJECT);
    let root = w.obj(&[Val::NULL, desc, packages], TYPE_OBJECT);
    Ok(w.finish(root))
}
