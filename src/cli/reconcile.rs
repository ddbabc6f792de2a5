//! `darn reconcile`: bring the targets up to date, to a fixed point.

use super::{Backend as BackendArg, Invocation, ReconcileArgs, options};
use crate::build::reconcile::reconcile;
use crate::build::retry::RetryPolicy;
use crate::build::scheduler::ExecOptions;
use crate::engine::lock::Lock;
use crate::error::{Error, Result};
use crate::exec::Backend;
use crate::experiment::settings::BackendName;
use crate::printer::Printer;
use std::sync::Arc;

pub fn run(ctx: &Invocation, args: &ReconcileArgs, printer: &Printer) -> Result<i32> {
    if args.judge_model.is_some() && args.plan.regenerate_only {
        return Err(Error::Usage(
            "--judge-model chooses the model of judge slots to execute; --regenerate-only executes none".into(),
        ));
    }
    if args.dry_run {
        return super::plan::run(ctx, &args.into(), printer);
    }
    let exp = ctx.open()?;
    let _lock = Lock::acquire(&exp.root)?;
    // Ctrl-C: stop launching, stop what runs, record what finished, exit 130.
    crate::util::interrupt::install();
    let mut engine =
        crate::engine::Engine::load(exp, crate::engine::LoadOptions { writable: true, aggregates: true }, &|_| true)?;
    let (mut opts, _) = options(&engine, &args.into(), &ctx.bases())?;
    let settings = &engine.exp.settings.execution;
    let slurm = match args.backend {
        Some(b) => b == BackendArg::Slurm,
        None => settings.backend == Some(BackendName::Slurm),
    };
    // Jobs in flight on Slurm: `-j`, else `[slurm] max_jobs`.
    let max_jobs = if slurm { engine.exp.settings.slurm.max_jobs } else { None };
    let exec = ExecOptions {
        execute: !args.plan.regenerate_only,
        jobs: args.jobs.or(max_jobs).or(settings.jobs).unwrap_or(2),
        keep_going: args.keep_going,
        retry: RetryPolicy {
            retries: settings.retries.unwrap_or(3),
            backoff: settings.backoff.unwrap_or(std::time::Duration::from_secs(10)),
        },
    };
    let mut executions = false;
    let mut first = engine.plan(&opts);
    if let Some(model) = &args.judge_model
        && exec.execute
        && choose_judge_model(&engine, &first, model)?
    {
        // The chosen model is a parameter of those slots now: load and plan again.
        engine = crate::engine::Engine::load(
            ctx.open()?,
            crate::engine::LoadOptions { writable: true, aggregates: true },
            &|_| true,
        )?;
        let (again, _) = options(&engine, &args.into(), &ctx.bases())?;
        first = engine.plan(&again);
    }
    if exec.execute {
        // What will run must be able to: checked before anything does.
        let (agents, judges) = engine.executions(&first);
        crate::exec::local::check_config(&engine.exp, agents, judges, true)?;
        executions = agents || judges;
    }
    let (expected, names) = crate::printer::progress::expect(&engine, &first, exec.jobs);
    if args.judge_model.is_some() {
        opts = options(&engine, &args.into(), &ctx.bases())?.0;
    }
    #[cfg(unix)]
    if !slurm && executions && crate::exec::slurm::jobs_recorded(&engine.exp.root) {
        printer.warn(
            "a reconcile with --backend slurm left jobs in flight (.darn/slurm/); reconcile with --backend slurm to collect them, else their executions are redone here",
        );
    }
    #[cfg(unix)]
    let backend: Option<Arc<dyn Backend + Send + Sync>> = {
        let local = crate::exec::local::Local {
            exp: Arc::clone(&engine.exp),
            outcome: engine.outcome_fn(),
            grace: crate::exec::process::DEFAULT_GRACE,
        };
        if slurm && exec.execute {
            let settings = engine.exp.settings.slurm.clone();
            let backend = crate::exec::slurm::Slurm::new(local, &settings).map_err(Error::Usage)?;
            if executions {
                // The [slurm] settings, and the controller, before anything is archived.
                backend.check(crate::exec::local::longest_timeout(&engine.exp)).map_err(Error::Usage)?;
            }
            Some(Arc::new(backend))
        } else {
            Some(Arc::new(local))
        }
    };
    #[cfg(not(unix))]
    let backend: Option<Arc<dyn Backend + Send + Sync>> = {
        if slurm {
            return Err(Error::Usage("--backend slurm runs only on Unix".into()));
        }
        None
    };
    let bar = crate::printer::progress::Bar::new(printer, expected, names);
    let outcome = reconcile(&mut engine, &opts, Some(first), &exec, backend, &bar)?;
    bar.finish();
    if let Err(e) = engine.save_caches() {
        printer.warn(&format!("could not save darn's caches: {e} (the next run will be slower, nothing else)"));
    }
    let report = crate::printer::reconcile::report(&engine, &outcome);
    if printer.json {
        printer.json_out(&report);
    } else {
        printer.out(&crate::printer::reconcile::render(&report, printer));
    }
    engine.finish();
    Ok(if outcome.interrupted {
        130
    } else if outcome.work_left() {
        1
    } else {
        0
    })
}

/// Records `model` for every judge slot the plan executes (docs/contract.md#judge-models-for-single-slots);
/// whether any choice changed.
fn choose_judge_model(engine: &crate::engine::Engine, plan: &crate::engine::plan::Plan, model: &str) -> Result<bool> {
    if model.trim().is_empty() {
        return Err(Error::Usage("--judge-model needs a model name, e.g. claude-opus-4-6".into()));
    }
    let exp = &engine.exp;
    let mut choices = exp.judge_choices.clone();
    for a in plan.actions.iter().filter(|a| a.strategy == crate::rules::Strategy::Execute) {
        let slot = usize::from(engine.graph.node(a.node).slot);
        let Some(run) = engine.graph.run_of(a.node).filter(|_| slot >= 1) else { continue };
        let configured = exp.config.judge_models.get(slot - 1).map_or("", String::as_str);
        choices.choose(&exp.runs[run].key, slot, model, configured);
    }
    if choices == exp.judge_choices {
        return Ok(false);
    }
    choices.save(&exp.root)?;
    Ok(true)
}
