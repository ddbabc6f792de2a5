//! Regeneration rules: one module per derived file, each byte-compatible with the experiment's era.
//!
//! Rules are pure: bytes and values in, bytes and values out. Reading and writing files is the
//! job of `observe` and `reconcile`.

pub mod agent;
pub mod aggregate;
pub mod consensus;
pub mod judge_prompt;
pub mod judgment;
pub mod run_report;
pub mod run_result;
pub mod runner_files;
