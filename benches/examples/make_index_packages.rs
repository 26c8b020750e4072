//! Writes the 2,000 signed packages the side-by-side "index" row indexes, and their
//! key (`DIR/keys`), for profiling `apk index` on its own.
//!
//! `cargo run --release -p apk-benches --example make_index_packages -- /tmp/idx`
//! then `apk --keys-dir /tmp/idx/keys index -o /tmp/APKINDEX.tar.gz /tmp/idx/*.apk`
fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: make_index_packages DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    apk_benches::generate_packages(&dir, 2_000);
}
