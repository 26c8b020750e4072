//! Running a package's scripts and the triggers of the folders a commit changed, in
//! the sandbox of [`crate::fs::sandbox`], with their output prefixed as apk prints it.

use super::*;
use crate::fs::sandbox::EXEC_DIR as EXEC;

impl Committer<'_> {
    /// Runs one script of a package (`nested` within a package's change, as apk
    /// indents it; triggers run at the end are not). Returns false when it failed, which
    /// is counted as an error and recorded on the package (`f:s`), as apk-tools does.
    pub(super) fn run_script(
        &mut self,
        package: &str,
        nv: &str,
        scripts: &[(String, Vec<u8>)],
        action: &str,
        args: &[String],
        nested: bool,
    ) -> bool {
        let Some((_, body)) = scripts.iter().find(|(a, _)| a == action) else {
            return true;
        };
        if self.opts.no_scripts {
            return true;
        }
        let name = format!("{nv}.{action}");
        (self.on)(Event::Executing {
            name: name.clone(),
            nested,
        });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let on = &mut *self.on;
        let mut on_line = |l: script::OutputLine| {
            on(Event::ScriptOutput {
                line: l.text,
                stderr: l.stderr,
                nested,
            })
        };
        self.pieces.in_script(true);
        let outcome = script::run(
            &self.opts.scripts,
            self.fs.path(),
            &name,
            package,
            action,
            body,
            &args,
            &mut on_line,
        );
        self.pieces.in_script(false);
        // A script may have added users or groups (adduser in a pre-install): names
        // are looked up afresh, as apk-tools resets its id cache after each script.
        self.ids = None;
        // And it may have changed any folder.
        self.known_dirs.forget();
        let failure = match outcome {
            script::Outcome::Ok => return true,
            // apk-tools names the script by the path it would have in the root.
            script::Outcome::Failed(code) => format!("{EXEC}/{name}: exited with error {code}"),
            script::Outcome::Killed(sig) => format!("{EXEC}/{name}: killed by signal {sig}"),
            script::Outcome::NotRun(why) => format!("{name}: failed to execute: {why}"),
        };
        self.error(failure);
        false
    }

    /// Runs the `.trigger` of every installed package whose trigger globs match a
    /// directory changed by this commit (every matching directory for packages this
    /// commit installed), with the matched directories as arguments.
    pub(super) fn run_triggers(&mut self) {
        if self.opts.no_scripts || self.state.triggers.is_empty() {
            return;
        }
        let all_dirs: BTreeSet<String> = self
            .state
            .packages()
            .flat_map(|p| p.dirs.iter().map(|d| d.path.clone()))
            .collect();
        let mut runs = Vec::new();
        for p in self.state.packages() {
            let Some(globs) = self.state.triggers.get(&p.info.name) else {
                continue;
            };
            let patterns: Vec<glob::Pattern> = globs
                .iter()
                .filter_map(|g| glob::Pattern::new(g).ok())
                .collect();
            let candidates = if self.fresh.contains(&p.info.name) {
                &all_dirs
            } else {
                &self.changed_dirs
            };
            let matched: Vec<String> = candidates
                .iter()
                .map(|d| format!("/{d}"))
                .filter(|d| patterns.iter().any(|pat| pat.matches(d)))
                .collect();
            if !matched.is_empty() {
                runs.push((p.info.nv(), p.info.name.clone(), matched));
            }
        }
        for (nv, name, dirs) in runs {
            let scripts = self.state.scripts.get(&name).cloned().unwrap_or_default();
            if !self.run_script(&name, &nv, &scripts, "trigger", &dirs, false) {
                self.state.mark_broken(&name, 's');
                self.errors += 1;
            }
        }
    }
}
