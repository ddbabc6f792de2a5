//! Human output of `darn why`.

use super::plan::cause_text;
use super::{Printer, Style, count};
use crate::commands::why::WhyReport;

pub fn render(r: &WhyReport, p: &Printer) -> String {
    let mut out = String::new();
    let limit = if p.verbose > 0 || r.targets.len() <= 12 { usize::MAX } else { 8 };
    for item in r.targets.iter().take(limit) {
        let state = if item.fresh { p.paint("up to date", Style::Green) } else { p.paint("stale", Style::Red) };
        out.push_str(&format!("{}: {state} ({})\n", p.paint(&item.node, Style::Bold), item.action));
        for c in &item.causes {
            out.push_str(&format!("  because {}\n", cause_text(c)));
        }
        let cascades = item.causes.iter().any(|c| c.kind.is_cascade());
        if cascades || (!item.fresh && item.root_causes.len() > 1) {
            for chain in &item.chain {
                out.push_str(&format!("  {}\n", p.paint(&format!("via {}", chain.join(" ← ")), Style::Dim)));
            }
            for c in &item.root_causes {
                let path = c.path.as_deref().map(|x| format!(" ({x})")).unwrap_or_default();
                out.push_str(&format!("  root cause: {} {}{path}\n", c.node, cause_text(c)));
            }
        }
    }
    if r.targets.len() > limit {
        out.push_str(&format!("… {} more targets (-v shows all)\n", count(r.targets.len() - limit)));
    }
    if !r.summary.is_empty() {
        out.push_str(&format!("\n{}\n", p.paint("summary", Style::Bold)));
        for line in &r.summary {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}
