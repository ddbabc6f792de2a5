//! `run/judge/result.json` (and `judge/timing.json` when it is missing): the consensus of the
//! run's judge slots (docs/format.md#consensus, docs/format.md#consensus-formula).

use super::compare;
use super::content::consensus::{Consensus, SlotOutcome};
use super::content::runner_files;
use super::cx::RunCx;
use super::finding::{Finding, JsonType, Malformed, Waiting};
use super::judge_slot::SlotState;
use super::{Dep, Link, Output, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::experiment::era::{ConsensusShape, Era, JudgeTiming};
use crate::py::json as pyjson;
use serde_json::Value;

pub static CONSENSUS: ConsensusRule = ConsensusRule;

pub struct ConsensusRule;

static SPEC: Spec = Spec {
    key: "consensus",
    name: "judge/result.json",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Judge,
    version: 1,
    after: &[Dep { rule: "judgment", link: Link::EachSlot }],
    outputs: &["judge/result.json", "judge/timing.json"],
    reads: &["judge/judge_{each}/*"],
    stale_when: StaleWhen::Checked,
};

/// The consensus of a run whose slots all have a usable judgment.
#[derive(Debug, Clone)]
pub struct ConsensusView {
    pub consensus: Consensus,
    /// Every slot's outcome, in slot order.
    pub outcomes: Vec<SlotOutcome>,
    /// The judges' wall-clock seconds: `judge/timing.json`, else derived from the slots.
    pub judge_duration: Option<f64>,
    /// `judge/timing.json` to write, when it is missing and the slots' timings give it.
    pub timing_to_write: Option<String>,
}

/// `judge/timing.json` when absent: the sum of slot times (January 2026) or the last slot's
/// cumulative time (current runner, docs/format.md#bug-judge-timing-is-cumulative).
pub fn derive_judge_duration(era: Era, times: &[f64]) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    Some(match era.judge_timing {
        JudgeTiming::PerSlot => crate::py::stats::py_sum(times),
        JudgeTiming::Cumulative => times.iter().copied().fold(0.0, f64::max),
    })
}

fn judge_timing(run: &RunCx) -> Option<std::sync::Arc<Value>> {
    run.src.json(RunCx::file("judge/timing.json")).ok()
}

pub(super) fn view(run: &RunCx) -> Option<ConsensusView> {
    let mut outcomes = Vec::with_capacity(usize::from(run.info.slots));
    for v in run.slot_views() {
        match (&v.state, &v.judgment) {
            (SlotState::Usable, Some(j)) => outcomes.push(SlotOutcome::Judged(j.clone())),
            _ => return None,
        }
    }
    let era = run.info.exp.era;
    let consensus = Consensus::compute(era.consensus, &outcomes);
    let recorded = judge_timing(run).as_ref().and_then(|v| v.get("judge_duration_seconds")).and_then(pyjson::as_f64);
    let times: Vec<f64> = run.slot_views().filter_map(|s| s.sources.duration_seconds).collect();
    let derived = derive_judge_duration(era, &times);
    let timing_to_write = match (recorded, derived) {
        (None, Some(secs)) => {
            let at = run
                .slot_views()
                .filter_map(|s| s.sources.measured_at.clone())
                .last()
                .unwrap_or_else(crate::util::time::now_iso);
            Some(runner_files::judge_timing(secs, &at))
        }
        _ => None,
    };
    Some(ConsensusView { consensus, outcomes, judge_duration: recorded.or(derived), timing_to_write })
}

/// Compares an existing consensus with the computed one.
fn check_against(era: Era, c: &Consensus, existing: &Value) -> Finding {
    let file = RunCx::file("judge/result.json");
    let obj = match compare::object(file, existing) {
        Ok(o) => o,
        Err(f) => return f,
    };
    for key in ["score", "passed", "grade"] {
        if !obj.contains_key(key) {
            return Finding::Malformed(file, Malformed::MissingKey(key.into()));
        }
    }
    if obj.get("score").and_then(pyjson::as_f64).is_none() {
        return Finding::Malformed(file, Malformed::WrongType { key: "score".into(), expected: JsonType::Number });
    }
    let want = c.to_value(era.consensus);
    let mut keys = vec!["score", "passed", "grade", "reasoning"];
    if era.consensus == ConsensusShape::Closest {
        keys.push("is_valid");
    }
    for key in keys {
        let have = obj.get(key).cloned().unwrap_or(Value::Null);
        // `is_valid` absent counts as true, as the runner reads it.
        let have = if key == "is_valid" && have.is_null() { Value::Bool(true) } else { have };
        if !compare::same(&have, &want[key]) {
            return Finding::Differs(file, Box::new(compare::difference(key, &have, &want[key], None)));
        }
    }
    if era.consensus == ConsensusShape::Closest {
        match obj.get("criteria_scores") {
            None => return Finding::Malformed(file, Malformed::MissingKey("criteria_scores".into())),
            // The runner always wrote null here (docs/format.md#bug-resume-loses-criteria-and-judges): accepted, not rewritten.
            Some(Value::Null) => {}
            Some(have) if *have != c.criteria_scores => {
                return Finding::Differs(
                    file,
                    Box::new(compare::difference("criteria_scores", have, &c.criteria_scores, None)),
                );
            }
            Some(_) => {}
        }
    }
    Finding::Fresh
}

impl RunRule for ConsensusRule {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, _slot: u16, out: ParamSink<'_, 'a>) {
        out("era", info.shared.era);
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        let Some(view) = run.consensus() else { return Finding::Waiting(Waiting::Judgments) };
        let file = RunCx::file("judge/result.json");
        let finding = match run.src.json(file) {
            Err(why) => Finding::output(file, why),
            Ok(v) => check_against(run.info.exp.era, &view.consensus, &v),
        };
        if finding.is_fresh() && view.timing_to_write.is_some() {
            return Finding::Missing(RunCx::file("judge/timing.json"));
        }
        finding
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        let view = run.consensus().ok_or(Finding::Waiting(Waiting::Judgments))?;
        let mut out = vec![Output::new(
            RunCx::file("judge/result.json"),
            pyjson::to_string(&view.consensus.to_value(run.info.exp.era.consensus)),
        )];
        if let Some(t) = &view.timing_to_write {
            out.push(Output::new(RunCx::file("judge/timing.json"), t.as_bytes()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, built, finding};

    fn judged() -> RunFixture {
        RunFixture::new()
            .file("judge/judge_01/response.txt", "{\"score\": 0.8, \"passed\": true, \"reasoning\": \"good\"}")
            .file(
                "judge/judge_01/timing.json",
                "{\"judge_duration_seconds\": 2.5, \"measured_at\": \"2026-01-01T00:00:00+00:00\"}",
            )
    }

    #[test]
    fn findings() {
        let run = judged();
        assert!(matches!(finding(&run, "consensus", 0), Finding::Missing(_)));
        let files = built(&run, "consensus", 0);
        assert_eq!(
            files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            ["judge/result.json", "judge/timing.json"]
        );
        let run = files.iter().fold(run, |r, (f, b)| r.file(f, &String::from_utf8_lossy(b)));
        assert_eq!(finding(&run, "consensus", 0), Finding::Fresh);
        let run = run.file("judge/result.json", "{\"score\": 0.5, \"passed\": true, \"grade\": \"C\", \"reasoning\": \"good\", \"is_valid\": true, \"criteria_scores\": null}");
        match finding(&run, "consensus", 0) {
            Finding::Differs(_, d) => assert_eq!(&*d.field, "score"),
            f => panic!("{f:?}"),
        }
        let unjudged = RunFixture::new().file("judge/judge_01/error.log", "Judge failed: x");
        assert_eq!(finding(&unjudged, "consensus", 0), Finding::Waiting(Waiting::Judgments));
    }
}
