//! apk-core: the formats and logic of Alpine's package manager.
//!
//! Layers, bottom up:
//! - formats: [`version`] and [`dep`] (the value types), [`checksum`], [`index`]
//!   (APKINDEX records), [`pkginfo`] (`.PKGINFO`), [`archive`] (the gzip+tar
//!   container), [`sign`] (RSA and Ed25519 signatures), [`package`] (v2 `.apk` files),
//!   [`db`] (installed database, world, arch), [`repo`] (repositories file);
//! - files: [`file`] (whole-file reads, atomic replacement), [`extract`] (safe
//!   unpacking), [`indexer`] (building indexes), [`mapped`] (memory maps);
//! - the package manager: [`pool`] (names and packages interned into dense ids),
//!   [`database`] (opening a root), [`snapshot`] (the mapped database cache),
//!   [`solver`] (apk's dependency solver and its reports).

pub mod archive;
pub mod audit;
pub mod checksum;
pub mod commit;
pub mod confdir;
pub mod database;
pub mod db;
pub mod dep;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod file;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
pub mod indexer;
pub mod mapped;
pub mod package;
pub mod pkginfo;
pub mod pool;
pub mod repo;
pub mod sign;
pub mod snapshot;
pub mod solver;
#[doc(hidden)]
pub mod testing;
pub mod version;

pub use error::{Error, Result};
