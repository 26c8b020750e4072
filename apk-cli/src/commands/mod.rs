//! One module per applet, named after it: its clap arguments (`Args`) and `run`.

pub mod adbdump;
pub mod adbgen;
pub mod adbsign;
pub mod add;
pub mod audit;
pub mod cache;
pub mod convdb;
pub mod convndx;
pub mod del;
pub mod dot;
pub mod extract;
pub mod fetch;
pub mod fix;
pub mod index;
pub mod info;
pub mod list;
pub mod manifest;
pub mod mkndx;
pub mod mkpkg;
pub mod policy;
pub mod query;
pub mod search;
pub mod solution;
pub mod stats;
pub mod update;
pub mod upgrade;
pub mod verify;
pub mod version;

/// Names by id from a `passwd` or `group` file (empty when it cannot be read).
pub fn id_names(path: &std::path::Path) -> std::collections::HashMap<u32, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_owned();
            let id = f.nth(1)?.parse().ok()?;
            Some((id, name))
        })
        .collect()
}
