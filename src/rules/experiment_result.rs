//! `result.json` (and `tier_comparison.json`) at the experiment root: the ExperimentResult
//! (docs/format.md#experiment-aggregates), from the tier results, keeping what no file below records (the experiment's
//! clock, the tier order).

use super::content::aggregate::{self, ExperimentTimes};
use super::cx::AggCx;
use super::finding::Finding;
use super::on_disk::{compare, outputs, read_json};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::experiment::Experiment;
use crate::experiment::era::{AggregateShape, TierOrder};
use crate::py::json as pyjson;
use serde_json::Value;

pub static EXPERIMENT_RESULT: ExperimentResult = ExperimentResult;

pub struct ExperimentResult;

static SPEC: Spec = Spec {
    key: "experiment-result",
    name: "result.json",
    scope: Scope::Experiment,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "tier-result", link: Link::Below }],
    outputs: &["result.json", "tier_comparison.json"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

/// The order the runner completed the tiers in: the key order of the checkpoint's
/// `completed_runs` (it records a tier when its first run finishes), else of its `run_states`.
pub fn completion_order(exp: &Experiment) -> Vec<String> {
    if exp.era.tier_order == TierOrder::Ascending {
        let mut tiers = exp.tiers.clone();
        tiers.sort_by(|a, b| crate::experiment::names::tier_order(a, b));
        return tiers;
    }
    // Tiers were recorded as they finished: the experiment's report and comparison keep that
    // order when its result is lost, then the checkpoint (one entry per tier, added as the
    // tier's first run finished).
    let from_report = read_json(&exp.root.join("report.json")).and_then(|r| {
        let children = r.get("children")?.as_array()?;
        Some(children.iter().filter_map(|c| c.get("tier")?.as_str().map(str::to_string)).collect::<Vec<_>>())
    });
    let from_comparison = || {
        read_json(&exp.root.join("tier_comparison.json"))
            .and_then(|v| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()))
    };
    let from_checkpoint = || {
        let cp = exp.checkpoint()?;
        ["completed_runs", "run_states"]
            .iter()
            .find_map(|k| cp.get(*k).and_then(Value::as_object).filter(|m| !m.is_empty()))
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
    };
    from_report
        .filter(|o| !o.is_empty())
        .or_else(|| from_comparison().filter(|o| !o.is_empty()))
        .or_else(from_checkpoint)
        .unwrap_or_default()
}

/// When the experiment ran, from the checkpoint, for an experiment result made from scratch.
/// Only a checkpoint the runner wrote counts (it always records its pid; one darn created has
/// none): darn's own times are never taken for the experiment's.
fn times(exp: &Experiment) -> ExperimentTimes {
    let runner_written = exp.checkpoint().is_some_and(|c| c.get("pid").is_some_and(Value::is_i64));
    let get = |k: &str| {
        exp.checkpoint().filter(|_| runner_written).and_then(|c| c.get(k)).and_then(Value::as_str).map(str::to_string)
    };
    ExperimentTimes {
        started_at: get("started_at"),
        completed_at: get("last_updated_at"),
        total_duration_seconds: None,
    }
}

/// A tier's `result.json` as the experiment embeds it: pydantic's dump of the experiment leaves
/// out the tiers' computed cost of pass.
fn embedded(exp: &Experiment, mut tier: Value) -> Value {
    if exp.era.aggregates == AggregateShape::M
        && let Some(o) = tier.as_object_mut()
    {
        o.shift_remove("cost_of_pass");
    }
    tier
}

/// The experiment's `result.json` and `tier_comparison.json` from the tier results on disk.
///
/// The tiers embed every run (22 MB each at 10,000 runs), so they are not held together: each
/// is parsed, rendered and dropped in turn, the experiment is computed from the tiers without
/// their runs (nothing it computes reads them), and the rendered tiers are spliced in where
/// they belong.
fn files(cx: &AggCx) -> Vec<(&'static str, Vec<u8>)> {
    let exp = cx.exp;
    let previous = super::on_disk::experiment_record(exp);
    let mut lean: Vec<(String, Value)> = Vec::new();
    let mut rendered: Vec<(String, String)> = Vec::new();
    for t in &exp.tiers {
        let Ok(bytes) = std::fs::read(exp.tier_dir(t).join("result.json")) else { continue };
        let Ok(tier) = pyjson::parse(&bytes) else { continue };
        drop(bytes);
        let mut tier = embedded(exp, tier);
        rendered.push((t.clone(), pyjson::to_string(&tier)));
        pyjson::remove_key(&mut tier, "runs");
        lean.push((t.clone(), tier));
    }
    // The current runner dumps its in-memory config, which after a resume by a newer runner has
    // that runner's keys: the previous file records it, the experiment's own config is the
    // fallback.
    let config = match previous.as_ref().and_then(|p| p.get("config")) {
        Some(c) if c.is_object() => c.clone(),
        _ => exp.config.raw.clone(),
    };
    let order = completion_order(exp);
    let mut value =
        aggregate::experiment_result(exp.era.summation, &config, lean, previous.as_ref(), &order, &times(exp));
    let comparison = aggregate::tier_comparison_json(&value);
    let placed: Vec<(String, String)> = match value.get_mut("tier_results").and_then(Value::as_object_mut) {
        Some(tiers) => rendered
            .into_iter()
            .filter_map(|(t, text)| {
                *tiers.get_mut(&t)? = Value::String(pyjson::splice_marker(&t));
                Some((t, text))
            })
            .collect(),
        None => Vec::new(),
    };
    let marked = pyjson::to_string(&value);
    drop(value);
    // Each placed tier has its marker in `marked`, rendered just above.
    let Some(result) = pyjson::splice(&marked, &placed) else { unreachable!("every placed marker is rendered") };
    vec![("result.json", result.into_bytes()), ("tier_comparison.json", comparison.into_bytes())]
}

impl AggregateRule for ExperimentResult {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
        out("config", &cx.config_digest);
        out("tier_order", &cx.completion_order);
    }

    fn inputs(&self, cx: &AggCx, _at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        for t in &cx.exp.tiers {
            out(format!("{t}/result.json"), cx.inputs.file_hash(&cx.rel(&cx.exp.tier_dir(t).join("result.json"))));
        }
        // What the experiment's own record falls back to when its result.json is lost.
        out("report.json".into(), cx.inputs.file_hash("report.json"));
    }

    fn check(&self, cx: &AggCx, _at: usize) -> Finding {
        compare(&cx.exp.root, &files(cx))
    }

    fn build(&self, cx: &AggCx, _at: usize) -> Result<Vec<Output>, Finding> {
        Ok(outputs(files(cx)))
    }
}
