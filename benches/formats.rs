//! Version comparison, dependency parsing, APKINDEX parsing and package verification.

use apk_format::v2::{apkindex as index, package::Package};
use apk_format::{dep, sign::Keyring, version};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn versions(c: &mut Criterion) {
    let pairs = [
        ("1.2.3-r0", "1.2.10-r0"),
        ("2.36.3-r0", "2.36.3-r1"),
        ("1.0_rc1", "1.0"),
        ("11.2.1_git20220219-r2", "11.2.1_git20220219-r3"),
        ("0.99f7-r0", "0.99f-r0"),
    ];
    c.bench_function("version_compare_5_pairs", |b| {
        b.iter(|| {
            for (x, y) in pairs {
                black_box(version::compare(black_box(x), black_box(y)));
            }
        })
    });
}

fn deps(c: &mut Criterion) {
    let line = "so:libc.musl-x86_64.so.1 so:libcrypto.so.1.1 zlib-dev>=1.2 !foo<2 busybox@edge~1.35 pc:libfoo=1.0";
    c.bench_function("dep_parse_list_6", |b| {
        b.iter(|| dep::parse_list(black_box(line)))
    });
}

fn apkindex(c: &mut Criterion) {
    let Some(text) = apk_benches::real_index_text() else {
        return;
    };
    c.bench_function("apkindex_parse_alpine316", |b| {
        b.iter(|| index::parse_refs(black_box(&text), "APKINDEX").map(|v| v.len()))
    });
    c.bench_function("apkindex_parse_owned_alpine316", |b| {
        b.iter(|| index::parse(black_box(&text), "APKINDEX").map(|v| v.len()))
    });
    let pkgs = index::parse(&text, "APKINDEX").expect("parse");
    c.bench_function("apkindex_write_alpine316", |b| {
        b.iter(|| index::write(black_box(&pkgs)).len())
    });
}

fn verification(c: &mut Criterion) {
    let Some(pkg) = apk_benches::shared_file(
        "realdata/alpine-3.16-main-x86_64/alpine-baselayout-3.2.0-r23.apk",
    ) else {
        return;
    };
    let Some(keys) = apk_benches::shared_file("realdata/keys") else {
        return;
    };
    let bytes = std::fs::read(pkg).expect("package");
    let keys = Keyring::load_dir(&keys).expect("keys");
    c.bench_function("package_verify_alpine_baselayout", |b| {
        b.iter(|| Package::verify(black_box(&bytes), Some(&keys), "p").map(|p| p.info.size))
    });
    let Some(idx) = apk_benches::shared_file("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz")
    else {
        return;
    };
    let idx = std::fs::read(idx).expect("index");
    c.bench_function("index_archive_read_verify_alpine316", |b| {
        b.iter(|| {
            index::IndexArchive::read(black_box(&idx), Some(&keys), "i").map(|i| i.packages.len())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = versions, deps, apkindex, verification
}
criterion_main!(benches);
