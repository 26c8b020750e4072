//! What a package provides and needs, read from its files as abuild traces them:
//! ELF `SONAME` → `so:name=version`, ELF `NEEDED` → `so:name`, executables in the
//! command directories → `cmd:name=version`, pkg-config files → `pc:name=version` and
//! their `Requires:` → `pc:` dependencies, symlinks into other packages of the same
//! build → a dependency on that package.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Directories the dynamic linker searches: libraries there provide `so:` names.
const LIB_DIRS: &[&str] = &["lib", "usr/lib"];
/// Directories whose executables provide `cmd:` names.
const CMD_DIRS: &[&str] = &["bin", "sbin", "usr/bin", "usr/sbin"];
const PC_DIRS: &[&str] = &["usr/lib/pkgconfig", "usr/share/pkgconfig"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traced {
    /// `so:`, `cmd:`, `pc:` names provided, with versions.
    pub provides: BTreeSet<String>,
    /// `so:` libraries needed (without versions).
    pub needed_libs: BTreeSet<String>,
    /// `pc:` names required by pkg-config files.
    pub needed_pc: BTreeSet<String>,
    /// Symlink targets outside the package, as paths relative to the root.
    pub link_targets: BTreeSet<String>,
    /// Every path in the package, relative to its root.
    pub paths: BTreeSet<String>,
}

/// Traces the files under `dir` (one package's tree); `version` is `pkgver-rpkgrel`.
pub fn trace(dir: &Path, version: &str) -> Traced {
    let mut t = Traced::default();
    walk(dir, dir, version, &mut t);
    // What the package provides itself it does not need from others.
    let own_so = t.provided("so:");
    t.needed_libs.retain(|l| !own_so.contains(l));
    let own_pc = t.provided("pc:");
    t.needed_pc.retain(|p| !own_pc.contains(p));
    let paths = t.paths.clone();
    t.link_targets.retain(|p| !paths.contains(p));
    t
}

impl Traced {
    /// The names provided under `prefix` (`so:`, `pc:`), without prefix or version.
    fn provided(&self, prefix: &str) -> BTreeSet<String> {
        self.provides
            .iter()
            .filter_map(|p| p.strip_prefix(prefix))
            .map(|p| p.split('=').next().unwrap_or(p).to_owned())
            .collect()
    }
}

fn walk(root: &Path, dir: &Path, version: &str, t: &mut Traced) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let name = rel.rsplit('/').next().unwrap_or("").to_owned();
        t.paths.insert(rel.clone());
        if meta.is_dir() {
            walk(root, &path, version, t);
            continue;
        }
        let executable = meta.permissions().mode() & 0o111 != 0;
        if CMD_DIRS.contains(&parent) && (executable || meta.file_type().is_symlink()) {
            t.provides.insert(format!("cmd:{name}={version}"));
        }
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&path) {
                let target = target.to_string_lossy();
                let resolved = if let Some(abs) = target.strip_prefix('/') {
                    normalize(abs)
                } else {
                    normalize(&format!("{parent}/{target}"))
                };
                t.link_targets.insert(resolved);
            }
            continue;
        }
        if PC_DIRS.contains(&parent) && name.ends_with(".pc") {
            trace_pc(&path, &name, t);
            continue;
        }
        if meta.len() >= 4 {
            trace_elf(&path, parent, &name, t);
        }
    }
}

fn trace_elf(path: &Path, parent: &str, name: &str, t: &mut Traced) {
    let mut magic = [0u8; 4];
    let is_elf = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF";
    if !is_elf {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
        return;
    };
    for lib in &elf.libraries {
        t.needed_libs.insert((*lib).to_owned());
    }
    if let Some(soname) = elf.soname {
        if LIB_DIRS.contains(&parent) {
            // libfoo.so.1.2.3 → 1.2.3; a file named after the soname alone → 0.
            let version = name
                .split_once(".so.")
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty())
                .unwrap_or("0");
            t.provides.insert(format!("so:{soname}={version}"));
        }
    }
}

fn trace_pc(path: &Path, name: &str, t: &mut Traced) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let stem = name.trim_end_matches(".pc");
    let pc = parse_pc(&text);
    t.needed_pc.extend(pc.requires);
    // A version apk cannot order would make the package's metadata invalid.
    let version = if apk_format::version::is_valid(&pc.version) {
        pc.version
    } else {
        "0".to_owned()
    };
    t.provides.insert(format!("pc:{stem}={version}"));
}

/// What a pkg-config file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcFile {
    /// `Version:`, or `0` without one.
    pub version: String,
    /// The module names of `Requires:` (versions left out).
    pub requires: Vec<String>,
}

/// The body of the `pc_file` fuzz target: whatever the text, the names are words.
pub fn fuzz_pc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pc = parse_pc(text);
    assert!(!pc.version.is_empty() && !pc.version.contains(char::is_whitespace));
    for r in &pc.requires {
        assert!(!r.is_empty() && !r.contains([',', ' ', '\t']), "{r:?}");
    }
}

/// Reads `Version:` and `Requires:` of a `.pc` file.
pub fn parse_pc(text: &str) -> PcFile {
    let mut pc = PcFile {
        version: "0".to_owned(),
        requires: Vec::new(),
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Version:") {
            let v = v.trim();
            if !v.is_empty() && !v.contains(char::is_whitespace) {
                pc.version = v.to_owned();
            }
        }
        if let Some(req) = line.strip_prefix("Requires:") {
            // "a >= 1, b c" → a, b, c: names start like identifiers; operators and
            // versions do not.
            for part in req.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                let starts_like_name = part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
                if starts_like_name {
                    pc.requires.push(part.to_owned());
                }
            }
        }
    }
    pc
}

/// Resolves `.` and `..` in a relative path (`..` stops at the root).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_commands_pc_files_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::fs::create_dir_all(r.join("usr/lib/pkgconfig")).unwrap();
        std::fs::write(r.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            r.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(r.join("usr/bin/data"), "not executable").unwrap();
        std::fs::write(
            r.join("usr/lib/pkgconfig/demo.pc"),
            "Name: demo\nVersion: 1.4\nRequires: zlib >= 1.2, other\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("libdemo.so.1", r.join("usr/lib/libdemo.so")).unwrap();
        let t = trace(r, "1.0-r0");
        assert_eq!(
            t.provides.iter().collect::<Vec<_>>(),
            ["cmd:tool=1.0-r0", "pc:demo=1.4"]
        );
        assert_eq!(t.needed_pc.iter().collect::<Vec<_>>(), ["other", "zlib"]);
        assert_eq!(
            t.link_targets.iter().collect::<Vec<_>>(),
            ["usr/lib/libdemo.so.1"]
        );
    }

    #[test]
    fn traces_elf_sonames_and_needed_libraries() {
        // The test binary itself is an ELF executable that needs libc.
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::fs::copy(&exe, dir.path().join("usr/bin/prog")).unwrap();
        let t = trace(dir.path(), "2-r1");
        assert!(t.provides.contains("cmd:prog=2-r1"), "{t:?}");
        assert!(
            t.needed_libs.iter().any(|l| l.starts_with("libc.")),
            "{:?}",
            t.needed_libs
        );
        assert_eq!(normalize("usr/lib/../lib/./x"), "usr/lib/x");
    }
}
