//! The pipeline `abuild-rs plan --format gitlab-ci` writes, run by gitlab-ci-local
//! (shell executor, `--shell-isolation`) on the demo aports tree: every job passes and
//! the index jobs' artifacts hold signed repositories our apk installs from.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::copy_tree;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn find(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find(&p, suffix, out);
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.email=ci@example.org", "-c", "user.name=ci"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
fn the_generated_pipeline_runs_in_gitlab_ci_local() {
    if !have("gitlab-ci-local") || !have("rsync") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gitlab-ci-local and rsync must be installed in CI (.ci/run installs them)"
        );
        eprintln!("NOTICE: gitlab-ci-local or rsync missing; pipeline test skipped");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_abuild-rs")).parent().unwrap();
    assert!(bin_dir.join("apk").exists(), "run cargo test --workspace");
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    copy_tree(&common::aports(), &project.join("aports"));
    let keys = tmp.path().join("keys");
    let abuild = env!("CARGO_BIN_EXE_abuild-rs");
    let ok = Command::new(abuild)
        .args(["keygen", "--name", "ci", "--bits", "2048", "--out"])
        .arg(&keys)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let plan = Command::new(abuild)
        .args([
            "plan",
            "--aports",
            "aports",
            "--arch",
            "x86_64,aarch64",
            "--format",
            "gitlab-ci",
        ])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(plan.status.success());
    std::fs::write(project.join(".gitlab-ci.yml"), &plan.stdout).unwrap();
    git(&project, &["init", "-q"]);
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-qm", "pipeline"]);

    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("gitlab-ci-local")
        .arg("--shell-isolation")
        .arg("--variable")
        .arg(format!("ABUILD_SIGN_KEY={}", keys.join("ci.rsa").display()))
        .args(["--variable", "SOURCE_DATE_EPOCH=1700000000"])
        .current_dir(&project)
        .env("PATH", path)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for job in [
        "build main/libdemo x86_64",
        "build main/demo-prog x86_64",
        "build community/demo-tool aarch64",
        "index x86_64",
        "index aarch64",
    ] {
        assert!(log.contains(&format!("PASS  {job}")), "{job}:\n{log}");
    }

    // The x86_64 index job's artifacts are the finished repositories.
    let mut indexes = Vec::new();
    find(
        &project.join(".gitlab-ci-local/artifacts"),
        "APKINDEX.tar.gz",
        &mut indexes,
    );
    let main_index = indexes
        .iter()
        .find(|p| {
            let s = p.to_string_lossy();
            s.contains("index") && s.ends_with("packages/main/x86_64/APKINDEX.tar.gz")
        })
        .unwrap_or_else(|| panic!("no main/x86_64 index among {indexes:?}"));
    let packages = main_index
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    // Installed with Alpine's official repository beside, which provides the /bin/sh
    // that demo-prog's shell install script asks for.
    let shared = apk_core::testing::shared_dir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::copy(
        keys.join("ci.rsa.pub"),
        root.join("etc/apk/keys/ci.rsa.pub"),
    )
    .unwrap();
    for k in std::fs::read_dir(shared.join("realdata/keys"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(k.path(), root.join("etc/apk/keys").join(k.file_name())).unwrap();
    }
    let out = Command::new(bin_dir.join("apk"))
        .arg("--root")
        .arg(&root)
        .args(["--initdb", "--no-scripts", "-X"])
        .arg(packages.join("main"))
        .arg("-X")
        .arg(packages.join("community"))
        .arg("-X")
        .arg(shared.join("realdata/alpine-3.19.1"))
        .args(["add", "demo-prog", "demo-tool"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(root.join("usr/bin/demo-prog"))
        .env("LD_LIBRARY_PATH", root.join("usr/lib"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "the answer is 42\n");
}
