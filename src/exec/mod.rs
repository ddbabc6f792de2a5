//! The executor's building blocks: everything needed to re-execute an agent or a judge, kept
//! free of experiment logic so each piece can be tested alone.
//!
//! - [`template`]: `darn.toml` command templates → argv (and the `stdin` path).
//! - [`process`]: running one command in its own process group, with output streamed to files,
//!   a timeout, cancellation, and SIGTERM → grace → SIGKILL to the whole group.
//! - [`wait`]: how long to wait after a rate limit (`Retry-After`, `resets 4pm (Zone)`) or a
//!   transient failure (exponential backoff); pure functions of an explicit `now`.
//! - [`pipeline`]: the `[pipeline]` steps run on a re-executed agent's workspace.
//! - [`archive`]: moving a run or a judge slot to `.failed/…_attempt_MM` before re-executing it.

pub mod archive;
#[cfg(unix)]
pub mod pipeline;
#[cfg(unix)]
pub mod process;
#[cfg(unix)]
pub mod run;
pub mod template;
pub mod wait;

pub use archive::{archive_judge_slot, archive_run};
#[cfg(unix)]
pub use process::{Exit, Outcome, ProcessError, ProcessSpec, run};
pub use template::{Placeholder, TemplateError, Values, expand_command, expand_path};
pub use wait::{RateLimitWait, WaitSource, backoff, rate_limit_wait};
