//! Crash safety: apk killed at any moment of a commit, a full disk, and two writers at
//! once. Whatever happens, the database must load, no file may be owned twice, and the
//! same command run again (or `apk fix`) must bring the root to the state asked for.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use apk_format::v2::package::DataNode;
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
    let pkgs =
        apk_core::db::installed::parse_installed(&text, "installed").expect("database loads");
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

    // Rounds go on until 6 of them killed apk while it ran (a kill that comes after it
    // finished proves nothing), at most 40; at least one must have caught the root half
    // way: some packages' files in place, the database not yet listing them all.
    let mut seed = 0x2545_f491_u64;
    let (mut killed, mut partial, mut rounds) = (0, 0, 0);
    while killed < 6 && rounds < 40 {
        rounds += 1;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = full.mul_f64((seed % 900) as f64 / 1000.0);
        let mut child = apk()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        if status.signal() == Some(9) {
            killed += 1;
            let landed = names
                .iter()
                .filter(|n| f.path(&format!("usr/{n}")).exists())
                .count();
            let recorded = f.read("lib/apk/db/installed").matches("\nP:").count()
                + usize::from(f.read("lib/apk/db/installed").starts_with("P:"));
            if landed > 0 && recorded < names.len() {
                partial += 1;
            }
        }
        check_database(&f.root);
        // Running the same command again finishes the job and leaves no debris.
        run_to_completion(&f, &names);
        f.ok(&del);
        assert!(
            !f.path("usr").exists(),
            "round {rounds}: {:?}",
            tree(&f.root)
        );
    }
    assert_eq!(
        killed, 6,
        "only {killed} of {rounds} rounds killed apk while it ran"
    );
    assert!(
        partial > 0,
        "no round caught a half-done commit ({killed} kills)"
    );
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
        assert_aborted(&out.status, point);
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
    assert_aborted(&out.status, "del before-db");
    assert!(!f.path("usr/p00/f0").exists());
    // The database still has p00 (apk-tools' audit, like apk-rs's, says nothing of the
    // files of a folder that is gone altogether).
    assert!(f.read("lib/apk/db/installed").contains("P:p00\n"));
    f.ok(&["fix", "p00"]);
    assert!(f.path("usr/p00/f0").exists());
    assert_eq!(f.ok(&["audit", "--system"]), "");
}

/// The crash point was reached: the process died of SIGABRT (not an error exit).
fn assert_aborted(status: &std::process::ExitStatus, point: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "{point}: the crash point was not reached"
    );
}

/// What users run carries no crash points: the release build ignores APK_RS_CRASH_AT
/// (the fault tests use the test build, which has the `fault-injection` feature).
#[test]
fn the_release_build_has_no_crash_points() {
    let release = Path::new(env!("CARGO_BIN_EXE_apk"))
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("release/apk"))
        .unwrap();
    if !release.exists() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "{} missing: CI builds it before the tests",
            release.display()
        );
        eprintln!("notice: {} not built; skipping", release.display());
        return;
    }
    let f = fixture();
    let names = many_packages(&f, 1);
    f.ok(&["--initdb", "add", "p00"]);
    let out = std::process::Command::new(&release)
        .args(["--root", s(&f.root), "--no-scripts", "del", &names[0]])
        .env("APK_RS_CRASH_AT", "before-db")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!f.read("lib/apk/db/installed").contains("P:p00\n"));
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
