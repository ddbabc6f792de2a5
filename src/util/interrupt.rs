//! The process-wide Ctrl-C flag: set by the signal handler, read by everything that waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Set on SIGINT or SIGTERM: stop launching, stop running executions, record what finished.
pub static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Sleeps up to `total`, waking early on an interrupt.
pub fn sleep(total: Duration) {
    let end = Instant::now() + total;
    while Instant::now() < end && !interrupted() {
        std::thread::sleep(Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())));
    }
}

/// Routes SIGINT and SIGTERM to the flag.
pub fn install() {
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&INTERRUPTED));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&INTERRUPTED));
}
