//! Reading an experiment's files, never judging them: which files exist and their content
//! hashes (through the stat cache), then, on demand, their contents parsed into typed sources.
//!
//! Observation never writes into the experiment and never fails on bad input: a corrupt,
//! truncated or unreadable file is a typed fact that the rules judge.

pub mod agent;
pub mod cache;
pub mod claude;
pub mod dir;
pub mod files;
pub mod judge;
pub mod sources;
