//! Carrying out a plan: adopt what is already right, rebuild the rest in dependency order,
//! write durably, stamp what was written, and stop the cascade where a rebuilt output did not
//! change (early cutoff).

use crate::assess::assess;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::graph::{NodeKind, Strategy};
use crate::plan::{Plan, Verdict};
use crate::printer::Printer;
use crate::regen::{RegenCtx, differs, regenerate};
use crate::scan::contexts;
use crate::stamp::Stamp;
use crate::write::{PendingFile, commit};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a reconcile did (CONTRACT `reconcile` JSON, plus counts darn adds).
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub executed: Vec<String>,
    pub regenerated: Vec<String>,
    pub failed: Vec<Failed>,
    /// Planned but not done: a dependency failed or was held, or the run was interrupted.
    pub skipped: Vec<String>,
    pub cost_usd: f64,
    /// Rebuilt to identical content: the cascade stopped there (early cutoff).
    pub unchanged: Vec<String>,
    /// Outputs found valid and stamped without rebuilding.
    pub adopted: usize,
    /// Executions the plan needs that this reconcile did not run (with --regenerate-only, or
    /// held back).
    pub pending_executions: Vec<String>,
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub node: String,
    pub error: String,
}

/// Files a node wrote, with the hashes of their new content.
type Produced = Vec<(std::path::PathBuf, crate::stamp::Hash)>;

/// Set by the Ctrl-C handler: finish the current wave, record it, stop.
pub static INTERRUPTED: std::sync::LazyLock<std::sync::Arc<AtomicBool>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(AtomicBool::new(false)));

/// Whether a node's content is computed from the files of that upstream node (rather than from
/// the raw transcripts and responses): a rebuilt upstream only matters if it is read.
fn reads_output_of(kind: NodeKind, upstream: NodeKind) -> bool {
    match kind {
        // Derived from the agent transcript and the judges' responses: only executions matter.
        NodeKind::AgentOutput
        | NodeKind::AgentResult
        | NodeKind::AgentTiming
        | NodeKind::Judgment(_)
        | NodeKind::Consensus
        | NodeKind::RunResult => matches!(upstream, NodeKind::Agent | NodeKind::JudgeSlot(_)),
        _ => true,
    }
}

/// Adopts fresh outputs, rebuilds the planned nodes and stamps them.
pub fn reconcile(engine: &mut Engine, plan: &Plan, printer: &Printer) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let graph = &engine.graph;
    let exp = &engine.exp;
    let facts = &engine.assessment.facts;
    let now_us = jiff::Timestamp::now().as_microsecond();
    let now = crate::timefmt::iso_micros(now_us);

    let _t = crate::trace::span("reconcile");
    // 1. Adopt what is already right: a stamp, nothing rebuilt.
    let mut adopt: Vec<(String, Option<Stamp>)> = Vec::new();
    for n in graph.g.node_indices() {
        if let Verdict::Fresh { adopt: true } = plan.verdicts[n.index()] {
            let f = &facts[n.index()];
            if matches!(f.state, crate::plan::NodeState::Unknown) {
                continue;
            }
            adopt.push((graph.node(n).id.clone(), Some(stamp_of(f, true, now_us))));
        }
    }
    outcome.adopted = adopt.len();
    engine.journal.append(adopt).map_err(|e| Error::io(crate::stamp::Journal::path_in(&exp.root), e))?;

    // 2. Rebuild in waves: an action runs once the actions it depends on are done.
    let actions: HashMap<NodeIndex, &crate::plan::Action> = plan.actions.iter().map(|a| (a.node, a)).collect();
    let mut level: HashMap<NodeIndex, usize> = HashMap::new();
    let mut waves: BTreeMap<usize, Vec<NodeIndex>> = BTreeMap::new();
    for a in &plan.actions {
        let l = graph
            .g
            .neighbors_directed(a.node, Direction::Incoming)
            .filter_map(|p| level.get(&p).map(|l| l + 1))
            .max()
            .unwrap_or(0);
        level.insert(a.node, l);
        waves.entry(l).or_default().push(a.node);
    }
    let ctxs = contexts(exp, true);
    let regen_ctx =
        RegenCtx { exp, graph, run_results: &engine.assessment.run_results, now: now.clone(), contexts: &ctxs };
    let mut changed: HashSet<NodeIndex> = HashSet::new();
    let mut built: HashSet<NodeIndex> = HashSet::new();
    // Cut off without rebuilding: verified fresh, stamped like adopted outputs.
    let mut cut_off: HashSet<NodeIndex> = HashSet::new();
    let mut broken: HashSet<NodeIndex> = HashSet::new();
    let mut touched_runs: HashSet<usize> = HashSet::new();
    let mut updated: HashMap<usize, crate::observe::RunObs> = HashMap::new();
    // Runs observed afresh by this command carry their expected contents: the first wave
    // that touches a run can use them instead of reading the run again.
    let fresh_obs: HashMap<usize, std::sync::Arc<crate::observe::RunObs>> = engine
        .assessment
        .runs
        .iter()
        .filter(|r| r.obs.expected.observed)
        .map(|r| (r.index, std::sync::Arc::clone(&r.obs)))
        .collect();
    let progress = crate::printer::progress::bar(printer, plan.actions.len() as u64, "reconciling");
    let mut checkpoint_planned = false;
    for (wave_no, wave) in waves {
        let _w = crate::trace::span("wave");
        let _ = wave_no;
        if INTERRUPTED.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            for n in wave {
                outcome.skipped.push(graph.node(n).id.clone());
            }
            continue;
        }
        // Decide per node: skip (a dependency failed), cut off, or rebuild.
        let mut todo: Vec<NodeIndex> = Vec::new();
        for n in wave {
            let node = graph.node(n);
            let action = actions[&n];
            let preds: Vec<NodeIndex> = graph.g.neighbors_directed(n, Direction::Incoming).collect();
            if preds.iter().any(|p| broken.contains(p)) {
                broken.insert(n);
                outcome.skipped.push(node.id.clone());
                progress.inc(1);
                continue;
            }
            if action.strategy == Strategy::Execute {
                // Executions are the next capability; here they stay pending and their
                // dependents wait.
                broken.insert(n);
                outcome.pending_executions.push(node.id.clone());
                progress.inc(1);
                continue;
            }
            let cascade_only = action.causes.iter().all(|c| c.kind.is_cascade());
            let own_fresh = matches!(
                crate::plan::own_causes(&node.id, node.kind, &facts[n.index()], &engine.journal),
                crate::plan::OwnVerdict::Fresh { .. }
            );
            if cascade_only
                && own_fresh
                && !preds.iter().any(|p| changed.contains(p) && reads_output_of(node.kind, graph.node(*p).kind))
            {
                outcome.unchanged.push(node.id.clone());
                cut_off.insert(n);
                progress.inc(1);
                continue;
            }
            if node.kind == NodeKind::Checkpoint {
                checkpoint_planned = true;
                continue;
            }
            todo.push(n);
        }
        // Regenerate in parallel, then write the wave durably in one batch.
        let results: Vec<(NodeIndex, std::result::Result<Vec<PendingFile>, String>)> = todo
            .par_iter()
            .map(|&n| {
                let node = graph.node(n);
                // Expected contents derive from transcripts and responses, which regeneration
                // never changes: the scan's observation stays valid through every wave.
                let obs = node.run.and_then(|ri| fresh_obs.get(&ri)).map(|o| &**o);
                (n, regenerate(&regen_ctx, n, obs))
            })
            .collect();
        let mut batch: Vec<PendingFile> = Vec::new();
        let mut wave_nodes: Vec<(NodeIndex, bool, Produced)> = Vec::new();
        for (n, r) in results {
            let node = graph.node(n);
            match r {
                Ok(files) => {
                    let own = !actions[&n].causes.iter().all(|c| c.kind.is_cascade());
                    let semantic = files.iter().any(|f| differs(&f.path, &f.bytes));
                    let mut produced = Vec::with_capacity(files.len());
                    for f in files {
                        let bytes_differ = std::fs::read(&f.path).map_or(true, |old| old != f.bytes);
                        if bytes_differ && (own || semantic) {
                            produced.push((f.path.clone(), crate::observe::hash_bytes(&f.bytes)));
                            batch.push(f);
                        }
                    }
                    wave_nodes.push((n, semantic, produced));
                }
                Err(e) => {
                    broken.insert(n);
                    outcome.failed.push(Failed { node: node.id.clone(), error: e });
                }
            }
            progress.inc(1);
        }
        if let Err(e) = commit(&batch) {
            for (n, _, _) in &wave_nodes {
                broken.insert(*n);
                outcome.failed.push(Failed { node: graph.node(*n).id.clone(), error: format!("write failed: {e}") });
            }
            continue;
        }
        for (n, semantic, produced) in wave_nodes {
            let node = graph.node(n);
            built.insert(n);
            if let Some(ri) = node.run {
                touched_runs.insert(ri);
                if node.kind == NodeKind::RunResult {
                    engine.assessment.run_results.forget(ri);
                }
                // What was written is what the check compared against: record it in the run's
                // observation instead of reading the run again.
                let obs = updated.entry(ri).or_insert_with(|| (*engine.assessment.runs[ri].obs).clone());
                let dir = exp.run_dir(&exp.runs[ri]);
                mark_built(obs, node.kind, &dir, &produced);
            }
            if semantic {
                changed.insert(n);
                outcome.regenerated.push(node.id.clone());
            } else {
                outcome.unchanged.push(node.id.clone());
            }
        }
    }

    // 3. Observe the touched runs again and stamp what was built, from the files now on disk.
    if !built.is_empty() || !cut_off.is_empty() || checkpoint_planned {
        let exp = &engine.exp;
        let _f = crate::trace::span("final assess");
        let mut runs = std::mem::take(&mut engine.assessment.runs);
        for (ri, obs) in updated {
            if let Some(r) = runs.get_mut(ri).filter(|r| r.index == ri) {
                r.status = crate::classify::classify(&obs, &r.rel);
                r.obs = std::sync::Arc::new(obs);
            }
        }
        let after = assess(exp, graph, runs, &engine.journal, &mut engine.cache, &built);
        let mut stamps: Vec<(String, Option<Stamp>)> = Vec::new();
        for n in &built {
            stamps.push((graph.node(*n).id.clone(), Some(stamp_of(&after.facts[n.index()], false, now_us))));
        }
        for n in &cut_off {
            if !matches!(after.facts[n.index()].state, crate::plan::NodeState::Unknown) {
                stamps.push((graph.node(*n).id.clone(), Some(stamp_of(&after.facts[n.index()], true, now_us))));
            }
        }
        // The checkpoint last, from the runs as they are now.
        if checkpoint_planned && !outcome.interrupted && outcome.failed.is_empty() {
            let files = crate::regen::checkpoint(exp, &after.runs, &now);
            if files.iter().any(|f| differs(&f.path, &f.bytes)) {
                commit(&files).map_err(|e| Error::io(exp.root.join("checkpoint.json"), e))?;
                outcome.regenerated.push(graph.node(graph.checkpoint).id.clone());
            } else {
                outcome.unchanged.push(graph.node(graph.checkpoint).id.clone());
            }
            let mut f = after.facts[graph.checkpoint.index()].clone();
            let written = std::fs::read(exp.root.join("checkpoint.json")).map(|b| crate::observe::hash_bytes(&b));
            f.outputs = vec![("checkpoint.json", written.unwrap_or(crate::stamp::ABSENT))];
            stamps.push((graph.node(graph.checkpoint).id.clone(), Some(stamp_of(&f, false, now_us))));
        }
        engine.assessment = after;
        engine.journal.append(stamps).map_err(|e| Error::io(crate::stamp::Journal::path_in(&exp.root), e))?;
    }
    progress.finish_and_clear();
    let _ = engine.journal.compact_if_needed();
    if let Err(e) = engine.cache.save() {
        printer.warn(&format!("could not save darn's cache: {e} (the next run will be slower, nothing else)"));
    }
    for (i, v) in plan.verdicts.iter().enumerate() {
        let n = NodeIndex::new(i);
        if matches!(v, Verdict::Held(..)) && graph.node(n).kind.strategy() == Strategy::Execute {
            outcome.pending_executions.push(graph.node(n).id.clone());
        }
    }
    Ok(outcome)
}

/// Records in a run's observation that darn just wrote a node's files (with these hashes):
/// their content is what the node's check expects, so the check is now `Ok`.
fn mark_built(
    obs: &mut crate::observe::RunObs,
    kind: NodeKind,
    dir: &std::path::Path,
    produced: &[(std::path::PathBuf, crate::stamp::Hash)],
) {
    use crate::layout::files::RunFile;
    use crate::observe::{Check, FileHash};
    for (path, hash) in produced {
        let Some(file) = path.strip_prefix(dir).ok().and_then(|r| r.to_str()).and_then(RunFile::of) else { continue };
        match obs.files.iter_mut().find(|f| f.file == file) {
            Some(f) => f.hash = *hash,
            None => obs.files.push(FileHash { file, hash: *hash }),
        }
    }
    match kind {
        NodeKind::AgentOutput => obs.agent.output_txt = Check::Ok,
        NodeKind::AgentResult => obs.agent.result_json = Check::Ok,
        NodeKind::AgentTiming => obs.agent.timing_json = Check::Ok,
        NodeKind::JudgePrompt => obs.judge_prompt = true,
        NodeKind::Judgment(n) => {
            if let Some(s) = obs.slots.get_mut(n as usize - 1) {
                s.judgment = Check::Ok;
            }
        }
        NodeKind::Consensus => {
            obs.consensus = Check::Ok;
            obs.judge_timing = true;
        }
        NodeKind::RunResult => obs.run_result = Check::Ok,
        NodeKind::RunReport => obs.report = Check::Ok,
        _ => {}
    }
}

/// A stamp from a node's facts.
fn stamp_of(f: &crate::plan::NodeFacts, adopted: bool, at: i64) -> Stamp {
    f.to_stamp(adopted, at)
}
