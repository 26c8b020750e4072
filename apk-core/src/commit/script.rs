//! Running package scripts (`.pre-install`, `.post-upgrade`, `.trigger`, ...) inside
//! the root, as apk does: the script is written to `lib/apk/exec/` in the root and run
//! from there with the root as `/` (through `chroot(8)`, so no unsafe `pre_exec` is
//! needed), with a minimal environment and the versions as arguments.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const EXEC_DIR: &str = "lib/apk/exec";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Exited with this status (or was killed: 128 + signal).
    Failed(i32),
    /// Could not be started at all.
    NotRun(String),
}

/// Runs `script` (named `name`, e.g. `pkg-1.0-r0.post-install`) with `args`.
pub fn run(root: &Path, name: &str, script: &[u8], args: &[&str]) -> Outcome {
    let dir = root.join(EXEC_DIR);
    let host_path = dir.join(name);
    let written = fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&host_path, script))
        .and_then(|()| fs::set_permissions(&host_path, fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        return Outcome::NotRun(format!("{}: {e}", host_path.display()));
    }
    let in_root = format!("/{EXEC_DIR}/{name}");
    let is_host_root = fs::canonicalize(root).is_ok_and(|p| p == Path::new("/"));
    let mut cmd = if is_host_root {
        Command::new(&in_root)
    } else {
        if !crate::extract::is_root() {
            let _ = fs::remove_file(&host_path);
            return Outcome::NotRun("running scripts in another root needs root".into());
        }
        let mut c = Command::new("chroot");
        c.arg(root).arg(&in_root);
        c
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", PATH)
        .current_dir(root);
    let status = cmd.status();
    let _ = fs::remove_file(&host_path);
    match status {
        Err(e) => Outcome::NotRun(e.to_string()),
        Ok(s) if s.success() => Outcome::Ok,
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            Outcome::Failed(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)))
        }
    }
}
