//! darn's integration tests: one test binary driving the real `darn` executable over temporary
//! copies of the real fixture and generated demo experiments.
//!
//! `util` is the test builder (`Exp`); the other modules group the tests by what they check.

#[path = "cli/util.rs"]
mod util;

#[path = "cli/damage.rs"]
mod damage;

#[path = "cli/fixture.rs"]
mod fixture;

#[path = "cli/status.rs"]
mod status;

#[path = "cli/select.rs"]
mod select;

#[path = "cli/errors.rs"]
mod errors;

#[path = "cli/robust.rs"]
mod robust;

#[path = "cli/demo_cmd.rs"]
mod demo_cmd;

#[path = "cli/library.rs"]
mod library;

#[path = "cli/engine.rs"]
mod engine;

#[path = "cli/execute.rs"]
mod execute;

#[path = "cli/converge.rs"]
mod converge;

#[path = "cli/crash.rs"]
mod crash;

#[path = "cli/corpus.rs"]
mod corpus;

#[path = "cli/slurm.rs"]
mod slurm;

#[path = "cli/messages.rs"]
mod messages;

#[cfg(unix)]
#[path = "cli/terminal.rs"]
mod terminal;

#[path = "cli/help_cmd.rs"]
mod help_cmd;

#[path = "cli/workflows.rs"]
mod workflows;
