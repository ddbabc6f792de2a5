//! What a run's `agent/` directory holds, read once: the raw transcript (and which file it came
//! from), the last logged command, and the derived files as they are.

use super::claude::{Stdout, parse_stdout, scan_stdout};
use super::sources::{RunSources, Unusable};
use crate::experiment::files::RunFile;
use crate::py::json as pyjson;
use serde_json::Value;
use std::sync::Arc;

/// Marker darn writes into a run's `agent/` or a slot directory before launching an execution
/// and removes after success: if it is still there, the execution never finished.
pub const INCOMPLETE_MARKER: &str = ".darn-incomplete";

/// The last entry of `agent/command_log.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoggedCommand {
    pub exit_code: Option<i64>,
    pub duration: Option<f64>,
    pub timestamp: Option<String>,
    /// The value after `--model` in its argv.
    pub model: Option<String>,
    /// The entry is the runner's placeholder, logged before launch (exit 0 after 0.0 seconds)
    /// and never updated: that launch recorded no outcome, so its exit code says nothing.
    pub placeholder: bool,
}

impl LoggedCommand {
    pub fn of(log: &Value) -> LoggedCommand {
        let Some(last) = log.get("commands").and_then(Value::as_array).and_then(|c| c.last()) else {
            return LoggedCommand::default();
        };
        let model = last.get("command").and_then(Value::as_array).and_then(|argv| {
            let pos = argv.iter().position(|a| a.as_str() == Some("--model"))?;
            argv.get(pos + 1)?.as_str().map(str::to_string)
        });
        let exit_code = last.get("exit_code").and_then(Value::as_i64);
        let duration = last.get("duration_seconds").and_then(pyjson::as_f64);
        // Every finished attempt updates its entry with the real exit code and duration before
        // it writes anything else (docs/format.md#command-log).
        let placeholder = exit_code == Some(0) && duration == Some(0.0);
        LoggedCommand {
            exit_code: exit_code.filter(|_| !placeholder),
            duration: duration.filter(|_| !placeholder),
            timestamp: last.get("timestamp").and_then(Value::as_str).map(str::to_string),
            model,
            placeholder,
        }
    }
}

/// The agent transcript darn derives files from, with where it came from.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The whole stdout; for a transcript too large to hold (`held` false), only its error
    /// lines, which is all the checks read.
    pub stdout: String,
    /// `stdout` is the whole transcript. A large stream-json transcript is scanned instead, and
    /// the files that copy it are compared by hash and built from the file itself.
    pub held: bool,
    /// The content hash of the transcript's file.
    pub hash: crate::util::hash::Hash,
    /// `stdout` parsed once.
    pub parsed: Stdout,
    pub stdout_file: RunFile,
    pub stderr: String,
}

/// Everything the agent's rules read, from one run directory.
#[derive(Debug, Clone)]
pub struct AgentSources {
    pub command_log: Result<Arc<Value>, Unusable>,
    pub logged: LoggedCommand,
    pub result_json: Result<Arc<Value>, Unusable>,
    pub timing_json: Result<Arc<Value>, Unusable>,
    /// `agent/output.txt` (not read when it copies a transcript too large to hold).
    pub output_txt: Option<std::sync::Arc<[u8]>>,
    pub output_txt_hash: Option<crate::util::hash::Hash>,
    pub transcript: Option<Transcript>,
    /// Any trace of the agent having started: prompt, command log or output.
    pub started: bool,
    /// darn's incomplete marker is present.
    pub marker: bool,
    /// `**Model**:` of `agent/MODEL.md`.
    pub model_md: Option<String>,
}

/// `agent/...` by name (every name here is in the vocabulary).
pub fn file(name: &str) -> RunFile {
    RunFile::of(name).unwrap_or_else(|| unreachable!("{name} is in the run file vocabulary"))
}

/// Reads `**Model**: <name>` from a `MODEL.md`.
pub fn model_from_model_md(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("**Model**:")).map(|m| m.trim().to_string()).filter(|m| !m.is_empty())
}

/// An `agent/result.json` too large to hold (it embeds a large transcript), read as a stream:
/// every key, with `stdout` (the transcript's copy) skipped unread and recorded as `null`.
fn result_json_streamed(handle: std::fs::File) -> Result<Arc<Value>, Unusable> {
    #[derive(serde::Deserialize)]
    struct Wire {
        stdout: Option<serde::de::IgnoredAny>,
        #[serde(flatten)]
        rest: serde_json::Map<String, Value>,
    }
    use crate::util::problem::Malformed;
    let reader = std::io::BufReader::with_capacity(1 << 16, handle);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let wire: Result<Wire, serde_json::Error> =
        serde::Deserialize::deserialize(&mut de).and_then(|w| de.end().map(|()| w));
    match wire {
        Ok(w) => {
            let mut v = w.rest;
            if w.stdout.is_some() {
                v.insert("stdout".into(), Value::Null);
            }
            Ok(Arc::new(Value::Object(v)))
        }
        Err(e) if e.is_io() => Err(Unusable::Unreadable(crate::util::problem::IoProblem::Other)),
        Err(e) if e.is_eof() => Err(Unusable::Malformed(Malformed::Truncated)),
        Err(e) if e.is_data() => Err(Unusable::Malformed(Malformed::NotObject)),
        Err(e) => Err(Unusable::Malformed(Malformed::NotJson { line: e.line() as u32, column: e.column() as u32 })),
    }
}

impl AgentSources {
    /// Reads the raw transcript: stdout from `stdout.log`, else `cmd_0000_stdout.log`, else a
    /// non-empty `output.txt`, else `result.json`'s `stdout`; stderr likewise.
    pub fn read(src: &RunSources) -> AgentSources {
        let command_log = src.json(file("agent/command_log.json"));
        let logged = command_log.as_deref().map(LoggedCommand::of).unwrap_or_default();
        let timing_json = src.json(file("agent/timing.json"));
        let mut scanned = None;
        let mut stdout: Option<(String, RunFile)> = None;
        for name in ["agent/stdout.log", "agent/cmd_0000_stdout.log"] {
            let f = file(name);
            // A large stream-json transcript with its result event is scanned, not held: the
            // scan gives every verdict (other large ones are read whole, as text needs).
            if let Some(handle) = src.open_large(f)
                && let Ok(s) = scan_stdout(&handle)
                && matches!(&s.parsed, Stdout::Json(r) if r.num_turns.is_some_and(|n| n > 0))
            {
                stdout = Some((s.excerpt, f));
                scanned = Some(s.parsed);
                break;
            }
            if let Some(t) = src.text(f) {
                stdout = Some((t, f));
                break;
            }
        }
        // result.json embeds a scanned transcript: read without it (the checks compare its hash).
        let result_json = match scanned.as_ref().and_then(|_| src.open_large(file("agent/result.json"))) {
            Some(handle) => result_json_streamed(handle),
            None => src.json(file("agent/result.json")),
        };
        // output.txt copies a scanned transcript: compared by hash, never read.
        let output_txt = if scanned.is_some() { None } else { src.bytes(file("agent/output.txt")).ok() };
        let output_txt_hash = src.exists(file("agent/output.txt")).then(|| src.files.hash(file("agent/output.txt")));
        if stdout.as_ref().is_none_or(|(s, _)| s.trim().is_empty())
            && scanned.is_none()
            && let Some(b) = output_txt.as_ref().filter(|b| !b.iter().all(u8::is_ascii_whitespace))
        {
            stdout = Some((String::from_utf8_lossy(b).into_owned(), file("agent/output.txt")));
        }
        let result_obj = result_json.as_ref().ok();
        if stdout.as_ref().is_none_or(|(s, _)| s.trim().is_empty())
            && scanned.is_none()
            && let Some(s) = result_obj.and_then(|v| v.get("stdout")).and_then(Value::as_str)
            && (!s.trim().is_empty() || stdout.is_none())
        {
            stdout = Some((s.to_string(), file("agent/result.json")));
        }
        let stderr = src
            .text(file("agent/stderr.log"))
            .or_else(|| src.text(file("agent/cmd_0000_stderr.log")))
            .or_else(|| result_obj.and_then(|v| v.get("stderr")).and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let started = src.exists(file("agent/prompt.md"))
            || command_log.is_ok()
            || stdout.is_some()
            || output_txt_hash.is_some()
            || src.exists(file("agent/command_log.json"));
        let marker = src.exists(file("agent/.darn-incomplete"));
        let model_md = src.text(file("agent/MODEL.md")).and_then(|t| model_from_model_md(&t));
        let transcript = stdout.map(|(stdout, stdout_file)| Transcript {
            held: scanned.is_none(),
            parsed: scanned.unwrap_or_else(|| parse_stdout(&stdout)),
            hash: src.files.hash(stdout_file),
            stdout,
            stdout_file,
            stderr: stderr.clone(),
        });
        AgentSources {
            command_log,
            logged,
            result_json,
            timing_json,
            output_txt,
            output_txt_hash,
            transcript,
            started,
            marker,
            model_md,
        }
    }

    /// The model the agent ran with, as recorded (command log argv, else `MODEL.md`).
    pub fn recorded_model(&self) -> Option<&str> {
        self.logged.model.as_deref().or(self.model_md.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_placeholder_entry_has_no_outcome() {
        let entry = |exit: i64, secs: f64| json!({"commands": [{"exit_code": exit, "duration_seconds": secs}]});
        let placeholder = LoggedCommand::of(&entry(0, 0.0));
        assert!(placeholder.placeholder);
        assert_eq!((placeholder.exit_code, placeholder.duration), (None, None));
        let failed = LoggedCommand::of(&entry(-1, 300.2));
        assert_eq!((failed.exit_code, failed.duration, failed.placeholder), (Some(-1), Some(300.2), false));
        assert_eq!(LoggedCommand::of(&entry(0, 12.5)).exit_code, Some(0));
    }
}
