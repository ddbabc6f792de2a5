//! SELECT filters (`--tier`, `--subtest`, `--runs`, `--status`, `--judge-status`, `--stage`):
//! the same on every command. Values of one flag are alternatives; different flags combine with AND.

use crate::classify::{AgentStatus, JudgeStatus, RunStatus};
use crate::error::{Error, Result};
use crate::experiment::names::RunKey;

/// A pipeline stage, for `--stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Agent,
    Judge,
    Aggregate,
}

/// The raw filter values from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Only these tiers (e.g. T0); repeatable
    #[arg(long = "tier", value_name = "TIER", global = true)]
    pub tiers: Vec<String>,
    /// Only these subtests (e.g. 00); repeatable
    #[arg(long = "subtest", value_name = "SUBTEST", global = true)]
    pub subtests: Vec<String>,
    /// Only these run numbers: a list with ranges, e.g. 1,3,5-7
    #[arg(long = "runs", value_name = "LIST", global = true)]
    pub runs: Vec<String>,
    /// Only runs whose agent status is one of these (missing, failed, partial, results, completed)
    #[arg(long = "status", value_name = "STATUS", global = true)]
    pub status: Vec<String>,
    /// Only runs whose judge status is one of these (agent_failed, missing, failed, partial, complete)
    #[arg(long = "judge-status", value_name = "STATUS", global = true)]
    pub judge_status: Vec<String>,
    /// Only work of these stages (agent, judge, aggregate)
    #[arg(long = "stage", value_name = "STAGE", global = true, value_enum)]
    pub stage: Vec<Stage>,
}

/// Parsed, validated filters.
#[derive(Debug, Clone, Default)]
pub struct Select {
    pub tiers: Vec<String>,
    pub subtests: Vec<String>,
    pub runs: Vec<(u32, u32)>,
    pub status: Vec<AgentStatus>,
    pub judge_status: Vec<JudgeStatus>,
    pub stages: Vec<Stage>,
}

/// Parses `1,3,5-7` into inclusive ranges.
pub fn parse_runs(text: &str) -> Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::Usage(format!("invalid --runs `{text}`: expected numbers and ranges like 1,3,5-7"));
        let range = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?),
            None => {
                let n = part.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if range.0 == 0 || range.0 > range.1 {
            return Err(bad());
        }
        out.push(range);
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("invalid --runs `{text}`: no run numbers")));
    }
    Ok(out)
}

impl Select {
    pub fn from_args(args: &SelectArgs) -> Result<Self> {
        let mut runs = Vec::new();
        for r in &args.runs {
            runs.extend(parse_runs(r)?);
        }
        let status = args
            .status
            .iter()
            .map(|s| {
                AgentStatus::parse(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "unknown --status `{s}` (expected missing, failed, partial, results or completed)"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let judge_status = args
            .judge_status
            .iter()
            .map(|s| {
                JudgeStatus::parse(s).ok_or_else(|| {
                    Error::Usage(format!(
                        "unknown --judge-status `{s}` (expected agent_failed, missing, failed, partial or complete)"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Select {
            tiers: args.tiers.clone(),
            subtests: args.subtests.clone(),
            runs,
            status,
            judge_status,
            stages: args.stage.clone(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
            && self.subtests.is_empty()
            && self.runs.is_empty()
            && self.status.is_empty()
            && self.judge_status.is_empty()
            && self.stages.is_empty()
    }

    /// Whether a run's position (tier, subtest, number) passes the filters.
    pub fn matches_key(&self, key: &RunKey) -> bool {
        (self.tiers.is_empty() || self.tiers.contains(&key.tier))
            && (self.subtests.is_empty() || self.subtests.contains(&key.subtest))
            && (self.runs.is_empty() || self.runs.iter().any(|(a, b)| (*a..=*b).contains(&key.run)))
    }

    /// Whether a run's statuses pass the filters (`--stage` keeps runs with work in that stage).
    pub fn matches_status(&self, st: &RunStatus) -> bool {
        (self.status.is_empty() || self.status.contains(&st.agent))
            && (self.judge_status.is_empty() || self.judge_status.contains(&st.judge))
            && (self.stages.is_empty()
                || self.stages.iter().any(|s| match s {
                    Stage::Agent => st.agent != AgentStatus::Completed,
                    Stage::Judge => st.judge != JudgeStatus::Complete,
                    Stage::Aggregate => st.aggregate_pending,
                }))
    }

    /// A description of the filters for messages (`--tier T9 --runs 3`).
    pub fn describe(&self, args: &SelectArgs) -> String {
        let mut parts = Vec::new();
        parts.extend(args.tiers.iter().map(|t| format!("--tier {t}")));
        parts.extend(args.subtests.iter().map(|t| format!("--subtest {t}")));
        parts.extend(args.runs.iter().map(|t| format!("--runs {t}")));
        parts.extend(args.status.iter().map(|t| format!("--status {t}")));
        parts.extend(args.judge_status.iter().map(|t| format!("--judge-status {t}")));
        parts.extend(self.stages.iter().map(|s| format!("--stage {}", format!("{s:?}").to_lowercase())));
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_lists() {
        assert_eq!(parse_runs("1,3,5-7").ok(), Some(vec![(1, 1), (3, 3), (5, 7)]));
        assert!(parse_runs("0").is_err());
        assert!(parse_runs("3-1").is_err());
        assert!(parse_runs("a").is_err());
        assert!(parse_runs(",").is_err());
    }

    #[test]
    fn key_filters_combine_with_and() {
        let s = Select { tiers: vec!["T0".into(), "T1".into()], runs: vec![(2, 3)], ..Select::default() };
        assert!(s.matches_key(&RunKey::new("T1", "00", 2)));
        assert!(!s.matches_key(&RunKey::new("T2", "00", 2)));
        assert!(!s.matches_key(&RunKey::new("T0", "00", 1)));
    }
}
