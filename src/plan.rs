//! The planner: one pure function from (graph, facts, stamps, options) to ordered actions, each
//! with a strategy and typed causes. `status`, `plan`, `why`, `reconcile --dry-run` and
//! `reconcile` all use it, so a dry run cannot disagree with a real run.
//!
//! No I/O happens here: everything about the files comes in as [`NodeFacts`].

use crate::graph::{Graph, NodeKind, Strategy};
use crate::observe::{AgentOutcome, Check, FailureClass, SlotState};
use crate::select::Stage;
use crate::stamp::{Hash, Journal, Stamp, short_hex};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

/// Why a node is stale (CONTRACT CAUSE kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// An output file is absent.
    MissingOutput,
    /// An output exists but is unparseable, incomplete, or disagrees with its inputs.
    InvalidOutput,
    /// An input's content differs from what the node was built from.
    InputChanged,
    /// darn's rule for the node changed since it was built.
    RuleChanged,
    /// A configuration value the node depends on changed (e.g. a judge model).
    ConfigChanged,
    /// An upstream node will be rebuilt first.
    UpstreamStale,
    /// An upstream node was rebuilt and its output changed.
    UpstreamRebuilt,
    /// `--force`.
    Forced,
    /// The last execution failed (the detail names the failure class).
    PreviousFailure,
    /// No stamp yet: the output was validated against its inputs and is adopted as is.
    NeverStamped,
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
        }
    }

    /// Root causes are a node's own; cascades point at another node.
    pub fn is_cascade(self) -> bool {
        matches!(self, CauseKind::UpstreamStale | CauseKind::UpstreamRebuilt)
    }
}

/// One cause, pointing at the node it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    pub kind: CauseKind,
    /// The node the cause is about (the stale node itself, or the upstream node).
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The failure class for `previous_failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
}

impl Cause {
    pub fn new(kind: CauseKind, node: &str) -> Self {
        Cause { kind, node: node.to_string(), path: None, detail: None, failure: None }
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What is on disk for a node, as observation found it.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeState {
    /// A derived file (or group of files).
    Regen(Check),
    /// The agent execution.
    Agent(AgentOutcome),
    /// A judge slot execution.
    Slot(SlotState),
    /// The judge prompt: present, or whether it can be rebuilt (needs a workspace).
    JudgePrompt { exists: bool, buildable: bool },
    /// The run was not observed (not selected).
    Unknown,
}

/// Everything the planner knows about one node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub state: NodeState,
    /// The rule version of the node's rule now.
    pub rule: u32,
    /// Parameters that decide the output, by name, as configured now.
    pub params: Vec<(&'static str, String)>,
    /// Content hashes of the inputs now.
    pub inputs: Vec<(Cow<'static, str>, Hash)>,
    /// Content hashes of the outputs now.
    pub outputs: Vec<(&'static str, Hash)>,
    /// For executions: the model the existing output was produced with, when known.
    pub recorded_model: Option<String>,
    /// The directory of the node's files, relative to the experiment (shared by a run's nodes).
    pub dir: Arc<str>,
    /// The node's main file, relative to `dir`.
    pub file: &'static str,
    /// Estimated (USD, seconds) for an execution.
    pub estimate: (f64, f64),
}

impl NodeFacts {
    pub fn unknown() -> Self {
        NodeFacts {
            state: NodeState::Unknown,
            rule: 0,
            params: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            recorded_model: None,
            dir: Arc::from(""),
            file: "",
            estimate: (0.0, 0.0),
        }
    }

    /// The node's main file, relative to the experiment.
    pub fn path(&self) -> String {
        match (self.dir.is_empty(), self.file.is_empty()) {
            (true, _) => self.file.to_string(),
            (false, true) => self.dir.to_string(),
            (false, false) => format!("{}/{}", self.dir, self.file),
        }
    }

    /// The digest a stamp of these facts would have (see [`crate::stamp::digest`]).
    pub fn digest(&self) -> Hash {
        crate::stamp::digest(
            self.rule,
            self.params.iter().map(|(k, v)| (*k, v.as_str())),
            self.inputs.iter().map(|(k, v)| (k.as_ref(), v)),
            self.outputs.iter().map(|(k, v)| (*k, v)),
        )
    }

    /// A stamp recording these facts.
    pub fn to_stamp(&self, adopted: bool, at: i64) -> Stamp {
        Stamp {
            rule: self.rule,
            adopted,
            params: self.params.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect(),
            inputs: self.inputs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            outputs: self.outputs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
            at,
        }
    }
}

/// Why a stale node is not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// The agent's configuration changed: re-running costs money, so it needs `--force` or
    /// an explicit target.
    NeedsForce,
    /// `--regenerate-only`.
    RegenerateOnly,
    /// The failure class is not in `[execution] rerun`.
    Policy,
    /// `--max-cost` would be exceeded.
    Budget,
    /// It needs a workspace that no longer exists.
    Unbuildable,
}

/// The planner's verdict on a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Up to date. `adopt` when there is no stamp yet (or the output changed but still
    /// agrees): reconcile records one without rebuilding.
    Fresh { adopt: bool },
    /// Will be rebuilt.
    Stale(Vec<Cause>),
    /// Stale, but not acted on; the causes say why it is stale.
    Held(Hold, Vec<Cause>),
    /// Cannot be judged or built until an upstream node is fixed, and none is planned.
    Blocked,
    /// Outside the targets or the selection.
    Outside,
}

/// One planned action.
#[derive(Debug, Clone)]
pub struct Action {
    pub node: NodeIndex,
    pub strategy: Strategy,
    pub causes: Vec<Cause>,
}

/// Options that shape a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Explicit targets (empty: everything selected).
    pub targets: Vec<NodeIndex>,
    /// Nodes the SELECT filters keep (`None`: all).
    pub selected: Option<HashSet<NodeIndex>>,
    pub force: bool,
    pub regenerate_only: bool,
    pub max_cost: Option<f64>,
    /// Failure classes that are re-executed.
    pub rerun: HashSet<FailureClass>,
    /// `--stage` filters.
    pub stages: Vec<Stage>,
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
}

fn param_diffs(old: &[(String, String)], new: &[(&'static str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in new {
        match old.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov != v => out.push(format!("{k}: {ov} → {v}")),
            None => out.push(format!("{k}: (none) → {v}")),
            _ => {}
        }
    }
    for (k, v) in old {
        if !new.iter().any(|(nk, _)| nk == k) {
            out.push(format!("{k}: {v} → (none)"));
        }
    }
    out
}

fn input_diffs(old: &[(String, Hash)], new: &[(Cow<'static, str>, Hash)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in new {
        match old.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov != v => out.push((k.to_string(), format!("{k}: {} → {}", short_hex(ov), short_hex(v)))),
            None => out.push((k.to_string(), format!("{k}: (not an input before) → {}", short_hex(v)))),
            _ => {}
        }
    }
    for (k, v) in old {
        if !new.iter().any(|(nk, _)| nk == k) {
            out.push((k.clone(), format!("{k}: {} → (no longer an input)", short_hex(v))));
        }
    }
    out
}

/// A node's own causes (no cascades), and whether a fresh node should be (re)adopted.
///
/// The stamp is looked at through its digest first; it is decoded only to explain a change.
pub fn own_causes(id: &str, kind: NodeKind, f: &NodeFacts, journal: &Journal) -> OwnVerdict {
    let recorded = journal.digest(id);
    // Nothing that decides the node changed since it was stamped.
    let same = recorded.is_some_and(|d| d == f.digest());
    let decoded = std::cell::OnceCell::new();
    let stamp = || decoded.get_or_init(|| journal.get(id)).as_ref();
    let cause = |k: CauseKind| Cause::new(k, id).path(f.path());
    let stamp_diffs = |causes: &mut Vec<Cause>| {
        if let Some(s) = stamp() {
            if s.rule != f.rule {
                causes.push(cause(CauseKind::RuleChanged).detail(format!("rule version {} → {}", s.rule, f.rule)));
            }
            for d in param_diffs(&s.params, &f.params) {
                causes.push(cause(CauseKind::ConfigChanged).detail(d));
            }
            for (name, d) in input_diffs(&s.inputs, &f.inputs) {
                causes.push(Cause::new(CauseKind::InputChanged, id).path(name).detail(d));
            }
        }
    };
    match &f.state {
        NodeState::Unknown => OwnVerdict::Fresh { adopt: false },
        NodeState::Regen(check) => match check {
            Check::Ok => OwnVerdict::Fresh { adopt: !same },
            Check::Blocked => OwnVerdict::Blocked,
            Check::Missing => OwnVerdict::Stale(vec![cause(CauseKind::MissingOutput)]),
            Check::Invalid(why) => OwnVerdict::Stale(vec![cause(CauseKind::InvalidOutput).detail(why.clone())]),
            Check::Disagrees(why) => {
                let mut causes = Vec::new();
                stamp_diffs(&mut causes);
                if causes.is_empty() {
                    let what =
                        if recorded.is_some() { "changed since darn built it" } else { "disagrees with its inputs" };
                    causes.push(cause(CauseKind::InvalidOutput).detail(format!("{what}: {why}")));
                }
                OwnVerdict::Stale(causes)
            }
        },
        NodeState::JudgePrompt { exists, buildable } => {
            let changed: Vec<Cause> = (if same { None } else { stamp() })
                .map(|s| input_diffs(&s.inputs, &f.inputs))
                .unwrap_or_default()
                .into_iter()
                .map(|(name, d)| Cause::new(CauseKind::InputChanged, id).path(name).detail(d))
                .collect();
            if *exists && changed.is_empty() {
                OwnVerdict::Fresh { adopt: !same }
            } else if *exists && *buildable {
                OwnVerdict::Stale(changed)
            } else if *exists {
                OwnVerdict::Unbuildable(changed)
            } else if *buildable {
                OwnVerdict::Stale(vec![cause(CauseKind::MissingOutput)])
            } else {
                OwnVerdict::Unbuildable(vec![
                    cause(CauseKind::MissingOutput).detail("the workspace is gone, so it cannot be rebuilt"),
                ])
            }
        }
        NodeState::Agent(outcome) => match outcome {
            AgentOutcome::Missing => {
                OwnVerdict::Stale(vec![cause(CauseKind::MissingOutput).detail("the agent never ran")])
            }
            AgentOutcome::Partial { detail, file } => OwnVerdict::Stale(vec![
                Cause::new(CauseKind::InvalidOutput, id).path(file.clone()).detail(detail.clone()),
            ]),
            AgentOutcome::Failed { class, detail, file } => {
                let mut c = Cause::new(CauseKind::PreviousFailure, id).path(file.clone()).detail(detail.clone());
                c.failure = Some(*class);
                OwnVerdict::Failed(*class, vec![c])
            }
            AgentOutcome::Ok => {
                let mut causes = Vec::new();
                let configured = f.params.iter().find(|(k, _)| *k == "model").map(|(_, v)| v.as_str());
                match (&f.recorded_model, configured) {
                    (Some(rec), Some(conf)) if rec != conf => {
                        causes.push(cause(CauseKind::ConfigChanged).detail(format!("models[0]: {rec} → {conf}")));
                    }
                    // Only the configuration decides an agent run; its outputs are its own.
                    _ if !same => {
                        if let Some(s) = stamp() {
                            for d in param_diffs(&s.params, &f.params) {
                                causes.push(cause(CauseKind::ConfigChanged).detail(d));
                            }
                        }
                    }
                    _ => {}
                }
                if causes.is_empty() { OwnVerdict::Fresh { adopt: !same } } else { OwnVerdict::ConfigChanged(causes) }
            }
        },
        NodeState::Slot(state) => match state {
            SlotState::Missing => {
                OwnVerdict::Stale(vec![cause(CauseKind::MissingOutput).detail("the judge never ran")])
            }
            SlotState::Failed { class, detail, file } => {
                let mut c = Cause::new(CauseKind::PreviousFailure, id).path(file.clone()).detail(detail.clone());
                c.failure = Some(*class);
                OwnVerdict::Failed(*class, vec![c])
            }
            SlotState::Usable => {
                let mut causes = Vec::new();
                let configured = f.params.iter().find(|(k, _)| *k == "model").map(|(_, v)| v.clone());
                let slot_label = match kind {
                    NodeKind::JudgeSlot(n) => format!("judge_models[{}]", n - 1),
                    _ => "model".into(),
                };
                let recorded_model = f.recorded_model.clone().or_else(|| {
                    if same {
                        return None;
                    }
                    stamp().and_then(|s| s.params.iter().find(|(k, _)| k == "model")).map(|(_, v)| v.clone())
                });
                if let (Some(rec), Some(conf)) = (&recorded_model, &configured)
                    && rec != conf
                {
                    causes.push(cause(CauseKind::ConfigChanged).detail(format!("{slot_label}: {rec} → {conf}")));
                }
                if !same && let Some(s) = stamp() {
                    for (name, d) in input_diffs(&s.inputs, &f.inputs) {
                        causes.push(Cause::new(CauseKind::InputChanged, id).path(name).detail(d));
                    }
                }
                if causes.is_empty() { OwnVerdict::Fresh { adopt: !same } } else { OwnVerdict::Stale(causes) }
            }
        },
    }
}

/// A node's verdict before cascades and options.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnVerdict {
    Fresh {
        adopt: bool,
    },
    Stale(Vec<Cause>),
    /// An execution that failed with this class.
    Failed(FailureClass, Vec<Cause>),
    /// An agent whose configuration changed.
    ConfigChanged(Vec<Cause>),
    /// Waiting for upstream.
    Blocked,
    /// Missing and cannot be rebuilt here.
    Unbuildable(Vec<Cause>),
}

/// Makes the plan.
pub fn plan(graph: &Graph, facts: &[NodeFacts], journal: &Journal, opts: &PlanOptions) -> Plan {
    let n = graph.len();
    let g = &graph.g;
    // What the targets need: the targets and everything upstream of them.
    let explicit: HashSet<NodeIndex> = opts.targets.iter().copied().collect();
    let required: Option<HashSet<NodeIndex>> = if opts.targets.is_empty() {
        None
    } else {
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        let mut stack: Vec<NodeIndex> = opts.targets.clone();
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(g.neighbors_directed(x, Direction::Incoming));
            }
        }
        Some(seen)
    };
    let in_scope = |x: NodeIndex| -> bool {
        required.as_ref().is_none_or(|r| r.contains(&x))
            && opts.selected.as_ref().is_none_or(|s| s.contains(&x))
            && (opts.stages.is_empty() || opts.stages.contains(&g[x].kind.stage()))
    };
    // An existing judge prompt is the source of truth for judge re-runs (it cannot be rebuilt
    // without the workspace), so --force only rebuilds one that is named explicitly.
    let forced = |x: NodeIndex| -> bool {
        opts.force
            && if opts.targets.is_empty() {
                in_scope(x) && g[x].kind != NodeKind::JudgePrompt
            } else {
                explicit.contains(&x)
            }
    };

    // Each node's own verdict depends on nothing but its facts and stamp: decide them in
    // parallel, then walk the graph in order for the cascades.
    let owns: Vec<Option<OwnVerdict>> = g
        .node_indices()
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&x| in_scope(x).then(|| own_causes(&g[x].id, g[x].kind, &facts[x.index()], journal)))
        .collect();
    let mut owns = owns.into_iter();
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(n);
    let mut rebuild = vec![false; n];
    let mut actions = Vec::new();
    let (mut cost, mut secs, mut held_cost) = (0.0, 0.0, 0.0);
    for x in g.node_indices() {
        let node = &g[x];
        let f = &facts[x.index()];
        let Some(own) = owns.next().flatten() else {
            verdicts.push(Verdict::Outside);
            continue;
        };
        let mut upstream: Vec<Cause> = g
            .neighbors_directed(x, Direction::Incoming)
            .filter(|p| rebuild[p.index()])
            .map(|p| Cause::new(CauseKind::UpstreamStale, &g[p].id))
            .collect();
        upstream.sort_by(|a, b| a.node.cmp(&b.node));
        upstream.dedup_by(|a, b| a.node == b.node);
        // The judge prompt is rebuilt only for a re-executed agent: an existing one stays.
        if node.kind == NodeKind::JudgePrompt && matches!(own, OwnVerdict::Fresh { .. }) {
            let agent_runs = upstream.iter().any(|c| c.node.ends_with("/agent"));
            if !agent_runs {
                upstream.clear();
            }
        }
        let mut is_forced = forced(x);
        let strategy = node.kind.strategy();
        let (mut causes, hold): (Vec<Cause>, Option<Hold>) = match own {
            OwnVerdict::Fresh { adopt } if upstream.is_empty() && !is_forced => {
                verdicts.push(Verdict::Fresh { adopt });
                continue;
            }
            OwnVerdict::Fresh { .. } => (Vec::new(), None),
            OwnVerdict::Stale(c) => (c, None),
            OwnVerdict::Failed(class, c) => (c, (!opts.rerun.contains(&class)).then_some(Hold::Policy)),
            OwnVerdict::ConfigChanged(c) => {
                let allowed = is_forced || explicit.contains(&x);
                is_forced = false;
                (c, (!allowed).then_some(Hold::NeedsForce))
            }
            // Only a re-executed agent brings a workspace back; until then nothing can be done.
            OwnVerdict::Unbuildable(c) => {
                if upstream.is_empty() {
                    verdicts.push(Verdict::Blocked);
                    continue;
                }
                (c, None)
            }
            OwnVerdict::Blocked => {
                if upstream.is_empty() && !is_forced {
                    verdicts.push(Verdict::Blocked);
                    continue;
                }
                (Vec::new(), None)
            }
        };
        if is_forced {
            causes.insert(0, Cause::new(CauseKind::Forced, &node.id));
        }
        causes.extend(upstream);
        let mut hold = hold;
        if hold.is_none() && strategy == Strategy::Execute && opts.regenerate_only {
            hold = Some(Hold::RegenerateOnly);
        }
        if hold.is_none()
            && strategy == Strategy::Execute
            && let Some(max) = opts.max_cost
            && cost + f.estimate.0 > max + 1e-9
        {
            hold = Some(Hold::Budget);
        }
        match hold {
            Some(h) => {
                if matches!(h, Hold::NeedsForce | Hold::Budget) {
                    held_cost += f.estimate.0;
                }
                verdicts.push(Verdict::Held(h, causes));
            }
            None => {
                rebuild[x.index()] = true;
                if strategy == Strategy::Execute {
                    cost += f.estimate.0;
                    secs += f.estimate.1;
                }
                actions.push(Action { node: x, strategy, causes: causes.clone() });
                verdicts.push(Verdict::Stale(causes));
            }
        }
    }
    Plan { verdicts, actions, cost_usd: cost, seconds: secs, held_cost_usd: held_cost }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: NodeState) -> NodeFacts {
        NodeFacts {
            state,
            rule: 2,
            params: vec![("model", "m-new".into())],
            inputs: vec![(Cow::Borrowed("stdout"), [1; 16])],
            outputs: vec![("agent/result.json", [2; 16])],
            recorded_model: None,
            dir: Arc::from("T0/00/run_01"),
            file: "agent/result.json",
            estimate: (0.1, 10.0),
        }
    }

    fn stamp(rule: u32, model: &str, input: u8, output: u8) -> Stamp {
        Stamp {
            rule,
            adopted: false,
            params: vec![("model".into(), model.into())],
            inputs: vec![("stdout".into(), [input; 16])],
            outputs: vec![("agent/result.json".into(), [output; 16])],
            at: 0,
        }
    }

    /// A journal holding one stamp for node `n` (or none).
    fn journal(s: Option<Stamp>) -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::load(dir.path());
        if let Some(s) = s {
            j.append(vec![("n".into(), Some(s))]).expect("append");
        }
        (dir, j)
    }

    fn kinds(v: &OwnVerdict) -> Vec<CauseKind> {
        match v {
            OwnVerdict::Stale(c)
            | OwnVerdict::Failed(_, c)
            | OwnVerdict::ConfigChanged(c)
            | OwnVerdict::Unbuildable(c) => c.iter().map(|c| c.kind).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_valid_output_is_adopted_whatever_its_stamp_says() {
        let f = facts(NodeState::Regen(Check::Ok));
        let (_d, none) = journal(None);
        assert_eq!(own_causes("n", NodeKind::AgentResult, &f, &none), OwnVerdict::Fresh { adopt: true });
        let (_d, same) = journal(Some(f.to_stamp(false, 5)));
        assert_eq!(own_causes("n", NodeKind::AgentResult, &f, &same), OwnVerdict::Fresh { adopt: false });
        // Inputs changed but the output still agrees: re-adopted, not rebuilt.
        let (_d, other) = journal(Some(stamp(1, "m-old", 9, 9)));
        assert_eq!(own_causes("n", NodeKind::AgentResult, &f, &other), OwnVerdict::Fresh { adopt: true });
    }

    #[test]
    fn a_disagreeing_output_is_explained_by_its_stamp() {
        let f = facts(NodeState::Regen(Check::Disagrees("cost differs".into())));
        let (_d, j) = journal(Some(stamp(1, "m-old", 9, 2)));
        let v = own_causes("n", NodeKind::AgentResult, &f, &j);
        assert_eq!(kinds(&v), vec![CauseKind::RuleChanged, CauseKind::ConfigChanged, CauseKind::InputChanged]);
        if let OwnVerdict::Stale(c) = &v {
            assert_eq!(c[0].detail.as_deref(), Some("rule version 1 → 2"));
            assert_eq!(c[1].detail.as_deref(), Some("model: m-old → m-new"));
            assert!(c[2].detail.as_deref().is_some_and(|d| d.starts_with("stdout: 09090909 → 01010101")));
        }
        let (_d, none) = journal(None);
        assert_eq!(kinds(&own_causes("n", NodeKind::AgentResult, &f, &none)), vec![CauseKind::InvalidOutput]);
        let f = facts(NodeState::Regen(Check::Missing));
        assert_eq!(kinds(&own_causes("n", NodeKind::AgentResult, &f, &none)), vec![CauseKind::MissingOutput]);
    }

    #[test]
    fn executions() {
        let (_d, none) = journal(None);
        let failed = NodeState::Agent(AgentOutcome::Failed {
            class: FailureClass::RateLimit,
            detail: "limit".into(),
            file: "agent/stdout.log".into(),
        });
        let v = own_causes("n", NodeKind::Agent, &facts(failed), &none);
        assert!(matches!(v, OwnVerdict::Failed(FailureClass::RateLimit, _)));
        let mut f = facts(NodeState::Agent(AgentOutcome::Ok));
        f.recorded_model = Some("m-old".into());
        let v = own_causes("n", NodeKind::Agent, &f, &none);
        assert_eq!(kinds(&v), vec![CauseKind::ConfigChanged]);
        assert!(matches!(v, OwnVerdict::ConfigChanged(_)));
        let mut f = facts(NodeState::Slot(SlotState::Usable));
        f.recorded_model = Some("m-old".into());
        let v = own_causes("n", NodeKind::JudgeSlot(2), &f, &none);
        assert_eq!(kinds(&v), vec![CauseKind::ConfigChanged]);
        if let OwnVerdict::Stale(c) = v {
            assert_eq!(c[0].detail.as_deref(), Some("judge_models[1]: m-old → m-new"));
        }
        // A slot judged from another prompt is stale.
        let f = facts(NodeState::Slot(SlotState::Usable));
        let (_d, j) = journal(Some(stamp(1, "m-new", 7, 2)));
        let v = own_causes("n", NodeKind::JudgeSlot(1), &f, &j);
        assert_eq!(kinds(&v), vec![CauseKind::InputChanged]);
    }
}
