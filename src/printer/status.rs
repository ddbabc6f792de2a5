//! `darn status`: the statuses of docs/contract.md#statuses per run, with what each run needs as the plan says.

use super::words;
use super::{Printer, Style, count, plural, table};
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::plan::{Plan, Verdict};
use crate::engine::select::Select;
use crate::engine::status::{AgentStatus, JudgeStatus, Problem, RunStatus};
use crate::rules::{FailureClass, Finding, Stage, Strategy};
use serde::Serialize;
use std::collections::BTreeMap;

/// One judge slot.
#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub slot: usize,
    /// The configured model of the slot.
    pub model: String,
    pub status: &'static str,
    /// The model that produced the slot's output, when it differs from the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_model: Option<String>,
}

/// Why a run is not complete.
#[derive(Debug, Serialize)]
pub struct ProblemReport {
    /// Relative to the experiment.
    pub path: String,
    pub problem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
}

/// One run.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub id: String,
    pub tier: String,
    pub subtest: String,
    pub run: u32,
    pub agent: &'static str,
    pub judge: &'static str,
    pub judges: Vec<SlotReport>,
    pub problems: Vec<ProblemReport>,
    /// Where the run directory is (relative to the experiment), or would be created.
    pub path: String,
    /// The most expensive work the plan has for the run.
    pub needs: Need,
}

/// The most expensive work the plan has for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    Complete,
    /// It waits for something nothing can build.
    Blocked,
    Regeneration,
    JudgeExecution,
    AgentExecution,
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

    fn add(&mut self, s: &RunStatus) {
        *self.agent.entry(s.agent.name()).or_default() += 1;
        *self.judge.entry(s.judge.name()).or_default() += 1;
    }
}

/// Runs by the most expensive work the plan has for them.
#[derive(Debug, Serialize, Default)]
pub struct Needs {
    pub agent_execution: usize,
    pub judge_execution: usize,
    pub regeneration: usize,
    pub complete: usize,
    /// Runs that wait for something nothing can build (a missing workspace, a damaged input).
    pub blocked: usize,
}

#[derive(Debug, Serialize)]
pub struct TierCounts {
    pub tier: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The whole `status` result (docs/contract.md#status-json, plus fields darn adds).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub experiment: String,
    pub layout: &'static str,
    pub era: &'static str,
    pub root: String,
    pub judge_models: Vec<String>,
    pub runs: Vec<RunReport>,
    pub counts: Counts,
    pub tiers: Vec<TierCounts>,
    pub needs: Needs,
    pub warnings: Vec<String>,
}

/// What the plan has for one run: its most expensive action or held node.
pub fn run_need(engine: &Engine, plan: &Plan, run: usize) -> Need {
    engine
        .graph
        .run_nodes(run)
        .map(|n| {
            let spec = engine.graph.registry.spec(engine.graph.node(n).rule);
            match plan.verdict(n) {
                Verdict::Stale(_) | Verdict::Held(..) => match (spec.strategy, spec.stage) {
                    (Strategy::Execute, Stage::Agent) => Need::AgentExecution,
                    (Strategy::Execute, _) => Need::JudgeExecution,
                    (Strategy::Regenerate, _) => Need::Regeneration,
                },
                Verdict::Blocked(_) => Need::Blocked,
                Verdict::Fresh { .. } | Verdict::Outside => Need::Complete,
            }
        })
        .max()
        .unwrap_or(Need::Complete)
}

/// Whether the plan has work of one of `stages` for a run for that work's own sake (not only
/// because something upstream is rebuilt).
fn has_stage_work(engine: &Engine, plan: &Plan, run: usize, stages: &[Stage]) -> bool {
    engine.graph.run_nodes(run).any(|n| {
        stages.contains(&engine.graph.registry.spec(engine.graph.node(n).rule).stage)
            && match plan.verdict(n) {
                Verdict::Stale(c) | Verdict::Held(_, c) => c.iter().any(|c| !c.kind.is_cascade()),
                Verdict::Fresh { .. } | Verdict::Outside | Verdict::Blocked(_) => false,
            }
    })
}

/// The problem of a node, in words.
pub fn problem_words(engine: &Engine, run_exists: bool, p: &Problem) -> String {
    let spec = engine.graph.registry.spec(engine.graph.node(p.node).rule);
    match (&p.finding, spec.stage) {
        (Finding::NeverRan, Stage::Agent) if !run_exists => "run directory does not exist".into(),
        (Finding::NeverRan, Stage::Agent) => "the agent never started (no prompt, command log or output)".into(),
        (Finding::NeverRan, _) => "judge never ran".into(),
        (f, stage) => words::finding_of(f, if stage == Stage::Agent { "agent" } else { "judge" }),
    }
}

/// Where a problem is, relative to the experiment.
fn problem_path(engine: &Engine, n: NodeId, p: &Problem) -> String {
    let dir = engine.node_dir(n);
    let path = match p.file {
        Some(f) => dir.join(f.as_str()),
        None => {
            let spec = engine.graph.registry.spec(engine.graph.node(n).rule);
            if spec.stage == Stage::Agent {
                return format!("{}/", engine.exp.run_rel(&engine.exp.runs[engine.graph.run_of(n).unwrap_or(0)]));
            }
            dir.join(spec.suffix(engine.graph.node(n).slot))
        }
    };
    path.strip_prefix(&engine.exp.root)
        .map_or_else(|_| path.display().to_string(), |x| x.to_string_lossy().replace('\\', "/"))
}

/// Builds the report of the runs a selection keeps.
pub fn report(engine: &Engine, plan: &Plan, select: &Select) -> StatusReport {
    let exp = &engine.exp;
    let mut counts = Counts::new();
    let mut tiers: Vec<TierCounts> = Vec::new();
    let mut runs = Vec::new();
    let mut needs = Needs::default();
    let mut warnings = Vec::new();
    for (r, loc) in exp.runs.iter().enumerate() {
        let (Some(st), Some(rf)) = (engine.statuses[r].as_ref(), engine.facts.runs[r].as_ref()) else { continue };
        if !select.matches_key(&loc.key) || !select.matches_status(st) {
            continue;
        }
        if !select.stages.is_empty() && !has_stage_work(engine, plan, r, &select.stages) {
            continue;
        }
        for dup in &loc.duplicates {
            warnings.push(format!("{} has a second copy at {}", loc.key, dup.display()));
        }
        counts.add(st);
        if tiers.last().is_none_or(|t| t.tier != loc.key.tier) {
            tiers.push(TierCounts { tier: loc.key.tier.clone(), counts: Counts::new() });
        }
        if let Some(t) = tiers.last_mut() {
            t.counts.add(st);
        }
        let need = run_need(engine, plan, r);
        match need {
            Need::AgentExecution => needs.agent_execution += 1,
            Need::JudgeExecution => needs.judge_execution += 1,
            Need::Regeneration => needs.regeneration += 1,
            Need::Blocked => needs.blocked += 1,
            Need::Complete => needs.complete += 1,
        }
        let judges = st
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let model = exp.judge_model(&loc.key, i + 1).to_string();
                let recorded_model = rf.extras.slots.get(i).and_then(|x| x.model.clone()).filter(|m| *m != model);
                SlotReport { slot: i + 1, model, status: s.name(), recorded_model }
            })
            .collect();
        let problems = st
            .problems
            .iter()
            .map(|p| ProblemReport {
                path: problem_path(engine, p.node, p),
                problem: problem_words(engine, st.exists, p),
                failure: p.failure(),
            })
            .collect();
        runs.push(RunReport {
            id: loc.key.id(),
            tier: loc.key.tier.clone(),
            subtest: loc.key.subtest.clone(),
            run: loc.key.run,
            agent: st.agent.name(),
            judge: st.judge.name(),
            judges,
            problems,
            path: rf.rel.clone(),
            needs: need,
        });
    }
    if let Some(p) = &exp.checkpoint_problem {
        warnings.push(format!("checkpoint.json: {}", words::unusable_text(p)));
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
        needs,
        warnings,
    }
}

/// Renders the report: a header, agent and judge tables per tier, what the runs need, and with
/// -v every run that is not complete with its problems.
pub fn render(r: &StatusReport, p: &Printer) -> String {
    let mut out = String::new();
    let total = r.runs.len();
    out.push_str(&format!(
        "{}  ({} layout, {} era, {}, {})\n\n",
        p.paint(&r.experiment, Style::Bold),
        r.layout,
        r.era,
        plural(total, "run", "runs"),
        plural(r.judge_models.len(), "judge", "judges"),
    ));
    let mut header: Vec<&str> = vec!["agent"];
    header.extend(AgentStatus::ALL.iter().rev().map(|s| s.name()));
    let mut rows: Vec<Vec<String>> = r
        .tiers
        .iter()
        .map(|t| {
            let mut row = vec![t.tier.clone()];
            row.extend(AgentStatus::ALL.iter().rev().map(|s| count(t.counts.agent[s.name()])));
            row
        })
        .collect();
    let mut total_row = vec!["total".to_string()];
    total_row.extend(AgentStatus::ALL.iter().rev().map(|s| count(r.counts.agent[s.name()])));
    rows.push(total_row);
    out.push_str(&table(&header, &rows));
    out.push('\n');
    let order = [
        JudgeStatus::Complete,
        JudgeStatus::Partial,
        JudgeStatus::Failed,
        JudgeStatus::Missing,
        JudgeStatus::AgentFailed,
    ];
    let mut header: Vec<&str> = vec!["judge"];
    header.extend(order.iter().map(|s| s.name()));
    let mut rows: Vec<Vec<String>> = r
        .tiers
        .iter()
        .map(|t| {
            let mut row = vec![t.tier.clone()];
            row.extend(order.iter().map(|s| count(t.counts.judge[s.name()])));
            row
        })
        .collect();
    let mut total_row = vec!["total".to_string()];
    total_row.extend(order.iter().map(|s| count(r.counts.judge[s.name()])));
    rows.push(total_row);
    out.push_str(&table(&header, &rows));
    out.push('\n');

    let n = &r.needs;
    let pending = n.agent_execution + n.judge_execution + n.regeneration + n.blocked;
    if pending == 0 {
        out.push_str(&format!(
            "{}\n",
            p.paint(&format!("all {} complete", plural(total, "run is", "runs are")), Style::Green)
        ));
    } else {
        let mut parts = Vec::new();
        if n.agent_execution > 0 {
            parts.push(format!("{} to re-run the agent", count(n.agent_execution)));
        }
        if n.judge_execution > 0 {
            parts.push(format!("{} to re-run judges", count(n.judge_execution)));
        }
        if n.regeneration > 0 {
            parts.push(format!("{} only regeneration", count(n.regeneration)));
        }
        if n.blocked > 0 {
            parts.push(format!("{} blocked", count(n.blocked)));
        }
        out.push_str(&format!(
            "{} of {} need work: {}\n",
            count(pending),
            plural(total, "run", "runs"),
            parts.join(", ")
        ));
        if p.verbose == 0 {
            out.push_str("run `darn status -v` to see why, `darn plan` for what would be done\n");
        }
    }
    if p.verbose > 0 {
        for run in r.runs.iter().filter(|run| !run.problems.is_empty()) {
            let agent = AgentStatus::parse(run.agent).unwrap_or(AgentStatus::Missing);
            let judge = JudgeStatus::parse(run.judge).unwrap_or(JudgeStatus::Missing);
            out.push_str(&format!(
                "\n{}  agent {}  judge {}\n",
                p.paint(&run.id, Style::Bold),
                p.paint(run.agent, super::agent_style(agent)),
                p.paint(run.judge, super::judge_style(judge)),
            ));
            for problem in &run.problems {
                let class = problem.failure.map(|c| format!(" [{}]", c.name())).unwrap_or_default();
                out.push_str(&format!("  {}: {}{}\n", p.paint(&problem.path, Style::Dim), problem.problem, class));
            }
        }
    }
    out
}
