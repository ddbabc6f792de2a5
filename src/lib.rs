//! darn: repairs AI-agent evaluation experiments the way `make` repairs a build.
//!
//! See `docs/ARCHITECTURE.md` for the modules, the data flow and the invariants.

pub mod aggregate_io;
pub mod app;
pub mod assess;
pub mod cache;
pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod engine;
pub mod error;
pub mod exec;
pub mod experiment;
pub mod explain;
pub mod graph;
pub mod observe;
pub mod plan;
pub mod printer;
pub mod py;
pub mod ratelimit;
pub mod reconcile;
pub mod regen;
pub mod rules;
pub mod scan;
pub mod select;
pub mod stamp;
pub mod util;
pub mod write;
