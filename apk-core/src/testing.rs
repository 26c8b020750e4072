//! Test support shared by the workspace's test suites (not part of the API).

use std::path::PathBuf;

/// The shared material (`../shared` beside the workspace, or `$APK_RS_SHARED`). `None`
/// with a notice when it is absent; a panic when absent under CI (any non-empty `CI`),
/// so CI cannot pass by skipping. Tests that need it also carry
/// `#[cfg_attr(no_shared, ignore = "...")]` so that a skip shows in the runner.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("APK_RS_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    if dir.join("realdata").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "shared material not found at {} (set APK_RS_SHARED)",
            dir.display()
        );
    }
    eprintln!(
        "notice: shared material not found at {}; skipping",
        dir.display()
    );
    None
}

/// The reference apk-tools binaries (`reference/bin/apk-3.0.6`, `apk-2.14.10`) in the
/// shared material, newest first. `None` (with a notice, or a panic under CI) when the
/// shared material is absent.
pub fn reference_apks() -> Option<Vec<PathBuf>> {
    let shared = shared_dir()?;
    let bins: Vec<PathBuf> = ["apk-3.0.6", "apk-2.14.10"]
        .iter()
        .map(|b| shared.join("reference/bin").join(b))
        .collect();
    for b in &bins {
        assert!(b.is_file(), "reference binary missing: {}", b.display());
    }
    Some(bins)
}

/// apk-tools 3.0.6 from the shared material (see [`reference_apks`]).
pub fn reference_apk() -> Option<PathBuf> {
    reference_apks()?.into_iter().next()
}

fn run_reference(bin: &std::path::Path, args: &[&std::ffi::OsStr]) -> (bool, String) {
    match std::process::Command::new(bin).args(args).output() {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.success(), text)
        }
        Err(e) => (false, format!("{}: {e}", bin.display())),
    }
}

/// A scratch directory removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "apk-rs-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh root for a reference binary, trusting the public keys (`*.pub`) in `keys`.
fn reference_root(keys: &std::path::Path) -> Scratch {
    let root = Scratch::new();
    let dir = root.path().join("etc/apk/keys");
    std::fs::create_dir_all(&dir).expect("keys dir");
    if let Ok(rd) = std::fs::read_dir(keys) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pub") {
                if let Some(name) = p.file_name() {
                    let _ = std::fs::copy(&p, dir.join(name));
                }
            }
        }
    }
    root
}

/// A reference apk-tools refused: what it printed, with the command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

/// `apk verify` by both reference apk-tools, in a root trusting the public keys in
/// `keys`: every file (packages and `APKINDEX.tar.gz`) must be OK. `Err` holds the
/// reference's output.
pub fn reference_verify(
    files: &[PathBuf],
    keys: &std::path::Path,
) -> Option<std::result::Result<(), Rejected>> {
    use std::ffi::OsStr;
    for bin in reference_apks()? {
        let root = reference_root(keys);
        let mut args: Vec<&OsStr> = vec![OsStr::new("--root"), root.path().as_os_str()];
        args.push(OsStr::new("verify"));
        args.extend(files.iter().map(|f| f.as_os_str()));
        let (ok, text) = run_reference(&bin, &args);
        let oks = text
            .lines()
            .filter(|l| l.ends_with(": OK") || l.ends_with(" - OK"))
            .count();
        if !ok || oks != files.len() {
            return Some(Err(Rejected(format!("{} verify:\n{text}", bin.display()))));
        }
    }
    Some(Ok(()))
}

/// `apk --initdb --no-scripts --no-cache ARGS...` by both reference apk-tools, each in a
/// fresh root trusting the public keys in `keys`. Returns each one's output, or the
/// output of the first that failed.
pub fn reference_add(
    keys: &std::path::Path,
    args: &[&std::ffi::OsStr],
) -> Option<std::result::Result<Vec<String>, Rejected>> {
    use std::ffi::OsStr;
    let mut outputs = Vec::new();
    for bin in reference_apks()? {
        let root = reference_root(keys);
        let mut all: Vec<&OsStr> = vec![OsStr::new("--root"), root.path().as_os_str()];
        all.extend(["--initdb", "--no-scripts", "--no-cache"].map(OsStr::new));
        all.extend(args);
        let (ok, text) = run_reference(&bin, &all);
        if !ok {
            return Some(Err(Rejected(format!(
                "{} {args:?}:\n{text}",
                bin.display()
            ))));
        }
        outputs.push(text);
    }
    Some(Ok(outputs))
}

/// Both checks on what the project wrote: [`reference_verify`] on every file, then
/// [`reference_add`] of every package file among them, all at once (`extra`, such as
/// `-X REPO` for dependencies, goes before `add`).
pub fn reference_accepts(
    files: &[PathBuf],
    keys: &std::path::Path,
    extra: &[&str],
) -> Option<std::result::Result<Vec<String>, Rejected>> {
    use std::ffi::OsStr;
    if let Err(e) = reference_verify(files, keys)? {
        return Some(Err(e));
    }
    let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
    args.push(OsStr::new("add"));
    args.extend(
        files
            .iter()
            .filter(|f| f.extension().is_some_and(|x| x == "apk"))
            .map(|f| f.as_os_str()),
    );
    reference_add(keys, &args)
}

/// A file from the apk-tools 3.0.6 source archive in the shared material (for example
/// `test/unit/version.data`), read without unpacking the archive.
pub fn apk_tools_source_file(rel: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let shared = shared_dir()?;
    let archive = shared.join("reference/apk-tools-3.0.6.tar.gz");
    let file = std::fs::File::open(&archive).expect("apk-tools source archive");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        if path.split_once('/').is_some_and(|(_, r)| r == rel) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read entry");
            return Some(data);
        }
    }
    panic!("{rel} is not in {}", archive.display());
}
