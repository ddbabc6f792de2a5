//! `darn status` on generated experiments of 1,130 runs (the seed experiment's size) and 10,000
//! runs, warm (darn's stat cache present), against a plain stat of every file it reads.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use darn::DemoSpec;
use std::hint::black_box;

fn status(c: &mut Criterion) {
    let mut group = c.benchmark_group("status");
    group.sample_size(10);
    for (name, runs) in [("status-1130", 1130u32), ("status-10k", 10_000)] {
        let spec = DemoSpec::with_runs(runs);
        let root = common::tree(name, &spec);
        let dir = root.display().to_string();
        // Warm: reconcile once so darn manages the tree (its stat cache exists), then a status
        // fills the cache with the runs reconcile could not fix.
        common::darn(&["-C", &dir, "reconcile", "--regenerate-only"]);
        common::darn(&["-C", &dir, "status"]);
        let files = common::files_read(&root);
        group.bench_function(format!("{name}/darn status (process, warm)"), |b| {
            b.iter(|| black_box(common::darn(&["-C", &dir, "status"])))
        });
        group.bench_function(format!("{name}/baseline: stat {} files, all cores", files.len()), |b| {
            b.iter(|| black_box(common::stat_all_parallel(&files)))
        });
        group.bench_function(format!("{name}/baseline: stat {} files, one core", files.len()), |b| {
            b.iter(|| black_box(common::stat_all_serial(&files)))
        });
    }
    group.finish();
}

criterion_group!(benches, status);
criterion_main!(benches);
