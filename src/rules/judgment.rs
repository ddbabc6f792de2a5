//! `run/judge/judge_NN/judgment.json`: the slot's verdict parsed from its response (docs/format.md#judge-response-parsing).

use super::compare;
use super::cx::RunCx;
use super::finding::{Difference, Finding, Waiting};
use super::judge_slot::SlotState;
use super::{Dep, Link, Output, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::observe::judge::slot_file;
use crate::py::json as pyjson;

pub static JUDGMENT: JudgmentRule = JudgmentRule;

pub struct JudgmentRule;

static SPEC: Spec = Spec {
    key: "judgment",
    name: "judge/judge_{slot}/judgment.json",
    scope: Scope::Slot,
    strategy: Strategy::Regenerate,
    stage: Stage::Judge,
    version: 1,
    after: &[Dep { rule: "judge", link: Link::Same }],
    outputs: &["judge/judge_{slot}/judgment.json"],
    reads: &["judge/judge_{slot}/*"],
    stale_when: StaleWhen::Checked,
};

impl RunRule for JudgmentRule {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check(&self, run: &RunCx, slot: u16) -> Finding {
        let v = run.slot(slot);
        let (SlotState::Usable, Some(want)) = (&v.state, &v.judgment) else {
            return Finding::Waiting(Waiting::Judgments);
        };
        let Some(file) = slot_file(slot, "judgment.json") else { return Finding::Waiting(Waiting::Judgments) };
        // The response survives only in the stream: restoring response.txt is part of this node.
        if let Some(text) = &v.response_to_restore
            && let Some(response) = slot_file(slot, "response.txt")
        {
            return match &v.sources.response_txt {
                None => Finding::Missing(response),
                Some(have) => Finding::Differs(
                    response,
                    Box::new(Difference {
                        field: "".into(),
                        recorded: compare::short(&serde_json::Value::String(have.clone())).into(),
                        expected: compare::short(&serde_json::Value::String(text.clone())).into(),
                        source: slot_file(slot, "stdout.log"),
                    }),
                ),
            };
        }
        let existing = match &v.sources.judgment_json {
            Err(why) => return Finding::output(file, why.clone()),
            Ok(e) => e,
        };
        match super::content::judgment::Judgment::from_value(existing) {
            Err(m) => Finding::Malformed(file, m),
            // The common case, a file that is right, is told without rendering either side.
            Ok(have) if have.same(want) => Finding::Fresh,
            Ok(have) => {
                let (have, want) = (have.to_value(), want.to_value());
                match compare::against(file, &have, &want, v.response_file) {
                    Finding::Fresh => Finding::Fresh,
                    other => other,
                }
            }
        }
    }

    fn build(&self, run: &RunCx, slot: u16) -> Result<Vec<Output>, Finding> {
        let v = run.slot(slot);
        let (SlotState::Usable, Some(j)) = (&v.state, &v.judgment) else {
            return Err(Finding::Waiting(Waiting::Judgments));
        };
        let file = slot_file(slot, "judgment.json").ok_or(Finding::Waiting(Waiting::Judgments))?;
        let mut out = vec![Output::new(file, pyjson::to_string(&j.to_value()))];
        if let (Some(text), Some(response)) = (&v.response_to_restore, slot_file(slot, "response.txt")) {
            out.push(Output::new(response, text.as_bytes()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, built, finding};
    use crate::rules::finding::Malformed;

    #[test]
    fn findings() {
        let run = RunFixture::new()
            .file("judge/judge_01/response.txt", "{\"score\": 0.7, \"passed\": true, \"reasoning\": \"r\"}");
        assert!(matches!(finding(&run, "judgment", 1), Finding::Missing(_)));
        let bytes = built(&run, "judgment", 1).remove(0).1;
        let run = run.file("judge/judge_01/judgment.json", &String::from_utf8_lossy(&bytes));
        assert_eq!(finding(&run, "judgment", 1), Finding::Fresh);
        let out_of_range = String::from_utf8_lossy(&bytes).replace("0.7", "1.7");
        let run = run.file("judge/judge_01/judgment.json", &out_of_range);
        assert!(matches!(finding(&run, "judgment", 1), Finding::Malformed(_, Malformed::OutOfRange { .. })));
        let stream =
            "{\"type\":\"result\",\"is_error\":false,\"result\":\"{\\\"score\\\": 0.5, \\\"passed\\\": false}\"}\n";
        let restore = RunFixture::new().file("judge/judge_01/stdout.log", stream);
        assert!(
            matches!(finding(&restore, "judgment", 1), Finding::Missing(f) if f.as_str().ends_with("response.txt"))
        );
        assert_eq!(built(&restore, "judgment", 1).len(), 2, "judgment.json and the restored response.txt");
        let failed = RunFixture::new().file("judge/judge_01/error.log", "Judge failed: boom\n");
        assert_eq!(finding(&failed, "judgment", 1), Finding::Waiting(Waiting::Judgments));
    }
}
