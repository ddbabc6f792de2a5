//! `why`: a node's causes, followed down the graph to the root causes, the way
//! `cargo report rebuilds` separates root causes from cascades.

use crate::graph::{Graph, NodeKind};
use crate::plan::{Cause, CauseKind, Hold, Plan, Verdict};
use crate::stamp::Journal;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The explanation of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub node: String,
    /// Up to date (nothing to do).
    pub fresh: bool,
    /// What reconcile would do: `regenerate`, `execute`, `nothing`, or why not (`held: ...`,
    /// `blocked`).
    pub action: String,
    pub causes: Vec<Cause>,
    pub root_causes: Vec<Cause>,
    /// The cascade from the node down to each root cause, as node ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Vec<String>>,
}

fn hold_text(h: Hold) -> &'static str {
    match h {
        Hold::NeedsForce => "held: re-running the agent needs --force or an explicit target",
        Hold::RegenerateOnly => "held: --regenerate-only",
        Hold::Policy => "held: this failure class is not re-run ([execution] rerun)",
        Hold::Budget => "held: over the --max-cost budget",
        Hold::Unbuildable => "held: cannot be rebuilt here",
    }
}

/// The causes recorded in a verdict, with a `never_stamped` note for adopted outputs.
pub fn verdict_causes(graph: &Graph, plan: &Plan, journal: &Journal, n: NodeIndex) -> Vec<Cause> {
    let node = graph.node(n);
    match &plan.verdicts[n.index()] {
        Verdict::Stale(c) | Verdict::Held(_, c) => c.clone(),
        Verdict::Fresh { .. } => {
            let stamp = journal.get(&node.id);
            if stamp.as_ref().is_none_or(|s| s.adopted) {
                let detail = if stamp.is_some() {
                    "adopted without rebuilding: the output agreed with its inputs"
                } else {
                    "no stamp yet: the output agrees with its inputs and will be adopted, not rebuilt"
                };
                vec![Cause::new(CauseKind::NeverStamped, &node.id).detail(detail)]
            } else {
                Vec::new()
            }
        }
        Verdict::Blocked => {
            // Point at the upstream nodes that are not fresh.
            graph
                .g
                .neighbors_directed(n, Direction::Incoming)
                .filter(|p| !matches!(plan.verdicts[p.index()], Verdict::Fresh { .. } | Verdict::Outside))
                .map(|p| {
                    Cause::new(CauseKind::UpstreamStale, &graph.node(p).id).detail("waiting for this node to be fixed")
                })
                .collect()
        }
        Verdict::Outside => Vec::new(),
    }
}

/// Explains one node.
pub fn explain(
    graph: &Graph,
    plan: &Plan,
    journal: &Journal,
    n: NodeIndex,
    by_id: &dyn Fn(&str) -> Option<NodeIndex>,
) -> Explained {
    let node = graph.node(n);
    let verdict = &plan.verdicts[n.index()];
    let causes = verdict_causes(graph, plan, journal, n);
    let fresh = matches!(verdict, Verdict::Fresh { .. });
    let action = match verdict {
        Verdict::Fresh { .. } => "nothing".to_string(),
        Verdict::Stale(_) => match node.kind.strategy() {
            crate::graph::Strategy::Execute => "execute".to_string(),
            crate::graph::Strategy::Regenerate => "regenerate".to_string(),
        },
        Verdict::Held(h, _) => hold_text(*h).to_string(),
        Verdict::Blocked => "blocked: cannot be built until an upstream node is fixed".to_string(),
        Verdict::Outside => "outside the selection".to_string(),
    };
    let mut roots: Vec<Cause> = Vec::new();
    let mut chain: Vec<Vec<String>> = Vec::new();
    let mut seen: HashSet<NodeIndex> = HashSet::new();
    // Depth-first down the cascade; each path ending at own causes is one chain.
    let mut stack: Vec<(NodeIndex, Vec<String>)> = vec![(n, vec![node.id.clone()])];
    while let Some((x, path)) = stack.pop() {
        if !seen.insert(x) {
            continue;
        }
        let cs = if x == n { causes.clone() } else { verdict_causes(graph, plan, journal, x) };
        let mut own = false;
        for c in &cs {
            if c.kind.is_cascade() {
                if let Some(up) = by_id(&c.node)
                    && up != x
                {
                    let mut p = path.clone();
                    p.push(c.node.clone());
                    stack.push((up, p));
                }
            } else if !(fresh && c.kind == CauseKind::NeverStamped) || x == n {
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
    Explained { node: node.id.clone(), fresh, action, causes, root_causes: roots, chain }
}

/// A one-line count of root causes across many targets, e.g. "1,130 judge slots stale
/// (config_changed), 0 agent runs".
pub fn summarize(graph: &Graph, items: &[Explained], by_id: &dyn Fn(&str) -> Option<NodeIndex>) -> Vec<String> {
    let mut groups: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut agents = 0usize;
    let mut slots = 0usize;
    for item in items.iter().filter(|i| !i.fresh) {
        for c in &item.root_causes {
            let what = by_id(&c.node).map_or("node", |x| match graph.node(x).kind {
                NodeKind::Agent => "agent run",
                NodeKind::JudgeSlot(_) => "judge slot",
                k if k.is_run_node() => "run file",
                _ => "aggregate",
            });
            match what {
                "agent run" => agents += 1,
                "judge slot" => slots += 1,
                _ => {}
            }
            let detail = c.detail.clone().filter(|_| c.kind == CauseKind::ConfigChanged).unwrap_or_default();
            let label = if detail.is_empty() {
                format!("{what}|{}", c.kind.name())
            } else {
                format!("{what}|{} ({detail})", c.kind.name())
            };
            *groups.entry((label, c.kind.name())).or_default() += 1;
        }
    }
    let mut out: Vec<String> = groups
        .into_iter()
        .map(|((label, _), n)| {
            let (what, why) = label.split_once('|').unwrap_or((&label, ""));
            format!(
                "{} {} stale: {why}",
                crate::printer::count(n),
                if n == 1 { what.to_string() } else { format!("{what}s") }
            )
        })
        .collect();
    if !out.is_empty() {
        out.push(format!(
            "{} to execute: {} agent {}, {} judge {}",
            if agents + slots == 0 { "nothing" } else { "roots" },
            crate::printer::count(agents),
            if agents == 1 { "run" } else { "runs" },
            crate::printer::count(slots),
            if slots == 1 { "slot" } else { "slots" }
        ));
    }
    out
}
