//! The whole-process workloads run with apk-rs's `apk` and a reference apk-tools binary
//! on the same inputs, alternating, printing each one's median wall time, the ratio of
//! medians and both peak memories (maximum resident set of the process).
//!
//! `cargo run --release -p apk-benches --bin side-by-side -- [--runs N]
//!  [--apk target/release/apk] [--reference ../shared/reference/bin/apk-3.0.6]
//!  [--only NAME]`
//!
//! `side-by-side --hot-text --apk target/profiling/apk > apk-cli/hot-text.ld` instead
//! runs each workload once with that build (which keeps its symbols) under valgrind's
//! callgrind and prints the linker script that places the functions they executed
//! together, workload by workload (see `order_hot_text` in `apk-core/build.rs`).
//!
//! Inputs are generated in a temporary folder (on `/dev/shm` when there is one); the
//! real-data rows need the shared material and are skipped without it. Every run of an
//! installing workload gets a fresh root made the same way for both tools. Run on an
//! otherwise idle machine: the figures are medians, not statistics.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Makes a run's arguments, given a fresh folder for that run.
type MakeArgs = Box<dyn Fn(&Path) -> Vec<String>>;

/// One whole-process workload: its arguments, and the goal for ours/reference wall
/// time from the performance issue.
struct Workload {
    name: &'static str,
    goal: Option<f64>,
    args: MakeArgs,
}

struct Sample {
    wall: Duration,
    max_rss_kib: i64,
    code: i32,
}

/// Runs `program args` and measures its wall time and peak memory, through this
/// binary started afresh (`--measure`): a process's peak memory counts what it was
/// forked from, so the measured tool must not be forked from the harness, which holds
/// the generated inputs. The helper's own few MiB are the floor of the figure.
fn measure(program: &Path, args: &[String]) -> Sample {
    let me = std::env::current_exe().expect("own path");
    let out = Command::new(me)
        .arg("--measure")
        .arg(program)
        .args(args)
        .output()
        .expect("running the measuring helper");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<i64> = text
        .split_whitespace()
        .map(|w| w.parse().expect("helper output"))
        .collect();
    assert_eq!(f.len(), 3, "helper output: {text}");
    Sample {
        wall: Duration::from_nanos(f[0] as u64),
        max_rss_kib: f[1],
        code: f[2] as i32,
    }
}

/// The helper: runs the command (output discarded), prints wall nanoseconds, peak
/// resident KiB and exit code.
fn measure_here(program: &str, args: &[String]) {
    let start = Instant::now();
    // Reaped below by wait4, which also returns its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: all-zero bytes are a valid `rusage` (plain integers and timevals).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for (the `Child` is never waited
    // on); `status` and `usage` are valid for writes for the duration of the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    println!("{} {} {code}", wall.as_nanos(), usage.ru_maxrss);
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `--simulate add` of 30 generated names (`u1`, then every `step`th) in the generated
/// root `root` (unsigned: `--allow-untrusted`), with `extra` (`--no-cache`).
fn simulate_30(root: &Path, extra: Option<&'static str>, step: usize) -> MakeArgs {
    let root = s(root);
    Box::new(move |_| {
        let mut a: Vec<String> = vec!["--root".into(), root.clone(), "--allow-untrusted".into()];
        a.extend(extra.map(String::from));
        a.extend(["--simulate".into(), "add".into()]);
        a.extend((0..30).map(|k| format!("u{}", 1 + k * step)));
        a
    })
}

fn workloads(base: &Path) -> Vec<Workload> {
    let mut w = Vec::new();
    let shared = apk_core::testing::shared_dir();

    if let Some(shared) = &shared {
        // The real Alpine 3.16 main index, Alpine's keys in the root.
        let (root, _) = apk_benches::real_root(base).expect("real root");
        copy_dir(&shared.join("realdata/keys"), &root.join("etc/apk/keys"));
        let r = s(&root);
        w.push(Workload {
            name: "simulate add alpine-base build-base (3.16, warm snapshot)",
            goal: Some(0.1),
            args: Box::new(move |_| {
                [
                    "--root",
                    &r,
                    "--simulate",
                    "add",
                    "alpine-base",
                    "build-base",
                ]
                .map(String::from)
                .to_vec()
            }),
        });
        let r = s(&root);
        w.push(Workload {
            name: "simulate add alpine-base build-base --no-cache (3.16)",
            goal: Some(0.5),
            args: Box::new(move |_| {
                [
                    "--root",
                    &r,
                    "--no-cache",
                    "--simulate",
                    "add",
                    "alpine-base",
                    "build-base",
                ]
                .map(String::from)
                .to_vec()
            }),
        });
    }

    let universe = apk_benches::generate_universe(&base.join("universe"), 115_000, 20);
    w.push(Workload {
        name: "simulate add 30 in a 115,000-package universe",
        goal: Some(0.03),
        args: simulate_30(&universe, None, 3_800),
    });

    // The cold path on an index the size of Alpine's main and community together:
    // 25,000 generated packages in one v2 index (unsigned: neither tool checks it).
    let cold = apk_benches::generate_universe(&base.join("cold25k"), 25_000, 1);
    w.push(Workload {
        name: "simulate add 30 in a 25,000-package v2 index --no-cache",
        goal: Some(0.5),
        args: simulate_30(&cold, Some("--no-cache"), 830),
    });

    // A v3 index (packages.adb) of 20,000 packages: opened (no snapshot) and solved.
    let v3 = apk_benches::generate_v3_universe(&base.join("v3universe"), 20_000);
    for (name, extra) in [
        (
            "simulate add 30 in a 20,000-package v3 index --no-cache",
            Some("--no-cache"),
        ),
        (
            "simulate add 30 in a 20,000-package v3 index (warm snapshot)",
            None,
        ),
    ] {
        w.push(Workload {
            name,
            goal: None,
            args: simulate_30(&v3, extra, 660),
        });
    }

    let pkgs_dir = base.join("index-pkgs");
    std::fs::create_dir_all(&pkgs_dir).expect("mkdir");
    let index_keys = pkgs_dir.join("keys");
    let pkgs: Vec<String> = apk_benches::generate_packages(&pkgs_dir, 2_000)
        .iter()
        .map(|p| s(p))
        .collect();
    w.push(Workload {
        name: "index over 2,000 signed packages",
        goal: Some(0.35),
        args: Box::new(move |run| {
            // Every signature checked, as the issue asks (both tools trust the key).
            let mut a = vec![
                "--keys-dir".to_owned(),
                s(&index_keys),
                "index".to_owned(),
                "-o".to_owned(),
                s(&run.join("APKINDEX.tar.gz")),
            ];
            a.extend(pkgs.iter().cloned());
            a
        }),
    });

    let repo = base.join("install-repo");
    let names = apk_benches::generate_install_repo(&repo, 200, 40, 8 << 10);
    w.push(Workload {
        name: "install 200 packages (63 MiB)",
        goal: Some(0.6),
        args: Box::new(move |run| {
            let root = run.join("root");
            apk_benches::root_for_install(&root, &repo);
            copy_dir(&repo.join("keys"), &root.join("etc/apk/keys"));
            let mut a = vec!["--root".to_owned(), s(&root), "add".to_owned()];
            a.extend(names.iter().cloned());
            a
        }),
    });

    if let Some(shared) = &shared {
        let repo = shared.join("realdata/alpine-3.19.1");
        let keys = shared.join("realdata/keys");
        w.push(Workload {
            name: "--initdb add alpine-base (3.19.1, scripts on)",
            goal: Some(0.75),
            args: Box::new(move |run| {
                let root = run.join("root");
                copy_dir(&keys, &root.join("etc/apk/keys"));
                [
                    "--root",
                    &s(&root),
                    "--initdb",
                    "--arch",
                    "x86_64",
                    "-X",
                    &s(&repo),
                    "add",
                    "alpine-base",
                ]
                .map(String::from)
                .to_vec()
            }),
        });
    }
    w
}

fn main() {
    let mut runs = 5usize;
    let mut ours = PathBuf::from("target/release/apk");
    let mut reference = apk_core::testing::shared_dir()
        .map(|d| d.join("reference/bin/apk-3.0.6"))
        .unwrap_or_default();
    let mut only = None;
    let mut hot_text = false;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--measure") && argv.len() > 1 {
        measure_here(&argv[1], &argv[2..]);
        return;
    }
    let mut args = argv.into_iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("option needs a value");
        match a.as_str() {
            "--runs" => runs = value().parse().expect("--runs N"),
            "--apk" => ours = value().into(),
            "--reference" => reference = value().into(),
            "--only" => only = Some(value()),
            "--hot-text" => hot_text = true,
            _ => {
                eprintln!(
                    "usage: side-by-side [--runs N] [--apk PATH] [--reference PATH] [--only NAME]"
                );
                std::process::exit(2);
            }
        }
    }
    if !reference.is_file() && !hot_text {
        eprintln!("no reference binary (give --reference PATH, or have ../shared beside)");
        std::process::exit(2);
    }
    let tmp = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temporary folder");
    eprintln!("generating inputs in {}", tmp.path().display());
    let all = workloads(tmp.path());
    if hot_text {
        print!("{}", hot_text_script(&ours, &all, tmp.path()));
        return;
    }
    println!(
        "| workload | ours (median) | apk-tools (median) | ours / apk-tools | goal | peak memory ours vs apk-tools |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut run_no = 0;
    for w in all {
        if only.as_deref().is_some_and(|o| !w.name.contains(o)) {
            continue;
        }
        let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        // One warm-up run each (it writes ours's snapshot, fills the page cache).
        for round in 0..=runs {
            for (i, bin) in [&ours, &reference].into_iter().enumerate() {
                run_no += 1;
                let dir = tmp.path().join(format!("run{run_no}"));
                std::fs::create_dir_all(&dir).expect("run dir");
                let args = (w.args)(&dir);
                let sample = measure(bin, &args);
                let _ = std::fs::remove_dir_all(&dir);
                if round > 0 {
                    samples[i].push(sample);
                }
            }
        }
        let codes: Vec<i32> = samples.iter().map(|v| v[0].code).collect();
        let wall = |i: usize| median(samples[i].iter().map(|s| s.wall).collect());
        let rss = |i: usize| median(samples[i].iter().map(|s| s.max_rss_kib).collect());
        let (a, b) = (wall(0), wall(1));
        let ratio = a.as_secs_f64() / b.as_secs_f64();
        let note = if codes[0] != codes[1] {
            format!(" (exit codes differ: {} vs {})", codes[0], codes[1])
        } else if codes[0] != 0 {
            format!(" (both exit {})", codes[0])
        } else {
            String::new()
        };
        println!(
            "| {}{} | {:.3} s | {:.3} s | {:.2} | {} | {:.1} MiB vs {:.1} MiB |",
            w.name,
            note,
            a.as_secs_f64(),
            b.as_secs_f64(),
            ratio,
            w.goal.map_or("-".into(), |g| format!("≤ {g}")),
            rss(0) as f64 / 1024.0,
            rss(1) as f64 / 1024.0,
        );
    }
}

/// The functions of `apk` (a build with symbols) that `workloads` execute, each run once
/// (after a warm-up) under callgrind, as a linker script placing them together before
/// the rest of the code: workload by workload, each one's in address order. A symbol's
/// hash (`17h…E`) and crates' ids (`Cs…_`) are left open, so that the script still
/// matches after the code changes.
fn hot_text_script(apk: &Path, all: &[Workload], tmp: &Path) -> String {
    let nm = Command::new("nm").arg(apk).output().expect("running nm");
    let mut address = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&nm.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [a, kind, name] = f[..] {
            if "tTwW".contains(kind) {
                if let Ok(a) = u64::from_str_radix(a, 16) {
                    address.insert(name.to_owned(), a);
                }
            }
        }
    }
    assert!(!address.is_empty(), "{} has no symbols", apk.display());
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for (n, w) in all.iter().enumerate() {
        let out = tmp.join(format!("callgrind.{n}"));
        let samples = tmp.join(format!("perf.{n}"));
        // Callgrind finds every function run, but its virtual CPU lacks some of the
        // machine's instructions (SHA, carry-less multiply, ADX), so the code for those
        // comes from perf's samples of runs on the machine itself.
        let mut names = String::new();
        // Step 0 warms up (it writes apk-rs's snapshot), 1 runs under callgrind, 2 to 4
        // under perf.
        for step in 0..5 {
            let dir = tmp.join(format!("hot{n}-{step}"));
            std::fs::create_dir_all(&dir).expect("run dir");
            let args = (w.args)(&dir);
            let mut run = match step {
                0 => Command::new(apk),
                1 => {
                    let mut c = Command::new("valgrind");
                    c.args(["--tool=callgrind", "--demangle=no", "--compress-strings=no"])
                        .arg(format!("--callgrind-out-file={}", out.display()))
                        .arg(apk);
                    c
                }
                _ => {
                    let mut c = Command::new("perf");
                    c.args(["record", "-q", "-e", "cpu-clock", "-c", "5000", "-o"])
                        .arg(&samples)
                        .arg(apk);
                    c
                }
            };
            let status = run.args(&args).output().expect("running apk").status;
            eprintln!("{} ({step}): {status}", w.name);
            let _ = std::fs::remove_dir_all(&dir);
            if step == 1 {
                names.push_str(&std::fs::read_to_string(&out).unwrap_or_default());
            } else if step > 1 {
                let script = Command::new("perf")
                    .args(["script", "--no-demangle", "-F", "ip,sym", "-i"])
                    .arg(&samples)
                    .output()
                    .expect("running perf script");
                let text = String::from_utf8_lossy(&script.stdout);
                for sym in text.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                    names.push_str("fn=");
                    names.push_str(sym);
                    names.push('\n');
                }
            }
        }
        let mut run: Vec<(u64, &str)> = names
            .lines()
            .filter_map(|l| l.strip_prefix("fn="))
            .filter_map(|f| address.get(f).map(|&a| (a, f)))
            .filter(|(_, f)| !START_UP.contains(f))
            .collect();
        run.sort_unstable();
        run.dedup();
        for (_, f) in run {
            let pattern = open_hashes(f);
            if seen.insert(pattern.clone()) {
                lines.push(format!("    *(.text.{pattern})"));
            }
        }
    }
    format!(
        "/* Made by `side-by-side --hot-text`: see apk-core/build.rs. */\nSECTIONS\n{{\n  .text.hot : {{\n{}\n  }}\n}}\nINSERT BEFORE .text;\n",
        lines.join("\n")
    )
}

/// The C runtime's own start-up and tear-down code, which stays where the linker puts it.
const START_UP: &[&str] = &[
    "_start",
    "_init",
    "_fini",
    "frame_dummy",
    "register_tm_clones",
    "deregister_tm_clones",
    "__do_global_dtors_aux",
];

/// `name` with its hash (`17h` and 16 hex digits, `E`) and crate ids (`Cs…_`) as `*`.
fn open_hashes(name: &str) -> String {
    let mut s = name.to_owned();
    if let Some(at) = s.len().checked_sub(20) {
        let tail = &s[at..];
        if tail.starts_with("17h")
            && tail.ends_with('E')
            && tail[3..19].bytes().all(|b| b.is_ascii_hexdigit())
        {
            s.replace_range(at + 3.., "*");
        }
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("Cs") {
        out.push_str(&rest[..i + 2]);
        let after = &rest[i + 2..];
        let id = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
        if id > 0 && after[id..].starts_with('_') {
            out.push('*');
            rest = &after[id..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
