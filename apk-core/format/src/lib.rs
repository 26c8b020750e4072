//! apk-format: the file formats of Alpine's package manager, as pure functions from bytes
//! to types and back. Nothing here touches the network, runs a process or maps a file;
//! the package manager (repositories, database, solver, commit) is `apk-core`.
//!
//! - Value types: [`version`] (apk's version order), [`dep`] (dependency atoms),
//!   [`checksum`] (package identities and file digests), [`package_info`] (one
//!   package's metadata, whichever format carried it).
//! - [`package`]: the one door to package and index files of either format ([`sniff`],
//!   [`Package`]); callers use it instead of naming v2 types.
//! - Trust: [`sign`] (RSA and Ed25519 keys and signatures).
//! - [`v2`]: the gzip+tar formats: [`v2::archive`] (gzip members, tar),
//!   [`v2::signed`] (the signature member), [`v2::apkindex`] (APKINDEX text and archive),
//!   [`v2::pkginfo`] (`.PKGINFO`), [`v2::package`] (reading and building `.apk` files).
//! - [`adb`]: the v3 format (ADB): container, tree, schemas, the `adbdump` walk and
//!   signatures.
//! - [`error`]: the one error type every parser returns, with apk-tools' error kinds.
//!
//! The models to copy for a new parser (ADB values too): [`dep`]'s `DepRef`, which
//! borrows from the index text, with its small typed `DepError`; [`version`], a newtype
//! whose order is apk's, checked by a table and a property test; [`v2::archive`]'s
//! `Bounded` reader, which fails past a limit (gzip bombs) and serves every
//! decompressor.

pub mod adb;
pub mod checksum;
pub mod dep;
pub mod error;
pub mod hash;
pub mod package;
pub mod package_info;
pub mod pkgname;
pub mod sign;
pub mod v2;
pub mod version;

pub use error::{Error, Result};
pub use package::{sniff, Package};
pub use package_info::PackageInfo;
