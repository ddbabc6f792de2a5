//! What a rule's check finds about its node, as data: the planner decides from these values and
//! the printer alone turns them into words.

use crate::experiment::files::RunFile;
pub use crate::observe::files::IoProblem;
pub use crate::observe::sources::{JsonType, Malformed, Unusable};
use serde::{Deserialize, Serialize};

/// Why an execution failed (docs/contract.md#failure-classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    RateLimit,
    Infrastructure,
    Timeout,
    AgentError,
    JudgeUnparseable,
    JudgeError,
}

impl FailureClass {
    pub const ALL: [FailureClass; 6] = [
        FailureClass::RateLimit,
        FailureClass::Infrastructure,
        FailureClass::Timeout,
        FailureClass::AgentError,
        FailureClass::JudgeUnparseable,
        FailureClass::JudgeError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureClass::RateLimit => "rate_limit",
            FailureClass::Infrastructure => "infrastructure",
            FailureClass::Timeout => "timeout",
            FailureClass::AgentError => "agent_error",
            FailureClass::JudgeUnparseable => "judge_unparseable",
            FailureClass::JudgeError => "judge_error",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What the evidence of a failed execution says happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// The runner's invalid-result signature: exit −1 with zero tokens.
    InvalidResult,
    /// The agent ran out of time.
    TimedOut,
    /// A non-zero exit code.
    Exit(i64),
    /// The CLI's result says `is_error`.
    ReportedError,
    /// A rate-limit message.
    RateLimited,
    /// stdout is not a Claude Code JSON result.
    NotAResult,
    /// The judge recorded an error.
    JudgeFailed,
    /// The judge's response has no parseable verdict.
    Unparseable(Box<str>),
    /// The judge's response is empty.
    EmptyResponse,
    /// Nothing in the slot holds a response.
    NoResponse,
}

/// A failed execution: its class, what happened, the file that says so, and the message it
/// recorded (first line, shortened).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Failure {
    pub class: FailureClass,
    pub kind: FailureKind,
    pub file: RunFile,
    pub message: Option<Box<str>>,
}

/// Why an execution's outputs are incomplete.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Incomplete {
    /// darn was stopped while it ran (its incomplete marker is still there).
    Interrupted,
    /// No output at all.
    NoOutput,
    /// The output is empty.
    EmptyOutput,
    /// The output ends early or is corrupt.
    Truncated,
}

/// What a node cannot go on without: the check or the build waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Waiting {
    /// A usable agent transcript.
    AgentOutput,
    /// A recorded agent duration (the command log or `agent/timing.json`).
    AgentDuration,
    /// A usable judgment in every slot.
    Judgments,
    /// A recorded judge duration.
    JudgeDuration,
    /// A valid `run_result.json`.
    RunResult,
    /// A valid tier `result.json`.
    TierResult,
    /// A valid experiment `result.json`.
    ExperimentResult,
}

/// Why something cannot be rebuilt here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unbuildable {
    /// It is built from the agent's workspace, which is gone.
    NoWorkspace,
    /// The build pipeline it includes did not finish (the message says why).
    Pipeline(Box<str>),
}

/// A value in a file that differs from what its inputs give.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Difference {
    /// The key (dotted for nested keys), or empty when the whole file differs.
    pub field: Box<str>,
    /// What the file holds, shortened for display.
    pub recorded: Box<str>,
    /// What the inputs give, shortened for display.
    pub expected: Box<str>,
    /// The input the expected value comes from.
    pub source: Option<RunFile>,
}

/// A rule's verdict on its node's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Finding {
    /// Present, valid, and what its inputs give.
    Fresh,
    /// An output file is absent.
    Missing(RunFile),
    /// An output exists but cannot be read.
    Unreadable(RunFile, IoProblem),
    /// An output is not what its format requires.
    Malformed(RunFile, Malformed),
    /// An output is valid on its own but differs from what its inputs give.
    Differs(RunFile, Box<Difference>),
    /// Cannot be checked or built until something upstream exists.
    Waiting(Waiting),
    /// An input is unreadable or corrupt: the node keeps what it has rather than rebuild from it.
    InputDamaged(RunFile, Unusable),
    /// An execution that never started.
    NeverRan,
    /// An execution that finished unsuccessfully.
    Failed(Box<Failure>),
    /// An execution that started but left no complete output.
    Incomplete(RunFile, Incomplete),
    /// An execution made with another model than the configured one.
    ModelChanged(Box<str>),
    /// Missing or stale, and it cannot be rebuilt here.
    Unbuildable(Unbuildable),
}

impl Finding {
    pub fn is_fresh(&self) -> bool {
        matches!(self, Finding::Fresh)
    }

    /// The finding for an output that is unusable for this reason.
    pub fn output(file: RunFile, why: Unusable) -> Finding {
        match why {
            Unusable::Missing => Finding::Missing(file),
            Unusable::Unreadable(p) => Finding::Unreadable(file, p),
            Unusable::Malformed(m) => Finding::Malformed(file, m),
        }
    }

    /// The failure class, for failed executions.
    pub fn failure(&self) -> Option<FailureClass> {
        match self {
            Finding::Failed(f) => Some(f.class),
            _ => None,
        }
    }

    /// The file the finding is about, when there is one.
    pub fn file(&self) -> Option<RunFile> {
        match self {
            Finding::Missing(f)
            | Finding::Unreadable(f, _)
            | Finding::Malformed(f, _)
            | Finding::Differs(f, _)
            | Finding::InputDamaged(f, _)
            | Finding::Incomplete(f, _) => Some(*f),
            Finding::Failed(f) => Some(f.file),
            Finding::Fresh
            | Finding::Waiting(_)
            | Finding::NeverRan
            | Finding::ModelChanged(_)
            | Finding::Unbuildable(_) => None,
        }
    }
}

/// Shortens a value for display: first line, at most 160 characters.
pub fn first_line(text: &str) -> Box<str> {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(157).collect::<String>()).into()
    } else {
        line.into()
    }
}
