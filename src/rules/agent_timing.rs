//! `run/agent/timing.json`: the agent's wall-clock seconds, as the runner measured them.
//!
//! A measured duration is never rewritten from weaker evidence: a valid `timing.json` is kept; a
//! missing one is rebuilt from the command log's record of the same measurement (or, when the
//! command log never existed, from the CLI's own `duration_ms`); a damaged command log rebuilds
//! nothing.

use super::content::agent::timing_value;
use super::cx::RunCx;
use super::finding::{Finding, JsonType, Malformed, Unusable, Waiting};
use super::{Dep, Link, Output, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::observe::claude::Stdout;
use crate::py::json as pyjson;
use serde_json::Value;

pub static AGENT_TIMING: AgentTiming = AgentTiming;

pub struct AgentTiming;

static SPEC: Spec = Spec {
    key: "agent-timing",
    name: "agent/timing.json",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Agent,
    version: 2,
    after: &[Dep { rule: "agent", link: Link::Same }],
    outputs: &["agent/timing.json"],
    reads: &["agent/*"],
    stale_when: StaleWhen::Checked,
};

/// What is wrong with an existing `timing.json`, if anything.
fn validate(v: &Value) -> Result<f64, Malformed> {
    let obj = v.as_object().ok_or(Malformed::NotObject)?;
    let secs = match obj.get("agent_duration_seconds") {
        None => return Err(Malformed::MissingKey("agent_duration_seconds".into())),
        Some(s) => pyjson::as_f64(s)
            .ok_or(Malformed::WrongType { key: "agent_duration_seconds".into(), expected: JsonType::Number })?,
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(Malformed::OutOfRange {
            key: "agent_duration_seconds".into(),
            value: pyjson::float_repr(secs).into(),
        });
    }
    match obj.get("measured_at") {
        None => Err(Malformed::MissingKey("measured_at".into())),
        Some(Value::String(_)) => Ok(secs),
        Some(_) => Err(Malformed::WrongType { key: "measured_at".into(), expected: JsonType::String }),
    }
}

/// The duration a rebuilt `timing.json` would record: the command log's, or when there never
/// was a command log, the CLI's own. `Err` names what is missing or damaged.
fn source_duration(run: &RunCx) -> Result<f64, Finding> {
    let a = run.agent();
    match &a.command_log {
        Ok(_) => a.logged.duration.filter(|d| *d > 0.0).ok_or(Finding::Waiting(Waiting::AgentDuration)),
        Err(Unusable::Missing) => match a.transcript.as_ref().map(|t| &t.parsed) {
            Some(Stdout::Json(r)) => {
                r.duration_ms.map(|ms| ms / 1000.0).ok_or(Finding::Waiting(Waiting::AgentDuration))
            }
            _ => Err(Finding::Waiting(Waiting::AgentDuration)),
        },
        Err(why) => Err(Finding::InputDamaged(RunCx::file("agent/command_log.json"), why.clone())),
    }
}

/// The agent's duration as recorded: a valid `timing.json`, else what a rebuilt one would say.
pub(super) fn recorded_duration(run: &RunCx) -> Option<f64> {
    match &run.agent().timing_json {
        Ok(v) => validate(v).ok().or_else(|| source_duration(run).ok()),
        Err(_) => source_duration(run).ok(),
    }
}

impl RunRule for AgentTiming {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        if !run.agent_ok() {
            return Finding::Waiting(Waiting::AgentOutput);
        }
        let file = RunCx::file("agent/timing.json");
        let problem = match &run.agent().timing_json {
            Ok(v) => match validate(v) {
                Ok(_) => return Finding::Fresh,
                Err(m) => Finding::Malformed(file, m),
            },
            Err(why) => Finding::output(file, why.clone()),
        };
        // Rebuildable only from a source that records the measurement.
        match source_duration(run) {
            Ok(_) => problem,
            Err(blocked) => blocked,
        }
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        if !run.agent_ok() {
            return Err(Finding::Waiting(Waiting::AgentOutput));
        }
        let secs = source_duration(run)?;
        let a = run.agent();
        // measured_at cannot be recovered: keep a recorded one, else the logged command's time.
        let measured = a
            .timing_json
            .as_ref()
            .ok()
            .and_then(|v| v.get("measured_at"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| a.logged.timestamp.clone())
            .unwrap_or_else(crate::util::time::now_iso);
        Ok(vec![Output::new(RunCx::file("agent/timing.json"), pyjson::to_string(&timing_value(secs, &measured)))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, built, finding};

    const OK: &str = r#"{"type":"result","is_error":false,"num_turns":3,"duration_ms":106527}"#;
    const LOG: &str = r#"{"commands": [{"timestamp": "2026-01-20T06:14:00+00:00", "exit_code": 0, "duration_seconds": 114.894714, "command": ["claude"]}]}"#;

    #[test]
    fn a_valid_timing_is_kept_and_a_damaged_log_rebuilds_nothing() {
        let timing = r#"{"agent_duration_seconds": 114.894714, "measured_at": "2026-01-20T06:14:00+00:00"}"#;
        let run = RunFixture::new()
            .file("agent/stdout.log", OK)
            .file("agent/timing.json", timing)
            .file("agent/command_log.json", "garbage");
        assert_eq!(finding(&run, "agent-timing", 0), Finding::Fresh, "a measured value is never rewritten");
        let run = run.remove("agent/timing.json");
        assert!(matches!(finding(&run, "agent-timing", 0), Finding::InputDamaged(..)));
        let run = run.file("agent/command_log.json", LOG);
        assert!(matches!(finding(&run, "agent-timing", 0), Finding::Missing(_)));
        let bytes = built(&run, "agent-timing", 0).remove(0).1;
        assert!(String::from_utf8_lossy(&bytes).contains("114.894714"));
        let run = RunFixture::new().file("agent/stdout.log", OK);
        let bytes = built(&run, "agent-timing", 0).remove(0).1;
        assert!(String::from_utf8_lossy(&bytes).contains("106.527"), "no command log ever: the CLI's own duration");
    }
}
