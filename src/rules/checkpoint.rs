//! `checkpoint.json` (docs/format.md#checkpoint): the runner's resume state, kept in step with the runs on
//! disk (`run_states`, `completed_runs`, the experiment's status), everything else carried over.

use super::cx::AggCx;
use super::finding::{Difference, Finding};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::experiment::era::{CheckpointShape, Era, RunnerShape};
use crate::experiment::files::RunFile;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub static CHECKPOINT: Checkpoint = Checkpoint;

pub struct Checkpoint;

static SPEC: Spec = Spec {
    key: "checkpoint",
    name: "checkpoint.json",
    scope: Scope::Experiment,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "run-report", link: Link::Below }, Dep { rule: "experiment-report", link: Link::Same }],
    outputs: &["checkpoint.json"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

/// Where one run stands, as the checkpoint records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunProgress {
    /// The agent never started.
    NotStarted,
    /// The agent started and left no complete output.
    Running,
    Failed,
    /// The agent is done; its judges are not.
    AgentDone,
    /// Judged; the run's summary files are not done.
    Judged,
    /// Everything of the run is done.
    Finished {
        passed: bool,
    },
    /// A file the run's state is computed from is damaged: darn cannot tell, so the checkpoint
    /// keeps what it records for the run (never a downgrade from a guess).
    AsRecorded,
}

impl RunProgress {
    /// The run state and the `completed_runs` entry the runner would have for it.
    fn recorded(self) -> (&'static str, Option<&'static str>) {
        match self {
            RunProgress::NotStarted => ("pending", None),
            RunProgress::Running => ("replay_generated", None),
            RunProgress::Failed => ("failed", Some("failed")),
            RunProgress::AgentDone => ("agent_complete", Some("agent_complete")),
            RunProgress::Judged => ("judge_complete", Some("agent_complete")),
            RunProgress::Finished { passed } => ("worktree_cleaned", Some(if passed { "passed" } else { "failed" })),
            // Never written: the entry on disk is kept.
            RunProgress::AsRecorded => ("pending", None),
        }
    }

    fn code(self) -> u8 {
        match self {
            RunProgress::NotStarted => 0,
            RunProgress::Running => 1,
            RunProgress::Failed => 2,
            RunProgress::AgentDone => 3,
            RunProgress::Judged => 4,
            RunProgress::Finished { passed: false } => 5,
            RunProgress::Finished { passed: true } => 6,
            RunProgress::AsRecorded => 7,
        }
    }
}

/// The checkpoint's `config_hash`: the first 16 hex digits of SHA-256 over
/// `json.dumps(config, sort_keys=True)`, without the keys the era's runner leaves out. The
/// current runner also hashed fields that are not in `experiment.json` (docs/format.md#bug-config-hash-covers-unsaved-fields), so darn keeps an
/// existing hash and only computes one for a checkpoint it creates.
pub fn config_hash(config: &Value, era: Era) -> String {
    let mut dict = config.clone();
    if let Some(obj) = dict.as_object_mut() {
        let drop: &[&str] = match era.runner {
            RunnerShape::Jan => &["parallel_subtests", "max_subtests"],
            RunnerShape::Head => {
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

fn nested<'a>(v: &'a Value, key: &str, tier: &str, subtest: &str, run: &str) -> Option<&'a Value> {
    v.get(key)?.get(tier)?.get(subtest)?.get(run)
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

fn file() -> RunFile {
    RunFile::of("checkpoint.json").unwrap_or_else(|| unreachable!("checkpoint.json is in the vocabulary"))
}

/// The repaired checkpoint: run states and `completed_runs` from the runs, everything else
/// (config hash, experiment dir, start time) kept; one in the era's shape when there is none.
fn regenerate(cx: &AggCx) -> String {
    let exp = cx.exp;
    let era = exp.era;
    let now = &cx.now;
    let mut cp: Map<String, Value> = match exp.checkpoint() {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            let v3 = era.checkpoint == CheckpointShape::V3;
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
    for (ri, loc) in exp.runs.iter().enumerate() {
        let key = &loc.key;
        let run = key.run.to_string();
        let progress = cx.inputs.progress(ri);
        if progress == RunProgress::AsRecorded {
            // Its entries stay, and darn cannot say the experiment is complete: the
            // experiment's own status stays as recorded too.
            all_done = false;
            continue;
        }
        let (state, done) = progress.recorded();
        all_done &= state == "worktree_cleaned";
        set_nested(&mut cp, "completed_runs", &key.tier, &key.subtest, &run, done);
        if v3 {
            set_nested(&mut cp, "run_states", &key.tier, &key.subtest, &run, Some(state));
        }
    }
    if all_done && !exp.runs.is_empty() {
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
    // The runner's own times stay: they are what it measured, and darn's repair is no activity
    // of the experiment's (its result's times fall back on them).
    crate::py::json::to_string(&Value::Object(cp))
}

impl AggregateRule for Checkpoint {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
    }

    fn inputs(&self, cx: &AggCx, _at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        let mut d = crate::util::hash::Digest::new();
        for (ri, loc) in cx.exp.runs.iter().enumerate() {
            d.piece(loc.key.id().as_bytes()).raw(&[cx.inputs.progress(ri).code()]);
        }
        out("runs".into(), d.finish());
    }

    fn check(&self, cx: &AggCx, _at: usize) -> Finding {
        let exp = cx.exp;
        let Some(cp) = exp.checkpoint() else {
            return match &exp.checkpoint_problem {
                Some(why) => Finding::output(file(), why.clone()),
                None => Finding::Missing(file()),
            };
        };
        let v3 = cp.get("run_states").is_some();
        for (ri, loc) in exp.runs.iter().enumerate() {
            let key = &loc.key;
            let run = key.run.to_string();
            let progress = cx.inputs.progress(ri);
            if progress == RunProgress::AsRecorded {
                continue;
            }
            let (state, done) = progress.recorded();
            let have_done = nested(cp, "completed_runs", &key.tier, &key.subtest, &run).and_then(Value::as_str);
            let differs = |field: String, have: Option<&str>, want: &str| {
                Finding::Differs(
                    file(),
                    Box::new(Difference {
                        field: field.into(),
                        recorded: have.unwrap_or("nothing").into(),
                        expected: want.into(),
                        source: None,
                    }),
                )
            };
            if have_done != done {
                return differs(format!("completed_runs.{key}"), have_done, done.unwrap_or("nothing"));
            }
            if v3 {
                let have_state = nested(cp, "run_states", &key.tier, &key.subtest, &run).and_then(Value::as_str);
                if have_state.unwrap_or("pending") != state {
                    return differs(format!("run_states.{key}"), have_state, state);
                }
            }
        }
        Finding::Fresh
    }

    fn build(&self, cx: &AggCx, _at: usize) -> Result<Vec<Output>, Finding> {
        Ok(vec![Output::new(file(), regenerate(cx))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_fixture_config_hash() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scylla-dryrun/config/experiment.json");
        let config = crate::py::json::parse(&std::fs::read(path).expect("fixture")).expect("json");
        assert_eq!(config_hash(&config, Era::JAN2026), "8553442b41f0adc8");
    }
}
