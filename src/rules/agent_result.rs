//! `run/agent/result.json`: what the transcript says, in the runner's shape (docs/format.md#agent-result), with
//! docs/format.md#bug-regenerated-agent-result-uses-usage-token-names, docs/format.md#bug-regenerated-agent-result-hard-codes-api-calls, docs/format.md#bug-regenerated-agent-result-assumes-one-json-object and docs/format.md#bug-cache-reads-priced-as-fresh-input fixed.

use super::compare;
use super::content::agent::AgentResult;
use super::cx::RunCx;
use super::finding::{Finding, Malformed, Waiting};
use super::{Dep, Link, Output, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::py::json as pyjson;
use serde_json::Value;

pub static AGENT_RESULT: AgentResultRule = AgentResultRule;

pub struct AgentResultRule;

static SPEC: Spec = Spec {
    key: "agent-result",
    name: "agent/result.json",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Agent,
    version: 1,
    after: &[Dep { rule: "agent", link: Link::Same }],
    outputs: &["agent/result.json"],
    reads: &["agent/*"],
    stale_when: StaleWhen::Checked,
};

/// The result the transcript gives, for an agent that left one.
pub(super) fn derive(run: &RunCx) -> Option<AgentResult> {
    let a = run.agent();
    let t = a.transcript.as_ref()?;
    let exit_code = a
        .logged
        .exit_code
        .or_else(|| a.result_json.as_ref().ok().and_then(|v| v.get("exit_code")).and_then(Value::as_i64))
        .unwrap_or(0);
    Some(AgentResult::derive_parsed(&t.parsed, &t.stdout, &t.stderr, exit_code, &run.info.shared.agent_model))
}

impl RunRule for AgentResultRule {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, _slot: u16, out: ParamSink<'_, 'a>) {
        // The cost fallback prices tokens by the agent's model.
        out("model", &info.shared.agent_model);
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        // A failed agent's result records the failure: it is re-executed, never rewritten.
        let Some(d) = run.derived().filter(|_| run.agent_ok()) else {
            return Finding::Waiting(Waiting::AgentOutput);
        };
        let file = RunCx::file("agent/result.json");
        let existing = match &run.agent().result_json {
            Err(why) => return Finding::output(file, why.clone()),
            Ok(v) => v,
        };
        let obj = match compare::object(file, existing) {
            Ok(o) => o,
            Err(f) => return f,
        };
        for key in ["exit_code", "stdout", "stderr", "token_stats", "cost_usd", "api_calls"] {
            if !obj.contains_key(key) {
                return Finding::Malformed(file, Malformed::MissingKey(key.into()));
            }
        }
        // rerun.py wrote the usage names instead of the runner's (docs/format.md#bug-regenerated-agent-result-uses-usage-token-names): loaders drop them.
        for key in ["cache_creation_input_tokens", "cache_read_input_tokens"] {
            if obj["token_stats"].get(key).is_some() {
                return Finding::Malformed(
                    file,
                    Malformed::WrongKeys { found: key.into(), expected: key.replace("_input", "").into() },
                );
            }
        }
        let source = run.agent().transcript.as_ref().map(|t| t.stdout_file);
        let want = d.to_value();
        // A transcript too large to hold is compared as bytes, streamed (the file was read
        // without it).
        let large = run.agent().transcript.as_ref().filter(|t| !t.held);
        let keys: &[&str] = if large.is_some() {
            &["exit_code", "stderr", "token_stats", "api_calls"]
        } else {
            &["exit_code", "stdout", "stderr", "token_stats", "api_calls"]
        };
        for &key in keys {
            if obj[key] != want[key] {
                return Finding::Differs(file, Box::new(compare::difference(key, &obj[key], &want[key], source)));
            }
        }
        if pyjson::as_f64(&obj["cost_usd"]) != Some(d.cost_usd) {
            return Finding::Differs(
                file,
                Box::new(compare::difference("cost_usd", &obj["cost_usd"], &want["cost_usd"], source)),
            );
        }
        if let Some(t) = large {
            let (head, tail) = d.around_stdout();
            let mut h = blake3::Hasher::new();
            h.update(head.as_bytes());
            let streamed = run.src.open_large(t.stdout_file).map(|f| {
                pyjson::stream_escaped(std::io::BufReader::new(f), |b| {
                    h.update(b);
                })
            });
            if !matches!(streamed, Some(Ok(()))) {
                return Finding::InputDamaged(
                    t.stdout_file,
                    super::finding::Unusable::Unreadable(crate::util::problem::IoProblem::Other),
                );
            }
            h.update(tail.as_bytes());
            if crate::util::hash::truncate(&h.finalize()) != run.src.files.hash(file) {
                return Finding::Differs(
                    file,
                    Box::new(super::finding::Difference {
                        field: "stdout".into(),
                        recorded: "other content".into(),
                        expected: format!("the transcript of {}", t.stdout_file.as_str()).into(),
                        source,
                    }),
                );
            }
        }
        Finding::Fresh
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        let d = run.derived().filter(|_| run.agent_ok()).ok_or(Finding::Waiting(Waiting::AgentOutput))?;
        if let Some(t) = run.agent().transcript.as_ref().filter(|t| !t.held) {
            let whole = run.src.bytes(t.stdout_file).map_err(|why| Finding::InputDamaged(t.stdout_file, why))?;
            let (head, tail) = d.around_stdout();
            let mut bytes = Vec::with_capacity(head.len() + whole.len() + tail.len() + 64);
            bytes.extend_from_slice(head.as_bytes());
            pyjson::stream_escaped(&whole[..], |b| bytes.extend_from_slice(b)).map_err(|_| {
                Finding::InputDamaged(
                    t.stdout_file,
                    super::finding::Unusable::Unreadable(crate::util::problem::IoProblem::Other),
                )
            })?;
            bytes.extend_from_slice(tail.as_bytes());
            return Ok(vec![Output::new(RunCx::file("agent/result.json"), bytes)]);
        }
        Ok(vec![Output::new(RunCx::file("agent/result.json"), pyjson::to_string(&d.to_value()))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, built, finding};

    const OK: &str = r#"{"type":"result","is_error":false,"num_turns":3,"total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":4,"cache_creation_input_tokens":2,"cache_read_input_tokens":1}}"#;

    #[test]
    fn findings() {
        let run = RunFixture::new().file("agent/stdout.log", OK).file("agent/stderr.log", "");
        assert!(matches!(finding(&run, "agent-result", 0), Finding::Missing(_)));
        let bytes = built(&run, "agent-result", 0).remove(0).1;
        let run = run.file("agent/result.json", &String::from_utf8_lossy(&bytes));
        assert_eq!(finding(&run, "agent-result", 0), Finding::Fresh);

        let b1 = String::from_utf8_lossy(&bytes).replace("cache_read_tokens", "cache_read_input_tokens");
        let run = run.file("agent/result.json", &b1);
        assert!(matches!(finding(&run, "agent-result", 0), Finding::Malformed(_, Malformed::WrongKeys { .. })));

        let other = String::from_utf8_lossy(&bytes).replace("\"cost_usd\": 0.5", "\"cost_usd\": 0.25");
        let run = run.file("agent/result.json", &other);
        match finding(&run, "agent-result", 0) {
            Finding::Differs(_, d) => assert_eq!(&*d.field, "cost_usd"),
            f => panic!("{f:?}"),
        }
        let run = run.file("agent/result.json", "{\"exit_code\": 0");
        assert!(matches!(finding(&run, "agent-result", 0), Finding::Malformed(_, Malformed::Truncated)));
    }
}
