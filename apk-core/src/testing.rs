//! Test support shared by the workspace's test suites (not part of the API).

use std::path::PathBuf;

/// The shared material (`../shared` beside the workspace, or `$APK_RS_SHARED`). `None`
/// with a notice when it is absent; a panic when absent under `CI=true`, so CI cannot
/// pass by skipping.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("APK_RS_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    if dir.join("realdata").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "shared material not found at {} (set APK_RS_SHARED)",
            dir.display()
        );
    }
    eprintln!(
        "notice: shared material not found at {}; skipping",
        dir.display()
    );
    None
}
