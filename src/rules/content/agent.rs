//! The agent's derived files: `agent/output.txt`, `agent/result.json`, `agent/timing.json`
//! (docs/format.md#agent-transcript, #agent-result, #agent-timing), all regenerated from the raw transcript and the command log.

use crate::observe::claude::{Stdout, TokenStats, parse_stdout};
use crate::py::json as pyjson;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

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

/// What `agent/result.json` holds, derived from the transcript (docs/format.md#agent-result, fixing docs/format.md#bug-regenerated-agent-result-uses-usage-token-names, docs/format.md#bug-regenerated-agent-result-hard-codes-api-calls, docs/format.md#bug-regenerated-agent-result-assumes-one-json-object and
/// docs/format.md#bug-cache-reads-priced-as-fresh-input: correct token key names, `api_calls` = `num_turns`, the last command's exit code, and
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

    /// The file's bytes before and after the `stdout` string's contents, for a transcript too
    /// large to hold that is streamed in between (see `py::json::stream_escaped`).
    pub fn around_stdout(&self) -> (String, String) {
        const MARK: &str = "\u{1}darn-transcript\u{1}";
        let text = pyjson::to_string(&AgentResult { stdout: MARK.into(), ..self.clone() }.to_value());
        let mut literal = String::new();
        pyjson::write_escaped(&mut literal, MARK, true);
        // The split keeps the quotes: the stream writes only what is between them.
        let escaped = &literal[1..literal.len() - 1];
        match text.find(escaped) {
            Some(at) => (text[..at].to_string(), text[at + escaped.len()..].to_string()),
            // The mark is always written as is; an empty split never matches a real file.
            None => (text, String::new()),
        }
    }

    /// The runner's invalid-result signature: exit −1 with zero tokens (docs/format.md#invalid-agent-result).
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

/// `agent/timing.json`: the agent's wall-clock seconds and when they were measured.
pub fn timing_value(duration_seconds: f64, measured_at: &str) -> Value {
    json!({"agent_duration_seconds": pyjson::float(duration_seconds), "measured_at": measured_at})
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
}

#[cfg(test)]
mod streamed {
    use super::*;

    #[test]
    fn a_streamed_transcript_gives_the_same_bytes() {
        let stdout = "{\"type\":\"result\",\"num_turns\":2,\"result\":\"é \\\" done\"}\n\u{1F600} tail";
        let r = AgentResult::derive(stdout, "err", 0, "claude-opus-4-6");
        let (head, tail) = r.around_stdout();
        let mut bytes = head.into_bytes();
        pyjson::stream_escaped(stdout.as_bytes(), |b| bytes.extend_from_slice(b)).expect("read");
        bytes.extend_from_slice(tail.as_bytes());
        assert_eq!(String::from_utf8_lossy(&bytes), pyjson::to_string(&r.to_value()));
    }
}
