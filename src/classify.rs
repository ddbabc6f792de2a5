//! Agent and judge statuses of a run, exactly as CONTRACT.md defines them, with the reason for
//! every verdict that is not complete.

use crate::observe::{AgentOutcome, Check, FailureClass, RunObs, SlotState};
use serde::Serialize;

/// Agent status (first matching rule wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Missing,
    Failed,
    Partial,
    Results,
    Completed,
}

impl AgentStatus {
    pub const ALL: [AgentStatus; 5] =
        [AgentStatus::Missing, AgentStatus::Failed, AgentStatus::Partial, AgentStatus::Results, AgentStatus::Completed];

    pub fn name(self) -> &'static str {
        match self {
            AgentStatus::Missing => "missing",
            AgentStatus::Failed => "failed",
            AgentStatus::Partial => "partial",
            AgentStatus::Results => "results",
            AgentStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// Judge status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum JudgeStatus {
    AgentFailed,
    Missing,
    Failed,
    Partial,
    Complete,
}

impl JudgeStatus {
    pub const ALL: [JudgeStatus; 5] = [
        JudgeStatus::AgentFailed,
        JudgeStatus::Missing,
        JudgeStatus::Failed,
        JudgeStatus::Partial,
        JudgeStatus::Complete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JudgeStatus::AgentFailed => "agent_failed",
            JudgeStatus::Missing => "missing",
            JudgeStatus::Failed => "failed",
            JudgeStatus::Partial => "partial",
            JudgeStatus::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// Status of one judge slot (the run's judge status vocabulary, per slot).
pub type SlotStatus = JudgeStatus;

/// Why a run is not complete: which file, what is wrong, and the failure class if an
/// execution failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Relative to the experiment directory.
    pub path: String,
    pub problem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
}

/// The verdict on one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStatus {
    pub agent: AgentStatus,
    pub judge: JudgeStatus,
    pub slots: Vec<SlotStatus>,
    pub problems: Vec<Problem>,
    /// `run_result.json` or the run report needs regenerating.
    pub aggregate_pending: bool,
}

/// Classifies a run from its observation. `run_rel` is the run directory relative to the
/// experiment (used to name files in problems).
pub fn classify(obs: &RunObs, run_rel: &str) -> RunStatus {
    let mut problems = Vec::new();
    let mut problem = |file: &str, text: String, failure: Option<FailureClass>| {
        problems.push(Problem { path: format!("{run_rel}/{file}"), problem: text, failure });
    };

    let agent = match &obs.agent.outcome {
        AgentOutcome::Missing => {
            let what = if obs.exists {
                "the agent never started (no prompt, command log or output)"
            } else {
                "run directory does not exist"
            };
            problem("", what.into(), None);
            AgentStatus::Missing
        }
        AgentOutcome::Failed { class, detail, file } => {
            problem(file, detail.clone(), Some(*class));
            AgentStatus::Failed
        }
        AgentOutcome::Partial { detail, file } => {
            problem(file, detail.clone(), None);
            AgentStatus::Partial
        }
        AgentOutcome::Ok => {
            let mut pending = false;
            for (file, check) in [
                ("agent/output.txt", &obs.agent.output_txt),
                ("agent/result.json", &obs.agent.result_json),
                ("agent/timing.json", &obs.agent.timing_json),
            ] {
                match check {
                    Check::Ok => {}
                    Check::Blocked => {
                        pending = true;
                        problem(file, "missing, and nothing records the agent's duration".into(), None);
                    }
                    other => {
                        pending = true;
                        problem(file, other.describe().unwrap_or_default(), None);
                    }
                }
            }
            if pending { AgentStatus::Results } else { AgentStatus::Completed }
        }
    };

    let slots: Vec<SlotStatus> = obs
        .slots
        .iter()
        .map(|s| {
            // Slots keep what is on disk; only the run's judge status says the agent failed.
            match (&s.state, &s.judgment) {
                (SlotState::Missing, _) => JudgeStatus::Missing,
                (SlotState::Failed { .. }, _) => JudgeStatus::Failed,
                (SlotState::Usable, Check::Ok) => JudgeStatus::Complete,
                (SlotState::Usable, _) => JudgeStatus::Partial,
            }
        })
        .collect();

    let judge = if agent == AgentStatus::Failed {
        JudgeStatus::AgentFailed
    } else if matches!(agent, AgentStatus::Missing | AgentStatus::Partial)
        || slots.iter().all(|s| *s == JudgeStatus::Missing)
    {
        JudgeStatus::Missing
    } else if slots.contains(&JudgeStatus::Failed) {
        JudgeStatus::Failed
    } else if slots.iter().all(|s| *s == JudgeStatus::Complete) && obs.consensus.is_ok() {
        JudgeStatus::Complete
    } else {
        JudgeStatus::Partial
    };

    // Judge problems are worth listing only once the agent has a result to judge.
    if matches!(agent, AgentStatus::Results | AgentStatus::Completed) {
        for (s, status) in obs.slots.iter().zip(&slots) {
            let dir = format!("judge/{}", crate::experiment::names::slot_dir_name(s.slot));
            match (&s.state, status) {
                (SlotState::Missing, _) => problem(&dir, "judge never ran".into(), None),
                (SlotState::Failed { class, detail, file }, _) => problem(file, detail.clone(), Some(*class)),
                (SlotState::Usable, JudgeStatus::Partial) => {
                    problem(&format!("{dir}/judgment.json"), s.judgment.describe().unwrap_or_default(), None);
                }
                _ => {}
            }
        }
        if judge == JudgeStatus::Partial
            && let Some(why) = obs.consensus.describe()
        {
            problem("judge/result.json", why, None);
        }
    }

    let mut aggregate_pending = false;
    if judge == JudgeStatus::Complete && matches!(agent, AgentStatus::Results | AgentStatus::Completed) {
        for (file, check) in [("run_result.json", &obs.run_result), ("report.json", &obs.report)] {
            if let Some(why) = check.describe() {
                aggregate_pending = true;
                problem(file, why, None);
            }
        }
        if !obs.run_result.is_ok() && matches!(obs.report, Check::Blocked) {
            aggregate_pending = true;
        }
    }

    RunStatus { agent, judge, slots, problems, aggregate_pending }
}
