//! The engine: the graph of an experiment, the facts of its nodes, the stamps of what darn
//! built, and the one planner every command asks. Loading it is the same for `status`, `plan`,
//! `why`, `graph` and `reconcile`.

pub mod cache_home;
pub mod checks;
pub mod estimate;
pub mod explain;
pub mod facts;
pub mod graph;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod select;
pub mod status;
pub mod targets;

use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::observe::cache::StatCache;
use crate::rules::{AggCx, FailureClass, Registry, RunProgress, Scope};
use checks::ChecksCache;
use facts::{AggregateInputs, Context, Facts, Parts};
use graph::{Graph, NodeId};
use journal::Journal;
use plan::{Plan, PlanOptions};
use status::{RunStatus, StatusRules};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The directory an aggregate node's files live in.
pub fn aggregate_dir(exp: &Experiment, graph: &Graph, n: NodeId) -> PathBuf {
    let node = graph.node(n);
    match graph.scope(n) {
        Scope::Subtest => {
            let (t, s) = &graph.subtests[node.at as usize];
            exp.subtest_dir(t, s)
        }
        Scope::Tier => exp.tier_dir(&graph.tiers[node.at as usize]),
        Scope::Experiment | Scope::Run | Scope::Slot => exp.root.clone(),
    }
}

/// How much to look at.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// darn may update its caches (`.darn/` is created for them).
    pub writable: bool,
    /// Look at the aggregates too (what `status` reports needs only the runs).
    pub aggregates: bool,
}

/// A loaded experiment with the facts of its nodes.
pub struct Engine {
    /// Shared with execution threads.
    pub exp: std::sync::Arc<Experiment>,
    pub graph: Graph,
    pub journal: Journal,
    pub stat: StatCache,
    pub checks: ChecksCache,
    pub facts: Facts,
    pub statuses: Vec<Option<RunStatus>>,
    status_rules: StatusRules,
    known: facts::Known,
    /// Where the caches are saved (`.darn/`, or the user's cache directory for a tree darn does
    /// not manage); `None`: they are not.
    cache_home: Option<cache_home::CacheHome>,
    /// Loaded to write (under the lock).
    writable: bool,
}

impl Engine {
    /// Loads an experiment with darn's rules, looking at the runs `keep` selects.
    pub fn load(exp: Experiment, opts: LoadOptions, keep: &(dyn Fn(usize) -> bool + Sync)) -> Result<Engine> {
        Self::load_with(exp, Registry::standard(), opts, keep)
    }

    /// Loads an experiment with a given set of rules.
    pub fn load_with(
        exp: Experiment,
        registry: Registry,
        opts: LoadOptions,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Result<Engine> {
        let _t = crate::util::trace::span("load");
        if opts.writable {
            // What an earlier darn left mid-write outside runs (runs are swept as they are
            // looked at, where their directories changed).
            let mut dirs = vec![exp.root.clone(), exp.root.join(".darn"), exp.aggregate_base()];
            for (tier, subtests) in &exp.subtests {
                dirs.push(exp.tier_dir(tier));
                dirs.extend(subtests.iter().map(|s| exp.subtest_dir(tier, s)));
            }
            for dir in dirs {
                crate::util::fs::sweep_temps(&dir);
            }
        }
        let managed = exp.root.join(".darn").is_dir();
        let held = !opts.writable && managed && lock::Lock::is_held(&exp.root);
        let cache_home = cache_home::CacheHome::choose(&exp.root, managed, opts.writable, held);
        let graph = {
            let _t = crate::util::trace::span("graph");
            Graph::new(&exp, registry)
        };
        let status_rules =
            StatusRules::of(&graph).ok_or_else(|| Error::Usage("the rules lack one that statuses need".into()))?;
        let fingerprint = graph.registry.fingerprint();
        // Stamps do not depend on the runs: they load while the caches load, bound to the nodes
        // as they are read.
        let journal_and_caches = crate::util::trace::span("journal and caches");
        let (journal, (stat, checks)) = rayon::join(
            || {
                let keys = {
                    let _t = crate::util::trace::span("node keys");
                    use rayon::prelude::*;
                    (0..graph.len() as u32).into_par_iter().map(|i| graph.key(graph::NodeId(i))).collect()
                };
                let _t = crate::util::trace::span("journal");
                Journal::load_bound(&exp.root, keys)
            },
            || match &cache_home {
                Some(home) => {
                    let stat = {
                        let _t = crate::util::trace::span("stat cache");
                        StatCache::load(&home.read, home.write.as_deref())
                    };
                    let _t = crate::util::trace::span("check cache");
                    (stat, ChecksCache::load(&home.read, home.write.as_deref(), fingerprint))
                }
                None => (StatCache::disabled(), ChecksCache::disabled()),
            },
        );
        drop(journal_and_caches);
        let known = facts::Known::of(&exp);
        let mut engine = Engine {
            known,
            facts: Facts::default(),
            statuses: Vec::new(),
            exp: std::sync::Arc::new(exp),
            graph,
            journal,
            stat,
            checks,
            status_rules,
            cache_home,
            writable: opts.writable,
        };
        let loaded = {
            let _t = crate::util::trace::span("scan");
            let cx = engine.context();
            crate::util::phase::set_first_look(engine.stat.is_empty());
            facts::load_runs(&cx, keep)
        };
        let _t = crate::util::trace::span("statuses");
        engine.facts = loaded.facts;
        for (rel, entry, digests) in loaded.entries {
            if let Some(e) = entry {
                engine.stat.store_run(&rel, &e);
            }
            if let Some((from, d)) = digests {
                engine.stat.store_node_digests(&rel, &from, &d);
            }
        }
        engine.checks.record(loaded.used);
        engine.check_readable()?;
        engine.statuses = (0..engine.graph.runs())
            .map(|r| status::classify(&engine.graph, &engine.status_rules, &engine.facts, r))
            .collect();
        drop(_t);
        if opts.aggregates {
            let _t = crate::util::trace::span("aggregates");
            crate::util::phase::begin(crate::util::phase::Phase::Aggregates, 0);
            engine.assess_aggregates(&HashSet::new());
        }
        crate::util::phase::begin(crate::util::phase::Phase::Idle, 0);
        let cx = engine_context(
            &engine.exp,
            &engine.graph,
            &engine.journal,
            &engine.stat,
            &engine.checks,
            &engine.known,
            engine.writable,
        );
        let _t = crate::util::trace::span("history");
        facts::history(&cx, &mut engine.facts);
        Ok(engine)
    }

    fn context(&self) -> Context<'_> {
        engine_context(&self.exp, &self.graph, &self.journal, &self.stat, &self.checks, &self.known, self.writable)
    }

    /// The cost and time estimate of an execution node (nothing for any other).
    pub fn estimate(&self, n: NodeId) -> crate::rules::Estimate {
        facts::estimate(&self.context(), &self.facts, n)
    }

    /// What the rules know of a run besides its files.
    pub fn run_info(&self, run: usize) -> crate::rules::RunInfo<'_> {
        self.known.info(&self.exp, &self.graph, run)
    }

    /// A file darn must read but cannot stops everything: it is not missing, and nothing is
    /// built on top of it.
    fn check_readable(&self) -> Result<()> {
        for (r, rf) in self.facts.runs.iter().enumerate() {
            if let Some(rf) = rf
                && let Some((file, problem)) = rf.files.unreadable().next()
            {
                let mut path = self.exp.run_dir(&self.exp.runs[r]).join(file.as_str());
                // A file where a directory belongs: name that file, not what would be inside it.
                if problem == crate::util::problem::IoProblem::NotADirectory {
                    while let Some(parent) = path.parent().map(Path::to_path_buf) {
                        if parent.is_file() {
                            path = parent;
                        } else {
                            break;
                        }
                    }
                }
                return Err(Error::Unreadable { path, problem });
            }
        }
        Ok(())
    }

    /// Where each run stands, for the checkpoint.
    pub fn progress(&self) -> Vec<RunProgress> {
        status::progress_of(&self.statuses, &self.facts)
    }

    /// Checks the aggregates (`trusted`: nodes darn just built).
    fn assess_aggregates(&mut self, trusted: &HashSet<NodeId>) {
        let progress = self.progress();
        let nodes: Vec<NodeId> = self.graph.nodes().filter(|n| self.graph.run_of(*n).is_none()).collect();
        let (results, used, remember) = {
            let cx = self.context();
            let inputs = AggregateInputs::new(&cx, &self.facts, &progress);
            let acx = facts::agg_cx(&cx, &inputs, None);
            let (results, used) = facts::aggregate_facts(&cx, &acx, &nodes, &|n| trusted.contains(&n));
            let remember = std::mem::take(&mut *inputs.remember.lock().unwrap_or_else(|e| e.into_inner()));
            (results, used, remember)
        };
        facts::set_aggregates(&mut self.facts, results);
        self.checks.record(used);
        for r in remember {
            self.stat.remember_file(r);
        }
    }

    /// Looks again at runs darn changed and at every aggregate. `built`: the nodes darn built
    /// (fresh by construction).
    pub fn refresh(&mut self, runs: &[usize], built: &HashSet<NodeId>) -> Result<()> {
        self.refresh_runs(runs, built)?;
        self.assess_aggregates(built);
        let cx =
            engine_context(&self.exp, &self.graph, &self.journal, &self.stat, &self.checks, &self.known, self.writable);
        facts::history(&cx, &mut self.facts);
        Ok(())
    }

    /// Looks again at runs darn changed (their facts and statuses, not the aggregates).
    pub fn refresh_runs(&mut self, runs: &[usize], built: &HashSet<NodeId>) -> Result<()> {
        use rayon::prelude::*;
        let outs: Vec<facts::RunOut> = {
            let cx = self.context();
            runs.par_iter().map(|&r| facts::run_facts(&cx, r, true, &|n| built.contains(&n))).collect()
        };
        for out in outs {
            if let Some(e) = &out.entry {
                self.stat.store_run(&out.facts.rel, e);
            }
            if let Some((from, d)) = &out.digests {
                self.stat.store_node_digests(&out.facts.rel, from, d);
            }
            self.checks.record(checks::Used { findings: out.used.findings.clone(), extras: out.used.extras.clone() });
            let run = out.run;
            facts::set_run(&mut self.facts, out);
            self.statuses[run] = status::classify(&self.graph, &self.status_rules, &self.facts, run);
        }
        self.check_readable()
    }

    /// The agent's outcome as a run directory's files show it now (the agent rule's verdict),
    /// for a backend to classify what it ran.
    pub fn outcome_fn(&self) -> std::sync::Arc<crate::rules::OutcomeFn> {
        let exp = std::sync::Arc::clone(&self.exp);
        let known = std::sync::Arc::new(facts::Known::of(&self.exp));
        let declared = self.graph.declared().clone();
        let slots = self.graph.slots;
        std::sync::Arc::new(move |run: usize, dir: &Path| {
            let loc = &exp.runs[run];
            let mut info = known.info_for(&exp, run, slots);
            info.dir = dir.to_path_buf();
            let looked = crate::observe::files::look(
                &crate::observe::dir::Dir::new(dir),
                &declared,
                None,
                i128::MAX,
                true,
                false,
            );
            let src = crate::observe::sources::RunSources::new(dir, &looked.files, looked.loaded);
            let _ = loc;
            crate::rules::RunCx::new(&info, src).outcome().clone()
        })
    }

    /// A node's named parts now.
    pub fn parts(&self, n: NodeId) -> Option<Parts> {
        let cx = self.context();
        if self.graph.run_of(n).is_some() {
            return facts::parts(&cx, None, &self.facts, n);
        }
        let progress = self.progress();
        let inputs = AggregateInputs::new(&cx, &self.facts, &progress);
        let acx = facts::agg_cx(&cx, &inputs, None);
        facts::parts(&cx, Some(&acx), &self.facts, n)
    }

    /// Runs `f` with a context for aggregate rules; `now` stamps the reports they build.
    pub fn with_aggregates<T>(&self, now: Option<&str>, f: impl FnOnce(&AggCx) -> T) -> T {
        let cx = self.context();
        let progress = self.progress();
        let inputs = AggregateInputs::new(&cx, &self.facts, &progress);
        let acx = facts::agg_cx(&cx, &inputs, now);
        f(&acx)
    }

    /// The plan for these options.
    pub fn plan(&self, opts: &PlanOptions) -> Plan {
        let _t = crate::util::trace::span("plan");
        // The named parts of aggregates need a context each time; runs' are cheap.
        let parts = |n: NodeId| self.parts(n);
        plan::plan(&self.graph, &self.facts, &self.journal, &parts, &|n| self.estimate(n), opts)
    }

    /// The failure classes that are re-executed (`[execution] rerun`, default all).
    pub fn rerun_classes(&self) -> Result<HashSet<FailureClass>> {
        match &self.exp.settings.execution.rerun {
            None => Ok(FailureClass::ALL.into_iter().collect()),
            Some(list) => list
                .iter()
                .map(|c| {
                    FailureClass::parse(c).ok_or_else(|| {
                        Error::bad_file(
                            self.exp.settings.source.clone().unwrap_or_default(),
                            format!(
                                "[execution] rerun: unknown failure class `{c}` (expected {})",
                                FailureClass::ALL.map(FailureClass::name).join(", ")
                            ),
                        )
                    })
                })
                .collect(),
        }
    }

    /// Resolves targets; relative paths against `bases` in order.
    pub fn targets(&self, targets: &[String], bases: &[PathBuf]) -> Result<Vec<NodeId>> {
        targets::resolve(&self.exp, &self.graph, targets, bases)
    }

    /// The nodes a selection keeps (`None`: no run filter).
    pub fn selected(&self, select: &select::Select) -> Option<HashSet<NodeId>> {
        select.nodes(&self.exp, &self.graph, &self.statuses, &self.facts)
    }

    /// Saves darn's caches when it may (a lost cache only costs time: errors are reported, not
    /// fatal).
    /// Whether a plan executes agents, judges (for checking what will run before it runs).
    pub fn executions(&self, plan: &plan::Plan) -> (bool, bool) {
        let mut kinds = (false, false);
        for a in &plan.actions {
            let node = self.graph.node(a.node);
            if let crate::rules::Rule::Run(rule) = self.graph.registry.get(node.rule) {
                match rule.execution(node.slot) {
                    Some(crate::rules::Execution::Agent) => kinds.0 = true,
                    Some(crate::rules::Execution::Judge(_)) => kinds.1 = true,
                    None => {}
                }
            }
        }
        kinds
    }

    /// Ends the engine's life at the end of a command: the process exits next, and freeing its
    /// memory an allocation at a time (a million of them at 10,000 runs) would only delay that.
    pub fn finish(self) {
        std::mem::forget(self);
    }

    pub fn save_caches(&mut self) -> std::io::Result<()> {
        let Some(home) = self.cache_home.as_ref().filter(|h| h.write.is_some()) else { return Ok(()) };
        let keep: HashSet<String> = self.exp.runs.iter().map(|l| self.exp.run_rel(l)).collect();
        self.stat.retain_runs(&keep);
        self.stat.save()?;
        self.checks.save()?;
        home.after_save();
        Ok(())
    }

    /// The directory an aggregate node's files live in, or a run's.
    pub fn node_dir(&self, n: NodeId) -> PathBuf {
        match self.graph.run_of(n) {
            Some(r) => self.exp.run_dir(&self.exp.runs[r]),
            None => aggregate_dir(&self.exp, &self.graph, n),
        }
    }

    /// A node's main file relative to the experiment (its first output), for messages.
    pub fn node_path(&self, n: NodeId) -> String {
        let dir = self.node_dir(n);
        let spec = self.graph.registry.spec(self.graph.node(n).rule);
        let first = match self.graph.run_of(n) {
            Some(_) => self.graph.node_files(n).1.first().map(|f| f.as_str().to_string()),
            None => spec.outputs.first().map(|s| (*s).to_string()),
        };
        let path = match (spec.strategy, first) {
            // An execution's files are a directory's worth: name the directory.
            (crate::rules::Strategy::Execute, Some(f)) => dir.join(Path::new(&f).parent().unwrap_or(Path::new(""))),
            (_, Some(f)) => dir.join(f),
            (_, None) => dir,
        };
        path.strip_prefix(&self.exp.root)
            .map_or_else(|_| path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
    }
}

fn engine_context<'a>(
    exp: &'a Experiment,
    graph: &'a Graph,
    journal: &'a Journal,
    stat: &'a StatCache,
    checks: &'a ChecksCache,
    known: &'a facts::Known,
    writable: bool,
) -> Context<'a> {
    Context { writable, ..Context::new(exp, graph, journal, stat, checks, known) }
}
