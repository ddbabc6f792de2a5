//! Observes every selected run of an experiment in parallel.

use crate::classify::{RunStatus, classify};
use crate::era::Era;
use crate::layout::names::run_dir_name;
use crate::layout::{Experiment, Layout, RunLoc};
use crate::observe::{ObsContext, RunObs, observe_run};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// One observed run.
#[derive(Debug, Clone)]
pub struct ScannedRun {
    /// Index into `Experiment::runs`.
    pub index: usize,
    /// The run directory relative to the experiment (`completed/T0/00/run_01`), or where it
    /// would be created.
    pub rel: String,
    pub obs: RunObs,
    pub status: RunStatus,
}

/// The base directory the runner recorded in absolute paths (checkpoint `experiment_dir`,
/// else where the experiment is now): regenerated files keep the recorded paths (B24).
pub fn recorded_base(exp: &Experiment) -> String {
    exp.checkpoint
        .as_ref()
        .and_then(|c| c.get("experiment_dir"))
        .and_then(Value::as_str)
        .map_or_else(|| exp.root.display().to_string(), |s| s.trim_end_matches('/').to_string())
}

/// The run directory as recorded in `run_result.json` paths.
pub fn recorded_run_path(exp: &Experiment, base: &str, loc: &RunLoc) -> String {
    let phase = if exp.layout == Layout::Phased { "/completed" } else { "" };
    format!("{base}{phase}/{}/{}/{}", loc.key.tier, loc.key.subtest, run_dir_name(loc.key.run))
}

/// `baseline_pipeline_summary` per subtest, from the pipeline baseline (experiment root in the
/// current layout, else the subtest directory).
fn baseline_summaries(exp: &Experiment) -> HashMap<(String, String), Value> {
    let mut out = HashMap::new();
    if exp.era != Era::Head {
        return out;
    }
    let root = load_baseline(&exp.root.join("pipeline_baseline.json"));
    for (tier, subtests) in &exp.subtests {
        for s in subtests {
            let local = [exp.root.join("completed"), exp.root.join("in_progress"), exp.root.clone()]
                .iter()
                .find_map(|b| load_baseline(&b.join(tier).join(s).join("pipeline_baseline.json")));
            if let Some(v) = local.or_else(|| root.clone()) {
                out.insert((tier.clone(), s.clone()), v);
            }
        }
    }
    out
}

fn load_baseline(path: &Path) -> Option<Value> {
    let v = crate::pyjson::parse(&std::fs::read(path).ok()?).ok()?;
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    Some(serde_json::json!({
        "all_passed": get("all_passed"),
        "build_passed": get("build_passed"),
        "format_passed": get("format_passed"),
        "test_passed": get("test_passed"),
    }))
}

/// The run directory relative to the experiment root, `/`-separated.
pub fn run_rel(exp: &Experiment, loc: &RunLoc) -> String {
    let dir = exp.run_dir(loc);
    dir.strip_prefix(&exp.root).map_or_else(|_| dir.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
}

/// Observes and classifies the runs for which `keep` is true, in parallel, in run order.
pub fn scan(exp: &Experiment, keep: impl Fn(&RunLoc) -> bool + Sync) -> Vec<ScannedRun> {
    let base = recorded_base(exp);
    let baselines = baseline_summaries(exp);
    let indices: Vec<usize> = (0..exp.runs.len()).filter(|i| keep(&exp.runs[*i])).collect();
    indices
        .par_iter()
        .map(|&index| {
            let loc = &exp.runs[index];
            let ctx = ObsContext {
                era: exp.era,
                agent_model: exp.config.agent_model().to_string(),
                judge_models: exp.config.judge_models.clone(),
                recorded_run_path: recorded_run_path(exp, &base, loc),
                baseline_summary: baselines.get(&(loc.key.tier.clone(), loc.key.subtest.clone())).cloned(),
            };
            let dir = exp.run_dir(loc);
            let obs = observe_run(&dir, &ctx);
            let rel = run_rel(exp, loc);
            let status = classify(&obs, &rel);
            ScannedRun { index, rel, obs, status }
        })
        .collect()
}
