//! Reconcile to a fixed point: plan, adopt what is right, carry the plan out, look again at what
//! changed, stamp what was built, and plan again, until the plan has nothing left to do. What an
//! execution makes stale (the derived files of a re-executed agent, then its judges, consensus,
//! run result, reports, aggregates) is built in the same reconcile; what is held back (policy,
//! budget, `--regenerate-only`, a failure) is reported as left, never as done.

use super::scheduler::{self, ExecOptions, Failed, Watch};
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::journal::Stamp;
use crate::engine::plan::{Cause, Hold, Plan, PlanOptions, Verdict};
use crate::error::{Error, Result};
use crate::exec::Backend;
use std::collections::BTreeMap;
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
    /// Nodes some pass held back and no pass built (a forced execution with
    /// `--regenerate-only` is held in the first pass only), with why.
    pub held: Vec<(NodeId, Hold, Vec<Cause>)>,
    /// The passes ran out with work still planned (a rule that keeps finding its own output
    /// stale: a bug in darn).
    pub no_fixed_point: bool,
}

impl Outcome {
    /// Whether work is left: failures, held or pending nodes.
    pub fn work_left(&self) -> bool {
        !self.failed.is_empty()
            || self.no_fixed_point
            || !self.held.is_empty()
            || self.left.as_ref().is_some_and(Plan::pending)
    }
}

/// Stamps for nodes, from their parts now.
fn stamps(
    engine: &Engine,
    nodes: impl Iterator<Item = NodeId>,
    adopted: bool,
    at: i64,
) -> Vec<(NodeId, String, Option<Stamp>)> {
    nodes.filter_map(|n| engine.parts(n).map(|p| (n, engine.graph.id(n), Some(p.stamp(adopted, at))))).collect()
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
    engine
        .journal
        .append(records)
        .map_err(|e| Error::io(crate::engine::journal::Journal::path_in(&engine.exp.root), e))?;
    Ok(count)
}

/// Brings the plan's scope up to date. `first`: the plan of `opts` the caller already made (to
/// check and show what will run), used as the first round's instead of planning again.
pub fn reconcile(
    engine: &mut Engine,
    opts: &PlanOptions,
    mut first: Option<Plan>,
    exec: &ExecOptions,
    backend: Option<Arc<dyn Backend + Send + Sync>>,
    watch: &dyn Watch,
) -> Result<Outcome> {
    let _t = crate::util::trace::span("reconcile");
    let mut out = Outcome::default();
    let mut rebuilt: HashSet<NodeId> = HashSet::new();
    let mut failed: HashSet<NodeId> = HashSet::new();
    let mut held: BTreeMap<NodeId, (Hold, Vec<Cause>)> = BTreeMap::new();
    let remember_held = |plan: &Plan, held: &mut BTreeMap<NodeId, (Hold, Vec<Cause>)>| {
        for (i, v) in plan.verdicts.iter().enumerate() {
            if let Verdict::Held(h, c) = v {
                held.insert(NodeId(i as u32), (*h, c.clone()));
            }
        }
    };
    for round in 0..MAX_ROUNDS {
        let at = jiff::Timestamp::now().as_microsecond();
        let round_opts = PlanOptions {
            force: opts.force && round == 0,
            rebuilt: rebuilt.clone(),
            failed: failed.clone(),
            ..opts.clone()
        };
        let plan = match first.take() {
            Some(plan) if round == 0 => plan,
            _ => engine.plan(&round_opts),
        };
        if round == 0 {
            out.estimated_cost_usd = plan.cost_usd;
        }
        out.adopted += adopt(engine, &plan, at)?;
        remember_held(&plan, &mut held);
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
        engine
            .journal
            .append(records)
            .map_err(|e| Error::io(crate::engine::journal::Journal::path_in(&engine.exp.root), e))?;
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
        for n in &r.built {
            held.remove(n);
        }
        rebuilt.extend(&r.built);
        if !progress || out.interrupted {
            let final_opts =
                PlanOptions { force: false, rebuilt: rebuilt.clone(), failed: failed.clone(), ..opts.clone() };
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
    if let Some(plan) = &out.left {
        remember_held(plan, &mut held);
        // Failures are reported apart; a node held in any pass and never built is left (a forced
        // execution held by --regenerate-only is held in the first pass only).
        held.retain(|_, (h, _)| *h != Hold::Failed);
    }
    out.held = held.into_iter().map(|(n, (h, c))| (n, h, c)).collect();
    // Both only save time later; a failure to write either loses no stamp.
    let _ = engine.journal.compact_if_needed();
    let _ = engine.journal.index_if_needed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! A derived file that exists only in this test: one rule module (below) and one line where
    //! the rules are listed, and darn plans, builds, stamps and checks it like its own.

    use super::*;
    use crate::build::retry::RetryPolicy;
    use crate::build::scheduler::Quiet;
    use crate::engine::{Engine, LoadOptions};
    use crate::experiment::Experiment;
    use crate::observe::claude::Stdout;
    use crate::rules::finding::{Difference, Waiting};
    use crate::rules::{Dep, Link, Output, Registry, Rule, RunCx, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};

    /// `agent/summary.txt`: the first line of the agent's final message.
    struct Summary;

    static SUMMARY: Summary = Summary;

    static SPEC: Spec = Spec {
        key: "agent-summary",
        name: "agent/summary.txt",
        scope: Scope::Run,
        strategy: Strategy::Regenerate,
        stage: Stage::Agent,
        version: 1,
        after: &[Dep { rule: "agent", link: Link::Same }],
        outputs: &["agent/summary.txt"],
        reads: &["agent/*"],
        stale_when: StaleWhen::Checked,
    };

    fn summary(run: &RunCx) -> Option<String> {
        match &run.agent().transcript.as_ref()?.parsed {
            Stdout::Json(r) if run.agent_ok() => {
                Some(r.text.as_deref().unwrap_or("").lines().next().unwrap_or("").to_string())
            }
            _ => None,
        }
    }

    impl RunRule for Summary {
        fn spec(&self) -> &'static Spec {
            &SPEC
        }

        fn check(&self, run: &RunCx, _slot: u16) -> crate::rules::Finding {
            let Some(want) = summary(run) else { return crate::rules::Finding::Waiting(Waiting::AgentOutput) };
            let file = RunCx::file("agent/summary.txt");
            match run.src.text(file) {
                None => crate::rules::Finding::Missing(file),
                Some(have) if have == want => crate::rules::Finding::Fresh,
                Some(have) => crate::rules::Finding::Differs(
                    file,
                    Box::new(Difference {
                        field: "".into(),
                        recorded: have.into(),
                        expected: want.into(),
                        source: None,
                    }),
                ),
            }
        }

        fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, crate::rules::Finding> {
            let text = summary(run).ok_or(crate::rules::Finding::Waiting(Waiting::AgentOutput))?;
            Ok(vec![Output::new(RunCx::file("agent/summary.txt"), text)])
        }
    }

    fn registry() -> Registry {
        let mut rules = Registry::standard_rules();
        rules.push(Rule::Run(&SUMMARY));
        Registry::new(rules).expect("the rules are consistent")
    }

    fn load(root: &std::path::Path) -> Engine {
        let exp = Experiment::open_root(root.to_path_buf(), None).expect("open");
        Engine::load_with(exp, registry(), LoadOptions { writable: true, aggregates: true }, &|_| true).expect("load")
    }

    fn regenerate(engine: &mut Engine) -> Outcome {
        let opts = PlanOptions { rerun: engine.rerun_classes().expect("policy"), ..PlanOptions::default() };
        let exec = ExecOptions {
            execute: false,
            jobs: 1,
            keep_going: false,
            retry: RetryPolicy { retries: 0, backoff: std::time::Duration::ZERO },
        };
        reconcile(engine, &opts, None, &exec, None, &Quiet).expect("reconcile")
    }

    #[test]
    fn a_rule_added_in_one_place_is_planned_built_stamped_and_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spec =
            crate::demo::DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 3, damage: false, ..Default::default() };
        crate::demo::generate(tmp.path(), &spec).expect("demo");

        let mut engine = load(tmp.path());
        let key = engine.graph.registry.by_name("agent-summary").expect("registered");
        let plan = engine.plan(&PlanOptions::default());
        let planned: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| engine.graph.node(a.node).rule == key)
            .map(|a| engine.graph.id(a.node))
            .collect();
        assert_eq!(planned.len(), 6, "one per run: {planned:?}");
        let out = regenerate(&mut engine);
        assert_eq!(out.regenerated.len(), 6);
        assert!(!out.work_left());
        drop(engine);

        let run = tmp.path().join("completed/T0/00/run_01");
        let written = std::fs::read_to_string(run.join("agent/summary.txt")).expect("written");
        assert!(!written.is_empty());
        let engine = load(tmp.path());
        assert!(engine.plan(&PlanOptions::default()).actions.is_empty(), "stamped: nothing to do");
        drop(engine);

        // Its check sees a damaged file, and only that node is rebuilt.
        std::fs::write(run.join("agent/summary.txt"), "something else").expect("damage");
        let mut engine = load(tmp.path());
        let plan = engine.plan(&PlanOptions::default());
        assert_eq!(plan.actions.len(), 1);
        assert_eq!(engine.graph.id(plan.actions[0].node), "T0/00/run_01/agent/summary.txt");
        assert_eq!(regenerate(&mut engine).regenerated.len(), 1);
        assert_eq!(std::fs::read_to_string(run.join("agent/summary.txt")).expect("rebuilt"), written);
    }
}
