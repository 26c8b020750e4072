//! Matching packages against queries, and serialising what is asked of them, as
//! apk-tools 3's query engine does.

use std::collections::HashSet;

use apk_core::db::Database;
use apk_core::pool::DepMatch;
use apk_core::pool::{Dep, NameId, PkgId, Pool};
use apk_core::solver::{self, flags, Request};
use apk_format::dep::{Dependency, Op};

use super::{Field, Fields, Spec};
use crate::output::serialize::Serializer;

/// One answer to a query: the target of a symlink it was resolved through
/// (who-owns), the package (none: nothing matched).
#[derive(Debug, Clone, Default)]
pub struct Match {
    /// For a query nothing matched: the query (its name part).
    pub query: Option<String>,
    pub path_target: Option<String>,
    pub pkg: Option<PkgId>,
}

/// `*`/`?` patterns, compared without case as fnmatch(FNM_CASEFOLD) does. Linear in
/// the text for each `*` (no backtracking blow-up).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Exact,
    Wildcard,
}

/// What one query matches against.
struct Term {
    mode: Mode,
    /// The query as given: package names are compared with it (so, as in apk-tools,
    /// `foo>1` names no package by name), wildcards too.
    full: String,
    /// The name part (`foo` of `foo>1`): other fields' values are compared with it.
    pattern: String,
    /// The version constraint given with the name (`foo>1.0`).
    op: Op,
    version: String,
}

impl Term {
    /// A package name against the query.
    fn matches_name(&self, value: &str) -> bool {
        match self.mode {
            Mode::Exact => value == self.full,
            Mode::Wildcard => wildcard_match(&self.full, value),
        }
    }

    /// Another field's value against the query.
    fn matches(&self, value: &str) -> bool {
        match self.mode {
            Mode::Exact => value == self.pattern,
            Mode::Wildcard => wildcard_match(&self.full, value),
        }
    }

    fn version_ok(&self, version: &str) -> bool {
        self.op.is_any() || self.op.matches(version, &self.version)
    }
}

/// The query engine over an open database.
pub struct Engine<'a> {
    pub db: &'a Database,
    pub spec: &'a Spec,
    /// `--recursive`: the packages the solver chose (see [`solve_recursive`]).
    solved: Vec<PkgId>,
    installed: std::cell::OnceCell<Option<apk_core::db::state::Installed>>,
}

/// Packages of `name` itself (not those providing it).
fn own_packages(pool: &Pool, name: NameId) -> impl Iterator<Item = PkgId> + '_ {
    pool.providers(name)
        .iter()
        .filter(move |p| p.via().is_none() && pool.pkg(p.pkg).name == name)
        .map(|p| p.pkg)
}

/// Whether an upgrade would replace the installed package of `pkg`'s name by `pkg`.
pub fn upgradable(pool: &Pool, pkg: PkgId) -> bool {
    let p = pool.pkg(pkg);
    let Some(inst) = own_packages(pool, p.name).find(|&q| pool.pkg(q).installed().is_some()) else {
        return false;
    };
    let tag = pool.pkg(inst).installed().unwrap_or_default();
    if p.repos & pool.tags[tag.index()].allowed_repos == 0 {
        return false;
    }
    apk_format::version::compare(pool.version(inst), pool.pkg_version(p))
        == std::cmp::Ordering::Less
}

/// Whether some repository has a package of `name`, or one providing it.
fn has_repository_providers(pool: &Pool, name: NameId) -> bool {
    let repo_mask = !apk_core::pool::RepoId::CACHED.bit();
    pool.providers(name)
        .iter()
        .any(|p| pool.pkg(p.pkg).repos & repo_mask != 0)
}

/// apk's display order: by name, then version.
pub fn sort_packages(pool: &Pool, pkgs: &mut [PkgId]) {
    pkgs.sort_by(|&a, &b| {
        let (pa, pb) = (pool.pkg(a), pool.pkg(b));
        pool.name(pa.name)
            .cmp(pool.name(pb.name))
            .then_with(|| apk_format::version::compare(pool.pkg_version(pa), pool.pkg_version(pb)))
    });
}

impl<'a> Engine<'a> {
    /// The engine; `solved` holds what [`solve_recursive`] found for a recursive query.
    pub fn new(db: &'a Database, spec: &'a Spec, solved: Vec<PkgId>) -> Self {
        Engine {
            db,
            spec,
            solved,
            installed: std::cell::OnceCell::new(),
        }
    }

    fn pool(&self) -> &'a Pool {
        &self.db.pool
    }

    /// Which installed package owns `path` (a file or a folder).
    pub fn owner(&self, path: &str) -> Option<PkgId> {
        let rel = path.trim_start_matches('/').trim_end_matches('/');
        // A folder's owner first, as apk-tools looks it up.
        if let Some(o) = self.installed_state().and_then(|s| s.dir_owner(rel)) {
            let name = self.pool().find_name(&o.info.name);
            if let Some(p) = name.and_then(|n| self.pool().installed_of(n)) {
                return Some(p);
            }
        }
        let mut dir_owner = None;
        for (&pkg, files) in &self.db.installed_files {
            for (d, f) in files {
                let full = if d.is_empty() {
                    f.clone()
                } else {
                    format!("{d}/{f}")
                };
                if full == rel {
                    return Some(pkg);
                }
                if d == rel && dir_owner.is_none() {
                    dir_owner = Some(pkg);
                }
            }
        }
        dir_owner
    }

    /// `who-owns`: the owner of `path`, or of what it links to (absolute links).
    pub fn who_owns(&self, path: &str) -> Match {
        let mut m = Match {
            pkg: self.owner(path),
            ..Match::default()
        };
        if m.pkg.is_none() {
            let link = std::fs::read_link(self.db.root.join(path.trim_start_matches('/')));
            if let Ok(t) = link {
                let t = t.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    m.pkg = self.owner(&t);
                    if m.pkg.is_some() {
                        m.path_target = Some(t);
                    }
                }
            }
        }
        m
    }

    /// Every match of `args`, given to `found` in apk-tools' order; returns the number
    /// of exact queries that matched nothing, or `Err` with what failed (already
    /// reported).
    pub fn matches(&self, args: &[String], found: &mut dyn FnMut(&Match)) -> u32 {
        let spec = self.spec;
        let pool = self.pool();
        let mut match_fields = if spec.match_fields.is_empty() {
            Fields::of(&[Field::Name])
        } else {
            spec.match_fields
        };
        if spec.empty_matches_all && args.is_empty() {
            match_fields = Fields::default();
            let term = Term {
                mode: Mode::Exact,
                full: String::new(),
                pattern: String::new(),
                op: Op::ANY,
                version: String::new(),
            };
            let mut names: Vec<NameId> = NameId::all(pool.names.len()).collect();
            names.sort_by(|&a, &b| pool.name(a).cmp(pool.name(b)));
            let mut any = false;
            for name in names {
                self.match_name(name, &term, match_fields, &mut any, found);
            }
            return 0;
        }
        if spec.recursive {
            for &p in &self.solved {
                found(&Match {
                    pkg: Some(p),
                    ..Match::default()
                });
            }
            return 0;
        }
        let mut no_matches = 0;
        for arg in args {
            let mut any = false;
            if match_fields.has(Field::Owner) && arg.starts_with('/') {
                let m = self.who_owns(arg);
                if m.pkg.is_some() {
                    found(&m);
                    any = true;
                }
            }
            let term = if spec.search {
                Term {
                    mode: Mode::Wildcard,
                    full: format!("*{arg}*"),
                    pattern: format!("*{arg}*"),
                    op: Op::ANY,
                    version: String::new(),
                }
            } else {
                let mode = if arg.contains(['?', '*']) {
                    Mode::Wildcard
                } else {
                    Mode::Exact
                };
                match Dependency::parse(arg) {
                    Ok(d) if !d.conflict && d.tag.is_none() => Term {
                        mode,
                        full: arg.clone(),
                        pattern: d.name,
                        op: d.op,
                        version: d.version,
                    },
                    _ => Term {
                        mode,
                        full: arg.clone(),
                        pattern: arg.clone(),
                        op: Op::ANY,
                        version: String::new(),
                    },
                }
            };
            // Without --all-matches only the best package of each name is reported.
            let mut visit = |name: NameId, any: &mut bool| {
                if spec.all_matches {
                    self.match_name(name, &term, match_fields, any, found);
                } else if let Some(b) = self.best_in_name(name, &term, match_fields, any) {
                    found(&Match {
                        pkg: Some(b),
                        ..Match::default()
                    });
                }
            };
            if match_fields == Fields::of(&[Field::Name]) && term.mode == Mode::Exact {
                if let Some(name) = pool.find_name(&term.pattern) {
                    visit(name, &mut any);
                }
            } else {
                let mut names: Vec<NameId> = NameId::all(pool.names.len()).collect();
                names.sort_by(|&a, &b| pool.name(a).cmp(pool.name(b)));
                for name in names {
                    visit(name, &mut any);
                }
            }
            if !any {
                found(&Match {
                    query: Some(term.pattern.clone()),
                    ..Match::default()
                });
                if term.mode == Mode::Exact {
                    no_matches += 1;
                }
            }
        }
        no_matches
    }

    /// The best package of `name` matching `term`: an installed one, else the newest.
    fn best_in_name(
        &self,
        name: NameId,
        term: &Term,
        match_fields: Fields,
        any: &mut bool,
    ) -> Option<PkgId> {
        let pool = self.pool();
        let mut best: Option<PkgId> = None;
        self.match_name(name, term, match_fields, any, &mut |m: &Match| {
            let Some(p) = m.pkg else { return };
            if best == Some(p) {
                return;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    pool.pkg(p).installed().is_some()
                        || apk_format::version::compare(pool.version(p), pool.version(b))
                            == std::cmp::Ordering::Greater
                }
            };
            if better {
                best = Some(p);
            }
        });
        best
    }

    /// The packages of `name` that match `term` by name, or by one of the other
    /// `match_fields`.
    fn match_name(
        &self,
        name: NameId,
        term: &Term,
        match_fields: Fields,
        any: &mut bool,
        found: &mut dyn FnMut(&Match),
    ) {
        let spec = self.spec;
        let pool = self.pool();
        if spec.orphaned && has_repository_providers(pool, name) {
            return;
        }
        let name_match = match_fields.has(Field::Name) && term.matches_name(pool.name(name));
        let other_fields = match_fields.without(Field::Name);
        if !match_fields.is_empty() && !name_match && other_fields.is_empty() {
            return;
        }
        for pkg in own_packages(pool, name) {
            let p = pool.pkg(pkg);
            if spec.installed && p.installed().is_none() {
                continue;
            }
            if spec.available && !pool.pkg_available(pkg) {
                continue;
            }
            if spec.upgradable && !upgradable(pool, pkg) {
                continue;
            }
            let m = Match {
                pkg: Some(pkg),
                ..Match::default()
            };
            if match_fields.is_empty() || (name_match && term.version_ok(pool.pkg_version(p))) {
                *any = true;
                found(&m);
                if !spec.all_matches {
                    continue;
                }
            }
            if other_fields.is_empty() {
                continue;
            }
            let mut done = false;
            for hit in self.field_hits(pkg, other_fields, term) {
                if done {
                    break;
                }
                if hit {
                    *any = true;
                    found(&m);
                    done = !spec.all_matches;
                }
            }
        }
    }

    /// For each value of `fields` of `pkg` (in serialisation order), whether it matches
    /// `term`.
    fn field_hits(&self, pkg: PkgId, fields: Fields, term: &Term) -> Vec<bool> {
        let pool = self.pool();
        let p = pool.pkg(pkg);
        let info = pool.info(pkg);
        let mut hits = Vec::new();
        let text = |f: Field, v: Option<&str>, hits: &mut Vec<bool>| {
            if fields.has(f) {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    hits.push(term.matches(v));
                }
            }
        };
        text(Field::Package, Some(&pool.nv(pkg)), &mut hits);
        text(Field::Version, Some(pool.pkg_version(p)), &mut hits);
        text(Field::Description, info.description.as_deref(), &mut hits);
        text(Field::Arch, info.arch.as_deref(), &mut hits);
        text(Field::License, info.license.as_deref(), &mut hits);
        text(Field::Origin, info.origin.as_deref(), &mut hits);
        text(Field::Maintainer, info.maintainer.as_deref(), &mut hits);
        text(Field::Url, info.url.as_deref(), &mut hits);
        let deps = pool.pkg_deps(p);
        let dep_hits = |f: Field, list: &[Dep], provides: bool, hits: &mut Vec<bool>| {
            if !fields.has(f) {
                return;
            }
            for d in list {
                if !term.matches(pool.name(d.name)) {
                    continue;
                }
                if !term.op.is_any() {
                    let v = pool.dep_version(d).unwrap_or("");
                    if provides {
                        // apk-tools compares the other way round here: the query's
                        // version against the provided one.
                        if !term.op.matches(&term.version, v) {
                            continue;
                        }
                    } else if d.op != term.op || v != term.version {
                        continue;
                    }
                }
                hits.push(true);
            }
        };
        dep_hits(Field::Depends, deps.depends, false, &mut hits);
        dep_hits(Field::Provides, deps.provides, true, &mut hits);
        dep_hits(Field::InstallIf, deps.install_if, false, &mut hits);
        if fields.has(Field::Recommends) {
            for d in &info.recommends {
                if term.matches(&d.name)
                    && (term.op.is_any()
                        || (d.op == term.op && d.version.as_str() == term.version.as_str()))
                {
                    hits.push(true);
                }
            }
        }
        if fields.has(Field::Tags) {
            for t in &info.tags {
                hits.push(term.matches(t));
            }
        }
        if p.installed().is_some() {
            if fields.has(Field::Contents) {
                for path in self.contents(pkg) {
                    hits.push(term.matches(&path));
                }
            }
            dep_hits(Field::Replaces, deps.replaces, false, &mut hits);
        }
        hits
    }

    /// The matching packages, each once, in display order.
    pub fn packages(&self, args: &[String]) -> (Vec<PkgId>, u32) {
        let mut seen = HashSet::new();
        let mut pkgs = Vec::new();
        let misses = self.matches(args, &mut |m| {
            if let Some(p) = m.pkg {
                if seen.insert(p) {
                    pkgs.push(p);
                }
            }
        });
        sort_packages(self.pool(), &mut pkgs);
        (pkgs, misses)
    }

    /// The installed files of `pkg`, as paths.
    pub fn contents(&self, pkg: PkgId) -> Vec<String> {
        self.db
            .installed_files
            .get(&pkg)
            .map(|files| {
                files
                    .iter()
                    .map(|(d, f)| {
                        if d.is_empty() {
                            f.clone()
                        } else {
                            format!("{d}/{f}")
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn installed_state(&self) -> Option<&apk_core::db::state::Installed> {
        self.installed
            .get_or_init(|| apk_core::db::state::Installed::load(&self.db.root).ok())
            .as_ref()
    }

    /// The reverse dependencies of `pkg`, named by `spec.revdeps_field`, each once.
    fn rev_depends(&self, pkg: PkgId) -> Vec<String> {
        self.name_revdeps(self.rev_depends_pkgs(pkg).into_iter())
    }

    fn rev_depends_pkgs(&self, pkg: PkgId) -> Vec<PkgId> {
        let pool = self.pool();
        let installed_only = self.spec.revdeps_installed;
        let deps =
            apk_core::solver::report::reverse_dependents(pool, pkg, installed_only, |_, d, m| {
                m == DepMatch::Satisfies && !d.conflict
            });
        let mut out: Vec<PkgId> = Vec::new();
        for (p0, _, _) in deps {
            if !out.contains(&p0) {
                out.push(p0);
            }
        }
        out
    }

    fn name_revdeps(&self, pkgs: impl Iterator<Item = PkgId>) -> Vec<String> {
        let pool = self.pool();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p0 in pkgs {
            let text = match self.spec.revdeps_field {
                Some(Field::Package) => pool.nv(p0),
                Some(Field::Origin) => match pool.info(p0).origin.as_deref() {
                    Some(o) if !o.is_empty() => o.to_owned(),
                    _ => continue,
                },
                _ => pool.name(pool.pkg(p0).name).to_owned(),
            };
            if seen.insert(text.clone()) {
                out.push(text);
            }
        }
        out
    }

    /// The packages whose install_if names `pkg` (satisfied by it), named as
    /// [`Engine::rev_depends`] names them.
    fn rev_install_if(&self, pkg: PkgId) -> Vec<String> {
        self.name_revdeps(self.rev_install_if_pkgs(pkg).into_iter())
    }

    fn rev_install_if_pkgs(&self, pkg: PkgId) -> Vec<PkgId> {
        let pool = self.pool();
        let p = pool.pkg(pkg);
        let mut list = Vec::new();
        for &n0 in pool.rinstall_if(p.name) {
            for prov in pool.providers(n0) {
                let p0 = prov.pkg;
                if self.spec.revdeps_installed && pool.pkg(p0).installed().is_none() {
                    continue;
                }
                for d in pool.pkg_deps(pool.pkg(p0)).install_if {
                    if d.conflict {
                        continue;
                    }
                    if pool.dep_analyze(Some(p0), d, pkg) == DepMatch::Satisfies
                        && !list.contains(&p0)
                    {
                        list.push(p0);
                    }
                }
            }
        }
        list
    }

    /// Writes the asked fields of `pkg` into `ser` (inside an object); returns whether
    /// a field could not be given (apk-tools then exits with 1).
    pub fn serialize(&self, ser: &mut dyn Serializer, pkg: PkgId, fields: Fields) -> bool {
        let pool = self.pool();
        let p = pool.pkg(pkg);
        let info = pool.info(pkg);
        let mut partial = false;
        let text = |ser: &mut dyn Serializer, f: Field, v: Option<&str>| {
            if fields.has(f) {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    ser.key(f.key());
                    ser.string(v, false);
                }
            }
        };
        let num = |ser: &mut dyn Serializer, f: Field, v: u64| {
            if fields.has(f) && v != 0 {
                ser.key(f.key());
                ser.numeric(v);
            }
        };
        let list = |ser: &mut dyn Serializer, f: Field, items: &[String], always: bool| {
            if fields.has(f) && (always || !items.is_empty()) {
                ser.key(f.key());
                ser.start_array(Some(items.len()));
                for i in items {
                    ser.string(i, false);
                }
                ser.end();
            }
        };
        let deps =
            |list: &[Dep]| -> Vec<String> { list.iter().map(|d| pool.dep_string(d)).collect() };
        text(ser, Field::Package, Some(&pool.nv(pkg)));
        text(ser, Field::Name, Some(pool.name(p.name)));
        text(ser, Field::Version, Some(pool.pkg_version(p)));
        if fields.has(Field::Hash) {
            partial = true;
        }
        text(ser, Field::Description, info.description.as_deref());
        text(ser, Field::Arch, info.arch.as_deref());
        text(ser, Field::License, info.license.as_deref());
        text(ser, Field::Origin, info.origin.as_deref());
        text(ser, Field::Maintainer, info.maintainer.as_deref());
        text(ser, Field::Url, info.url.as_deref());
        text(ser, Field::Commit, info.commit.as_deref());
        num(ser, Field::BuildTime, info.build_time.unwrap_or(0));
        num(ser, Field::InstalledSize, pool.installed_size(pkg));
        num(ser, Field::FileSize, info.size.unwrap_or(0));
        num(
            ser,
            Field::ProviderPriority,
            u64::from(p.provider_priority()),
        );
        let d = pool.pkg_deps(p);
        list(ser, Field::Depends, &deps(d.depends), false);
        list(ser, Field::Provides, &deps(d.provides), false);
        list(ser, Field::InstallIf, &deps(d.install_if), false);
        let recommends: Vec<String> = info.recommends.iter().map(|d| d.to_string()).collect();
        list(ser, Field::Recommends, &recommends, false);
        list(ser, Field::Tags, &info.tags, false);
        if fields.has(Field::Repositories) {
            ser.key(Field::Repositories.key());
            ser.start_array(None);
            if p.installed().is_some() {
                ser.string("lib/apk/db/installed", false);
            }
            for (i, r) in pool.repos.iter().enumerate() {
                let id = apk_core::pool::RepoId::new(i);
                if id != apk_core::pool::RepoId::CACHED && p.repos & id.bit() != 0 {
                    ser.string(&r.url, false);
                }
            }
            ser.end();
        }
        if fields.has(Field::DownloadUrl) {
            if let Some(url) = self.download_url(pkg) {
                ser.key(Field::DownloadUrl.key());
                ser.string(&url, false);
            }
        }
        if fields.has(Field::RevDepends) {
            let l = self.rev_depends(pkg);
            ser.key(Field::RevDepends.key());
            ser.start_array(None);
            for i in &l {
                ser.string(i, false);
            }
            ser.end();
        }
        if fields.has(Field::RevInstallIf) {
            let l = self.rev_install_if(pkg);
            ser.key(Field::RevInstallIf.key());
            ser.start_array(None);
            for i in &l {
                ser.string(i, false);
            }
            ser.end();
        }
        if p.installed().is_none() {
            return partial || (fields.0 & Fields::only_installed().0) != 0;
        }
        if fields.has(Field::Contents) {
            let c = self.contents(pkg);
            ser.key(Field::Contents.key());
            ser.start_array(None);
            for i in &c {
                ser.string(i, false);
            }
            ser.end();
        }
        let name = pool.name(p.name);
        if fields.has(Field::Triggers) {
            let t: Vec<String> = self
                .installed_state()
                .and_then(|s| s.triggers.get(name).cloned())
                .unwrap_or_default();
            list(ser, Field::Triggers, &t, false);
        }
        if fields.has(Field::Scripts) {
            let have: Vec<String> = self
                .installed_state()
                .and_then(|s| s.scripts.get(name))
                .map(|l| {
                    apk_core::db::state::SCRIPT_ORDER
                        .iter()
                        .filter(|a| l.iter().any(|(x, _)| x == *a))
                        .map(|a| (*a).to_owned())
                        .collect()
                })
                .unwrap_or_default();
            list(ser, Field::Scripts, &have, false);
        }
        num(
            ser,
            Field::ReplacesPriority,
            u64::from(info.replaces_priority.unwrap_or(0)),
        );
        list(ser, Field::Replaces, &deps(d.replaces), false);
        if fields.has(Field::Status) {
            ser.key(Field::Status.key());
            ser.start_array(None);
            ser.string("installed", false);
            let flags: String = info
                .extra
                .iter()
                .filter(|(l, _)| *l == b'f')
                .map(|(_, v)| v.as_str())
                .collect();
            for (c, word) in [
                ('f', "broken-files"),
                ('s', "broken-script"),
                ('x', "broken-xattr"),
            ] {
                if flags.contains(c) {
                    ser.string(word, false);
                }
            }
            ser.end();
        }
        partial
    }

    /// What `--summarize` collects of `pkg` for its one field: names (name, origin,
    /// dependency names, reverse dependencies by name or origin) or packages.
    pub fn summarize_into(
        &self,
        pkg: PkgId,
        field: Fields,
        names: &mut Vec<String>,
        pkgs: &mut Vec<PkgId>,
    ) {
        let pool = self.pool();
        let p = pool.pkg(pkg);
        let dep_names = |list: &[Dep], names: &mut Vec<String>| {
            for d in list.iter().filter(|d| !d.conflict) {
                names.push(pool.name(d.name).to_owned());
            }
        };
        let d = pool.pkg_deps(p);
        if field.has(Field::Package) {
            pkgs.push(pkg);
        } else if field.has(Field::Name) {
            names.push(pool.name(p.name).to_owned());
        } else if field.has(Field::Origin) {
            if let Some(o) = pool.info(pkg).origin.as_deref().filter(|o| !o.is_empty()) {
                names.push(o.to_owned());
            }
        } else if field.has(Field::Depends) {
            dep_names(d.depends, names);
        } else if field.has(Field::Provides) {
            dep_names(d.provides, names);
        } else if field.has(Field::InstallIf) {
            dep_names(d.install_if, names);
        } else if field.has(Field::Replaces) {
            if p.installed().is_some() {
                dep_names(d.replaces, names);
            }
        } else if field.has(Field::RevDepends) || field.has(Field::RevInstallIf) {
            let list = if field.has(Field::RevDepends) {
                self.rev_depends_pkgs(pkg)
            } else {
                self.rev_install_if_pkgs(pkg)
            };
            match self.spec.revdeps_field {
                Some(Field::Package) => pkgs.extend(list),
                Some(Field::Origin) => names.extend(
                    list.into_iter()
                        .filter_map(|p0| pool.info(p0).origin.clone())
                        .filter(|o| !o.is_empty()),
                ),
                _ => names.extend(
                    list.into_iter()
                        .map(|p0| pool.name(pool.pkg(p0).name).to_owned()),
                ),
            }
        }
    }

    fn download_url(&self, pkg: PkgId) -> Option<String> {
        download_url(self.pool(), pkg)
    }
}

/// Where `pkg` would be downloaded from: the first usable repository holding it
/// (local ones first), as apk-tools picks it.
pub fn download_url(pool: &Pool, pkg: PkgId) -> Option<String> {
    let p = pool.pkg(pkg);
    let cached = apk_core::pool::RepoId::CACHED.bit();
    let mut repos = p.repos & pool.available_repos & !cached;
    let local: u64 = pool
        .repos
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.remote)
        .fold(0, |m, (i, _)| m | (1 << i));
    if repos & local != 0 {
        repos &= local;
    }
    let i = (0..64).find(|i| repos & (1 << i) != 0)?;
    apk_core::commit::package_url(pool, i, pkg, &pool.arches[0]).ok()
}

/// What a query's `--recursive` solve chose (nothing without it), errors reported.
///
/// `Ok(None)` when the request cannot be solved (the solver's errors are printed): the
/// applets then go on with nothing matched, each with its own exit status, as
/// apk-tools' do.
pub fn solved_for(
    db: &mut Database,
    spec: &Spec,
    args: &[String],
) -> Result<Option<Vec<PkgId>>, u32> {
    if spec.recursive {
        solve_recursive(db, spec, args)
    } else {
        Ok(Some(Vec::new()))
    }
}

/// For the applets that match every name when given none (`list`, `dot`): with
/// `--recursive` (or `--world`) and arguments, what the request solves to, in the
/// order of its changes (empty when it does not solve, its errors printed);
/// otherwise `None`, the arguments matched as usual.
pub fn recursive_matches(
    db: &mut Database,
    spec: &Spec,
    args: &[String],
) -> Result<Option<Vec<PkgId>>, u32> {
    if !spec.recursive || args.is_empty() {
        return Ok(None);
    }
    Ok(Some(solve_recursive(db, spec, args)?.unwrap_or_default()))
}

/// `--recursive`: what the queries (and the world, with `--world`) need, solved as
/// an installation would be.
fn solve_recursive(
    db: &mut Database,
    spec: &Spec,
    args: &[String],
) -> Result<Option<Vec<PkgId>>, u32> {
    let mut world: Vec<Dep> = Vec::new();
    if spec.world {
        for d in &db.world {
            world.push(db.pool.intern_dep(d));
        }
    }
    let mut names = Vec::new();
    for arg in args {
        match Dependency::parse(arg) {
            Ok(d) => {
                let dep = db.pool.intern_dep(&d);
                names.push(dep.name);
                world.push(dep);
            }
            Err(_) => {
                crate::context::error(format!(
                    "'{arg}' is not a valid world dependency, format is name(@tag)([<>~=]version)"
                ));
                return Err(1);
            }
        }
    }
    let mut req = Request {
        world: world.clone(),
        flags: flags::IGNORE_CONFLICT | flags::AVAILABLE.when(spec.available),
        ..Request::default()
    };
    if spec.auto_select_virtual {
        req.auto_select_virtual = names;
    }
    let cs = solver::solve(&db.pool, &mut req);
    if cs.errors > 0 {
        crate::commands::solution::print_errors(db, &cs, &world);
        return Ok(None);
    }
    Ok(Some(cs.changes.iter().filter_map(|c| c.new).collect()))
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_as_fnmatch_without_case() {
        assert!(wildcard_match("*lib*", "demo-LIB"));
        assert!(wildcard_match("d?mo", "demo"));
        assert!(!wildcard_match("d?mo", "dmo"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "ac"));
        // Many stars stay linear.
        let pattern = "*a".repeat(30);
        assert!(!wildcard_match(&pattern, &"a".repeat(29)));
        assert!(wildcard_match(&pattern, &"ba".repeat(30)));
    }
}
