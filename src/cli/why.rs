//! `darn why TARGET...`: why each target is stale, down to the root causes.

use super::{Invocation, SelectArgs};
use crate::engine::explain::{explain, root_counts};
use crate::engine::plan::PlanOptions;
use crate::engine::select::Select;
use crate::error::{Error, Result};
use crate::printer::Printer;

pub fn run(ctx: &Invocation, targets: &[String], select_args: &SelectArgs, printer: &Printer) -> Result<i32> {
    let mut engine = ctx.load(false)?;
    let select = Select::parse(&select_args.values(), &engine.exp)?;
    if targets.is_empty() && select.is_empty() {
        return Err(Error::Usage("why needs a TARGET or a selection (--tier, --runs, ...)".into()));
    }
    let selected = engine.selected(&select);
    let mut nodes = engine.targets(targets, &ctx.bases())?;
    if targets.is_empty() {
        // A selection alone: its runs' stale nodes.
        nodes = engine.graph.nodes().filter(|n| engine.graph.run_of(*n).is_some()).collect();
    }
    if let Some(s) = &selected {
        nodes.retain(|n| s.contains(n));
    }
    if !select.stages.is_empty() {
        nodes.retain(|n| select.stages.contains(&engine.graph.registry.spec(engine.graph.node(*n).rule).stage));
    }
    let opts = PlanOptions { rerun: engine.rerun_classes()?, ..PlanOptions::default() };
    let plan = engine.plan(&opts);
    let unstamped = |n| crate::engine::journal::Stamps::digest(&engine.journal, n).is_none();
    let mut items: Vec<_> = nodes.iter().map(|n| explain(&engine.graph, &plan, *n, &unstamped)).collect();
    if targets.is_empty() {
        items.retain(|i| !i.fresh);
    }
    let counts = (items.len() > 1).then(|| root_counts(&engine.graph, &items));
    let report = crate::printer::why::report(&engine, &items, counts.as_ref());
    if printer.json {
        printer.json_out(&report);
    } else if report.targets.is_empty() {
        printer.out("nothing in the selection is stale\n");
    } else {
        printer.out(&crate::printer::why::render(&report, printer));
    }
    let _ = engine.save_caches();
    engine.finish();
    Ok(0)
}
