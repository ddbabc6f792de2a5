//! Executions: 64 stand-in judge calls that each sleep 1 s, run with `-j 8` (ideal: 8 s), and
//! darn's own overhead per execution (64 instant calls through darn against 64 direct
//! launches of the same stand-in).

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use darn::DemoSpec;
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// A copy-ready tree: 64 runs, one judge each, every judge slot to be executed.
fn setup(name: &str, sleep: &str) -> (PathBuf, PathBuf) {
    let spec =
        DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 16, judges: 1, damage: false, ..DemoSpec::default() };
    let root = common::tree(name, &spec);
    let toml = std::fs::read_to_string(root.join("darn.toml")).expect("darn.toml");
    if !toml.contains("\"--sleep\"") {
        let toml =
            toml.replace("\"stand-in\", \"judge\",", &format!("\"stand-in\", \"judge\", \"--sleep\", \"{sleep}\","));
        std::fs::write(root.join("darn.toml"), toml).expect("write darn.toml");
    }
    common::darn(&["-C", &root.display().to_string(), "reconcile", "--regenerate-only"]);
    let slots: Vec<PathBuf> = glob_slots(&root);
    assert_eq!(slots.len(), 64);
    (root, slots.first().cloned().unwrap_or_default())
}

fn glob_slots(root: &Path) -> Vec<PathBuf> {
    let exp = darn::Experiment::open(root, None).expect("open");
    exp.runs.iter().map(|l| exp.run_dir(l).join("judge/judge_01")).collect()
}

/// Removes every judge slot (moved aside, as a user clearing failed judges would) and the
/// attempt records, so that every iteration starts from the same tree; then flushes the removals,
/// so the measured command does not pay for the setup's writes.
fn clear(root: &Path) {
    for slot in glob_slots(root) {
        let _ = std::fs::remove_dir_all(&slot);
        if let Some(judge) = slot.parent() {
            let _ = std::fs::remove_dir_all(judge.join(".failed"));
            if let Some(run) = judge.parent() {
                let _ = std::fs::remove_file(run.join("darn_attempts.json"));
            }
        }
    }
    let _ = std::fs::remove_file(root.join(".darn/cache"));
    let _ = std::process::Command::new("sync").status();
}

fn parallel(c: &mut Criterion) {
    let mut group = c.benchmark_group("execution");
    group.sample_size(10);
    let (root, _) = setup("exec-sleep1", "1");
    let dir = root.display().to_string();
    group.bench_function("exec-sleep1/64 judge calls of 1 s, -j 8 (ideal 8 s)", |b| {
        b.iter_batched(
            || clear(&root),
            |()| black_box(common::darn(&["-C", &dir, "reconcile", "-j", "8"])),
            BatchSize::PerIteration,
        )
    });
    let (root, _) = setup("exec-instant", "0");
    let dir = root.display().to_string();
    let prompt =
        glob_slots(&root)[0].parent().and_then(Path::parent).map(|r| r.join("judge_prompt.md")).expect("prompt");
    group.bench_function("exec-instant/64 instant judge calls through darn, -j 1", |b| {
        b.iter_batched(
            || clear(&root),
            |()| black_box(common::darn(&["-C", &dir, "reconcile", "-j", "1"])),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("exec-instant/baseline: 64 direct launches of the same stand-in", |b| {
        b.iter(|| {
            for _ in 0..64 {
                let stdin = std::fs::File::open(&prompt).expect("prompt");
                let status = std::process::Command::new(common::DARN)
                    .args(["stand-in", "judge", "--model", "claude-opus-4-6", "--output-format", "stream-json"])
                    .stdin(stdin)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("stand-in");
                black_box(status);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parallel);
criterion_main!(benches);
