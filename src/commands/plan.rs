//! `darn plan`: the actions reconcile would take, without taking them.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::graph::Strategy;
use crate::plan::{Cause, Hold, Plan, PlanOptions, Verdict};
use crate::printer::Printer;
use crate::select::{Select, SelectArgs};
use petgraph::graph::NodeIndex;
use serde::Serialize;

/// The plan as reported (CONTRACT `plan` JSON).
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub experiment: String,
    pub actions: Vec<ActionReport>,
    pub counts: Counts,
    pub estimate: Estimate,
    /// Stale nodes that will not be acted on, and why.
    pub held: Vec<HeldReport>,
    /// Outputs that are right but not stamped yet: reconcile adopts them without rebuilding.
    pub adopt: usize,
}

#[derive(Debug, Serialize)]
pub struct ActionReport {
    pub node: String,
    pub strategy: Strategy,
    pub causes: Vec<Cause>,
    /// Estimated cost and seconds of an execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

#[derive(Debug, Serialize)]
pub struct HeldReport {
    pub node: String,
    pub reason: Hold,
    pub causes: Vec<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

#[derive(Debug, Serialize, Default)]
pub struct Counts {
    pub regenerate: usize,
    pub execute: usize,
    pub held: usize,
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Estimate {
    pub cost_usd: f64,
    pub seconds: f64,
}

/// The flags that shape a plan, shared by `plan` and `reconcile`.
pub struct PlanRequest<'a> {
    pub targets: &'a [String],
    pub select: &'a SelectArgs,
    pub force: bool,
    pub regenerate_only: bool,
    pub max_cost: Option<f64>,
}

impl<'a> From<&'a crate::cli::PlanArgs> for PlanRequest<'a> {
    fn from(a: &'a crate::cli::PlanArgs) -> Self {
        PlanRequest {
            targets: &a.targets,
            select: &a.select,
            force: a.force,
            regenerate_only: a.regenerate_only,
            max_cost: a.max_cost,
        }
    }
}

impl<'a> From<&'a crate::cli::ReconcileArgs> for PlanRequest<'a> {
    fn from(a: &'a crate::cli::ReconcileArgs) -> Self {
        PlanRequest {
            targets: &a.targets,
            select: &a.select,
            force: a.force,
            regenerate_only: a.regenerate_only,
            max_cost: a.max_cost,
        }
    }
}

/// The options the planner needs, from command-line flags.
pub fn options(engine: &Engine, req: &PlanRequest) -> Result<PlanOptions> {
    let select = Select::from_args(req.select)?;
    let targets = engine.targets(req.targets)?;
    let selected = engine.selected_nodes(&select);
    if selected.as_ref().is_some_and(std::collections::HashSet::is_empty) {
        return Err(Error::NoMatch(select.describe(req.select)));
    }
    if let Some(m) = req.max_cost
        && !(m.is_finite() && m >= 0.0)
    {
        return Err(Error::Usage(format!("--max-cost must be a non-negative number of dollars, not {m}")));
    }
    Ok(PlanOptions {
        targets,
        selected,
        force: req.force,
        regenerate_only: req.regenerate_only,
        max_cost: req.max_cost,
        rerun: engine.rerun_classes()?,
        stages: select.stages,
    })
}

/// Builds the report of a plan.
pub fn report(engine: &Engine, plan: &Plan) -> PlanReport {
    let g = &engine.graph;
    let facts = &engine.assessment.facts;
    let est = |n: NodeIndex| {
        (g.node(n).kind.strategy() == Strategy::Execute)
            .then(|| Estimate { cost_usd: facts[n.index()].estimate.0, seconds: facts[n.index()].estimate.1 })
    };
    let actions: Vec<ActionReport> = plan
        .actions
        .iter()
        .map(|a| ActionReport {
            node: g.node(a.node).id.clone(),
            strategy: a.strategy,
            causes: a.causes.clone(),
            estimate: est(a.node),
        })
        .collect();
    let mut held = Vec::new();
    let mut adopt = 0;
    for n in g.g.node_indices() {
        match &plan.verdicts[n.index()] {
            Verdict::Held(reason, causes) => held.push(HeldReport {
                node: g.node(n).id.clone(),
                reason: *reason,
                causes: causes.clone(),
                estimate: est(n),
            }),
            Verdict::Fresh { adopt: true } => adopt += 1,
            _ => {}
        }
    }
    let (regenerate, execute) = plan.counts();
    PlanReport {
        experiment: engine.exp.name().to_string(),
        counts: Counts { regenerate, execute, held: held.len() },
        estimate: Estimate { cost_usd: plan.cost_usd, seconds: plan.seconds },
        actions,
        held,
        adopt,
    }
}

/// Exit code of a plan: 1 when work is pending (actions, or stale nodes held back for a reason
/// other than the user's rerun policy), else 0.
pub fn exit_code(plan: &Plan) -> i32 {
    let held = plan.verdicts.iter().any(|v| matches!(v, Verdict::Held(h, _) if *h != Hold::Policy));
    i32::from(!plan.actions.is_empty() || held)
}

/// `darn plan` (and `reconcile --dry-run`): observe, plan, print; writes nothing.
pub fn run(exp: crate::experiment::Experiment, req: &PlanRequest, printer: &Printer) -> Result<i32> {
    let engine = Engine::load(exp, printer, false);
    let opts = options(&engine, req)?;
    let plan = engine.plan(&opts);
    let report = report(&engine, &plan);
    if printer.json {
        printer.json_out(&report);
    } else {
        printer.out(&crate::printer::plan::render(&engine, &report, printer));
    }
    let code = exit_code(&plan);
    // Exiting next: freeing a large experiment's facts one by one only costs time.
    std::mem::forget(engine);
    Ok(code)
}
