//! `darn graph`: the dependency graph as Graphviz DOT or JSON.

use crate::cli::GraphFormat;
use crate::engine::Engine;
use crate::error::Result;
use crate::graph::Strategy;
use crate::plan::{PlanOptions, Verdict};
use crate::printer::Printer;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
struct GraphNode {
    id: String,
    strategy: Strategy,
    stage: crate::select::Stage,
    /// fresh, stale, held, blocked.
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct GraphJson {
    nodes: Vec<GraphNode>,
    edges: Vec<(String, String)>,
}

/// `darn graph`: the targets and everything they depend on (default: the whole graph).
pub fn run(engine: &Engine, targets: &[String], format: Option<GraphFormat>, printer: &Printer) -> Result<i32> {
    let g = &engine.graph.g;
    let roots = engine.targets(targets)?;
    let keep: BTreeSet<NodeIndex> = if roots.is_empty() {
        g.node_indices().collect()
    } else {
        let mut seen = BTreeSet::new();
        let mut stack = roots.clone();
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(g.neighbors_directed(x, Direction::Incoming));
            }
        }
        seen
    };
    let plan = engine.plan(&PlanOptions { rerun: engine.rerun_classes()?, ..PlanOptions::default() });
    let state = |n: NodeIndex| match plan.verdicts[n.index()] {
        Verdict::Fresh { .. } | Verdict::Outside => "fresh",
        Verdict::Stale(_) => "stale",
        Verdict::Held(..) => "held",
        Verdict::Blocked => "blocked",
    };
    let edges: Vec<(NodeIndex, NodeIndex)> = g
        .edge_indices()
        .filter_map(|e| g.edge_endpoints(e))
        .filter(|(a, b)| keep.contains(a) && keep.contains(b))
        .collect();
    let format = format.unwrap_or(if printer.json { GraphFormat::Json } else { GraphFormat::Dot });
    match format {
        GraphFormat::Json => {
            let nodes = keep
                .iter()
                .map(|n| {
                    let node = engine.graph.node(*n);
                    GraphNode {
                        id: node.id.clone(),
                        strategy: node.kind.strategy(),
                        stage: node.kind.stage(),
                        state: state(*n),
                    }
                })
                .collect();
            let edges = edges
                .iter()
                .map(|(a, b)| (engine.graph.node(*a).id.clone(), engine.graph.node(*b).id.clone()))
                .collect();
            printer.json_out(&GraphJson { nodes, edges });
        }
        GraphFormat::Dot => {
            let mut out = String::from("digraph darn {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
            for n in &keep {
                let node = engine.graph.node(*n);
                let color = match state(*n) {
                    "fresh" => "palegreen",
                    "stale" => "gold",
                    "held" => "lightsalmon",
                    _ => "lightgray",
                };
                let shape = if node.kind.strategy() == Strategy::Execute { ", shape=ellipse" } else { "" };
                out.push_str(&format!("  \"{}\" [style=filled, fillcolor={color}{shape}];\n", node.id));
            }
            for (a, b) in &edges {
                out.push_str(&format!("  \"{}\" -> \"{}\";\n", engine.graph.node(*a).id, engine.graph.node(*b).id));
            }
            out.push_str("}\n");
            printer.out(&out);
        }
    }
    Ok(0)
}
