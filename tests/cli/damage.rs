//! Every kind of damage the demo generator deals is classified as docs/contract.md#statuses says,
//! in both layouts and eras (phased = current era, flat = January 2026).

use crate::util::{SharedDemo, assert_run, failures, has_problem_at, problems, run, runs, shared_demo, slot_statuses};
use darn::Damage;
use serde_json::Value;

/// What the slots of a damaged run must show.
#[derive(Debug, Clone, Copy)]
pub enum Slots {
    /// Every slot has this status.
    All(&'static str),
    /// Exactly one slot has the first status, the others the second.
    One(&'static str, &'static str),
    /// Checked elsewhere (`slots_of_runs_whose_agent_failed_*`).
    NotHere,
}

/// the verdict of docs/contract.md#statuses on a damaged run.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub agent: &'static str,
    pub judge: &'static str,
    pub slots: Slots,
    /// The failure class of the failed execution, if one failed; `None`: no problem has a class.
    pub failure: Option<&'static str>,
    /// Some problem is about a path ending with this (the file to fix).
    pub file: Option<&'static str>,
}

/// The verdict docs/contract.md#statuses implies for each kind (see `make_run` in src/demo.rs for what each
/// kind does to the run).
pub fn verdict(kind: Damage) -> Verdict {
    use Slots::*;
    let v = |agent, judge, slots, failure, file| Verdict { agent, judge, slots, failure, file };
    match kind {
        // No run directory: agent rule 1; judge `missing` (agent missing); no slot directory.
        Damage::NeverStarted => v("missing", "missing", All("missing"), None, None),
        // Truncated stdout.log, no recorded outcome: rule 3; nothing was judged.
        Damage::KilledAgent => v("partial", "missing", All("missing"), None, Some("agent/stdout.log")),
        // Rule 2 (a rate-limit message), class rate_limit; judge agent_failed.
        Damage::RateLimitedAgent => v("failed", "agent_failed", NotHere, Some("rate_limit"), None),
        // Exit −1 with zero tokens after the runner's timeout: rule 2, class timeout.
        Damage::AgentTimeout => v("failed", "agent_failed", NotHere, Some("timeout"), None),
        // The agent's own error (non-zero exit / is_error): rule 2, class agent_error.
        Damage::AgentError => v("failed", "agent_failed", NotHere, Some("agent_error"), None),
        // Valid output, a derived agent file missing or wrong: rule 4; the judges are intact.
        Damage::MissingAgentResult => v("results", "complete", All("complete"), None, Some("agent/result.json")),
        Damage::WrongKeyedAgentResult => v("results", "complete", All("complete"), None, Some("agent/result.json")),
        Damage::MissingOutputTxt => v("results", "complete", All("complete"), None, Some("agent/output.txt")),
        // No slot started: judge `missing`.
        Damage::JudgesNeverRan => v("completed", "missing", All("missing"), None, Some("judge/judge_01")),
        // One slot missing, none failed, not all complete: judge `partial`.
        Damage::MissingJudgeSlot => v("completed", "partial", One("missing", "complete"), None, None),
        // A slot that ran but gave no usable judgment: slot and judge `failed`.
        Damage::FailedJudgeSlot => v("completed", "failed", One("failed", "complete"), Some("judge_error"), None),
        Damage::UnparseableJudge => {
            v("completed", "failed", One("failed", "complete"), Some("judge_unparseable"), None)
        }
        Damage::RateLimitedJudge => v("completed", "failed", One("failed", "complete"), Some("rate_limit"), None),
        // A usable response without judgment.json: slot `partial`, judge `partial`.
        Damage::MissingJudgment => v("completed", "partial", One("partial", "complete"), None, Some("judgment.json")),
        // Every slot complete but judge/result.json missing or disagreeing: judge `partial`.
        Damage::MissingConsensus => v("completed", "partial", All("complete"), None, Some("judge/result.json")),
        Damage::StaleConsensus => v("completed", "partial", All("complete"), None, Some("judge/result.json")),
        // Agent and judges complete; only the run's aggregates are missing or wrong.
        Damage::MissingRunResult => v("completed", "complete", All("complete"), None, Some("run_result.json")),
        Damage::LostJudges => v("completed", "complete", All("complete"), None, Some("run_result.json")),
        Damage::MissingRunReport => v("completed", "complete", All("complete"), None, Some("report.json")),
    }
}

/// Checks every run of the shared demo of one layout that is damaged with `kind`.
fn check_kind(kind: Damage, phased: bool) {
    let demo = shared_demo(phased);
    let damaged = demo.summary.runs_with(kind);
    assert!(!damaged.is_empty(), "the demo has no run damaged with {kind:?}");
    let status = &demo.status;
    let want = verdict(kind);
    let era = if phased { "phased" } else { "flat" };
    for id in damaged {
        let r = run(status, id);
        let context = format!("{kind:?} ({era}) in {id}: {r:#}");
        assert_run(r, want.agent, want.judge);
        let slots = slot_statuses(r);
        assert_eq!(slots.len(), 3, "one entry per configured judge; {context}");
        match want.slots {
            Slots::All(s) => assert!(slots.iter().all(|x| x == s), "every slot {s}; {context}"),
            Slots::One(odd, rest) => {
                assert_eq!(slots.iter().filter(|x| *x == odd).count(), 1, "one slot {odd}; {context}");
                assert_eq!(slots.iter().filter(|x| *x == rest).count(), 2, "the other slots {rest}; {context}");
            }
            Slots::NotHere => {}
        }
        assert!(!problems(r).is_empty(), "a damaged run has problems; {context}");
        match want.failure {
            Some(class) => assert!(failures(r).iter().any(|f| f == class), "failure class {class}; {context}"),
            None => assert!(failures(r).is_empty(), "no failure class; {context}"),
        }
        if let Some(file) = want.file {
            assert!(has_problem_at(r, file), "a problem about {file}; {context}");
        }
        if let Slots::One(odd, _) = want.slots
            && odd != "complete"
        {
            let slot = slots.iter().position(|x| x == odd).expect("the odd slot") + 1;
            let dir = format!("judge/judge_{slot:02}");
            assert!(
                problems(r).iter().any(|p| p["path"].as_str().is_some_and(|p| p.contains(&dir))),
                "a problem names {dir}; {context}"
            );
        }
    }
}

macro_rules! damage_tests {
    ($($name:ident => $kind:ident,)*) => {
        $(
            #[test]
            fn $name() {
                check_kind(Damage::$kind, true);
                check_kind(Damage::$kind, false);
            }
        )*

        /// Every kind has its test above.
        #[test]
        fn every_damage_kind_is_tested() {
            let tested = [$(Damage::$kind),*];
            for kind in Damage::ALL {
                assert!(tested.contains(&kind), "no test for {kind:?}");
            }
        }
    };
}

damage_tests! {
    never_started => NeverStarted,
    killed_agent => KilledAgent,
    rate_limited_agent => RateLimitedAgent,
    agent_timeout => AgentTimeout,
    agent_error => AgentError,
    missing_agent_result => MissingAgentResult,
    wrong_keyed_agent_result => WrongKeyedAgentResult,
    missing_output_txt => MissingOutputTxt,
    judges_never_ran => JudgesNeverRan,
    missing_judge_slot => MissingJudgeSlot,
    failed_judge_slot => FailedJudgeSlot,
    unparseable_judge => UnparseableJudge,
    rate_limited_judge => RateLimitedJudge,
    missing_judgment => MissingJudgment,
    missing_consensus => MissingConsensus,
    stale_consensus => StaleConsensus,
    missing_run_result => MissingRunResult,
    lost_judges => LostJudges,
    missing_run_report => MissingRunReport,
}

/// Runs the generator left alone are complete, with every slot complete and no problem.
#[test]
fn undamaged_demo_runs_are_complete() {
    for phased in [true, false] {
        let SharedDemo { summary, status, .. } = shared_demo(phased);
        let damaged: Vec<&str> = summary.damaged.iter().map(|(id, _)| id.as_str()).collect();
        let mut clean = 0;
        for r in runs(status).iter().filter(|r| !damaged.contains(&r["id"].as_str().unwrap_or(""))) {
            assert_run(r, "completed", "complete");
            assert!(slot_statuses(r).iter().all(|s| s == "complete"), "{r:#}");
            assert!(problems(r).is_empty(), "{r:#}");
            clean += 1;
        }
        assert_eq!(clean, summary.runs - summary.damaged.len(), "every clean run is reported");
    }
}

/// docs/contract.md#slot-status: `missing` is "no slot directory or nothing in it", and the slot
/// vocabulary is missing/failed/partial/complete; `agent_failed` is a *run's* judge status. A run
/// whose agent failed has no judge directory, so its slots are `missing`.
#[test]
fn slots_of_runs_whose_agent_failed_are_missing() {
    for phased in [true, false] {
        let SharedDemo { exp, summary, status } = shared_demo(phased);
        for kind in [Damage::RateLimitedAgent, Damage::AgentTimeout, Damage::AgentError] {
            for id in summary.runs_with(kind) {
                let r = run(status, id);
                assert!(!exp.path(&format!("{}/judge", r["path"].as_str().unwrap_or(""))).exists());
                assert_eq!(slot_statuses(r), ["missing"; 3], "{kind:?} {id}: {r:#}");
            }
        }
    }
}

/// Every run carries exactly one of the statuses its counts count.
fn counts_agree(status: &Value) {
    for side in ["agent", "judge"] {
        let counts = status["counts"][side].as_object().expect("counts object");
        for (name, n) in counts {
            let have = runs(status).iter().filter(|r| r[side] == name.as_str()).count();
            assert_eq!(n.as_u64(), Some(have as u64), "counts.{side}.{name}");
        }
    }
}

/// The counts of the damaged demos agree with their runs, and each kind adds to the count of its
/// verdict.
#[test]
fn damaged_demo_counts_agree_with_runs() {
    for phased in [true, false] {
        let SharedDemo { summary, status, .. } = shared_demo(phased);
        assert_eq!(runs(status).len(), summary.runs);
        counts_agree(status);
        let failed = Damage::ALL.iter().filter(|k| verdict(**k).agent == "failed");
        let want: usize = failed.map(|k| summary.runs_with(*k).len()).sum();
        assert_eq!(status["counts"]["agent"]["failed"], want as u64);
        assert_eq!(status["counts"]["judge"]["agent_failed"], want as u64);
    }
}

/// A file darn needs but cannot rebuild from a damaged input is work left: `plan` and
/// `reconcile` say what blocks it and exit 1, never "up to date".
#[test]
fn blocked_by_a_damaged_input_is_not_up_to_date() {
    let (exp, _) = crate::util::Exp::demo(darn::DemoSpec {
        tiers: 1,
        subtests: 1,
        runs_per_subtest: 2,
        damage: false,
        ..darn::DemoSpec::default()
    });
    let done = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(done.status.code(), Some(0), "{}", crate::util::text(&done.stderr));
    let agent = "completed/T0/00/run_01/agent";
    exp.write(&format!("{agent}/command_log.json"), "{\"broken");
    exp.remove(&format!("{agent}/timing.json"));

    let out = exp.darn(&["--json", "plan"]);
    assert_eq!(out.status.code(), Some(1));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let blocked = plan["blocked"].as_array().expect("a blocked list");
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    assert_eq!(blocked[0]["node"], "T0/00/run_01/agent/timing.json");
    assert_eq!(blocked[0]["cause"]["kind"], "inputs_damaged");

    for args in [&["reconcile", "--regenerate-only"][..], &["reconcile"]] {
        let out = exp.darn(args);
        let stdout = crate::util::text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}");
        assert!(!stdout.contains("up to date") && stdout.contains("agent/command_log.json"), "{stdout}");
    }
    assert!(!exp.path(&format!("{agent}/timing.json")).exists(), "nothing is invented");
}
