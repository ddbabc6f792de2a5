//! A judge slot's `judgment.json`, parsed from its response (docs/format.md#judge-invocation, docs/format.md#judge-response-parsing).

#[cfg(test)]
use crate::observe::claude::response_from_stdout;
use crate::observe::sources::{JsonType, Malformed};
use crate::py::json as pyjson;
use crate::rules::content::ratelimit::truthy;
use serde_json::{Map, Value, json};

/// The letter grade of a score (docs/format.md#grades).
pub fn grade(score: f64) -> &'static str {
    if score == 1.0 {
        "S"
    } else if score >= 0.8 {
        "A"
    } else if score >= 0.6 {
        "B"
    } else if score >= 0.4 {
        "C"
    } else if score >= 0.2 {
        "D"
    } else {
        "F"
    }
}

/// A parsed judgment (the `judgment.json` fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Judgment {
    pub score: f64,
    pub passed: bool,
    pub grade: String,
    pub reasoning: String,
    pub is_valid: bool,
    pub criteria_scores: Value,
}

impl Judgment {
    /// `judgment.json` in the runner's key order.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("score".into(), pyjson::float(self.score));
        m.insert("passed".into(), json!(self.passed));
        m.insert("grade".into(), json!(self.grade));
        m.insert("reasoning".into(), json!(self.reasoning));
        m.insert("is_valid".into(), json!(self.is_valid));
        m.insert("criteria_scores".into(), self.criteria_scores.clone());
        Value::Object(m)
    }

    /// Whether `judgment.json` rendered from either would load as the same values (numbers
    /// compare as floats, as [`compare::same`](crate::rules::compare::same) does).
    pub fn same(&self, other: &Judgment) -> bool {
        self.score == other.score
            && self.passed == other.passed
            && self.grade == other.grade
            && self.reasoning == other.reasoning
            && self.is_valid == other.is_valid
            && crate::rules::compare::same(&self.criteria_scores, &other.criteria_scores)
    }

    /// Reads an existing `judgment.json`, validating what the engine relies on.
    pub fn from_value(v: &Value) -> Result<Self, Malformed> {
        let key = |k: &str| -> Box<str> { k.into() };
        let obj = v.as_object().ok_or(Malformed::NotObject)?;
        let score = match obj.get("score") {
            None => return Err(Malformed::MissingKey(key("score"))),
            Some(s) => {
                pyjson::as_f64(s).ok_or(Malformed::WrongType { key: key("score"), expected: JsonType::Number })?
            }
        };
        if !(0.0..=1.0).contains(&score) {
            return Err(Malformed::OutOfRange { key: key("score"), value: pyjson::float_repr(score).into() });
        }
        let passed = match obj.get("passed") {
            None => return Err(Malformed::MissingKey(key("passed"))),
            Some(p) => p.as_bool().ok_or(Malformed::WrongType { key: key("passed"), expected: JsonType::Bool })?,
        };
        let grade_text = match obj.get("grade") {
            None => return Err(Malformed::MissingKey(key("grade"))),
            Some(g) => g.as_str().ok_or(Malformed::WrongType { key: key("grade"), expected: JsonType::String })?,
        };
        if grade_text != grade(score) {
            return Err(Malformed::OutOfRange { key: key("grade"), value: grade_text.into() });
        }
        let reasoning = match obj.get("reasoning") {
            None => return Err(Malformed::MissingKey(key("reasoning"))),
            Some(r) => r.as_str().ok_or(Malformed::WrongType { key: key("reasoning"), expected: JsonType::String })?,
        };
        let is_valid = !matches!(obj.get("is_valid"), Some(Value::Bool(false)));
        Ok(Judgment {
            score,
            passed,
            grade: grade_text.to_string(),
            reasoning: reasoning.to_string(),
            is_valid,
            criteria_scores: obj.get("criteria_scores").cloned().unwrap_or(Value::Null),
        })
    }
}

/// Parses a judge response into a judgment (docs/format.md#judge-response-parsing), or says why it cannot.
pub fn parse_response(response: &str) -> Result<Judgment, String> {
    let text = response.trim();
    if text.is_empty() {
        return Err("empty response".into());
    }
    let mut obj = extract_json(text).ok_or("no JSON object in the response")?;
    let obj = obj.as_object_mut().ok_or("the response's JSON is not an object")?;
    let raw_score = obj.get("score").ok_or("the response's JSON has no `score`")?;
    let score = match raw_score {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| format!("score {s:?} is not a number"))?,
        other => pyjson::as_f64(other).ok_or_else(|| format!("score {other} is not a number"))?,
    };
    if score.is_nan() {
        return Err("score is NaN".into());
    }
    let score = score.clamp(0.0, 1.0);
    let passed = truthy(obj.get("passed"));
    let reasoning = match obj.get_mut("reasoning") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => std::mem::take(s),
        Some(other) => other.to_string(),
    };
    let reasoning = if reasoning.is_empty() { "No reasoning provided".to_string() } else { reasoning };
    let criteria_scores = ["categories", "criteria_scores"]
        .iter()
        .find(|k| truthy(obj.get(**k)))
        .and_then(|k| obj.get_mut(*k))
        .map_or(Value::Null, Value::take);
    Ok(Judgment { score, passed, grade: grade(score).to_string(), reasoning, is_valid: true, criteria_scores })
}

/// The runner's JSON extraction: the first fenced block if it holds an object, else the span from
/// the first `{` to its matching `}` by plain brace counting. Where that span does not parse,
/// darn retries with a matcher that skips braces inside strings (docs/format.md#bug-judge-json-extraction-ignores-strings).
fn extract_json(text: &str) -> Option<Value> {
    if let Some(block) = first_fenced_block(text) {
        let block = block.trim();
        if block.starts_with('{')
            && let Ok(v) = serde_json::from_str::<Value>(block)
        {
            return Some(v);
        }
    }
    let start = text.find('{')?;
    if let Some(end) = matching_brace(&text[start..], false)
        && let Ok(v) = serde_json::from_str::<Value>(&text[start..start + end + 1])
    {
        return Some(v);
    }
    let end = matching_brace(&text[start..], true)?;
    serde_json::from_str::<Value>(&text[start..start + end + 1]).ok()
}

fn first_fenced_block(text: &str) -> Option<&str> {
    let open = text.find("```")?;
    let mut rest = &text[open + 3..];
    if let Some(stripped) = rest.strip_prefix("json") {
        rest = stripped;
    }
    let close = rest.find("```")?;
    Some(&rest[..close])
}

/// Byte index of the `}` closing the `{` at index 0.
fn matching_brace(text: &str, skip_strings: bool) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if skip_strings && in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if skip_strings => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades() {
        let cases = [
            (1.0, "S"),
            (0.99, "A"),
            (0.8, "A"),
            (0.6, "B"),
            (0.59, "C"),
            (0.4, "C"),
            (0.2, "D"),
            (0.19, "F"),
            (0.0, "F"),
        ];
        for (s, g) in cases {
            assert_eq!(grade(s), g, "{s}");
        }
    }

    /// Every judgment of the real fixture is reproduced from its response, byte for byte.
    #[test]
    fn reproduces_every_fixture_judgment() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun");
        let mut checked = 0;
        for tier in ["T0", "T1", "T2", "T3", "T4", "T5", "T6"] {
            let subtest = if tier == "T0" { "00" } else { "01" };
            for slot in 1..=3 {
                let dir = root.join(format!("{tier}/{subtest}/run_01/judge/judge_{slot:02}"));
                let response = std::fs::read_to_string(dir.join("response.txt")).expect("fixture");
                let judgment = parse_response(&response).expect("parses");
                let bytes = std::fs::read(dir.join("judgment.json")).expect("fixture");
                assert_eq!(pyjson::to_string(&judgment.to_value()).as_bytes(), bytes.as_slice(), "{}", dir.display());
                checked += 1;
            }
        }
        assert_eq!(checked, 21);
    }

    #[test]
    fn extraction_rules() {
        let j = parse_response("Here:\n```json\n{\"score\": 0.5, \"passed\": false, \"reasoning\": \"meh\"}\n```")
            .expect("fenced");
        assert_eq!((j.score, j.passed, j.grade.as_str()), (0.5, false, "C"));
        let j = parse_response("result {\"score\": 2, \"passed\": 1} trailing").expect("bare");
        assert_eq!((j.score, j.passed, j.reasoning.as_str()), (1.0, true, "No reasoning provided"));
        assert!(parse_response("no json here").is_err());
        assert!(parse_response("{\"passed\": true}").is_err(), "score is required");
        // Braces inside a string defeat plain counting; the string-aware retry recovers (docs/format.md#bug-judge-json-extraction-ignores-strings).
        let j = parse_response("{\"score\": 0.9, \"passed\": true, \"reasoning\": \"uses } and {{\"}").expect("B31");
        assert_eq!(j.reasoning, "uses } and {{");
    }

    #[test]
    fn stream_extraction() {
        let stream = concat!(
            "{\"type\":\"system\",\"subtype\":\"init\"}\n",
            "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"score\\\": 0.7,\"},{\"type\":\"text\",\"text\":\" \\\"passed\\\": true}\"}]}}\n",
            "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"\"}\n"
        );
        let s = response_from_stdout(stream);
        assert_eq!(s.text, "{\"score\": 0.7, \"passed\": true}");
        assert!(s.error.is_none());
        let text_mode = response_from_stdout("plain answer {\"score\": 1}");
        assert_eq!(text_mode.text, "plain answer {\"score\": 1}");
        let err = response_from_stdout("{\"type\":\"result\",\"is_error\":true,\"result\":\"API Error: 500\"}\n");
        assert_eq!(err.error.as_deref(), Some("API Error: 500"));
    }

    #[test]
    fn existing_judgments_are_validated() {
        let good = json!({"score": 0.9, "passed": true, "grade": "A", "reasoning": "r", "is_valid": true, "criteria_scores": null});
        assert!(Judgment::from_value(&good).is_ok());
        let mut bad = good.clone();
        bad["score"] = json!(1.5);
        assert!(matches!(Judgment::from_value(&bad), Err(Malformed::OutOfRange { .. })));
        let mut bad = good.clone();
        bad["grade"] = json!("C");
        assert!(Judgment::from_value(&bad).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::py::json::arb;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any response text: a judgment whose score is a number in [0, 1], or a reason.
        #[test]
        fn any_response_parses_or_fails(text in "\\PC{0,200}") {
            match parse_response(&text) {
                Ok(j) => prop_assert!((0.0..=1.0).contains(&j.score)),
                Err(why) => prop_assert!(!why.is_empty()),
            }
        }

        /// A JSON object wrapped in prose, a fence or both, possibly cut: read or refused, and
        /// when read from an intact object with a numeric score, that score (clamped) is the one.
        #[test]
        fn embedded_objects(v in arb::value(), score in -1.0f64..2.0, wrap in 0..4u8, cut in any::<prop::sample::Index>()) {
            let mut obj = match v { Value::Object(m) => m, other => {
                let mut m = serde_json::Map::new();
                m.insert("extra".into(), other);
                m
            } };
            obj.insert("score".into(), crate::py::json::float(score));
            let body = serde_json::to_string(&Value::Object(obj)).unwrap_or_default();
            let text = match wrap {
                0 => body.clone(),
                1 => format!("Here is my grade.\n```json\n{body}\n```\nDone."),
                2 => format!("I think {body} is fair"),
                _ => {
                    let at = cut.index(body.len() + 1);
                    let at = (0..=at).rev().find(|i| body.is_char_boundary(*i)).unwrap_or(0);
                    body[..at].to_string()
                }
            };
            match parse_response(&text) {
                Ok(j) => {
                    prop_assert!((0.0..=1.0).contains(&j.score));
                    if wrap < 2 {
                        prop_assert_eq!(j.score, score.clamp(0.0, 1.0));
                    }
                }
                Err(why) => prop_assert!(wrap >= 2, "an intact object was refused: {why}"),
            }
        }

        /// A judgment file of any shape is read or refused, never a panic.
        #[test]
        fn any_judgment_file(v in arb::value()) {
            let _ = Judgment::from_value(&v);
        }
    }
}
