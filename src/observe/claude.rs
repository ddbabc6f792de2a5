//! The `claude` CLI's output as darn reads it: a `--output-format json` result object, a
//! `stream-json` event stream, or plain text (docs/format.md#agent-transcript, docs/format.md#judge-invocation).

use crate::py::json as pyjson;
use serde_json::{Value, json};

/// The fields darn reads from a Claude Code `--output-format json` result object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaudeResult {
    pub is_error: bool,
    pub subtype: Option<String>,
    /// `result`, else `error`: the final text or the error message.
    pub text: Option<String>,
    pub num_turns: Option<i64>,
    pub total_cost_usd: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub duration_ms: Option<f64>,
}

/// What an agent's stdout turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Stdout {
    /// Nothing, or only whitespace.
    Empty,
    /// A result object (the whole stdout, or the `result` line of a stream).
    Json(Box<ClaudeResult>),
    /// JSON that stops early or is corrupt: the process was killed mid-write.
    Truncated(String),
    /// Plain text: the runner's regex fallbacks apply.
    Text,
}

/// Classifies and parses an agent's stdout.
pub fn parse_stdout(stdout: &str) -> Stdout {
    let trimmed = stdout.trim();
    if trimmed.is_empty() {
        return Stdout::Empty;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) if v.is_object() => return Stdout::Json(Box::new(result_from_value(&v))),
        Ok(_) => return Stdout::Text,
        Err(e) => {
            // A stream: use its result event.
            for line in trimmed.lines().rev() {
                let line = line.trim();
                if line.starts_with('{')
                    && let Ok(v) = serde_json::from_str::<Value>(line)
                    && v.get("type").and_then(Value::as_str) == Some("result")
                {
                    return Stdout::Json(Box::new(result_from_value(&v)));
                }
            }
            if trimmed.starts_with('{') {
                let what =
                    if e.is_eof() { "ends in the middle of the JSON result" } else { "is not a valid JSON result" };
                return Stdout::Truncated(format!("{what} ({e})"));
            }
        }
    }
    Stdout::Text
}

/// A transcript too large to hold (over `observe::files::KEEP_LIMIT`), read as a stream: what
/// `parse_stdout` finds in it, and the error-result lines the rate-limit checks read. At most
/// one line of up to [`LINE_LIMIT`] bytes is in memory at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanned {
    pub parsed: Stdout,
    /// The lines of the stream that are error results (the last few), one per line.
    pub excerpt: String,
}

/// Lines longer than this are passed over by the stream scan (no result event is that long).
pub const LINE_LIMIT: usize = 1 << 20;
const EXCERPT_LINES: usize = 16;

/// The fields of a result object darn reads; everything else is skipped unread into memory.
#[derive(serde::Deserialize)]
struct WireResult {
    #[serde(rename = "type")]
    kind: Option<Value>,
    is_error: Option<Value>,
    subtype: Option<Value>,
    result: Option<Value>,
    error: Option<Value>,
    num_turns: Option<Value>,
    total_cost_usd: Option<Value>,
    usage: Option<Value>,
    duration_ms: Option<Value>,
}

/// [`WireResult`] with the texts skipped unread.
#[derive(serde::Deserialize)]
struct WireLean {
    #[serde(rename = "type")]
    kind: Option<Value>,
    is_error: Option<Value>,
    subtype: Option<Value>,
    num_turns: Option<Value>,
    total_cost_usd: Option<Value>,
    usage: Option<Value>,
    duration_ms: Option<Value>,
}

impl WireLean {
    fn into_full(self) -> WireResult {
        WireResult {
            kind: self.kind,
            is_error: self.is_error,
            subtype: self.subtype,
            result: None,
            error: None,
            num_turns: self.num_turns,
            total_cost_usd: self.total_cost_usd,
            usage: self.usage,
            duration_ms: self.duration_ms,
        }
    }
}

impl WireResult {
    fn into_value(self) -> Value {
        let mut m = serde_json::Map::new();
        let fields = [
            ("type", self.kind),
            ("is_error", self.is_error),
            ("subtype", self.subtype),
            ("result", self.result),
            ("error", self.error),
            ("num_turns", self.num_turns),
            ("total_cost_usd", self.total_cost_usd),
            ("usage", self.usage),
            ("duration_ms", self.duration_ms),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        }
        Value::Object(m)
    }
}

/// [`parse_stdout`] for a file read as a stream (same verdicts, bounded memory).
pub fn scan_stdout(file: &std::fs::File) -> std::io::Result<Scanned> {
    use std::io::{BufRead, BufReader, Seek};
    let mut f = file;
    f.rewind()?;
    let mut reader = BufReader::with_capacity(1 << 16, f);
    // Leading whitespace decides between one JSON document and a stream.
    let first = loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Scanned { parsed: Stdout::Empty, excerpt: String::new() });
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                reader.consume(i);
                break b;
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    let whole_error = if first == b'{' {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        match serde::Deserialize::deserialize(&mut de).and_then(|w: WireLean| de.end().map(|()| w)) {
            // A success's text is never read: it is skipped, not held.
            Ok(w) if !is_error(w.is_error.as_ref()) => {
                let v = w.into_full().into_value();
                return Ok(Scanned { parsed: Stdout::Json(Box::new(result_from_value(&v))), excerpt: String::new() });
            }
            Ok(_) => {
                let mut f = file;
                f.rewind()?;
                let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, f));
                let w: WireResult = serde::Deserialize::deserialize(&mut de).map_err(std::io::Error::other)?;
                return Ok(Scanned {
                    parsed: Stdout::Json(Box::new(result_from_value(&w.into_value()))),
                    excerpt: String::new(),
                });
            }
            Err(e) if e.is_io() => return Err(std::io::Error::other(e)),
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let mut f = file;
    f.rewind()?;
    let mut reader = BufReader::with_capacity(1 << 16, f);
    let mut last_result: Option<Value> = None;
    let mut excerpt: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf()?;
        let at_end = buf.is_empty();
        let (take, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), at_end),
        };
        if !too_long {
            if line.len() + take > LINE_LIMIT {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(&buf[..take]);
            }
        }
        reader.consume(take);
        if complete {
            if !too_long {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.starts_with('{')
                    && let Ok(v) = serde_json::from_str::<Value>(text)
                {
                    if v.get("type").and_then(Value::as_str) == Some("result") {
                        last_result = Some(v.clone());
                    }
                    if is_error(v.get("is_error")) {
                        if excerpt.len() == EXCERPT_LINES {
                            excerpt.pop_front();
                        }
                        excerpt.push_back(text.to_string());
                    }
                }
            }
            line.clear();
            too_long = false;
        }
        if at_end {
            break;
        }
    }
    let excerpt: String = excerpt.into_iter().map(|l| l + "\n").collect();
    let parsed = match (last_result, whole_error) {
        (Some(v), _) => Stdout::Json(Box::new(result_from_value(&v))),
        (None, Some(e)) => {
            let what = if e.is_eof() { "ends in the middle of the JSON result" } else { "is not a valid JSON result" };
            Stdout::Truncated(format!("{what} ({e})"))
        }
        (None, None) => Stdout::Text,
    };
    Ok(Scanned { parsed, excerpt })
}

/// How darn reads a result's `is_error`: absent, `null` and `false` are not errors; any other
/// value is.
fn is_error(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

fn result_from_value(v: &Value) -> ClaudeResult {
    let usage = v.get("usage");
    let tok = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64).unwrap_or(0);
    let text = match v.get("result") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => v.get("error").map(|e| match e {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
    };
    ClaudeResult {
        is_error: is_error(v.get("is_error")),
        subtype: v.get("subtype").and_then(Value::as_str).map(str::to_string),
        text,
        num_turns: v.get("num_turns").and_then(Value::as_i64),
        total_cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
        input_tokens: tok("input_tokens"),
        output_tokens: tok("output_tokens"),
        cache_creation_tokens: tok("cache_creation_input_tokens"),
        cache_read_tokens: tok("cache_read_input_tokens"),
        duration_ms: v.get("duration_ms").and_then(Value::as_f64),
    }
}

/// The agent's token counters, in `agent/result.json` key order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenStats {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
}

impl TokenStats {
    pub fn to_value(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
        })
    }

    /// Reads the four counters with their correct names (missing → 0, like the runner).
    pub fn from_value(v: &Value) -> Self {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        TokenStats {
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            cache_creation_tokens: n("cache_creation_tokens"),
            cache_read_tokens: n("cache_read_tokens"),
        }
    }

    pub fn is_zero(self) -> bool {
        self == TokenStats::default()
    }
}

/// What a judge's stdout held.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamText {
    /// The response text (`result` of the result event, else the assistant text blocks, else the
    /// raw text when stdout is not JSON at all).
    pub text: String,
    /// The result event said `is_error: true`; its message.
    pub error: Option<String>,
    /// The result event, when there was one (for rate-limit checks and timing).
    pub result_event: Option<Value>,
}

/// Extracts the response text from a judge's stdout: a stream-json event stream, a single
/// `--output-format json` object, or plain text (the January-2026 text mode).
pub fn response_from_stdout(stdout: &str) -> StreamText {
    let mut any_json = false;
    let mut result_event = None;
    let mut assistant = String::new();
    for line in stdout.lines() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        any_json = true;
        match event.get("type").and_then(Value::as_str) {
            Some("result") => result_event = Some(event),
            Some("assistant") => {
                if let Some(blocks) = event.pointer("/message/content").and_then(Value::as_array) {
                    for block in blocks {
                        if block.get("type").and_then(Value::as_str) == Some("text")
                            && let Some(t) = block.get("text").and_then(Value::as_str)
                        {
                            assistant.push_str(t);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !any_json {
        return StreamText { text: stdout.to_string(), error: None, result_event: None };
    }
    let result_text = result_event.as_ref().and_then(|e| e.get("result")).and_then(Value::as_str).unwrap_or("");
    let error = result_event.as_ref().filter(|e| e.get("is_error").and_then(Value::as_bool) == Some(true)).map(|e| {
        match e.get("result").or_else(|| e.get("error")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "judge reported an error".to_string(),
        }
    });
    let text = if result_text.trim().is_empty() { assistant } else { result_text.to_string() };
    StreamText { text, error, result_event }
}

/// The `total_cost_usd` of a stream's result event, parsing that line only.
pub fn result_line_cost(stdout: &str) -> Option<f64> {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with("{\"type\":\"result\""))?;
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    v.get("total_cost_usd").and_then(pyjson::as_f64)
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::py::json::arb;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any stdout, including streams of random events cut anywhere, classifies without a panic.
        #[test]
        fn any_stdout(lines in prop::collection::vec(arb::value(), 0..6), cut in any::<prop::sample::Index>(), text in "\\PC{0,80}") {
            let stream: String = lines.iter().map(|v| format!("{v}\n")).collect();
            let at = cut.index(stream.len() + 1);
            let at = (0..=at).rev().find(|i| stream.is_char_boundary(*i)).unwrap_or(0);
            for s in [&stream[..at], stream.as_str(), text.as_str()] {
                let _ = parse_stdout(s);
                let _ = response_from_stdout(s);
                let _ = result_line_cost(s);
            }
            for v in &lines {
                let _ = TokenStats::from_value(v);
            }
        }
    }
}
