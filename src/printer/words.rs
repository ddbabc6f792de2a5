//! Every finding, cause and hold in words: what is wrong, and what darn will do. Decisions never
//! read these strings; they are made for people (and for the `detail` fields of the JSON).

use crate::engine::plan::{Cause, CauseKind, CauseWhat, Hold};
use crate::error::io_words;
use crate::rules::finding::{
    Failure, FailureKind, Finding, Incomplete, JsonType, Malformed, Unbuildable, Unusable, Waiting,
};
use crate::util::hash::short_hex;

fn json_type(t: JsonType) -> &'static str {
    match t {
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Bool => "true or false",
        JsonType::Object => "an object",
        JsonType::Array => "a list",
    }
}

/// What is wrong with a file's content.
pub fn malformed(m: &Malformed) -> String {
    match m {
        Malformed::Empty => "empty".into(),
        Malformed::NotJson { line, column } => format!("not valid JSON (line {line}, column {column})"),
        Malformed::Truncated => "cut short (its JSON ends early)".into(),
        Malformed::NotObject => "not a JSON object".into(),
        Malformed::MissingKey(k) => format!("no `{k}`"),
        Malformed::WrongType { key, expected } => format!("`{key}` is not {}", json_type(*expected)),
        Malformed::OutOfRange { key, value } => format!("`{key}` is {value}, out of range"),
        Malformed::WrongKeys { found, expected } => format!(
            "says `{found}` where the runner writes `{expected}` (an old repair script's names: the runner's loaders read 0)"
        ),
        Malformed::EmptyList(k) => format!("`{k}` is empty (the runner lost it on a resume)"),
    }
}

/// Why a file gives nothing usable, without its name.
pub fn unusable_text(u: &Unusable) -> String {
    match u {
        Unusable::Missing => "missing".into(),
        Unusable::Unreadable(p) => io_words(*p).into(),
        Unusable::Malformed(m) => malformed(m),
    }
}

fn waiting(w: Waiting) -> &'static str {
    match w {
        Waiting::AgentOutput => "waits for a valid agent transcript (the agent is to be re-executed first)",
        Waiting::AgentDuration => "nothing records the agent's duration (no command log or timing.json)",
        Waiting::Judgments => "waits for a usable judgment in every judge slot",
        Waiting::JudgeDuration => "nothing records the judges' duration",
        Waiting::RunResult => "waits for a valid run_result.json",
        Waiting::TierResult => "waits for a valid tier result.json",
        Waiting::ExperimentResult => "waits for a valid result.json",
    }
}

/// What a failed execution's evidence says; `who` is `agent` or `judge`.
pub fn failure(f: &Failure, who: &str) -> String {
    let what = match &f.kind {
        FailureKind::InvalidResult => "the runner recorded no result (exit −1 with zero tokens)".to_string(),
        FailureKind::TimedOut => format!("the {who} timed out"),
        FailureKind::Exit(code) => format!("the {who} exited with code {code}"),
        FailureKind::ReportedError => format!("the {who} reported an error"),
        FailureKind::RateLimited => "rate limited".to_string(),
        FailureKind::NotAResult => format!("the {who}'s output is not a Claude Code JSON result"),
        FailureKind::JudgeFailed => "the judge failed".to_string(),
        FailureKind::Unparseable(why) => format!("no verdict can be parsed from the response ({why})"),
        FailureKind::EmptyResponse => "the response is empty".to_string(),
        FailureKind::NoResponse => "no response was recorded".to_string(),
    };
    match &f.message {
        Some(m) if !m.is_empty() => format!("{what}: {m}"),
        _ => what,
    }
}

/// A finding in words, about the file it names (which the reader sees beside it).
pub fn finding(f: &Finding) -> String {
    finding_of(f, "agent")
}

/// A finding in words; `who` names the execution (`agent`, `judge`).
pub fn finding_of(f: &Finding, who: &str) -> String {
    match f {
        Finding::Fresh => "up to date".into(),
        Finding::Missing(_) => "missing".into(),
        Finding::Unreadable(_, p) => io_words(*p).into(),
        Finding::Malformed(_, m) => malformed(m),
        Finding::Differs(_, d) => {
            let source = d.source.map(|s| format!(" (from {})", s.as_str())).unwrap_or_default();
            if d.field.is_empty() {
                format!("disagrees with what its inputs give{source}")
            } else {
                format!("`{}` is {}, its inputs give {}{source}", d.field, d.recorded, d.expected)
            }
        }
        Finding::Waiting(w) => waiting(*w).into(),
        Finding::InputDamaged(file, u) => {
            format!(
                "cannot be built from {}, which is {} (restore it, or re-execute what wrote it)",
                file.as_str(),
                unusable_text(u)
            )
        }
        Finding::NeverRan => format!("the {who} never ran"),
        Finding::Failed(fail) => failure(fail, who),
        Finding::Incomplete(_, why) => match why {
            Incomplete::Interrupted => {
                format!("darn was stopped while the {who} ran (its incomplete marker is still there)")
            }
            Incomplete::NoOutput => format!("the {who} started but left no output"),
            Incomplete::EmptyOutput => format!("the {who}'s output is empty"),
            Incomplete::Truncated => format!("the {who}'s output ends in the middle of its JSON (killed mid-write?)"),
        },
        Finding::ModelChanged(recorded) => format!("was run with {recorded}, another model than the configured one"),
        Finding::Unbuildable(u) => match u {
            Unbuildable::NoWorkspace => "missing, and the workspace it is built from is gone".into(),
            Unbuildable::Pipeline(m) => format!("the build pipeline did not finish: {m}"),
        },
    }
}

/// A finding with the file it is about, unless that is `shown` (already beside it).
pub fn finding_at(f: &Finding, who: &str, shown: Option<crate::experiment::files::RunFile>) -> String {
    let words = finding_of(f, who);
    match f.file() {
        Some(file) if Some(file) != shown && !matches!(f, Finding::InputDamaged(..)) => {
            format!("{}: {words}", file.as_str())
        }
        _ => words,
    }
}

/// The detail of a cause (docs/contract.md#cause-object `detail`).
pub fn cause_detail(c: &Cause) -> Option<String> {
    match &c.what {
        CauseWhat::Finding(f) => Some(finding_at(f, "agent", None)),
        CauseWhat::Param { name, old, new } => {
            Some(format!("{name}: {} → {}", old.as_deref().unwrap_or("(none)"), new.as_deref().unwrap_or("(none)")))
        }
        CauseWhat::Input { name, old, new } => Some(format!(
            "{name}: {} → {}",
            old.map_or("(not an input before)".into(), |h| short_hex(&h)),
            new.map_or("(no longer an input)".into(), |h| short_hex(&h))
        )),
        CauseWhat::Rule { old, new } => Some(format!("rule version {old} → {new}")),
        CauseWhat::Nothing => match c.kind {
            CauseKind::Forced => Some("--force".into()),
            _ => None,
        },
    }
}

/// Why a stale node is held back, and what would unblock it.
pub fn hold(h: Hold) -> &'static str {
    match h {
        Hold::NeedsForce => "needs --force or an explicit target (re-running the agent costs money)",
        Hold::RegenerateOnly => "not executed with --regenerate-only",
        Hold::Policy => "this failure class is not re-run ([execution] rerun in darn.toml)",
        Hold::Budget => "over the --max-cost budget",
        Hold::Unbuildable => "cannot be rebuilt here",
        Hold::Stage => "an execution outside the --stage filter",
        Hold::Failed => "failed in this reconcile; run reconcile again to retry",
    }
}
