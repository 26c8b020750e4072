//! The file system under a root: atomic replacement of files ([`atomic`]), the one home
//! of `unsafe` memory maps ([`mapped`]), a root's files reached without leaving it
//! ([`rootfs`]), apk's configuration folders ([`confdir`]) and the sandbox that runs
//! package scripts inside a root ([`sandbox`]). Uses nothing else of apk-core.

pub mod atomic;
pub mod confdir;
pub mod mapped;
pub mod rootfs;
pub mod sandbox;

/// True when running with root privileges.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
