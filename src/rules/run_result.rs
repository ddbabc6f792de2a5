//! `run/run_result.json`: the run summary (docs/format.md#run-result), computed from the agent's transcript
//! and timing, the judges' responses and timings, and the experiment's configuration; with
//! `judges[]`, per-judge validity and criteria kept (fixing docs/format.md#bug-regeneration-needs-two-passes, docs/format.md#bug-regenerated-run-result-is-incomplete, docs/format.md#bug-judge-rerun-patches-run-result-partially, docs/format.md#bug-resumed-runs-lose-judges-in-tier-result, docs/format.md#bug-resume-loses-criteria-and-judges).

use super::compare;
use super::content::run_result::{RunResultInputs, build};
use super::cx::RunCx;
use super::finding::{Finding, Malformed, Waiting};
use super::{Dep, Link, Output, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::py::json as pyjson;
use serde_json::Value;

pub static RUN_RESULT: RunResultRule = RunResultRule;

pub struct RunResultRule;

static SPEC: Spec = Spec {
    key: "run-result",
    name: "run_result.json",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[
        Dep { rule: "agent-output", link: Link::Same },
        Dep { rule: "agent-result", link: Link::Same },
        Dep { rule: "agent-timing", link: Link::Same },
        Dep { rule: "judgment", link: Link::EachSlot },
        Dep { rule: "consensus", link: Link::Same },
    ],
    outputs: &["run_result.json"],
    reads: &["agent/*", "judge/judge_{each}/*", "judge/timing.json"],
    stale_when: StaleWhen::Checked,
};

/// `run_result.json` as its inputs give it, or what it waits for.
pub(super) fn expected(run: &RunCx) -> Result<Value, Waiting> {
    if !run.agent_ok() {
        return Err(Waiting::AgentOutput);
    }
    let d = run.derived().ok_or(Waiting::AgentOutput)?;
    let c = run.consensus().ok_or(Waiting::Judgments)?;
    let agent_duration = run.agent_duration().ok_or(Waiting::AgentDuration)?;
    let judge_duration = c.judge_duration.ok_or(Waiting::JudgeDuration)?;
    let info = run.info;
    let previous = run.src.json(RunCx::file("run_result.json")).ok();
    // Keep the paths the runner recorded (docs/format.md#bug-absolute-paths-baked-into-files), even after a move between layouts.
    let run_path = previous
        .as_ref()
        .and_then(|v| v.get("workspace_path"))
        .and_then(Value::as_str)
        .and_then(|p| p.strip_suffix("/workspace"))
        .map_or_else(|| info.recorded_run_path.clone(), str::to_string);
    let slots = (1..=info.slots).map(|s| info.judge_model(s).to_string()).zip(c.outcomes.iter().cloned()).collect();
    Ok(build(&RunResultInputs {
        era: info.exp.era,
        run_number: info.key.run,
        exit_code: d.exit_code,
        tokens: d.tokens,
        cost_usd: d.cost_usd,
        agent_duration,
        judge_duration,
        consensus: &c.consensus,
        slots,
        run_path,
        baseline_summary: info.baseline,
        previous: previous.as_deref(),
    }))
}

impl RunRule for RunResultRule {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, _slot: u16, out: ParamSink<'_, 'a>) {
        out("era", info.shared.era);
        out("run_path", &info.recorded_run_path);
        out("judge_models", &info.shared.judge_models_joined);
        out("baseline", info.baseline_text);
        // `judges[].model` names a model chosen for a slot: the choice is a parameter too.
        const CHOSEN: [&str; 9] = [
            "chosen_1", "chosen_2", "chosen_3", "chosen_4", "chosen_5", "chosen_6", "chosen_7", "chosen_8", "chosen_9",
        ];
        for (i, name) in CHOSEN.iter().enumerate().take(usize::from(info.slots)) {
            if let Some(m) = info.exp.judge_choices.model(&info.id, i + 1) {
                out(name, m);
            }
        }
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        let want = match run.expected_run_result() {
            Ok(w) => w,
            Err(w) => return Finding::Waiting(w),
        };
        let file = RunCx::file("run_result.json");
        let have = match run.src.json(file) {
            Ok(v) => v,
            Err(why) => return Finding::output(file, why),
        };
        // An empty `judges[]` (the runner lost it on resume, docs/format.md#bug-resumed-runs-lose-judges-in-tier-result, docs/format.md#bug-resume-loses-criteria-and-judges) is a defect even when the
        // rest agrees.
        if have.get("judges").and_then(Value::as_array).is_some_and(Vec::is_empty)
            && want.get("judges").and_then(Value::as_array).is_some_and(|j| !j.is_empty())
        {
            return Finding::Malformed(file, Malformed::EmptyList("judges".into()));
        }
        compare::against(file, &have, want, None)
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        let want = run.expected_run_result().map_err(Finding::Waiting)?;
        Ok(vec![Output::new(RunCx::file("run_result.json"), pyjson::to_string(want))])
    }
}
