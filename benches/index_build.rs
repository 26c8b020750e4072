//! `apk index` over 2,000 generated signed packages: read every control stream in
//! parallel and write the index archive.

use apk_core::repo::indexer;
use apk_format::v2::apkindex::IndexArchive;
use criterion::{criterion_group, criterion_main, Criterion};

fn index_2000(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = apk_benches::generate_packages(dir.path(), 2000);
    c.bench_function("index_2000_packages", |b| {
        b.iter(|| {
            let mut pkgs: Vec<_> = indexer::index_files(&paths, None, None)
                .into_iter()
                .map(|i| i.record.expect("record"))
                .collect();
            indexer::sort_records(&mut pkgs);
            let archive = IndexArchive {
                description: None,
                packages: pkgs,
                signatures: vec![],
            };
            archive.write(0).expect("write").len()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = index_2000
}
criterion_main!(benches);
