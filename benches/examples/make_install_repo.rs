//! Writes the repository the side-by-side "install 200 packages" row installs from
//! (200 signed packages of 40 files of 8 KiB, their index and key), for profiling that
//! install on its own; `DIR/names` lists the packages.
//!
//! `cargo run --release -p apk-benches --example make_install_repo -- /tmp/inst`
fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: make_install_repo DIR");
        std::process::exit(2);
    };
    let names = apk_benches::generate_install_repo(&dir, 200, 40, 8 << 10);
    std::fs::write(dir.join("names"), names.join(" ")).expect("write DIR/names");
}
