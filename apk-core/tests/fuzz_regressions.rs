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

/// A small deterministic fuzz of the ADB reader (cargo-fuzz needs a nightly toolchain
/// this machine may not have): every byte of each seed, unpacked, set to a few hostile
/// values, and every truncation, must be read or refused without a panic.
#[test]
fn adb_mutations_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/adb");
    let mut runs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok((plain, _)) = apk_format::adb::decompress(&seed, "seed") else {
            continue;
        };
        let plain = plain.into_owned();
        for i in 0..plain.len() {
            for v in [0x00, 0xff, 0x80, 0x7f, 0xe0, 0xd0] {
                let mut m = plain.clone();
                m[i] = v;
                apk_core::fuzzing::adb(&m);
                runs += 1;
            }
            apk_core::fuzzing::adb(&plain[..i]);
        }
    }
    assert!(runs > 1000, "seeds are missing ({runs} runs)");
}

/// The same for `adbgen`'s text reader: every line of each seed dropped, doubled or
/// indented differently, and every truncation, must be built or refused without a
/// panic.
#[test]
fn adbgen_mutations_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/adbgen");
    let mut runs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let lines: Vec<&str> = seed.lines().collect();
        for i in 0..lines.len() {
            for edit in 0..4 {
                let mut m: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                match edit {
                    0 => {
                        m.remove(i);
                    }
                    1 => m.insert(i, lines[i].to_string()),
                    2 => m[i] = format!("  {}", lines[i]),
                    _ => m[i] = lines[i].trim_start().to_string(),
                }
                apk_core::fuzzing::adbgen(m.join("\n").as_bytes());
                runs += 1;
            }
        }
        for i in (0..seed.len()).filter(|&i| seed.is_char_boundary(i)) {
            apk_core::fuzzing::adbgen(&seed.as_bytes()[..i]);
            runs += 1;
        }
    }
    assert!(runs > 1000, "seeds are missing ({runs} runs)");
}

/// `convdb`'s line reader over every truncation and line deletion of its seeds.
#[test]
fn convdb_mutations_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/convdb");
    let mut runs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        for i in 0..seed.len() {
            apk_core::fuzzing::convdb(&seed[..i]);
            let mut m = seed.clone();
            m[i] = b'\n';
            apk_core::fuzzing::convdb(&m);
            runs += 2;
        }
    }
    assert!(runs > 1000, "seeds are missing ({runs} runs)");
}
