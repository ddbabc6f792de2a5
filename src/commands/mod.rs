//! One module per command: gather data with the engine, hand it to the printer.

pub mod demo;
pub mod graph;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod why;
