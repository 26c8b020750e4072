//! The file system under a root: atomic replacement of files ([`atomic`]), the one home
//! of `unsafe` memory maps ([`mapped`]), a root's files reached without leaving it
//! ([`rootfs`]), apk's configuration folders ([`confdir`]) and the sandbox that runs
//! package scripts inside a root ([`sandbox`]). Uses nothing else of apk-core.

pub mod atomic;
pub mod confdir;
pub mod mapped;
pub mod rootfs;
pub mod sandbox;

/// The file mode creation mask of this process, read once from `/proc/self/status`
/// (reading it through `umask(2)` would set it, for a moment, under other threads);
/// `None` where that is not available.
pub fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(value.trim(), 8).ok()
    })
}

/// True when running with root privileges.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
