//! The file system under a root: atomic replacement of files ([`atomic`]), the one home
//! of `unsafe` memory maps ([`mapped`]), a root's files reached without leaving it
//! ([`rootfs`]) and apk's configuration folders ([`confdir`]). Uses nothing else of
//! apk-core.

pub mod atomic;
pub mod confdir;
pub mod mapped;
pub mod rootfs;
