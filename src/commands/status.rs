//! `darn status`: classify every expected run. Read-only.

use crate::cache::ObsCache;
use crate::classify::{AgentStatus, JudgeStatus, Problem};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::printer::Printer;
use crate::scan::{ScannedRun, remember, scan_cached};
use crate::select::{Select, SelectArgs};
use crate::stamp::Lock;
use serde::Serialize;
use std::collections::BTreeMap;

/// One judge slot in the JSON output.
#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub slot: usize,
    /// The configured model of the slot.
    pub model: String,
    pub status: &'static str,
    /// The model the slot's output was produced by, when it differs from the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_model: Option<String>,
}

/// One run in the JSON output.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub id: String,
    pub tier: String,
    pub subtest: String,
    pub run: u32,
    pub agent: &'static str,
    pub judge: &'static str,
    pub judges: Vec<SlotReport>,
    pub problems: Vec<Problem>,
    /// Where the run directory is (relative to the experiment), or would be created.
    pub path: String,
}

/// Counts per status, every status present.
#[derive(Debug, Serialize, Default)]
pub struct Counts {
    pub agent: BTreeMap<&'static str, usize>,
    pub judge: BTreeMap<&'static str, usize>,
}

impl Counts {
    fn new() -> Self {
        let mut c = Counts::default();
        for a in AgentStatus::ALL {
            c.agent.insert(a.name(), 0);
        }
        for j in JudgeStatus::ALL {
            c.judge.insert(j.name(), 0);
        }
        c
    }

    fn add(&mut self, agent: AgentStatus, judge: JudgeStatus) {
        *self.agent.entry(agent.name()).or_default() += 1;
        *self.judge.entry(judge.name()).or_default() += 1;
    }
}

/// Runs by their most expensive need.
#[derive(Debug, Serialize, Default)]
pub struct Needs {
    /// The agent must be executed (missing, failed, partial).
    pub agent_execution: usize,
    /// A judge slot must be executed (missing or failed slots).
    pub judge_execution: usize,
    /// Regeneration from files on disk is enough.
    pub regeneration: usize,
    pub complete: usize,
}

/// Counts of one tier.
#[derive(Debug, Serialize)]
pub struct TierCounts {
    pub tier: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The whole `status` result.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub experiment: String,
    pub layout: &'static str,
    pub era: &'static str,
    pub root: String,
    pub judge_models: Vec<String>,
    pub runs: Vec<RunReport>,
    pub counts: Counts,
    /// Counts per tier, in tier order.
    pub tiers: Vec<TierCounts>,
    /// Runs whose aggregate files (run_result.json, reports) need regenerating.
    pub aggregate_pending: usize,
    /// What the runs need, each run counted once by its most expensive need.
    pub needs: Needs,
    /// Experiment-level notes (e.g. duplicate run directories, a broken checkpoint).
    pub warnings: Vec<String>,
}

/// Scans, filters and summarises the experiment.
pub fn build(exp: &Experiment, select: &Select) -> StatusReport {
    // darn's stat cache makes a repeated status cheap. It is only refreshed in a `.darn/` that
    // reconcile created (never in the experiment's own files), and only when no other darn holds
    // the lock; on a tree darn never managed, status writes nothing at all.
    let managed = exp.root.join(".darn").is_dir();
    let mut cache = if managed { ObsCache::load(&exp.root) } else { ObsCache::disabled() };
    let ctxs = crate::scan::contexts(exp, false);
    let (scanned, fresh) = scan_cached(exp, &ctxs, |_, loc| select.matches_key(&loc.key), &cache);
    if managed && !fresh.is_empty() && !Lock::is_held(&exp.root) {
        remember(&mut cache, fresh);
        let _ = cache.save();
    }
    let scanned: Vec<ScannedRun> = scanned;
    let mut counts = Counts::new();
    let mut tiers: Vec<TierCounts> = Vec::new();
    let mut runs = Vec::new();
    let mut aggregate_pending = 0;
    let mut needs = Needs::default();
    let mut warnings = Vec::new();
    for s in scanned {
        if !select.matches_status(&s.status) {
            continue;
        }
        let loc = &exp.runs[s.index];
        for dup in &loc.duplicates {
            warnings.push(format!("{} has a second copy at {}", loc.key, dup.display()));
        }
        counts.add(s.status.agent, s.status.judge);
        if tiers.last().is_none_or(|t| t.tier != loc.key.tier) {
            tiers.push(TierCounts { tier: loc.key.tier.clone(), counts: Counts::new() });
        }
        if let Some(t) = tiers.last_mut() {
            t.counts.add(s.status.agent, s.status.judge);
        }
        aggregate_pending += usize::from(s.status.aggregate_pending);
        let st = &s.status;
        if matches!(st.agent, AgentStatus::Missing | AgentStatus::Failed | AgentStatus::Partial) {
            needs.agent_execution += 1;
        } else if matches!(st.judge, JudgeStatus::Missing | JudgeStatus::Failed)
            || st.slots.iter().any(|s| matches!(s, JudgeStatus::Missing | JudgeStatus::Failed))
        {
            needs.judge_execution += 1;
        } else if st.agent == AgentStatus::Results || st.judge == JudgeStatus::Partial || st.aggregate_pending {
            needs.regeneration += 1;
        } else {
            needs.complete += 1;
        }
        let judges = s
            .obs
            .slots
            .iter()
            .zip(&s.status.slots)
            .map(|(o, st)| {
                let model = exp.config.judge_models.get(o.slot - 1).cloned().unwrap_or_default();
                let recorded_model = o.model.clone().filter(|m| *m != model);
                SlotReport { slot: o.slot, model, status: st.name(), recorded_model }
            })
            .collect();
        runs.push(RunReport {
            id: loc.key.id(),
            tier: loc.key.tier.clone(),
            subtest: loc.key.subtest.clone(),
            run: loc.key.run,
            agent: s.status.agent.name(),
            judge: s.status.judge.name(),
            judges,
            problems: s.status.problems,
            path: s.rel,
        });
    }
    if let Some(p) = &exp.checkpoint_problem {
        warnings.push(format!("checkpoint.json: {p}"));
    }
    StatusReport {
        experiment: exp.name().to_string(),
        layout: exp.layout.name(),
        era: exp.era.name(),
        root: exp.root.display().to_string(),
        judge_models: exp.config.judge_models.clone(),
        runs,
        counts,
        tiers,
        aggregate_pending,
        needs,
        warnings,
    }
}

/// `darn status`.
pub fn run(exp: &Experiment, args: &SelectArgs, printer: &Printer) -> Result<i32> {
    let select = Select::from_args(args)?;
    let report = build(exp, &select);
    if report.runs.is_empty() && !select.is_empty() {
        return Err(Error::NoMatch(select.describe(args)));
    }
    for w in &report.warnings {
        printer.warn(w);
    }
    if printer.json {
        printer.json_out(&report);
    } else {
        printer.out(&crate::printer::status::render(&report, printer));
    }
    Ok(0)
}
