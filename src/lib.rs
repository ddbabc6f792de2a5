//! darn: repairs AI-agent evaluation experiments the way `make` repairs a build.
//!
//! Layers, lowest first (each imports only those below it): `util` and `py`; `experiment` (the
//! format); `observe` (reading files); `rules` (one per node kind); `engine` (graph, facts, the
//! planner) and `exec` (running agents and judges); `build` (reconcile); `printer`; `cli`; and
//! `demo` beside them. See `docs/ARCHITECTURE.md`.

pub mod build;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod error;
pub mod exec;
pub mod experiment;
pub mod observe;
pub mod printer;
pub mod py;
pub mod rules;
pub mod util;
