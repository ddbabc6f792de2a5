//! Reconcile to a fixed point: plan, adopt what is right, carry the plan out, look again at what
//! changed, stamp what was built, and plan again, until the plan has nothing left to do. What an
//! execution makes stale (the derived files of a re-executed agent, then its judges, consensus,
//! run result, reports, aggregates) is built in the same reconcile; what is held back (policy,
//! budget, `--regenerate-only`, a failure) is reported as left, never as done.

use super::scheduler::{self, ExecOptions, Failed, Watch};
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::journal::Stamp;
use crate::engine::plan::{Plan, PlanOptions, Verdict};
use crate::error::{Error, Result};
use crate::exec::Backend;
use std::collections::HashSet;
use std::sync::Arc;

/// The most passes one reconcile makes. Each pass builds what the previous one made stale, so a
/// few suffice; more means a rule disagrees with its own output, which is a bug in darn.
pub const MAX_ROUNDS: usize = 8;

/// What a reconcile did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub executed: Vec<NodeId>,
    pub regenerated: Vec<NodeId>,
    /// Rebuilt to identical content, or left as it was: the cascade stopped there.
    pub unchanged: Vec<NodeId>,
    pub failed: Vec<Failed>,
    pub skipped: Vec<NodeId>,
    pub cost_usd: f64,
    /// Outputs found right and stamped without rebuilding.
    pub adopted: usize,
    pub retries: usize,
    pub interrupted: bool,
    pub stopped: Option<String>,
    /// What the first plan estimated the executions would cost.
    pub estimated_cost_usd: f64,
    /// Passes made.
    pub rounds: usize,
    /// The plan of what is left after the last pass (with the same targets and selection).
    pub left: Option<Plan>,
    /// The passes ran out with work still planned (a rule that keeps finding its own output
    /// stale: a bug in darn).
    pub no_fixed_point: bool,
}

impl Outcome {
    /// Whether work is left: failures, held or pending nodes.
    pub fn work_left(&self) -> bool {
        !self.failed.is_empty() || self.no_fixed_point || self.left.as_ref().is_some_and(Plan::pending)
    }
}

/// Stamps for nodes, from their parts now.
fn stamps(engine: &Engine, nodes: impl Iterator<Item = NodeId>, adopted: bool, at: i64) -> Vec<(String, Option<Stamp>)> {
    nodes.filter_map(|n| engine.parts(n).map(|p| (engine.graph.id(n), Some(p.stamp(adopted, at))))).collect()
}

/// Records stamps for outputs that are right as they are.
fn adopt(engine: &mut Engine, plan: &Plan, at: i64) -> Result<usize> {
    let nodes: Vec<NodeId> = engine
        .graph
        .nodes()
        .filter(|n| matches!(plan.verdict(*n), Verdict::Fresh { adopt: true }) && engine.facts.observed(*n))
        .collect();
    let records = stamps(engine, nodes.into_iter(), true, at);
    let count = records.len();
    engine.journal.append(records).map_err(|e| Error::io(crate::engine::journal::Journal::path_in(&engine.exp.root), e))?;
    Ok(count)
}

/// Brings the plan's scope up to date.
pub fn reconcile(
    engine: &mut Engine,
    opts: &PlanOptions,
    exec: &ExecOptions,
    backend: Option<Arc<dyn Backend + Send + Sync>>,
    watch: &dyn Watch,
) -> Result<Outcome> {
    let _t = crate::util::trace::span("reconcile");
    let mut out = Outcome::default();
    let mut rebuilt: HashSet<NodeId> = HashSet::new();
    let mut failed: HashSet<NodeId> = HashSet::new();
    for round in 0..MAX_ROUNDS {
        let at = jiff::Timestamp::now().as_microsecond();
        let round_opts = PlanOptions {
            force: opts.force && round == 0,
            rebuilt: rebuilt.clone(),
            failed: failed.clone(),
            ..opts.clone()
        };
        let plan = engine.plan(&round_opts);
        if round == 0 {
            out.estimated_cost_usd = plan.cost_usd;
        }
        out.adopted += adopt(engine, &plan, at)?;
        if plan.actions.is_empty() || out.interrupted || out.stopped.is_some() {
            out.left = Some(plan);
            break;
        }
        out.rounds = round + 1;
        let r = scheduler::run(engine, &plan, backend.clone(), exec, watch);
        // Look again at everything darn changed, then stamp what it built.
        let touched: Vec<usize> = r.touched.iter().copied().collect();
        engine.refresh(&touched, &r.built)?;
        let records = stamps(engine, r.built.iter().copied(), false, at);
        engine.journal.append(records).map_err(|e| Error::io(crate::engine::journal::Journal::path_in(&engine.exp.root), e))?;
        out.executed.extend(&r.executed);
        out.regenerated.extend(&r.regenerated);
        out.unchanged.extend(&r.unchanged);
        out.skipped.extend(&r.skipped);
        out.cost_usd += r.cost_usd;
        out.retries += r.retries;
        out.interrupted |= r.interrupted;
        if out.stopped.is_none() {
            out.stopped = r.stopped;
        }
        failed.extend(r.failed.iter().map(|f| f.node));
        out.failed.extend(r.failed);
        let progress = !r.built.is_empty();
        rebuilt.extend(&r.built);
        if !progress || out.interrupted {
            let final_opts = PlanOptions { force: false, rebuilt: rebuilt.clone(), failed: failed.clone(), ..opts.clone() };
            out.left = Some(engine.plan(&final_opts));
            break;
        }
    }
    if out.left.is_none() {
        let final_opts = PlanOptions { force: false, rebuilt, failed, ..opts.clone() };
        let plan = engine.plan(&final_opts);
        out.no_fixed_point |= !plan.actions.is_empty();
        out.left = Some(plan);
    }
    let _ = engine.journal.compact_if_needed();
    Ok(out)
}
