//! Observes every selected run of an experiment in parallel.

use crate::cache::{Lookup, ObsCache};
use crate::classify::{RunStatus, classify};
use crate::experiment::era::Era;
use crate::experiment::names::run_dir_name;
use crate::experiment::{Experiment, Layout, RunLoc};
use crate::observe::{Deps, ObsContext, Observed, RunObs, observe_agent_again, observe_full};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// One observed run.
#[derive(Debug, Clone)]
pub struct ScannedRun {
    /// Index into `Experiment::runs`.
    pub index: usize,
    /// The run directory relative to the experiment (`completed/T0/00/run_01`), or where it
    /// would be created.
    pub rel: String,
    pub obs: Arc<RunObs>,
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
    let v = crate::py::json::parse(&std::fs::read(path).ok()?).ok()?;
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

/// The observation context of every run, hashed: a cached observation made under another
/// configuration (or by another darn version) is not reused.
fn context_hash(ctx: &ObsContext) -> crate::stamp::Hash {
    let text = format!(
        "{}\0{:?}\0{}\0{}\0{:?}\0{}\0{}",
        env!("CARGO_PKG_VERSION"),
        ctx.era,
        ctx.run_id,
        ctx.agent_model,
        ctx.judge_models,
        ctx.recorded_run_path,
        ctx.baseline_summary.as_ref().map(ToString::to_string).unwrap_or_default()
    );
    crate::observe::hash_bytes(text.as_bytes())
}

/// Observes and classifies the runs for which `keep` is true, in parallel, in run order, reusing
/// cached observations whose files did not change.
pub fn scan(exp: &Experiment, keep: impl Fn(usize, &RunLoc) -> bool + Sync) -> Vec<ScannedRun> {
    scan_cached(exp, &contexts(exp, false), keep, &ObsCache::disabled()).0
}

/// Like [`scan`], with the runs' observation contexts ([`contexts`]), also returning the
/// observations that were made afresh (to store in the cache).
pub fn scan_cached(
    exp: &Experiment,
    ctxs: &[ObsContext],
    keep: impl Fn(usize, &RunLoc) -> bool + Sync,
    cache: &ObsCache,
) -> (Vec<ScannedRun>, Vec<Fresh>) {
    let indices: Vec<usize> = (0..exp.runs.len()).filter(|i| keep(*i, &exp.runs[*i])).collect();
    let results: Vec<(ScannedRun, Option<Fresh>)> = indices
        .par_iter()
        .map(|&index| {
            let loc = &exp.runs[index];
            let ctx = &ctxs[index];
            let dir = exp.run_dir(loc);
            let rel = run_rel(exp, loc);
            let ctx_hash = context_hash(ctx);
            let observed = match cache.lookup_run(&rel, &ctx_hash, &dir) {
                Lookup::Hit(obs) => Err(obs),
                Lookup::AgentChanged { obs, agent_key } => Ok(observe_agent_again(&dir, ctx, &obs, &agent_key)),
                Lookup::Miss => Ok(observe_full(&dir, ctx)),
            };
            let (obs, fresh) = match observed {
                Err(cached) => (cached, None),
                Ok(Observed { obs, deps }) => {
                    let obs = Arc::new(obs);
                    (Arc::clone(&obs), Some(Fresh { rel: rel.clone(), ctx: ctx_hash, deps, obs }))
                }
            };
            let status = classify(&obs, &rel);
            (ScannedRun { index, rel, obs, status }, fresh)
        })
        .collect();
    let mut runs = Vec::with_capacity(results.len());
    let mut fresh = Vec::new();
    for (r, f) in results {
        runs.push(r);
        fresh.extend(f);
    }
    (runs, fresh)
}

/// The observation context of every run, by run index.
pub fn contexts(exp: &Experiment, contents: bool) -> Vec<ObsContext> {
    let base = recorded_base(exp);
    let baselines = baseline_summaries(exp);
    exp.runs
        .iter()
        .map(|loc| ObsContext {
            era: exp.era,
            run_id: loc.key.id(),
            run_number: loc.key.run,
            agent_model: exp.config.agent_model().to_string(),
            judge_models: exp.config.judge_models.clone(),
            recorded_run_path: recorded_run_path(exp, &base, loc),
            baseline_summary: baselines.get(&(loc.key.tier.clone(), loc.key.subtest.clone())).cloned(),
            want_contents: contents,
        })
        .collect()
}

/// An observation made afresh, to be stored in the cache.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub rel: String,
    pub ctx: crate::stamp::Hash,
    pub deps: Deps,
    pub obs: Arc<RunObs>,
}

/// Stores fresh observations in the cache.
pub fn remember(cache: &mut ObsCache, fresh: Vec<Fresh>) {
    for f in fresh {
        cache.store_run(&f.rel, f.ctx, &f.deps, &f.obs);
    }
}
