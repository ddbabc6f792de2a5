//! The engine: a no-op `reconcile` on 10,000 runs against a plain stat of every file it reads,
//! and regenerating `agent/result.json` in 1,130 runs against copying 1,130 files.

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use darn::DemoSpec;
use std::hint::black_box;
use std::path::PathBuf;

fn noop(c: &mut Criterion) {
    let mut group = c.benchmark_group("reconcile-noop");
    group.sample_size(10);
    let root = common::tree("noop-10k", &DemoSpec { damage: false, ..DemoSpec::with_runs(10_000) });
    let dir = root.display().to_string();
    // Stamp everything once: afterwards reconcile has nothing to do.
    common::darn(&["-C", &dir, "reconcile", "--regenerate-only"]);
    common::darn(&["-C", &dir, "reconcile", "--regenerate-only"]);
    let files = common::files_read(&root);
    group.bench_function("noop-10k/darn reconcile (process, no-op)", |b| {
        b.iter(|| black_box(common::darn(&["-C", &dir, "reconcile", "--regenerate-only"])))
    });
    group.bench_function(format!("noop-10k/baseline: stat {} files, all cores", files.len()), |b| {
        b.iter(|| black_box(common::stat_all_parallel(&files)))
    });
    group.bench_function(format!("noop-10k/baseline: stat {} files, one core", files.len()), |b| {
        b.iter(|| black_box(common::stat_all_serial(&files)))
    });
    group.finish();
}

fn result_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("regenerate-result-json");
    group.sample_size(10);
    let root = common::tree("results-1130", &DemoSpec { damage: false, ..DemoSpec::with_runs(1130) });
    let dir = root.display().to_string();
    common::darn(&["-C", &dir, "reconcile", "--regenerate-only"]);
    let exp = darn::Experiment::open(&root, None).expect("open");
    let results: Vec<PathBuf> = exp.runs.iter().map(|l| exp.run_dir(l).join("agent/result.json")).collect();
    let saved: Vec<Vec<u8>> = results.iter().map(|p| std::fs::read(p).expect("a result")).collect();
    group.bench_function(
        format!("results-1130/darn reconcile --regenerate-only ({} result.json missing)", results.len()),
        |b| {
            b.iter_batched(
                || {
                    for p in &results {
                        let _ = std::fs::remove_file(p);
                    }
                },
                |()| black_box(common::darn(&["-C", &dir, "reconcile", "--regenerate-only"])),
                BatchSize::PerIteration,
            )
        },
    );
    group.bench_function(format!("results-1130/baseline: write {} files back", results.len()), |b| {
        b.iter_batched(
            || {
                for p in &results {
                    let _ = std::fs::remove_file(p);
                }
            },
            |()| {
                for (p, bytes) in results.iter().zip(&saved) {
                    std::fs::write(p, bytes).expect("write");
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, noop, result_json);
criterion_main!(benches);
