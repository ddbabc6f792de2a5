//! Judge models chosen for single slots (`reconcile --judge-model`), recorded in
//! `.darn/judge-models.json` as `{"T0/00/run_01": {"judge_01": "claude-opus-4-6"}}`. A chosen
//! model is the slot's configured model from then on: the judge rule checks the slot's recorded
//! model against it, the slot is executed with it, and the run's `run_result.json` names it, while
//! every other slot keeps `judge_models` from `config/experiment.json`.

use super::names::{RunKey, slot_dir_name};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file the choices live in, inside the experiment.
pub const FILE: &str = ".darn/judge-models.json";

/// Chosen models by run id, then by slot directory name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JudgeChoices {
    by_run: BTreeMap<String, BTreeMap<String, String>>,
}

impl JudgeChoices {
    /// Reads the choices of an experiment; none when the file does not exist. A file that cannot
    /// be read or is not the documented shape is an error naming it.
    pub fn load(root: &Path) -> Result<JudgeChoices> {
        let path = root.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JudgeChoices::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let by_run: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_file(&path, format!("expected {{\"T0/00/run_01\": {{\"judge_01\": \"MODEL\"}}}}: {e}"))
        })?;
        Ok(JudgeChoices { by_run })
    }

    /// The model chosen for a slot (numbered from 1) of a run, if any.
    pub fn model(&self, run: &str, slot: usize) -> Option<&str> {
        self.by_run.get(run)?.get(&slot_dir_name(slot)).map(String::as_str)
    }

    /// Chooses `model` for a slot; a choice equal to the configured model is dropped.
    pub fn choose(&mut self, run: &RunKey, slot: usize, model: &str, configured: &str) {
        let id = run.to_string();
        let slots = self.by_run.entry(id.clone()).or_default();
        if model == configured {
            slots.remove(&slot_dir_name(slot));
        } else {
            slots.insert(slot_dir_name(slot), model.to_string());
        }
        if slots.is_empty() {
            self.by_run.remove(&id);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_run.is_empty()
    }

    /// Writes the choices atomically (or removes the file when there are none).
    pub fn save(&self, root: &Path) -> Result<PathBuf> {
        let path = root.join(FILE);
        if self.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
                _ => Ok(path),
            };
        }
        let mut text = serde_json::to_string_pretty(&self.by_run).map_err(|e| Error::bad_file(&path, e.to_string()))?;
        text.push('\n');
        crate::util::fs::replace(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_round_trip_and_a_choice_of_the_configured_model_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(JudgeChoices::load(dir.path()).ok(), Some(JudgeChoices::default()));
        let mut c = JudgeChoices::default();
        let run = RunKey::new("T0", "00", 1);
        c.choose(&run, 2, "claude-opus-4-6", "claude-sonnet-4-6");
        assert_eq!(c.model("T0/00/run_01", 2), Some("claude-opus-4-6"));
        assert_eq!(c.model("T0/00/run_01", 1), None);
        c.save(dir.path()).expect("save");
        assert_eq!(JudgeChoices::load(dir.path()).ok(), Some(c.clone()));
        c.choose(&run, 2, "claude-sonnet-4-6", "claude-sonnet-4-6");
        assert!(c.is_empty());
        c.save(dir.path()).expect("save");
        assert!(!dir.path().join(FILE).exists());
        std::fs::create_dir_all(dir.path().join(".darn")).expect("mkdir");
        std::fs::write(dir.path().join(FILE), "[1]").expect("write");
        assert!(JudgeChoices::load(dir.path()).is_err());
    }
}
