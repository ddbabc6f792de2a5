//! Carrying out a plan: adopt what is already right, rebuild the rest in dependency order,
//! write durably, stamp what was written, and stop the cascade where a rebuilt output did not
//! change (early cutoff).
//!
//! A scheduler walks the actions as a DAG: executions (agents, judges) run on worker threads,
//! at most `jobs` at a time, while regenerations whose inputs are ready proceed in batches on
//! all cores. A failed node fails its dependents only (with `--keep-going`; without it, nothing
//! new starts after the first failure). Rate limits pause new launches.

use crate::assess::assess;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::experiment::files::RunFile;
use crate::graph::{NodeKind, Strategy};
use crate::observe::{Check, FileHash, ObsContext, RunObs, light};
use crate::plan::{Plan, Verdict};
use crate::printer::Printer;
use crate::regen::{RegenCtx, differs, regenerate};
use crate::stamp::{Hash, Stamp};
use crate::write::{PendingFile, commit};
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

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
    /// Executions retried after a rate limit or a transient failure.
    pub retries: usize,
    pub interrupted: bool,
    /// What the plan estimated the executions would cost.
    pub estimated_cost_usd: f64,
    /// Why launching stopped early (a long rate limit), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub node: String,
    pub error: String,
    /// The failure class, for failed executions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::observe::FailureClass>,
}

/// How long regenerations may wait for others while executions run, to share one write batch.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Files a node wrote, with the hashes of their new content.
type Produced = Vec<(PathBuf, Hash)>;

/// Set by the Ctrl-C handler: stop launching, stop running executions, record what finished.
pub static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// What one execution (an agent run or a judge call, with its own retries) came to.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// The outputs are complete.
    pub ok: bool,
    pub error: Option<String>,
    pub failure: Option<crate::observe::FailureClass>,
    /// A rate limit: how long to wait before trying again, and whether that is longer than
    /// darn may wait (then launching stops).
    pub rate_limited: Option<(Duration, bool, String)>,
    pub cost_usd: f64,
    /// The run's directory after the execution, when it moved (a new run directory, a
    /// promotion to `completed/`).
    pub run_dir: Option<PathBuf>,
    /// Retrying cannot help (a missing program, a configuration error).
    pub permanent: bool,
}

/// Runs executions: implemented by `exec::Executions` (real processes) and by test doubles.
pub trait NodeRunner: Sync {
    /// Executes node `n` (attempt `attempt`, from 1), stopping early when `cancel` is set.
    fn execute(&self, n: NodeIndex, attempt: u32, cancel: &Arc<AtomicBool>) -> Executed;
}

/// How reconcile runs executions.
pub struct ExecOptions {
    /// Run agents and judges (false: leave them pending, as with `--regenerate-only`).
    pub execute: bool,
    pub jobs: usize,
    pub keep_going: bool,
    /// Attempts after a rate limit or transient failure, beyond the first.
    pub retries: u32,
    /// Between SIGTERM and SIGKILL when an execution is stopped.
    pub grace: Duration,
    /// The first wait before retrying a transient failure (doubling after that).
    pub backoff: Duration,
}

/// The longest wait between retries of a transient failure.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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

/// How a finished action ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Done {
    /// Rebuilt; `true` when its output changed.
    Built(bool),
    /// Verified without rebuilding (early cutoff).
    Unchanged,
    /// Failed, skipped or pending: its dependents cannot run.
    Broken,
}

/// Adopts fresh outputs, rebuilds the planned nodes and stamps them.
pub fn reconcile(engine: &mut Engine, plan: &Plan, printer: &Printer, opts: &ExecOptions) -> Result<Outcome> {
    let _t = crate::util::trace::span("reconcile");
    let mut outcome = Outcome { estimated_cost_usd: plan.cost_usd, ..Outcome::default() };
    let now_us = jiff::Timestamp::now().as_microsecond();
    let now = crate::util::time::iso_micros(now_us);
    adopt(engine, plan, now_us, &mut outcome)?;

    let graph = &engine.graph;
    let exp = &engine.exp;
    let facts = &engine.assessment.facts;
    let journal = &engine.journal;
    let actions: HashMap<NodeIndex, &crate::plan::Action> = plan.actions.iter().map(|a| (a.node, a)).collect();
    let mut preds_left: HashMap<NodeIndex, usize> = HashMap::new();
    let mut ready: VecDeque<NodeIndex> = VecDeque::new();
    for a in &plan.actions {
        let n = graph.g.neighbors_directed(a.node, Direction::Incoming).filter(|p| actions.contains_key(p)).count();
        preds_left.insert(a.node, n);
        if n == 0 {
            ready.push_back(a.node);
        }
    }
    // The contexts the scan used, with and without expected contents (executions observe a
    // run only to classify its outcome).
    let with_contents = |want_contents| -> Vec<ObsContext> {
        engine.contexts.iter().map(|c| ObsContext { want_contents, ..c.clone() }).collect()
    };
    let ctxs = with_contents(true);
    let plain_ctxs = with_contents(false);
    let previous: HashMap<NodeIndex, crate::observe::FailureClass> =
        plan.actions.iter().filter_map(|a| a.causes.iter().find_map(|c| c.failure).map(|f| (a.node, f))).collect();
    let executions = crate::exec::run::Executions { exp, graph, contexts: &plain_ctxs, previous, grace: opts.grace };
    let runner: Option<&dyn NodeRunner> = if opts.execute { Some(&executions) } else { None };
    let regen_ctx =
        RegenCtx { exp, graph, run_results: &engine.assessment.run_results, now: now.clone(), contexts: &ctxs };
    let mut done: HashMap<NodeIndex, Done> = HashMap::new();
    let mut built: HashSet<NodeIndex> = HashSet::new();
    let mut cut_off: HashSet<NodeIndex> = HashSet::new();
    // Observations with expected contents, by run: from the scan, or made again after an
    // execution changed the run's primary files.
    let mut fresh_obs: HashMap<usize, Arc<RunObs>> = engine
        .assessment
        .runs
        .iter()
        .filter(|r| r.obs.expected.observed || r.obs.expected.agent_observed)
        .map(|r| (r.index, Arc::clone(&r.obs)))
        .collect();
    // The runs' observations as darn leaves them, for stamps and the checkpoint.
    let mut updated: HashMap<usize, RunObs> = HashMap::new();
    let mut checkpoint_planned = false;
    let progress = crate::printer::progress::bar(printer, plan.actions.len() as u64, "reconciling");
    let cancel = Arc::clone(&INTERRUPTED);
    let mut stop_launching = false;
    let mut paused_until: Option<Instant> = None;
    let mut attempts: HashMap<NodeIndex, u32> = HashMap::new();
    let mut not_before: HashMap<NodeIndex, Instant> = HashMap::new();
    let (tx, rx) = mpsc::channel::<(NodeIndex, Executed)>();
    let mut running = 0usize;
    let mut last_flush = Instant::now();
    // Runs whose execution just succeeded, to observe again before anything regenerates from them.
    let mut to_observe: Vec<usize> = Vec::new();

    std::thread::scope(|scope| -> Result<()> {
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                outcome.interrupted = true;
                stop_launching = true;
            }
            // Partition what is ready: skip what cannot run, cut off what need not.
            let mut regen: Vec<NodeIndex> = Vec::new();
            let mut deferred: VecDeque<NodeIndex> = VecDeque::new();
            while let Some(n) = ready.pop_front() {
                let node = graph.node(n);
                let action = actions[&n];
                let preds: Vec<NodeIndex> = graph.g.neighbors_directed(n, Direction::Incoming).collect();
                if stop_launching && (action.strategy == Strategy::Execute || outcome.interrupted) {
                    finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                    outcome.skipped.push(node.id.clone());
                    progress.inc(1);
                    continue;
                }
                if preds.iter().any(|p| done.get(p) == Some(&Done::Broken)) {
                    finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                    outcome.skipped.push(node.id.clone());
                    progress.inc(1);
                    continue;
                }
                if action.strategy == Strategy::Execute {
                    match runner {
                        None => {
                            finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                            outcome.pending_executions.push(node.id.clone());
                            progress.inc(1);
                        }
                        Some(_) => deferred.push_back(n),
                    }
                    continue;
                }
                let cascade_only = action.causes.iter().all(|c| c.kind.is_cascade());
                let own_fresh = matches!(
                    crate::plan::own_causes(&node.id, node.kind, &facts[n.index()], journal),
                    crate::plan::OwnVerdict::Fresh { .. }
                );
                let upstream_changed = preds.iter().any(|p| {
                    matches!(done.get(p), Some(Done::Built(true))) && reads_output_of(node.kind, graph.node(*p).kind)
                });
                if cascade_only && own_fresh && !upstream_changed {
                    cut_off.insert(n);
                    outcome.unchanged.push(node.id.clone());
                    finish(n, Done::Unchanged, &mut done, &mut ready, &mut preds_left, graph, &actions);
                    progress.inc(1);
                    continue;
                }
                if node.kind == NodeKind::Checkpoint {
                    // Written last, from the runs as they end up.
                    checkpoint_planned = true;
                    finish(n, Done::Built(false), &mut done, &mut ready, &mut preds_left, graph, &actions);
                    continue;
                }
                regen.push(n);
            }

            // Launch executions, `jobs` at a time, unless paused by a rate limit.
            let paused = paused_until.is_some_and(|t| Instant::now() < t);
            while let Some(n) = deferred.pop_front() {
                let waiting = not_before.get(&n).is_some_and(|t| Instant::now() < *t);
                if running >= opts.jobs.max(1) || paused || stop_launching || waiting {
                    ready.push_back(n);
                    continue;
                }
                let Some(runner) = runner else { continue };
                let attempt = attempts.entry(n).or_insert(0);
                *attempt += 1;
                let attempt = *attempt;
                let tx = tx.clone();
                let cancel = Arc::clone(&cancel);
                running += 1;
                scope.spawn(move || {
                    let result = runner.execute(n, attempt, &cancel);
                    let _ = tx.send((n, result));
                });
            }
            if !to_observe.is_empty() {
                let observed: Vec<(usize, RunObs)> = to_observe
                    .par_drain(..)
                    .map(|ri| (ri, crate::observe::observe_run(&exp.run_dir(&exp.runs[ri]), &ctxs[ri])))
                    .collect();
                for (ri, obs) in observed {
                    updated.insert(ri, light(&obs));
                    fresh_obs.insert(ri, Arc::new(obs));
                }
            }
            // While executions run, regenerations wait up to BATCH_WINDOW to share one durable
            // write (each batch costs two filesystem syncs) — unless a judge prompt is among them,
            // which judges are waiting for.
            let feeds_execution = regen.iter().any(|n| graph.node(*n).kind == NodeKind::JudgePrompt);
            if !regen.is_empty()
                && running > 0
                && !feeds_execution
                && regen.len() < 256
                && last_flush.elapsed() < BATCH_WINDOW
                && !INTERRUPTED.load(Ordering::SeqCst)
            {
                ready.extend(regen.drain(..));
            }
            if !regen.is_empty() {
                last_flush = Instant::now();
                let results = {
                    let _t = crate::util::trace::span("regenerate batch");
                    regenerate_batch(&regen_ctx, &regen, &fresh_obs, &actions)
                };
                let mut batch: Vec<PendingFile> = Vec::new();
                let mut finished: Vec<(NodeIndex, bool, Produced)> = Vec::new();
                for (n, r) in results {
                    match r {
                        Ok((files, semantic, produced)) => {
                            batch.extend(files);
                            finished.push((n, semantic, produced));
                        }
                        Err(e) => {
                            outcome.failed.push(Failed { node: graph.node(n).id.clone(), error: e, failure: None });
                            finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                            if !opts.keep_going && runner.is_some() {
                                stop_launching = true;
                            }
                        }
                    }
                    progress.inc(1);
                }
                let committed = {
                    let _t = crate::util::trace::span("write batch");
                    commit(&batch)
                };
                if let Err(e) = committed {
                    for (n, _, _) in finished {
                        outcome.failed.push(Failed {
                            node: graph.node(n).id.clone(),
                            error: format!("write failed: {e}"),
                            failure: None,
                        });
                        finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                    }
                    continue;
                }
                for (n, semantic, produced) in finished {
                    let node = graph.node(n);
                    built.insert(n);
                    if let Some(ri) = node.run {
                        if node.kind == NodeKind::RunResult {
                            engine.assessment.run_results.forget(ri);
                        }
                        let obs = updated.entry(ri).or_insert_with(|| current_obs(&fresh_obs, engine, ri));
                        mark_built(obs, node.kind, &exp.run_dir(&exp.runs[ri]), &produced);
                    }
                    if semantic {
                        outcome.regenerated.push(node.id.clone());
                    } else {
                        outcome.unchanged.push(node.id.clone());
                    }
                    finish(n, Done::Built(semantic), &mut done, &mut ready, &mut preds_left, graph, &actions);
                }
                continue;
            }

            if running == 0 {
                if !ready.is_empty() && paused_until.is_some() {
                    // Everything left waits for the rate limit to pass.
                    let wait = paused_until.map_or(Duration::ZERO, |t| t.saturating_duration_since(Instant::now()));
                    sleep_interruptibly(wait);
                    paused_until = None;
                    continue;
                }
                if ready.is_empty() {
                    break;
                }
                // Only backed-off retries are left: sleep until the first may go.
                if let Some(t) = ready.iter().filter_map(|n| not_before.get(n)).min()
                    && ready.iter().all(|n| not_before.get(n).is_some_and(|t| Instant::now() < *t))
                {
                    sleep_interruptibly(t.saturating_duration_since(Instant::now()));
                }
                continue;
            }

            // Wait for an execution to finish (waking up for interrupts and pauses).
            let window_left = BATCH_WINDOW.saturating_sub(last_flush.elapsed());
            let wait = paused_until
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(200))
                .min(if ready.is_empty() { Duration::from_millis(200) } else { window_left })
                .clamp(Duration::from_millis(2), Duration::from_millis(200));
            let Ok(first) = rx.recv_timeout(wait) else { continue };
            // Take every execution that finished meanwhile, so their regenerations share a batch.
            let mut finished_execs = vec![first];
            finished_execs.extend(rx.try_iter());
            for (n, result) in finished_execs {
                running -= 1;
                let node = graph.node(n);
                outcome.cost_usd += result.cost_usd;
                progress.set_message(format!("${:.2} spent", outcome.cost_usd));
                if let Some(ri) = node.run
                    && let Some(dir) = &result.run_dir
                {
                    exp.relocate(&exp.runs[ri].key, dir.clone());
                }
                if result.ok {
                    outcome.executed.push(node.id.clone());
                    built.insert(n);
                    if let Some(ri) = node.run {
                        // The run's primary files changed: it is observed again once the next
                        // executions are launched, off their critical path.
                        to_observe.push(ri);
                        engine.assessment.run_results.forget(ri);
                    }
                    finish(n, Done::Built(true), &mut done, &mut ready, &mut preds_left, graph, &actions);
                    progress.inc(1);
                    continue;
                }
                if let Some((wait, too_long, message)) = &result.rate_limited {
                    let tries = attempts.get(&n).copied().unwrap_or(1);
                    if *too_long {
                        stop_launching = true;
                        outcome.stopped = Some(format!("rate limited ({message}); no new executions were started"));
                    } else if tries <= opts.retries && !stop_launching {
                        outcome.retries += 1;
                        paused_until = Some(Instant::now() + *wait);
                        ready.push_back(n);
                        continue;
                    }
                } else if result.failure.is_some_and(|c| c == crate::observe::FailureClass::Infrastructure)
                    && !result.permanent
                    && attempts.get(&n).copied().unwrap_or(1) <= opts.retries
                    && !stop_launching
                    && !INTERRUPTED.load(Ordering::SeqCst)
                {
                    // A transient failure: retry after an exponential backoff.
                    outcome.retries += 1;
                    let tries = attempts.get(&n).copied().unwrap_or(1);
                    not_before.insert(n, Instant::now() + crate::exec::backoff(opts.backoff, tries, MAX_BACKOFF));
                    ready.push_back(n);
                    continue;
                }
                if INTERRUPTED.load(Ordering::SeqCst) {
                    outcome.skipped.push(node.id.clone());
                } else {
                    outcome.failed.push(Failed {
                        node: node.id.clone(),
                        error: result.error.clone().unwrap_or_else(|| "the execution failed".into()),
                        failure: result.failure,
                    });
                }
                if !opts.keep_going {
                    stop_launching = true;
                }
                finish(n, Done::Broken, &mut done, &mut ready, &mut preds_left, graph, &actions);
                progress.inc(1);
            }
        }
        Ok(())
    })?;
    progress.finish_and_clear();

    // Stamp what was built or verified, from the runs' observations as darn leaves them.
    if !built.is_empty() || !cut_off.is_empty() || checkpoint_planned {
        let _f = crate::util::trace::span("final assess");
        let mut runs = std::mem::take(&mut engine.assessment.runs);
        for (ri, obs) in updated {
            if let Some(r) = runs.get_mut(ri).filter(|r| r.index == ri) {
                r.rel = crate::scan::run_rel(&engine.exp, &engine.exp.runs[ri]);
                r.status = crate::classify::classify(&obs, &r.rel);
                r.obs = Arc::new(obs);
            }
        }
        let exp = &engine.exp;
        let graph = &engine.graph;
        let after = assess(exp, graph, runs, &engine.journal, &mut engine.cache, &built);
        let mut stamps: Vec<(String, Option<Stamp>)> = Vec::new();
        for n in &built {
            stamps.push((graph.node(*n).id.clone(), Some(after.facts[n.index()].to_stamp(false, now_us))));
        }
        for n in &cut_off {
            if !matches!(after.facts[n.index()].state, crate::plan::NodeState::Unknown) {
                stamps.push((graph.node(*n).id.clone(), Some(after.facts[n.index()].to_stamp(true, now_us))));
            }
        }
        if checkpoint_planned && !outcome.interrupted {
            let _c = crate::util::trace::span("checkpoint");
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
            stamps.push((graph.node(graph.checkpoint).id.clone(), Some(f.to_stamp(false, now_us))));
        }
        engine.assessment = after;
        let _j = crate::util::trace::span("journal append");
        engine.journal.append(stamps).map_err(|e| Error::io(crate::stamp::Journal::path_in(&engine.exp.root), e))?;
    }
    let _ = engine.journal.compact_if_needed();
    let saved = {
        let _t = crate::util::trace::span("cache save");
        engine.cache.save()
    };
    if let Err(e) = saved {
        printer.warn(&format!("could not save darn's cache: {e} (the next run will be slower, nothing else)"));
    }
    for (i, v) in plan.verdicts.iter().enumerate() {
        let n = NodeIndex::new(i);
        if matches!(v, Verdict::Held(..)) && engine.graph.node(n).kind.strategy() == Strategy::Execute {
            outcome.pending_executions.push(engine.graph.node(n).id.clone());
        }
    }
    Ok(outcome)
}

/// Records stamps for outputs that are right as they are.
fn adopt(engine: &mut Engine, plan: &Plan, now_us: i64, outcome: &mut Outcome) -> Result<()> {
    let mut stamps: Vec<(String, Option<Stamp>)> = Vec::new();
    for n in engine.graph.g.node_indices() {
        if let Verdict::Fresh { adopt: true } = plan.verdicts[n.index()] {
            let f = &engine.assessment.facts[n.index()];
            if matches!(f.state, crate::plan::NodeState::Unknown) {
                continue;
            }
            stamps.push((engine.graph.node(n).id.clone(), Some(f.to_stamp(true, now_us))));
        }
    }
    outcome.adopted = stamps.len();
    if std::env::var_os("DARN_TRACE").is_some() && stamps.len() < 50 {
        for (id, _) in &stamps {
            eprintln!("[darn trace] adopt {id}");
        }
    }
    engine.journal.append(stamps).map_err(|e| Error::io(crate::stamp::Journal::path_in(&engine.exp.root), e))
}

/// Marks an action finished and makes its dependents ready once all their planned inputs are.
fn finish(
    n: NodeIndex,
    how: Done,
    done: &mut HashMap<NodeIndex, Done>,
    ready: &mut VecDeque<NodeIndex>,
    preds_left: &mut HashMap<NodeIndex, usize>,
    graph: &crate::graph::Graph,
    actions: &HashMap<NodeIndex, &crate::plan::Action>,
) {
    done.insert(n, how);
    for s in graph.g.neighbors_directed(n, Direction::Outgoing) {
        if !actions.contains_key(&s) {
            continue;
        }
        if let Some(left) = preds_left.get_mut(&s) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                ready.push_back(s);
            }
        }
    }
}

/// The observation to update for a run: the freshest one darn has, without its expected
/// contents (only regeneration reads those, from `fresh`).
fn current_obs(fresh: &HashMap<usize, Arc<RunObs>>, engine: &Engine, ri: usize) -> RunObs {
    let source = fresh.get(&ri).unwrap_or(&engine.assessment.runs[ri].obs);
    light(source)
}

type BatchResult = std::result::Result<(Vec<PendingFile>, bool, Produced), String>;

/// Regenerates nodes in parallel: the files to write (only those whose bytes change), whether
/// the output changed beyond its timestamps, and the hash of every output as it will be.
fn regenerate_batch(
    ctx: &RegenCtx,
    nodes: &[NodeIndex],
    fresh: &HashMap<usize, Arc<RunObs>>,
    actions: &HashMap<NodeIndex, &crate::plan::Action>,
) -> Vec<(NodeIndex, BatchResult)> {
    nodes
        .par_iter()
        .map(|&n| {
            let node = ctx.graph.node(n);
            // Expected contents derive from transcripts and responses, which regeneration never
            // changes: a run's observation stays valid until an execution changes the run.
            let obs = node.run.and_then(|ri| fresh.get(&ri)).map(|o| &**o);
            let result = regenerate(ctx, n, obs).map(|files| {
                let own = !actions[&n].causes.iter().all(|c| c.kind.is_cascade());
                let semantic = files.iter().any(|f| differs(&f.path, &f.bytes));
                let mut write = Vec::with_capacity(files.len());
                let mut produced = Vec::with_capacity(files.len());
                for f in files {
                    let old = std::fs::read(&f.path).ok();
                    let bytes_differ = old.as_ref().is_none_or(|old| *old != f.bytes);
                    // Every output's final content is recorded, written or kept.
                    if bytes_differ && (own || semantic) {
                        produced.push((f.path.clone(), crate::observe::hash_bytes(&f.bytes)));
                        write.push(f);
                    } else if let Some(old) = old {
                        produced.push((f.path.clone(), crate::observe::hash_bytes(&old)));
                    }
                }
                (write, semantic, produced)
            });
            (n, result)
        })
        .collect()
}

fn sleep_interruptibly(total: Duration) {
    let end = Instant::now() + total;
    while Instant::now() < end && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())));
    }
}

/// Records in a run's observation that darn just wrote a node's files (with these hashes):
/// their content is what the node's check expects, so the check is now `Ok`.
fn mark_built(obs: &mut RunObs, kind: NodeKind, dir: &Path, produced: &Produced) {
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
