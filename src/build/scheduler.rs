//! Carrying out one plan: its actions as a DAG. Executions (agents, judges) run on their own
//! threads, at most `jobs` at a time, through a [`Backend`]; regenerations whose inputs are
//! ready are built on all cores and written in durable batches. A node planned only because
//! something upstream was is rebuilt only if what it reads changed (early cutoff). A failed node
//! fails its dependents only (with `--keep-going`; without it, nothing new starts after the first
//! failure). Rate limits pause new launches.

use super::regenerate::build;
use super::retry::{Next, RetryPolicy};
use super::write::{PendingFile, commit};
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::engine::plan::{Action, Plan};
use crate::exec::{Backend, ExecError, Executed, Job};
use crate::observe::dir::Dir;
use crate::observe::files::{RunFiles, look};
use crate::rules::{FailureClass, Finding, Rule, Strategy};
use crate::util::interrupt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, atomic::AtomicBool};
use std::time::{Duration, Instant};

/// How executions run.
#[derive(Clone)]
pub struct ExecOptions {
    /// Run agents and judges (false: leave them pending, as with `--regenerate-only`).
    pub execute: bool,
    pub jobs: usize,
    pub keep_going: bool,
    pub retry: RetryPolicy,
}

/// What a reconcile reports while it works.
pub trait Watch: Sync {
    /// `n` more actions are done (of a total set by [`Watch::total`]).
    fn advance(&self, n: u64);
    fn total(&self, total: u64);
    /// Dollars spent so far.
    fn spent(&self, usd: f64);
    /// New launches wait for a rate limit until this time (UTC).
    fn waiting(&self, until: Option<jiff::Timestamp>);
    /// Executions running now.
    fn running(&self, nodes: &[NodeId]);
}

/// A watcher that shows nothing.
#[cfg(test)]
pub struct Quiet;

#[cfg(test)]
impl Watch for Quiet {
    fn advance(&self, _: u64) {}
    fn total(&self, _: u64) {}
    fn spent(&self, _: f64) {}
    fn waiting(&self, _: Option<jiff::Timestamp>) {}
    fn running(&self, _: &[NodeId]) {}
}

/// Why a node was not built.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// An execution failed.
    Execution(ExecError),
    /// Its rule could not build it (what it lacks).
    Build(Finding),
    /// Its files could not be written.
    Write(String),
}

/// A node that failed, with why.
#[derive(Debug, Clone)]
pub struct Failed {
    pub node: NodeId,
    pub failure: Failure,
    pub class: Option<FailureClass>,
}

/// What carrying out one plan did.
#[derive(Debug, Default)]
pub struct Round {
    pub executed: Vec<NodeId>,
    /// Rebuilt, with a change beyond timestamps.
    pub regenerated: Vec<NodeId>,
    /// Rebuilt to the same content, or left as it was by early cutoff.
    pub unchanged: Vec<NodeId>,
    pub failed: Vec<Failed>,
    /// Planned but not done: a dependency failed, launching stopped, or the run was interrupted.
    pub skipped: Vec<NodeId>,
    /// Executions left for later (`--regenerate-only`).
    pub pending: Vec<NodeId>,
    pub cost_usd: f64,
    pub retries: usize,
    pub interrupted: bool,
    /// A rate limit longer than darn may wait stopped new launches (its message).
    pub stopped: Option<String>,
    /// Runs whose files darn changed.
    pub touched: HashSet<usize>,
    /// Nodes darn built (written or verified unchanged): they are stamped.
    pub built: HashSet<NodeId>,
}

/// How a finished action ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Done {
    /// Rebuilt; `true` when its output changed.
    Built(bool),
    /// Left as it was (early cutoff).
    Unchanged,
    /// Failed, skipped or pending: its dependents cannot run.
    Broken,
}

/// How long regenerations may wait for others while executions run, to share one write batch.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

struct State<'p> {
    actions: HashMap<NodeId, &'p Action>,
    preds_left: HashMap<NodeId, usize>,
    ready: VecDeque<NodeId>,
    done: HashMap<NodeId, Done>,
    round: Round,
}

impl State<'_> {
    fn finish(&mut self, engine: &Engine, n: NodeId, how: Done, watch: &dyn Watch) {
        self.done.insert(n, how);
        watch.advance(1);
        for s in engine.graph.succs(n) {
            if !self.actions.contains_key(&s) {
                continue;
            }
            if let Some(left) = self.preds_left.get_mut(&s) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.ready.push_back(s);
                }
            }
        }
    }
}

/// Whether `n` reads a file that `p` writes (aggregates read everything below them).
fn reads_output_of(engine: &Engine, n: NodeId, p: NodeId) -> bool {
    let g = &engine.graph;
    match (g.run_of(n), g.run_of(p)) {
        (Some(a), Some(b)) if a == b => {
            let (reads, outputs) = g.node_files(n);
            g.node_files(p).1.iter().any(|f| reads.contains(f) || outputs.contains(f))
        }
        _ => true,
    }
}

/// Looks at a run again without the stat cache: darn just changed its files.
fn relook(engine: &Engine, run: usize) -> RunFiles {
    let dir = engine.exp.run_dir(&engine.exp.runs[run]);
    look(&Dir::new(&dir), engine.graph.declared(), None, i128::MAX, false, false).files
}

/// Carries out a plan's actions.
pub fn run(
    engine: &mut Engine,
    plan: &Plan,
    backend: Option<Arc<dyn Backend + Send + Sync>>,
    opts: &ExecOptions,
    watch: &dyn Watch,
) -> Round {
    let _t = crate::util::trace::span("schedule");
    let now = crate::util::time::now_iso();
    let mut st = State {
        actions: plan.actions.iter().map(|a| (a.node, a)).collect(),
        preds_left: HashMap::new(),
        ready: VecDeque::new(),
        done: HashMap::new(),
        round: Round::default(),
    };
    for a in &plan.actions {
        let n = engine.graph.preds(a.node).into_iter().filter(|p| st.actions.contains_key(p)).count();
        st.preds_left.insert(a.node, n);
        if n == 0 {
            st.ready.push_back(a.node);
        }
    }
    watch.total(plan.actions.len() as u64);
    let backend = backend.filter(|_| opts.execute);
    let cancel: Arc<AtomicBool> = Arc::clone(&interrupt::INTERRUPTED);
    let (tx, rx) = mpsc::channel::<(NodeId, Job, Executed)>();
    let mut running: Vec<NodeId> = Vec::new();
    let mut stop_launching = false;
    let mut paused_until: Option<Instant> = None;
    let mut attempts: HashMap<NodeId, u32> = HashMap::new();
    let mut not_before: HashMap<NodeId, Instant> = HashMap::new();
    let mut last_flush = Instant::now();
    // Runs' files as they are after darn changed them (executions, writes).
    let mut files: HashMap<usize, RunFiles> = HashMap::new();
    // The failure class each execution is redone for, for its attempt record.
    let previous: HashMap<NodeId, FailureClass> =
        plan.actions.iter().filter_map(|a| a.causes.iter().find_map(|c| c.failure()).map(|f| (a.node, f))).collect();

    loop {
        if interrupt::interrupted() {
            st.round.interrupted = true;
            stop_launching = true;
        }
        // Partition what is ready: skip what cannot run, cut off what need not.
        let mut regen: Vec<NodeId> = Vec::new();
        let mut deferred: VecDeque<NodeId> = VecDeque::new();
        while let Some(n) = st.ready.pop_front() {
            let action = st.actions[&n];
            let preds = engine.graph.preds(n);
            let execute = action.strategy == Strategy::Execute;
            if (stop_launching && (execute || st.round.interrupted))
                || preds.iter().any(|p| st.done.get(p) == Some(&Done::Broken))
            {
                st.round.skipped.push(n);
                st.finish(engine, n, Done::Broken, watch);
                continue;
            }
            if execute {
                if backend.is_none() {
                    st.round.pending.push(n);
                    st.finish(engine, n, Done::Broken, watch);
                } else {
                    deferred.push_back(n);
                }
                continue;
            }
            let upstream_changed = preds
                .iter()
                .any(|p| matches!(st.done.get(p), Some(Done::Built(true))) && reads_output_of(engine, n, *p));
            if action.cascade_only && !upstream_changed {
                st.round.unchanged.push(n);
                st.finish(engine, n, Done::Unchanged, watch);
                continue;
            }
            regen.push(n);
        }

        // Launch executions, `jobs` at a time, unless paused by a rate limit.
        let paused = paused_until.is_some_and(|t| Instant::now() < t);
        while let Some(n) = deferred.pop_front() {
            let waiting = not_before.get(&n).is_some_and(|t| Instant::now() < *t);
            let Some(backend) =
                backend.as_ref().filter(|_| running.len() < opts.jobs.max(1) && !paused && !stop_launching && !waiting)
            else {
                st.ready.push_back(n);
                continue;
            };
            let node = engine.graph.node(n);
            let Rule::Run(rule) = engine.graph.registry.get(node.rule) else { continue };
            let (Some(what), Some(run)) = (rule.execution(node.slot), engine.graph.run_of(n)) else { continue };
            let attempt = attempts.entry(n).or_insert(0);
            *attempt += 1;
            let job = Job { run, what, attempt: *attempt, previous: previous.get(&n).copied() };
            let tx = tx.clone();
            let cancel = Arc::clone(&cancel);
            let backend = Arc::clone(backend);
            running.push(n);
            std::thread::spawn(move || {
                let result = backend.execute(&job, &cancel);
                let _ = tx.send((n, job, result));
            });
        }
        watch.running(&running);

        // While executions run, regenerations wait up to BATCH_WINDOW to share one durable
        // write (each batch costs two filesystem syncs), unless something is waiting for them.
        let feeds_execution = regen.iter().any(|n| {
            engine
                .graph
                .succs(*n)
                .iter()
                .any(|s| engine.graph.registry.spec(engine.graph.node(*s).rule).strategy == Strategy::Execute)
        });
        if !regen.is_empty()
            && !running.is_empty()
            && !feeds_execution
            && regen.len() < 256
            && last_flush.elapsed() < BATCH_WINDOW
            && !interrupt::interrupted()
        {
            st.ready.extend(regen.drain(..));
        }
        if !regen.is_empty() {
            last_flush = Instant::now();
            regenerate(engine, &regen, &mut files, &mut st, &now, watch);
            continue;
        }

        if running.is_empty() {
            if !st.ready.is_empty() && paused_until.is_some() {
                // Everything left waits for the rate limit to pass.
                let wait = paused_until.map_or(Duration::ZERO, |t| t.saturating_duration_since(Instant::now()));
                interrupt::sleep(wait);
                paused_until = None;
                watch.waiting(None);
                continue;
            }
            if st.ready.is_empty() {
                break;
            }
            // Only backed-off retries are left: sleep until the first may go.
            if let Some(t) = st.ready.iter().filter_map(|n| not_before.get(n)).min()
                && st.ready.iter().all(|n| not_before.get(n).is_some_and(|t| Instant::now() < *t))
            {
                interrupt::sleep(t.saturating_duration_since(Instant::now()));
            }
            continue;
        }

        // Wait for an execution to finish (waking up for interrupts and pauses).
        let window_left = BATCH_WINDOW.saturating_sub(last_flush.elapsed());
        let wait = paused_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(200))
            .min(if st.ready.is_empty() { Duration::from_millis(200) } else { window_left })
            .clamp(Duration::from_millis(2), Duration::from_millis(200));
        let Ok(first) = rx.recv_timeout(wait) else { continue };
        // Take every execution that finished meanwhile, so their regenerations share a batch.
        let mut finished = vec![first];
        finished.extend(rx.try_iter());
        for (n, job, result) in finished {
            running.retain(|r| *r != n);
            st.round.cost_usd += result.cost_usd;
            watch.spent(st.round.cost_usd);
            let key = engine.exp.runs[job.run].key.clone();
            if let Some(dir) = &result.run_dir {
                engine.exp.relocate(&key, dir.clone());
            }
            if result.ok {
                st.round.executed.push(n);
                st.round.built.insert(n);
                st.round.touched.insert(job.run);
                files.insert(job.run, relook(engine, job.run));
                st.finish(engine, n, Done::Built(true), watch);
                continue;
            }
            // A failed attempt leaves files too (the archive moved, logs written).
            st.round.touched.insert(job.run);
            files.insert(job.run, relook(engine, job.run));
            let retry = if interrupt::interrupted() || stop_launching {
                Next::GiveUp
            } else {
                opts.retry.next(&result, attempts.get(&n).copied().unwrap_or(1))
            };
            match retry {
                Next::WaitForLimit(wait) => {
                    st.round.retries += 1;
                    paused_until = Some(Instant::now() + wait);
                    watch.waiting(
                        jiff::Timestamp::now()
                            .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
                            .ok(),
                    );
                    st.ready.push_back(n);
                    continue;
                }
                Next::Backoff(wait) => {
                    st.round.retries += 1;
                    not_before.insert(n, Instant::now() + wait);
                    st.ready.push_back(n);
                    continue;
                }
                Next::StopLaunching(message) => {
                    stop_launching = true;
                    st.round.stopped = Some(message);
                }
                Next::GiveUp => {}
            }
            if interrupt::interrupted() || matches!(result.error, Some(ExecError::Interrupted)) {
                st.round.skipped.push(n);
            } else {
                st.round.failed.push(Failed {
                    node: n,
                    failure: Failure::Execution(
                        result.error.clone().unwrap_or(ExecError::Setup("the execution failed".into())),
                    ),
                    class: result.failure,
                });
                if !opts.keep_going {
                    stop_launching = true;
                }
            }
            st.finish(engine, n, Done::Broken, watch);
        }
    }
    st.round
}

/// Builds a batch of regenerations and writes them durably.
fn regenerate(
    engine: &mut Engine,
    nodes: &[NodeId],
    files: &mut HashMap<usize, RunFiles>,
    st: &mut State,
    now: &str,
    watch: &dyn Watch,
) {
    // Aggregates read every run's progress: bring the runs darn touched up to date first.
    if nodes.iter().any(|n| engine.graph.run_of(*n).is_none()) && !st.round.touched.is_empty() {
        let touched: Vec<usize> = st.round.touched.iter().copied().collect();
        let _ = engine.refresh_runs(&touched, &st.round.built);
        files.clear();
    }
    let results = {
        let _t = crate::util::trace::span("regenerate batch");
        // A node stale only on its own (nothing upstream rebuilt) gets its exact bytes; one rebuilt
        // after something upstream keeps its file when only timestamps would change.
        let own = |n: NodeId| st.actions[&n].causes.iter().all(|c| !c.kind.is_cascade());
        build(engine, nodes, files, &own, now)
    };
    let mut batch: Vec<PendingFile> = Vec::new();
    let mut ok: Vec<(NodeId, bool)> = Vec::new();
    let root = &engine.exp.root;
    let replaced = super::keep::folder(root, now);
    for (n, r) in results {
        match r {
            Ok(b) => {
                // Nothing outside the experiment; nothing measured replaced without a copy kept.
                let kept = |f: &PendingFile| {
                    super::keep::keep_if_measured(root, &replaced, &f.path, &f.bytes)
                        .map_err(|e| format!("could not keep a copy of {} before replacing it: {e}", f.path.display()))
                };
                let refused =
                    b.write.iter().find_map(|f| crate::util::fs::confined(root, &f.path).and_then(|()| kept(f)).err());
                if let Some(e) = refused {
                    st.round.failed.push(Failed { node: n, failure: Failure::Write(e), class: None });
                    st.finish(engine, n, Done::Broken, watch);
                    continue;
                }
                batch.extend(b.write);
                ok.push((n, b.changed));
            }
            Err(finding) => {
                st.round.failed.push(Failed { node: n, failure: Failure::Build(finding), class: None });
                st.finish(engine, n, Done::Broken, watch);
            }
        }
    }
    let committed = {
        let _t = crate::util::trace::span("write batch");
        commit(&batch)
    };
    if let Err(e) = committed {
        for (n, _) in ok {
            st.round.failed.push(Failed { node: n, failure: Failure::Write(e.to_string()), class: None });
            st.finish(engine, n, Done::Broken, watch);
        }
        return;
    }
    let mut runs: HashSet<usize> = HashSet::new();
    for (n, changed) in ok {
        st.round.built.insert(n);
        if let Some(r) = engine.graph.run_of(n) {
            runs.insert(r);
            st.round.touched.insert(r);
        }
        if changed {
            st.round.regenerated.push(n);
        } else {
            st.round.unchanged.push(n);
        }
        st.finish(engine, n, Done::Built(changed), watch);
    }
    for r in runs {
        files.insert(r, relook(engine, r));
    }
}
