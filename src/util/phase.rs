//! What a long load is doing, for the printer's indicator: the engine sets it, a thread of the
//! printer reads it. Typed values only; the words are the printer's.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// The stage of loading an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not loading.
    Idle,
    /// Looking at the runs: stat, and read and hash what changed (every file on a first look).
    Runs,
    /// Checking the aggregate files against what their rules would write.
    Aggregates,
}

static PHASE: AtomicU8 = AtomicU8::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);
static FIRST_LOOK: AtomicBool = AtomicBool::new(false);

/// Starts a phase of `total` steps (0: not counted).
pub fn begin(phase: Phase, total: usize) {
    DONE.store(0, Ordering::Relaxed);
    TOTAL.store(total, Ordering::Relaxed);
    PHASE.store(phase as u8, Ordering::Release);
}

/// One more step of the current phase done.
pub fn step() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// Whether darn has nothing remembered of the experiment (no stat cache): everything is read.
pub fn set_first_look(first: bool) {
    FIRST_LOOK.store(first, Ordering::Relaxed);
}

/// The current phase, steps done, steps in all, and whether it is a first look.
pub fn current() -> (Phase, usize, usize, bool) {
    let phase = match PHASE.load(Ordering::Acquire) {
        1 => Phase::Runs,
        2 => Phase::Aggregates,
        _ => Phase::Idle,
    };
    (phase, DONE.load(Ordering::Relaxed), TOTAL.load(Ordering::Relaxed), FIRST_LOOK.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_count_their_steps() {
        begin(Phase::Runs, 3);
        step();
        step();
        assert_eq!(current().0, Phase::Runs);
        assert_eq!((current().1, current().2), (2, 3));
        begin(Phase::Idle, 0);
        assert_eq!(current().0, Phase::Idle);
    }
}
