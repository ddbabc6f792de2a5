//! `config/experiment.json`: the experiment's own configuration (docs/format.md#experiment-config).

use crate::error::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// The default agent and judge models of the current runner, used when the config omits them.
pub const DEFAULT_AGENT_MODEL: &str = "claude-sonnet-4-6";
pub const DEFAULT_JUDGE_MODEL: &str = "claude-opus-4-6";

/// The experiment configuration, with the runner's load-time defaults and normalisations applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    pub experiment_id: String,
    pub task_repo: String,
    pub task_commit: String,
    pub task_prompt_file: String,
    pub language: Option<String>,
    /// `models[0]` is the agent model; the rest are never used by the runner.
    pub models: Vec<String>,
    pub runs_per_subtest: u32,
    pub tiers_to_run: Vec<String>,
    /// One slot per entry, in order (legacy `judge_model` becomes a one-element list).
    pub judge_models: Vec<String>,
    pub timeout_seconds: u64,
    pub max_turns: Option<u64>,
    pub max_subtests: Option<u64>,
    pub thinking_mode: String,
    /// The file exactly as written, for aggregates that embed it.
    pub raw: Value,
}

/// Normalises the runner's case-insensitive model aliases (`opus` → `claude-opus-4-6`, ...).
pub fn normalize_model(name: &str) -> String {
    let alias = match name.to_ascii_lowercase().as_str() {
        "opus" | "opus-4.6" => Some("claude-opus-4-6"),
        "sonnet" | "sonnet-4.6" => Some("claude-sonnet-4-6"),
        "haiku" | "haiku-4.5" => Some("claude-haiku-4-5"),
        "opus-4.5" => Some("claude-opus-4-5"),
        "sonnet-4.5" => Some("claude-sonnet-4-5"),
        _ => None,
    };
    alias.map_or_else(|| name.to_string(), str::to_string)
}

impl ExperimentConfig {
    /// Reads and validates `config/experiment.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let raw = crate::py::json::parse(&bytes).map_err(|e| Error::bad_file(path, format!("not valid JSON: {e}")))?;
        Self::from_value(raw).map_err(|problem| Error::bad_file(path, problem))
    }

    /// Builds the config from its JSON value; the error says which key is wrong.
    pub fn from_value(raw: Value) -> std::result::Result<Self, String> {
        let obj = raw.as_object().ok_or("expected a JSON object")?;
        let string = |key: &str| -> std::result::Result<String, String> {
            match obj.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("`{key}` must be a string")),
                None => Err(format!("missing required key `{key}`")),
            }
        };
        let strings = |key: &str| -> std::result::Result<Option<Vec<String>>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(Some)
                    .ok_or_else(|| format!("`{key}` must be a list of strings")),
                Some(_) => Err(format!("`{key}` must be a list of strings")),
            }
        };
        let uint = |key: &str| -> std::result::Result<Option<u64>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("`{key}` must be a non-negative integer")),
            }
        };

        let models: Vec<String> = strings("models")?
            .unwrap_or_else(|| vec![DEFAULT_AGENT_MODEL.to_string()])
            .iter()
            .map(|m| normalize_model(m))
            .collect();
        if models.is_empty() {
            return Err("`models` is empty: the first entry is the agent model".into());
        }
        let judge_models: Vec<String> = match strings("judge_models")? {
            Some(list) => list,
            None => match obj.get("judge_model") {
                Some(Value::String(s)) => vec![s.clone()],
                _ => vec![DEFAULT_JUDGE_MODEL.to_string()],
            },
        }
        .iter()
        .map(|m| normalize_model(m))
        .collect();
        if judge_models.is_empty() {
            return Err("`judge_models` is empty: at least one judge is needed".into());
        }
        let runs_per_subtest = uint("runs_per_subtest")?.unwrap_or(10);
        let runs_per_subtest =
            u32::try_from(runs_per_subtest).map_err(|_| "`runs_per_subtest` is too large".to_string())?;
        let tiers_to_run = strings("tiers_to_run")?.unwrap_or_default();
        if let Some(bad) = tiers_to_run.iter().find(|t| !crate::experiment::names::is_tier(t)) {
            return Err(format!("`tiers_to_run` has `{bad}`, which is not a tier name like T0"));
        }
        let language = match obj.get("language") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let thinking_mode = match obj.get("thinking_mode") {
            Some(Value::String(s)) => s.clone(),
            _ => "None".to_string(),
        };
        Ok(ExperimentConfig {
            experiment_id: string("experiment_id")?,
            task_repo: string("task_repo")?,
            task_commit: string("task_commit")?,
            task_prompt_file: string("task_prompt_file")?,
            language,
            models,
            runs_per_subtest,
            tiers_to_run,
            judge_models,
            timeout_seconds: uint("timeout_seconds")?.unwrap_or(3600),
            max_turns: uint("max_turns")?,
            max_subtests: uint("max_subtests")?,
            thinking_mode,
            raw,
        })
    }

    /// The agent model (`models[0]`).
    pub fn agent_model(&self) -> &str {
        &self.models[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"experiment_id": "e", "task_repo": "r", "task_commit": "c", "task_prompt_file": "p"})
    }

    #[test]
    fn defaults_and_aliases() {
        let mut v = base();
        v["judge_model"] = json!("Opus");
        v["models"] = json!(["sonnet-4.5"]);
        let c = ExperimentConfig::from_value(v).expect("valid");
        assert_eq!(c.judge_models, vec!["claude-opus-4-6"]);
        assert_eq!(c.agent_model(), "claude-sonnet-4-5");
        assert_eq!(c.runs_per_subtest, 10);
        assert_eq!(c.timeout_seconds, 3600);
        assert!(c.tiers_to_run.is_empty());
    }

    #[test]
    fn judge_models_win_over_legacy_key() {
        let mut v = base();
        v["judge_model"] = json!("x");
        v["judge_models"] = json!(["a", "b"]);
        let c = ExperimentConfig::from_value(v).expect("valid");
        assert_eq!(c.judge_models, vec!["a", "b"]);
    }

    #[test]
    fn errors_name_the_key() {
        let mut v = base();
        v["runs_per_subtest"] = json!("ten");
        let e = ExperimentConfig::from_value(v).expect_err("invalid");
        assert!(e.contains("runs_per_subtest"), "{e}");
        let e = ExperimentConfig::from_value(json!({"task_repo": "r"})).expect_err("invalid");
        assert!(e.contains("experiment_id"), "{e}");
        let mut v = base();
        v["tiers_to_run"] = json!(["X9"]);
        assert!(ExperimentConfig::from_value(v).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::py::json::arb;
    use proptest::prelude::*;

    proptest! {
        /// A config of any shape loads or names the key at fault; never a panic.
        #[test]
        fn any_config(v in arb::value()) {
            if let Err(why) = ExperimentConfig::from_value(v) {
                prop_assert!(!why.is_empty());
            }
        }
    }
}
