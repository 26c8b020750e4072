//! A root's database: opening it ([`database`]: world, installed packages, the
//! repositories' indexes verified against the keys, into a [`crate::pool::Pool`]), the
//! installed-database and world text formats ([`installed`]), the installed state a
//! commit changes ([`state`]), the writer's lock ([`lock`]), protected paths
//! ([`protect`]) and the snapshot file that caches an opened database ([`snapshot`]).

pub mod database;
pub mod installed;
pub mod lock;
pub mod protect;
pub mod snapshot;
pub mod state;

pub use database::*;
