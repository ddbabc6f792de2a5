//! `run/agent`: the agent execution. Its outputs are the raw transcript and the command log; its
//! check decides the agent outcome of docs/contract.md#agent-status (never ran, failed, incomplete, a valid transcript).

use super::content::ratelimit;
use super::cx::RunCx;
use super::finding::{Failure, FailureClass, FailureKind, Finding, Incomplete, first_line};
use super::{Estimate, Execution, History, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::observe::claude::{Stdout, TokenStats};
use serde_json::Value;

pub static AGENT: Agent = Agent;

pub struct Agent;

static SPEC: Spec = Spec {
    key: "agent",
    name: "agent",
    scope: Scope::Run,
    strategy: Strategy::Execute,
    stage: Stage::Agent,
    version: 1,
    after: &[],
    outputs: &["agent/stdout.log", "agent/stderr.log", "agent/command_log.json"],
    reads: &["agent/*"],
    stale_when: StaleWhen::ParamsChange,
};

impl RunRule for Agent {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, _slot: u16, out: ParamSink<'_, 'a>) {
        let s = info.shared;
        out("model", &s.agent_model);
        out("task_commit", &s.task_commit);
        out("max_turns", &s.max_turns);
        out("thinking_mode", &s.thinking_mode);
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        let outcome = run.outcome();
        if !outcome.is_fresh() {
            return outcome.clone();
        }
        let configured = &run.info.shared.agent_model;
        match run.agent().recorded_model().map(crate::experiment::config::normalize_model) {
            Some(recorded) if recorded != *configured => Finding::ModelChanged(recorded.into()),
            _ => Finding::Fresh,
        }
    }

    fn execution(&self, _slot: u16) -> Option<Execution> {
        Some(Execution::Agent)
    }

    fn estimate(&self, info: &RunInfo, _slot: u16, h: &History) -> Option<Estimate> {
        let (cost_usd, seconds) = h.agent_by_tier.get(&info.key.tier).copied().unwrap_or(h.agent);
        Some(Estimate { cost_usd, seconds })
    }
}

pub(super) fn timeout_text(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("timed out") || lower.contains("timeout")
}

fn failed(class: FailureClass, kind: FailureKind, file: &str, message: Option<&str>) -> Finding {
    Finding::Failed(Box::new(Failure {
        class,
        kind,
        file: RunCx::file(file),
        message: message.map(first_line).filter(|m| !m.is_empty()),
    }))
}

/// the agent outcome of docs/contract.md#agent-status, first rule that matches: never ran; interrupted; the runner's
/// invalid-result signature; no output; rate limited; a non-zero exit; an error result; empty or
/// cut-short output; output that is not a JSON result. `Fresh` for a valid transcript.
pub(super) fn outcome(run: &RunCx) -> Finding {
    let a = run.agent();
    if !a.started {
        return Finding::NeverRan;
    }
    if a.marker {
        return Finding::Incomplete(RunCx::file("agent/.darn-incomplete"), Incomplete::Interrupted);
    }
    // The runner's invalid-result signature (docs/format.md#invalid-agent-result): a recorded failure, whatever the
    // command log says.
    if let Ok(v) = &a.result_json {
        let exit = v.get("exit_code").and_then(Value::as_i64);
        let tokens = TokenStats::from_value(v.get("token_stats").unwrap_or(&Value::Null));
        if exit == Some(-1) && tokens.is_zero() {
            let stderr = v.get("stderr").and_then(Value::as_str).unwrap_or("");
            let (class, kind) = if timeout_text(stderr) {
                (FailureClass::Timeout, FailureKind::TimedOut)
            } else {
                (FailureClass::Infrastructure, FailureKind::InvalidResult)
            };
            return failed(class, kind, "agent/result.json", Some(stderr));
        }
    }
    let Some(t) = &a.transcript else {
        return Finding::Incomplete(RunCx::file("agent/stdout.log"), Incomplete::NoOutput);
    };
    let stdout_file = t.stdout_file.as_str();
    let exit_code = a
        .logged
        .exit_code
        .or_else(|| a.result_json.as_ref().ok().and_then(|v| v.get("exit_code")).and_then(Value::as_i64))
        .unwrap_or(0);
    let limited = match &t.parsed {
        Stdout::Json(r) if r.is_error => r
            .text
            .as_deref()
            .filter(|t| ratelimit::matches_json_patterns(t))
            .map(|t| ratelimit::RateLimit { message: t.to_string() }),
        Stdout::Json(_) | Stdout::Empty => None,
        Stdout::Text | Stdout::Truncated(_) => ratelimit::in_stdout(&t.stdout),
    };
    if let Some(rl) = limited {
        return failed(FailureClass::RateLimit, FailureKind::RateLimited, stdout_file, Some(&rl.message));
    }
    let errored = matches!(&t.parsed, Stdout::Json(r) if r.is_error);
    let output_ok = matches!(&t.parsed, Stdout::Json(_) | Stdout::Text);
    if (exit_code != 0 || errored || !output_ok)
        && let Some(rl) = ratelimit::in_stderr(&t.stderr)
    {
        return failed(FailureClass::RateLimit, FailureKind::RateLimited, "agent/stderr.log", Some(&rl.message));
    }
    if exit_code != 0 {
        let signal = exit_code < 0 || matches!(exit_code, 134 | 137 | 139 | 143);
        let class = if exit_code == -1 && timeout_text(&t.stderr) {
            FailureClass::Timeout
        } else if signal {
            FailureClass::Infrastructure
        } else {
            FailureClass::AgentError
        };
        let tail = t.stderr.lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with('+')).unwrap_or("");
        return failed(class, FailureKind::Exit(exit_code), "agent/command_log.json", Some(tail));
    }
    match &t.parsed {
        Stdout::Json(r) if r.is_error => {
            failed(FailureClass::AgentError, FailureKind::ReportedError, stdout_file, r.text.as_deref())
        }
        Stdout::Empty => Finding::Incomplete(t.stdout_file, Incomplete::EmptyOutput),
        Stdout::Truncated(_) => Finding::Incomplete(t.stdout_file, Incomplete::Truncated),
        Stdout::Json(_) => Finding::Fresh,
        // The agent command must print a Claude Code JSON result (docs/contract.md#command-templates); anything else is not
        // an outcome darn can derive results from.
        Stdout::Text => failed(FailureClass::AgentError, FailureKind::NotAResult, stdout_file, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, finding};

    #[test]
    fn outcomes_are_typed() {
        let ok = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"usage":{"input_tokens":5,"output_tokens":7}}"#;
        let run = RunFixture::new().file("agent/stdout.log", ok).file("agent/prompt.md", "task");
        assert_eq!(finding(&run, "agent", 0), Finding::Fresh);

        assert_eq!(finding(&RunFixture::new(), "agent", 0), Finding::NeverRan);

        let marker = RunFixture::new().file("agent/prompt.md", "task").file("agent/.darn-incomplete", "pid 1");
        assert!(matches!(finding(&marker, "agent", 0), Finding::Incomplete(_, Incomplete::Interrupted)));

        let empty = RunFixture::new().file("agent/prompt.md", "task").file("agent/stdout.log", " \n");
        assert!(matches!(finding(&empty, "agent", 0), Finding::Incomplete(_, Incomplete::EmptyOutput)));

        let cut = RunFixture::new().file("agent/stdout.log", r#"{"type":"result","usage":{"input_"#);
        assert!(matches!(finding(&cut, "agent", 0), Finding::Incomplete(_, Incomplete::Truncated)));

        let limited = r#"{"type":"result","is_error":true,"result":"You've hit your limit · resets 4pm"}"#;
        let run = RunFixture::new().file("agent/stdout.log", limited);
        assert!(matches!(finding(&run, "agent", 0).failure(), Some(FailureClass::RateLimit)));

        let text = RunFixture::new().file("agent/stdout.log", "hello");
        match finding(&text, "agent", 0) {
            Finding::Failed(f) => assert_eq!((f.class, f.kind), (FailureClass::AgentError, FailureKind::NotAResult)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_invalid_result_signature_wins_over_the_command_log() {
        let ok = r#"{"type":"result","is_error":false,"num_turns":2}"#;
        let result = r#"{"exit_code": -1, "stdout": "", "stderr": "Agent timed out after 300s", "token_stats": {"input_tokens": 0, "output_tokens": 0, "cache_creation_tokens": 0, "cache_read_tokens": 0}, "cost_usd": 0.0, "api_calls": 0}"#;
        let log = r#"{"commands": [{"exit_code": 0, "duration_seconds": 0.0, "command": ["claude"]}]}"#;
        let run = RunFixture::new()
            .file("agent/stdout.log", ok)
            .file("agent/result.json", result)
            .file("agent/command_log.json", log);
        match finding(&run, "agent", 0) {
            Finding::Failed(f) => assert_eq!((f.class, f.kind), (FailureClass::Timeout, FailureKind::TimedOut)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_run_with_another_model_is_model_changed() {
        let ok = r#"{"type":"result","is_error":false,"num_turns":2}"#;
        let log = r#"{"commands": [{"exit_code": 0, "duration_seconds": 3.0, "command": ["claude", "--model", "claude-haiku-4-5"]}]}"#;
        let run = RunFixture::new().file("agent/stdout.log", ok).file("agent/command_log.json", log);
        assert_eq!(finding(&run, "agent", 0), Finding::ModelChanged("claude-haiku-4-5".into()));
    }
}
