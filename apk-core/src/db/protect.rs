//! Protected paths (apk-protected_paths(5)): configuration a user may have changed is
//! not overwritten by an install and not removed by a removal.
//!
//! Rules come from apk's built-in list (`+etc`, `@etc/init.d`, `!etc/apk`), then from
//! `etc/apk/protected_paths.d/*.list` in name order. A rule is a symbol and a glob
//! evaluated relative to the root; it applies to the paths it matches and everything
//! below them, and the last rule that applies wins.

use std::path::Path;

use glob::{MatchOptions, Pattern};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// No rule applies.
    None,
    /// Kept when its checksum differs from the database's (`+`, or no symbol).
    Modified,
    /// Kept when changed; audit looks at symlinks only (`@`).
    SymlinksOnly,
    /// Kept when changed, and every file listed by `audit --backup` (`!`).
    All,
    /// Not protected, and ignored by audit (`-`).
    Ignore,
}

impl Protection {
    /// Whether an install keeps a changed file on disk (and a removal leaves it), as
    /// apk's "protect mode is not none".
    pub fn keeps_changes(self) -> bool {
        !matches!(self, Protection::None | Protection::Ignore)
    }
}

#[derive(Debug, Clone)]
pub struct ProtectedPaths {
    rules: Vec<(Protection, Rule)>,
}

/// A rule's path: most are plain paths, compared without glob matching.
#[derive(Debug, Clone)]
enum Rule {
    Literal(String),
    Glob(Pattern),
}

impl Rule {
    /// When the rule names `path` or one of its parents: the number of components of
    /// the path it names.
    fn depth_applying_to(&self, path: &str) -> Option<usize> {
        let depth = |p: &str| p.split('/').count();
        match self {
            Rule::Literal(lit) => path
                .strip_prefix(lit.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                .then(|| depth(lit)),
            Rule::Glob(pattern) => std::iter::once(path)
                .chain(ancestors(path))
                .find(|p| pattern.matches_with(p, MATCH))
                .map(depth),
        }
    }
}

const BUILT_IN: &str = "+etc\n@etc/init.d\n!etc/apk\n";

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl ProtectedPaths {
    /// No rules at all.
    pub fn empty() -> Self {
        ProtectedPaths { rules: Vec::new() }
    }

    /// Whether `dir` is protected or has a protecting rule somewhere below it (where a
    /// backup audit has to look).
    pub fn has_protected_below(&self, dir: &str) -> bool {
        if self.of(dir).keeps_changes() {
            return true;
        }
        self.rules.iter().any(|(mode, rule)| {
            mode.keeps_changes()
                && match rule {
                    Rule::Literal(lit) => {
                        dir.is_empty()
                            || lit
                                .strip_prefix(dir)
                                .is_some_and(|rest| rest.starts_with('/'))
                    }
                    Rule::Glob(p) => {
                        let depth = dir.split('/').count();
                        dir.is_empty()
                            || p.as_str().split('/').count() > depth
                                && Pattern::new(
                                    &p.as_str()
                                        .split('/')
                                        .take(depth)
                                        .collect::<Vec<_>>()
                                        .join("/"),
                                )
                                .is_ok_and(|q| q.matches_with(dir, MATCH))
                    }
                }
        })
    }

    /// The built-in rules and those of the root's `protected_paths.d`.
    pub fn load(root: &Path) -> Self {
        let mut p = ProtectedPaths { rules: Vec::new() };
        p.add_rules(BUILT_IN);
        let dir = root.join("etc/apk/protected_paths.d");
        let mut lists: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "list"))
                    .collect()
            })
            .unwrap_or_default();
        lists.sort();
        for list in lists {
            if let Ok(text) = std::fs::read_to_string(&list) {
                p.add_rules(&text);
            }
        }
        p
    }

    /// Adds rules, one per line (`#` comments and empty lines skipped; a line without a
    /// symbol is a `+` rule, as apk reads it).
    pub fn add_rules(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            let (mode, rest) = match line.chars().next() {
                None | Some('#') => continue,
                Some('+') => (Protection::Modified, &line[1..]),
                Some('-') => (Protection::Ignore, &line[1..]),
                Some('@') => (Protection::SymlinksOnly, &line[1..]),
                Some('!') => (Protection::All, &line[1..]),
                Some(_) => (Protection::Modified, line),
            };
            let glob = rest.trim_start_matches('/').trim_end_matches('/');
            if !glob.contains(['*', '?', '[']) {
                self.rules.push((mode, Rule::Literal(glob.to_owned())));
            } else if let Ok(pattern) = Pattern::new(glob) {
                self.rules.push((mode, Rule::Glob(pattern)));
            }
        }
    }

    /// How `path` (relative to the root) is protected.
    /// The rule for the deepest matching component wins (a rule for `etc/hosts` beats
    /// one for `etc`, whatever their order); among rules for the same depth, the last.
    pub fn of(&self, path: &str) -> Protection {
        let mut result = Protection::None;
        let mut best = 0;
        for (mode, rule) in &self.rules {
            if let Some(depth) = rule.depth_applying_to(path) {
                if depth >= best {
                    best = depth;
                    result = *mode;
                }
            }
        }
        result
    }
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_and_listed_rules() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/apk/protected_paths.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("a.list"),
            "-etc/hosts\n+usr/share/conf/*.ini\n# comment\nopt/conf\n",
        )
        .unwrap();
        std::fs::write(d.join("b.txt"), "+usr\n").unwrap();
        let p = ProtectedPaths::load(dir.path());
        let cases = [
            ("etc/passwd", Protection::Modified),
            ("etc/ssh/sshd_config", Protection::Modified),
            ("etc/init.d/sshd", Protection::SymlinksOnly),
            ("etc/apk/world", Protection::All),
            ("etc/hosts", Protection::Ignore),
            ("opt/conf/x", Protection::Modified),
            ("usr/share/conf/a.ini", Protection::Modified),
            ("usr/share/conf/sub/a.ini", Protection::None),
            ("usr/bin/sh", Protection::None),
            ("etcetera", Protection::None),
        ];
        for (path, want) in cases {
            assert_eq!(p.of(path), want, "{path}");
        }
    }
}
