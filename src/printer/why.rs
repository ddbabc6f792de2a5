//! `darn why`: each target's causes, the cascade down to the root causes, and a summary.

use super::plan::{CauseReport, cause_text, causes};
use super::{Printer, Style, count, plural, words};
use crate::engine::Engine;
use crate::engine::explain::{Doing, Explained, RootCounts, RootWhat};
use crate::engine::plan::CauseKind;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub node: String,
    pub fresh: bool,
    /// What reconcile would do: `regenerate`, `execute`, `nothing`, or why not.
    pub action: String,
    pub causes: Vec<CauseReport>,
    pub root_causes: Vec<CauseReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Vec<String>>,
    /// For a judge slot: the model it is graded by, and whether that model was chosen for it
    /// with `reconcile --judge-model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub judge_model_chosen: bool,
}

#[derive(Debug, Serialize)]
pub struct WhyReport {
    pub targets: Vec<TargetReport>,
    /// Root nodes counted across all targets (each node once).
    pub summary: Vec<String>,
}

fn doing(d: Doing) -> String {
    match d {
        Doing::Nothing => "nothing".into(),
        Doing::Regenerate => "regenerate".into(),
        Doing::Execute => "execute".into(),
        Doing::Held(h) => format!("held: {}", words::hold(h)),
        Doing::Blocked => "blocked: waits for something upstream that nothing can build now".into(),
        Doing::Outside => "outside the selection".into(),
    }
}

fn summary(r: &RootCounts) -> Vec<String> {
    if r.by_kind.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = r
        .by_kind
        .iter()
        .map(|(what, kind, n)| {
            let (one, many) = match what {
                RootWhat::AgentRun => ("agent run", "agent runs"),
                RootWhat::JudgeSlot => ("judge slot", "judge slots"),
                RootWhat::RunFile => ("run file", "run files"),
                RootWhat::Aggregate => ("aggregate", "aggregates"),
            };
            format!("{} stale: {}", plural(*n, one, many), kind.name())
        })
        .collect();
    out.push(format!(
        "roots to execute: {}, {}",
        plural(r.agents, "agent run", "agent runs"),
        plural(r.slots, "judge slot", "judge slots")
    ));
    out
}

pub fn report(engine: &Engine, items: &[Explained], counts: Option<&RootCounts>) -> WhyReport {
    let targets = items
        .iter()
        .map(|i| {
            let mut cs = causes(engine, &i.causes);
            if i.fresh && i.unstamped {
                cs.push(CauseReport {
                    kind: CauseKind::NeverStamped,
                    node: engine.graph.id(i.node),
                    path: None,
                    detail: Some("no stamp yet: the output agrees with its inputs and is adopted as it is".into()),
                    failure: None,
                });
            }
            let slot = usize::from(engine.graph.node(i.node).slot);
            let key = engine.graph.run_of(i.node).filter(|_| slot >= 1).map(|r| &engine.exp.runs[r].key);
            let is_slot = key.is_some()
                && engine.graph.registry.spec(engine.graph.node(i.node).rule).strategy
                    == crate::rules::Strategy::Execute;
            let judge_model = key.filter(|_| is_slot).map(|k| engine.exp.judge_model(k, slot).to_string());
            let judge_model_chosen =
                key.filter(|_| is_slot).is_some_and(|k| engine.exp.judge_choices.model(&k.to_string(), slot).is_some());
            TargetReport {
                judge_model,
                judge_model_chosen,
                node: engine.graph.id(i.node),
                fresh: i.fresh,
                action: doing(i.doing),
                causes: cs,
                root_causes: causes(engine, &i.root_causes),
                chain: i.chain.iter().map(|c| c.iter().map(|n| engine.graph.id(*n)).collect()).collect(),
            }
        })
        .collect();
    WhyReport { targets, summary: counts.map(summary).unwrap_or_default() }
}

pub fn render(r: &WhyReport, p: &Printer) -> String {
    let mut out = String::new();
    let shown: Vec<&TargetReport> =
        r.targets.iter().filter(|t| p.verbose > 0 || !t.fresh || r.targets.len() == 1).collect();
    let fresh = r.targets.iter().filter(|t| t.fresh).count();
    let limit = if p.verbose > 0 || shown.len() <= 12 { usize::MAX } else { 8 };
    for item in shown.iter().take(limit) {
        let state = if item.fresh { p.paint("up to date", Style::Green) } else { p.paint("stale", Style::Red) };
        out.push_str(&format!("{}: {state} ({})\n", p.paint(&item.node, Style::Bold), item.action));
        if let Some(m) = &item.judge_model {
            let how = if item.judge_model_chosen { " (chosen for this slot with --judge-model)" } else { "" };
            out.push_str(&format!("  graded by {m}{how}\n"));
        }
        for c in item.causes.iter().filter(|c| p.verbose > 0 || c.kind != CauseKind::NeverStamped) {
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
    if shown.len() > limit {
        out.push_str(&format!("… {} more stale targets (-v shows all)\n", count(shown.len() - limit)));
    }
    if fresh > 0 && shown.len() < r.targets.len() {
        out.push_str(&format!("{} up to date (-v shows them)\n", plural(fresh, "target is", "targets are")));
    }
    if !r.summary.is_empty() && r.targets.len() > 1 {
        out.push_str(&format!("\n{}\n", p.paint("summary", Style::Bold)));
        for line in &r.summary {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}
