//! `darn graph`: the dependency graph as Graphviz DOT or JSON, coloured by the plan.

use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::plan::{Plan, Verdict};
use crate::rules::{Stage, Strategy};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Serialize)]
pub struct GraphNode {
    pub id: String,
    pub strategy: Strategy,
    pub stage: Stage,
    /// fresh, stale, held, blocked.
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct GraphJson {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<(String, String)>,
}

/// A node's state as the graph shows it, with its colour in DOT.
fn state(plan: &Plan, n: NodeId) -> (&'static str, &'static str) {
    match plan.verdict(n) {
        Verdict::Fresh { .. } | Verdict::Outside => ("fresh", "palegreen"),
        Verdict::Stale(_) => ("stale", "gold"),
        Verdict::Held(..) => ("held", "lightsalmon"),
        Verdict::Blocked(_) => ("blocked", "lightgray"),
    }
}

fn edges(engine: &Engine, keep: &BTreeSet<NodeId>) -> Vec<(NodeId, NodeId)> {
    keep.iter()
        .flat_map(|&n| engine.graph.preds(n).into_iter().filter(|p| keep.contains(p)).map(move |p| (p, n)))
        .collect()
}

pub fn json(engine: &Engine, plan: &Plan, keep: &BTreeSet<NodeId>) -> GraphJson {
    let nodes = keep
        .iter()
        .map(|&n| {
            let spec = engine.graph.registry.spec(engine.graph.node(n).rule);
            GraphNode { id: engine.graph.id(n), strategy: spec.strategy, stage: spec.stage, state: state(plan, n).0 }
        })
        .collect();
    let edges = edges(engine, keep).into_iter().map(|(a, b)| (engine.graph.id(a), engine.graph.id(b))).collect();
    GraphJson { nodes, edges }
}

pub fn dot(engine: &Engine, plan: &Plan, keep: &BTreeSet<NodeId>) -> String {
    let mut out = String::from("digraph darn {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    out.push_str(
        "  subgraph cluster_legend {\n    label=\"legend\"; fontsize=10;\n    \"fresh\" [style=filled, fillcolor=palegreen];\n    \"stale\" [style=filled, fillcolor=gold];\n    \"held\" [style=filled, fillcolor=lightsalmon];\n    \"blocked\" [style=filled, fillcolor=lightgray];\n    \"execution\" [shape=ellipse];\n    \"regeneration\" [shape=box];\n  }\n",
    );
    for &n in keep {
        let spec = engine.graph.registry.spec(engine.graph.node(n).rule);
        let color = state(plan, n).1;
        let shape = if spec.strategy == Strategy::Execute { ", shape=ellipse" } else { "" };
        out.push_str(&format!("  \"{}\" [style=filled, fillcolor={color}{shape}];\n", engine.graph.id(n)));
    }
    for (a, b) in edges(engine, keep) {
        out.push_str(&format!("  \"{}\" -> \"{}\";\n", engine.graph.id(a), engine.graph.id(b)));
    }
    out.push_str("}\n");
    out
}
