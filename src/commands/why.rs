//! `darn why TARGET...`: why each target is stale, down to the root causes.

use crate::engine::Engine;
use crate::error::Result;
use crate::explain::{Explained, explain, summarize};
use crate::plan::PlanOptions;
use crate::printer::Printer;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct WhyReport {
    pub targets: Vec<Explained>,
    /// Root causes counted across all targets.
    pub summary: Vec<String>,
}

/// `darn why`.
pub fn run(engine: &Engine, targets: &[String], printer: &Printer) -> Result<i32> {
    let nodes = engine.targets(targets)?;
    let opts = PlanOptions { rerun: engine.rerun_classes()?, ..PlanOptions::default() };
    let plan = engine.plan(&opts);
    let by_id = engine.by_id();
    let items: Vec<Explained> =
        nodes.iter().map(|n| explain(&engine.graph, &plan, &engine.journal, *n, &by_id)).collect();
    let summary = if items.len() > 1 { summarize(&engine.graph, &items, &by_id) } else { Vec::new() };
    let report = WhyReport { targets: items, summary };
    if printer.json {
        printer.json_out(&report);
    } else {
        printer.out(&crate::printer::why::render(&report, printer));
    }
    Ok(0)
}
