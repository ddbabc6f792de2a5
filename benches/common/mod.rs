//! Shared bench setup: generated experiments kept under `target/bench-data/` between runs (a
//! 10k-run tree takes half a minute to write), and the list of files a command reads, for the
//! "stat every file" baselines.

#![allow(dead_code)]

use darn::{DemoSpec, generate};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The darn binary under benchmark.
pub const DARN: &str = env!("CARGO_BIN_EXE_darn");

/// A generated experiment named `name`, made once and reused while its spec is unchanged.
pub fn tree(name: &str, spec: &DemoSpec) -> PathBuf {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data");
    let root = base.join(name);
    let marker = base.join(format!("{name}.spec"));
    let want = format!("{spec:?} {}", env!("CARGO_PKG_VERSION"));
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) && root.is_dir() {
        return root;
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&base).expect("create target/bench-data");
    let spec = DemoSpec { darn_exe: Some(DARN.into()), ..spec.clone() };
    eprintln!("bench setup: writing {} runs to {}", spec.total_runs(), root.display());
    generate(&root, &spec).expect("generate the bench experiment");
    std::fs::write(&marker, want).expect("write the spec marker");
    root
}

/// Runs the darn binary and returns its exit code.
pub fn darn(args: &[&str]) -> i32 {
    std::process::Command::new(DARN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run darn")
        .code()
        .unwrap_or(-1)
}

/// Every file and directory darn looks at to decide a run is unchanged: the files it read and
/// the directories whose listing it depends on (as recorded in its observations).
pub fn files_read(root: &Path) -> Vec<PathBuf> {
    let exp = darn::Experiment::open(root, None).expect("open the experiment");
    let engine = darn::Engine::load(exp, darn::LoadOptions { writable: false, aggregates: false }, &|_| true)
        .expect("load the experiment");
    let mut out = Vec::new();
    for (r, facts) in engine.facts.runs.iter().enumerate() {
        let Some(facts) = facts else { continue };
        let dir = engine.exp.run_dir(&engine.exp.runs[r]);
        out.push(dir.clone());
        for (f, state) in facts.files.entries() {
            if !matches!(state, darn::FileState::Absent) {
                out.push(dir.join(f.as_str()));
            }
        }
    }
    out
}

/// The baseline: stat every path (in parallel on all cores, like darn), counting those found.
pub fn stat_all_parallel(paths: &[PathBuf]) -> usize {
    paths.par_iter().filter(|p| std::fs::metadata(p).is_ok()).count()
}

/// The same, one after the other.
pub fn stat_all_serial(paths: &[PathBuf]) -> usize {
    paths.iter().filter(|p| std::fs::metadata(p).is_ok()).count()
}
