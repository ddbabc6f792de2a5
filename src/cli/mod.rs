//! The command line: clap definitions ([`args`]) and one module per command, each of which
//! gathers what the engine says and hands it to the printer.

pub mod args;
mod demo;
mod graph;
pub mod help;
mod plan;
mod reconcile;
mod status;
mod why;

pub use args::*;

use crate::engine::plan::PlanOptions;
use crate::engine::select::Select;
use crate::engine::{Engine, LoadOptions};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::printer::Printer;
use std::path::PathBuf;

/// Parses the command line with the help that teaches (examples after every subcommand's
/// options); exits with clap's message and code 2 on a usage error.
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = help::command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Runs darn; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let color = match cli.color {
        args::ColorChoice::Auto => crate::printer::ColorChoice::Auto,
        args::ColorChoice::Always => crate::printer::ColorChoice::Always,
        args::ColorChoice::Never => crate::printer::ColorChoice::Never,
    };
    let printer = Printer::new(cli.json, cli.verbose, cli.quiet, color);
    let ctx = Invocation { dir: cli.dir.clone(), config: cli.config.clone() };
    // A load that takes more than a second says what it is doing (a first look reads everything).
    let _loading = matches!(
        cli.command,
        Command::Status(_) | Command::Plan(_) | Command::Why(_) | Command::Graph(_) | Command::Reconcile(_)
    )
    .then(|| crate::printer::loading::Loading::start(&printer));
    match &cli.command {
        Command::Status(args) => status::run(&ctx, &args.select, &printer),
        Command::Plan(args) => plan::run(&ctx, &args.into(), &printer),
        Command::Why(args) => why::run(&ctx, &args.targets, &args.select, &printer),
        Command::Graph(args) => graph::run(&ctx, args, &printer),
        Command::Reconcile(args) => reconcile::run(&ctx, args, &printer),
        Command::Demo(args) => demo::run(args, &printer),
        Command::Completions { shell } => {
            let mut cmd = help::command();
            clap_complete::generate(*shell, &mut cmd, "darn", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { subcommand, dir } => {
            help::man(subcommand.as_deref(), dir.as_deref(), &mut std::io::stdout().lock())?;
            Ok(0)
        }
        Command::StandIn(args) => Ok(crate::demo::standin::main(&args.role, &args.args)),
        #[cfg(unix)]
        Command::SlurmJob { spec, exit } => Ok(crate::exec::slurm::job_main(spec, exit)),
        #[cfg(not(unix))]
        Command::SlurmJob { .. } => Err(Error::Usage("darn slurm-job runs only on Unix".into())),
    }
}

/// What every command needs to find the experiment.
pub struct Invocation {
    pub dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

impl Invocation {
    /// Opens the experiment (`-C DIR`, else the nearest one around the current directory).
    pub fn open(&self) -> Result<Experiment> {
        let start = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        if !start.exists() {
            return Err(Error::io(&start, std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory")));
        }
        let _t = crate::util::trace::span("open");
        Experiment::open(&start, self.config.as_deref())
    }

    /// Where relative targets are looked for: the `-C` directory, then the current one.
    pub fn bases(&self) -> Vec<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let mut out = Vec::new();
        if let Some(d) = &self.dir {
            out.push(std::fs::canonicalize(d).unwrap_or_else(|_| cwd.join(d)));
        }
        out.push(cwd);
        out
    }

    /// Opens and loads everything (every run and the aggregates).
    pub fn load(&self, writable: bool) -> Result<Engine> {
        Engine::load(self.open()?, LoadOptions { writable, aggregates: true }, &|_| true)
    }
}

/// The flags that shape a plan, shared by `plan` and `reconcile`.
pub struct PlanRequest<'a> {
    pub targets: &'a [String],
    pub select: &'a SelectArgs,
    pub force: bool,
    pub regenerate_only: bool,
    pub max_cost: Option<f64>,
    /// `-j`: parallel executions (the wall-clock estimate of a plan assumes them).
    pub jobs: Option<usize>,
}

impl<'a> From<&'a PlanCmdArgs> for PlanRequest<'a> {
    fn from(a: &'a PlanCmdArgs) -> Self {
        PlanRequest { jobs: a.jobs, ..(&a.plan).into() }
    }
}

impl<'a> From<&'a PlanArgs> for PlanRequest<'a> {
    fn from(a: &'a PlanArgs) -> Self {
        PlanRequest {
            targets: &a.targets,
            select: &a.select,
            force: a.force,
            regenerate_only: a.regenerate_only,
            max_cost: a.max_cost,
            jobs: None,
        }
    }
}

impl<'a> From<&'a ReconcileArgs> for PlanRequest<'a> {
    fn from(a: &'a ReconcileArgs) -> Self {
        PlanRequest { jobs: a.jobs, ..(&a.plan).into() }
    }
}

/// The planner's options from the command line.
pub fn options(engine: &Engine, req: &PlanRequest, bases: &[PathBuf]) -> Result<(PlanOptions, Select)> {
    let select = Select::parse(&req.select.values(), &engine.exp)?;
    let targets = engine.targets(req.targets, bases)?;
    if let Some(m) = req.max_cost
        && !(m.is_finite() && m >= 0.0)
    {
        return Err(Error::Usage(format!("--max-cost must be a non-negative number of dollars, not {m}")));
    }
    let opts = PlanOptions {
        targets,
        selected: engine.selected(&select),
        force: req.force,
        regenerate_only: req.regenerate_only,
        max_cost: req.max_cost,
        rerun: engine.rerun_classes()?,
        stages: select.stages.clone(),
        ..PlanOptions::default()
    };
    Ok((opts, select))
}
