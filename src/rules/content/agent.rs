//! The agent's derived files: `agent/output.txt`, `agent/result.json`, `agent/timing.json`
//! (LAYOUT §5.3–§5.5), all regenerated from the raw transcript and the command log.

use crate::observe::claude::{Stdout, TokenStats, parse_stdout};
use crate::py::json as pyjson;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// Version of these rules; part of every stamp, so a change makes old outputs `rule_changed`.
pub const RULE_VERSION: u32 = 1;

/// USD per million tokens (input, output) for the agent model, for the cost fallback.
fn model_price(model: &str) -> (f64, f64) {
    let m = model.to_ascii_lowercase();
    if m.contains("opus-4-5") || m.contains("opus-4-6") {
        (5.0, 25.0)
    } else if m.contains("opus") {
        (15.0, 75.0)
    } else if m.contains("haiku") {
        (1.0, 5.0)
    } else {
        (3.0, 15.0)
    }
}

static RE_INPUT: LazyLock<regex::Regex> = LazyLock::new(|| re(r"(?i)input[_ ]tokens?:\s*(\d+)"));
static RE_OUTPUT: LazyLock<regex::Regex> = LazyLock::new(|| re(r"(?i)output[_ ]tokens?:\s*(\d+)"));
static RE_PAIR: LazyLock<regex::Regex> =
    LazyLock::new(|| re(r"(?i)(\d+)\s*(?:input|in)\s*(?:,|/)\s*(\d+)\s*(?:output|out)"));
static RE_PAREN: LazyLock<regex::Regex> = LazyLock::new(|| re(r"(?i)\((\d+)\s*input,\s*(\d+)\s*output\)"));
static RE_CALLS: LazyLock<regex::Regex> = LazyLock::new(|| re(r"(?i)API calls?:\s*(\d+)"));
static RE_CALLS2: LazyLock<regex::Regex> = LazyLock::new(|| re(r"(?i)(\d+)\s*API calls?"));

fn re(pattern: &str) -> regex::Regex {
    // The patterns are constants checked by the tests below.
    regex::Regex::new(pattern).unwrap_or_else(|_| regex::Regex::new("$^").unwrap_or_else(|_| unreachable!()))
}

fn last_number(re: &regex::Regex, text: &str, group: usize) -> Option<u64> {
    re.captures_iter(text).last().and_then(|c| c.get(group)).and_then(|m| m.as_str().parse().ok())
}

/// What `agent/result.json` holds, derived from the transcript (LAYOUT §5.4, fixing B1–B3 and
/// B33: correct token key names, `api_calls` = `num_turns`, the last command's exit code, and
/// cache reads priced at a tenth of the input price in the cost fallback).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    pub tokens: TokenStats,
    pub cost_usd: f64,
    pub api_calls: u64,
}

impl AgentResult {
    /// Derives the result from raw stdout/stderr and the exit code.
    pub fn derive(stdout: &str, stderr: &str, exit_code: i64, model: &str) -> Self {
        Self::derive_parsed(&parse_stdout(stdout), stdout, stderr, exit_code, model)
    }

    /// Like [`Self::derive`], with stdout already parsed.
    pub fn derive_parsed(parsed: &Stdout, stdout: &str, stderr: &str, exit_code: i64, model: &str) -> Self {
        let (tokens, mut cost, api_calls) = match parsed {
            Stdout::Json(r) => {
                let tokens = TokenStats {
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    cache_creation_tokens: r.cache_creation_tokens,
                    cache_read_tokens: r.cache_read_tokens,
                };
                let calls = match r.num_turns {
                    Some(n) if n > 0 => n as u64,
                    _ => text_api_calls(stdout),
                };
                (tokens, r.total_cost_usd.unwrap_or(0.0), calls)
            }
            _ => {
                let both = format!("{stdout}\n{stderr}");
                let mut input = last_number(&RE_INPUT, &both, 1).unwrap_or(0);
                let mut output = last_number(&RE_OUTPUT, &both, 1).unwrap_or(0);
                for pattern in [&*RE_PAIR, &*RE_PAREN] {
                    if let Some(c) = pattern.captures_iter(&both).last() {
                        input = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(input);
                        output = c.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(output);
                    }
                }
                let tokens = TokenStats { input_tokens: input, output_tokens: output, ..TokenStats::default() };
                (tokens, 0.0, text_api_calls(stdout))
            }
        };
        if cost == 0.0 && (tokens.input_tokens > 0 || tokens.output_tokens > 0) {
            let (pin, pout) = model_price(model);
            cost = (tokens.input_tokens as f64 + 0.1 * tokens.cache_read_tokens as f64) / 1e6 * pin
                + tokens.output_tokens as f64 / 1e6 * pout;
        }
        AgentResult {
            exit_code,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            tokens,
            cost_usd: cost,
            api_calls,
        }
    }

    /// The JSON object in the runner's key order.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("exit_code".into(), json!(self.exit_code));
        m.insert("stdout".into(), json!(self.stdout));
        m.insert("stderr".into(), json!(self.stderr));
        m.insert("token_stats".into(), self.tokens.to_value());
        m.insert("cost_usd".into(), pyjson::float(self.cost_usd));
        m.insert("api_calls".into(), json!(self.api_calls));
        Value::Object(m)
    }

    /// The runner's invalid-result signature: exit −1 with zero tokens (LAYOUT §10.0).
    pub fn is_invalid_signature(exit_code: i64, tokens: TokenStats) -> bool {
        exit_code == -1 && tokens.is_zero()
    }
}

/// The runner's `api_calls` fallback for text output.
fn text_api_calls(stdout: &str) -> u64 {
    if let Some(n) = last_number(&RE_CALLS, stdout, 1).or_else(|| last_number(&RE_CALLS2, stdout, 1)) {
        return n;
    }
    let markers = stdout.matches("Response:").count() + stdout.matches("Completion:").count();
    if markers > 0 {
        return markers as u64;
    }
    u64::from(stdout.trim().len() > 100)
}

/// Checks an existing `agent/result.json` against the derived one. `Ok` when they agree
/// (values compared, key order and number formatting ignored), else the first difference.
pub fn check_result(existing: &Value, derived: &AgentResult) -> Result<(), String> {
    let obj = existing.as_object().ok_or("not a JSON object")?;
    for key in ["exit_code", "stdout", "stderr", "token_stats", "cost_usd", "api_calls"] {
        if !obj.contains_key(key) {
            return Err(format!("missing key `{key}`"));
        }
    }
    let tokens = &obj["token_stats"];
    for key in ["cache_creation_input_tokens", "cache_read_input_tokens"] {
        if tokens.get(key).is_some() {
            return Err(format!(
                "token_stats has `{key}` instead of `{}` (written by rerun.py, B1)",
                key.replace("_input", "")
            ));
        }
    }
    let want = derived.to_value();
    for key in ["exit_code", "stdout", "stderr", "token_stats", "api_calls"] {
        if obj[key] != want[key] {
            return Err(format!(
                "`{key}` disagrees with the transcript (has {}, expected {})",
                short(&obj[key]),
                short(&want[key])
            ));
        }
    }
    if pyjson::as_f64(&obj["cost_usd"]) != Some(derived.cost_usd) {
        return Err(format!(
            "`cost_usd` is {}, the transcript says {}",
            short(&obj["cost_usd"]),
            pyjson::float_repr(derived.cost_usd)
        ));
    }
    Ok(())
}

/// `agent/timing.json`: the agent's wall-clock seconds and when they were measured.
pub fn timing_value(duration_seconds: f64, measured_at: &str) -> Value {
    json!({"agent_duration_seconds": pyjson::float(duration_seconds), "measured_at": measured_at})
}

/// Checks `agent/timing.json`: a number of seconds that matches the command log when known.
pub fn check_timing(existing: &Value, logged_duration: Option<f64>) -> Result<(), String> {
    let secs =
        existing.get("agent_duration_seconds").and_then(pyjson::as_f64).ok_or("no `agent_duration_seconds` number")?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`agent_duration_seconds` is {secs}"));
    }
    if existing.get("measured_at").and_then(Value::as_str).is_none() {
        return Err("no `measured_at`".into());
    }
    if let Some(logged) = logged_duration
        && logged > 0.0
        && logged != secs
    {
        return Err(format!("says {secs} s, the command log says {logged} s"));
    }
    Ok(())
}

/// A short rendering of a value for messages.
pub fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 60 { format!("{}…", s.chars().take(57).collect::<String>()) } else { s }
}

/// Two values rendered around their first difference, so long strings that share a prefix
/// (paths, reasoning) show where they differ.
pub fn difference(have: &Value, want: &Value) -> (String, String) {
    let (Value::String(a), Value::String(b)) = (have, want) else {
        return (short(have), short(want));
    };
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let window = |s: &str| {
        let start = common.saturating_sub(12);
        let tail: String = s.chars().skip(start).take(48).collect();
        let more = s.chars().count() > start + 48;
        format!("{}{tail}{}", if start > 0 { "…" } else { "" }, if more { "…" } else { "" })
    };
    (format!("{:?}", window(a)), format!("{:?}", window(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        for r in [&*RE_INPUT, &*RE_OUTPUT, &*RE_PAIR, &*RE_PAREN, &*RE_CALLS, &*RE_CALLS2] {
            assert_ne!(r.as_str(), "$^");
        }
    }

    #[test]
    fn derives_the_fixture_result() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun/T0/00/run_01/agent");
        let stdout = std::fs::read_to_string(dir.join("stdout.log")).expect("fixture");
        let stderr = std::fs::read_to_string(dir.join("stderr.log")).expect("fixture");
        let derived = AgentResult::derive(&stdout, &stderr, 0, "claude-sonnet-4-5-20250929");
        let bytes = std::fs::read(dir.join("result.json")).expect("fixture");
        assert_eq!(pyjson::to_string(&derived.to_value()).as_bytes(), bytes.as_slice());
        let existing = pyjson::parse(&bytes).expect("json");
        assert_eq!(check_result(&existing, &derived), Ok(()));
    }

    #[test]
    fn classifies_stdout() {
        assert_eq!(parse_stdout(" \n"), Stdout::Empty);
        assert!(matches!(parse_stdout("{\"type\":\"result\",\"usage\":{\"input_"), Stdout::Truncated(_)));
        assert!(matches!(parse_stdout("hello"), Stdout::Text));
        let stream = "{\"type\":\"system\"}\n{\"type\":\"result\",\"num_turns\":3,\"is_error\":false}\n";
        assert!(matches!(parse_stdout(stream), Stdout::Json(r) if r.num_turns == Some(3)));
    }

    #[test]
    fn text_fallbacks() {
        let r =
            AgentResult::derive("Done. input tokens: 100\noutput tokens: 20\nAPI calls: 4", "", 0, "claude-sonnet-4-6");
        assert_eq!((r.tokens.input_tokens, r.tokens.output_tokens, r.api_calls), (100, 20, 4));
        assert!((r.cost_usd - (100.0 / 1e6 * 3.0 + 20.0 / 1e6 * 15.0)).abs() < 1e-15);
        let r = AgentResult::derive("used (7 input, 3 output)", "", 0, "m");
        assert_eq!((r.tokens.input_tokens, r.tokens.output_tokens), (7, 3));
    }

    #[test]
    fn b1_keys_are_reported() {
        let derived = AgentResult::derive("{\"num_turns\":1}", "", 0, "m");
        let mut v = derived.to_value();
        v["token_stats"] = json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
        let err = check_result(&v, &derived).expect_err("B1");
        assert!(err.contains("B1"), "{err}");
    }
}
