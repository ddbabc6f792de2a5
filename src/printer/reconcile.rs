//! Human output of `darn reconcile`.

use super::{Printer, Style, count, plural};
use crate::reconcile::Outcome;

pub fn render(o: &Outcome, p: &Printer) -> String {
    let mut out = String::new();
    let mut parts = vec![format!("{} regenerated", count(o.regenerated.len()))];
    if !o.executed.is_empty() {
        parts.push(format!("{} executed", count(o.executed.len())));
    }
    if !o.unchanged.is_empty() {
        // Planned, but their inputs turned out unchanged (early cutoff) or the rebuild wrote the same bytes.
        parts.push(format!("{} found unchanged", count(o.unchanged.len())));
    }
    if o.adopted > 0 {
        parts.push(format!("{} adopted as they were", count(o.adopted)));
    }
    out.push_str(&parts.join(", "));
    if o.cost_usd > 0.0 || !o.executed.is_empty() {
        out.push_str(&format!(" (${:.2} spent; the plan estimated ${:.2})", o.cost_usd, o.estimated_cost_usd));
    }
    if o.retries > 0 {
        out.push_str(&format!(
            "\n{} retried after a rate limit or a transient failure",
            plural(o.retries, "execution", "executions")
        ));
    }
    out.push('\n');
    if p.verbose > 0 {
        for id in &o.regenerated {
            out.push_str(&format!("  regenerated {id}\n"));
        }
        for id in &o.executed {
            out.push_str(&format!("  executed {id}\n"));
        }
    }
    for f in &o.failed {
        out.push_str(&format!("{} {}: {}\n", p.paint("failed", Style::Red), f.node, f.error));
    }
    if !o.skipped.is_empty() {
        out.push_str(&format!(
            "{} skipped because something they depend on failed or is pending\n",
            plural(o.skipped.len(), "node", "nodes")
        ));
    }
    if !o.pending_executions.is_empty() {
        out.push_str(&format!(
            "{} still need an agent or judge execution (see `darn plan`)\n",
            plural(o.pending_executions.len(), "node", "nodes")
        ));
    }
    if let Some(why) = &o.stopped {
        out.push_str(&format!("{} {why}\n", p.paint("stopped:", Style::Yellow)));
    }
    if o.interrupted {
        out.push_str("interrupted: what finished is recorded; run reconcile again to resume\n");
    }
    if o.failed.is_empty() && o.pending_executions.is_empty() && !o.interrupted {
        out.push_str(&p.paint("up to date\n", Style::Green));
    }
    out
}
