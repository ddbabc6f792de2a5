//! Every finding, cause and hold in words: what is wrong, and what darn will do. Decisions never
//! read these strings; they are made for people (and for the `detail` fields of the JSON).

use crate::engine::plan::{Cause, CauseKind, CauseWhat, Hold};
use crate::error::io_words;
use crate::rules::finding::{Failure, FailureKind, Finding, Incomplete, JsonType, Malformed, Unbuildable, Unusable, Waiting};
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
        Malformed::Empty => "is empty".into(),
        Malformed::NotJson { line, column } => format!("is not valid JSON (line {line}, column {column})"),
        Malformed::Truncated => "is cut short (its JSON ends early)".into(),
        Malformed::NotObject => "is not a JSON object".into(),
        Malformed::MissingKey(k) => format!("has no `{k}`"),
        Malformed::WrongType { key, expected } => format!("`{key}` is not {}", json_type(*expected)),
        Malformed::OutOfRange { key, value } => format!("`{key}` is {value}, out of range"),
        Malformed::WrongKeys { found, expected } => {
            format!("says `{found}` where the runner writes `{expected}` (the runner's loaders would read 0)")
        }
        Malformed::EmptyList(k) => format!("has an empty `{k}` (the runner lost it on a resume)"),
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

fn unusable(file: &str, u: &Unusable) -> String {
    match u {
        Unusable::Missing => format!("{file} is missing"),
        Unusable::Unreadable(p) => format!("{file}: {}", io_words(*p)),
        Unusable::Malformed(m) => format!("{file} {}", malformed(m)),
    }
}

fn waiting(w: Waiting) -> &'static str {
    match w {
        Waiting::AgentOutput => "waits for a valid agent transcript (the agent must be re-executed first)",
        Waiting::AgentDuration => "nothing records the agent's duration (no command log or timing.json)",
        Waiting::Judgments => "waits for a usable judgment in every judge slot",
        Waiting::JudgeDuration => "nothing records the judges' duration",
        Waiting::RunResult => "waits for a valid run_result.json",
        Waiting::TierResult => "waits for a valid tier result.json",
        Waiting::ExperimentResult => "waits for a valid result.json",
    }
}

/// What a failed execution's evidence says.
pub fn failure(f: &Failure) -> String {
    let what = match &f.kind {
        FailureKind::InvalidResult => "the runner recorded no result (exit −1 with zero tokens)".to_string(),
        FailureKind::TimedOut => "the agent timed out".to_string(),
        FailureKind::Exit(code) => format!("exited with code {code}"),
        FailureKind::ReportedError => "the CLI reported an error".to_string(),
        FailureKind::RateLimited => "rate limited".to_string(),
        FailureKind::NotAResult => "its output is not a Claude Code JSON result".to_string(),
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

/// A finding in words, without the file it is about (see [`finding_at`]).
pub fn finding(f: &Finding) -> String {
    match f {
        Finding::Fresh => "up to date".into(),
        Finding::Missing(file) => format!("{} is missing", file.as_str()),
        Finding::Unreadable(file, p) => format!("{}: {}", file.as_str(), io_words(*p)),
        Finding::Malformed(file, m) => format!("{} {}", file.as_str(), malformed(m)),
        Finding::Differs(file, d) => {
            let source = d.source.map(|s| format!(" ({} gives it)", s.as_str())).unwrap_or_default();
            if d.field.is_empty() {
                format!("{} disagrees with what its inputs give{source}", file.as_str())
            } else {
                format!("{}: `{}` is {}, its inputs give {}{source}", file.as_str(), d.field, d.recorded, d.expected)
            }
        }
        Finding::Waiting(w) => waiting(*w).into(),
        Finding::InputDamaged(file, u) => {
            format!("inputs damaged: {}; kept as it is rather than rebuilt from it", unusable(file.as_str(), u))
        }
        Finding::NeverRan => "never ran".into(),
        Finding::Failed(fail) => failure(fail),
        Finding::Incomplete(file, why) => match why {
            Incomplete::Interrupted => "darn was stopped while it ran (its incomplete marker is still there)".into(),
            Incomplete::NoOutput => format!("started but left no output ({} is missing)", file.as_str()),
            Incomplete::EmptyOutput => format!("{} is empty", file.as_str()),
            Incomplete::Truncated => format!("{} ends in the middle of its JSON (killed mid-write?)", file.as_str()),
        },
        Finding::ModelChanged(recorded) => format!("was run with {recorded}, another model than the configured one"),
        Finding::Unbuildable(u) => match u {
            Unbuildable::NoWorkspace => "missing, and the workspace it is built from is gone".into(),
            Unbuildable::Pipeline(m) => format!("the build pipeline did not finish: {m}"),
        },
    }
}

/// The detail of a cause (CONTRACT CAUSE `detail`).
pub fn cause_detail(c: &Cause) -> Option<String> {
    match &c.what {
        CauseWhat::Finding(f) => Some(finding(f)),
        CauseWhat::Param { name, old, new } => Some(format!(
            "{name}: {} → {}",
            old.as_deref().unwrap_or("(none)"),
            new.as_deref().unwrap_or("(none)")
        )),
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
