//! Running package scripts (`.pre-install`, `.post-upgrade`, `.trigger`, ...) inside
//! the root, as apk-tools 3 does: the script is written to `lib/apk/exec/` in the root
//! and run with the root as `/`, umask 022, the environment `PATH`, `APK_SCRIPT` (the
//! action) and `APK_PACKAGE` (the package name), and the versions as arguments. Its
//! output lines are handed back to be printed with apk's `* ` prefix.
//!
//! Changing root happens in a helper process (the running binary started again with
//! [`SANDBOX_ARG`], see [`sandbox_main`]): it enters a private mount namespace, binds the
//! host's `/proc` and `/dev` into the root when the root has none (so a script's
//! `>/dev/null` does not leave a file behind), then chroots and executes the script.
//! The namespace ends with the script, so nothing of it stays in the root. Where no
//! helper is registered (a library user), `chroot(8)` is used instead.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const EXEC_DIR: &str = "lib/apk/exec";
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The first argument that makes an apk-rs binary act as the script sandbox.
pub const SANDBOX_ARG: &str = "--apk-rs-script-sandbox";
/// Given next, the sandbox enters a user namespace first (`--usermode`).
const USER_ARG: &str = "--user";

static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the binary that runs [`sandbox_main`] when given [`SANDBOX_ARG`] (the
/// `apk` binary registers itself).
pub fn set_launcher(exe: PathBuf) {
    let _ = LAUNCHER.set(exe);
}

/// How a script run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Exited with this status.
    Failed(i32),
    /// Killed by this signal.
    Killed(i32),
    /// Could not be started at all.
    NotRun(String),
}

/// How scripts are run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptOptions {
    /// `--preserve-env`: apk's environment instead of a clean one (`PATH` only).
    pub preserve_env: bool,
    /// `--force-no-chroot`: run in the host's `/`, in the root's directory.
    pub no_chroot: bool,
    /// `--usermode`: change root inside a user namespace, as the user running apk.
    pub usermode: bool,
}

/// One line a script printed, and whether it went to standard error.
pub struct OutputLine {
    pub text: String,
    pub stderr: bool,
}

/// Runs `script` (named `name`, e.g. `pkg-1.0-r0.post-install`, for package `package`
/// and action `action`) with `args`; `on_line` sees each line it prints.
#[allow(clippy::too_many_arguments)]
pub fn run(
    opts: &ScriptOptions,
    root: &Path,
    name: &str,
    package: &str,
    action: &str,
    script: &[u8],
    args: &[&str],
    on_line: &mut dyn FnMut(OutputLine),
) -> Outcome {
    let dir = root.join(EXEC_DIR);
    let host_path = dir.join(name);
    // apk-tools runs scripts from memory where it can and leaves no directory behind;
    // one made here for the script goes again after it.
    let made_dir = !dir.is_dir();
    let written = fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&host_path, script))
        .and_then(|()| fs::set_permissions(&host_path, fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        return Outcome::NotRun(format!("{}: {e}", host_path.display()));
    }
    let in_root = format!("/{EXEC_DIR}/{name}");
    let outcome = run_program(opts, root, &in_root, Some(package), action, args, on_line);
    let _ = fs::remove_file(&host_path);
    if made_dir {
        let _ = fs::remove_dir(&dir);
    }
    outcome
}

/// Runs the program at `in_root` (an absolute path inside the root) with `args`, as
/// scripts run: changed root (in a private mount namespace, or a user namespace in
/// usermode), a clean environment with `APK_SCRIPT` (and `APK_PACKAGE`), its output
/// given line by line to `on_line`.
pub fn run_program(
    opts: &ScriptOptions,
    root: &Path,
    in_root: &str,
    package: Option<&str>,
    action: &str,
    args: &[&str],
    on_line: &mut dyn FnMut(OutputLine),
) -> Outcome {
    let is_host_root = fs::canonicalize(root).is_ok_and(|p| p == Path::new("/"));
    let abs_root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut cmd = if is_host_root {
        Command::new(in_root)
    } else if opts.no_chroot {
        Command::new(abs_root.join(in_root.trim_start_matches('/')))
    } else if !(crate::fs::is_root() || opts.usermode && LAUNCHER.get().is_some()) {
        return Outcome::NotRun("running scripts in another root needs root or --usermode".into());
    } else if crate::fs::is_root() {
        // As root the child enters the root itself between fork and exec, as apk-tools'
        // does: no helper process to start (each was a run of apk's own binary, five
        // for `--initdb add alpine-base`).
        let proc_ok = abs_root.join("proc/self").exists();
        let dev_ok = abs_root.join("dev/null").exists();
        let mut c = Command::new(in_root);
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and makes only
        // system calls (rustix, with paths given as C strings: nothing allocates or
        // takes a lock another thread of the parent might have held at fork).
        unsafe { c.pre_exec(move || enter_forked(proc_ok, dev_ok)) };
        c
    } else if let Some(exe) = LAUNCHER.get() {
        let mut c = Command::new(exe);
        c.arg(SANDBOX_ARG);
        if !crate::fs::is_root() {
            c.arg(USER_ARG);
        }
        c.arg(&abs_root).arg(in_root);
        c
    } else {
        let mut c = Command::new("chroot");
        c.arg(&abs_root).arg(in_root);
        c
    };
    cmd.args(args);
    if !opts.preserve_env {
        cmd.env_clear().env("PATH", PATH);
    } else {
        // apk-tools passes the environment on without its own `APK_` variables.
        for (key, _) in std::env::vars_os() {
            if key.as_encoded_bytes().starts_with(b"APK_") {
                cmd.env_remove(key);
            }
        }
    }
    cmd.env("APK_SCRIPT", action);
    if let Some(p) = package {
        cmd.env("APK_PACKAGE", p);
    }
    cmd.current_dir(&abs_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let result = cmd.spawn().and_then(|mut child| {
        if let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) {
            pump(out, err, on_line);
        }
        child.wait()
    });
    match result {
        // As apk-tools' child reports a failed `execve` (a script whose interpreter
        // the root lacks): the reason as a line of its output, and status 127.
        Err(e) if e.raw_os_error().is_some() => {
            on_line(OutputLine {
                text: format!("execve: {}", apk_format::error::io_reason(&e)),
                stderr: true,
            });
            Outcome::Failed(127)
        }
        Err(e) => Outcome::NotRun(e.to_string()),
        Ok(s) if s.success() => Outcome::Ok,
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => Outcome::Failed(c),
                (None, Some(sig)) => Outcome::Killed(sig),
                _ => Outcome::Failed(1),
            }
        }
    }
}

/// Reads the program's standard output and error as they come (one `poll` loop,
/// output before error when both have something, as apk-tools reads them) and gives
/// `on_line` each line, without a leading `* ` (apk strips it too).
fn pump(
    mut out: std::process::ChildStdout,
    mut err: std::process::ChildStderr,
    on_line: &mut dyn FnMut(OutputLine),
) {
    use rustix::event::{poll, PollFd, PollFlags};
    let emit = |line: &[u8], stderr: bool, on_line: &mut dyn FnMut(OutputLine)| {
        let line = line
            .strip_prefix(b"* ")
            .or_else(|| (line == b"*").then_some(&b""[..]))
            .unwrap_or(line);
        on_line(OutputLine {
            text: String::from_utf8_lossy(line).into_owned(),
            stderr,
        });
    };
    // Per stream: what is left of a line, and whether it is still open.
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut open = [true, true];
    let mut chunk = [0u8; 4096];
    while open[0] || open[1] {
        let mut ready = [false, false];
        {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(2);
            let mut which: Vec<usize> = Vec::with_capacity(2);
            if open[0] {
                fds.push(PollFd::new(&out, PollFlags::IN));
                which.push(0);
            }
            if open[1] {
                fds.push(PollFd::new(&err, PollFlags::IN));
                which.push(1);
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            for (fd, &i) in fds.iter().zip(&which) {
                ready[i] = !fd.revents().is_empty();
            }
        }
        for i in 0..2 {
            if !ready[i] {
                continue;
            }
            let got = if i == 0 {
                out.read(&mut chunk)
            } else {
                err.read(&mut chunk)
            };
            match got {
                Ok(0) | Err(_) => {
                    open[i] = false;
                    if !bufs[i].is_empty() {
                        let rest = std::mem::take(&mut bufs[i]);
                        emit(&rest, i == 1, on_line);
                    }
                }
                Ok(n) => {
                    bufs[i].extend_from_slice(&chunk[..n]);
                    while let Some(pos) = bufs[i].iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = bufs[i].drain(..=pos).collect();
                        emit(&line[..line.len() - 1], i == 1, on_line);
                    }
                }
            }
        }
    }
}

/// The sandbox helper: `SANDBOX_ARG ROOT SCRIPT ARGS...`. Enters a private mount
/// namespace (when the kernel allows; as apk-tools, it goes on with a plain chroot
/// otherwise), binds `/proc` and `/dev` into the root when it has none, changes root and
/// executes the script. Returns only on failure, with the exit status to use.
pub fn sandbox_main(args: &[OsString]) -> i32 {
    let user = args.first().is_some_and(|a| a == USER_ARG);
    let args = if user { &args[1..] } else { args };
    let (Some(root), Some(script)) = (args.first(), args.get(1)) else {
        eprintln!("{SANDBOX_ARG}: usage: [{USER_ARG}] ROOT SCRIPT [ARGS...]");
        return 127;
    };
    let root = Path::new(root);
    if let Err(e) = enter(root, user) {
        eprintln!("{}: {e}", root.display());
        return 127;
    }
    use std::os::unix::process::CommandExt;
    let e = Command::new(script).args(&args[2..]).exec();
    eprintln!("execve: {}", apk_format::error::io_reason(&e));
    127
}

fn enter(root: &Path, user: bool) -> std::io::Result<()> {
    use rustix::mount::{mount_change, MountPropagationFlags};
    use rustix::thread::UnshareFlags;
    std::env::set_current_dir(root)?;
    let proc_ok = Path::new("proc/self").exists();
    let dev_ok = Path::new("dev/null").exists();
    if user {
        // As the user running apk, mapped to root inside: what lets an unprivileged
        // user change root (apk's --usermode).
        let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
        // SAFETY: as below, one thread, and CLONE_FILES is not among the flags.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS | UnshareFlags::NEWUSER) }?;
        fs::write("/proc/self/uid_map", format!("0 {} 1", uid.as_raw()))?;
        fs::write("/proc/self/setgroups", "deny")?;
        fs::write("/proc/self/gid_map", format!("0 {} 1", gid.as_raw()))?;
        mount_change(
            "/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        bind_missing(proc_ok, dev_ok);
    } else if !proc_ok || !dev_ok {
        // SAFETY: unshare with CLONE_NEWNS only (no CLONE_FILES, the flag the safety
        // contract is about), and this process runs one thread: it was just started to
        // do this and exec the script.
        let unshared = unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }.is_ok();
        if unshared
            && mount_change(
                "/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )
            .is_ok()
        {
            bind_missing(proc_ok, dev_ok);
        }
    }
    rustix::process::chroot(".")?;
    std::env::set_current_dir("/")?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    Ok(())
}

/// What [`enter`] does as root, in a forked child whose current directory is the root
/// (see [`run_program`]): only system calls, nothing that allocates.
fn enter_forked(proc_ok: bool, dev_ok: bool) -> std::io::Result<()> {
    use rustix::mount::{mount_bind_recursive, mount_change, MountPropagationFlags};
    use rustix::thread::UnshareFlags;
    let io = |e: rustix::io::Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
    if !proc_ok || !dev_ok {
        // SAFETY: unshare with CLONE_NEWNS only (no CLONE_FILES, the flag the safety
        // contract is about), in a child that runs one thread (fork copies only the
        // calling one).
        let unshared = unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }.is_ok();
        if unshared
            && mount_change(
                c"/",
                MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
            )
            .is_ok()
        {
            let dir_mode = rustix::fs::Mode::from_raw_mode(0o777);
            if !proc_ok {
                let _ = rustix::fs::mkdir(c"proc", dir_mode);
                let _ = mount_bind_recursive(c"/proc", c"proc");
            }
            if !dev_ok {
                let _ = rustix::fs::mkdir(c"dev", dir_mode);
                let _ = mount_bind_recursive(c"/dev", c"dev");
            }
        }
    }
    rustix::process::chroot(c".").map_err(io)?;
    rustix::process::chdir(c"/").map_err(io)?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    Ok(())
}

/// Binds the host's `/proc` and `/dev` into the root (the current directory) where it
/// has none.
fn bind_missing(proc_ok: bool, dev_ok: bool) {
    use rustix::mount::mount_bind_recursive;
    if !proc_ok {
        let _ = fs::create_dir("proc");
        let _ = mount_bind_recursive("/proc", "proc");
    }
    if !dev_ok {
        let _ = fs::create_dir("dev");
        let _ = mount_bind_recursive("/dev", "dev");
    }
}
