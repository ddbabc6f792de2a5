//! Phase timings on stderr when `DARN_TRACE` is set (for profiling and benchmarks).

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("DARN_TRACE").is_some_and(|v| !v.is_empty()))
}

/// Times a phase until dropped.
pub struct Span {
    name: &'static str,
    start: Option<Instant>,
}

/// Starts timing `name` (a no-op unless `DARN_TRACE` is set).
pub fn span(name: &'static str) -> Span {
    Span { name, start: enabled().then(Instant::now) }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            eprintln!("[darn trace] {:<28} {:>9.3} ms", self.name, start.elapsed().as_secs_f64() * 1e3);
        }
    }
}
