//! Phase timings on stderr when `DARN_TRACE` is set (for profiling and benchmarks).

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("DARN_TRACE").is_some_and(|v| !v.is_empty()))
}

/// Resident memory in MiB (Linux; 0 elsewhere): memory first touched costs page zeroing.
fn rss_mb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages = statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    pages * 4 / 1024
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
            let ms = start.elapsed().as_secs_f64() * 1e3;
            eprintln!("[darn trace] {:<28} {ms:>9.3} ms  rss {:>5} MB", self.name, rss_mb());
        }
    }
}
