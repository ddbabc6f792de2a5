//! `run_result.json`: the run summary (docs/format.md#run-result), with `judges[]`, per-judge validity and
//! criteria kept (fixing docs/format.md#bug-regeneration-needs-two-passes, docs/format.md#bug-regenerated-run-result-is-incomplete, docs/format.md#bug-judge-rerun-patches-run-result-partially, docs/format.md#bug-resumed-runs-lose-judges-in-tier-result, docs/format.md#bug-resume-loses-criteria-and-judges).

use crate::experiment::era::Era;
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

/// Builds `run_result.json` in the era's key order.
pub fn build(inp: &RunResultInputs) -> Value {
    let c = inp.consensus;
    let judges: Vec<Value> =
        inp.slots.iter().enumerate().map(|(i, (model, outcome))| judge_entry(inp.era, i + 1, model, outcome)).collect();
    let tokens_input = inp.tokens.input_tokens + inp.tokens.cache_read_tokens;
    let duration = inp.agent_duration + inp.judge_duration;
    let workspace = format!("{}/workspace", inp.run_path);
    let logs = format!("{}/agent", inp.run_path);
    let command_log = format!("{}/agent/command_log.json", inp.run_path);
    let mut m = Map::new();
    match inp.era {
        Era::Jan2026 => {
            m.insert("run_number".into(), json!(inp.run_number));
            m.insert("exit_code".into(), json!(inp.exit_code));
            m.insert("token_stats".into(), inp.tokens.to_value());
            m.insert("tokens_input".into(), json!(tokens_input));
            m.insert("tokens_output".into(), json!(inp.tokens.output_tokens));
            m.insert("cost_usd".into(), pyjson::float(inp.cost_usd));
            m.insert("duration_seconds".into(), pyjson::float(duration));
            m.insert("agent_duration_seconds".into(), pyjson::float(inp.agent_duration));
            m.insert("judge_duration_seconds".into(), pyjson::float(inp.judge_duration));
            m.insert("judge_score".into(), pyjson::float(c.score));
            m.insert("judge_passed".into(), json!(c.passed));
            m.insert("judge_grade".into(), json!(c.grade));
            m.insert("judge_reasoning".into(), json!(c.reasoning));
            m.insert("judges".into(), Value::Array(judges));
            m.insert("workspace_path".into(), json!(workspace));
            m.insert("logs_path".into(), json!(logs));
            m.insert("command_log_path".into(), json!(command_log));
            m.insert("criteria_scores".into(), json!({}));
        }
        Era::Head => {
            let progress = carried_list(inp.previous, "progress_tracking");
            let changes = carried_list(inp.previous, "changes");
            m.insert("run_number".into(), json!(inp.run_number));
            m.insert("cost_usd".into(), pyjson::float(inp.cost_usd));
            m.insert("duration_seconds".into(), pyjson::float(duration));
            m.insert("exit_code".into(), json!(inp.exit_code));
            m.insert("token_stats".into(), inp.tokens.to_value());
            m.insert("agent_duration_seconds".into(), pyjson::float(inp.agent_duration));
            m.insert("judge_duration_seconds".into(), pyjson::float(inp.judge_duration));
            m.insert("judge_score".into(), pyjson::float(c.score));
            m.insert("judge_passed".into(), json!(c.passed));
            m.insert("judge_grade".into(), json!(c.grade));
            m.insert("judge_reasoning".into(), json!(c.reasoning));
            m.insert("workspace_path".into(), json!(workspace));
            m.insert("logs_path".into(), json!(logs));
            m.insert("judges".into(), Value::Array(judges));
            m.insert("command_log_path".into(), json!(command_log));
            m.insert("criteria_scores".into(), c.criteria_scores.clone());
            m.insert("baseline_pipeline_summary".into(), inp.baseline_summary.cloned().unwrap_or(Value::Null));
            m.insert("tokens_input".into(), json!(tokens_input));
            m.insert("tokens_output".into(), json!(inp.tokens.output_tokens));
            m.insert("process_metrics".into(), process_metrics(&progress, &changes));
            m.insert("progress_tracking".into(), Value::Array(progress));
            m.insert("changes".into(), Value::Array(changes));
        }
    }
    Value::Object(m)
}

fn judge_entry(era: Era, number: usize, model: &str, outcome: &SlotOutcome) -> Value {
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
    if era == Era::Head {
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
