//! What the runner writes, as pure functions: values in, file contents out, byte-compatible with
//! the experiment's era. The rules (one per node kind, in `rules/`) decide when and from which
//! files; these modules only compute.

pub mod agent;
pub mod aggregate;
pub mod consensus;
pub mod judge_prompt;
pub mod judgment;
#[cfg(test)]
mod parity;
pub mod ratelimit;
pub mod run_report;
pub mod run_result;
pub mod runner_files;
