//! Rate-limit detection in agent and judge output (docs/format.md#rate-limits), without the runner's false
//! positives on `set -x` trace lines (docs/format.md#bug-rate-limits-detected-in-trace-lines).

use serde_json::Value;

/// Substrings that mark a rate limit in an error result's text (lower-cased).
const JSON_PATTERNS: &[&str] = &[
    "rate limit",
    "rate_limit",
    "ratelimit",
    "overloaded",
    "429",
    "hit your limit",
    "resets",
    "weekly usage limit",
    "upgrade to continue",
    "failed to configure provider",
];

/// Patterns searched in stderr, in the runner's order (case-insensitive, except `429`).
const STDERR_PATTERNS: &[&str] = &[
    "weekly usage limit",
    "upgrade to continue",
    "failed to configure provider",
    "429",
    "rate limit",
    "ratelimit",
    "hit your limit",
    "overloaded",
    "resets ",
];

/// What was found: the matching message, for `why` and for retry timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub message: String,
}

/// Looks for a rate limit in a Claude Code result: the whole stdout as one JSON object, then
/// each line as JSON (stream-json). Only error results count.
pub fn in_stdout(stdout: &str) -> Option<RateLimit> {
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim())
        && let Some(hit) = in_result_object(&v)
    {
        return Some(hit);
    }
    for line in stdout.lines() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let Some(hit) = in_result_object(&v)
        {
            return Some(hit);
        }
    }
    None
}

/// A rate limit in one parsed result object (`is_error` truthy and a matching message).
pub fn in_result_object(v: &Value) -> Option<RateLimit> {
    if !truthy(v.get("is_error")) {
        return None;
    }
    let text = match v.get("result").filter(|r| truthy(Some(r))) {
        Some(r) => value_text(r),
        None => v.get("error").map(value_text).unwrap_or_default(),
    };
    matches_json_patterns(&text).then_some(RateLimit { message: text })
}

/// True when an error text names a rate limit (the JSON pattern list).
pub fn matches_json_patterns(text: &str) -> bool {
    let lower = text.to_lowercase();
    JSON_PATTERNS.iter().any(|p| lower.contains(p))
}

/// Looks for a rate limit in stderr, ignoring shell trace lines (`+ cd /path/...`), whose paths
/// and prompt file names made the runner report limits that never happened (docs/format.md#bug-rate-limits-detected-in-trace-lines).
pub fn in_stderr(stderr: &str) -> Option<RateLimit> {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with('+')).collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return None;
    }
    let text = lines.join("\n");
    let lower = text.to_lowercase();
    for pattern in STDERR_PATTERNS {
        let hit = if *pattern == "429" { text.contains("429") } else { lower.contains(pattern) };
        if hit {
            let line = lines
                .iter()
                .find(|l| if *pattern == "429" { l.contains("429") } else { l.to_lowercase().contains(pattern) })
                .map_or_else(|| text.trim().to_string(), |l| l.trim().to_string());
            return Some(RateLimit { message: line });
        }
    }
    None
}

/// Python truthiness of a JSON value (`None`, `false`, `0`, `""`, `[]`, `{}` are false), as the
/// runner tests `is_error` and a judge's `passed`.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_results_with_limit_text() {
        let out = r#"{"type":"result","subtype":"success","is_error":true,"result":"You've hit your limit · resets 4pm (America/Los_Angeles)"}"#;
        assert!(in_stdout(out).is_some());
        let ok = r#"{"type":"result","is_error":false,"result":"I fixed the 429 handler"}"#;
        assert!(in_stdout(ok).is_none(), "successful results never count");
        let other_error = r#"{"type":"result","is_error":true,"result":"tool crashed"}"#;
        assert!(in_stdout(other_error).is_none());
    }

    #[test]
    fn stream_lines_are_checked() {
        let stream = "{\"type\":\"system\"}\n{\"type\":\"result\",\"is_error\":true,\"error\":\"API Error: 429 rate_limit_error\"}\n";
        assert!(in_stdout(stream).is_some());
    }

    #[test]
    fn trace_lines_are_not_false_positives() {
        let stderr = "+ cd /runs/T0/00/run_01/workspace_429_overloaded\n+ claude --model m /runs/resets /prompt.md\n";
        assert!(in_stderr(stderr).is_none());
        assert!(in_stderr("Error: Overloaded (529)\n").is_some());
        assert_eq!(
            in_stderr("x\nHTTP 429 Too Many Requests\n").map(|r| r.message),
            Some("HTTP 429 Too Many Requests".into())
        );
        assert!(in_stderr("   \n").is_none());
    }
}
