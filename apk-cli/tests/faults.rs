//! Crash safety: apk killed at any moment of a commit, a full disk, and two writers at
//! once. Whatever happens, the database must load, no file may be owned twice, and the
//! same command run again (or `apk fix`) must bring the root to the state asked for.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use apk_core::package::DataNode;
use common::repo::*;
use common::*;

/// A repository of `n` packages with 30 files each, the last depending on all others.
fn many_packages(f: &Fixture, n: usize) -> Vec<String> {
    let mut specs = Vec::new();
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("p{i:02}");
        let mut spec = spec(&name, "1.0-r0").dir("usr").dir(&format!("usr/{name}"));
        for j in 0..30 {
            let body = format!("{name} file {j}\n").repeat(200);
            spec = spec.entry(
                &format!("usr/{name}/f{j}"),
                0o644,
                DataNode::File(body.into_bytes()),
            );
        }
        names.push(name);
        specs.push(spec);
    }
    publish(&f.repo, specs);
    names
}

/// The database loads and no path is recorded for two packages.
fn check_database(root: &Path) {
    let text = std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap_or_default();
    let pkgs = apk_core::db::parse_installed(&text, "installed").expect("database loads");
    let mut owned = HashSet::new();
    for p in &pkgs {
        for path in p.file_paths() {
            assert!(owned.insert(path.clone()), "{path} owned twice");
        }
    }
}

fn leftovers(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(".apk.")))
        .collect()
}

fn run_to_completion(f: &Fixture, names: &[String]) {
    let mut args = vec!["add"];
    args.extend(names.iter().map(String::as_str));
    let out = f.ok(&args);
    assert!(
        out.contains(&format!("in {} packages", names.len())),
        "{out}"
    );
    assert_eq!(f.ok(&["audit", "--system"]), "");
    assert_eq!(leftovers(&f.root), Vec::<String>::new());
    check_database(&f.root);
}

#[test]
fn killed_at_random_moments_the_root_recovers() {
    let f = fixture();
    let names = many_packages(&f, 12);
    f.ok(&["--initdb", "add"]);
    let mut args: Vec<&str> = vec!["--root", s(&f.root), "--no-scripts", "add"];
    args.extend(names.iter().map(String::as_str));

    // How long a whole run takes, to spread the kills over it.
    let start = Instant::now();
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let full = start.elapsed();
    let mut del = vec!["del"];
    del.extend(names.iter().map(String::as_str));
    f.ok(&del);

    let mut seed = 0x2545_f491_u64;
    for round in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = full.mul_f64((seed % 1000) as f64 / 1000.0);
        let mut child = apk()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        check_database(&f.root);
        // Running the same command again finishes the job and leaves no debris.
        run_to_completion(&f, &names);
        f.ok(&del);
        assert!(
            !f.path("usr").exists(),
            "round {round}: {:?}",
            tree(&f.root)
        );
    }
}

#[test]
fn a_crash_around_the_database_write_is_repaired() {
    let f = fixture();
    let names = many_packages(&f, 3);
    f.ok(&["--initdb", "add", "p00"]);
    for point in ["package:1", "package:2", "before-db", "mid-db"] {
        let mut args = vec!["--root", s(&f.root), "--no-scripts", "add"];
        args.extend(names.iter().map(String::as_str));
        let out = apk()
            .args(&args)
            .env("APK_RS_CRASH_AT", point)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{point}: the crash point was not reached"
        );
        check_database(&f.root);
        // The crash happened before the database was replaced: it still says p00 only.
        let installed = f.read("lib/apk/db/installed");
        assert!(installed.contains("P:p00\n"), "{point}");
        assert!(!installed.contains("P:p01\n"), "{point}");
        assert_eq!(f.read("etc/apk/world"), "p00\n", "{point}");
        run_to_completion(&f, &names);
        f.ok(&["del", "p01", "p02"]);
    }
    // A deletion interrupted by a crash: files are gone but the database still lists
    // the package; apk fix puts the files back.
    let out = apk()
        .args(["--root", s(&f.root), "--no-scripts", "del", "p00"])
        .env("APK_RS_CRASH_AT", "before-db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!f.path("usr/p00/f0").exists());
    // The database still has p00 (apk-tools' audit, like apk-rs's, says nothing of the
    // files of a folder that is gone altogether).
    assert!(f.read("lib/apk/db/installed").contains("P:p00\n"));
    f.ok(&["fix", "p00"]);
    assert!(f.path("usr/p00/f0").exists());
    assert_eq!(f.ok(&["audit", "--system"]), "");
}

#[test]
fn two_writers_on_one_root_take_turns() {
    let f = fixture();
    many_packages(&f, 4);
    f.ok(&["--initdb", "add"]);
    let spawn = |name: &str| {
        apk()
            .args([
                "--root",
                s(&f.root),
                "--no-scripts",
                "--wait",
                "60",
                "add",
                name,
            ])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| spawn("p00"));
        let b = sc.spawn(|| spawn("p01"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let mut names = f.names();
    names.sort();
    assert_eq!(names, ["p00-1.0-r0", "p01-1.0-r0"]);
    assert_eq!(f.read("etc/apk/world"), "p00\np01\n");
}

/// Mounts a small tmpfs; `None` (with a notice) where this is not allowed.
fn small_tmpfs(at: &Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(at).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("NOTICE: cannot mount a tmpfs here (needs root); full-disk test skipped");
    }
    ok.then_some(())
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_an_intact_database() {
    let f = fixture();
    let big = spec("big", "1.0-r0").dir("usr").entry(
        "usr/big",
        0o644,
        DataNode::File(vec![7u8; 3 << 20]),
    );
    let small = spec("small", "1.0-r0")
        .dir("usr")
        .file("usr/small", "small\n");
    publish(&f.repo, vec![big, small]);
    let mnt = f._tmp.path().join("mnt");
    if small_tmpfs(&mnt, "2m").is_none() {
        return;
    }
    let _unmount = Unmount(&mnt);
    // The root lives on the small file system.
    let root = mnt.join("root");
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    for name in [
        "etc/apk/keys/apk-rs-demo.rsa.pub",
        "etc/apk/repositories",
        "etc/apk/arch",
    ] {
        std::fs::copy(f.root.join(name), root.join(name)).unwrap();
    }
    let apk_on = |args: &[&str]| {
        let mut all = vec!["--root", s(&root), "--no-scripts"];
        all.extend_from_slice(args);
        run(&all)
    };
    let (code, _, err) = apk_on(&["--initdb", "add", "small"]);
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap();

    let (code, out, err) = apk_on(&["add", "big"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("ERROR: big-1.0-r0: usr/big: No space left on device"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("lib/apk/db/installed")).unwrap(),
        before
    );
    assert!(!root.join("usr/big").exists());
    assert_eq!(leftovers(&root), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(root.join("usr/small")).unwrap(),
        "small\n"
    );
    let (code, _, err) = apk_on(&["del", "big"]);
    assert_eq!(code, 0, "{err}");
}
