//! Loading everything a command needs to plan: the experiment, stamps, the stat cache, the
//! observations, the graph and the facts. The same path serves `status`, `plan`, `why`,
//! `graph` and `reconcile`.

use crate::assess::{Assessment, assess};
use crate::cache::ObsCache;
use crate::error::Result;
use crate::experiment::Experiment;
use crate::graph::{Graph, resolve_targets};
use crate::observe::FailureClass;
use crate::plan::{Plan, PlanOptions, plan};
use crate::printer::Printer;
use crate::scan::{remember, scan_cached};
use crate::select::Select;
use crate::stamp::Journal;
use petgraph::graph::NodeIndex;
use std::collections::HashSet;
use std::path::Path;

/// A loaded experiment with its facts.
pub struct Engine {
    pub exp: Experiment,
    pub graph: Graph,
    pub journal: Journal,
    pub cache: ObsCache,
    pub assessment: Assessment,
    /// Each run's observation context (with expected contents when `writable`).
    pub contexts: Vec<crate::observe::ObsContext>,
}

impl Engine {
    /// Observes everything. `writable`: darn may update its cache (reconcile); read-only
    /// commands use the cache but never write it.
    pub fn load(exp: Experiment, printer: &Printer, writable: bool) -> Engine {
        let _t = crate::util::trace::span("load");
        let darn_dir = exp.root.join(".darn").is_dir();
        let contexts = crate::scan::contexts(&exp, writable);
        // Stamps and the graph do not depend on the runs: they load while the runs are scanned.
        let ((journal, graph), (mut cache, (runs, fresh))) = rayon::join(
            || {
                let t = crate::util::trace::span("journal");
                let journal = Journal::load(&exp.root);
                drop(t);
                let _t = crate::util::trace::span("graph");
                (journal, Graph::build(&exp))
            },
            || {
                let t = crate::util::trace::span("cache load");
                let cache = if darn_dir || writable { ObsCache::load(&exp.root) } else { ObsCache::disabled() };
                drop(t);
                let _t = crate::util::trace::span("scan");
                let scanned = scan_cached(&exp, &contexts, |_, _| true, &cache);
                (cache, scanned)
            },
        );
        if let Some(w) = &journal.recovered {
            printer.warn(w);
        }
        if writable {
            remember(&mut cache, fresh);
        }
        let _t2 = crate::util::trace::span("assess");
        let assessment = assess(&exp, &graph, runs, &journal, &mut cache, &std::collections::HashSet::new());
        Engine { exp, graph, journal, cache, assessment, contexts }
    }

    /// The failure classes that are re-executed (`[execution] rerun`, default all).
    pub fn rerun_classes(&self) -> Result<HashSet<FailureClass>> {
        match &self.exp.settings.execution.rerun {
            None => Ok(FailureClass::ALL.into_iter().collect()),
            Some(list) => list
                .iter()
                .map(|c| {
                    FailureClass::parse(c).ok_or_else(|| {
                        crate::error::Error::bad_file(
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

    /// Nodes kept by the SELECT filters on runs (`None`: no run filter). Aggregates covering a
    /// selected run stay selected.
    pub fn selected_nodes(&self, select: &Select) -> Option<HashSet<NodeIndex>> {
        let run_filter = !(select.tiers.is_empty()
            && select.subtests.is_empty()
            && select.runs.is_empty()
            && select.status.is_empty()
            && select.judge_status.is_empty());
        if !run_filter {
            return None;
        }
        let mut out = HashSet::new();
        let mut tiers = HashSet::new();
        let mut subtests = HashSet::new();
        for r in &self.assessment.runs {
            let key = &self.exp.runs[r.index].key;
            if select.matches_key(key)
                && (select.status.is_empty() || select.status.contains(&r.status.agent))
                && (select.judge_status.is_empty() || select.judge_status.contains(&r.status.judge))
            {
                out.extend(self.graph.run_nodes[r.index].iter().copied());
                tiers.insert(key.tier.clone());
                subtests.insert((key.tier.clone(), key.subtest.clone()));
            }
        }
        if out.is_empty() {
            return Some(out);
        }
        for ((t, s), n) in &self.graph.subtest_nodes {
            if subtests.contains(&(t.clone(), s.clone())) {
                out.insert(*n);
            }
        }
        for t in &tiers {
            out.extend(self.graph.tier_result.get(t));
            out.extend(self.graph.tier_report.get(t));
        }
        out.extend([self.graph.experiment_result, self.graph.experiment_report, self.graph.checkpoint]);
        Some(out)
    }

    /// Resolves targets relative to the current directory.
    pub fn targets(&self, targets: &[String]) -> Result<Vec<NodeIndex>> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
        resolve_targets(&self.exp, &self.graph, targets, &cwd)
    }

    /// Plans with the given options.
    pub fn plan(&self, opts: &PlanOptions) -> Plan {
        let _t = crate::util::trace::span("plan");
        plan(&self.graph, &self.assessment.facts, &self.journal, opts)
    }

    /// Looks a node up by id.
    pub fn by_id(&self) -> impl Fn(&str) -> Option<NodeIndex> + '_ {
        let map: std::collections::HashMap<&str, NodeIndex> =
            self.graph.g.node_indices().map(|n| (self.graph.node(n).id.as_str(), n)).collect();
        move |id: &str| map.get(id).copied()
    }
}
