//! A run's agent, judge and slot statuses (docs/contract.md#statuses), from its nodes' findings. They follow the
//! names of the old repair scripts; what work a run needs is the planner's verdict, not theirs.

use super::facts::Facts;
use super::graph::{Graph, NodeId};
use crate::experiment::files::RunFile;
use crate::rules::finding::{FailureClass, Finding};
use crate::rules::{RuleIx, RunProgress, SlotDisk};
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

/// Judge status of a run (and, per slot, of one slot).
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

/// Why a run is not complete: a node's finding, and the file it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub node: NodeId,
    /// The file the problem is about, relative to the run (`None`: the run itself).
    pub file: Option<RunFile>,
    pub finding: Finding,
}

impl Problem {
    pub fn failure(&self) -> Option<FailureClass> {
        self.finding.failure()
    }
}

/// The statuses of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    pub agent: AgentStatus,
    pub judge: JudgeStatus,
    pub slots: Vec<JudgeStatus>,
    pub problems: Vec<Problem>,
    /// `run_result.json` or the run report needs regenerating.
    pub aggregate_pending: bool,
    /// The run directory exists.
    pub exists: bool,
}

impl RunStatus {
    /// Where the run stands, as the checkpoint records it.
    pub fn progress(&self, passed: bool) -> RunProgress {
        if self.problems.iter().any(|p| matches!(p.finding, Finding::InputDamaged(..) | Finding::Unreadable(..))) {
            return RunProgress::AsRecorded;
        }
        match self.agent {
            AgentStatus::Missing => RunProgress::NotStarted,
            AgentStatus::Partial => RunProgress::Running,
            AgentStatus::Failed => RunProgress::Failed,
            AgentStatus::Results | AgentStatus::Completed => {
                if self.agent == AgentStatus::Completed
                    && self.judge == JudgeStatus::Complete
                    && !self.aggregate_pending
                {
                    RunProgress::Finished { passed }
                } else if self.judge == JudgeStatus::Complete {
                    RunProgress::Judged
                } else {
                    RunProgress::AgentDone
                }
            }
        }
    }
}

/// The rules the statuses are defined over.
#[derive(Debug, Clone, Copy)]
pub struct StatusRules {
    agent: RuleIx,
    derived: [RuleIx; 3],
    slot: RuleIx,
    judgment: RuleIx,
    consensus: RuleIx,
    run_result: RuleIx,
    run_report: RuleIx,
}

impl StatusRules {
    pub fn of(graph: &Graph) -> Option<StatusRules> {
        let r = |k: &str| graph.registry.by_name(k);
        Some(StatusRules {
            agent: r("agent")?,
            derived: [r("agent-output")?, r("agent-result")?, r("agent-timing")?],
            slot: r("judge")?,
            judgment: r("judgment")?,
            consensus: r("consensus")?,
            run_result: r("run-result")?,
            run_report: r("run-report")?,
        })
    }
}

/// Classifies one run from its nodes' findings (docs/contract.md#statuses).
pub fn classify(graph: &Graph, rules: &StatusRules, facts: &Facts, run: usize) -> Option<RunStatus> {
    let rf = facts.runs.get(run)?.as_ref()?;
    let node = |rule: RuleIx, slot: u16| graph.run_node(run, rule, slot);
    let finding = |n: Option<NodeId>| n.map_or(&Finding::Fresh, |n| facts.finding(n));
    let mut problems = Vec::new();
    let mut problem = |n: Option<NodeId>, f: &Finding| {
        if let Some(n) = n {
            problems.push(Problem { node: n, file: f.file(), finding: f.clone() });
        }
    };

    let agent_node = node(rules.agent, 0);
    let agent = match finding(agent_node) {
        Finding::NeverRan => {
            problem(agent_node, &Finding::NeverRan);
            AgentStatus::Missing
        }
        f @ Finding::Failed(_) => {
            problem(agent_node, f);
            AgentStatus::Failed
        }
        f @ Finding::Incomplete(..) => {
            problem(agent_node, f);
            AgentStatus::Partial
        }
        f @ (Finding::Unreadable(..) | Finding::InputDamaged(..)) => {
            problem(agent_node, f);
            AgentStatus::Partial
        }
        _ => {
            let mut pending = false;
            for r in rules.derived {
                let n = node(r, 0);
                let f = finding(n);
                if !f.is_fresh() {
                    pending = true;
                    problem(n, f);
                }
            }
            if pending { AgentStatus::Results } else { AgentStatus::Completed }
        }
    };

    let slots: Vec<JudgeStatus> = (1..=graph.slots)
        .map(|s| {
            let disk = rf.extras.slots.get(usize::from(s) - 1).map_or(SlotDisk::Missing, |x| x.state);
            match disk {
                SlotDisk::Missing => JudgeStatus::Missing,
                SlotDisk::Failed => JudgeStatus::Failed,
                SlotDisk::Usable if finding(node(rules.judgment, s)).is_fresh() => JudgeStatus::Complete,
                SlotDisk::Usable => JudgeStatus::Partial,
            }
        })
        .collect();

    let consensus_node = node(rules.consensus, 0);
    let judge = if agent == AgentStatus::Failed {
        JudgeStatus::AgentFailed
    } else if matches!(agent, AgentStatus::Missing | AgentStatus::Partial)
        || slots.iter().all(|s| *s == JudgeStatus::Missing)
    {
        JudgeStatus::Missing
    } else if slots.contains(&JudgeStatus::Failed) {
        JudgeStatus::Failed
    } else if slots.iter().all(|s| *s == JudgeStatus::Complete) && finding(consensus_node).is_fresh() {
        JudgeStatus::Complete
    } else {
        JudgeStatus::Partial
    };

    // Judge problems are worth listing only once the agent has a result to judge.
    if matches!(agent, AgentStatus::Results | AgentStatus::Completed) {
        for (i, status) in slots.iter().enumerate() {
            let s = i as u16 + 1;
            match status {
                JudgeStatus::Missing | JudgeStatus::Failed => {
                    let n = node(rules.slot, s);
                    problem(n, finding(n));
                }
                JudgeStatus::Partial => {
                    let n = node(rules.judgment, s);
                    problem(n, finding(n));
                }
                JudgeStatus::Complete | JudgeStatus::AgentFailed => {}
            }
        }
        if judge == JudgeStatus::Partial {
            let f = finding(consensus_node);
            if !f.is_fresh() && !matches!(f, Finding::Waiting(_)) {
                problem(consensus_node, f);
            }
        }
    }

    let mut aggregate_pending = false;
    if judge == JudgeStatus::Complete && matches!(agent, AgentStatus::Results | AgentStatus::Completed) {
        for r in [rules.run_result, rules.run_report] {
            let n = node(r, 0);
            let f = finding(n);
            if !f.is_fresh() {
                aggregate_pending = true;
                if !matches!(f, Finding::Waiting(_)) {
                    problem(n, f);
                }
            }
        }
    }
    Some(RunStatus { agent, judge, slots, problems, aggregate_pending, exists: rf.files.exists })
}

/// The runs' progress for the checkpoint, from their statuses.
pub fn progress_of(statuses: &[Option<RunStatus>], facts: &Facts) -> Vec<RunProgress> {
    statuses
        .iter()
        .enumerate()
        .map(|(r, st)| {
            let passed = facts.runs[r].as_ref().and_then(|f| f.extras.passed).unwrap_or(false);
            st.as_ref().map_or(RunProgress::NotStarted, |s| s.progress(passed))
        })
        .collect()
}
