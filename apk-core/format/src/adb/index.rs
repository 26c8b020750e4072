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
