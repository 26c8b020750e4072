//! The metadata of one package, whichever format carried it: an APKINDEX record, a
//! `.PKGINFO`, the installed database, or (with v3) an ADB package or index.

use crate::checksum::Checksum;
use crate::dep::Dependency;

/// A package field that does not hold what it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("record has no package name (P:)")]
    NoName,
    #[error("package '{0}' has no version (V:)")]
    NoVersion(String),
    #[error("invalid package name '{0}'")]
    InvalidName(String),
    #[error("invalid {what} '{value}': not a number")]
    NotANumber { what: &'static str, value: String },
    #[error("invalid checksum: {0}")]
    Checksum(String),
}

/// Metadata of one package, as an index or the installed database records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageInfo {
    pub checksum: Option<Checksum>,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub size: Option<u64>,
    pub installed_size: Option<u64>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub license: Option<String>,
    pub origin: Option<String>,
    pub maintainer: Option<String>,
    pub build_time: Option<u64>,
    pub commit: Option<String>,
    pub provider_priority: Option<u32>,
    pub depends: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub install_if: Vec<Dependency>,
    pub replaces: Vec<Dependency>,
    pub replaces_priority: Option<u32>,
    /// Packages suggested with this one (v3 only; not installed by the solver).
    pub recommends: Vec<Dependency>,
    /// Words that classify the package (v3 `tags`; `g:` in the installed database).
    pub tags: Vec<String>,
    /// Fields this version does not interpret, kept so that rewriting loses nothing.
    pub extra: Vec<(u8, String)>,
    /// Dependency fields (`D p i r`) that did not parse, kept verbatim. apk loads such a
    /// package but cannot install it: see [`PackageInfo::is_broken`].
    pub unparsed: Vec<(u8, String)>,
}

impl PackageInfo {
    /// `name-version`, as apk names a package in messages.
    pub fn nv(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// A package whose dependency fields did not all parse.
    pub fn is_broken(&self) -> bool {
        !self.unparsed.is_empty()
    }

    /// A package whose `D:` did not parse: listed, never installed (apk-tools keeps
    /// packages with a bad `p:` or `i:` installable).
    pub fn is_uninstallable(&self) -> bool {
        self.unparsed.iter().any(|(l, _)| *l == b'D')
    }

    /// Checks that the record names a package.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.is_empty() {
            return Err(FieldError::NoName);
        }
        if self.version.is_empty() {
            return Err(FieldError::NoVersion(self.name.clone()));
        }
        Ok(())
    }
}
