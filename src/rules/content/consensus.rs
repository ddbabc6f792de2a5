//! `judge/result.json`: the consensus of a run's judge slots (docs/format.md#consensus, docs/format.md#consensus-formula).

use crate::experiment::era::ConsensusShape;
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
    /// The criteria of the slot whose score is closest to the consensus (`null` when it gave
    /// none), or `{}`.
    pub criteria_scores: Value,
}

impl Consensus {
    /// Computes the consensus the way the runner of `shape` did (docs/format.md#consensus-formula).
    ///
    /// - Until 2026-02-09: the mean of every slot with a score, a strict majority for `passed`,
    ///   slot 1's reasoning, no criteria.
    /// - From then on: the mean of the valid slots; the reasoning and criteria of the slot closest
    ///   to the mean among all slots (a failed slot counts as 0.0; ties go to the lowest slot).
    pub fn compute(shape: ConsensusShape, slots: &[SlotOutcome]) -> Consensus {
        let counted: Vec<&Judgment> = slots
            .iter()
            .filter_map(|s| match s {
                SlotOutcome::Judged(j) if j.is_valid || shape == ConsensusShape::FirstSlot => Some(j),
                _ => None,
            })
            .collect();
        let all_valid = !slots.is_empty() && slots.iter().all(|s| matches!(s, SlotOutcome::Judged(j) if j.is_valid));
        if counted.is_empty() {
            return Consensus {
                score: 0.0,
                passed: false,
                grade: "F".into(),
                reasoning: "All judges failed to produce valid results".into(),
                is_valid: false,
                criteria_scores: json!({}),
            };
        }
        let scores: Vec<f64> = counted.iter().map(|j| j.score).collect();
        let score = crate::py::stats::py_sum(&scores) / counted.len() as f64;
        let passes = counted.iter().filter(|j| j.passed).count();
        let passed = passes as f64 > counted.len() as f64 / 2.0;
        let (reasoning, criteria) = match shape {
            ConsensusShape::FirstSlot => match slots.first() {
                Some(SlotOutcome::Judged(j)) => (j.reasoning.clone(), json!({})),
                _ => (counted[0].reasoning.clone(), json!({})),
            },
            ConsensusShape::Closest => {
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
                    // As the judge gave them: a judge without criteria leaves `null`.
                    Some(SlotOutcome::Judged(j)) => (j.reasoning.clone(), j.criteria_scores.clone()),
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

    /// `judge/result.json` in the shape of its family: 4 keys, or 6 with `criteria_scores`
    /// `null` as the runner's main path writes it (the criteria go to `run_result.json` and
    /// the report).
    pub fn to_value(&self, shape: ConsensusShape) -> Value {
        let mut m = Map::new();
        m.insert("score".into(), pyjson::float(self.score));
        m.insert("passed".into(), json!(self.passed));
        m.insert("grade".into(), json!(self.grade));
        m.insert("reasoning".into(), json!(self.reasoning));
        if shape == ConsensusShape::Closest {
            m.insert("is_valid".into(), json!(self.is_valid));
            m.insert("criteria_scores".into(), Value::Null);
        }
        Value::Object(m)
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
        let c = Consensus::compute(ConsensusShape::FirstSlot, &slots);
        let bytes = std::fs::read(root.join("result.json")).expect("fixture");
        assert_eq!(pyjson::to_string(&c.to_value(ConsensusShape::FirstSlot)).as_bytes(), bytes.as_slice());
    }

    #[test]
    fn head_picks_closest_and_majority() {
        let slots = [judged(0.2, false, "low"), judged(0.7, true, "mid"), judged(0.9, true, "high")];
        let c = Consensus::compute(ConsensusShape::Closest, &slots);
        assert!((c.score - 0.6).abs() < 1e-12);
        assert!(c.passed);
        assert_eq!(c.reasoning, "mid");
        assert_eq!(c.criteria_scores, json!({"c": "mid"}));
        assert!(c.is_valid);
        // A 1-1 split is not a majority; a failed slot makes the consensus invalid and counts as 0.0
        // when choosing the closest judge.
        let slots = [judged(0.25, true, "a"), SlotOutcome::Failed("boom".into()), judged(0.75, false, "b")];
        let c = Consensus::compute(ConsensusShape::Closest, &slots);
        assert!(!c.passed);
        assert!(!c.is_valid);
        assert_eq!(c.reasoning, "a", "0.25 and 0.75 are equally close to 0.5; the lower slot wins");
    }

    #[test]
    fn all_failed() {
        let c = Consensus::compute(ConsensusShape::Closest, &[SlotOutcome::Failed("x".into())]);
        assert_eq!(c.reasoning, "All judges failed to produce valid results");
        assert_eq!((c.score, c.passed, c.grade.as_str(), c.is_valid), (0.0, false, "F", false));
    }

    #[test]
    fn january_averages_every_scored_slot_and_takes_slot_one() {
        let mut invalid = judged(0.3, false, "first");
        if let SlotOutcome::Judged(j) = &mut invalid {
            j.is_valid = false;
        }
        let slots = [invalid, judged(0.9, true, "second"), judged(0.9, true, "third")];
        let c = Consensus::compute(ConsensusShape::FirstSlot, &slots);
        assert!((c.score - 0.7).abs() < 1e-12, "the invalid slot counts: {}", c.score);
        assert_eq!(c.reasoning, "first");
        assert_eq!(pyjson::to_string(&c.to_value(ConsensusShape::FirstSlot)).matches(':').count(), 4);
        let c = Consensus::compute(ConsensusShape::Closest, &slots);
        assert!((c.score - 0.9).abs() < 1e-12, "valid slots only from 2026-02-09");
        assert_eq!(c.to_value(ConsensusShape::Closest)["criteria_scores"], Value::Null, "as the runner writes it");
    }
}
