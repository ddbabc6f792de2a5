//! The fixed vocabulary of files and directories darn reads or writes, relative to the directory
//! of the node they belong to (a run, a subtest, a tier or the experiment), as small integers.
//!
//! Observations, the stat cache, findings and stamps name files thousands of times per command;
//! a `RunFile` is a `u16` instead of a `String`, which keeps them cheap to store, compare and
//! serialize. Every relative path darn reads or writes is in this table.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Judge slots covered by the table (`judge_01` … `judge_99`).
pub const MAX_SLOTS: usize = 99;

const BASE: &[&str] = &[
    ".",
    "agent",
    "judge",
    "workspace",
    "task_prompt.md",
    "judge_prompt.md",
    "run_result.json",
    "report.json",
    "report.md",
    "agent/replay.sh",
    "judge/result.json",
    "judge/timing.json",
    "darn_attempts.json",
    "result.json",
    "best_subtest.json",
    "summary.md",
    "tier_comparison.json",
    "checkpoint.json",
    "config/experiment.json",
    "pipeline_baseline.json",
];

/// The agent's files darn reads or writes (`agent/*` in a rule's reads).
pub const AGENT_FILES: [&str; 11] = [
    "agent/prompt.md",
    "agent/command_log.json",
    "agent/stdout.log",
    "agent/stderr.log",
    "agent/cmd_0000_stdout.log",
    "agent/cmd_0000_stderr.log",
    "agent/output.txt",
    "agent/result.json",
    "agent/timing.json",
    "agent/MODEL.md",
    "agent/.darn-incomplete",
];

/// The files of one judge slot (`judge/judge_NN/*` in a rule's reads), by name in the slot.
pub const SLOT_FILES: [&str; 9] = [
    "judgment.json",
    "response.txt",
    "stdout.log",
    "stderr.log",
    "timing.json",
    "MODEL.md",
    "error.log",
    "replay.sh",
    ".darn-incomplete",
];

struct Table {
    names: Vec<&'static str>,
    index: HashMap<&'static str, u16>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = BASE.to_vec();
    names.extend(AGENT_FILES);
    for slot in 1..=MAX_SLOTS {
        // Leaked once per process: the table lives as long as the program.
        names.push(Box::leak(format!("judge/judge_{slot:02}").into_boxed_str()));
        for f in SLOT_FILES {
            names.push(Box::leak(format!("judge/judge_{slot:02}/{f}").into_boxed_str()));
        }
    }
    let index = names.iter().enumerate().map(|(i, n)| (*n, i as u16)).collect();
    Table { names, index }
});

/// Names a rule declares beyond the fixed table (a new derived file), numbered after it in the
/// order rules declare them. Looked at only for such names: the fixed ones need no lock.
static EXTRA: LazyLock<std::sync::RwLock<Table>> =
    LazyLock::new(|| std::sync::RwLock::new(Table { names: Vec::new(), index: HashMap::new() }));

/// A digest of the whole vocabulary as it stands, for caches that store file numbers.
pub fn vocabulary_digest() -> crate::util::hash::Hash {
    let mut d = crate::util::hash::Digest::new();
    for n in &TABLE.names {
        d.piece(n.as_bytes());
    }
    if let Ok(extra) = EXTRA.read() {
        for n in &extra.names {
            d.piece(n.as_bytes());
        }
    }
    d.finish()
}

/// A file or directory of a run, relative to the run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunFile(u16);

impl RunFile {
    /// The file named `rel` (`agent/result.json`), if it is in the vocabulary.
    pub fn of(rel: &str) -> Option<RunFile> {
        if let Some(i) = TABLE.index.get(rel) {
            return Some(RunFile(*i));
        }
        let extra = EXTRA.read().ok()?;
        extra.index.get(rel).map(|i| RunFile(*i + TABLE.names.len() as u16))
    }

    /// The file named `rel`, added to the vocabulary when it is not there yet (a rule declaring
    /// a new file). Names are relative paths of at most 255 bytes without `..`.
    pub fn intern(rel: &str) -> Option<RunFile> {
        if let Some(f) = Self::of(rel) {
            return Some(f);
        }
        if rel.is_empty()
            || rel.len() > 255
            || rel.starts_with('/')
            || rel.split('/').any(|c| c == ".." || c.is_empty())
        {
            return None;
        }
        let mut extra = EXTRA.write().ok()?;
        let next = TABLE.names.len() + extra.names.len();
        if next >= usize::from(u16::MAX) {
            return None;
        }
        // Leaked once per name per process: the vocabulary lives as long as the program.
        let name: &'static str = Box::leak(rel.to_string().into_boxed_str());
        let i = extra.names.len() as u16;
        extra.names.push(name);
        extra.index.insert(name, i);
        Some(RunFile(next as u16))
    }

    /// The file `name` (`judgment.json`, or `""` for the directory) of slot `slot`.
    pub fn slot(slot: usize, name: &str) -> Option<RunFile> {
        if slot == 0 || slot > MAX_SLOTS {
            return None;
        }
        // The table lists, after the base and agent names, each slot's directory and then its
        // files in SLOT_FILES order.
        let f = if name.is_empty() { 0 } else { 1 + SLOT_FILES.iter().position(|f| *f == name)? };
        let first = BASE.len() + AGENT_FILES.len();
        Some(RunFile((first + (slot - 1) * (SLOT_FILES.len() + 1) + f) as u16))
    }

    /// The file's number in the vocabulary (stable within one darn version).
    pub fn index(self) -> u16 {
        self.0
    }

    pub fn as_str(self) -> &'static str {
        if let Some(n) = TABLE.names.get(self.0 as usize) {
            return n;
        }
        let i = self.0 as usize - TABLE.names.len();
        EXTRA.read().ok().and_then(|e| e.names.get(i).copied()).unwrap_or("?")
    }

    /// `agent` or a file in it: what the agent stage of an observation reads.
    pub fn in_agent_dir(self) -> bool {
        let name = self.as_str();
        name == "agent" || name.starts_with("agent/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["agent/result.json", ".", "judge/judge_07/judgment.json", "judge/judge_99", "report.md"] {
            let f = RunFile::of(name).unwrap_or_else(|| panic!("{name} in the table"));
            assert_eq!(f.as_str(), name);
        }
        assert_eq!(RunFile::slot(3, "response.txt").map(RunFile::as_str), Some("judge/judge_03/response.txt"));
        assert!(RunFile::of("judge/judge_100/judgment.json").is_none());
        assert!(RunFile::of("elsewhere.txt").is_none());
        for slot in [1, 2, 42, 99] {
            for name in ["", "judgment.json", "stdout.log", ".darn-incomplete"] {
                let want = if name.is_empty() {
                    format!("judge/judge_{slot:02}")
                } else {
                    format!("judge/judge_{slot:02}/{name}")
                };
                assert_eq!(RunFile::slot(slot, name).map(RunFile::as_str), Some(want.as_str()));
            }
        }
        assert!(RunFile::slot(100, "judgment.json").is_none());
        assert!(RunFile::slot(1, "nope").is_none());
        for (name, agent) in [("agent", true), ("agent/result.json", true), ("run_result.json", false), (".", false)] {
            assert_eq!(RunFile::of(name).map(RunFile::in_agent_dir), Some(agent), "{name}");
        }
    }
}
