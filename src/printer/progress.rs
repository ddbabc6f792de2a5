//! Progress bars on stderr, only when stderr is a terminal and not `-q`.

use super::Printer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for `total` steps, hidden when progress is off or the work is small.
pub fn bar(printer: &Printer, total: u64, what: &str) -> ProgressBar {
    if !printer.progress || total < 50 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    pb
}
