//! `darn graph`: the dependency graph of the targets (and the selection), as DOT or JSON.

use super::{GraphArgs, GraphFormat, Invocation};
use crate::engine::graph::NodeId;
use crate::engine::plan::PlanOptions;
use crate::engine::select::Select;
use crate::error::Result;
use crate::printer::Printer;
use std::collections::BTreeSet;

pub fn run(ctx: &Invocation, args: &GraphArgs, printer: &Printer) -> Result<i32> {
    let mut engine = ctx.load(false)?;
    let select = Select::parse(&args.select.values(), &engine.exp)?;
    let roots = engine.targets(&args.targets, &ctx.bases())?;
    let selected = engine.selected(&select);
    let g = &engine.graph;
    let depth = if args.no_upstream { Some(0) } else { args.depth };
    let mut keep: BTreeSet<NodeId> = if roots.is_empty() {
        g.nodes().collect()
    } else {
        // The targets and what they depend on, as deep as asked.
        let mut seen: BTreeSet<NodeId> = BTreeSet::new();
        let mut frontier: Vec<NodeId> = roots.clone();
        let mut level = 0;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for x in frontier {
                if seen.insert(x) && depth.is_none_or(|d| level < d) {
                    next.extend(g.preds(x));
                }
            }
            frontier = next;
            level += 1;
        }
        seen
    };
    if let Some(s) = &selected {
        keep.retain(|n| s.contains(n));
    }
    if !select.stages.is_empty() {
        keep.retain(|n| select.stages.contains(&g.registry.spec(g.node(*n).rule).stage));
    }
    if keep.len() > 200 && depth.is_none() && !args.targets.is_empty() {
        printer.warn(&format!(
            "the graph has {} nodes; --depth N or --no-upstream draws less of what the targets read",
            crate::printer::count(keep.len())
        ));
    }
    let plan = engine.plan(&PlanOptions { rerun: engine.rerun_classes()?, ..PlanOptions::default() });
    match args.format.unwrap_or(if printer.json { GraphFormat::Json } else { GraphFormat::Dot }) {
        GraphFormat::Json => printer.json_out(&crate::printer::graph::json(&engine, &plan, &keep)),
        GraphFormat::Dot => printer.out(&crate::printer::graph::dot(&engine, &plan, &keep)),
    }
    let _ = engine.save_caches();
    engine.finish();
    Ok(0)
}
