//! `checkpoint.json` (LAYOUT §2.2): the runner's resume state.

use crate::classify::{AgentStatus, JudgeStatus};
use crate::experiment::Experiment;
use crate::experiment::era::Era;
use crate::observe::Check;
use crate::scan::ScannedRun;
use serde_json::Value;
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

/// The checkpoint's `config_hash`: the first 16 hex digits of SHA-256 over
/// `json.dumps(config, sort_keys=True)`, without the keys the era's runner leaves out. The
/// current runner also hashed fields that are not in `experiment.json` (B34), so darn keeps an
/// existing hash and only computes one for a checkpoint it creates.
pub fn config_hash(config: &Value, era: Era) -> String {
    let mut dict = config.clone();
    if let Some(obj) = dict.as_object_mut() {
        let drop: &[&str] = match era {
            Era::Jan2026 => &["parallel_subtests", "max_subtests"],
            Era::Head => {
                &["parallel_subtests", "parallel_high", "parallel_med", "parallel_low", "max_subtests", "tiers_to_run"]
            }
        };
        for key in drop {
            obj.remove(*key);
        }
    }
    let text = crate::py::json::to_string_sorted_compact(&dict);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What the checkpoint should say about one run: its run state and its `completed_runs` entry.
fn expected_state(r: &ScannedRun, passed: impl Fn() -> bool) -> (&'static str, Option<&'static str>) {
    let st = &r.status;
    match st.agent {
        AgentStatus::Missing => ("pending", None),
        AgentStatus::Partial => ("replay_generated", None),
        AgentStatus::Failed => ("failed", Some("failed")),
        AgentStatus::Results | AgentStatus::Completed => {
            if st.agent == AgentStatus::Completed && st.judge == JudgeStatus::Complete && !st.aggregate_pending {
                ("worktree_cleaned", Some(if passed() { "passed" } else { "failed" }))
            } else if st.judge == JudgeStatus::Complete {
                ("judge_complete", Some("agent_complete"))
            } else {
                ("agent_complete", Some("agent_complete"))
            }
        }
    }
}

fn judge_passed(exp: &Experiment, r: &ScannedRun) -> bool {
    if let Some(p) = r.obs.passed {
        return p;
    }
    let path = exp.run_dir(&exp.runs[r.index]).join("run_result.json");
    std::fs::read(path)
        .ok()
        .and_then(|b| crate::py::json::parse(&b).ok())
        .and_then(|v| v.get("judge_passed").and_then(Value::as_bool))
        .unwrap_or(false)
}

fn nested<'a>(v: &'a Value, key: &str, tier: &str, subtest: &str, run: &str) -> Option<&'a Value> {
    v.get(key)?.get(tier)?.get(subtest)?.get(run)
}

/// Whether `checkpoint.json` agrees with the runs on disk (run states and `completed_runs`).
pub fn check(exp: &Experiment, runs: &[ScannedRun]) -> Check {
    let Some(cp) = &exp.checkpoint else {
        return match &exp.checkpoint_problem {
            Some(p) => Check::Invalid(p.clone()),
            None => Check::Missing,
        };
    };
    let v3 = cp.get("run_states").is_some();
    for r in runs {
        let key = &exp.runs[r.index].key;
        let run = key.run.to_string();
        let (state, done) = expected_state(r, || judge_passed(exp, r));
        let have_done = nested(cp, "completed_runs", &key.tier, &key.subtest, &run).and_then(Value::as_str);
        if have_done != done {
            return Check::Disagrees(format!(
                "completed_runs says {} for {key}, the files say {}",
                have_done.unwrap_or("nothing"),
                done.unwrap_or("nothing")
            ));
        }
        if v3 {
            let have_state = nested(cp, "run_states", &key.tier, &key.subtest, &run).and_then(Value::as_str);
            if have_state.unwrap_or("pending") != state {
                return Check::Disagrees(format!(
                    "run_states says {} for {key}, the files say {state}",
                    have_state.unwrap_or("nothing")
                ));
            }
        }
    }
    Check::Ok
}

fn set_nested(root: &mut Map<String, Value>, key: &str, tier: &str, subtest: &str, run: &str, value: Option<&str>) {
    let top = root.entry(key.to_string()).or_insert_with(|| json!({}));
    let Some(top) = top.as_object_mut() else { return };
    match value {
        Some(v) => {
            let t = top.entry(tier.to_string()).or_insert_with(|| json!({}));
            if let Some(t) = t.as_object_mut() {
                let s = t.entry(subtest.to_string()).or_insert_with(|| json!({}));
                if let Some(s) = s.as_object_mut() {
                    s.insert(run.to_string(), json!(v));
                }
            }
        }
        None => {
            if let Some(s) = top.get_mut(tier).and_then(|t| t.get_mut(subtest)).and_then(Value::as_object_mut) {
                s.shift_remove(run);
            }
        }
    }
}

/// The repaired `checkpoint.json`: run states and `completed_runs` derived from the files, so a
/// resumed runner agrees with the tree; everything else (config hash, experiment dir, start
/// time) is kept. A checkpoint is created in the era's shape when there is none.
pub fn regenerate(exp: &Experiment, runs: &[ScannedRun], now: &str) -> String {
    let era = exp.era;
    let mut cp: Map<String, Value> = match &exp.checkpoint {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            let v3 = era == Era::Head;
            m.insert("version".into(), json!(if v3 { "3.1" } else { "2.0" }));
            m.insert("experiment_id".into(), json!(exp.config.experiment_id));
            m.insert("experiment_dir".into(), json!(exp.root.display().to_string()));
            m.insert("config_hash".into(), json!(config_hash(&exp.config.raw, era)));
            if v3 {
                m.insert("experiment_state".into(), json!("tiers_running"));
                m.insert("tier_states".into(), json!({}));
                m.insert("subtest_states".into(), json!({}));
                m.insert("run_states".into(), json!({}));
            }
            m.insert("completed_runs".into(), json!({}));
            m.insert("started_at".into(), json!(now));
            m.insert("last_updated_at".into(), json!(now));
            if v3 {
                m.insert("last_heartbeat".into(), json!(now));
            }
            m.insert("status".into(), json!("interrupted"));
            m.insert("rate_limit_source".into(), Value::Null);
            m.insert("rate_limit_until".into(), Value::Null);
            m.insert("pause_count".into(), json!(0));
            m.insert("pid".into(), Value::Null);
            m
        }
    };
    let v3 = cp.contains_key("run_states");
    let mut all_done = true;
    for r in runs {
        let key = &exp.runs[r.index].key;
        let run = key.run.to_string();
        let (state, done) = expected_state(r, || judge_passed(exp, r));
        all_done &= state == "worktree_cleaned";
        set_nested(&mut cp, "completed_runs", &key.tier, &key.subtest, &run, done);
        if v3 {
            set_nested(&mut cp, "run_states", &key.tier, &key.subtest, &run, Some(state));
        }
    }
    if all_done && !runs.is_empty() {
        cp.insert("status".into(), json!("completed"));
        if v3 {
            cp.insert("experiment_state".into(), json!("complete"));
            let tiers: Map<String, Value> = exp.tiers.iter().map(|t| (t.clone(), json!("complete"))).collect();
            cp.insert("tier_states".into(), Value::Object(tiers));
            let subtests: Map<String, Value> = exp
                .subtests
                .iter()
                .map(|(t, ss)| {
                    (t.clone(), Value::Object(ss.iter().map(|s| (s.clone(), json!("aggregated"))).collect()))
                })
                .collect();
            cp.insert("subtest_states".into(), Value::Object(subtests));
        }
    }
    cp.insert("last_updated_at".into(), json!(now));
    if cp.contains_key("last_heartbeat") {
        cp.insert("last_heartbeat".into(), json!(now));
    }
    crate::py::json::to_string(&Value::Object(cp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_fixture_config_hash() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scylla-dryrun/config/experiment.json");
        let config = crate::py::json::parse(&std::fs::read(path).expect("fixture")).expect("json");
        assert_eq!(config_hash(&config, Era::Jan2026), "8553442b41f0adc8");
    }
}
