//! Writes the root of the side-by-side row "simulate add 30 in a 25,000-package v2
//! index --no-cache" (one generated, unsigned index), for profiling the cold path.
//!
//! `cargo run --release -p apk-benches --example make_cold_root -- /tmp/cold`, then
//! `apk --root ROOT --allow-untrusted --no-cache --simulate add u1 u831 ...` with the
//! root it prints.
fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: make_cold_root DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    println!(
        "{}",
        apk_benches::generate_universe(&dir, 25_000, 1).display()
    );
}
