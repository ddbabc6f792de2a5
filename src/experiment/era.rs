//! Which runner wrote the experiment, file family by file family (docs/format.md#eras).
//!
//! Between January and May 2026 the runner changed the shape of its files about ten times, and
//! not all at once: `judge/result.json` gained keys on 2026-02-09, `run_result.json` changed its
//! key order on 2026-05-03, the aggregates' markdown changed on 2026-02-13. An [`Era`] therefore
//! holds one shape per file family, detected from the files the experiment has (see
//! `experiment::detect_era`), and darn writes each file in the shape of its own family.

pub use crate::py::stats::Summation;
use serde::Serialize;

/// `run_result.json`: its keys and their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResultShape {
    /// 18 keys, `tokens_*` after `token_stats`, 6-key `judges[]`, `criteria_scores` `{}`.
    Jan,
    /// From 2026-02-09: 8-key `judges[]`, the closest judge's criteria.
    Feb09,
    /// From 2026-02-15: + `baseline_pipeline_summary`.
    Feb15,
    /// From 2026-02-27: + `process_metrics`, `progress_tracking`, `changes`.
    Feb27,
    /// From 2026-05-03: pydantic's field order, `tokens_*` moved after the baseline.
    Head,
}

/// `judge/result.json` and how the consensus is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusShape {
    /// Until 2026-02-09: 4 keys; the mean of every slot with a score, slot 1's reasoning.
    FirstSlot,
    /// From 2026-02-09: 6 keys; the mean of the valid slots, the closest judge's reasoning.
    Closest,
}

/// A run's `report.md` and `report.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportShape {
    Plain,
    /// From 2026-03-02: a Process Metrics section and `process_metrics` in `report.json`.
    ProcessMetrics,
}

/// Subtest, tier and experiment aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateShape {
    /// The January shape: 6-dash criteria separators in tier and experiment reports.
    J,
    /// From 2026-02-13: 8-dash separators, an extra blank line in the experiment report.
    F,
    /// From 2026-05-03: pydantic dumps; embedded runs without `tokens_*`, tier `cost_of_pass`
    /// last, embedded tiers without it.
    M,
}

/// `checkpoint.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointShape {
    V2,
    /// From 2026-02-22: the state machine's states.
    V3,
}

/// The order of tiers (and subtests) in the aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierOrder {
    /// Until 2026-03-19 tiers ran in parallel groups and were recorded as they finished.
    Completion,
    /// From 2026-03-19: one after the other, ascending.
    Ascending,
}

/// What a judge slot's `timing.json` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeTiming {
    /// Each slot its own time: the judges' total is their sum.
    PerSlot,
    /// From 2026-02-22: cumulative from the first slot; the total is the largest.
    Cumulative,
}

/// How the runner prepared and ran a run (worktree branch names, the judge prompt's pipeline
/// title, the config hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerShape {
    Jan,
    Head,
}

/// The shape of every file family of one experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Era {
    pub run_result: RunResultShape,
    pub consensus: ConsensusShape,
    pub report: ReportShape,
    pub aggregates: AggregateShape,
    pub checkpoint: CheckpointShape,
    pub tier_order: TierOrder,
    pub judge_timing: JudgeTiming,
    pub runner: RunnerShape,
    /// How the runner's Python added floats (its totals in the aggregates show it).
    pub summation: Summation,
}

/// The runners darn knows by name, in time order, for `[experiment] era` and for labels.
pub const NAMED: [(&str, Era); 6] = [
    ("jan2026", Era::JAN2026),
    ("feb2026-09", Era::FEB09),
    ("feb2026-15", Era::FEB15),
    ("feb2026-22", Era::FEB22),
    ("mar2026", Era::MAR2026),
    ("head", Era::HEAD),
];

impl Era {
    /// The runner that wrote the published sample (2026-01-19).
    pub const JAN2026: Era = Era {
        run_result: RunResultShape::Jan,
        consensus: ConsensusShape::FirstSlot,
        report: ReportShape::Plain,
        aggregates: AggregateShape::J,
        checkpoint: CheckpointShape::V2,
        tier_order: TierOrder::Completion,
        judge_timing: JudgeTiming::PerSlot,
        runner: RunnerShape::Jan,
        summation: Summation::Compensated,
    };
    /// 2026-02-09 .. 02-15: validity and the closest judge.
    pub const FEB09: Era =
        Era { run_result: RunResultShape::Feb09, consensus: ConsensusShape::Closest, ..Era::JAN2026 };
    /// 2026-02-15 .. 02-22: the pipeline baseline, the aggregates' new markdown.
    pub const FEB15: Era = Era { run_result: RunResultShape::Feb15, aggregates: AggregateShape::F, ..Era::FEB09 };
    /// 2026-02-22 .. 02-27: the state machine.
    pub const FEB22: Era = Era {
        checkpoint: CheckpointShape::V3,
        judge_timing: JudgeTiming::Cumulative,
        runner: RunnerShape::Head,
        ..Era::FEB15
    };
    /// 2026-03-02 .. 05-03: process metrics everywhere (tiers in ascending order from 03-19).
    pub const MAR2026: Era = Era {
        run_result: RunResultShape::Feb27,
        report: ReportShape::ProcessMetrics,
        tier_order: TierOrder::Ascending,
        ..Era::FEB22
    };
    /// The current runner (from 2026-05-03).
    pub const HEAD: Era = Era { run_result: RunResultShape::Head, aggregates: AggregateShape::M, ..Era::MAR2026 };

    /// The runner's name when every family matches a known runner, else `mixed`.
    pub fn name(self) -> &'static str {
        let shapes = Era { summation: Summation::Compensated, ..self };
        NAMED.iter().find(|(_, e)| *e == shapes).map_or("mixed", |(n, _)| n)
    }

    /// A known runner by name.
    pub fn named(name: &str) -> Option<Era> {
        NAMED.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
    }

    /// Every family's shape in a few characters: what stamps record, so that a change of any
    /// family's shape makes the nodes written in it stale.
    pub fn code(self) -> &'static str {
        // A handful of combinations per process: each is spelled out once and kept.
        static CODES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<Era, &'static str>>> =
            std::sync::LazyLock::new(Default::default);
        let mut codes = CODES.lock().unwrap_or_else(|e| e.into_inner());
        codes.entry(self).or_insert_with(|| Box::leak(self.spell().into_boxed_str()))
    }

    fn spell(self) -> String {
        format!(
            "{:?}.{:?}.{:?}.{:?}.{:?}.{:?}.{:?}.{:?}.{:?}",
            self.run_result,
            self.consensus,
            self.report,
            self.aggregates,
            self.checkpoint,
            self.tier_order,
            self.judge_timing,
            self.runner,
            self.summation
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_runners_are_distinct_and_round_trip() {
        for (i, (name, era)) in NAMED.iter().enumerate() {
            assert_eq!(Era::named(name), Some(*era));
            assert_eq!(era.name(), *name);
            for (other, e) in &NAMED[i + 1..] {
                assert_ne!(era, e, "{name} and {other}");
            }
        }
        let mixed = Era { report: ReportShape::ProcessMetrics, ..Era::JAN2026 };
        assert_eq!(mixed.name(), "mixed");
        assert_ne!(mixed.code(), Era::JAN2026.code());
    }
}
