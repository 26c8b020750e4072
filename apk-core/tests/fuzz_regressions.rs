//! Replays every input under `fuzz/regressions/<target>/` through its fuzz target, so
//! that crashes found by fuzzing (saved there) stay fixed.

use std::path::PathBuf;

#[test]
fn fuzz_regressions_replay() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut replayed = 0;
    for (name, target) in apk_core::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| target(&data));
            assert!(result.is_ok(), "{name}: {} panics", path.display());
            replayed += 1;
        }
    }
    assert!(
        replayed >= apk_core::fuzzing::TARGETS.len(),
        "regression corpus is missing"
    );
}
