//! `apk update`: fetches the indexes of network repositories into the cache, then says
//! what each repository is and how many packages are available.

use crate::context::{self, Context};

pub fn run(ctx: &Context) -> u32 {
    let db = match ctx.open_db_updating(true) {
        Ok(db) => db,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    if ctx.verbosity > 0 {
        for line in super::version::index_lines(&db.pool) {
            println!("{line}");
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
