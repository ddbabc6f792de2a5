//! `run/judge/judge_NN`: one judge call. Its outputs are the response and the raw stream; its
//! check decides whether the slot holds a usable response, failed, or never ran.

use super::agent::timeout_text;
use super::content::judgment::{self, Judgment};
use super::content::ratelimit;
use super::cx::RunCx;
use super::finding::{Failure, FailureClass, FailureKind, Finding, Waiting, first_line};
use super::{
    Dep, Estimate, Execution, History, Link, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy,
};
use crate::experiment::files::RunFile;
use crate::observe::claude::response_from_stdout;
use crate::observe::judge::{SlotSources, slot_file};

pub static JUDGE_SLOT: JudgeSlot = JudgeSlot;

pub struct JudgeSlot;

static SPEC: Spec = Spec {
    key: "judge",
    name: "judge/judge_{slot}",
    scope: Scope::Slot,
    strategy: Strategy::Execute,
    stage: Stage::Judge,
    version: 1,
    after: &[Dep { rule: "judge-prompt", link: Link::Same }],
    outputs: &["judge/judge_{slot}/response.txt", "judge/judge_{slot}/stdout.log"],
    reads: &["judge_prompt.md", "judge/judge_{slot}/*", "agent/*"],
    stale_when: StaleWhen::InputsChange(&["judge_prompt.md"]),
};

/// What a slot holds, as the runner's tools read it.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotState {
    /// Nothing in the slot directory.
    Missing,
    /// It ran, but no usable judgment can be had from its output.
    Failed(Failure),
    /// A usable response (or a valid judgment standing alone).
    Usable,
}

/// One slot as the rules see it.
#[derive(Debug, Clone)]
pub struct SlotView {
    pub sources: SlotSources,
    pub state: SlotState,
    /// The judgment its response gives (or the existing one, standing alone).
    pub judgment: Option<Judgment>,
    /// Where the response came from.
    pub response_file: Option<RunFile>,
    /// `response.txt` to restore from the stream (missing or cut short).
    pub response_to_restore: Option<String>,
}

fn failure(class: FailureClass, kind: FailureKind, file: Option<RunFile>, message: Option<&str>) -> SlotState {
    match file {
        Some(file) => {
            SlotState::Failed(Failure { class, kind, file, message: message.map(first_line).filter(|m| !m.is_empty()) })
        }
        None => SlotState::Missing,
    }
}

/// Decides a slot's state from its files (docs/format.md#judge-slots, docs/format.md#judge-invocation, #judge-response-parsing).
pub(super) fn view(run: &RunCx, slot: u16) -> SlotView {
    let sources = SlotSources::read(&run.src, slot);
    let f = |name: &str| slot_file(slot, name);
    let mut v =
        SlotView { state: SlotState::Missing, judgment: None, response_file: None, response_to_restore: None, sources };
    if !v.sources.present {
        return v;
    }
    let s = &v.sources;
    let has_response = s.response_txt.as_deref().is_some_and(|t| !t.trim().is_empty());
    let (response, mut response_file): (Option<&str>, Option<RunFile>) = match (&s.response_txt, &s.stream) {
        (Some(t), _) if has_response => (Some(t.as_str()), f("response.txt")),
        (_, Some(st)) => {
            if s.response_txt.is_none() && !st.text.trim().is_empty() {
                v.response_to_restore = Some(st.text.clone());
            }
            (Some(st.text.as_str()), f("stdout.log"))
        }
        _ => (None, f("response.txt")),
    };
    let mut parsed = response.map(judgment::parse_response);
    // A damaged response.txt (cut short by a crash) next to a complete stream: the stream wins
    // and response.txt is restored from it.
    if has_response
        && matches!(parsed, Some(Err(_)))
        && let Some(out) = s.stdout.as_deref().filter(|o| !o.trim().is_empty())
    {
        let st = response_from_stdout(out);
        if let Ok(j) = judgment::parse_response(&st.text) {
            parsed = Some(Ok(j));
            v.response_to_restore = Some(st.text);
            response_file = f("stdout.log");
        }
    }
    v.response_file = response_file;
    if s.marker {
        v.state =
            failure(FailureClass::Infrastructure, FailureKind::JudgeFailed, f(".darn-incomplete"), Some("interrupted"));
        v.response_to_restore = None;
        return v;
    }
    match parsed {
        Some(Ok(j)) => {
            v.state = SlotState::Usable;
            v.judgment = Some(j);
        }
        parse_result => {
            v.response_to_restore = None;
            // No usable response. A valid judgment with no response and no error stands alone.
            if response.is_none()
                && s.errors.is_empty()
                && let Ok(value) = &s.judgment_json
                && let Ok(j) = Judgment::from_value(value)
                && j.is_valid
            {
                v.state = SlotState::Usable;
                v.judgment = Some(j);
                return v;
            }
            let error_text = s.errors.first().map(|(e, _)| e.as_str());
            let rate_limited = s.errors.iter().any(|(e, _)| ratelimit::matches_json_patterns(e))
                || s.stdout.as_deref().and_then(ratelimit::in_stdout).is_some();
            v.state = if rate_limited {
                let file = s.errors.first().map(|(_, f)| *f).or(f("stdout.log"));
                failure(FailureClass::RateLimit, FailureKind::RateLimited, file, error_text)
            } else if let Some((e, file)) = s.errors.first() {
                let class = if timeout_text(e) { FailureClass::Timeout } else { FailureClass::JudgeError };
                failure(class, FailureKind::JudgeFailed, Some(*file), Some(e))
            } else {
                match parse_result {
                    Some(Err(why)) if why == "empty response" => {
                        failure(FailureClass::JudgeError, FailureKind::EmptyResponse, v.response_file, None)
                    }
                    Some(Err(why)) => failure(
                        FailureClass::JudgeUnparseable,
                        FailureKind::Unparseable(why.into()),
                        v.response_file,
                        None,
                    ),
                    _ => failure(FailureClass::JudgeError, FailureKind::NoResponse, v.response_file, None),
                }
            };
        }
    }
    v
}

impl RunRule for JudgeSlot {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, slot: u16, out: ParamSink<'_, 'a>) {
        out("model", info.judge_model(slot));
    }

    fn check(&self, run: &RunCx, slot: u16) -> Finding {
        // A judge grades a finished agent: until the agent has a valid transcript, it waits.
        if !run.agent_ok() {
            return Finding::Waiting(Waiting::AgentOutput);
        }
        let v = run.slot(slot);
        match &v.state {
            SlotState::Missing => Finding::NeverRan,
            SlotState::Failed(f) => Finding::Failed(Box::new(f.clone())),
            SlotState::Usable => {
                let configured = run.info.judge_model(slot);
                match v.sources.model.as_deref().map(crate::experiment::config::normalize_model) {
                    Some(recorded) if recorded != configured => Finding::ModelChanged(recorded.into()),
                    _ => Finding::Fresh,
                }
            }
        }
    }

    fn execution(&self, slot: u16) -> Option<Execution> {
        Some(Execution::Judge(slot))
    }

    fn estimate(&self, info: &RunInfo, slot: u16, h: &History) -> Option<Estimate> {
        let (cost_usd, seconds) = h.judge_by_model.get(info.judge_model(slot)).copied().unwrap_or(h.judge);
        Some(Estimate { cost_usd, seconds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, finding};

    const AGENT: &str = r#"{"type":"result","is_error":false,"num_turns":1}"#;

    fn judged(score: &str) -> RunFixture {
        RunFixture::new()
            .file("agent/stdout.log", AGENT)
            .file(
                "judge/judge_01/response.txt",
                &format!("{{\"score\": {score}, \"passed\": true, \"reasoning\": \"ok\"}}"),
            )
            .file("judge/judge_01/MODEL.md", "# Judge Model Information\n\n**Model**: claude-opus-4-6\n")
    }

    #[test]
    fn slot_findings() {
        assert_eq!(finding(&judged("0.9"), "judge", 1), Finding::Fresh);
        assert_eq!(finding(&RunFixture::new().file("agent/stdout.log", AGENT), "judge", 1), Finding::NeverRan);
        let run = judged("0.9").file("judge/judge_01/MODEL.md", "**Model**: claude-haiku-4-5\n");
        assert_eq!(finding(&run, "judge", 1), Finding::ModelChanged("claude-haiku-4-5".into()));
        let run = judged("0.9").file("judge/judge_01/response.txt", "no verdict here");
        assert_eq!(finding(&run, "judge", 1).failure(), Some(FailureClass::JudgeUnparseable));
        let run = judged("0.9")
            .remove("judge/judge_01/response.txt")
            .file("judge/judge_01/error.log", "Judge failed: Rate limit exceeded (429)\n");
        assert_eq!(finding(&run, "judge", 1).failure(), Some(FailureClass::RateLimit));
        let run = run.file("judge/judge_01/error.log", "Judge failed: connection reset\n");
        assert_eq!(finding(&run, "judge", 1).failure(), Some(FailureClass::JudgeError));
        let failed_agent = judged("0.9").file("agent/stdout.log", "not json");
        assert_eq!(finding(&failed_agent, "judge", 1), Finding::Waiting(Waiting::AgentOutput));
    }
}
