//! What apk prints about a solution: the change lines, the closing `OK:` line, and the
//! `unable to select packages` explanation, laid out as apk-tools lays them out (label
//! columns, words wrapped at apk's default width of 50 columns when not on a terminal).

use crate::pool::{Dep, DepMatch, NameId, PkgId, Pool, TagId};

use super::{Change, Changeset};

/// Width apk wraps indented lists at when the output is not a terminal.
pub const DEFAULT_WIDTH: usize = 50;

/// Formats a size as apk does: `123 B`, `6180 KiB`, `38.9 MiB`.
pub fn human_size(val: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut s = val as f32;
    let mut v = val;
    let mut i = 0;
    while i < UNITS.len() - 1 && s >= 10000.0 {
        s /= 1024.0;
        v /= 1024;
        i += 1;
    }
    if i < 2 {
        format!("{v} {}", UNITS[i])
    } else {
        format!("{s:.1} {}", UNITS[i])
    }
}

/// The packages depending on `pkg` (through its name or anything it provides), each
/// with the dependency and how it relates to `pkg`; each dependent is visited once.
pub fn reverse_dependents(
    pool: &Pool,
    pkg: PkgId,
    installed_only: bool,
    mut keep: impl FnMut(PkgId, &Dep, DepMatch) -> bool,
) -> Vec<(PkgId, usize, DepMatch)> {
    let p = pool.pkg(pkg);
    let mut out = Vec::new();
    let mut visited = std::collections::HashSet::new();
    let names = std::iter::once(p.name).chain(pool.pkg_deps(p).provides.iter().map(|d| d.name));
    for name in names {
        for &rname in pool.rdepends(name) {
            for prov in pool.providers(rname) {
                let pkg0 = prov.pkg;
                if installed_only && pool.pkg(pkg0).installed().is_none() {
                    continue;
                }
                if !visited.insert(pkg0) {
                    continue;
                }
                for (i, d0) in pool.depends(pkg0).iter().enumerate() {
                    let m = pool.dep_analyze(Some(pkg0), d0, pkg);
                    if m != DepMatch::Irrelevant && keep(pkg0, d0, m) {
                        out.push((pkg0, i, m));
                    }
                }
            }
        }
    }
    out
}

/// Lines of the form `(1/3) Installing name (1.0-r0)`, one per change that does
/// something.
pub fn change_lines(pool: &Pool, cs: &Changeset) -> Vec<String> {
    change_lines_by_change(pool, cs)
        .into_iter()
        .flatten()
        .collect()
}

/// The line of each change of `cs`, in order; `None` for those that print nothing.
pub fn change_lines_by_change(pool: &Pool, cs: &Changeset) -> Vec<Option<String>> {
    let total = cs.changes.iter().filter(|c| counts(c)).count();
    let width = total.to_string().len();
    let mut out = Vec::new();
    let mut done = 0;
    for c in &cs.changes {
        let Some(msg) = change_message(pool, c) else {
            out.push(None);
            continue;
        };
        let (name, versions) = match (c.old, c.new) {
            (None, Some(n)) => (pool.pkg(n).name, pool.version(n).to_string()),
            (Some(o), None) => (pool.pkg(o).name, pool.version(o).to_string()),
            (Some(o), Some(n)) if o == n => (pool.pkg(n).name, pool.version(n).to_string()),
            (Some(o), Some(n)) => (
                pool.pkg(n).name,
                format!("{} -> {}", pool.version(o), pool.version(n)),
            ),
            (None, None) => {
                out.push(None);
                continue;
            }
        };
        let tag = tag_suffix(pool, c.new_tag);
        out.push(Some(format!(
            "({:>width$}/{total}) {msg} {}{tag} ({versions})",
            done + 1,
            pool.name(name)
        )));
        if counts(c) {
            done += 1;
        }
    }
    out
}

fn tag_suffix(pool: &Pool, tag: TagId) -> String {
    if tag == TagId::DEFAULT {
        String::new()
    } else {
        format!("@{}", pool.tags[tag.index()].name)
    }
}

fn counts(c: &Change) -> bool {
    c.new != c.old || c.reinstall || c.new_tag != c.old_tag
}

fn change_message(pool: &Pool, c: &Change) -> Option<&'static str> {
    match (c.old, c.new) {
        (None, Some(_)) => Some("Installing"),
        (Some(_), None) => Some("Purging"),
        (Some(o), Some(n)) if o == n => {
            if c.reinstall {
                Some(if pool.pkg_obtainable(n) {
                    "Reinstalling"
                } else {
                    "[APK unavailable, skipped] Reinstalling"
                })
            } else if c.old_tag != c.new_tag {
                Some("Updating pinning")
            } else {
                None
            }
        }
        (Some(o), Some(n)) => Some(
            match apk_format::version::compare(pool.version(n), pool.version(o)) {
                std::cmp::Ordering::Less => "Downgrading",
                std::cmp::Ordering::Equal => "Replacing",
                std::cmp::Ordering::Greater => "Upgrading",
            },
        ),
        (None, None) => None,
    }
}

/// Installed bytes and packages after the changeset.
pub fn totals_after(pool: &Pool, cs: &Changeset) -> (u64, i64) {
    let mut bytes: i64 = pool
        .installed
        .iter()
        .map(|&p| pool.installed_size(p) as i64)
        .sum();
    let mut count = pool.installed.len() as i64;
    for c in &cs.changes {
        if let Some(n) = c.new {
            bytes += pool.installed_size(n) as i64;
            count += 1;
        }
        if let Some(o) = c.old {
            bytes -= pool.installed_size(o) as i64;
            count -= 1;
        }
    }
    (bytes.max(0) as u64, count)
}

fn status_word(errors: u32) -> String {
    match errors {
        0 => "OK:".to_string(),
        1 => "1 error;".to_string(),
        n => format!("{n} errors;"),
    }
}

/// The closing line with `-v`: `OK: 40 packages, 12 dirs, 300 files, 12 MiB`.
pub fn ok_line_verbose(
    pool: &Pool,
    cs: &Changeset,
    errors: u32,
    dirs: usize,
    files: usize,
) -> String {
    let (bytes, count) = totals_after(pool, cs);
    ok_line_verbose_of(errors, bytes, count, dirs, files)
}

/// [`ok_line_verbose`] with the installed totals given (what the database holds after
/// a commit that failed in part).
pub fn ok_line_verbose_of(
    errors: u32,
    bytes: u64,
    count: i64,
    dirs: usize,
    files: usize,
) -> String {
    format!(
        "{} {count} packages, {dirs} dirs, {files} files, {}",
        status_word(errors),
        human_size(bytes)
    )
}

/// What `-v` (or `-i`) lists before a commit, as apk-tools lists it: packages no
/// longer in a repository, removed and downgraded ones; with `-vv`, `-i` or any of
/// those, also new, upgraded and reinstalled ones, the download size and the change
/// in disk use. From `-v` on each package has its own line with its version(s).
pub fn summary_lists(
    pool: &Pool,
    cs: &Changeset,
    verbosity: i32,
    interactive: bool,
    width: usize,
) -> (String, usize) {
    let details = verbosity >= 2;
    let mut sorted: Vec<&Change> = cs.changes.iter().collect();
    sorted.sort_by(|a, b| {
        let name = |c: &Change| pool.name(pool.pkg(c.old.or(c.new).unwrap_or_default()).name);
        name(a).cmp(name(b))
    });
    let mut out = String::new();
    let section =
        |out: &mut String, title: &str, details: bool, pick: &dyn Fn(&Change) -> bool| -> usize {
            let picked: Vec<&&Change> = sorted.iter().filter(|c| pick(c)).collect();
            if picked.is_empty() {
                return 0;
            }
            out.push_str(title);
            out.push_str(":\n");
            if details {
                use std::fmt::Write;
                for c in &picked {
                    let name = pool.name(pool.pkg(c.new.or(c.old).unwrap_or_default()).name);
                    let tag = match pool.tags.get(c.new_tag.index()) {
                        Some(t) if c.new_tag != crate::pool::TagId::DEFAULT => {
                            format!("@{}", t.name)
                        }
                        _ => String::new(),
                    };
                    let _ = match (c.old, c.new) {
                        (Some(o), Some(n)) if !c.reinstall => writeln!(
                            out,
                            "  {name}{tag} ({} -> {})",
                            pool.version(o),
                            pool.version(n)
                        ),
                        (o, n) => writeln!(
                            out,
                            "  {name}{tag} ({})",
                            o.or(n).map(|p| pool.version(p)).unwrap_or("")
                        ),
                    };
                }
            } else {
                let mut i = Indent {
                    out: String::new(),
                    x: 0,
                    indent: 2,
                    width,
                };
                for c in &picked {
                    i.item(pool.name(pool.pkg(c.new.or(c.old).unwrap_or_default()).name));
                }
                i.end();
                out.push_str(&i.out);
            }
            picked.len()
        };
    let cached = crate::pool::RepoId::CACHED.bit();
    // A name some repository provides (by its own packages or through provides).
    let in_repository = |name: crate::pool::NameId| {
        pool.providers(name)
            .iter()
            .any(|p| pool.pkg(p.pkg).repos & !cached != 0)
    };
    section(
        &mut out,
        "NOTE: Consider running apk upgrade with --prune and/or --available.\nThe following packages are no longer available from a repository",
        false,
        &|c| {
            c.new.is_some_and(|n| {
                let name = pool.pkg(n).name;
                !in_repository(name) && (details || !pool.name(name).starts_with('.'))
            })
        },
    );
    let older = |c: &Change| match (c.old, c.new) {
        (Some(o), Some(n)) => apk_format::version::compare(pool.version(n), pool.version(o)),
        _ => std::cmp::Ordering::Equal,
    };
    let mut r = section(
        &mut out,
        "The following packages will be REMOVED",
        details,
        &|c| c.new.is_none(),
    );
    r += section(
        &mut out,
        "The following packages will be DOWNGRADED",
        details,
        &|c| c.old.is_some() && c.new.is_some() && older(c) == std::cmp::Ordering::Less,
    );
    if r > 0 || interactive || verbosity > 2 {
        r += section(
            &mut out,
            "The following NEW packages will be installed",
            details,
            &|c| c.old.is_none(),
        );
        r += section(
            &mut out,
            "The following packages will be upgraded",
            details,
            &|c| {
                c.old.is_some()
                    && c.new.is_some()
                    && c.old != c.new
                    && older(c) != std::cmp::Ordering::Less
            },
        );
        r += section(
            &mut out,
            "The following packages will be reinstalled",
            details,
            &|c| c.reinstall,
        );
        let local: u64 = pool
            .repos
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                crate::pool::RepoId::new(*i) != crate::pool::RepoId::CACHED && !r.remote
            })
            .fold(0, |m, (i, _)| m | (1u64 << i));
        let (mut download, mut diff) = (0u64, 0i64);
        for c in &cs.changes {
            if let Some(n) = c.new {
                diff += pool.installed_size(n) as i64;
                if c.new != c.old && pool.pkg(n).repos & local == 0 {
                    download += pool.info(n).size.unwrap_or(0);
                }
            }
            if let Some(o) = c.old {
                diff -= pool.installed_size(o) as i64;
            }
        }
        if download > 0 {
            out.push_str(&format!(
                "Need to download {} of packages.\n",
                human_size(download)
            ));
        }
        out.push_str(&format!(
            "After this operation, {} of {}.\n",
            human_size(diff.unsigned_abs()),
            if diff < 0 {
                "disk space will be freed"
            } else {
                "additional disk space will be used"
            }
        ));
    }
    (out, r)
}

/// The closing line of a simulated commit: `OK: 12 MiB in 40 packages`.
pub fn ok_line(pool: &Pool, cs: &Changeset, errors: u32) -> String {
    let (bytes, count) = totals_after(pool, cs);
    ok_line_of(errors, bytes, count)
}

/// [`ok_line`] with the installed totals given.
pub fn ok_line_of(errors: u32, bytes: u64, count: i64) -> String {
    format!(
        "{} {} in {count} packages",
        status_word(errors),
        human_size(bytes)
    )
}

/// Word-wrapping list printer with apk's label layout.
pub struct Indent {
    pub out: String,
    x: usize,
    indent: usize,
    width: usize,
}

impl Indent {
    /// An empty printer: items indented by `indent`, lines wrapped before `width`.
    pub fn new(indent: usize, width: usize) -> Self {
        Indent {
            out: String::new(),
            x: 0,
            indent,
            width,
        }
    }

    pub fn item(&mut self, text: &str) {
        use std::fmt::Write;
        if self.x <= self.indent {
            let pad = self.indent - self.x;
            let _ = write!(self.out, "{:pad$}{text}", "");
            self.x += pad + text.len();
        } else if self.x + text.len() + 1 >= self.width {
            let _ = write!(self.out, "\n{:ind$}{text}", "", ind = self.indent);
            self.x = self.indent + text.len();
        } else {
            let _ = write!(self.out, " {text}");
            self.x += 1 + text.len();
        }
    }

    fn group(&mut self, text: &str) {
        self.out.push_str(text);
        self.x = text.len();
        self.indent = self.x + 1;
    }

    pub fn end(&mut self) {
        if self.x > 0 {
            self.out.push('\n');
            self.x = 0;
            self.indent = 0;
        }
    }
}

const STATE_PRESENT: u32 = 0x8000_0000;
const STATE_MISSING: u32 = 0x4000_0000;
const STATE_VIRTUAL_ONLY: u32 = 0x2000_0000;
const STATE_INSTALLIF: u32 = 0x1000_0000;
const STATE_COUNT_MASK: u32 = 0x0000_ffff;

struct ErrorReport<'a> {
    pool: &'a Pool,
    world: &'a [Dep],
    marked: Vec<bool>,
    name_state: Vec<u32>,
    pkg_state: Vec<u32>,
    label: Option<String>,
    num_labels: usize,
    i: Indent,
}

impl ErrorReport<'_> {
    fn label_start(&mut self, text: &str) {
        if let Some(l) = self.label.take() {
            self.i.out.push_str(&format!("  {l}:\n"));
            self.i.x = 0;
            self.i.indent = 0;
            self.num_labels += 1;
        }
        if self.i.x == 0 {
            self.i.group(&format!("    {text}"));
        }
    }

    fn world_dep(&self, d: &Dep) -> String {
        let mut plain = *d;
        plain.tag = TagId::DEFAULT;
        format!(
            "world[{}{}]",
            self.pool.dep_string(&plain),
            tag_suffix(self.pool, d.tag)
        )
    }

    fn pinning_errors(&mut self, pkg: PkgId, tag: TagId) {
        let pool = self.pool;
        let p = pool.pkg(pkg);
        if p.installed().is_some() {
            return;
        }
        let cache_only = p.repos & !crate::pool::RepoId::CACHED.bit() == 0;
        if !pool.pkg_available(pkg) && !p.cached {
            self.label_start("masked in:");
            self.i.item("--no-network");
        } else if cache_only && p.cached {
            self.label_start("masked in:");
            self.i.item("cache");
        } else {
            let mask = TagId::DEFAULT.bit() | tag.bit();
            if p.repos & pool.pinning_mask_repos(mask) != 0 {
                return;
            }
            for t in &pool.tags {
                if p.repos & t.allowed_repos != 0 {
                    self.label_start("masked in:");
                    self.i.item(&format!("@{}", t.name));
                }
            }
        }
        self.i.end();
    }

    fn conflicts(&mut self, pkg: PkgId) {
        let pool = self.pool;
        let p = pool.pkg(pkg);
        for pr in pool.providers(p.name) {
            if pr.pkg == pkg || !self.marked[pr.pkg.index()] {
                continue;
            }
            self.label_start("conflicts:");
            self.i.item(&pool.nv(pr.pkg));
        }
        for (di, d) in pool.pkg_deps(p).provides.iter().enumerate() {
            let mut once = true;
            for pr in pool.providers(d.name) {
                if !self.marked[pr.pkg.index()] {
                    continue;
                }
                if !d.has_version() && pool.provider_version(*pr).is_none() {
                    continue;
                }
                if once && pr.pkg == pkg && pr.via() == Some(di as u16) {
                    once = false;
                    continue;
                }
                self.label_start("conflicts:");
                self.i
                    .item(&format!("{}[{}]", pool.nv(pr.pkg), pool.dep_string(d)));
            }
        }
        self.i.end();
    }

    fn print_matched(&mut self, label: &str, mut deps: Vec<(Option<PkgId>, Dep)>) {
        if deps.is_empty() {
            return;
        }
        let pool = self.pool;
        self.label_start(label);
        deps.sort_by(|a, b| {
            let by_pkg = match (a.0, b.0) {
                (Some(x), Some(y)) => pool
                    .name(pool.pkg(x).name)
                    .cmp(pool.name(pool.pkg(y).name))
                    .then_with(|| apk_format::version::compare(pool.version(x), pool.version(y))),
                _ => std::cmp::Ordering::Equal,
            };
            by_pkg.then_with(|| a.1.op.bits().cmp(&b.1.op.bits()))
        });
        for (pkg, d) in deps {
            let text = match pkg {
                None => self.world_dep(&d),
                Some(p) => format!("{}[{}]", pool.nv(p), pool.dep_string(&d)),
            };
            self.i.item(&text);
        }
    }

    fn deps(&mut self, pkg: PkgId, want: DepMatch) {
        let label = if want == DepMatch::Satisfies {
            "satisfies:"
        } else {
            "breaks:"
        };
        let pool = self.pool;
        let world: Vec<(Option<PkgId>, Dep)> = self
            .world
            .iter()
            .filter(|d| pool.dep_analyze(None, d, pkg) == want)
            .map(|d| (None, *d))
            .collect();
        self.print_matched(label, world);
        let marked = &self.marked;
        let reverse: Vec<(Option<PkgId>, Dep)> =
            reverse_dependents(pool, pkg, false, |p0, _, m| marked[p0.index()] && m == want)
                .into_iter()
                .map(|(p0, i, _)| (Some(p0), pool.depends(p0)[i]))
                .collect();
        self.print_matched(label, reverse);
        self.i.end();
    }

    fn analyze_package(&mut self, pkg: PkgId, tag: TagId) {
        let pool = self.pool;
        self.label = Some(pool.nv(pkg));
        let p = pool.pkg(pkg);
        if p.uninstallable {
            self.label_start("error:");
            self.i.item("uninstallable");
            self.i.end();
            if let Some(arch) = pool
                .info(pkg)
                .arch
                .as_deref()
                .filter(|a| !pool.arch_compatible(a))
            {
                self.label_start("arch:");
                self.i.item(arch);
                self.i.end();
            }
        }
        self.pinning_errors(pkg, tag);
        self.conflicts(pkg);
        self.deps(pkg, DepMatch::Conflicts);
        if self.label.is_none() {
            self.deps(pkg, DepMatch::Satisfies);
        }
    }

    fn analyze_missing_name(&mut self, name: NameId) {
        let pool = self.pool;
        if !pool.providers(name).is_empty() {
            self.label = Some(format!("{} (virtual)", pool.name(name)));
            self.label_start("note:");
            for w in "please select one of the 'provided by' packages explicitly".split(' ') {
                self.i.item(w);
            }
            self.i.end();
            self.label_start("provided by:");
            for p in pool.providers(name) {
                self.name_state[(pool.pkg(p.pkg).name).index()] += 1;
            }
            for p in pool.providers(name) {
                let n0 = pool.pkg(p.pkg).name;
                let refs = (self.name_state[n0.index()] & STATE_COUNT_MASK) as usize;
                if refs == pool.providers(n0).len() {
                    self.i.item(pool.name(n0));
                    self.name_state[n0.index()] &= !STATE_COUNT_MASK;
                } else if refs > 0 {
                    self.i.item(&pool.nv(p.pkg));
                    self.name_state[n0.index()] -= 1;
                }
            }
            self.i.end();
        } else {
            self.label = Some(format!("{} (no such package)", pool.name(name)));
        }
        self.label_start("required by:");
        for d in self.world {
            if d.name != name || d.conflict {
                continue;
            }
            let t = self.world_dep(d);
            self.i.item(&t);
        }
        let mut visited = std::collections::HashSet::new();
        'names: for &n0 in pool.rdepends(name) {
            for p0 in pool.providers(n0) {
                if !self.marked[p0.pkg.index()] || !visited.insert(p0.pkg) {
                    continue;
                }
                if let Some(d0) = pool
                    .depends(p0.pkg)
                    .iter()
                    .find(|d| d.name == name && !d.conflict)
                {
                    let t = format!("{}[{}]", pool.nv(p0.pkg), pool.dep_string(d0));
                    self.i.item(&t);
                    continue 'names;
                }
            }
        }
        self.i.end();
    }

    fn analyze_deps(&mut self, deps: &[Dep]) {
        for d in deps {
            if d.conflict {
                continue;
            }
            let s = &mut self.name_state[d.name.index()];
            if *s & (STATE_INSTALLIF | STATE_PRESENT | STATE_MISSING) != 0 {
                continue;
            }
            *s |= STATE_MISSING;
            self.analyze_missing_name(d.name);
        }
    }

    fn is_name_concrete(&self, pkg: PkgId, name: NameId) -> bool {
        let p = self.pool.pkg(pkg);
        p.name == name
            || self
                .pool
                .pkg_deps(p)
                .provides
                .iter()
                .any(|d| d.name == name && d.has_version())
    }

    fn discover_name(&mut self, name: NameId, pkg_state: u32) {
        let pool = self.pool;
        for p in pool.providers(name) {
            let pkg = p.pkg;
            if !self.marked[pkg.index()] {
                continue;
            }
            let mut state = pkg_state;
            if (state == STATE_PRESENT || state == STATE_INSTALLIF)
                && pool.pkg(pkg).provider_priority() == 0
                && !self.is_name_concrete(pkg, name)
            {
                state = STATE_VIRTUAL_ONLY;
            }
            if self.pkg_state[pkg.index()] & state != 0 {
                continue;
            }
            self.pkg_state[pkg.index()] |= state;
            let pk = pool.pkg(pkg);
            self.name_state[pk.name.index()] |= state;
            for d in pool.pkg_deps(pk).provides {
                let dep_state = if state == STATE_INSTALLIF && !d.has_version() {
                    STATE_VIRTUAL_ONLY
                } else {
                    state
                };
                self.name_state[d.name.index()] |= dep_state;
            }
            self.discover_deps(pool.pkg_deps(pk).depends);
            if state == STATE_PRESENT || state == STATE_INSTALLIF {
                self.discover_reverse_iif(pk.name);
                for d in pool.pkg_deps(pk).provides {
                    self.discover_reverse_iif(d.name);
                }
            }
        }
    }

    fn discover_deps(&mut self, deps: &[Dep]) {
        for d in deps.iter().filter(|d| !d.conflict) {
            self.discover_name(d.name, STATE_PRESENT);
        }
    }

    fn discover_reverse_iif(&mut self, name: NameId) {
        let pool = self.pool;
        for &n0 in pool.rinstall_if(name) {
            for p in pool.providers(n0) {
                let pk = pool.pkg(p.pkg);
                if !self.marked[p.pkg.index()] || pool.pkg_deps(pk).install_if.is_empty() {
                    continue;
                }
                let ok = pool.pkg_deps(pk).install_if.iter().all(|d| {
                    let present =
                        self.name_state[d.name.index()] & (STATE_PRESENT | STATE_INSTALLIF) != 0;
                    d.conflict != present
                });
                if ok {
                    self.discover_name(pk.name, STATE_INSTALLIF);
                    for d in pool.pkg_deps(pk).provides {
                        self.discover_name(d.name, STATE_INSTALLIF);
                    }
                }
            }
        }
    }
}

/// The `ERROR: unable to select packages:` report, without the `ERROR: ` line itself.
pub fn explain_errors(pool: &Pool, cs: &Changeset, world: &[Dep], width: usize) -> String {
    let mut r = ErrorReport {
        pool,
        world,
        marked: vec![false; pool.packages.len()],
        name_state: vec![0; pool.names.len()],
        pkg_state: vec![0; pool.packages.len()],
        label: None,
        num_labels: 0,
        i: Indent {
            out: String::new(),
            x: 0,
            indent: 0,
            width,
        },
    };
    for c in &cs.changes {
        if let Some(n) = c.new {
            r.marked[n.index()] = true;
        }
    }
    r.discover_deps(world);
    r.analyze_deps(world);
    for c in &cs.changes {
        let Some(pkg) = c.new else { continue };
        r.analyze_package(pkg, c.new_tag);
        let deps = pool.depends(pkg);
        r.analyze_deps(deps);
    }
    if r.num_labels == 0 {
        r.i.out
            .push_str("  Huh? Error reporter did not find the broken constraints.\n");
    }
    r.i.out
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_as_apk_prints_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(9999), "9999 B");
        assert_eq!(human_size(10000), "9 KiB");
        assert_eq!(human_size(6180 * 1024), "6180 KiB");
        assert_eq!(human_size(39_834 * 1024), "38.9 MiB");
    }
}
