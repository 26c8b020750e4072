//! One module per applet, named after it: its clap arguments (`Args`) and `run`.

pub mod adbdump;
pub mod adbsign;
pub mod add;
pub mod audit;
pub mod cache;
pub mod convndx;
pub mod del;
pub mod dot;
pub mod extract;
pub mod fetch;
pub mod fix;
pub mod index;
pub mod info;
pub mod list;
pub mod manifest;
pub mod mkndx;
pub mod mkpkg;
pub mod policy;
pub mod query;
pub mod search;
pub mod solution;
pub mod stats;
pub mod update;
pub mod upgrade;
pub mod verify;
pub mod version;
