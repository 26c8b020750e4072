//! A pool from strings, for unit tests of whatever reads a pool (the solver first):
//! packages are written as APKINDEX records, one repository or the installed database
//! at a time, in the order a root is loaded (installed first, then each repository).
//!
//! ```
//! use apk_core::pool::builder::PoolBuilder;
//! let (pool, world) = PoolBuilder::new()
//!     .world("a")
//!     .installed("P:a\nV:1\nD:b")
//!     .repo("http://r/main", "P:a\nV:2\n\nP:b\nV:1")
//!     .build();
//! assert_eq!((pool.packages.len(), world.len()), (3, 1));
//! ```

use super::{Dep, Pool, TagId};
use apk_format::dep;
use apk_format::v2::apkindex;

pub struct PoolBuilder {
    pool: Pool,
    world: Vec<Dep>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolBuilder {
    pub fn new() -> Self {
        let mut pool = Pool::new();
        pool.arches = vec!["x86_64".to_owned()];
        PoolBuilder {
            pool,
            world: Vec::new(),
        }
    }

    /// The world, as `etc/apk/world` writes it (`a b>1 c@edge !d`); its names are
    /// interned first, as a root's world is.
    pub fn world(mut self, deps: &str) -> Self {
        let list = match dep::parse_list(deps) {
            Ok(list) => list,
            Err(e) => panic!("bad test world '{deps}': {e}"),
        };
        for d in &list {
            let d = self.pool.intern_dep(d);
            self.world.push(d);
        }
        self
    }

    /// Installed packages (records separated by blank lines); an `s:` field names the
    /// tag it was installed from, as in the database.
    pub fn installed(mut self, records: &str) -> Self {
        for info in parse(records, "installed") {
            let tag =
                info.extra
                    .iter()
                    .find(|(l, _)| *l == b's')
                    .map_or(TagId::DEFAULT, |(_, t)| {
                        let t = t.clone();
                        self.pool.tag_id(&t)
                    });
            self.pool.add_package(info, None, Some(tag));
        }
        self
    }

    /// A repository at `url` holding `records`.
    pub fn repo(self, url: &str, records: &str) -> Self {
        self.tagged_repo(url, None, records)
    }

    /// A repository pinned with `@tag`.
    pub fn tagged_repo(mut self, url: &str, tag: Option<&str>, records: &str) -> Self {
        let id = self.pool.add_repo(url, tag, true, true);
        for info in parse(records, url) {
            self.pool.add_package(info, Some(id), None);
        }
        self
    }

    /// The finished pool and the interned world.
    pub fn build(mut self) -> (Pool, Vec<Dep>) {
        self.pool.finish();
        (self.pool, self.world)
    }
}

/// Records from a test's literal; a malformed one is the test's bug.
fn parse(records: &str, what: &str) -> Vec<apk_format::PackageInfo> {
    let text = records
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    match apkindex::parse(&text, what) {
        Ok(infos) => infos,
        Err(e) => panic!("bad test records: {e}"),
    }
}
