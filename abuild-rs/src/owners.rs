//! Owners of staged files, recorded as abuild records them.
//!
//! abuild stages as root, or as a user under fakeroot, so that `chown`, `chgrp` and
//! `install -o/-g` in `package()` and the split functions take effect; its tar then
//! maps `root` and every user of `pkgusers` (groups: `pkggroups`) to id 0 under its
//! own name, which apk resolves in the target root. Any other owner keeps its id and
//! its name on the build host.
//!
//! abuild-rs does the same: as root the owners are the real ones; as a user it runs
//! the staging stages under `fakeroot` (`$FAKEROOT`, default `fakeroot`) with one
//! state file and reads the faked owners back through it. Without fakeroot a user's
//! own files are taken as root's, which is what fakeroot would report for them, and
//! `chown` in an APKBUILD fails as it does outside fakeroot.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use apk_format::v2::package::Owner;

/// The fakeroot session that staging stages share through one state file.
#[derive(Debug, Clone)]
pub struct Fakeroot {
    program: PathBuf,
    state: PathBuf,
}

/// The program named by `$FAKEROOT` (default `fakeroot`), found on `PATH`.
fn fakeroot_program() -> Option<PathBuf> {
    let name = std::env::var("FAKEROOT").unwrap_or_else(|_| "fakeroot".into());
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        return Some(PathBuf::from(&name)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
    })
}

fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("-v").output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// When abuild-rs itself runs inside fakeroot (`FAKEROOTKEY` set, as under
/// `fakeroot abuild-rs rootpkg`): that fakeroot's version.
pub fn inside_fakeroot_version() -> Option<String> {
    std::env::var_os("FAKEROOTKEY")?;
    version_of(&fakeroot_program()?)
}

impl Fakeroot {
    /// The session to use for a build whose work files are in `work`: none when
    /// running as root or already inside fakeroot, or when fakeroot is not installed.
    pub fn detect(work: &Path) -> Option<Fakeroot> {
        if rustix::process::geteuid().is_root() || std::env::var_os("FAKEROOTKEY").is_some() {
            return None;
        }
        let program = fakeroot_program()?;
        Some(Fakeroot {
            program,
            state: work.join("fakeroot.state"),
        })
    }

    /// `cmd` run inside the session (its state loaded when saved before, saved after).
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("-s").arg(&self.state);
        if self.state.is_file() {
            c.arg("-i").arg(&self.state);
        }
        c.arg("--").arg(cmd.get_program()).args(cmd.get_args());
        c
    }

    /// What `fakeroot -v` says (`fakeroot version 1.31`).
    pub fn version(&self) -> Option<String> {
        version_of(&self.program)
    }

    /// Starts a new session (a fresh `$pkgdir` has no owners recorded yet).
    pub fn reset(&self) {
        let _ = std::fs::remove_file(&self.state);
    }

    /// The owners (uid, gid) of every entry under `dir` as the session sees them, by
    /// path relative to `dir`.
    pub fn owners(&self, dir: &Path) -> Result<HashMap<String, (u32, u32)>, String> {
        let exe = std::env::current_exe().map_err(|e| format!("abuild-rs: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("staged-owners").arg(dir);
        let out = self
            .wrap(&cmd)
            .output()
            .map_err(|e| format!("{}: {e}", self.program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "reading owners under fakeroot failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut map = HashMap::new();
        for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let text = String::from_utf8_lossy(rec);
            let mut it = text.splitn(3, ' ');
            let (Some(u), Some(g), Some(p)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad owner record: {text}"));
            };
            let (Ok(u), Ok(g)) = (u.parse(), g.parse()) else {
                return Err(format!("bad owner record: {text}"));
            };
            map.insert(p.to_owned(), (u, g));
        }
        Ok(map)
    }
}

/// Prints `uid gid path\0` for every entry under `dir` (the helper that
/// [`Fakeroot::owners`] runs inside the session, where `lstat` is faked).
pub fn print_owners(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    fn walk(root: &Path, dir: &Path, out: &mut impl Write) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let path = e?.path();
            let m = std::fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            write!(out, "{} {} {}\0", m.uid(), m.gid(), rel.display())?;
            if m.is_dir() {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    walk(dir, dir, &mut out)?;
    out.flush()
}

/// Maps staged owners to what goes into the package.
#[derive(Debug)]
pub struct OwnerMap {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
    pkgusers: HashSet<String>,
    pkggroups: HashSet<String>,
    /// Without root or fakeroot: the builder's own ids, taken as root's.
    own_ids: Option<(u32, u32)>,
}

/// `name:x:id:...` lines of a passwd or group file, by id.
fn names_by_id(path: &str) -> HashMap<u32, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        if let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) {
            if let Ok(id) = id.parse() {
                map.entry(id).or_insert_with(|| name.to_owned());
            }
        }
    }
    map
}

impl OwnerMap {
    /// The map for a build with these `pkgusers` and `pkggroups`; `faked` says whether
    /// staging runs as root or under fakeroot (else the builder's ids become root's).
    pub fn new(pkgusers: &[String], pkggroups: &[String], faked: bool) -> OwnerMap {
        let own_ids = (!faked && !rustix::process::geteuid().is_root()).then(|| {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        });
        OwnerMap {
            users: names_by_id("/etc/passwd"),
            groups: names_by_id("/etc/group"),
            pkgusers: pkgusers.iter().cloned().collect(),
            pkggroups: pkggroups.iter().cloned().collect(),
            own_ids,
        }
    }

    /// The recorded owner of an entry staged with these ids.
    pub fn owner(&self, uid: u32, gid: u32) -> Owner {
        let (uid, gid) = match self.own_ids {
            Some((u, g)) => (
                if uid == u { 0 } else { uid },
                if gid == g { 0 } else { gid },
            ),
            None => (uid, gid),
        };
        let map =
            |id: u32, names: &HashMap<u32, String>, pkg: &HashSet<String>| match names.get(&id) {
                Some(n) if n == "root" || pkg.contains(n) => {
                    (0, (n != "root" || id != 0).then(|| n.clone()))
                }
                Some(n) => (u64::from(id), Some(n.clone())),
                None if id == 0 => (0, None),
                None => (u64::from(id), None),
            };
        let (uid, uname) = map(uid, &self.users, &self.pkgusers);
        let (gid, gname) = map(gid, &self.groups, &self.pkggroups);
        Owner {
            uid,
            gid,
            uname,
            gname,
        }
    }
}

/// Whether the build host knows `name` in its `passwd` (or `group`) file.
fn host_has(file: &str, name: &str) -> bool {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

/// Creates the `pkggroups` and `pkgusers` missing on the build host, as abuild's
/// `mkusers` does (system groups and users without a home; a user joins the group of
/// its name). Only root can; as a user a missing one is an error naming it.
pub fn make_users(pkgusers: &[String], pkggroups: &[String]) -> Result<(), String> {
    let root = rustix::process::geteuid().is_root();
    let on_path = |p: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
    };
    let run = |mut cmd: Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    for g in pkggroups.iter().filter(|g| !host_has("/etc/group", g)) {
        if !root {
            return Err(format!(
                "group {g} (pkggroups) does not exist on the build host; create it, or build as root"
            ));
        }
        eprintln!(">>> Creating group {g}");
        let mut cmd = if on_path("groupadd") {
            let mut c = Command::new("groupadd");
            c.arg("--system");
            c
        } else {
            let mut c = Command::new("addgroup");
            c.arg("-S");
            c
        };
        cmd.arg(g);
        run(cmd, &format!("creating group {g}"))?;
    }
    for u in pkgusers.iter().filter(|u| !host_has("/etc/passwd", u)) {
        if !root {
            return Err(format!(
                "user {u} (pkgusers) does not exist on the build host; create it, or build as root"
            ));
        }
        eprintln!(">>> Creating user {u}");
        let own_group = host_has("/etc/group", u);
        let mut cmd;
        if on_path("useradd") {
            cmd = Command::new("useradd");
            cmd.args(["--system", "--no-create-home"]);
            if own_group {
                cmd.args(["-g", u]);
            } else {
                cmd.arg("-N");
            }
        } else {
            cmd = Command::new("adduser");
            cmd.args(["-S", "-D", "-H"]);
            if own_group {
                cmd.args(["-G", u]);
            }
        }
        cmd.arg(u);
        run(cmd, &format!("creating user {u}"))?;
    }
    Ok(())
}
