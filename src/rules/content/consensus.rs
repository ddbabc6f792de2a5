//! `judge/result.json`: the consensus of a run's judge slots (docs/format.md#consensus, docs/format.md#consensus-formula).

use crate::experiment::era::Era;
use crate::py::json as pyjson;
use crate::rules::content::judgment::{Judgment, grade};
use serde_json::{Map, Value, json};

/// One slot as the consensus sees it: a judgment, or a failure with its message.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotOutcome {
    Judged(Judgment),
    Failed(String),
}

/// The consensus of the slots, in slot order.
#[derive(Debug, Clone, PartialEq)]
pub struct Consensus {
    pub score: f64,
    pub passed: bool,
    pub grade: String,
    pub reasoning: String,
    pub is_valid: bool,
    /// The criteria of the slot whose score is closest to the consensus, or `{}`.
    pub criteria_scores: Value,
}

impl Consensus {
    /// Computes the consensus the way the era's runner did: the mean of the valid slots'
    /// scores, a strict majority for `passed`, and the reasoning of slot 1 (January 2026) or of
    /// the slot closest to the mean, failed slots counting as 0.0 and ties going to the lowest
    /// slot (current runner).
    pub fn compute(era: Era, slots: &[SlotOutcome]) -> Consensus {
        let valid: Vec<&Judgment> = slots
            .iter()
            .filter_map(|s| match s {
                SlotOutcome::Judged(j) if j.is_valid => Some(j),
                _ => None,
            })
            .collect();
        let all_valid = !slots.is_empty() && valid.len() == slots.len();
        if valid.is_empty() {
            return Consensus {
                score: 0.0,
                passed: false,
                grade: "F".into(),
                reasoning: "All judges failed to produce valid results".into(),
                is_valid: false,
                criteria_scores: json!({}),
            };
        }
        let scores: Vec<f64> = valid.iter().map(|j| j.score).collect();
        let score = crate::py::stats::py_sum(&scores) / valid.len() as f64;
        let passes = valid.iter().filter(|j| j.passed).count();
        let passed = passes as f64 > valid.len() as f64 / 2.0;
        let (reasoning, criteria) = match era {
            Era::Jan2026 => {
                let first = valid[0];
                (first.reasoning.clone(), json!({}))
            }
            Era::Head => {
                let mut best: Option<(f64, &SlotOutcome)> = None;
                for slot in slots {
                    let s = match slot {
                        SlotOutcome::Judged(j) => j.score,
                        SlotOutcome::Failed(_) => 0.0,
                    };
                    let distance = (s - score).abs();
                    if best.is_none_or(|(d, _)| distance < d) {
                        best = Some((distance, slot));
                    }
                }
                match best.map(|(_, s)| s) {
                    Some(SlotOutcome::Judged(j)) => {
                        let criteria = if j.criteria_scores.is_null() { json!({}) } else { j.criteria_scores.clone() };
                        (j.reasoning.clone(), criteria)
                    }
                    Some(SlotOutcome::Failed(e)) => (format!("Judge failed: {e}"), json!({})),
                    None => (String::new(), json!({})),
                }
            }
        };
        Consensus {
            score,
            passed,
            grade: grade(score).to_string(),
            reasoning,
            is_valid: all_valid,
            criteria_scores: criteria,
        }
    }

    /// `judge/result.json` in the era's shape (4 keys in January 2026, 6 now).
    pub fn to_value(&self, era: Era) -> Value {
        let mut m = Map::new();
        m.insert("score".into(), pyjson::float(self.score));
        m.insert("passed".into(), json!(self.passed));
        m.insert("grade".into(), json!(self.grade));
        m.insert("reasoning".into(), json!(self.reasoning));
        if era == Era::Head {
            m.insert("is_valid".into(), json!(self.is_valid));
            // The runner wrote null here (docs/format.md#bug-resume-loses-criteria-and-judges); darn keeps the closest judge's criteria.
            m.insert("criteria_scores".into(), self.criteria_scores.clone());
        }
        Value::Object(m)
    }

    /// Checks an existing `judge/result.json` against this consensus.
    pub fn check(&self, era: Era, existing: &Value) -> Result<(), String> {
        let obj = existing.as_object().ok_or("not a JSON object")?;
        for key in ["score", "passed", "grade"] {
            if !obj.contains_key(key) {
                return Err(format!("missing key `{key}`"));
            }
        }
        let score = obj.get("score").and_then(pyjson::as_f64).ok_or("`score` is not a number")?;
        if score != self.score {
            return Err(format!(
                "score {} disagrees with the judgments' mean {}",
                pyjson::float_repr(score),
                pyjson::float_repr(self.score)
            ));
        }
        if obj.get("passed").and_then(Value::as_bool) != Some(self.passed) {
            return Err(format!("`passed` disagrees with the judges' majority ({})", self.passed));
        }
        if obj.get("grade").and_then(Value::as_str) != Some(self.grade.as_str()) {
            return Err(format!("grade {} disagrees with score (expected {})", obj["grade"], self.grade));
        }
        if obj.get("reasoning").and_then(Value::as_str) != Some(self.reasoning.as_str()) {
            return Err("`reasoning` is not the chosen judge's reasoning".into());
        }
        if era == Era::Head {
            let recorded = !matches!(obj.get("is_valid"), Some(Value::Bool(false)));
            if recorded != self.is_valid {
                return Err(format!("`is_valid` is {recorded}, the slots say {}", self.is_valid));
            }
            match obj.get("criteria_scores") {
                None => return Err("missing key `criteria_scores`".into()),
                // The runner always wrote null (docs/format.md#bug-resume-loses-criteria-and-judges): accepted, not rewritten.
                Some(Value::Null) => {}
                Some(c) if *c != self.criteria_scores => {
                    return Err("`criteria_scores` are not the closest judge's".into());
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(score: f64, passed: bool, reasoning: &str) -> SlotOutcome {
        SlotOutcome::Judged(Judgment {
            score,
            passed,
            grade: grade(score).into(),
            reasoning: reasoning.into(),
            is_valid: true,
            criteria_scores: json!({"c": reasoning}),
        })
    }

    #[test]
    fn reproduces_fixture_consensus() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun/T0/00/run_01/judge");
        let slots: Vec<SlotOutcome> = (1..=3)
            .map(|n| {
                let bytes = std::fs::read(root.join(format!("judge_{n:02}/judgment.json"))).expect("fixture");
                SlotOutcome::Judged(Judgment::from_value(&pyjson::parse(&bytes).expect("json")).expect("valid"))
            })
            .collect();
        let c = Consensus::compute(Era::Jan2026, &slots);
        let bytes = std::fs::read(root.join("result.json")).expect("fixture");
        assert_eq!(pyjson::to_string(&c.to_value(Era::Jan2026)).as_bytes(), bytes.as_slice());
    }

    #[test]
    fn head_picks_closest_and_majority() {
        let slots = [judged(0.2, false, "low"), judged(0.7, true, "mid"), judged(0.9, true, "high")];
        let c = Consensus::compute(Era::Head, &slots);
        assert!((c.score - 0.6).abs() < 1e-12);
        assert!(c.passed);
        assert_eq!(c.reasoning, "mid");
        assert_eq!(c.criteria_scores, json!({"c": "mid"}));
        assert!(c.is_valid);
        // A 1-1 split is not a majority; a failed slot makes the consensus invalid and counts as 0.0
        // when choosing the closest judge.
        let slots = [judged(0.25, true, "a"), SlotOutcome::Failed("boom".into()), judged(0.75, false, "b")];
        let c = Consensus::compute(Era::Head, &slots);
        assert!(!c.passed);
        assert!(!c.is_valid);
        assert_eq!(c.reasoning, "a", "0.25 and 0.75 are equally close to 0.5; the lower slot wins");
    }

    #[test]
    fn all_failed() {
        let c = Consensus::compute(Era::Head, &[SlotOutcome::Failed("x".into())]);
        assert_eq!(c.reasoning, "All judges failed to produce valid results");
        assert_eq!((c.score, c.passed, c.grade.as_str(), c.is_valid), (0.0, false, "F", false));
    }

    #[test]
    fn check_accepts_runner_null_criteria() {
        let c = Consensus::compute(Era::Head, &[judged(0.9, true, "r")]);
        let mut v = c.to_value(Era::Head);
        assert_eq!(c.check(Era::Head, &v), Ok(()));
        v["criteria_scores"] = Value::Null;
        assert_eq!(c.check(Era::Head, &v), Ok(()));
        v["score"] = json!(0.5);
        assert!(c.check(Era::Head, &v).is_err());
    }
}
