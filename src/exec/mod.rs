//! Executions: re-running an agent or a judge the way the runner does, behind one [`Backend`]
//! trait that the scheduler calls and tests replace.
//!
//! - [`template`]: `darn.toml` command templates → argv (and the `stdin` path).
//! - [`process`]: running one command in its own process group, with output streamed to files,
//!   a timeout, cancellation, and SIGTERM → grace → SIGKILL to the whole group.
//! - [`wait`]: how long to wait after a rate limit (`Retry-After`, `resets 4pm (Zone)`) or a
//!   transient failure (exponential backoff); pure functions of an explicit `now`.
//! - [`pipeline`]: the `[pipeline]` steps run on a re-executed agent's workspace.
//! - [`archive`]: moving a run or a judge slot to `.failed/…_attempt_MM` before re-executing it.
//! - [`local`]: the local backend, in steps (prepare, run the process, classify) that the Slurm
//!   backend shares.
//! - [`slurm`]: the Slurm backend: each process is an `sbatch` job, watched with `squeue`.

pub mod archive;
#[cfg(unix)]
pub mod local;
#[cfg(unix)]
pub mod pipeline;
#[cfg(unix)]
pub mod process;
#[cfg(unix)]
pub mod slurm;
pub mod template;
pub mod wait;

pub use archive::{archive_judge_slot, archive_run};
pub use wait::backoff;

use crate::rules::{Execution, FailureClass, Finding};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// One execution to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Index into `Experiment::runs`.
    pub run: usize,
    pub what: Execution,
    /// From 1.
    pub attempt: u32,
    /// The failure that made this execution necessary, for the attempt record.
    pub previous: Option<FailureClass>,
}

/// Why an execution did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecError {
    /// What its files show: a failed or incomplete agent, a failed judge call.
    Outcome(Finding),
    /// darn could not run it (the message names the file or the setting at fault).
    Setup(String),
    /// Stopped by Ctrl-C.
    Interrupted,
}

/// What one execution (with its own retries inside, like a judge's JSON reminder) came to.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// The outputs are complete.
    pub ok: bool,
    pub error: Option<ExecError>,
    pub failure: Option<FailureClass>,
    /// A rate limit: how long to wait before trying again, whether that is longer than darn
    /// may wait (then launching stops), and the limit's message.
    pub rate_limited: Option<(Duration, bool, String)>,
    pub cost_usd: f64,
    /// The run's directory after the execution, when it moved (a new run directory, a
    /// promotion to `completed/`).
    pub run_dir: Option<PathBuf>,
    /// Retrying cannot help (a missing program, a configuration error).
    pub permanent: bool,
}

/// Runs executions: the local backend (processes on this machine) and test doubles.
pub trait Backend: Sync {
    /// Runs one execution, stopping early when `cancel` is set.
    fn execute(&self, job: &Job, cancel: &Arc<AtomicBool>) -> Executed;
}
