//! apk-tools' configuration folders: `etc/apk/NAME.d` over `lib/apk/NAME.d` (the
//! system's defaults, which a file of the same name under `etc` replaces), read in
//! name order, hidden files left out. Repositories (`repositories.d/*.list`) and
//! commit hooks (`commit_hooks.d/*`) come from them.

use std::path::{Path, PathBuf};

/// The files of the folders `dirs` (relative to `root`, the first winning for a name
/// found in several) that `keep` accepts, sorted by name; each as its path relative
/// to `root`.
pub fn files(root: &Path, dirs: &[&str], keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut here: Vec<(String, PathBuf)> = Vec::new();
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !keep(&name) {
                continue;
            }
            if found.iter().any(|(n, _)| *n == name) {
                continue;
            }
            here.push((name.clone(), Path::new(dir).join(&name)));
        }
        found.extend(here);
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// `repositories.d`'s lists: `*.list` files.
pub fn repository_lists(root: &Path) -> Vec<PathBuf> {
    files(
        root,
        &["etc/apk/repositories.d", "lib/apk/repositories.d"],
        |n| n.ends_with(".list"),
    )
}

/// The commit hooks.
pub fn commit_hooks(root: &Path) -> Vec<PathBuf> {
    files(
        root,
        &["etc/apk/commit_hooks.d", "lib/apk/commit_hooks.d"],
        |_| true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etc_replaces_lib_and_names_sort_across_folders() {
        let t = tempfile::tempdir().unwrap();
        for (d, f) in [
            ("etc/apk/repositories.d", "b.list"),
            ("etc/apk/repositories.d", ".hidden.list"),
            ("etc/apk/repositories.d", "notes.txt"),
            ("lib/apk/repositories.d", "a.list"),
            ("lib/apk/repositories.d", "b.list"),
        ] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
            std::fs::write(t.path().join(d).join(f), "x").unwrap();
        }
        assert_eq!(
            repository_lists(t.path()),
            vec![
                PathBuf::from("lib/apk/repositories.d/a.list"),
                PathBuf::from("etc/apk/repositories.d/b.list"),
            ]
        );
    }
}
