//! Shared by the applets that change what is installed (`add`, `del`, `upgrade`,
//! `fix`): solve, then print the plan or the explanation of why there is none, as
//! apk-tools prints them.

use apk_core::commit::{self, Event};
use apk_core::db::Database;
use apk_core::pool::{Dep, PkgId};
use apk_core::solver::{self, report, Changeset, Request};
use apk_format::dep::Dependency;

use crate::context::{self, Context};

/// Prints a changeset as a commit prints it: with `-v` the lists of what is removed or
/// downgraded, then the plan and the `OK:` line.
pub fn print_commit(ctx: &Context, db: &Database, cs: &Changeset) {
    if ctx.verbosity > 1 {
        let (text, _) = report::summary_lists(
            &db.pool,
            cs,
            ctx.verbosity,
            ctx.opts.interactive,
            report::DEFAULT_WIDTH,
        );
        print!("{text}");
    }
    for line in report::change_lines(&db.pool, cs) {
        println!("{line}");
    }
    if ctx.verbosity > 1 {
        let (dirs, files) = counts(&db.root);
        let errors = still_broken(db, cs, true);
        println!(
            "{}",
            report::ok_line_verbose(&db.pool, cs, errors, dirs, files)
        );
    } else {
        println!(
            "{}",
            report::ok_line(&db.pool, cs, still_broken(db, cs, true))
        );
    }
}

/// Prints why `cs` cannot be applied.
pub fn print_errors(db: &Database, cs: &Changeset, world: &[Dep]) {
    crate::output::err("ERROR: unable to select packages:");
    let explained = report::explain_errors(&db.pool, cs, world, report::DEFAULT_WIDTH);
    for line in explained.lines() {
        crate::output::err(line);
    }
}

/// Solves, then prints the plan (`--simulate`) or commits it; returns the exit status
/// (the number of errors).
pub fn solve_and_commit(ctx: &Context, db: &Database, req: &mut Request) -> u32 {
    if !world_tags_exist(ctx, db, &req.world, "committing changes") {
        return 99;
    }
    req.force_broken_world = ctx.opts.force_broken_world;
    let cs = solver::solve(&db.pool, req);
    if cs.errors > 0 {
        // Nothing changes: the snapshot stays good for the next run.
        db.write_pending_snapshot();
        print_errors(db, &cs, &req.world);
        return cs.errors;
    }
    commit(ctx, db, &cs, &req.world)
}

/// As apk-tools before it solves or commits (not under `--force-broken-world`): a
/// world dependency pinned to a repository tag that no usable repository has is
/// warned about, and nothing is committed (false, with the error printed: "Not
/// {doing} due to missing repository tags.").
pub fn world_tags_exist(ctx: &Context, db: &Database, world: &[Dep], doing: &str) -> bool {
    if ctx.opts.force_broken_world {
        return true;
    }
    let mut missing = 0;
    for d in db.pool.missing_tags(world) {
        crate::output::warning(format!(
            "The repository tag for world dependency '{}@{}' does not exist",
            db.pool.name(d.name),
            db.pool.tag(d.tag).name
        ));
        missing += 1;
    }
    if missing > 0 {
        db.write_pending_snapshot();
        context::error(format!("Not {doing} due to missing repository tags."));
    }
    missing == 0
}

/// Prints the plan when simulating, else commits `cs` and writes `world`; first, as
/// apk-tools, the world's repository tags are checked.
pub fn apply(ctx: &Context, db: &Database, cs: &Changeset, world: &[Dep]) -> u32 {
    if !world_tags_exist(ctx, db, world, "committing changes") {
        return 99;
    }
    commit(ctx, db, cs, world)
}

fn commit(ctx: &Context, db: &Database, cs: &Changeset, world: &[Dep]) -> u32 {
    // A snapshot made on opening the database is written only when it stays good: a
    // commit, even of no changes, rewrites the installed database it was keyed on.
    if ctx.opts.simulate {
        db.write_pending_snapshot();
        print_commit(ctx, db, cs);
        return still_broken(db, cs, true);
    }
    // `--initdb` makes the database only for a commit that goes ahead: a request
    // that does not solve leaves the root as it was, as apk-tools leaves it.
    if ctx.opts.initdb {
        let arch = ctx.opts.arch.first().map(String::as_str);
        if let Err(e) = apk_core::commit::init_database(&ctx.root, arch) {
            context::error(e);
            return 1;
        }
    }
    let world: Vec<Dependency> = world
        .iter()
        .filter_map(|d| Dependency::parse(&db.pool.dep_string(d)).ok())
        .collect();
    let opts = match ctx.commit_options(db) {
        Ok(o) => o,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let verbosity = ctx.verbosity;
    let interactive = ctx.opts.interactive;
    if verbosity > 1 || interactive {
        let (text, listed) =
            report::summary_lists(&db.pool, cs, verbosity, interactive, report::DEFAULT_WIDTH);
        // Through the log, as apk-tools prints its messages.
        for line in text.lines() {
            crate::output::out(line);
        }
        // apk-tools asks only when it listed something.
        if interactive && listed > 0 && !confirm() {
            return 1;
        }
    }
    let mut progress = Progress::new(ctx, db, cs);
    let mut on = |ev: Event| match ev {
        Event::Change(line) => {
            // As apk-tools: the bar starts before the first line, moves after it.
            progress.start();
            if verbosity > 0 {
                crate::output::out(&line);
            }
            progress.change_begins();
        }
        Event::Applied => progress.change_ends(),
        Event::ChangesDone => progress.finish(),
        Event::Executing { name, nested } => {
            if verbosity > 0 {
                let indent = if nested { "  " } else { "" };
                crate::output::out(&format!("{indent}Executing {name}"));
            }
        }
        Event::ScriptOutput {
            line,
            stderr,
            nested,
        } => {
            let prefix = if nested { "  * " } else { "* " };
            if stderr {
                crate::output::err(&format!("{prefix}{line}"));
            } else if verbosity > 0 {
                crate::output::out(&format!("{prefix}{line}"));
            }
        }
        Event::Error(m) => context::error(&m),
        Event::Note(m) => {
            if verbosity > 0 {
                crate::output::out(&m);
            }
        }
        Event::Warning(m) => crate::output::warning(&m),
        Event::Output { line, stderr } => {
            if stderr {
                crate::output::err(&line);
            } else if verbosity > 0 {
                crate::output::out(&line);
            }
        }
        Event::Trace(m) => {
            if verbosity > 2 {
                crate::output::out(&m);
            }
        }
        Event::Hook { path, action } => {
            if verbosity > 1 {
                crate::output::out(&format!("Executing /{path} {action}"));
            }
        }
        Event::HookOutput {
            header,
            line,
            stderr,
        } => {
            // apk-tools names the hook before its first line, unless -v -v named it
            // when it started.
            let text = match header.filter(|_| verbosity < 2) {
                Some(h) => format!("{h}\n* {line}"),
                None => format!("* {line}"),
            };
            if stderr {
                crate::output::err(&text);
            } else if verbosity > 0 {
                crate::output::out(&text);
            }
        }
    };
    if ctx.opts.cache_predownload {
        if let Some(dir) = ctx.package_cache_dir() {
            let wanted: Vec<PkgId> = cs
                .changes
                .iter()
                .filter(|c| c.new != c.old)
                .filter_map(|c| c.new)
                .collect();
            match super::cache::precache(ctx, db, &dir, &wanted, &opts) {
                Err(_) => return 99,
                Ok(0) => {}
                Ok(_) => {
                    if verbosity > 0 {
                        crate::output::out("Proceeding with upgrade...");
                    }
                }
            }
        }
    }
    if !commit::run_commit_hooks(&db.root, commit::HookTime::PreCommit, &opts, &mut on) {
        // apk-tools gives up without touching anything (its exit status 99).
        return 99;
    }
    let result = commit::commit(&db.root, &db.pool, cs, &world, &opts, &mut on);
    commit::run_commit_hooks(&db.root, commit::HookTime::PostCommit, &opts, &mut on);
    progress.finish();
    let errors = match result {
        Ok(n) => n,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    // Packages left broken by an earlier commit and not reinstalled count, as
    // apk-tools counts them.
    let errors = errors + still_broken(db, cs, false);
    sync_if_needed(ctx);
    if verbosity > 0 {
        // What the database holds now: the plan's totals, unless something failed
        // (a package that could not be read is not installed; apk-tools counts what
        // is).
        let state = (verbosity > 1 || errors > 0)
            .then(|| apk_core::db::state::Installed::load(&db.root).ok())
            .flatten();
        let (bytes, count) = match (&state, errors > 0) {
            (Some(s), true) => (
                s.packages()
                    .map(|p| p.info.installed_size.unwrap_or(0))
                    .sum(),
                s.packages().count() as i64,
            ),
            _ => report::totals_after(&db.pool, cs),
        };
        let line = match verbosity > 1 {
            true => {
                let (dirs, files) = state.map_or((0, 0), |s| s.dir_and_file_counts());
                report::ok_line_verbose_of(errors, bytes, count, dirs, files)
            }
            false => report::ok_line_of(errors, bytes, count),
        };
        crate::output::out(&line);
    }
    errors
}

/// `--sync`: the file systems are flushed after a commit; by default only when the
/// root is the host's own, as apk-tools does.
fn sync_if_needed(ctx: &Context) {
    let host_root = ctx.opts.root.is_none()
        || std::fs::canonicalize(&ctx.root).is_ok_and(|p| p == std::path::Path::new("/"));
    let wanted = if ctx.opts.sync {
        true
    } else if ctx.opts.no_sync {
        false
    } else {
        host_root && !ctx.usermode()
    };
    if wanted {
        apk_core::fs::atomic::sync_all();
    }
}

/// `Do you want to continue [Y/n]?` on standard output; yes unless the answer begins
/// with something other than `y`, `Y` or the end of the line.
fn confirm() -> bool {
    use std::io::{Read, Write};
    print!("Do you want to continue [Y/n]? ");
    let _ = std::io::stdout().flush();
    let mut b = [0u8; 1];
    match std::io::stdin().read(&mut b) {
        Ok(1) => matches!(b[0], b'y' | b'Y' | b'\n'),
        _ => true,
    }
}

/// Adds `dep` to `world`, replacing an entry for the same name (apk_deps_add).
pub fn world_add(world: &mut Vec<Dep>, dep: Dep) {
    match world.iter_mut().find(|d| d.name == dep.name) {
        Some(d) => *d = dep,
        None => world.push(dep),
    }
}

/// The installed packages an earlier commit left broken (files or scripts) that this
/// changeset does not reinstall or remove; when simulating, every one of them (apk-tools
/// counts them as errors of the commit).
fn still_broken(db: &Database, cs: &Changeset, simulating: bool) -> u32 {
    let pool = &db.pool;
    let broken = |p: PkgId| {
        pool.info(p)
            .extra
            .iter()
            .any(|(l, v)| *l == b'f' && (v.contains('f') || v.contains('s')))
    };
    let touched: std::collections::HashSet<PkgId> = cs
        .changes
        .iter()
        // A reinstall whose file no repository has is skipped: its package stays as
        // broken as it was, and counts (as apk-tools counts it).
        .filter(|c| {
            c.old != c.new || (c.reinstall && c.new.is_some_and(|n| pool.pkg_obtainable(n)))
        })
        .filter_map(|c| c.old)
        .collect();
    pool.installed
        .iter()
        .filter(|&&p| broken(p) && (simulating || !touched.contains(&p)))
        .count() as u32
}

/// The commit's progress: `--progress-fd FD`'s `DONE/TOTAL install` lines as
/// apk-tools writes them, and the bar ([`crate::output::progress_start`]). Each change
/// weighs its package's size plus 64 KiB (a removal a sixteenth of its size); progress
/// is reported as each change starts and ends (apk-tools also reports while a package
/// is read).
struct Progress {
    out: Option<std::fs::File>,
    /// The bar is to be drawn; `started` once it is.
    bar: bool,
    started: bool,
    /// Size of each change that does something, in order.
    sizes: Vec<u64>,
    done_bytes: u64,
    done: u64,
    last: Option<u64>,
    max: u64,
    finished: bool,
}

impl Progress {
    fn new(ctx: &Context, db: &Database, cs: &Changeset) -> Progress {
        // Descriptor 0 is no progress descriptor, as in apk-tools.
        let out = ctx.opts.progress_fd.filter(|&fd| fd != 0).and_then(|fd| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{fd}"))
                .ok()
        });
        let pool = &db.pool;
        let sizes: Vec<u64> = cs
            .changes
            .iter()
            .filter(|c| c.old != c.new || c.reinstall)
            .map(|c| match (c.new, c.old) {
                (Some(n), _) => pool.info(n).size.unwrap_or(0),
                (None, Some(o)) => pool.info(o).size.unwrap_or(0) / 16,
                _ => 0,
            })
            .collect();
        let max = sizes.iter().sum::<u64>() + sizes.len() as u64 * 65536;
        Progress {
            out,
            bar: ctx.progress(),
            started: false,
            sizes,
            done_bytes: 0,
            done: 0,
            // apk-tools starts at 0 without saying so.
            last: Some(0),
            max,
            finished: false,
        }
    }

    /// The first change is about to be shown: the bar exists from here (apk-tools
    /// starts none for a commit without changes).
    fn start(&mut self) {
        if self.bar && !self.started {
            self.started = true;
            crate::output::progress_start(self.max);
        }
    }

    fn write(&mut self, cur: u64) {
        use std::io::Write;
        if self.last == Some(cur) || (self.out.is_none() && !self.started) {
            return;
        }
        self.last = Some(cur);
        if self.started {
            crate::output::progress_update(cur);
        }
        let line = format!("{cur}/{} install\n", self.max);
        if let Some(f) = &mut self.out {
            if f.write_all(line.as_bytes()).is_err() {
                self.out = None;
            }
        }
    }

    fn change_begins(&mut self) {
        self.write(self.done_bytes + self.done * 65536);
    }

    fn change_ends(&mut self) {
        let Some(&size) = self.sizes.get(self.done as usize) else {
            return;
        };
        self.write(self.done_bytes + self.done * 65536 + size);
        self.done_bytes += size;
        self.done += 1;
    }

    /// Every change done (or the commit given up): the bar drawn full and wiped.
    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if self.out.is_some() || self.started {
            self.write(self.max);
        }
        if self.started {
            crate::output::progress_end();
        }
    }
}

/// The folders and files of the root's installed database, as `-v` counts them.
fn counts(root: &std::path::Path) -> (usize, usize) {
    apk_core::db::state::Installed::load(root)
        .map(|s| s.dir_and_file_counts())
        .unwrap_or((0, 0))
}
