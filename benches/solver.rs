//! Loading a database (from the indexes, and from a snapshot) and solving, on the real
//! Alpine 3.16 index and on a generated universe of 100,000 packages in 20 repositories.

use apk_core::db::{Database, OpenOptions};
use apk_core::solver::{self, Request};
use apk_format::dep::Dependency;
use criterion::{criterion_group, criterion_main, Criterion};

fn solve(db: &mut Database, names: &[&str]) -> usize {
    let world = names
        .iter()
        .map(|n| db.pool.intern_dep(&Dependency::parse(n).expect("dep")))
        .collect();
    let mut req = Request {
        world,
        ..Default::default()
    };
    solver::solve(&db.pool, &mut req).changes.len()
}

fn bench_root(c: &mut Criterion, label: &str, opts: &OpenOptions, world: &[&str]) {
    let snapshot = opts.root.join("etc/apk/cache/apk-rs.snapshot");
    let no_snapshot = OpenOptions {
        no_cache: true,
        ..opts.clone()
    };
    c.bench_function(&format!("{label}_load_indexes"), |b| {
        b.iter(|| {
            Database::open(&no_snapshot)
                .expect("open")
                .pool
                .packages
                .len()
        })
    });
    c.bench_function(&format!("{label}_snapshot_build"), |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&snapshot);
            Database::open(opts).expect("open").pool.packages.len()
        })
    });
    Database::open(opts).expect("write snapshot");
    c.bench_function(&format!("{label}_snapshot_load"), |b| {
        b.iter(|| Database::open(opts).expect("open").pool.packages.len())
    });
    let mut db = Database::open(opts).expect("open");
    c.bench_function(&format!("{label}_solve"), |b| {
        b.iter(|| solve(&mut db, world))
    });
}

fn real(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_, opts)) = apk_benches::real_root(dir.path()) else {
        return;
    };
    bench_root(c, "alpine316", &opts, &["alpine-base", "build-base"]);
}

fn universe(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = apk_benches::generate_universe(dir.path(), 100_000, 20);
    let opts = OpenOptions {
        root,
        ..Default::default()
    };
    bench_root(
        c,
        "universe100k",
        &opts,
        &["u99998", "u50048", "u12345", "u777", "docs"],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(4));
    targets = real, universe
}
criterion_main!(benches);
