//! The v3 format, ADB ("apk database", apk-v3(5)): a binary tree of values built to be
//! read in place, used for v3 packages (`pckg`), indexes (`indx`, `packages.adb`) and
//! the installed database (`idb`).
//!
//! A file is `ADB.` and a four-byte schema, then 8-byte aligned blocks: one ADB block
//! (the tree: a small header, then values that point at each other by offset), any
//! number of signature blocks over it, then data blocks (a package's file contents, in
//! the order of its paths). The whole file may be compressed: `ADBd` then raw deflate,
//! or `ADBc`, an algorithm byte, a level byte and the stream.
//!
//! [`container`] splits a file into its blocks, [`value`] reads the tree, [`schema`]
//! names its fields, [`package`] reads v3 packages, [`dump`] walks it as `apk adbdump` prints it, [`trust`] checks
//! its signatures. Everything borrows from the file's bytes.

pub mod build;
pub mod container;
pub mod convdb;
pub mod dump;
pub mod gen;
pub mod index;
pub mod package;
pub mod schema;
pub mod trust;
pub mod value;
pub mod writer;

pub use container::{decompress, Block, BlockKind, Container};
pub use value::{Db, Obj, Val};

/// The schema of a v3 package.
pub const SCHEMA_PACKAGE: u32 = u32::from_le_bytes(*b"pckg");
/// The schema of a v3 index (`packages.adb`).
pub const SCHEMA_INDEX: u32 = u32::from_le_bytes(*b"indx");
/// The schema of the v3 installed database.
pub const SCHEMA_INSTALLED_DB: u32 = u32::from_le_bytes(*b"idb\0");
