//! `darn plan` (and `reconcile --dry-run`): the actions, in order, with their causes.

use super::{Printer, Style, count, plural, words};
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::plan::{Cause, CauseKind, CauseWhat, Hold, Plan, Verdict};
use crate::rules::{FailureClass, Strategy};
use serde::Serialize;

/// A cause as the CAUSE of docs/contract.md#cause-object.
#[derive(Debug, Clone, Serialize)]
pub struct CauseReport {
    pub kind: CauseKind,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
}

/// The path a cause is about, relative to the experiment.
fn cause_path(engine: &Engine, c: &Cause) -> Option<String> {
    if c.kind.is_cascade() {
        return None;
    }
    let file = match &c.what {
        CauseWhat::Finding(f) => f.file().map(|f| f.as_str().to_string()),
        CauseWhat::Input { name, .. } => return Some(name.clone()),
        CauseWhat::Param { .. } | CauseWhat::Rule { .. } | CauseWhat::Nothing => None,
    };
    let path = match file {
        Some(f) => engine.node_dir(c.node).join(f),
        None => return Some(engine.node_path(c.node)),
    };
    Some(
        path.strip_prefix(&engine.exp.root)
            .map_or_else(|_| path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/")),
    )
}

/// A model change as the configuration names it: `judge_models[1]: recorded → configured`.
fn model_change(engine: &Engine, c: &Cause) -> Option<String> {
    let CauseWhat::Finding(crate::rules::Finding::ModelChanged(recorded)) = &c.what else { return None };
    let node = engine.graph.node(c.node);
    let config = &engine.exp.config;
    let (key, configured) = if node.slot >= 1 {
        let i = usize::from(node.slot) - 1;
        let run = engine.graph.run_of(c.node).map(|r| &engine.exp.runs[r].key);
        match run.and_then(|k| engine.exp.judge_choices.model(&k.to_string(), i + 1)) {
            Some(chosen) => ("the model chosen with --judge-model".to_string(), chosen.to_string()),
            None => (format!("judge_models[{i}]"), config.judge_models.get(i).cloned().unwrap_or_default()),
        }
    } else {
        ("models[0]".to_string(), config.agent_model().to_string())
    };
    Some(format!("{key}: {recorded} → {configured}"))
}

/// Who a node's execution is, for words: `agent` or `judge`.
pub fn who(engine: &Engine, n: NodeId) -> &'static str {
    match engine.graph.registry.spec(engine.graph.node(n).rule).stage {
        crate::rules::Stage::Agent => "agent",
        crate::rules::Stage::Judge | crate::rules::Stage::Aggregate => "judge",
    }
}

/// The node's main file (its first output), when it has one.
pub fn main_file(engine: &Engine, n: NodeId) -> Option<crate::experiment::files::RunFile> {
    match engine.graph.run_of(n) {
        Some(_) => engine.graph.node_files(n).1.first().copied(),
        None => engine
            .graph
            .registry
            .spec(engine.graph.node(n).rule)
            .outputs
            .first()
            .and_then(|f| crate::experiment::files::RunFile::of(f)),
    }
}

pub fn cause(engine: &Engine, c: &Cause) -> CauseReport {
    let detail = match &c.what {
        CauseWhat::Finding(f) => model_change(engine, c)
            .or_else(|| Some(words::finding_at(f, who(engine, c.node), main_file(engine, c.node)))),
        _ => words::cause_detail(c),
    };
    CauseReport {
        kind: c.kind,
        node: engine.graph.id(c.node),
        path: cause_path(engine, c),
        detail,
        failure: c.failure(),
    }
}

pub fn causes(engine: &Engine, cs: &[Cause]) -> Vec<CauseReport> {
    cs.iter().map(|c| cause(engine, c)).collect()
}

#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Estimate {
    pub cost_usd: f64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ActionReport {
    pub node: String,
    pub strategy: Strategy,
    pub causes: Vec<CauseReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

#[derive(Debug, Serialize)]
pub struct HeldReport {
    pub node: String,
    pub strategy: Strategy,
    pub reason: Hold,
    pub causes: Vec<CauseReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

/// A node darn cannot build until something it cannot fix is fixed (a damaged input, a lost
/// workspace, a duration nothing recorded).
#[derive(Debug, Serialize)]
pub struct BlockedReport {
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<CauseReport>,
    /// Nodes downstream that wait for this one.
    pub waiting: usize,
}

/// The blocked nodes that are not blocked because of another (each with how many wait for it).
pub fn blocked(engine: &Engine, plan: &Plan) -> Vec<BlockedReport> {
    let stuck = |n: NodeId| matches!(plan.verdict(n), Verdict::Blocked(_) | Verdict::Held(..));
    let mut roots: Vec<(NodeId, BlockedReport)> = Vec::new();
    for n in engine.graph.nodes() {
        let Verdict::Blocked(cause) = plan.verdict(n) else { continue };
        let preds = engine.graph.preds(n);
        if preds.iter().any(|&p| stuck(p)) {
            // Count it for the first blocked root upstream of it.
            if let Some(root) = roots
                .iter_mut()
                .rev()
                .find(|(r, _)| preds.contains(r) || engine.graph.run_of(*r) == engine.graph.run_of(n))
            {
                root.1.waiting += 1;
            }
            continue;
        }
        roots.push((
            n,
            BlockedReport {
                node: engine.graph.id(n),
                cause: cause.as_ref().map(|c| self::cause(engine, c)),
                waiting: 0,
            },
        ));
    }
    roots.into_iter().map(|(_, r)| r).collect()
}

#[derive(Debug, Serialize, Default)]
pub struct Counts {
    pub regenerate: usize,
    pub execute: usize,
    pub held: usize,
    pub blocked: usize,
}

/// The whole plan's estimate: executions' cost, their time one after the other, and the time on
/// the clock with `jobs` parallel executions.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct PlanEstimate {
    pub cost_usd: f64,
    /// Serial agent and judge time.
    pub seconds: f64,
    /// Wall-clock time at `jobs` parallel executions.
    pub wall_seconds: f64,
    pub jobs: usize,
}

/// The actions of one tier or one stage, and what their executions cost.
#[derive(Debug, Serialize, Clone)]
pub struct ShareReport {
    /// A tier (`T0`), `experiment` for the experiment-wide aggregates, or a stage name.
    pub name: String,
    pub regenerate: usize,
    pub execute: usize,
    pub cost_usd: f64,
    pub seconds: f64,
}

/// The plan as reported (docs/contract.md#plan-json, plus fields darn adds).
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub experiment: String,
    pub actions: Vec<ActionReport>,
    pub counts: Counts,
    pub estimate: PlanEstimate,
    /// The actions per tier, in tier order.
    pub by_tier: Vec<ShareReport>,
    /// The actions per stage (agent, judge, aggregate).
    pub by_stage: Vec<ShareReport>,
    /// Stale nodes that will not be acted on, and why.
    pub held: Vec<HeldReport>,
    /// What cannot be built until something darn cannot fix is (only the first of a chain).
    pub blocked: Vec<BlockedReport>,
    /// Outputs that are right but not stamped yet: reconcile adopts them without rebuilding.
    pub adopt: usize,
}

fn estimate(engine: &Engine, n: NodeId) -> Option<Estimate> {
    let spec = engine.graph.registry.spec(engine.graph.node(n).rule);
    (spec.strategy == Strategy::Execute).then(|| {
        let e = engine.estimate(n);
        Estimate { cost_usd: e.cost_usd, seconds: e.seconds }
    })
}

/// The tier a node belongs to (`experiment` for the experiment-wide aggregates).
fn tier_of(engine: &Engine, n: NodeId) -> String {
    let g = &engine.graph;
    let node = g.node(n);
    match g.scope(n) {
        crate::rules::Scope::Run | crate::rules::Scope::Slot => {
            g.run_of(n).map_or_else(String::new, |r| engine.exp.runs[r].key.tier.clone())
        }
        crate::rules::Scope::Subtest => g.subtests[node.at as usize].0.clone(),
        crate::rules::Scope::Tier => g.tiers[node.at as usize].clone(),
        crate::rules::Scope::Experiment => "experiment".into(),
    }
}

/// Adds an action to the share named `name`, keeping first-seen order.
fn share(shares: &mut Vec<ShareReport>, name: String, a: &ActionReport) {
    let i = match shares.iter().position(|s| s.name == name) {
        Some(i) => i,
        None => {
            shares.push(ShareReport { name, regenerate: 0, execute: 0, cost_usd: 0.0, seconds: 0.0 });
            shares.len() - 1
        }
    };
    let s = &mut shares[i];
    match a.strategy {
        Strategy::Regenerate => s.regenerate += 1,
        Strategy::Execute => s.execute += 1,
    }
    if let Some(e) = a.estimate {
        s.cost_usd += e.cost_usd;
        s.seconds += e.seconds;
    }
}

/// The plan as reported; `jobs` is the number of parallel executions the wall-clock estimate
/// assumes.
pub fn report(engine: &Engine, plan: &Plan, jobs: usize) -> PlanReport {
    let actions: Vec<ActionReport> = plan
        .actions
        .iter()
        .map(|a| ActionReport {
            node: engine.graph.id(a.node),
            strategy: a.strategy,
            causes: causes(engine, &a.causes),
            estimate: estimate(engine, a.node),
        })
        .collect();
    let mut held = Vec::new();
    let mut adopt = 0;
    let mut blocked = 0;
    for n in engine.graph.nodes() {
        match plan.verdict(n) {
            Verdict::Held(reason, cs) => held.push(HeldReport {
                node: engine.graph.id(n),
                strategy: engine.graph.registry.spec(engine.graph.node(n).rule).strategy,
                reason: *reason,
                causes: causes(engine, cs),
                estimate: estimate(engine, n),
            }),
            Verdict::Fresh { adopt: true } => adopt += 1,
            Verdict::Blocked(_) => blocked += 1,
            _ => {}
        }
    }
    let (regenerate, execute) = plan.counts();
    let mut by_tier: Vec<ShareReport> = engine
        .graph
        .tiers
        .iter()
        .map(|t| ShareReport { name: t.clone(), regenerate: 0, execute: 0, cost_usd: 0.0, seconds: 0.0 })
        .collect();
    let mut by_stage: Vec<ShareReport> = crate::rules::Stage::ALL
        .iter()
        .map(|st| ShareReport { name: st.name().to_string(), regenerate: 0, execute: 0, cost_usd: 0.0, seconds: 0.0 })
        .collect();
    for (a, action) in plan.actions.iter().zip(&actions) {
        share(&mut by_tier, tier_of(engine, a.node), action);
        let stage = engine.graph.registry.spec(engine.graph.node(a.node).rule).stage;
        share(&mut by_stage, stage.name().to_string(), action);
    }
    by_tier.retain(|s| s.regenerate + s.execute > 0);
    by_stage.retain(|s| s.regenerate + s.execute > 0);
    let wall_seconds = crate::engine::estimate::wall_seconds(&engine.graph, plan, jobs, |n| engine.estimate(n).seconds);
    PlanReport {
        experiment: engine.exp.name().to_string(),
        counts: Counts { regenerate, execute, held: held.len(), blocked },
        estimate: PlanEstimate { cost_usd: plan.cost_usd, seconds: plan.seconds, wall_seconds, jobs: jobs.max(1) },
        by_tier,
        by_stage,
        actions,
        held,
        blocked: self::blocked(engine, plan),
        adopt,
    }
}

/// The blocked section of `plan` and `reconcile`.
pub fn render_blocked(blocked: &[BlockedReport], p: &Printer) -> String {
    if blocked.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{} (darn cannot build these until the cause is fixed)\n", p.paint("blocked", Style::Bold));
    let limit = if p.verbose > 0 { usize::MAX } else { 20 };
    for b in blocked.iter().take(limit) {
        let why = b.cause.as_ref().map_or_else(|| "waits for something upstream".to_string(), cause_text);
        let more = if b.waiting > 0 { format!(" ({} downstream wait)", b.waiting) } else { String::new() };
        out.push_str(&format!("  {}  {why}{more}\n", b.node));
    }
    if blocked.len() > limit {
        out.push_str(&format!("  … {} more (-v shows all)\n", count(blocked.len() - limit)));
    }
    out
}

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
pub fn cause_text(c: &CauseReport) -> String {
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

fn causes_text(causes: &[CauseReport], verbose: bool) -> String {
    let own: Vec<&CauseReport> = causes.iter().filter(|c| !c.kind.is_cascade()).collect();
    if !own.is_empty() && !verbose {
        return own.iter().map(|c| cause_text(c)).collect::<Vec<_>>().join("; ");
    }
    let upstream = causes.iter().filter(|c| c.kind.is_cascade()).count();
    let mut parts: Vec<String> = own.iter().map(|c| cause_text(c)).collect();
    match (upstream, verbose) {
        (0, _) => {}
        (1, _) | (_, true) => parts.extend(causes.iter().filter(|c| c.kind.is_cascade()).map(cause_text)),
        (n, false) => parts.push(format!("upstream_stale: {n} inputs")),
    }
    parts.join("; ")
}

fn strategy_word(p: &Printer, s: Strategy) -> String {
    match s {
        Strategy::Execute => p.paint("execute   ", Style::Red),
        Strategy::Regenerate => p.paint("regenerate", Style::Yellow),
    }
}

/// Renders the plan grouped by run, aggregates last, then what is held back.
pub fn render(r: &PlanReport, p: &Printer) -> String {
    let mut out = String::new();
    if r.actions.is_empty() && r.held.is_empty() && r.blocked.is_empty() {
        out.push_str(&format!("{}: nothing to do", r.experiment));
    } else if r.actions.is_empty() {
        out.push_str(&format!("{}: nothing darn can do now (what is left and why is below)", r.experiment));
    } else {
        out.push_str(&format!("{}: {}", r.experiment, totals(r)));
    }
    if r.adopt > 0 {
        out.push_str(&format!(
            "\n  {} right but not stamped yet (adopted, not rebuilt)",
            plural(r.adopt, "output is", "outputs are")
        ));
    }
    out.push('\n');

    // Group run actions by run id, in plan order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut aggregates: Vec<usize> = Vec::new();
    for (i, a) in r.actions.iter().enumerate() {
        let parts: Vec<&str> = a.node.splitn(4, '/').collect();
        if parts.len() == 4 && parts[2].starts_with("run_") {
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
        // Held nodes sharing a reason and causes are one entry: 75 agent runs held for the
        // same config change are one line of reason, one of causes, and their names.
        let mut groups: Vec<(Hold, String, Vec<&HeldReport>)> = Vec::new();
        for h in &r.held {
            let why = causes_text(&h.causes, false);
            match groups.iter_mut().find(|(reason, text, _)| *reason == h.reason && *text == why) {
                Some((_, _, v)) => v.push(h),
                None => groups.push((h.reason, why, vec![h])),
            }
        }
        for (reason, why, nodes) in &groups {
            if let [h] = nodes.as_slice() {
                out.push_str(&format!("  {:<w$}  {}: {why}\n", h.node, words::hold(*reason), w = width));
                continue;
            }
            out.push_str(&format!("  {}: {}\n    {why}\n", held_what(nodes), words::hold(*reason)));
            let limit = if p.verbose > 0 { usize::MAX } else { 4 };
            let mut names: Vec<&str> = nodes.iter().take(limit).map(|h| h.node.as_str()).collect();
            let more = nodes.len().saturating_sub(limit);
            let tail = if more > 0 { format!(", … {} more (-v lists them)", count(more)) } else { String::new() };
            names.dedup();
            out.push_str(&format!("    {}{tail}\n", p.paint(&names.join(", "), Style::Dim)));
        }
    }
    out.push_str(&render_blocked(&r.blocked, p));
    if r.counts.execute > 0 {
        out.push_str(&format!("\n{}\n", p.paint("estimated cost", Style::Bold)));
        out.push_str(&shares_table(r));
    }
    if !r.actions.is_empty() && r.actions.len() > 30 {
        out.push_str(&format!("\n{} {}\n", p.paint("total:", Style::Bold), totals(r)));
    }
    out
}

/// `75 agent runs`, `12 judge slots` or `14 nodes`.
fn held_what(nodes: &[&HeldReport]) -> String {
    let all = |suffix: fn(&str) -> bool| nodes.iter().all(|h| h.strategy == Strategy::Execute && suffix(&h.node));
    if all(|n| n.ends_with("/agent")) {
        plural(nodes.len(), "agent run", "agent runs")
    } else if all(|n| n.rsplit('/').next().is_some_and(|l| l.starts_with("judge_"))) {
        plural(nodes.len(), "judge slot", "judge slots")
    } else {
        plural(nodes.len(), "node", "nodes")
    }
}

/// `731 actions — 572 regenerate, 159 execute`, then on its own line the estimate: dollars,
/// serial agent and judge time, and wall-clock time at `-j`.
fn totals(r: &PlanReport) -> String {
    let mut s = format!(
        "{} — {} regenerate, {} execute",
        plural(r.actions.len(), "action", "actions"),
        count(r.counts.regenerate),
        count(r.counts.execute)
    );
    if r.counts.execute > 0 {
        s.push_str(&format!(
            "\n  estimated ${:.2}: {} of agent and judge time one after the other, about {} on the clock at -j {}",
            r.estimate.cost_usd,
            duration(r.estimate.seconds),
            duration(r.estimate.wall_seconds),
            r.estimate.jobs
        ));
    }
    s
}

/// Executions per tier, then per stage: how many, their cost and serial time.
fn shares_table(r: &PlanReport) -> String {
    let rows: Vec<(String, &ShareReport)> = r
        .by_tier
        .iter()
        .map(|s| (format!("tier {}", s.name), s))
        .chain(r.by_stage.iter().map(|s| (format!("stage {}", s.name), s)))
        .filter(|(_, s)| s.execute > 0)
        .collect();
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let money = rows.iter().map(|(_, s)| format!("{:.2}", s.cost_usd).len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, s) in rows {
        out.push_str(&format!(
            "  {label:<width$}  {:>5} {}  ${:>money$.2}  {:>8}\n",
            count(s.execute),
            if s.execute == 1 { "execution " } else { "executions" },
            s.cost_usd,
            duration(s.seconds),
        ));
    }
    out
}
