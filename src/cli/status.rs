//! `darn status`: every expected run's statuses, and what the plan has for it. Read-only.

use super::{Invocation, SelectArgs};
use crate::engine::plan::PlanOptions;
use crate::engine::select::Select;
use crate::engine::{Engine, LoadOptions};
use crate::error::Result;
use crate::printer::Printer;

pub fn run(ctx: &Invocation, args: &SelectArgs, printer: &Printer) -> Result<i32> {
    let exp = ctx.open()?;
    let select = Select::parse(&args.values(), &exp)?;
    // Only the runs a key filter keeps are looked at; what they need needs no aggregate.
    let keep: Vec<bool> = exp.runs.iter().map(|l| select.matches_key(&l.key)).collect();
    let mut engine = Engine::load(exp, LoadOptions { writable: false, aggregates: false }, &|r| keep[r])?;
    // The whole plan of the selected runs: `--stage` chooses which runs to show, by their work.
    let opts =
        PlanOptions { selected: engine.selected(&select), rerun: engine.rerun_classes()?, ..PlanOptions::default() };
    let plan = engine.plan(&opts);
    let report = {
        let _t = crate::util::trace::span("report");
        crate::printer::status::report(&engine, &plan, &select)
    };
    for w in &report.warnings {
        printer.warn(w);
    }
    if printer.json {
        printer.json_out(&report);
    } else if report.runs.is_empty() && !select.is_empty() {
        printer.out("no run matches the selection\n");
    } else {
        printer.out(&crate::printer::status::render(&report, printer));
    }
    {
        let _t = crate::util::trace::span("save caches");
        let _ = engine.save_caches();
    }
    engine.finish();
    Ok(0)
}
