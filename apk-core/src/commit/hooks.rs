//! Commit hooks: the executables of `etc/apk/commit_hooks.d` (over
//! `lib/apk/commit_hooks.d`), run before and after a commit with `pre-commit` or
//! `post-commit`, as apk-tools runs them.

use super::*;

/// When a commit hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookTime {
    PreCommit,
    PostCommit,
}

impl HookTime {
    pub fn action(self) -> &'static str {
        match self {
            HookTime::PreCommit => "pre-commit",
            HookTime::PostCommit => "post-commit",
        }
    }
}

/// Runs the commit hooks (`etc/apk/commit_hooks.d/*`, then the system's in `lib`) with
/// `pre-commit` or `post-commit`, as apk-tools runs them around a commit: in the root
/// as scripts run, each one's output shown under its name. Returns false when a
/// pre-commit hook failed: the commit must not go on.
pub fn run_commit_hooks(
    root: &Path,
    time: HookTime,
    opts: &Options,
    on: &mut dyn FnMut(Event),
) -> bool {
    if opts.no_scripts {
        return true;
    }
    let action = time.action();
    for rel in crate::fs::confdir::commit_hooks(root) {
        let path = rel.display().to_string();
        if opts.skip_commit_hooks {
            on(Event::Note(format!("Skipping: {path} {action}")));
            continue;
        }
        let file = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        on(Event::Hook {
            path: path.clone(),
            action,
        });
        let mut header = Some(format!("Executing {action} {file}"));
        let outcome = script::run_program(
            &opts.scripts,
            root,
            &format!("/{path}"),
            None,
            action,
            &[action],
            &mut |l| {
                on(Event::HookOutput {
                    header: header.take(),
                    line: l.text,
                    stderr: l.stderr,
                })
            },
        );
        let failure = match outcome {
            script::Outcome::Ok => None,
            script::Outcome::Failed(code) => Some(format!("{path}: exited with error {code}")),
            script::Outcome::Killed(sig) => Some(format!("{path}: killed by signal {sig}")),
            script::Outcome::NotRun(why) => Some(format!("{path}: failed to execute: {why}")),
        };
        if let Some(f) = failure {
            on(Event::Error(f));
            // A failed pre-commit hook stops the commit, and the hooks after it.
            if time == HookTime::PreCommit {
                return false;
            }
        }
    }
    true
}
