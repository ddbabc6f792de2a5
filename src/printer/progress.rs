//! The progress bar of a reconcile on stderr (only when stderr is a terminal and not `-q`).

use super::Printer;
use crate::build::scheduler::Watch;
use crate::engine::graph::NodeId;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;

/// A bar showing actions done, dollars spent and rate-limit waits.
pub struct Bar {
    bar: ProgressBar,
    spent: Mutex<f64>,
}

impl Bar {
    pub fn new(printer: &Printer) -> Bar {
        let bar = if printer.progress {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("reconciling [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            pb.set_style(style);
            pb
        } else {
            ProgressBar::hidden()
        };
        Bar { bar, spent: Mutex::new(0.0) }
    }

    /// Clears the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Watch for Bar {
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn total(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn spent(&self, usd: f64) {
        if let Ok(mut s) = self.spent.lock() {
            *s = usd;
        }
        self.bar.set_message(format!("${usd:.2} spent"));
    }

    fn waiting(&self, until: Option<jiff::Timestamp>) {
        let spent = self.spent.lock().map(|s| *s).unwrap_or(0.0);
        match until {
            Some(t) => {
                let local = t.to_zoned(jiff::tz::TimeZone::system());
                self.bar.set_message(format!(
                    "${spent:.2} spent, rate limited: resuming at {}",
                    local.strftime("%H:%M:%S")
                ));
            }
            None => self.bar.set_message(format!("${spent:.2} spent")),
        }
    }

    fn running(&self, _nodes: &[NodeId]) {}
}
