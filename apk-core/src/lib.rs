//! apk-core: the formats and logic of Alpine's package manager.
//!
//! Layers, bottom up: [`version`] and [`dep`] (the value types), [`checksum`],
//! [`index`] (APKINDEX records), [`pkginfo`] (`.PKGINFO`), [`archive`] (the gzip+tar
//! container), [`sign`] (RSA and Ed25519 signatures), [`package`] (v2 `.apk` files),
//! [`repo_index`] (`APKINDEX.tar.gz`), [`db`] (installed database, world, repositories).

pub mod archive;
pub mod checksum;
pub mod dep;
pub mod error;
pub mod index;
pub mod sign;
pub mod version;

pub use error::{Error, Result};
