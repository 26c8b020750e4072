//! Writes the roots the whole-process targets of the solver are measured on:
//! `DIR/real` (the real Alpine 3.16 index with its keys, needs `../shared`) and
//! `DIR/universe/root` (115,000 generated packages, as the side-by-side row, in 20 repositories).
//!
//! `cargo run --release -p apk-benches --example make_roots -- /tmp/apk-roots`
fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: make_roots DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    match apk_benches::real_root(&dir) {
        Some((root, opts)) => {
            let keys = root.join("etc/apk/keys");
            std::fs::create_dir_all(&keys).expect("keys dir");
            if let Some(src) = opts.keys_dir {
                for entry in std::fs::read_dir(src).expect("keys").flatten() {
                    std::fs::copy(entry.path(), keys.join(entry.file_name())).expect("copy key");
                }
            }
            println!("{}", root.display());
        }
        None => eprintln!("notice: ../shared not found, no real root"),
    }
    let universe = dir.join("universe");
    std::fs::create_dir_all(&universe).expect("universe dir");
    println!(
        "{}",
        apk_benches::generate_universe(&universe, 115_000, 20).display()
    );
    let v3 = dir.join("v3universe");
    std::fs::create_dir_all(&v3).expect("v3 universe dir");
    println!(
        "{}",
        apk_benches::generate_v3_universe(&v3, 20_000).display()
    );
}
