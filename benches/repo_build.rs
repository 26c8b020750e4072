//! `abuild-rs repo` over 200 trivial APKBUILDs with one and with two builds at a time:
//! the ratio of the two shows how well the scheduler uses both cores.

use std::path::Path;

use abuild_rs::build::Options;
use abuild_rs::repo;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

fn tree(dir: &Path, n: usize) {
    for i in 0..n {
        let pkg = dir.join("main").join(format!("p{i:03}"));
        std::fs::create_dir_all(&pkg).expect("mkdir");
        // A chain every tenth package, so the graph is not flat.
        let needs = if i % 10 == 0 || i == 0 {
            String::new()
        } else {
            format!("makedepends=\"p{:03}\"\n", i - 1)
        };
        let text = format!(
            "pkgname=p{i:03}\npkgver=1.0\npkgrel=0\npkgdesc=\"trivial\"\nurl=\"https://example.org\"\narch=\"noarch\"\nlicense=\"MIT\"\noptions=\"!check\"\n{needs}\npackage() {{\n\tmkdir -p \"$pkgdir\"/usr/share/p{i:03}\n\techo {i} > \"$pkgdir\"/usr/share/p{i:03}/data\n}}\n"
        );
        std::fs::write(pkg.join("APKBUILD"), text).expect("write");
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tmp");
    let aports = tmp.path().join("aports");
    tree(&aports, 200);
    let key = apk_format::sign::PrivateKey::generate_rsa(2048).expect("key");
    let key_path = tmp.path().join("bench.rsa");
    std::fs::write(&key_path, key.to_pem().expect("pem")).expect("key");
    std::fs::write(tmp.path().join("bench.rsa.pub"), key.public_key().to_pem()).expect("pub");
    let (graph, invalid) = repo::graph(&aports, "x86_64");
    assert!(invalid.is_empty());
    let apk = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("apk")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "apk".into());
    let mut group = c.benchmark_group("repo");
    group.sample_size(10);
    for jobs in [1, 2] {
        let mut round = 0;
        group.bench_function(format!("repo_200_trivial_apkbuilds_jobs{jobs}"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    tmp.path().join(format!("out{jobs}-{round}"))
                },
                |repodest| {
                    let opts = Options {
                        carch: "x86_64".into(),
                        repodest,
                        sign_key: key_path.clone(),
                        repositories: Vec::new(),
                        srcdest: tmp.path().join("distfiles"),
                        apk: apk.clone(),
                        epoch: 1_700_000_000,
                        verbose: false,
                    };
                    let report = repo::run(&graph, &opts, jobs, &|_| {});
                    assert_eq!(report.failures(), 0);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
