//! The differential harness: the same steps through apk-rs and the reference apk-tools
//! (`../shared/reference/bin/apk-3.0.6`) in twin roots, compared on exit code, output,
//! file tree (type, mode, owner, contents, link target), the database and `etc/apk`.
//! `swap` lets each tool carry on in the root the other made.
//!
//! Differences kept on purpose (README lists them) are the only ones left out of the
//! comparison: apk-rs's snapshot in the cache directory, the compressed bytes of
//! `scripts.tar.gz` (its tar is compared), the first two lines of each run in
//! `var/log/apk.log` (command line, time and version), and the order of `audit`'s lines
//! (apk-tools prints them in directory-reading order, apk-rs sorted).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::s;

/// The checks made so far by every twin in this test process (for the closing count).
pub static CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count() {
    CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Two roots, one per tool, set up alike. Dropped, it reports how many comparisons it
/// made (`--nocapture` shows them).
pub struct Twin {
    pub ours: PathBuf,
    pub theirs: PathBuf,
    pub reference: PathBuf,
    /// Extra arguments given to both tools in the applets that change the root
    /// (`--no-scripts`, ...).
    pub common: Vec<String>,
    /// A command both tools run under (`setpriv --reuid=...` to run as a user).
    pub wrapper: Vec<String>,
}

/// The reference binary, or `None` (with the shared-material notice) without it.
pub fn reference() -> Option<PathBuf> {
    apk_core::testing::reference_apks().map(|v| v[0].clone())
}

/// One entry of a tree as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// File contents (normalised for the known differences), or link target.
    pub content: Vec<u8>,
}

/// Every entry under `root` by relative path.
pub fn snapshot_tree(root: &Path) -> BTreeMap<String, Node> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = m.file_type();
            let (kind, content) = if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap_or_default();
                ("link", t.to_string_lossy().into_owned().into_bytes())
            } else if ft.is_dir() {
                ("dir", Vec::new())
            } else if ft.is_file() {
                (
                    "file",
                    normalised(&rel, &std::fs::read(&p).unwrap_or_default()),
                )
            } else {
                ("other", Vec::new())
            };
            if rel == "var/cache/apk/apk-rs.snapshot" || rel.ends_with("/apk-rs.snapshot") {
                continue;
            }
            out.insert(
                rel,
                Node {
                    kind,
                    mode: if ft.is_symlink() {
                        0
                    } else {
                        m.mode() & 0o7777
                    },
                    uid: m.uid(),
                    gid: m.gid(),
                    content,
                },
            );
            if ft.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// File contents with the kept differences taken out.
fn normalised(rel: &str, bytes: &[u8]) -> Vec<u8> {
    if rel == "lib/apk/db/scripts.tar.gz" {
        let mut out = Vec::new();
        let mut d = flate2::read::MultiGzDecoder::new(bytes);
        if std::io::Read::read_to_end(&mut d, &mut out).is_ok() {
            return out;
        }
    }
    if rel == "var/log/apk.log" {
        // Each run starts with "\nRunning `ARGV` at TIME\n<tool and version>\n".
        let text = String::from_utf8_lossy(bytes);
        let mut out = String::new();
        let mut skip = 0;
        for line in text.lines() {
            if line.starts_with("Running `") {
                out.push_str("Running\n");
                skip = 1;
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        return out.into_bytes();
    }
    bytes.to_vec()
}

/// apk-tools takes the commit options (`--no-scripts`, ...) only for these applets.
const COMMIT_APPLETS: &[&str] = &["add", "del", "upgrade", "fix"];

fn run(
    wrapper: &[String],
    bin: &Path,
    root: &Path,
    common: &[String],
    args: &[&str],
) -> (i32, String, String) {
    let commit = args.iter().any(|a| COMMIT_APPLETS.contains(a));
    let common: &[String] = if commit { common } else { &[] };
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let out = cmd
        .arg("--root")
        .arg(root)
        .args(common)
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run apk");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Twin {
    /// Twin roots in `dir` (`dir/ours`, `dir/theirs`), each prepared by `setup`.
    pub fn new(dir: &Path, common: &[&str], setup: impl Fn(&Path)) -> Option<Twin> {
        let reference = reference()?;
        let ours = dir.join("ours");
        let theirs = dir.join("theirs");
        for r in [&ours, &theirs] {
            std::fs::create_dir_all(r).unwrap();
            setup(r);
        }
        Some(Twin {
            ours,
            theirs,
            reference,
            common: common.iter().map(|s| s.to_string()).collect(),
            wrapper: Vec::new(),
        })
    }

    /// Runs `args` with both tools, each in its root; asserts the same exit code and the
    /// same output (the reference's root path read as ours). Returns ours.
    pub fn step(&self, args: &[&str]) -> (i32, String) {
        let ours_bin = PathBuf::from(env!("CARGO_BIN_EXE_apk"));
        let (c1, o1, e1) = run(&self.wrapper, &ours_bin, &self.ours, &self.common, args);
        let (c2, o2, e2) = run(
            &self.wrapper,
            &self.reference,
            &self.theirs,
            &self.common,
            args,
        );
        let fix = |t: String| t.replace(s(&self.theirs), s(&self.ours));
        let sorted_if_audit = |t: String| {
            if args.contains(&"audit") {
                let mut l: Vec<&str> = t.lines().collect();
                l.sort();
                l.join("\n")
            } else {
                t
            }
        };
        let (o2, e2) = (fix(o2), fix(e2));
        assert_eq!(
            (c1, sorted_if_audit(o1.clone()), e1.clone()),
            (c2, sorted_if_audit(o2), e2),
            "apk {args:?}: apk-rs (left) and apk-tools (right) differ"
        );
        count();
        (c1, format!("{o1}{e1}"))
    }

    /// Asserts that both roots hold the same tree.
    pub fn same_tree(&self) {
        let a = snapshot_tree(&self.ours);
        let b = snapshot_tree(&self.theirs);
        let only = |x: &BTreeMap<String, Node>, y: &BTreeMap<String, Node>| -> Vec<String> {
            x.keys().filter(|k| !y.contains_key(*k)).cloned().collect()
        };
        let differ: Vec<String> = a
            .iter()
            .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
            .map(|(k, v)| {
                let w = &b[k];
                format!(
                    "{k}: ours {} {:o} {}:{} ({} bytes), theirs {} {:o} {}:{} ({} bytes){}",
                    v.kind,
                    v.mode,
                    v.uid,
                    v.gid,
                    v.content.len(),
                    w.kind,
                    w.mode,
                    w.uid,
                    w.gid,
                    w.content.len(),
                    if v.content.len() < 4096 && w.content.len() < 4096 {
                        format!(
                            "\n--- ours\n{}\n--- theirs\n{}",
                            String::from_utf8_lossy(&v.content),
                            String::from_utf8_lossy(&w.content)
                        )
                    } else {
                        first_difference(&v.content, &w.content)
                    }
                )
            })
            .collect();
        let (oa, ob) = (only(&a, &b), only(&b, &a));
        assert!(
            oa.is_empty() && ob.is_empty() && differ.is_empty(),
            "trees differ:\nonly in apk-rs's root: {oa:?}\nonly in apk-tools' root: {ob:?}\n{}",
            differ.join("\n")
        );
        count();
    }

    /// A step, then the tree comparison.
    pub fn step_same(&self, args: &[&str]) -> (i32, String) {
        let r = self.step(args);
        self.same_tree();
        r
    }

    /// The comparisons made so far (each step's output, each tree).
    pub fn checks(&self) -> usize {
        CHECKS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Each tool goes on in the root the other made.
    pub fn swap(&mut self) {
        std::mem::swap(&mut self.ours, &mut self.theirs);
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        eprintln!("differential checks so far: {}", self.checks());
    }
}

/// Where two long texts first differ, with a few lines around it.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let Some(i) = (0..la.len().max(lb.len())).find(|&i| la.get(i) != lb.get(i)) else {
        return String::new();
    };
    let from = i.saturating_sub(3);
    let show = |l: &[&str]| l.get(from..(i + 4).min(l.len())).unwrap_or(&[]).join("\n");
    format!(
        "\nfirst difference at line {}:\n--- ours\n{}\n--- theirs\n{}",
        i + 1,
        show(&la),
        show(&lb)
    )
}
