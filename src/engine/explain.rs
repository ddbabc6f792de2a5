//! `why`: a node's causes, followed down the graph to the root causes, the way `cargo report
//! rebuilds` separates root causes from cascades.

use super::graph::{Graph, NodeId};
use super::plan::{Cause, CauseKind, CauseWhat, Hold, Plan, Verdict};
use std::collections::HashSet;

/// What reconcile would do with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Nothing,
    Regenerate,
    Execute,
    Held(Hold),
    Blocked,
    Outside,
}

/// The explanation of one target.
#[derive(Debug, Clone)]
pub struct Explained {
    pub node: NodeId,
    /// Up to date (nothing to do).
    pub fresh: bool,
    pub doing: Doing,
    /// The node has no stamp of its own yet (it is adopted as it is, or will be).
    pub unstamped: bool,
    pub causes: Vec<Cause>,
    /// Root causes: the own causes of the nodes the cascade leads to, each node once.
    pub root_causes: Vec<Cause>,
    /// The cascade from the node down to each node with root causes.
    pub chain: Vec<Vec<NodeId>>,
}

/// The causes a verdict records (a blocked node points at the upstream nodes that are not
/// fresh, or says what it waits for).
pub fn verdict_causes(graph: &Graph, plan: &Plan, n: NodeId) -> Vec<Cause> {
    match plan.verdict(n) {
        Verdict::Stale(c) | Verdict::Held(_, c) => c.clone(),
        Verdict::Blocked(own) => {
            let upstream: Vec<Cause> = graph
                .preds(n)
                .into_iter()
                .filter(|p| !matches!(plan.verdict(*p), Verdict::Fresh { .. } | Verdict::Outside))
                .map(|p| Cause { kind: CauseKind::UpstreamStale, node: p, what: CauseWhat::Nothing })
                .collect();
            if upstream.is_empty() { own.iter().map(|c| (**c).clone()).collect() } else { upstream }
        }
        Verdict::Fresh { .. } | Verdict::Outside => Vec::new(),
    }
}

/// Explains one node. `unstamped` tells whether a node has no stamp.
pub fn explain(graph: &Graph, plan: &Plan, n: NodeId, unstamped: &dyn Fn(NodeId) -> bool) -> Explained {
    let verdict = plan.verdict(n);
    let causes = verdict_causes(graph, plan, n);
    let fresh = matches!(verdict, Verdict::Fresh { .. });
    let doing = match verdict {
        Verdict::Fresh { .. } => Doing::Nothing,
        Verdict::Stale(_) => match graph.registry.spec(graph.node(n).rule).strategy {
            crate::rules::Strategy::Execute => Doing::Execute,
            crate::rules::Strategy::Regenerate => Doing::Regenerate,
        },
        Verdict::Held(h, _) => Doing::Held(*h),
        Verdict::Blocked(_) => Doing::Blocked,
        Verdict::Outside => Doing::Outside,
    };
    let mut roots: Vec<Cause> = Vec::new();
    let mut chain: Vec<Vec<NodeId>> = Vec::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    // Depth first down the cascade; each path that ends at own causes is one chain.
    let mut stack: Vec<(NodeId, Vec<NodeId>)> = vec![(n, vec![n])];
    while let Some((x, path)) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        let cs = if x == n { causes.clone() } else { verdict_causes(graph, plan, x) };
        let mut own = false;
        for c in &cs {
            if c.kind.is_cascade() && c.node != x {
                let mut p = path.clone();
                p.push(c.node);
                stack.push((c.node, p));
            } else {
                own = true;
                if !roots.contains(c) {
                    roots.push(c.clone());
                }
            }
        }
        if own && x != n {
            chain.push(path);
        }
    }
    Explained { node: n, fresh, doing, unstamped: unstamped(n), causes, root_causes: roots, chain }
}

/// What a root node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RootWhat {
    AgentRun,
    JudgeSlot,
    RunFile,
    Aggregate,
}

/// Root nodes across many explanations, counted once each, by what they are: agent runs, judge
/// slots, other files of runs, aggregates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootCounts {
    pub agents: usize,
    pub slots: usize,
    pub run_files: usize,
    pub aggregates: usize,
    /// Distinct root nodes by what they are and their first root cause's kind.
    pub by_kind: Vec<(RootWhat, CauseKind, usize)>,
}

/// Counts the distinct root nodes of stale targets.
pub fn root_counts(graph: &Graph, items: &[Explained]) -> RootCounts {
    let mut nodes: Vec<(NodeId, CauseKind)> = Vec::new();
    for item in items.iter().filter(|i| !i.fresh) {
        for c in &item.root_causes {
            if !nodes.iter().any(|(n, _)| *n == c.node) {
                nodes.push((c.node, c.kind));
            }
        }
    }
    let mut out = RootCounts::default();
    for &(n, kind) in &nodes {
        let spec = graph.registry.spec(graph.node(n).rule);
        let what = match (spec.strategy, spec.scope.is_run()) {
            (crate::rules::Strategy::Execute, _) if spec.stage == crate::rules::Stage::Agent => {
                out.agents += 1;
                RootWhat::AgentRun
            }
            (crate::rules::Strategy::Execute, _) => {
                out.slots += 1;
                RootWhat::JudgeSlot
            }
            (crate::rules::Strategy::Regenerate, true) => {
                out.run_files += 1;
                RootWhat::RunFile
            }
            (crate::rules::Strategy::Regenerate, false) => {
                out.aggregates += 1;
                RootWhat::Aggregate
            }
        };
        match out.by_kind.iter_mut().find(|(w, k, _)| *w == what && *k == kind) {
            Some((_, _, c)) => *c += 1,
            None => out.by_kind.push((what, kind, 1)),
        }
    }
    out.by_kind.sort();
    out
}
