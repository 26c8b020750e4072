//! Installing 200 packages (~64 MiB, ~8,000 files) into an empty root on tmpfs: open
//! the database, solve, and commit (fetch, verify, extract, write the database).
//! apk-tools 3.0.6 needs about 0.3 s for this on the reference machine.

use apk_core::commit::{self, Options};
use apk_core::db::Database;
use apk_core::solver::{self, Request};
use apk_format::dep::Dependency;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

fn install(c: &mut Criterion) {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").expect("tmpfs dir")
    } else {
        tempfile::tempdir().expect("tmp dir")
    };
    let repo = base.path().join("repo");
    let names = apk_benches::generate_install_repo(&repo, 200, 40, 8 << 10);
    let world: Vec<Dependency> = names
        .iter()
        .map(|n| Dependency::parse(n).expect("dep"))
        .collect();
    let mut round = 0;
    let mut group = c.benchmark_group("install");
    group.sample_size(10);
    group.bench_function("install_200_packages_64MiB", |b| {
        b.iter_batched(
            || {
                // The previous root goes first, so tmpfs holds one at a time.
                let _ = std::fs::remove_dir_all(base.path().join(format!("root{round}")));
                round += 1;
                let root = base.path().join(format!("root{round}"));
                let opts = apk_benches::root_for_install(&root, &repo);
                (root, opts)
            },
            |(root, opts)| {
                let mut db = Database::open(&opts).expect("open");
                let deps = world.iter().map(|d| db.pool.intern_dep(d)).collect();
                let mut req = Request {
                    world: deps,
                    ..Default::default()
                };
                let cs = solver::solve(&db.pool, &mut req);
                assert_eq!(cs.errors, 0);
                let copts = Options {
                    keys: opts.keys.clone(),
                    arch: "x86_64".into(),
                    ..Default::default()
                };
                let errors = commit::commit(&root, &db.pool, &cs, &world, &copts, &mut |_| {})
                    .expect("commit");
                assert_eq!(errors, 0);
                root
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, install);
criterion_main!(benches);
