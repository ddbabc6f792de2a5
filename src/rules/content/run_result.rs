//! `run_result.json`: the run summary (docs/format.md#run-result), with `judges[]`, per-judge validity and
//! criteria kept (fixing docs/format.md#bug-regeneration-needs-two-passes, docs/format.md#bug-regenerated-run-result-is-incomplete, docs/format.md#bug-judge-rerun-patches-run-result-partially, docs/format.md#bug-resumed-runs-lose-judges-in-tier-result, docs/format.md#bug-resume-loses-criteria-and-judges).

use crate::experiment::era::{Era, RunResultShape};
use crate::observe::claude::TokenStats;
use crate::py::json as pyjson;
use crate::rules::content::consensus::{Consensus, SlotOutcome};
use serde_json::{Map, Value, json};

/// Everything `run_result.json` is computed from.
#[derive(Debug, Clone)]
pub struct RunResultInputs<'a> {
    pub era: Era,
    pub run_number: u32,
    pub exit_code: i64,
    pub tokens: TokenStats,
    pub cost_usd: f64,
    pub agent_duration: f64,
    pub judge_duration: f64,
    pub consensus: &'a Consensus,
    /// Per slot: the configured model and the slot's outcome.
    pub slots: Vec<(String, SlotOutcome)>,
    /// The run directory as the runner recorded paths (see docs/format.md#bug-absolute-paths-baked-into-files).
    pub run_path: String,
    /// `{all_passed, build_passed, format_passed, test_passed}` from the pipeline baseline.
    pub baseline_summary: Option<&'a Value>,
    /// The previous `run_result.json`, whose process lists are carried over.
    pub previous: Option<&'a Value>,
}

/// Builds `run_result.json` in the shape of its family (docs/format.md#run-result).
pub fn build(inp: &RunResultInputs) -> Value {
    let shape = inp.era.run_result;
    let c = inp.consensus;
    let mut judges: Vec<Value> =
        inp.slots.iter().enumerate().map(|(i, (model, outcome))| judge_entry(shape, i + 1, model, outcome)).collect();
    let tokens_input = inp.tokens.input_tokens + inp.tokens.cache_read_tokens;
    let duration = inp.agent_duration + inp.judge_duration;
    let workspace = format!("{}/workspace", inp.run_path);
    let logs = format!("{}/agent", inp.run_path);
    let command_log = format!("{}/agent/command_log.json", inp.run_path);
    // The closest judge's criteria from 2026-02-09 on (a judge without any left `null` until
    // 02-19, `{}` after); an empty object before.
    let mut criteria = match shape {
        RunResultShape::Jan => json!({}),
        RunResultShape::Feb09 => c.criteria_scores.clone(),
        _ if c.criteria_scores.is_null() => json!({}),
        _ => c.criteria_scores.clone(),
    };
    // The process lists are the runner's own (from the workspace diff); the judges' verdict in
    // them follows the final consensus, as the runner refreshes it before writing.
    let mut progress: Vec<Value> = carried_list(inp.previous, "progress_tracking")
        .into_iter()
        .map(|mut step| {
            if let Some(o) = step.as_object_mut() {
                o.insert("goal_alignment".into(), pyjson::float(c.score));
            }
            step
        })
        .collect();
    let mut changes: Vec<Value> = carried_list(inp.previous, "changes")
        .into_iter()
        .map(|mut change| {
            if let Some(o) = change.as_object_mut() {
                o.insert("succeeded".into(), json!(c.passed));
            }
            change
        })
        .collect();
    let mut metrics = Some(process_metrics(&progress, &changes));
    // Each key is asked for once: the large values are moved into the result, not copied.
    let mut field = |key: &str| -> Value {
        match key {
            "run_number" => json!(inp.run_number),
            "exit_code" => json!(inp.exit_code),
            "token_stats" => inp.tokens.to_value(),
            "tokens_input" => json!(tokens_input),
            "tokens_output" => json!(inp.tokens.output_tokens),
            "cost_usd" => pyjson::float(inp.cost_usd),
            "duration_seconds" => pyjson::float(duration),
            "agent_duration_seconds" => pyjson::float(inp.agent_duration),
            "judge_duration_seconds" => pyjson::float(inp.judge_duration),
            "judge_score" => pyjson::float(c.score),
            "judge_passed" => json!(c.passed),
            "judge_grade" => json!(c.grade),
            "judge_reasoning" => json!(c.reasoning),
            "judges" => Value::Array(std::mem::take(&mut judges)),
            "workspace_path" => json!(workspace),
            "logs_path" => json!(logs),
            "command_log_path" => json!(command_log),
            "criteria_scores" => criteria.take(),
            "baseline_pipeline_summary" => inp.baseline_summary.cloned().unwrap_or(Value::Null),
            "process_metrics" => metrics.take().unwrap_or(Value::Null),
            "progress_tracking" => Value::Array(std::mem::take(&mut progress)),
            "changes" => Value::Array(std::mem::take(&mut changes)),
            _ => Value::Null,
        }
    };
    Value::Object(keys(shape).iter().map(|k| ((*k).to_string(), field(k))).collect())
}

/// The keys of `run_result.json`, in order, per shape.
pub fn keys(shape: RunResultShape) -> &'static [&'static str] {
    const TO_DICT: [&str; 22] = [
        "run_number",
        "exit_code",
        "token_stats",
        "tokens_input",
        "tokens_output",
        "cost_usd",
        "duration_seconds",
        "agent_duration_seconds",
        "judge_duration_seconds",
        "judge_score",
        "judge_passed",
        "judge_grade",
        "judge_reasoning",
        "judges",
        "workspace_path",
        "logs_path",
        "command_log_path",
        "criteria_scores",
        "baseline_pipeline_summary",
        "process_metrics",
        "progress_tracking",
        "changes",
    ];
    // pydantic's field order (2026-05-03 on), then what the runner adds to the dump.
    const MODEL_DUMP: [&str; 22] = [
        "run_number",
        "cost_usd",
        "duration_seconds",
        "exit_code",
        "token_stats",
        "agent_duration_seconds",
        "judge_duration_seconds",
        "judge_score",
        "judge_passed",
        "judge_grade",
        "judge_reasoning",
        "workspace_path",
        "logs_path",
        "judges",
        "command_log_path",
        "criteria_scores",
        "baseline_pipeline_summary",
        "tokens_input",
        "tokens_output",
        "process_metrics",
        "progress_tracking",
        "changes",
    ];
    match shape {
        RunResultShape::Jan | RunResultShape::Feb09 => &TO_DICT[..18],
        RunResultShape::Feb15 => &TO_DICT[..19],
        RunResultShape::Feb27 => &TO_DICT,
        RunResultShape::Head => &MODEL_DUMP,
    }
}

fn judge_entry(shape: RunResultShape, number: usize, model: &str, outcome: &SlotOutcome) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), json!(model));
    let (is_valid, criteria) = match outcome {
        SlotOutcome::Judged(j) => {
            m.insert("score".into(), pyjson::float(j.score));
            m.insert("passed".into(), json!(j.passed));
            m.insert("grade".into(), json!(j.grade));
            m.insert("reasoning".into(), json!(j.reasoning));
            (j.is_valid, j.criteria_scores.clone())
        }
        SlotOutcome::Failed(error) => {
            m.insert("score".into(), pyjson::float(0.0));
            m.insert("passed".into(), json!(false));
            m.insert("grade".into(), json!("F"));
            m.insert("reasoning".into(), json!(format!("Judge failed: {error}")));
            (false, json!({}))
        }
    };
    m.insert("judge_number".into(), json!(number));
    if shape >= RunResultShape::Feb09 {
        m.insert("is_valid".into(), json!(is_valid));
        m.insert("criteria_scores".into(), criteria);
    }
    Value::Object(m)
}

fn carried_list(previous: Option<&Value>, key: &str) -> Vec<Value> {
    previous.and_then(|p| p.get(key)).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The four process metrics from the progress steps and changes (docs/format.md#process-metrics).
pub fn process_metrics(progress: &[Value], changes: &[Value]) -> Value {
    let num = |v: &Value, k: &str| v.get(k).and_then(pyjson::as_f64).unwrap_or(0.0);
    let flag = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let total_weight: f64 = crate::py::stats::py_sum(&progress.iter().map(|s| num(s, "weight")).collect::<Vec<_>>());
    let done: Vec<&Value> = progress.iter().filter(|s| flag(s, "completed")).collect();
    let done_weight = crate::py::stats::py_sum(&done.iter().map(|s| num(s, "weight")).collect::<Vec<_>>());
    let r_prog = if progress.is_empty() || total_weight == 0.0 { 0.0 } else { (done_weight / total_weight).min(1.0) };
    let drift = if done.is_empty() || done_weight == 0.0 {
        0.0
    } else {
        let aligned = crate::py::stats::py_sum(
            &done.iter().map(|s| num(s, "goal_alignment") * num(s, "weight")).collect::<Vec<_>>(),
        );
        1.0 - aligned / done_weight
    };
    let fraction = |key: &str| {
        if changes.is_empty() {
            0.0
        } else {
            changes.iter().filter(|c| flag(c, key)).count() as f64 / changes.len() as f64
        }
    };
    json!({
        "r_prog": pyjson::float(r_prog),
        "strategic_drift": pyjson::float(drift),
        "cfp": pyjson::float(fraction("caused_failure")),
        "pr_revert_rate": pyjson::float(fraction("reverted")),
    })
}
