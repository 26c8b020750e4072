//! Repositories and roots for install tests: packages built with apk-core's
//! `PackageBuilder`, signed with the demo key, indexed and published into a directory
//! that a fresh root uses as its repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use apk_format::sign::PrivateKey;
use apk_format::v2::package::{DataEntry, DataNode, PackageBuilder};

use super::{run, s, testdata};

/// One package to publish.
pub struct Spec {
    pub builder: PackageBuilder,
}

pub fn spec(name: &str, version: &str) -> Spec {
    let mut b = PackageBuilder {
        mtime: 1_700_000_000,
        ..Default::default()
    };
    for (k, v) in [
        ("pkgname", name),
        ("pkgver", version),
        ("pkgdesc", "test package"),
        ("url", "https://example.org"),
        ("builddate", "1700000000"),
        ("arch", "x86_64"),
        ("license", "MIT"),
        ("origin", name),
    ] {
        b.pkginfo.push(k, v);
    }
    Spec { builder: b }
}

impl Spec {
    pub fn field(mut self, key: &str, value: &str) -> Self {
        if key == "origin" {
            self.builder.pkginfo.set(key, value);
        } else {
            self.builder.pkginfo.push(key, value);
        }
        self
    }
    pub fn entry(mut self, path: &str, mode: u32, node: DataNode) -> Self {
        self.builder.entries.push(DataEntry {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            node,
        });
        self
    }
    pub fn dir(self, path: &str) -> Self {
        self.entry(path, 0o755, DataNode::Dir)
    }
    pub fn file(self, path: &str, data: &str) -> Self {
        self.entry(path, 0o644, DataNode::File(data.as_bytes().to_vec()))
    }
    pub fn script(mut self, name: &str, body: &str) -> Self {
        self.builder
            .scripts
            .push((name.into(), body.as_bytes().to_vec()));
        self
    }
}

pub fn demo_key() -> (PrivateKey, String) {
    PrivateKey::load(&testdata().join("keys/apk-rs-demo.rsa")).unwrap()
}

/// Writes the packages and a signed index into `repo/x86_64`.
pub fn publish(repo: &Path, specs: Vec<Spec>) {
    let dir = repo.join("x86_64");
    std::fs::create_dir_all(&dir).unwrap();
    let (key, name) = demo_key();
    for s in &specs {
        let info = s.builder.pkginfo.clone();
        let file = format!(
            "{}-{}.apk",
            info.get("pkgname").unwrap(),
            info.get("pkgver").unwrap()
        );
        let bytes = s.builder.build(Some((&key, &name))).unwrap();
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    reindex(repo);
}

pub fn reindex(repo: &Path) {
    let dir = repo.join("x86_64");
    let mut pkgs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apk"))
        .collect();
    pkgs.sort();
    let mut infos: Vec<_> = pkgs
        .iter()
        .map(|p| apk_core::repo::indexer::read_package_info(p).unwrap())
        .collect();
    apk_core::repo::indexer::sort_records(&mut infos);
    let index = apk_format::v2::apkindex::IndexArchive {
        description: Some("test".into()),
        packages: infos,
        signatures: Vec::new(),
    }
    .write(0)
    .unwrap();
    let (key, name) = demo_key();
    let signed = apk_format::v2::signed::resign(&index, &key, &name, "index").unwrap();
    std::fs::write(dir.join("APKINDEX.tar.gz"), signed).unwrap();
}

pub struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: PathBuf,
}

/// An empty root trusting the demo key, with one repository.
pub fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let repo = tmp.path().join("repo");
    let keys = root.join("etc/apk/keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(
        testdata().join("keys/apk-rs-demo.rsa.pub"),
        keys.join("apk-rs-demo.rsa.pub"),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", repo.display()),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/arch"), "x86_64\n").unwrap();
    Fixture {
        _tmp: tmp,
        root,
        repo,
    }
}

impl Fixture {
    /// Runs apk on the root; returns (exit code, stdout + stderr).
    pub fn apk(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["--root", s(&self.root), "--no-scripts"];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all);
        (code, format!("{out}{err}"))
    }
    /// Runs apk with scripts enabled.
    pub fn apk_with_scripts(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["--root", s(&self.root)];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all);
        (code, format!("{out}{err}"))
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out) = self.apk(args);
        assert_eq!(code, 0, "apk {args:?}:\n{out}");
        out
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
    pub fn installed(&self) -> String {
        self.read("lib/apk/db/installed")
    }
    /// The `R:` files recorded for package `name`, as full paths.
    pub fn owned_by(&self, name: &str) -> Vec<String> {
        let db = apk_core::db::installed::parse_installed(&self.installed(), "installed").unwrap();
        db.iter()
            .find(|p| p.info.name == name)
            .map(|p| p.file_paths().collect())
            .unwrap_or_default()
    }
    /// The permission bits (with setuid, setgid and sticky) of what is at `rel`.
    pub fn mode(&self, rel: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(self.path(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    }
    /// A copy of the root beside it (`cp -a`), for the reference to carry on in.
    pub fn twin(&self) -> PathBuf {
        let twin = self._tmp.path().join("twin");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&self.root)
            .arg(&twin)
            .status()
            .unwrap();
        assert!(copied.success(), "cp -a {}", self.root.display());
        twin
    }
    pub fn names(&self) -> Vec<String> {
        let db = apk_core::db::installed::parse_installed(&self.installed(), "installed").unwrap();
        db.iter().map(|p| p.info.nv()).collect()
    }
}
