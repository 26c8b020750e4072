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

pub mod audit;
pub mod commit;
pub mod confdir;
pub mod database;
pub mod db;
pub mod extract;
pub mod fetch;
pub mod file;
#[doc(hidden)]
pub mod fuzzing;
pub mod indexer;
pub mod mapped;
pub mod pool;
pub mod repo;
pub mod snapshot;
pub mod solver;
#[doc(hidden)]
pub mod testing;

pub use apk_format::{Error, Result};
