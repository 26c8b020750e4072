//! `apk update`: fetches the indexes of network repositories into the cache, then says
//! what each repository is and how many packages are available.

use apk_core::db::ProblemKind;

use crate::context::{self, Context};

pub fn run(ctx: &Context) -> u32 {
    // apk-tools opens the root for writing here: the lock, the log, the cache folder.
    if !ctx.take_lock() {
        return 1;
    }
    ctx.open_log();
    let _ = ctx.setup_cache();
    // As apk-tools: `update` treats every cached index as stale, unless the command
    // line gave `--cache-max-age` (then it ages as usual; `-U` still forces).
    let refresh = ctx.opts.update_cache || ctx.opts.cache_max_age.is_none();
    ctx.allow_autoupdate();
    let db = match ctx.open_db_updating(refresh) {
        Ok(db) => db,
        Err(e) => {
            context::error(e);
            return 1;
        }
    };
    if ctx.verbosity > 0 {
        for line in super::version::index_lines(&db.pool) {
            crate::output::out(&line);
        }
    }
    // apk-tools counts every package it knows, installed ones and those of
    // repositories it cannot use (a network one under --no-network) alike.
    let available = db.pool.packages.len();
    // As apk-tools counts them: network repositories only.
    let count = |k| db.unavailable.iter().filter(|p| p.kind == k).count();
    let (unavailable, stale) = (count(ProblemKind::Unavailable), count(ProblemKind::Stale));
    if ctx.verbosity > 0 {
        if unavailable + stale == 0 {
            crate::output::out(&format!("OK: {available} distinct packages available"));
        } else {
            crate::output::out(&format!(
                "{unavailable} unavailable, {stale} stale; {available} distinct packages available"
            ));
        }
    }
    (unavailable + stale) as u32
}
