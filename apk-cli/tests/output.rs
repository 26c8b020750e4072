//! What `apk` prints, byte for byte, pinned as insta snapshots (`tests/snapshots/`):
//! install plans, package details, query serialisations and error explanations over the
//! committed demo repository. Each case runs in a fresh root; with the shared material
//! present, the same steps also run through apk-tools 3.0.6 in a twin root and must
//! print the same, so a snapshot only ever pins what the reference prints.
//!
//! Paths that differ per run are written as `<ROOT>` and `<REPO>`. To take a changed
//! output on purpose: `INSTA_UPDATE=always cargo test -p apk-cli --test output`, then
//! review the diff of `tests/snapshots/`.

mod common;

use std::path::Path;

use common::twin::{self, Twin};
use common::*;

fn demo_root(repo: &Path) -> impl Fn(&Path) + '_ {
    move |root: &Path| {
        let dir = root.join("etc/apk/keys");
        std::fs::create_dir_all(&dir).unwrap();
        let key = testdata().join("keys/apk-rs-demo.rsa.pub");
        std::fs::copy(&key, dir.join("apk-rs-demo.rsa.pub")).unwrap();
        std::fs::write(
            root.join("etc/apk/repositories"),
            format!("{}\n", repo.display()),
        )
        .unwrap();
    }
}

/// Runs each step in a demo root (and, when the reference is here, in its twin) and
/// returns the transcript: the command, the exit code and what was printed.
fn transcript(steps: &[&[&str]]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let arch = repo.join("x86_64");
    std::fs::create_dir_all(&arch).unwrap();
    for f in std::fs::read_dir(demo_repo()).unwrap().flatten() {
        std::fs::copy(f.path(), arch.join(f.file_name())).unwrap();
    }
    let setup = demo_root(&repo);
    let twin = if twin::reference().is_some() {
        Twin::new(tmp.path(), &["--no-scripts"], &setup)
    } else {
        None
    };
    let ours = tmp.path().join("ours");
    if twin.is_none() {
        std::fs::create_dir_all(&ours).unwrap();
        setup(&ours);
    }
    let mut out = String::new();
    for args in steps {
        let (code, text) = match &twin {
            Some(t) => t.step(args),
            None => {
                let mut all = vec!["--root", s(&ours), "--no-scripts"];
                all.extend_from_slice(args);
                let (code, o, e) = run(&all);
                (code, format!("{o}{e}"))
            }
        };
        out.push_str(&format!(
            "$ apk {}\n[exit {code}]\n{text}\n",
            args.join(" ")
        ));
    }
    out.replace(s(&repo), "<REPO>").replace(s(&ours), "<ROOT>")
}

#[test]
fn install_plan_and_progress() {
    insta::assert_snapshot!(transcript(&[
        // Under --simulate, --initdb creates nothing: no database to read.
        &["--initdb", "add", "--simulate", "demo-hello"],
        &["--initdb", "add", "demo-base"],
        &["add", "--simulate", "demo-hello"],
        &["add", "demo-hello"],
        &["add", "-v", "docs"],
    ]));
}

#[test]
fn package_details() {
    insta::assert_snapshot!(transcript(&[
        &["--initdb", "add", "demo-hello"],
        &["info"],
        &["info", "-a", "demo-hello"],
        &["list", "-I"],
        &["list", "-a"],
        &["search", "-v", "demo"],
        &["policy", "demo-lib"],
        &["dot", "demo-hello"],
    ]));
}

#[test]
fn query_serialisations() {
    insta::assert_snapshot!(transcript(&[
        &["--initdb", "add", "demo-hello"],
        &["query", "demo-*"],
        &[
            "query",
            "--format",
            "json",
            "--fields",
            "name,version,depends,provides,file-size",
            "demo-hello",
        ],
        &["query", "--format", "yaml", "--installed", "demo-lib"],
        &["info", "--format", "json", "demo-lib"],
    ]));
}

#[test]
fn error_explanations() {
    insta::assert_snapshot!(transcript(&[
        &["--initdb", "add", "demo-hello"],
        &["add", "nothere"],
        &["add", "demo-lib<1"],
        &["del", "demo-lib"],
        &["info", "nothere"],
    ]));
}
