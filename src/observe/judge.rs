//! What one judge slot directory (`judge/judge_NN/`) holds, read once.

use super::claude::{StreamText, response_from_stdout, result_line_cost};
use super::sources::{RunSources, Unusable};
use crate::experiment::files::RunFile;
use crate::py::json as pyjson;
use serde_json::Value;
use std::sync::Arc;

/// The files of a slot directory darn knows, without the directory itself.
pub use crate::experiment::files::SLOT_FILES;

/// A slot's file (`judge/judge_NN/<name>`); slots past the vocabulary have none.
pub fn slot_file(slot: u16, name: &str) -> Option<RunFile> {
    RunFile::slot(usize::from(slot), name)
}

/// Everything a slot's rules read.
#[derive(Debug, Clone)]
pub struct SlotSources {
    pub slot: u16,
    /// The slot directory holds any file darn knows.
    pub present: bool,
    /// `**Model**:` of its `MODEL.md`.
    pub model: Option<String>,
    pub duration_seconds: Option<f64>,
    pub measured_at: Option<String>,
    /// Recorded errors (a failed `timing.json`, `error.log`, an error result in the stream), with
    /// the file each came from, in that order.
    pub errors: Vec<(String, RunFile)>,
    /// darn's incomplete marker is present.
    pub marker: bool,
    pub stdout: Option<String>,
    /// `response.txt`, when it is there.
    pub response_txt: Option<String>,
    /// The stream, parsed when it is the response's source (no usable `response.txt`).
    pub stream: Option<StreamText>,
    /// What the call cost, from the stream's result event.
    pub cost_usd: Option<f64>,
    pub judgment_json: Result<Arc<Value>, Unusable>,
}

impl SlotSources {
    pub fn read(src: &RunSources, slot: u16) -> SlotSources {
        let f = |name: &str| slot_file(slot, name);
        let text = |name: &str| f(name).and_then(|x| src.text(x));
        let present = SLOT_FILES.iter().any(|n| f(n).is_some_and(|x| src.exists(x)));
        let timing = f("timing.json").and_then(|x| src.json(x).ok());
        let duration_seconds = timing.as_ref().and_then(|t| t.get("judge_duration_seconds")).and_then(pyjson::as_f64);
        let measured_at =
            timing.as_ref().and_then(|t| t.get("measured_at")).and_then(Value::as_str).map(str::to_string);
        let mut errors: Vec<(String, RunFile)> = Vec::new();
        if let Some(t) = &timing
            && t.get("failed").and_then(Value::as_bool) == Some(true)
            && let Some(file) = f("timing.json")
        {
            let e = t.get("error").and_then(Value::as_str).unwrap_or("judge failed");
            errors.push((e.to_string(), file));
        }
        if let Some(e) = text("error.log").filter(|e| !e.trim().is_empty())
            && let Some(file) = f("error.log")
        {
            errors.push((e.trim().trim_start_matches("Judge failed: ").to_string(), file));
        }
        let marker = f(".darn-incomplete").is_some_and(|x| src.exists(x));
        let stdout = text("stdout.log");
        let response_txt = text("response.txt");
        let has_response = response_txt.as_deref().is_some_and(|t| !t.trim().is_empty());
        // The whole stream is parsed only when it is the response's source; otherwise its result
        // line alone gives the call's cost.
        let stream = stdout.as_deref().filter(|o| !o.trim().is_empty() && !has_response).map(response_from_stdout);
        let cost_usd = match &stream {
            Some(s) => s.result_event.as_ref().and_then(|e| e.get("total_cost_usd")).and_then(pyjson::as_f64),
            None => stdout.as_deref().and_then(result_line_cost),
        };
        if let Some(s) = &stream
            && let Some(e) = &s.error
            && let Some(file) = f("stdout.log")
        {
            errors.push((e.clone(), file));
        }
        let model = text("MODEL.md").and_then(|t| super::agent::model_from_model_md(&t));
        let judgment_json = match f("judgment.json") {
            Some(x) => src.json(x),
            None => Err(Unusable::Missing),
        };
        SlotSources {
            slot,
            present,
            model,
            duration_seconds,
            measured_at,
            errors,
            marker,
            stdout,
            response_txt,
            stream,
            cost_usd,
            judgment_json,
        }
    }
}
