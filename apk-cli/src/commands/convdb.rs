//! `apk convdb`: the root's installed database (`lib/apk/db/installed`, the scripts
//! archive `scripts.tar` and `triggers`) converted into a v3 installed database,
//! written to `installed.adb` in the current folder, as apk-tools 3's `convdb` does
//! (apk-tools itself does not read that file yet).

use std::collections::HashMap;

use apk_format::adb::{self, container, convdb, trust};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {}

/// A name by id, `root` for 0 and `nobody` for others unknown, as apk-tools names them.
fn resolve(map: &HashMap<u32, String>, id: u32) -> String {
    match map.get(&id) {
        Some(n) => n.clone(),
        None if id == 0 => "root".into(),
        None => "nobody".into(),
    }
}

fn make(ctx: &Context) -> apk_format::Result<()> {
    let db = ctx.root.join("lib/apk/db");
    let read = |name: &str| std::fs::read(db.join(name)).ok();
    let entries: Vec<(String, Vec<u8>)> = match read("scripts.tar") {
        Some(tar) => apk_format::v2::archive::read_small_tar(&tar, "scripts.tar")?
            .into_iter()
            .filter(|e| e.header.kind == apk_format::v2::archive::EntryKind::File)
            .map(|e| (e.header.path, e.data))
            .collect(),
        None => Vec::new(),
    };
    let triggers = String::from_utf8_lossy(&read("triggers").unwrap_or_default()).into_owned();
    let scripts = convdb::scripts(entries, &triggers);
    let installed = String::from_utf8_lossy(&read("installed").unwrap_or_default()).into_owned();
    let users = super::id_names(&ctx.root.join("etc/passwd"));
    let groups = super::id_names(&ctx.root.join("etc/group"));
    let tree = convdb::convert(&installed, &scripts, &|id| resolve(&users, id), &|id| {
        resolve(&groups, id)
    });
    let mut sigs = Vec::new();
    for key in &ctx.opts.sign_key {
        let (k, _) = apk_format::sign::PrivateKey::load(key)?;
        sigs.push(trust::sign(adb::SCHEMA_INSTALLED_DB, &tree, &k)?);
    }
    let file = container::write(adb::SCHEMA_INSTALLED_DB, &tree, &sigs);
    let out = container::compress(&file, ctx.opts.compression.unwrap_or_default());
    apk_core::fs::atomic::write_atomically(std::path::Path::new("installed.adb"), &out)
}

pub fn run(ctx: &Context, _args: Args) -> u32 {
    match make(ctx) {
        Ok(()) => 0,
        Err(e) => {
            context::error(format!("installed.adb: {}", e.apk_reason()));
            1
        }
    }
}
