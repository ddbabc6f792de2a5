//! Human output of `darn plan`.

use super::{Printer, Style, count, plural};
use crate::commands::plan::PlanReport;
use crate::engine::Engine;
use crate::graph::Strategy;
use crate::plan::{Cause, Hold};

/// `90` → `1m 30s`, `4000` → `1h 07m`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// One cause in a line: `kind: detail [class]`.
pub fn cause_text(c: &Cause) -> String {
    let mut s = c.kind.name().to_string();
    if let Some(f) = c.failure {
        s.push_str(&format!(" [{}]", f.name()));
    }
    if c.kind.is_cascade() {
        s.push_str(&format!(" ({})", c.node));
    } else if let Some(d) = &c.detail {
        s.push_str(&format!(": {d}"));
    }
    s
}

fn causes_text(causes: &[Cause], verbose: bool) -> String {
    let own: Vec<&Cause> = causes.iter().filter(|c| !c.kind.is_cascade()).collect();
    let shown: Vec<&Cause> = if own.is_empty() || verbose { causes.iter().collect() } else { own };
    shown.iter().map(|c| cause_text(c)).collect::<Vec<_>>().join("; ")
}

fn strategy_word(p: &Printer, s: Strategy) -> String {
    match s {
        Strategy::Execute => p.paint("execute   ", Style::Red),
        Strategy::Regenerate => p.paint("regenerate", Style::Yellow),
    }
}

fn hold_text(h: Hold) -> &'static str {
    match h {
        Hold::NeedsForce => "needs --force or an explicit target",
        Hold::RegenerateOnly => "not with --regenerate-only",
        Hold::Policy => "kept by [execution] rerun policy",
        Hold::Budget => "over the --max-cost budget",
        Hold::Unbuildable => "cannot be rebuilt here",
    }
}

/// Renders the plan grouped by run, aggregates last, then what is held back.
pub fn render(engine: &Engine, r: &PlanReport, p: &Printer) -> String {
    let mut out = String::new();
    if r.actions.is_empty() {
        out.push_str(&format!("{}: nothing to do", r.experiment));
    } else {
        out.push_str(&format!(
            "{}: {} — {} regenerate, {} execute",
            r.experiment,
            plural(r.actions.len(), "action", "actions"),
            count(r.counts.regenerate),
            count(r.counts.execute)
        ));
        if r.counts.execute > 0 {
            out.push_str(&format!(
                " (estimated ${:.2} and {} of agent and judge time)",
                r.estimate.cost_usd,
                duration(r.estimate.seconds)
            ));
        }
    }
    if r.adopt > 0 {
        out.push_str(&format!(
            "; {} right but not stamped yet (adopted, not rebuilt)",
            plural(r.adopt, "output is", "outputs are")
        ));
    }
    out.push('\n');

    // Group run actions by run id, in plan order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut aggregates: Vec<usize> = Vec::new();
    for (i, a) in r.actions.iter().enumerate() {
        let parts: Vec<&str> = a.node.splitn(4, '/').collect();
        let is_run = parts.len() == 4 && parts[2].starts_with("run_");
        if is_run {
            let run = parts[..3].join("/");
            match groups.iter_mut().find(|(id, _)| *id == run) {
                Some((_, v)) => v.push(i),
                None => groups.push((run, vec![i])),
            }
        } else {
            aggregates.push(i);
        }
    }
    let width = r.actions.iter().map(|a| a.node.len()).max().unwrap_or(20).min(48);
    for (run, idx) in &groups {
        out.push_str(&format!("\n{}\n", p.paint(run, Style::Bold)));
        let mut cascade = (0usize, 0usize);
        for &i in idx {
            let a = &r.actions[i];
            let own = a.causes.iter().any(|c| !c.kind.is_cascade());
            if !own && p.verbose == 0 {
                match a.strategy {
                    Strategy::Regenerate => cascade.0 += 1,
                    Strategy::Execute => cascade.1 += 1,
                }
                continue;
            }
            let name = a.node.strip_prefix(&format!("{run}/")).unwrap_or(&a.node);
            let cost = a.estimate.map(|e| format!(" (~${:.2})", e.cost_usd)).unwrap_or_default();
            out.push_str(&format!(
                "  {}  {:<w$}  {}{cost}\n",
                strategy_word(p, a.strategy),
                name,
                causes_text(&a.causes, p.verbose > 0),
                w = width.saturating_sub(run.len() + 1).max(16)
            ));
        }
        if cascade != (0, 0) {
            let mut parts = Vec::new();
            if cascade.1 > 0 {
                parts.push(format!("execute {}", cascade.1));
            }
            if cascade.0 > 0 {
                parts.push(format!("regenerate {}", cascade.0));
            }
            out.push_str(&format!(
                "  {}  {}\n",
                p.paint("then      ", Style::Dim),
                p.paint(
                    &format!("{} downstream: {}", plural(cascade.0 + cascade.1, "node", "nodes"), parts.join(", ")),
                    Style::Dim
                )
            ));
        }
    }
    if !aggregates.is_empty() {
        out.push_str(&format!("\n{}\n", p.paint("aggregates", Style::Bold)));
        for &i in &aggregates {
            let a = &r.actions[i];
            out.push_str(&format!(
                "  {}  {:<w$}  {}\n",
                strategy_word(p, a.strategy),
                a.node,
                causes_text(&a.causes, p.verbose > 0),
                w = 24
            ));
        }
    }
    if !r.held.is_empty() {
        let cost: f64 = r.held.iter().filter_map(|h| h.estimate.map(|e| e.cost_usd)).sum();
        out.push_str(&format!(
            "\n{} ({})\n",
            p.paint("held back", Style::Bold),
            if cost > 0.0 { format!("~${cost:.2} of executions") } else { "nothing to execute".into() }
        ));
        let limit = if p.verbose > 0 { usize::MAX } else { 20 };
        for h in r.held.iter().take(limit) {
            out.push_str(&format!(
                "  {:<w$}  {}: {}\n",
                h.node,
                hold_text(h.reason),
                causes_text(&h.causes, false),
                w = width
            ));
        }
        if r.held.len() > limit {
            out.push_str(&format!("  … {} more (-v shows all)\n", count(r.held.len() - limit)));
        }
        if r.held.iter().any(|h| h.reason == Hold::NeedsForce) {
            let n = r.held.iter().filter(|h| h.reason == Hold::NeedsForce).count();
            out.push_str(&format!(
                "  the agent configuration changed: re-running {} would cost ~${:.2}; pass --force or name the runs as targets\n",
                plural(n, "run", "runs"),
                r.held.iter().filter(|h| h.reason == Hold::NeedsForce).filter_map(|h| h.estimate.map(|e| e.cost_usd)).sum::<f64>()
            ));
        }
    }
    let _ = engine;
    out
}
