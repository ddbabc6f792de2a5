//! SELECT filters (`--tier`, `--subtest`, `--runs`, `--status`, `--judge-status`, `--stage`):
//! the same on every command, validated against the experiment. Values of one flag (repeated or
//! comma-separated) are alternatives; different flags combine with AND.

use super::facts::Facts;
use super::graph::{Graph, NodeId};
use super::status::{AgentStatus, JudgeStatus, RunStatus};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::experiment::names::RunKey;
use crate::rules::{Scope, Stage};
use crate::util::suggest::closest;
use std::collections::HashSet;

/// The filters as typed (each value may hold several, comma-separated).
#[derive(Debug, Clone, Default)]
pub struct SelectValues {
    pub tiers: Vec<String>,
    pub subtests: Vec<String>,
    pub runs: Vec<String>,
    pub status: Vec<String>,
    pub judge_status: Vec<String>,
    pub stages: Vec<String>,
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

fn split(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

fn unknown(flag: &'static str, value: &str, valid: Vec<String>) -> Error {
    let suggestion = closest(value, valid.iter().map(String::as_str)).map(str::to_string);
    Error::UnknownValue { flag, value: value.to_string(), valid, suggestion }
}

/// Parses `1,3,5-7` into inclusive ranges.
pub fn parse_runs(text: &str) -> Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::Usage(format!("--runs {text}: expected run numbers and ranges like 1,3,5-7"));
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
        return Err(Error::Usage(format!("--runs {text}: no run numbers")));
    }
    Ok(out)
}

impl Select {
    /// Parses and validates the filters: a tier, subtest or run that the experiment does not
    /// have is an error naming the valid values (or the closest one).
    pub fn parse(v: &SelectValues, exp: &Experiment) -> Result<Select> {
        let tiers = split(&v.tiers);
        for t in &tiers {
            if !exp.tiers.contains(t) {
                return Err(unknown("--tier", t, exp.tiers.clone()));
            }
        }
        let subtests = split(&v.subtests);
        let in_tiers: Vec<String> = {
            let mut all: Vec<String> = exp
                .tiers
                .iter()
                .filter(|t| tiers.is_empty() || tiers.contains(t))
                .flat_map(|t| exp.subtests_of(t).iter().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        };
        for s in &subtests {
            if !in_tiers.contains(s) {
                return Err(unknown("--subtest", s, in_tiers.clone()));
            }
        }
        let mut runs = Vec::new();
        for r in split(&v.runs) {
            runs.extend(parse_runs(&r)?);
        }
        let max = exp.config.runs_per_subtest;
        if let Some(&(_, hi)) = runs.iter().find(|(_, hi)| *hi > max) {
            return Err(Error::UnknownValue {
                flag: "--runs",
                value: hi.to_string(),
                valid: vec![if max == 1 { "1".to_string() } else { format!("1-{max}") }],
                suggestion: None,
            });
        }
        let names = |all: &[&str]| all.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        let status = split(&v.status)
            .iter()
            .map(|s| {
                AgentStatus::parse(s)
                    .ok_or_else(|| unknown("--status", s, names(&AgentStatus::ALL.map(AgentStatus::name))))
            })
            .collect::<Result<_>>()?;
        let judge_status = split(&v.judge_status)
            .iter()
            .map(|s| {
                JudgeStatus::parse(s)
                    .ok_or_else(|| unknown("--judge-status", s, names(&JudgeStatus::ALL.map(JudgeStatus::name))))
            })
            .collect::<Result<_>>()?;
        let stages = split(&v.stages)
            .iter()
            .map(|s| {
                Stage::ALL
                    .into_iter()
                    .find(|x| x.name() == s)
                    .ok_or_else(|| unknown("--stage", s, names(&Stage::ALL.map(Stage::name))))
            })
            .collect::<Result<_>>()?;
        Ok(Select { tiers, subtests, runs, status, judge_status, stages })
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
            && self.subtests.is_empty()
            && self.runs.is_empty()
            && !self.filters_status()
            && self.stages.is_empty()
    }

    /// Whether the statuses filter anything.
    pub fn filters_status(&self) -> bool {
        !self.status.is_empty() || !self.judge_status.is_empty()
    }

    /// Whether any filter narrows the runs.
    pub fn filters_runs(&self) -> bool {
        !(self.tiers.is_empty() && self.subtests.is_empty() && self.runs.is_empty() && !self.filters_status())
    }

    /// Whether a run's position passes the filters.
    pub fn matches_key(&self, key: &RunKey) -> bool {
        (self.tiers.is_empty() || self.tiers.contains(&key.tier))
            && (self.subtests.is_empty() || self.subtests.contains(&key.subtest))
            && (self.runs.is_empty() || self.runs.iter().any(|(a, b)| (*a..=*b).contains(&key.run)))
    }

    /// Whether a run's statuses pass the filters.
    pub fn matches_status(&self, st: &RunStatus) -> bool {
        (self.status.is_empty() || self.status.contains(&st.agent))
            && (self.judge_status.is_empty() || self.judge_status.contains(&st.judge))
    }

    /// The nodes the filters keep (`None`: no run filter): the selected runs' nodes and the
    /// aggregates above them.
    pub fn nodes(
        &self,
        exp: &Experiment,
        graph: &Graph,
        statuses: &[Option<RunStatus>],
        _facts: &Facts,
    ) -> Option<HashSet<NodeId>> {
        if !self.filters_runs() {
            return None;
        }
        let mut out = HashSet::new();
        let mut subtests = HashSet::new();
        let mut tiers = HashSet::new();
        for (r, loc) in exp.runs.iter().enumerate() {
            let status_ok = statuses.get(r).and_then(Option::as_ref).is_none_or(|s| self.matches_status(s))
                && (!self.filters_status() || statuses.get(r).is_some_and(Option::is_some));
            if self.matches_key(&loc.key) && status_ok {
                out.extend(graph.run_nodes(r));
                subtests.extend(graph.subtest_of_run(r));
                tiers.extend(graph.tier_of_run(r));
            }
        }
        if out.is_empty() {
            return Some(out);
        }
        for (ix, rule) in graph.registry.iter() {
            match rule.spec().scope {
                Scope::Subtest => out.extend(subtests.iter().filter_map(|&s| graph.aggregate_node(ix, s as u32))),
                Scope::Tier => out.extend(tiers.iter().filter_map(|&t| graph.aggregate_node(ix, t as u32))),
                Scope::Experiment => out.extend(graph.aggregate_node(ix, 0)),
                Scope::Run | Scope::Slot => {}
            }
        }
        Some(out)
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
        assert_eq!(split(&["partial,missing".into(), " failed ".into()]), ["partial", "missing", "failed"]);
    }
}
