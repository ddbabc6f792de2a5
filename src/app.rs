//! Dispatches a parsed command line to the commands.

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::printer::Printer;
use std::path::{Path, PathBuf};

/// Runs darn; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let printer = Printer::new(cli.json, cli.verbose, cli.quiet, cli.color);
    let start: PathBuf = cli.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let open = || -> Result<Experiment> {
        if !start.exists() {
            return Err(Error::io(&start, std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory")));
        }
        let _t = crate::util::trace::span("open");
        Experiment::open(&start, cli.config.as_deref())
    };
    match &cli.command {
        Command::Status(args) => crate::commands::status::run(&open()?, &args.select, &printer),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "darn", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf).map_err(|e| Error::io(Path::new("<stdout>"), e))?;
            printer.out(&String::from_utf8_lossy(&buf));
            Ok(0)
        }
        Command::Plan(args) => crate::commands::plan::run(open()?, &args.into(), &printer),
        Command::Why(args) => {
            let engine = crate::engine::Engine::load(open()?, &printer, false);
            let code = crate::commands::why::run(&engine, &args.targets, &printer);
            std::mem::forget(engine);
            code
        }
        Command::Graph(args) => {
            let engine = crate::engine::Engine::load(open()?, &printer, false);
            let code = crate::commands::graph::run(&engine, &args.targets, args.format, &printer);
            std::mem::forget(engine);
            code
        }
        Command::Reconcile(args) => crate::commands::reconcile::run(open()?, args, &printer),
        Command::Demo(args) => crate::commands::demo::run(args, &printer),
        Command::StandIn(args) => Ok(crate::demo::standin::main(&args.role, &args.args)),
    }
}
