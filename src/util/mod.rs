//! Small helpers every layer uses: shell quoting, timestamps, tracing.

pub mod shell;
pub mod time;
pub mod trace;
