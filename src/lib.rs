//! darn: repairs AI-agent evaluation experiments the way `make` repairs a build.
//!
//! Layers, lowest first (each imports only those below it): `util` and `py`; `experiment` (the
//! format); `observe` (reading files); `rules` (one per node kind); `engine` (graph, facts, the
//! planner) and `exec` (running agents and judges); `build` (reconcile); `printer`; `cli`; and
//! `demo` beside them. See `docs/ARCHITECTURE.md`.
//!
//! The library exists for the binary, the integration tests and the benchmarks: everything is
//! crate-private except the few names re-exported below.

mod build;
mod cli;
mod demo;
mod engine;
mod error;
mod exec;
mod experiment;
mod observe;
mod printer;
mod py;
mod rules;
mod util;

pub use cli::{Cli, parse, run};
pub use demo::{Damage, DemoSpec, DemoSummary, generate};
pub use engine::lock::Lock;
pub use engine::plan::PlanOptions;
pub use engine::select::Select;
pub use engine::status::{AgentStatus, JudgeStatus};
pub use engine::{Engine, LoadOptions};
pub use error::Error;
pub use experiment::Experiment;
pub use experiment::era::Era;
pub use observe::files::FileState;
pub use printer::status::report as status_report;
pub use util::pages::small_pages;

/// The run and slot nodes of a run with `judges` judge slots, each as the files it writes and the
/// files it reads, relative to the run directory (for the scale bench's `build.ninja`).
pub fn run_file_edges(judges: u16) -> Vec<(Vec<&'static str>, Vec<&'static str>)> {
    let strs = |fs: Vec<experiment::files::RunFile>| fs.into_iter().map(|f| f.as_str()).collect();
    rules::Registry::standard().file_edges(judges).into_iter().map(|(o, i)| (strs(o), strs(i))).collect()
}
