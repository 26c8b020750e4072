//! Building a tree of APKBUILDs (`DIR/<repo>/<pkg>/APKBUILD`): the build graph from
//! `depends`/`makedepends`/`checkdepends` against what each build provides (its name,
//! subpackages and `provides`), cycles reported with their members, and a scheduler
//! running independent builds in parallel, skipping builds already in the repository
//! and going on past failures.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::apkbuild::{Apkbuild, Invalid};
use crate::build::{self, Failure, Options};

/// Every `APKBUILD` two levels below `aports`, sorted.
pub fn discover(aports: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    for repo in list(aports) {
        if repo
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        for pkg in list(&repo) {
            if pkg.join("APKBUILD").is_file() {
                out.push(pkg);
            }
        }
    }
    out
}

/// The builds of a tree for one architecture, with their dependencies.
#[derive(Debug, Clone)]
pub struct Graph {
    pub builds: Vec<Apkbuild>,
    /// For each build, the builds it needs first.
    pub deps: Vec<Vec<usize>>,
}

/// Reads every APKBUILD of the tree for `carch` (keeping those built for it) and links
/// them; invalid APKBUILDs are returned beside the graph.
pub fn graph(aports: &Path, carch: &str) -> (Graph, Vec<Invalid>) {
    use rayon::prelude::*;
    let mut builds = Vec::new();
    let mut invalid = Vec::new();
    // Each APKBUILD is sourced by its own shell: read them all in parallel.
    let read: Vec<Result<Apkbuild, Invalid>> = discover(aports)
        .par_iter()
        .map(|dir| Apkbuild::read(dir, carch))
        .collect();
    for r in read {
        match r {
            Ok(b) if b.builds_for(carch) => builds.push(b),
            Ok(_) => {}
            Err(e) => invalid.push(e),
        }
    }
    let mut provider: HashMap<String, usize> = HashMap::new();
    for (i, b) in builds.iter().enumerate() {
        for n in b.provided_names() {
            provider.entry(n).or_insert(i);
        }
    }
    let deps = builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut d: Vec<usize> = b
                .needed_names()
                .iter()
                .filter_map(|n| provider.get(n).copied())
                .filter(|&j| j != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    (Graph { builds, deps }, invalid)
}

impl Graph {
    pub fn name(&self, i: usize) -> String {
        let b = &self.builds[i];
        format!("{}/{}", b.repo, b.pkgname())
    }

    /// The cycles of the graph, each as its members in order.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        // Tarjan's strongly connected components; a component of more than one build,
        // or a build needing itself, is a cycle.
        struct State {
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        fn visit(g: &Graph, v: usize, s: &mut State) {
            s.index[v] = Some(s.next);
            s.low[v] = s.next;
            s.next += 1;
            s.stack.push(v);
            s.on_stack[v] = true;
            for &w in &g.deps[v] {
                match s.index[w] {
                    None => {
                        visit(g, w, s);
                        s.low[v] = s.low[v].min(s.low[w]);
                    }
                    Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(s.low[v]) == s.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.reverse();
                    s.out.push(comp);
                }
            }
        }
        let n = self.builds.len();
        let mut s = State {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if s.index[v].is_none() {
                visit(self, v, &mut s);
            }
        }
        s.out
    }

    /// Builds in an order where each comes after what it needs (cycles left out).
    pub fn order(&self) -> Vec<usize> {
        let in_cycle: Vec<bool> = {
            let mut v = vec![false; self.builds.len()];
            for c in self.cycles() {
                for i in c {
                    v[i] = true;
                }
            }
            v
        };
        let mut done = vec![false; self.builds.len()];
        let mut out = Vec::new();
        fn visit(g: &Graph, i: usize, done: &mut [bool], skip: &[bool], out: &mut Vec<usize>) {
            if done[i] || skip[i] {
                return;
            }
            done[i] = true;
            for &d in &g.deps[i] {
                visit(g, d, done, skip, out);
            }
            out.push(i);
        }
        for i in 0..self.builds.len() {
            visit(self, i, &mut done, &in_cycle, &mut out);
        }
        out
    }
}

/// How each build of a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Built(usize),
    /// The exact version is already in the repository.
    Skipped,
    Failed(String),
    /// Not attempted: a build it needs failed or is in a cycle.
    Blocked(String),
}

/// The result of a run over a tree for one architecture.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub outcomes: BTreeMap<String, Outcome>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Failed(_) | Outcome::Blocked(_)))
            .count()
    }
}

/// True when every package file of the build is already in the repository.
fn already_built(b: &Apkbuild, opts: &Options) -> bool {
    let dir = opts.repodest.join(&b.repo).join(&opts.carch);
    let v = b.full_version();
    std::iter::once(b.pkgname().to_owned())
        .chain(b.subpackages().into_iter().map(|s| s.name))
        .all(|n| dir.join(format!("{n}-{v}.apk")).is_file())
}

/// Builds the graph with `jobs` builds at a time. The architecture's index of each
/// repository is rebuilt and signed after every build that wrote into it.
pub fn run(g: &Graph, opts: &Options, jobs: usize, log: &(dyn Fn(&str) + Sync)) -> Report {
    let n = g.builds.len();
    let mut report = Report::default();
    let mut blocked = vec![None::<String>; n];
    for c in g.cycles() {
        let names: Vec<String> = c.iter().map(|&i| g.name(i)).collect();
        for &i in &c {
            blocked[i] = Some(format!("dependency cycle: {}", names.join(" -> ")));
        }
    }
    struct Shared {
        waiting: Vec<usize>,
        state: Vec<Option<Outcome>>,
        running: usize,
    }
    let mut waiting_on = vec![0usize; n];
    for (i, d) in g.deps.iter().enumerate() {
        waiting_on[i] = d.len();
    }
    let shared = Mutex::new(Shared {
        waiting: waiting_on,
        state: blocked
            .iter()
            .map(|b| b.clone().map(Outcome::Blocked))
            .collect(),
        running: 0,
    });
    let wake = Condvar::new();
    // Each repository's index, kept between builds; the lock also orders the writes.
    let indexes: Mutex<HashMap<PathBuf, build::IndexState>> = Mutex::new(HashMap::new());
    let key = apk_format::sign::PrivateKey::load(&opts.sign_key).map_err(|e| e.to_string());
    let dependents: Vec<Vec<usize>> = {
        let mut v = vec![Vec::new(); n];
        for (i, d) in g.deps.iter().enumerate() {
            for &j in d {
                v[j].push(i);
            }
        }
        v
    };

    let worker = || loop {
        let next = {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let ready = (0..n).find(|&i| s.state[i].is_none() && s.waiting[i] == 0);
                if let Some(i) = ready {
                    s.state[i] = Some(Outcome::Skipped); // placeholder: taken
                    s.running += 1;
                    break Some(i);
                }
                if s.running == 0 {
                    break None;
                }
                s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(i) = next else {
            wake.notify_all();
            return;
        };
        let b = &g.builds[i];
        let outcome = if already_built(b, opts) {
            log(&format!(
                ">>> {}: {} already built, skipped",
                g.name(i),
                b.full_version()
            ));
            Outcome::Skipped
        } else {
            log(&format!(
                ">>> {}: building {} for {}",
                g.name(i),
                b.full_version(),
                opts.carch
            ));
            match build::build(b, opts) {
                Ok(built) => {
                    let dir = opts.repodest.join(&b.repo).join(&opts.carch);
                    let description = build::index_description(&b.repo, &b.startdir);
                    let mut all = indexes.lock().unwrap_or_else(|e| e.into_inner());
                    let indexed = match (all.get_mut(&dir), &key) {
                        (_, Err(m)) => Err(Failure(m.clone())),
                        (Some(state), Ok(key)) => state
                            .add(&built.packages)
                            .and_then(|()| state.write(&dir, &description, key)),
                        (None, Ok(key)) => build::IndexState::load(&dir).and_then(|state| {
                            state.write(&dir, &description, key)?;
                            all.insert(dir.clone(), state);
                            Ok(())
                        }),
                    };
                    match indexed {
                        Ok(()) => Outcome::Built(built.packages.len()),
                        Err(Failure(m)) => Outcome::Failed(format!("index: {m}")),
                    }
                }
                Err(Failure(m)) => Outcome::Failed(m),
            }
        };
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.running -= 1;
        let ok = matches!(outcome, Outcome::Built(_) | Outcome::Skipped);
        s.state[i] = Some(outcome);
        // Dependents either move closer to ready or cannot be built.
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for &d in &dependents[j] {
                if ok && j == i {
                    s.waiting[d] = s.waiting[d].saturating_sub(1);
                } else if s.state[d].is_none() {
                    s.state[d] = Some(Outcome::Blocked(format!(
                        "needs {}, which failed",
                        g.name(i)
                    )));
                    stack.push(d);
                }
            }
        }
        wake.notify_all();
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(worker);
        }
    });
    let s = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    let ok = |o: &Option<Outcome>| matches!(o, Some(Outcome::Built(_) | Outcome::Skipped));
    for (i, o) in s.state.iter().enumerate() {
        let o = o.clone().unwrap_or_else(|| {
            let missing: Vec<String> = g.deps[i]
                .iter()
                .filter(|&&d| !ok(&s.state[d]))
                .map(|&d| g.name(d))
                .collect();
            Outcome::Blocked(format!(
                "needs {}, which could not be built",
                missing.join(", ")
            ))
        });
        report.outcomes.insert(g.name(i), o);
    }
    report
}
