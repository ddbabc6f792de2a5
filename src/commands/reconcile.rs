//! `darn reconcile`: bring the targets up to date.

use crate::cli::{Backend, ReconcileArgs};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::printer::Printer;
use crate::reconcile::{INTERRUPTED, reconcile};
use crate::stamp::Lock;

/// `darn reconcile`.
pub fn run(exp: Experiment, args: &ReconcileArgs, printer: &Printer) -> Result<i32> {
    if args.backend == Backend::Slurm {
        return Err(Error::Usage("--backend slurm is not available in this build of darn; use --backend local".into()));
    }
    if args.dry_run {
        return crate::commands::plan::run(exp, &args.into(), printer);
    }
    let _lock = Lock::acquire(&exp.root)?;
    // Ctrl-C: finish the current wave, record it, exit 130.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, std::sync::Arc::clone(&INTERRUPTED));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, std::sync::Arc::clone(&INTERRUPTED));
    let mut engine = Engine::load(exp, printer, true);
    let opts = crate::commands::plan::options(&engine, &args.into())?;
    let plan = engine.plan(&opts);
    let exec = crate::reconcile::ExecOptions {
        execute: !args.regenerate_only,
        jobs: args.jobs.or(engine.exp.settings.execution.jobs).unwrap_or(2),
        keep_going: args.keep_going,
        retries: engine.exp.settings.execution.retries.unwrap_or(3),
        grace: crate::exec::process::DEFAULT_GRACE,
        backoff: engine.exp.settings.execution.backoff.unwrap_or(std::time::Duration::from_secs(10)),
    };
    let outcome = reconcile(&mut engine, &plan, printer, &exec)?;
    if printer.json {
        printer.json_out(&outcome);
    } else {
        printer.out(&crate::printer::reconcile::render(&outcome, printer));
    }
    // The process is about to exit: freeing a large experiment's facts one by one only costs time.
    std::mem::forget(engine);
    Ok(if outcome.interrupted {
        130
    } else if !outcome.failed.is_empty() || !outcome.pending_executions.is_empty() {
        1
    } else {
        0
    })
}
