//! Small helpers every layer uses: shell quoting, timestamps, tracing.

pub mod fs;
pub mod hash;
pub mod interrupt;
pub mod pages;
pub mod phase;
pub mod problem;
pub mod shell;
pub mod suggest;
pub mod time;
pub mod trace;
