//! darn's built-in stand-ins for the `claude` CLI: deterministic, offline programs that print
//! realistic Claude Code output, so demo experiments can be reconciled without a network.
//!
//! `darn stand-in agent` prints an `--output-format json` result object; `darn stand-in judge`
//! reads a judge prompt on stdin and prints a `stream-json` event stream whose result is a
//! judgment. Both derive everything from a hash of their input, so the same input always gives
//! the same output. Knobs (sleep, failure rate, rate-limit or crash then succeed, hang, garbage)
//! exercise the executor.

use crate::py::json as pyjson;
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64): stable across platforms and versions, unlike
/// general-purpose RNG crates whose streams may change.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Seeds from any bytes (blake3 of them).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let h = blake3::hash(bytes);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        Rng(u64::from_le_bytes(b))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// A UUID-shaped id.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Claude Code prints JSON with JavaScript number formatting (`0.0000456`, `0` for a zero
/// cost); darn must convert it to Python's repr when it writes `agent/result.json`.
pub fn js_number(f: f64) -> String {
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{}", f as i64);
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-6..21).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{sign}{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point as usize], &digits[point as usize..])
        }
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        format!("{sign}{m}e{}{}", if exp < 0 { "-" } else { "+" }, exp.abs())
    }
}

/// Compact JSON the way `JSON.stringify` writes it (no spaces, raw UTF-8, JS numbers).
pub fn js_json(v: &Value) -> String {
    const JS: pyjson::CompactStyle =
        pyjson::CompactStyle { item_sep: ",", key_sep: ":", sort_keys: false, string: js_string, float: js_number };
    pyjson::to_compact(v, &JS)
}

/// A JavaScript string literal: only quotes, backslashes and control characters are escaped.
fn js_string(out: &mut String, s: &str) {
    pyjson::write_escaped(out, s, false);
}

/// USD per million tokens: (input, output, cache write, cache read).
fn prices(model: &str) -> (f64, f64, f64, f64) {
    let m = model.to_ascii_lowercase();
    if m.contains("opus") {
        (5.0, 25.0, 6.25, 0.5)
    } else if m.contains("haiku") {
        (1.0, 5.0, 1.25, 0.1)
    } else {
        (3.0, 15.0, 3.75, 0.3)
    }
}

/// What a successful stand-in agent run reports.
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub stdout: String,
    pub duration_seconds: f64,
}

const SUMMARIES: &[&str] = &[
    "Task completed successfully! I've created the script with the requested behaviour and checked that it runs.",
    "Done. The implementation is in place, the script prints the expected output and exits with code 0.",
    "I implemented the change with a minimal, idiomatic solution and verified the output by running it.",
    "The requested file now exists in the workspace root; running it produces exactly the expected text.",
    "Completed: one small file, no extra dependencies, output verified against the requirements.",
];

/// A successful agent result, deterministic in `seed`.
pub fn agent_success(seed: &[u8], model: &str) -> AgentRun {
    let mut rng = Rng::from_bytes(seed);
    let input = rng.range(18, 60);
    let output = rng.range(300, 2400);
    let cache_write = rng.range(4_000, 45_000);
    let cache_read = rng.range(40_000, 320_000);
    let turns = rng.range(3, 14);
    let duration_ms = rng.range(18_000, 110_000);
    let (pin, pout, pw, pr) = prices(model);
    let cost = ((input as f64 * pin + output as f64 * pout + cache_write as f64 * pw + cache_read as f64 * pr) / 1e6
        * 1e7)
        .round()
        / 1e7;
    let summary = rng.pick(SUMMARIES).to_string();
    let session = rng.uuid();
    let uuid = rng.uuid();
    let v = json!({
        "type": "result",
        "subtype": "success",
        "is_error": false,
        "duration_ms": duration_ms,
        "duration_api_ms": duration_ms + rng.range(100, 900),
        "num_turns": turns,
        "result": summary,
        "session_id": session,
        "total_cost_usd": cost,
        "usage": {
            "input_tokens": input,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "output_tokens": output,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": cache_write}
        },
        "modelUsage": {
            model: {
                "inputTokens": input,
                "outputTokens": output,
                "cacheReadInputTokens": cache_read,
                "cacheCreationInputTokens": cache_write,
                "webSearchRequests": 0,
                "costUSD": cost,
                "contextWindow": 200000,
                "maxOutputTokens": 64000
            }
        },
        "permission_denials": [],
        "uuid": uuid
    });
    let wall = duration_ms as f64 / 1000.0 + rng.range(2_000, 9_000) as f64 / 1000.0 + rng.unit() * 1e-3;
    AgentRun { stdout: format!("{}\n", js_json(&v)), duration_seconds: round6(wall) }
}

/// An agent result that hit the usage limit (`is_error` with a reset time).
pub fn agent_rate_limited(seed: &[u8]) -> String {
    let mut rng = Rng::from_bytes(seed);
    let hour = rng.range(1, 11);
    let v = json!({
        "type": "result",
        "subtype": "success",
        "is_error": true,
        "duration_ms": rng.range(300, 2000),
        "duration_api_ms": 0,
        "num_turns": 1,
        "result": format!("You've hit your limit · resets {hour}pm (America/Los_Angeles)"),
        "session_id": rng.uuid(),
        "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0},
        "permission_denials": [],
        "uuid": rng.uuid()
    });
    format!("{}\n", js_json(&v))
}

/// An agent that reported an error of its own (not a rate limit).
pub fn agent_error(seed: &[u8]) -> String {
    let mut rng = Rng::from_bytes(seed);
    let v = json!({
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": true,
        "duration_ms": rng.range(5_000, 40_000),
        "num_turns": rng.range(2, 6),
        "result": "Execution error: tool call failed and the session could not continue",
        "session_id": rng.uuid(),
        "total_cost_usd": (rng.unit() * 0.05 * 1e6).round() / 1e6,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 9000, "output_tokens": 140},
        "permission_denials": [],
        "uuid": rng.uuid()
    });
    format!("{}\n", js_json(&v))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

const CATEGORIES: &[(&str, &[&str])] = &[
    ("functional", &["F1", "F2", "F3"]),
    ("code_quality", &["Q1", "Q2", "Q3"]),
    ("proportionality", &["P1", "P2"]),
    ("build_pipeline", &["B1", "B2"]),
    ("overall_quality", &["OQ1"]),
];

const REASONS: &[&str] = &[
    "The agent met the functional requirements with a small, idiomatic solution.",
    "The solution works, but adds an unnecessary file and some extra output.",
    "Output matches exactly; code quality is good, though tests were not required.",
    "The script runs and exits cleanly; the implementation is proportionate to the task.",
    "Functional checks pass; a minor style issue was flagged by the linter.",
];

/// A judge's response text for an agent run of the given quality: prose, then the verdict in a
/// fenced JSON block, as judges usually answer.
pub fn judge_response(seed: &[u8], model: &str, quality: f64) -> String {
    let mut rng = Rng::from_bytes(&[seed, model.as_bytes()].concat());
    let noise = (rng.unit() - 0.5) * 0.12;
    let score = ((quality + noise).clamp(0.0, 1.0) * 100.0).round() / 100.0;
    let passed = score >= 0.6;
    let reasoning = rng.pick(REASONS).to_string();
    let mut categories = serde_json::Map::new();
    for (name, items) in CATEGORIES {
        let mut item_map = serde_json::Map::new();
        let mut achieved_sum = 0.0;
        for id in *items {
            let achieved = ((score + (rng.unit() - 0.5) * 0.2).clamp(0.0, 1.0) * 10.0).round() / 10.0;
            achieved_sum += achieved;
            item_map.insert(
                (*id).to_string(),
                json!({"achieved": achieved, "max": 1.0, "reason": format!("{id}: checked against the workspace and the pipeline output.")}),
            );
        }
        let max = items.len() as f64;
        categories.insert(
            (*name).to_string(),
            json!({"achieved": (achieved_sum * 10.0).round() / 10.0, "max": max, "score": ((achieved_sum / max) * 100.0).round() / 100.0, "items": item_map}),
        );
    }
    let verdict = json!({"score": score, "passed": passed, "grade": crate::rules::content::judgment::grade(score), "reasoning": reasoning, "categories": categories});
    let pretty = serde_json::to_string_pretty(&verdict).unwrap_or_default();
    format!(
        "I reviewed the workspace, the agent's output and the pipeline results against the rubric.\n\n```json\n{pretty}\n```\n"
    )
}

/// A `stream-json` event stream carrying `response` as the final result.
pub fn judge_stream(seed: &[u8], model: &str, response: &str) -> (String, f64) {
    let mut rng = Rng::from_bytes(&[seed, b"stream", model.as_bytes()].concat());
    let session = rng.uuid();
    let duration_ms = rng.range(8_000, 45_000);
    let input = rng.range(3_000, 12_000);
    let output = rng.range(400, 1_600);
    let (pin, pout, _, _) = prices(model);
    let cost = ((input as f64 * pin + output as f64 * pout) / 1e6 * 1e7).round() / 1e7;
    let events = [
        json!({"type": "system", "subtype": "init", "session_id": session, "model": model, "tools": [], "permissionMode": "bypassPermissions"}),
        json!({"type": "assistant", "message": {"id": format!("msg_{}", &rng.uuid()[..8]), "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": response}], "usage": {"input_tokens": input, "output_tokens": output}}, "session_id": session}),
        json!({"type": "result", "subtype": "success", "is_error": false, "duration_ms": duration_ms, "duration_api_ms": duration_ms - 200,
            "num_turns": 1, "result": response, "session_id": session, "total_cost_usd": cost,
            "usage": {"input_tokens": input, "output_tokens": output, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}),
    ];
    let mut out = String::new();
    for e in &events {
        out.push_str(&js_json(e));
        out.push('\n');
    }
    (out, duration_ms as f64 / 1000.0 + rng.unit())
}

/// The quality a stand-in judge sees in an agent run: a deterministic function of the prompt, so
/// every judge of a run agrees roughly and re-judging gives the same verdict.
pub fn quality_of(prompt: &[u8]) -> f64 {
    let mut rng = Rng::from_bytes(&[prompt, b"quality"].concat());
    let u = rng.unit();
    // Most runs are good, a tail is mediocre or bad.
    if u < 0.7 {
        0.75 + rng.unit() * 0.25
    } else if u < 0.9 {
        0.45 + rng.unit() * 0.3
    } else {
        rng.unit() * 0.45
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_numbers() {
        assert_eq!(js_number(0.0), "0");
        assert_eq!(js_number(4.56e-5), "0.0000456");
        assert_eq!(js_number(1e-7), "1e-7");
        assert_eq!(js_number(0.1351093), "0.1351093");
        assert_eq!(js_number(12.5), "12.5");
        assert_eq!(js_number(1e21), "1e+21");
    }

    #[test]
    fn agent_output_is_a_valid_result_and_deterministic() {
        let a = agent_success(b"seed", "claude-sonnet-4-6");
        let b = agent_success(b"seed", "claude-sonnet-4-6");
        assert_eq!(a.stdout, b.stdout);
        match crate::observe::claude::parse_stdout(&a.stdout) {
            crate::observe::claude::Stdout::Json(r) => {
                assert!(!r.is_error);
                assert!(r.total_cost_usd.is_some_and(|c| c > 0.0), "{r:?}");
            }
            other => panic!("not a result: {other:?}"),
        }
        assert!(crate::rules::content::ratelimit::in_stdout(&agent_rate_limited(b"x")).is_some());
    }

    #[test]
    fn judge_stream_parses_into_a_judgment() {
        let response = judge_response(b"p", "claude-opus-4-6", 0.9);
        let (stream, _) = judge_stream(b"p", "claude-opus-4-6", &response);
        let extracted = crate::observe::claude::response_from_stdout(&stream);
        assert_eq!(extracted.text, response);
        let j = crate::rules::content::judgment::parse_response(&extracted.text).expect("judgment");
        assert!((0.0..=1.0).contains(&j.score));
        assert!(j.criteria_scores.is_object());
    }
}

/// Knobs of a stand-in invocation, from its flags (after the claude-like arguments) or from
/// `DARN_STANDIN_*` environment variables.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Seconds to sleep before answering.
    pub sleep: f64,
    /// Share of calls (0..1) that fail with an error result.
    pub fail_rate: f64,
    /// The first N calls for the same input answer with a rate limit, then succeed.
    pub rate_limit_first: u32,
    /// The first N calls for the same input crash (killed by SIGKILL, no output), then succeed.
    pub crash_first: u32,
    /// Never answer (for timeout tests).
    pub hang: bool,
    /// Print text that is not JSON.
    pub garbage: bool,
    /// Append one line per invocation to this file.
    pub log: Option<std::path::PathBuf>,
    /// Where attempt counters live.
    pub state: Option<std::path::PathBuf>,
}

impl Knobs {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(format!("DARN_STANDIN_{k}")).ok().filter(|v| !v.is_empty());
        Knobs {
            sleep: var("SLEEP").and_then(|v| v.parse().ok()).unwrap_or(0.0),
            fail_rate: var("FAIL_RATE").and_then(|v| v.parse().ok()).unwrap_or(0.0),
            rate_limit_first: var("RATE_LIMIT_FIRST").and_then(|v| v.parse().ok()).unwrap_or(0),
            crash_first: var("CRASH_FIRST").and_then(|v| v.parse().ok()).unwrap_or(0),
            hang: var("HANG").is_some_and(|v| v == "1"),
            garbage: var("GARBAGE").is_some_and(|v| v == "1"),
            log: var("LOG").map(Into::into),
            state: var("STATE").map(Into::into),
        }
    }
}

/// Parsed stand-in arguments.
struct Invocation {
    model: String,
    positional: Vec<String>,
    knobs: Knobs,
}

fn parse_invocation(args: &[String]) -> Invocation {
    let mut knobs = Knobs::from_env();
    let mut model = "claude-sonnet-4-6".to_string();
    let mut positional = Vec::new();
    let mut i = 0;
    // Flags that take a value, so their value is not mistaken for the prompt.
    let valued = [
        "--output-format",
        "--allowedTools",
        "--system-prompt-file",
        "--system-prompt",
        "--max-turns",
        "--agent",
        "--tools",
    ];
    while i < args.len() {
        let a = args[i].as_str();
        let next = args.get(i + 1).cloned();
        match a {
            "--model" => {
                model = next.unwrap_or_default();
                i += 1;
            }
            "--sleep" => {
                knobs.sleep = next.and_then(|v| v.parse().ok()).unwrap_or(0.0);
                i += 1;
            }
            "--fail-rate" => {
                knobs.fail_rate = next.and_then(|v| v.parse().ok()).unwrap_or(0.0);
                i += 1;
            }
            "--rate-limit-first" => {
                knobs.rate_limit_first = next.and_then(|v| v.parse().ok()).unwrap_or(0);
                i += 1;
            }
            "--crash-first" => {
                knobs.crash_first = next.and_then(|v| v.parse().ok()).unwrap_or(0);
                i += 1;
            }
            "--log" => {
                knobs.log = next.map(Into::into);
                i += 1;
            }
            "--state" => {
                knobs.state = next.map(Into::into);
                i += 1;
            }
            "--hang" => knobs.hang = true,
            "--garbage" => knobs.garbage = true,
            a if valued.contains(&a) => i += 1,
            a if a.starts_with("--") => {}
            _ => positional.push(args[i].clone()),
        }
        i += 1;
    }
    Invocation { model, positional, knobs }
}

/// Dies by SIGKILL, as a process the OOM killer takes (no core file, no output).
fn crash() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::exit(137)
}

/// Counts calls per input across processes (a file per key in the state directory).
fn next_attempt(state: Option<&std::path::Path>, key: &[u8]) -> u32 {
    let dir = state.map_or_else(|| std::env::temp_dir().join("darn-standin"), std::path::Path::to_path_buf);
    let _ = std::fs::create_dir_all(&dir);
    let name = blake3::hash(key).to_hex()[..16].to_string();
    let path = dir.join(name);
    let n = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0) + 1;
    let _ = std::fs::write(&path, n.to_string());
    n
}

/// Runs a stand-in (`darn stand-in ROLE ARGS...`); returns the exit code.
pub fn main(role: &str, args: &[String]) -> i32 {
    use std::io::{Read, Write};
    let inv = parse_invocation(args);
    let input: Vec<u8> = match role {
        "agent" => {
            let path = inv.positional.last().cloned().unwrap_or_default();
            let content = std::fs::read(&path).unwrap_or_default();
            [path.as_bytes(), &content].concat()
        }
        "judge" => {
            let mut buf = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut buf);
            buf
        }
        "prepare" => {
            let Some(ws) = inv.positional.first() else {
                eprintln!("stand-in prepare: no workspace path");
                return 2;
            };
            let ws = std::path::Path::new(ws);
            if let Err(e) =
                std::fs::create_dir_all(ws).and_then(|()| std::fs::write(ws.join("README"), "Hello-World\n"))
            {
                eprintln!("stand-in prepare: {}: {e}", ws.display());
                return 1;
            }
            return 0;
        }
        other => {
            eprintln!("stand-in: unknown role `{other}` (agent, judge or prepare)");
            return 2;
        }
    };
    let key = [role.as_bytes(), inv.model.as_bytes(), &input].concat();
    if let Some(log) = &inv.knobs.log
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log)
    {
        let target =
            inv.positional.last().cloned().unwrap_or_else(|| format!("stdin:{}", &blake3::hash(&input).to_hex()[..12]));
        // One write per line: concurrent stand-ins append to the same log (O_APPEND keeps a
        // single small write whole; `writeln!` would issue one write per piece).
        let _ = f.write_all(format!("{role} {} {target}\n", inv.model).as_bytes());
    }
    if inv.knobs.hang {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    if inv.knobs.sleep > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(inv.knobs.sleep));
    }
    let attempt = if inv.knobs.rate_limit_first > 0 || inv.knobs.crash_first > 0 || inv.knobs.fail_rate > 0.0 {
        next_attempt(inv.knobs.state.as_deref(), &key)
    } else {
        1
    };
    let mut out = std::io::stdout().lock();
    if inv.knobs.garbage {
        let _ = out.write_all(b"Segmentation fault (core dumped)?! this is not JSON\n");
        return 0;
    }
    if attempt <= inv.knobs.crash_first {
        eprintln!("stand-in: simulated crash (attempt {attempt})");
        crash();
    }
    if attempt <= inv.knobs.rate_limit_first {
        let _ = out.write_all(agent_rate_limited(&key).as_bytes());
        eprintln!("API Error: 429 rate_limit_error (Retry-After: 1)");
        return 1;
    }
    if inv.knobs.fail_rate > 0.0 {
        let mut rng = Rng::from_bytes(&[&key[..], &attempt.to_le_bytes()].concat());
        if rng.unit() < inv.knobs.fail_rate {
            let _ = out.write_all(agent_error(&key).as_bytes());
            return 1;
        }
    }
    match role {
        "agent" => {
            let run = agent_success(&key, &inv.model);
            let _ = out.write_all(run.stdout.as_bytes());
        }
        _ => {
            let quality = quality_of(&input);
            let response = judge_response(&input, &inv.model, quality);
            let (stream, _) = judge_stream(&input, &inv.model, &response);
            let _ = out.write_all(stream.as_bytes());
        }
    }
    0
}
