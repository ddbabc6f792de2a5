//! The planner: one pure function from (graph, facts, stamps, options) to a verdict per node and
//! the ordered actions, each with a strategy and typed causes. `status`, `plan`, `why`, `graph`,
//! `reconcile --dry-run` and every round of `reconcile` use it, so no two can disagree.
//!
//! No I/O happens here: the files come in as facts, the stamps behind a trait.

use super::facts::{Facts, Parts};
use super::graph::{Graph, NodeId};
use super::journal::{Hash, Stamp, Stamps};
use crate::rules::finding::{FailureClass, Finding};
use crate::rules::{Stage, StaleWhen, Strategy};
use serde::Serialize;
use std::collections::HashSet;

/// Why a node is stale (docs/contract.md#causes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// An output file is absent (or an execution never ran).
    MissingOutput,
    /// An output exists but is unreadable, malformed, incomplete, or disagrees with its inputs.
    InvalidOutput,
    /// An input's content differs from what the node was built from.
    InputChanged,
    /// darn's rule for the node changed since it was built.
    RuleChanged,
    /// A configuration value the node depends on changed (e.g. a judge model).
    ConfigChanged,
    /// An upstream node will be rebuilt first.
    UpstreamStale,
    /// An upstream node was rebuilt and its output changed (reserved: reconcile rebuilds such
    /// nodes in the same pass, so no plan shows it).
    UpstreamRebuilt,
    /// `--force`.
    Forced,
    /// The last execution failed (the finding names the failure class).
    PreviousFailure,
    /// No stamp yet: the output agrees with its inputs and is adopted as it is.
    NeverStamped,
    /// An input is unreadable or corrupt: the node keeps what it has.
    InputsDamaged,
}

impl CauseKind {
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::MissingOutput => "missing_output",
            CauseKind::InvalidOutput => "invalid_output",
            CauseKind::InputChanged => "input_changed",
            CauseKind::RuleChanged => "rule_changed",
            CauseKind::ConfigChanged => "config_changed",
            CauseKind::UpstreamStale => "upstream_stale",
            CauseKind::UpstreamRebuilt => "upstream_rebuilt",
            CauseKind::Forced => "forced",
            CauseKind::PreviousFailure => "previous_failure",
            CauseKind::NeverStamped => "never_stamped",
            CauseKind::InputsDamaged => "inputs_damaged",
        }
    }

    /// Root causes are a node's own; cascades point at another node.
    pub fn is_cascade(self) -> bool {
        matches!(self, CauseKind::UpstreamStale | CauseKind::UpstreamRebuilt)
    }
}

/// What a cause says, beyond its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum CauseWhat {
    /// The node's own finding.
    Finding(Finding),
    /// A parameter's value now and in the stamp.
    Param { name: String, old: Option<String>, new: Option<String> },
    /// An input file's hash now and in the stamp.
    Input { name: String, old: Option<Hash>, new: Option<Hash> },
    /// The rule's version now and in the stamp.
    Rule { old: u32, new: u32 },
    /// Nothing more (upstream, forced).
    Nothing,
}

/// One cause, about a node (the stale node itself, or the upstream node of a cascade).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub kind: CauseKind,
    pub node: NodeId,
    pub what: CauseWhat,
}

impl Cause {
    fn new(kind: CauseKind, node: NodeId, what: CauseWhat) -> Self {
        Cause { kind, node, what }
    }

    /// The failure class, for `previous_failure`.
    pub fn failure(&self) -> Option<FailureClass> {
        match &self.what {
            CauseWhat::Finding(f) => f.failure(),
            _ => None,
        }
    }
}

/// Why a stale node is not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// The agent's configuration changed: re-running costs money, so it needs `--force` or an
    /// explicit target.
    NeedsForce,
    /// `--regenerate-only`.
    RegenerateOnly,
    /// The failure class is not in `[execution] rerun`.
    Policy,
    /// `--max-cost` would be exceeded.
    Budget,
    /// It needs a workspace that no longer exists.
    Unbuildable,
    /// An execution outside the `--stage` filter.
    Stage,
    /// It failed earlier in this reconcile: not tried again until the next one.
    Failed,
}

/// The planner's verdict on a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Up to date. `adopt` when its stamp is missing or out of date but its check passes:
    /// reconcile records one without rebuilding.
    Fresh { adopt: bool },
    /// Will be rebuilt.
    Stale(Vec<Cause>),
    /// Stale, but not acted on; the causes say why it is stale.
    Held(Hold, Vec<Cause>),
    /// Cannot be checked or built until something upstream is fixed, and nothing upstream is
    /// planned; the cause says what it waits for.
    Blocked(Option<Box<Cause>>),
    /// Outside the targets or the selection.
    Outside,
}

/// One planned action.
#[derive(Debug, Clone)]
pub struct Action {
    pub node: NodeId,
    pub strategy: Strategy,
    pub causes: Vec<Cause>,
    /// The node is fresh itself and planned only because something upstream is rebuilt: it is
    /// rebuilt only if what it reads changes (early cutoff).
    pub cascade_only: bool,
}

/// Options that shape a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Explicit targets (empty: everything selected).
    pub targets: Vec<NodeId>,
    /// Nodes the SELECT filters keep (`None`: all).
    pub selected: Option<HashSet<NodeId>>,
    pub force: bool,
    pub regenerate_only: bool,
    pub max_cost: Option<f64>,
    /// Failure classes that are re-executed.
    pub rerun: HashSet<FailureClass>,
    /// `--stage` filters.
    pub stages: Vec<Stage>,
    /// Nodes this reconcile rebuilt: what they make stale is in scope whatever the targets.
    pub rebuilt: HashSet<NodeId>,
    /// Nodes that failed in this reconcile: held, not tried again.
    pub failed: HashSet<NodeId>,
}

/// The plan.
#[derive(Debug)]
pub struct Plan {
    pub verdicts: Vec<Verdict>,
    pub actions: Vec<Action>,
    pub cost_usd: f64,
    pub seconds: f64,
    /// Estimated cost of executions held back (config changes needing --force, budget).
    pub held_cost_usd: f64,
}

impl Plan {
    pub fn counts(&self) -> (usize, usize) {
        let exec = self.actions.iter().filter(|a| a.strategy == Strategy::Execute).count();
        (self.actions.len() - exec, exec)
    }

    pub fn verdict(&self, n: NodeId) -> &Verdict {
        &self.verdicts[n.index()]
    }

    /// Whether anything is left to do: an action, a stale node held back, or one that cannot be
    /// built until something darn cannot fix is (a damaged input, a lost workspace). Only a
    /// plan with none of these is "up to date".
    pub fn pending(&self) -> bool {
        !self.actions.is_empty() || self.verdicts.iter().any(|v| matches!(v, Verdict::Held(..) | Verdict::Blocked(_)))
    }
}

/// A node's verdict before cascades and options.
#[derive(Debug, Clone, PartialEq)]
pub enum Own {
    Fresh {
        adopt: bool,
    },
    Stale(Vec<Cause>),
    /// An execution that failed with this class.
    Failed(FailureClass, Vec<Cause>),
    /// A configuration change that needs confirming before it is acted on.
    Unconfirmed(Vec<Cause>),
    /// Waiting for upstream.
    Blocked(Option<Cause>),
    /// Missing and cannot be rebuilt here.
    Unbuildable(Vec<Cause>),
}

/// The differences between a stamp and a node's parts now.
pub fn stamp_diffs(n: NodeId, old: &Stamp, now: &Parts, only_inputs: Option<&[&str]>) -> Vec<Cause> {
    let mut out = Vec::new();
    if old.rule != now.rule {
        out.push(Cause::new(CauseKind::RuleChanged, n, CauseWhat::Rule { old: old.rule, new: now.rule }));
    }
    for (k, v) in &now.params {
        match old.params.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov == v => {}
            o => out.push(Cause::new(
                CauseKind::ConfigChanged,
                n,
                CauseWhat::Param { name: k.clone(), old: o.map(|(_, v)| v.clone()), new: Some(v.clone()) },
            )),
        }
    }
    for (k, v) in &old.params {
        if !now.params.iter().any(|(nk, _)| nk == k) {
            out.push(Cause::new(
                CauseKind::ConfigChanged,
                n,
                CauseWhat::Param { name: k.clone(), old: Some(v.clone()), new: None },
            ));
        }
    }
    let counts = |name: &str| only_inputs.is_none_or(|files| files.contains(&name));
    for (k, v) in &now.inputs {
        if !counts(k) {
            continue;
        }
        match old.inputs.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov == v => {}
            o => out.push(Cause::new(
                CauseKind::InputChanged,
                n,
                CauseWhat::Input { name: k.clone(), old: o.map(|(_, h)| *h), new: Some(*v) },
            )),
        }
    }
    out
}

fn finding_cause(n: NodeId, f: &Finding) -> Cause {
    let kind = match f {
        Finding::Missing(_) | Finding::NeverRan | Finding::Unbuildable(_) => CauseKind::MissingOutput,
        Finding::Failed(_) => CauseKind::PreviousFailure,
        Finding::ModelChanged(_) => CauseKind::ConfigChanged,
        Finding::InputDamaged(..) => CauseKind::InputsDamaged,
        Finding::Waiting(_) => CauseKind::UpstreamStale,
        Finding::Fresh
        | Finding::Unreadable(..)
        | Finding::Malformed(..)
        | Finding::Differs(..)
        | Finding::Incomplete(..) => CauseKind::InvalidOutput,
    };
    Cause::new(kind, n, CauseWhat::Finding(f.clone()))
}

/// A node's own verdict: its finding, and its stamp where its rule lets the stamp decide.
pub fn own(
    graph: &Graph,
    facts: &Facts,
    stamps: &dyn Stamps,
    parts: &(dyn Fn(NodeId) -> Option<Parts> + Sync),
    n: NodeId,
) -> Own {
    let spec = graph.registry.spec(graph.node(n).rule);
    let recorded = stamps.digest(n);
    let same = recorded == Some(facts.digest(n));
    let diffs = |only: Option<&[&str]>| -> Vec<Cause> {
        if same || recorded.is_none() {
            return Vec::new();
        }
        match (stamps.get(n), parts(n)) {
            (Some(old), Some(now)) => stamp_diffs(n, &old, &now, only),
            _ => Vec::new(),
        }
    };
    let f = facts.finding(n);
    let confirm = matches!(spec.stale_when, StaleWhen::ParamsChange);
    match f {
        Finding::Fresh => {
            let causes: Vec<Cause> = match spec.stale_when {
                StaleWhen::Checked => Vec::new(),
                StaleWhen::ParamsChange => {
                    diffs(Some(&[])).into_iter().filter(|c| c.kind == CauseKind::ConfigChanged).collect()
                }
                StaleWhen::InputsChange(files) => {
                    diffs(Some(files)).into_iter().filter(|c| c.kind != CauseKind::RuleChanged).collect()
                }
            };
            match (causes.is_empty(), confirm) {
                (true, _) => Own::Fresh { adopt: !same },
                (false, true) => Own::Unconfirmed(causes),
                (false, false) => Own::Stale(causes),
            }
        }
        Finding::ModelChanged(_) if confirm => Own::Unconfirmed(vec![finding_cause(n, f)]),
        Finding::Failed(fail) => Own::Failed(fail.class, vec![finding_cause(n, f)]),
        Finding::Waiting(_) | Finding::InputDamaged(..) => Own::Blocked(Some(finding_cause(n, f))),
        Finding::Unbuildable(_) => Own::Unbuildable(vec![finding_cause(n, f)]),
        Finding::Differs(..) => {
            // Say what changed since darn built it, when it did; else how it differs.
            let mut causes = diffs(None);
            causes.insert(0, finding_cause(n, f));
            Own::Stale(causes)
        }
        Finding::ModelChanged(_)
        | Finding::Missing(_)
        | Finding::NeverRan
        | Finding::Unreadable(..)
        | Finding::Malformed(..)
        | Finding::Incomplete(..) => Own::Stale(vec![finding_cause(n, f)]),
    }
}

/// Every node reachable from `from` following `next`.
fn closure(from: impl IntoIterator<Item = NodeId>, next: impl Fn(NodeId) -> Vec<NodeId>) -> HashSet<NodeId> {
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = from.into_iter().collect();
    while let Some(x) = stack.pop() {
        if seen.insert(x) {
            stack.extend(next(x));
        }
    }
    seen
}

/// Makes the plan.
pub fn plan(
    graph: &Graph,
    facts: &Facts,
    stamps: &dyn Stamps,
    parts: &(dyn Fn(NodeId) -> Option<Parts> + Sync),
    estimate: &dyn Fn(NodeId) -> crate::rules::Estimate,
    opts: &PlanOptions,
) -> Plan {
    let explicit: HashSet<NodeId> = opts.targets.iter().copied().collect();
    // What the targets need: the targets and everything upstream of them.
    let required: Option<HashSet<NodeId>> =
        (!opts.targets.is_empty()).then(|| closure(opts.targets.iter().copied(), |x| graph.preds(x)));
    // What this reconcile's work makes stale: everything downstream of what it rebuilt.
    let downstream: HashSet<NodeId> = if opts.rebuilt.is_empty() {
        HashSet::new()
    } else {
        closure(opts.rebuilt.iter().flat_map(|&x| graph.succs(x)), |x| graph.succs(x))
    };
    let stage_of = |x: NodeId| graph.registry.spec(graph.node(x).rule).stage;
    let in_scope = |x: NodeId| -> bool {
        if !facts.observed(x) {
            return false;
        }
        let selected = opts.selected.as_ref().is_none_or(|s| s.contains(&x));
        if downstream.contains(&x) {
            return selected;
        }
        required.as_ref().is_none_or(|r| r.contains(&x))
            && selected
            && (opts.stages.is_empty() || opts.stages.contains(&stage_of(x)))
    };
    // An existing judge prompt is the source of truth for judge re-runs (it cannot be rebuilt
    // without the workspace): --force over a selection leaves prompts alone; naming one forces it.
    let forced = |x: NodeId| -> bool {
        let spec = graph.registry.spec(graph.node(x).rule);
        opts.force
            && if opts.targets.is_empty() {
                in_scope(x) && !matches!(spec.stale_when, StaleWhen::InputsChange(_))
                    || (in_scope(x) && spec.strategy == Strategy::Execute)
            } else {
                explicit.contains(&x)
            }
    };

    // Walk the graph in order: a node's own verdict (from its facts and stamp alone), then the
    // cascades from what is rebuilt upstream.
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(graph.len());
    let mut rebuild = vec![false; graph.len()];
    let mut actions = Vec::new();
    let (mut cost, mut secs, mut held_cost) = (0.0, 0.0, 0.0);
    for x in graph.nodes() {
        if !in_scope(x) {
            verdicts.push(Verdict::Outside);
            continue;
        }
        let own = own(graph, facts, stamps, parts, x);
        let spec = graph.registry.spec(graph.node(x).rule);
        let strategy = spec.strategy;
        // Until something is rebuilt (an action is made) nothing cascades, and an aggregate's
        // predecessors (every run's nodes, for the experiment's) need not be listed.
        let mut upstream: Vec<Cause> = if !actions.is_empty() {
            graph
                .preds(x)
                .into_iter()
                .filter(|p| rebuild[p.index()])
                .map(|p| Cause::new(CauseKind::UpstreamStale, p, CauseWhat::Nothing))
                .collect()
        } else {
            Vec::new()
        };
        upstream.dedup_by(|a, b| a.node == b.node);
        let mut is_forced = forced(x);
        let own_fresh = matches!(own, Own::Fresh { .. });
        let (mut causes, hold): (Vec<Cause>, Option<Hold>) = match own {
            Own::Fresh { adopt } if upstream.is_empty() && !is_forced => {
                verdicts.push(Verdict::Fresh { adopt });
                continue;
            }
            Own::Fresh { .. } => (Vec::new(), None),
            Own::Stale(c) => (c, None),
            Own::Failed(class, c) => (c, (!opts.rerun.contains(&class)).then_some(Hold::Policy)),
            Own::Unconfirmed(c) => {
                let allowed = is_forced || explicit.contains(&x);
                is_forced = false;
                (c, (!allowed).then_some(Hold::NeedsForce))
            }
            // Only a re-executed agent brings a workspace back; until then nothing can be done.
            Own::Unbuildable(c) => {
                if upstream.is_empty() {
                    verdicts.push(Verdict::Blocked(c.into_iter().next().map(Box::new)));
                    continue;
                }
                (c, None)
            }
            Own::Blocked(c) => {
                if upstream.is_empty() && !is_forced {
                    verdicts.push(Verdict::Blocked(c.map(Box::new)));
                    continue;
                }
                (Vec::new(), None)
            }
        };
        // An execution needs what its blocked upstream cannot build (a judge whose prompt is gone
        // with the workspace it was built from): running it would fail at once, after paying.
        if strategy == Strategy::Execute
            && !is_forced
            && let Some(c) = graph.preds(x).into_iter().find_map(|p| match &verdicts[p.index()] {
                Verdict::Blocked(c) => Some(c.clone()),
                _ => None,
            })
        {
            verdicts.push(Verdict::Blocked(c));
            continue;
        }
        if is_forced {
            causes.insert(0, Cause::new(CauseKind::Forced, x, CauseWhat::Nothing));
        }
        causes.extend(upstream);
        let mut hold = hold;
        if opts.failed.contains(&x) {
            hold = Some(Hold::Failed);
        }
        if hold.is_none() && strategy == Strategy::Execute && opts.regenerate_only {
            hold = Some(Hold::RegenerateOnly);
        }
        if hold.is_none()
            && strategy == Strategy::Execute
            && !opts.stages.is_empty()
            && !opts.stages.contains(&spec.stage)
        {
            hold = Some(Hold::Stage);
        }
        let estimate = estimate(x);
        if hold.is_none()
            && strategy == Strategy::Execute
            && let Some(max) = opts.max_cost
            && cost + estimate.cost_usd > max + 1e-9
        {
            hold = Some(Hold::Budget);
        }
        match hold {
            Some(h) => {
                if matches!(h, Hold::NeedsForce | Hold::Budget) {
                    held_cost += estimate.cost_usd;
                }
                verdicts.push(Verdict::Held(h, causes));
            }
            None => {
                rebuild[x.index()] = true;
                if strategy == Strategy::Execute {
                    cost += estimate.cost_usd;
                    secs += estimate.seconds;
                }
                let cascade_only = own_fresh && causes.iter().all(|c| c.kind.is_cascade());
                actions.push(Action { node: x, strategy, causes: causes.clone(), cascade_only });
                verdicts.push(Verdict::Stale(causes));
            }
        }
    }
    Plan { verdicts, actions, cost_usd: cost, seconds: secs, held_cost_usd: held_cost }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Experiment;
    use crate::experiment::files::RunFile;
    use crate::rules::finding::{Failure, FailureKind};
    use crate::rules::{Estimate, Registry};
    use std::collections::HashMap;

    /// A two-run experiment in memory: every node fresh and stamped, no file anywhere.
    struct World {
        graph: Graph,
        facts: Facts,
        stamps: HashMap<NodeId, Stamp>,
        estimates: HashMap<NodeId, Estimate>,
    }

    fn parts_of(n: NodeId, version: u32) -> Parts {
        Parts { rule: version, params: vec![("node".into(), n.index().to_string())], ..Parts::default() }
    }

    impl World {
        fn new() -> World {
            let exp = Experiment::in_memory(&["T0"], &["00"], 2, &["judge-a", "judge-b"]);
            let graph = Graph::new(&exp, Registry::standard());
            let mut facts = Facts::empty(graph.len(), graph.runs());
            let mut stamps = HashMap::new();
            for n in graph.nodes() {
                let parts = parts_of(n, 1);
                facts.set(n, parts.digest(), Finding::Fresh);
                stamps.insert(n, parts.stamp(false, 0));
            }
            World { graph, facts, stamps, estimates: HashMap::new() }
        }

        fn node(&self, id: &str) -> NodeId {
            self.graph.find(id).unwrap_or_else(|| panic!("{id} is a node"))
        }

        /// The node now has this finding, and a digest its stamp does not have.
        fn damage(&mut self, id: &str, finding: Finding) {
            let n = self.node(id);
            self.facts.set(n, parts_of(n, 2).digest(), finding);
        }

        fn plan(&self, opts: &PlanOptions) -> Plan {
            let estimate = |n: NodeId| self.estimates.get(&n).copied().unwrap_or_default();
            plan(&self.graph, &self.facts, &self.stamps, &|n| Some(parts_of(n, 2)), &estimate, opts)
        }
    }

    fn everything() -> PlanOptions {
        PlanOptions { rerun: FailureClass::ALL.into_iter().collect(), ..PlanOptions::default() }
    }

    fn failed(class: FailureClass, kind: FailureKind) -> Finding {
        let file = RunFile::of("agent/result.json").expect("a run file");
        Finding::Failed(Box::new(Failure { class, kind, file, message: None }))
    }

    fn planned<'a>(w: &'a World, p: &'a Plan) -> Vec<String> {
        p.actions.iter().map(|a| w.graph.id(a.node)).collect()
    }

    #[test]
    fn stamped_fresh_nodes_need_nothing() {
        let w = World::new();
        let p = w.plan(&everything());
        assert!(p.actions.is_empty() && !p.pending());
        assert!(p.verdicts.iter().all(|v| *v == Verdict::Fresh { adopt: false }));
    }

    #[test]
    fn right_outputs_without_stamps_are_adopted_not_rebuilt() {
        let mut w = World::new();
        w.stamps.clear();
        let p = w.plan(&everything());
        assert!(p.actions.is_empty());
        assert!(p.verdicts.iter().all(|v| *v == Verdict::Fresh { adopt: true }));
    }

    #[test]
    fn a_missing_file_is_rebuilt_and_what_reads_it_follows() {
        let mut w = World::new();
        let file = RunFile::of("agent/result.json").expect("a run file");
        w.damage("T0/00/run_01/agent/result.json", Finding::Missing(file));
        let p = w.plan(&everything());
        let ids = planned(&w, &p);
        assert_eq!(ids.first().map(String::as_str), Some("T0/00/run_01/agent/result.json"));
        assert_eq!(p.actions[0].causes[0].kind, CauseKind::MissingOutput);
        assert!(!p.actions[0].cascade_only);
        // Downstream in order, each only because something upstream is rebuilt.
        for id in ["T0/00/run_01/run_result.json", "T0/00/report.json", "T0/result.json", "result.json"] {
            let a = p.actions.iter().find(|a| w.graph.id(a.node) == id).unwrap_or_else(|| panic!("{id}: {ids:?}"));
            assert!(a.cascade_only && a.causes.iter().all(|c| c.kind == CauseKind::UpstreamStale), "{id}");
        }
        assert!(ids.iter().all(|id| !id.starts_with("T0/00/run_02/")), "the other run is untouched: {ids:?}");
        let pos = |id: &str| ids.iter().position(|x| x == id);
        assert!(pos("T0/00/run_01/run_result.json") < pos("T0/00/report.json"), "topological order");
    }

    #[test]
    fn a_failure_is_re_executed_only_when_its_class_is() {
        let mut w = World::new();
        w.damage("T0/00/run_02/agent", failed(FailureClass::Timeout, FailureKind::TimedOut));
        let agent = w.node("T0/00/run_02/agent");
        let p = w.plan(&everything());
        assert!(matches!(p.verdict(agent), Verdict::Stale(c) if c[0].kind == CauseKind::PreviousFailure));
        assert_eq!(p.actions[0].strategy, Strategy::Execute);

        let mut no_timeouts = everything();
        no_timeouts.rerun.remove(&FailureClass::Timeout);
        let p = w.plan(&no_timeouts);
        assert!(matches!(p.verdict(agent), Verdict::Held(Hold::Policy, _)));
        assert!(p.pending(), "held work is work left");
        assert!(p.actions.iter().all(|a| w.graph.run_of(a.node) != Some(1)), "nothing below a held agent is rebuilt");
    }

    #[test]
    fn regenerate_only_holds_executions_and_still_regenerates() {
        let mut w = World::new();
        w.damage("T0/00/run_01/judge/judge_02", Finding::NeverRan);
        let file = RunFile::of("run_result.json").expect("a run file");
        w.damage("T0/00/run_02/run_result.json", Finding::Missing(file));
        let p = w.plan(&PlanOptions { regenerate_only: true, ..everything() });
        let slot = w.node("T0/00/run_01/judge/judge_02");
        assert!(matches!(p.verdict(slot), Verdict::Held(Hold::RegenerateOnly, _)));
        assert!(planned(&w, &p).contains(&"T0/00/run_02/run_result.json".to_string()));
        assert!(p.actions.iter().all(|a| a.strategy == Strategy::Regenerate));
    }

    #[test]
    fn the_budget_holds_what_would_exceed_it() {
        let mut w = World::new();
        for run in ["run_01", "run_02"] {
            let id = format!("T0/00/{run}/agent");
            w.damage(&id, failed(FailureClass::RateLimit, FailureKind::RateLimited));
            let n = w.node(&id);
            w.estimates.insert(n, Estimate { cost_usd: 1.0, seconds: 30.0 });
        }
        let p = w.plan(&PlanOptions { max_cost: Some(1.5), ..everything() });
        let agents: Vec<_> = p.actions.iter().filter(|a| w.graph.id(a.node).ends_with("/agent")).collect();
        assert_eq!(agents.len(), 1);
        assert!((p.cost_usd - 1.0).abs() < 1e-9);
        assert!(matches!(p.verdict(w.node("T0/00/run_02/agent")), Verdict::Held(Hold::Budget, _)));
    }

    #[test]
    fn a_target_brings_only_what_it_needs() {
        let mut w = World::new();
        let file = RunFile::of("agent/result.json").expect("a run file");
        w.damage("T0/00/run_01/agent/result.json", Finding::Missing(file));
        w.damage("T0/00/run_02/agent/result.json", Finding::Missing(file));
        let target = w.node("T0/00/run_02/run_result.json");
        let p = w.plan(&PlanOptions { targets: vec![target], ..everything() });
        assert_eq!(planned(&w, &p), ["T0/00/run_02/agent/result.json", "T0/00/run_02/run_result.json"]);
        assert_eq!(*p.verdict(w.node("T0/00/run_01/agent/result.json")), Verdict::Outside);
    }

    #[test]
    fn force_on_a_node_rebuilds_it_and_what_follows() {
        let w = World::new();
        let agent = w.node("T0/00/run_01/agent");
        let p = w.plan(&PlanOptions { targets: vec![agent], force: true, ..everything() });
        assert_eq!(p.actions[0].node, agent);
        assert_eq!(p.actions[0].causes[0].kind, CauseKind::Forced);
        // Once it is rebuilt, what it made stale is in scope though the target is upstream of it.
        let mut w = w;
        w.damage("T0/00/run_01/judge/judge_01", Finding::NeverRan);
        let p = w.plan(&PlanOptions { targets: vec![agent], rebuilt: [agent].into_iter().collect(), ..everything() });
        let ids = planned(&w, &p);
        assert_eq!(ids.first().map(String::as_str), Some("T0/00/run_01/judge/judge_01"), "{ids:?}");
        assert!(ids.contains(&"result.json".to_string()), "up to the experiment: {ids:?}");
    }
}
