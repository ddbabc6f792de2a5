//! The indicator of a long load on stderr: when looking at an experiment takes more than a
//! second (a first look reads and hashes every file), say what darn is doing and how far along
//! it is, then leave the terminal clean.

use super::Printer;
use crate::util::phase::{self, Phase};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Shown after this long in one phase.
const AFTER: Duration = Duration::from_secs(1);

/// The words for a phase.
fn message(phase: Phase, done: usize, total: usize, first_look: bool) -> String {
    match phase {
        Phase::Idle => String::new(),
        // Short enough for an 80-column terminal.
        Phase::Runs if first_look => format!("first look, reading every file: {done}/{total} runs"),
        Phase::Runs => format!("looking at {done}/{total} runs"),
        Phase::Aggregates => "checking the aggregate files (they embed every run)".to_string(),
    }
}

/// Shows the indicator while the engine loads; dropping it stops the thread and clears the line.
pub struct Loading {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loading {
    pub fn start(printer: &Printer) -> Loading {
        let stop = Arc::new(AtomicBool::new(false));
        if !printer.progress {
            return Loading { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut bar: Option<ProgressBar> = None;
            let mut shown = (Phase::Idle, Instant::now());
            while !flag.load(Ordering::Relaxed) {
                let (phase, done, total, first) = phase::current();
                if phase != shown.0 {
                    shown = (phase, Instant::now());
                }
                if phase == Phase::Idle {
                    if let Some(b) = bar.take() {
                        b.finish_and_clear();
                    }
                } else if shown.1.elapsed() >= AFTER {
                    let b = bar.get_or_insert_with(|| {
                        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                        b.set_style(
                            ProgressStyle::with_template("{spinner} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        b
                    });
                    b.set_message(message(phase, done, total, first));
                    b.tick();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        });
        Loading { stop, thread: Some(thread) }
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(message(Phase::Runs, 3, 10, false), "looking at 3/10 runs");
        assert_eq!(message(Phase::Runs, 3, 10, true), "first look, reading every file: 3/10 runs");
        assert_eq!(message(Phase::Idle, 0, 0, false), "");
        assert!(message(Phase::Aggregates, 0, 0, false).contains("aggregate"));
    }
}
