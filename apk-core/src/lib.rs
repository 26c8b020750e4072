//! apk-core: Alpine's package manager over the formats of [`apk_format`].
//!
//! Layers, bottom up; a module uses only those below it:
//! - [`apk_format`] (its own crate): versions, dependencies, checksums, signatures, the
//!   v2 package and index formats.
//! - [`fs`] (atomic writes, memory maps, root-confined paths, config folders) and
//!   [`codec`] (the primitives of apk-rs's binary caches): leaves.
//! - [`repo`]: repositories, fetching and caching their files, building indexes.
//!   [`extract`]: unpacking a package into a folder, safely.
//! - [`pool`]: every name and package of one run interned into dense ids, with the
//!   snapshot codec of its tables.
//! - [`db`]: opening a root (world, installed database, repositories) into a pool; the
//!   installed state, its lock, protected paths and the snapshot file.
//! - [`solver`]: apk's dependency solver and its reports.
//! - [`commit`] (applying a solution to a root: fetch, stage, scripts, hooks) and
//!   [`audit`] (what in a root differs from its database): the top.
//!
//! The models to copy (the house style's "isolate the unsafe", "borrow, don't copy",
//! "types first", "ids and arenas"): [`fs::mapped`], the one home of `unsafe`, each
//! block with its safety argument and a plain-read fallback; [`fs::atomic`], atomic
//! replacement with the synced and unsynced variants and why each exists;
//! [`pool::NameId`] and its siblings, dense typed ids into the pool's tables;
//! [`db::snapshot::check`], a cache that can only cost time, never give a wrong answer
//! (it answers `None` rather than guess).

pub mod audit;
pub mod codec;
pub mod commit;
pub mod db;
pub mod extract;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod pool;
pub mod repo;
pub mod solver;
#[doc(hidden)]
pub mod testing;

pub use apk_format::{Error, Result};
