//! Tells the test suites whether the shared material (`../shared` beside the workspace,
//! or `$APK_RS_SHARED`) is there. Without it, the tests that need it are compiled as
//! ignored, with the reason (`#[cfg_attr(no_shared, ignore = ...)]`), so the test
//! runner lists them as skipped instead of passing them silently; under CI (any
//! non-empty `CI`) its absence stops the build. apk-cli uses this script too.

use std::path::PathBuf;

fn main() {
    link_unwinder_statically();
    order_hot_text();
    println!("cargo::rustc-check-cfg=cfg(no_shared)");
    println!("cargo:rerun-if-env-changed=APK_RS_SHARED");
    println!("cargo:rerun-if-env-changed=CI");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = std::env::var_os("APK_RS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../shared"));
    let marker = dir.join("realdata");
    println!("cargo:rerun-if-changed={}", marker.display());
    if !marker.is_dir() {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!(
                "shared material not found at {} (set APK_RS_SHARED)",
                dir.display()
            );
        }
        println!("cargo:rustc-cfg=no_shared");
    }
}

/// The `apk` binary takes the unwinder (which it needs only for backtraces: panics
/// abort) from libgcc's static archive instead of loading `libgcc_s.so.1`: one shared
/// library fewer to find, map and relocate at every start, as apk-tools loads libc
/// alone.
fn link_unwinder_statically() {
    let is = |var: &str, value: &str| std::env::var(var).is_ok_and(|v| v == value);
    if is("CARGO_PKG_NAME", "apk-cli")
        && is("CARGO_CFG_TARGET_OS", "linux")
        && is("CARGO_CFG_TARGET_ENV", "gnu")
    {
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}

/// The `apk` binary's functions that the benchmark workloads execute are placed
/// together at the start of its code (`apk-cli/hot-text.ld`, made by `side-by-side
/// --hot-text`): the kernel maps a binary's code 64 KiB around each page first run,
/// and with those functions spread over all of it, the 200-package install kept 3.4 of
/// its 3.7 MB of code resident. A function the script does not name (new, renamed)
/// only lands in the rest of the code, as before.
fn order_hot_text() {
    let is = |var: &str, value: &str| std::env::var(var).is_ok_and(|v| v == value);
    if is("CARGO_PKG_NAME", "apk-cli")
        && is("CARGO_CFG_TARGET_OS", "linux")
        && is("CARGO_CFG_TARGET_ARCH", "x86_64")
    {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let script = std::path::Path::new(&manifest).join("hot-text.ld");
        println!("cargo:rerun-if-changed={}", script.display());
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
