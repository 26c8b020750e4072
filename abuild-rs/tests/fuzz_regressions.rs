//! Replays `fuzz/regressions/pc_file/` through its fuzz target's body.

#[test]
fn pc_file_regressions_replay() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/pc_file");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| abuild_rs::tracedeps::fuzz_pc(&data));
        assert!(result.is_ok(), "{} panics", path.display());
        n += 1;
    }
    assert!(n > 0, "regression corpus is missing");
}
