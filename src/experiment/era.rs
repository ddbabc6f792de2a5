//! The era of an experiment: which runner version wrote it, and so which file shapes to write.

use serde::Serialize;

/// File shapes differ between the January-2026 runner (the published sample) and the current
/// runner (docs/format.md#eras, docs/format.md#repair-principles). darn writes every file in the shape of the experiment's own era.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Era {
    /// Flat layout, checkpoint v2.0, 4-key consensus with slot 1's reasoning, Jan key orders.
    Jan2026,
    /// Current runner: phased layout, checkpoint v3.x, `is_valid`/`criteria_scores`, stream-json
    /// judges, cumulative judge timings, process metrics.
    Head,
}

impl Era {
    pub fn name(self) -> &'static str {
        match self {
            Era::Jan2026 => "jan2026",
            Era::Head => "head",
        }
    }
}
