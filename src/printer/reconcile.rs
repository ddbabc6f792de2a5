//! `darn reconcile`: what was done, what is left and why.

use super::plan::{BlockedReport, HeldReport, causes};
use super::{Printer, Style, count, plural, words};
use crate::build::reconcile::Outcome;
use crate::build::scheduler::Failure;
use crate::engine::Engine;
use crate::exec::ExecError;
use crate::rules::FailureClass;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FailedReport {
    pub node: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
    /// Where to look closer (the node's files).
    pub path: String,
    /// The execution's log to read first (its non-empty `stderr.log`, `error.log` or
    /// `stdout.log`), relative to the experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The first non-empty log of a failed execution's directory.
fn log_of(engine: &Engine, path: &str) -> Option<String> {
    ["stderr.log", "error.log", "stdout.log"]
        .into_iter()
        .map(|f| format!("{path}/{f}"))
        .find(|rel| std::fs::metadata(engine.exp.root.join(rel)).is_ok_and(|m| m.is_file() && m.len() > 0))
}

/// What a reconcile did (docs/contract.md#reconcile-json, plus fields darn adds).
#[derive(Debug, Serialize)]
pub struct ReconcileReport {
    pub executed: Vec<String>,
    pub regenerated: Vec<String>,
    pub failed: Vec<FailedReport>,
    pub skipped: Vec<String>,
    pub cost_usd: f64,
    pub unchanged: Vec<String>,
    pub adopted: usize,
    /// Executions left undone (held back, or skipped).
    pub pending_executions: Vec<String>,
    /// Everything left, with why.
    pub left: Vec<HeldReport>,
    /// What cannot be built until something darn cannot fix is.
    pub blocked: Vec<BlockedReport>,
    /// Actions the final plan still has (nonzero only when darn could not finish them).
    pub left_actions: usize,
    pub retries: usize,
    pub interrupted: bool,
    pub estimated_cost_usd: f64,
    pub rounds: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

pub fn failure_words(f: &Failure) -> String {
    match f {
        Failure::Execution(ExecError::Outcome(finding)) => words::finding(finding),
        Failure::Execution(ExecError::Setup(m)) => m.clone(),
        Failure::Execution(ExecError::Interrupted) => "interrupted".into(),
        Failure::Build(finding) => format!("cannot be built: {}", words::finding(finding)),
        Failure::Write(e) => format!("could not be written: {e}"),
    }
}

pub fn report(engine: &Engine, o: &Outcome) -> ReconcileReport {
    let ids = |v: &[crate::engine::graph::NodeId]| v.iter().map(|n| engine.graph.id(*n)).collect::<Vec<_>>();
    let mut left = Vec::new();
    let mut pending = Vec::new();
    let left_actions = o.left.as_ref().map_or(0, |p| p.actions.len());
    for (n, reason, cs) in &o.held {
        let spec = engine.graph.registry.spec(engine.graph.node(*n).rule);
        if spec.strategy == crate::rules::Strategy::Execute {
            pending.push(engine.graph.id(*n));
        }
        left.push(HeldReport {
            node: engine.graph.id(*n),
            strategy: spec.strategy,
            reason: *reason,
            causes: causes(engine, cs),
            estimate: None,
        });
    }
    if let Some(plan) = &o.left {
        for a in &plan.actions {
            if a.strategy == crate::rules::Strategy::Execute {
                pending.push(engine.graph.id(a.node));
            }
        }
    }
    ReconcileReport {
        executed: ids(&o.executed),
        regenerated: ids(&o.regenerated),
        failed: o
            .failed
            .iter()
            .map(|f| FailedReport {
                node: engine.graph.id(f.node),
                error: format!("{}: {}", engine.graph.id(f.node), failure_words(&f.failure)),
                failure: f.class,
                path: engine.node_path(f.node),
                log: log_of(engine, &engine.node_path(f.node)),
            })
            .collect(),
        skipped: ids(&o.skipped),
        cost_usd: o.cost_usd,
        unchanged: ids(&o.unchanged),
        adopted: o.adopted,
        pending_executions: pending,
        left,
        blocked: o.left.as_ref().map(|p| super::plan::blocked(engine, p)).unwrap_or_default(),
        left_actions,
        retries: o.retries,
        interrupted: o.interrupted,
        estimated_cost_usd: o.estimated_cost_usd,
        rounds: o.rounds,
        stopped: o.stopped.clone(),
    }
}

pub fn render(r: &ReconcileReport, p: &Printer) -> String {
    let mut out = String::new();
    let did_nothing = r.regenerated.is_empty() && r.executed.is_empty() && r.unchanged.is_empty() && r.adopted == 0;
    let idle = r.failed.is_empty() && r.skipped.is_empty() && r.left.is_empty() && r.blocked.is_empty();
    if did_nothing && idle && r.left_actions == 0 && !r.interrupted && r.stopped.is_none() {
        return p.paint("nothing to do: up to date\n", Style::Green);
    }
    let mut parts = vec![format!("{} regenerated", count(r.regenerated.len()))];
    if !r.executed.is_empty() {
        parts.push(format!("{} executed", count(r.executed.len())));
    }
    if !r.unchanged.is_empty() {
        parts.push(format!("{} found unchanged", count(r.unchanged.len())));
    }
    if r.adopted > 0 {
        parts.push(format!("{} adopted as they were", count(r.adopted)));
    }
    out.push_str(&parts.join(", "));
    if r.cost_usd > 0.0 || !r.executed.is_empty() {
        out.push_str(&format!(" (${:.2} spent; the plan estimated ${:.2})", r.cost_usd, r.estimated_cost_usd));
    }
    if r.retries > 0 {
        out.push_str(&format!(
            "\n{} retried after a rate limit or a transient failure",
            plural(r.retries, "execution", "executions")
        ));
    }
    out.push('\n');
    if p.verbose > 0 {
        for id in &r.regenerated {
            out.push_str(&format!("  regenerated {id}\n"));
        }
        for id in &r.executed {
            out.push_str(&format!("  executed {id}\n"));
        }
    }
    for f in &r.failed {
        let class = f.failure.map(|c| format!(" [{}]", c.name())).unwrap_or_default();
        out.push_str(&format!("{} {}{class}\n", p.paint("failed", Style::Red), f.error));
        let look = f.log.as_deref().unwrap_or(&f.path);
        out.push_str(&format!("  log: {look}\n  explain: darn why {}\n", f.node));
    }
    if !r.skipped.is_empty() {
        out.push_str(&format!(
            "{} skipped because something they depend on failed or was stopped\n",
            plural(r.skipped.len(), "node", "nodes")
        ));
    }
    if let Some(why) = &r.stopped {
        out.push_str(&format!(
            "{} rate limited ({why}); no new executions were started\n",
            p.paint("stopped:", Style::Yellow)
        ));
    }
    if r.interrupted {
        out.push_str("interrupted: what finished is recorded; run reconcile again to resume\n");
    }
    let held: Vec<&HeldReport> = r.left.iter().filter(|h| h.reason != crate::engine::plan::Hold::Failed).collect();
    if !held.is_empty() {
        out.push_str(&format!("{} left:\n", plural(held.len(), "node is", "nodes are")));
        let mut by_reason: Vec<(crate::engine::plan::Hold, usize)> = Vec::new();
        for h in &held {
            match by_reason.iter_mut().find(|(r, _)| *r == h.reason) {
                Some((_, n)) => *n += 1,
                None => by_reason.push((h.reason, 1)),
            }
        }
        for (reason, n) in by_reason {
            out.push_str(&format!("  {}: {}\n", count(n), words::hold(reason)));
        }
        out.push_str("  `darn plan` lists them\n");
    }
    out.push_str(super::plan::render_blocked(&r.blocked, p).trim_start_matches('\n'));
    if r.failed.is_empty() && held.is_empty() && r.blocked.is_empty() && r.left_actions == 0 && !r.interrupted {
        out.push_str(&p.paint("up to date\n", Style::Green));
    }
    out
}
