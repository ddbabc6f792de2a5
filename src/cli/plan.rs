//! `darn plan` (and `reconcile --dry-run`): the actions reconcile would take. Writes nothing in
//! the experiment.

use super::{Invocation, PlanRequest, options};
use crate::error::Result;
use crate::printer::Printer;

pub fn run(ctx: &Invocation, req: &PlanRequest, printer: &Printer) -> Result<i32> {
    let mut engine = ctx.load(false)?;
    let (opts, _) = options(&engine, req, &ctx.bases())?;
    let plan = engine.plan(&opts);
    let (agents, judges) = engine.executions(&plan);
    crate::exec::local::check_config(&engine.exp, agents, judges, false)?;
    let jobs = req.jobs.or(engine.exp.settings.execution.jobs).unwrap_or(2);
    let report = crate::printer::plan::report(&engine, &plan, jobs);
    if printer.json {
        printer.json_out(&report);
    } else {
        printer.out(&crate::printer::plan::render(&report, printer));
    }
    let _ = engine.save_caches();
    engine.finish();
    Ok(i32::from(plan.pending()))
}
