//! `apk update`: fetches the indexes of network repositories into the cache, then says
//! what each repository is and how many packages are available.

use apk_core::database::{index_source, IndexSource};
use apk_core::index::RawIndex;
use apk_core::repo::Repository;

use crate::context::{self, Context};

pub fn run(ctx: &Context) -> u32 {
    let db = match ctx.open_db_updating(true) {
        Ok(db) => db,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let keys = match ctx.keyring() {
        Ok(k) => k,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    let arch = db.pool.arches.first().cloned().unwrap_or_default();
    let opts = apk_core::database::OpenOptions {
        root: ctx.root.clone(),
        no_network: true,
        ..Default::default()
    };
    for (i, repo) in db.pool.repos.iter().enumerate().skip(1) {
        let usable = i < 64 && db.pool.available_repos & (1 << i) != 0;
        if repo.url.starts_with("test:") || !usable {
            continue;
        }
        // Just fetched (or local): read back for its description.
        let r = Repository::from_url(&repo.url, None);
        let desc = match index_source(&opts, &r, &arch) {
            IndexSource::File(p) => std::fs::read(&p)
                .ok()
                .and_then(|b| RawIndex::read(&b, keys.as_ref(), &repo.url).ok())
                .and_then(|i| i.description),
            _ => None,
        };
        if ctx.verbosity > 0 {
            match desc {
                Some(d) => println!("{d} [{}]", repo.url),
                None => println!("[{}]", repo.url),
            }
        }
    }
    let available = (0..db.pool.packages.len() as u32)
        .filter(|&p| db.pool.pkg_available(p))
        .count();
    let unavailable = db.unavailable.len();
    if ctx.verbosity > 0 {
        if unavailable == 0 {
            println!("OK: {available} distinct packages available");
        } else {
            println!("{unavailable} unavailable, 0 stale; {available} distinct packages available");
        }
    }
    unavailable as u32
}
