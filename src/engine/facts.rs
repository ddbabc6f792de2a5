//! The facts the planner decides from: for every node, the digest of what decides it now (rule
//! version, parameters, the hashes of the files it reads and writes) and its rule's finding.
//!
//! A finding is computed only when nothing vouches for it: a stamp with the same digest proves
//! the node fresh, the check cache holds what an earlier check of the same digest found, and
//! only the rest is checked, reading and parsing just the files those rules need.

use super::checks::{ChecksCache, Used};
use super::graph::{Graph, NodeId, ReadWhat};
use super::journal::{Stamp, Stamps};
use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::observe::cache::StatCache;
use crate::observe::dir::Dir;
use crate::observe::files::{RunEntry, RunFiles, look};
use crate::observe::sources::RunSources;
use crate::rules::{
    AggCx, AggInputs, Estimate, ExpInfo, Finding, History, Rule, RunCx, RunExtras, RunInfo, RunProgress,
};
use crate::util::hash::Hash;
use rayon::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// Receives a node's named parts in order: rule version, parameters, inputs, outputs.
pub trait PartSink {
    fn rule(&mut self, version: u32);
    fn param(&mut self, name: &str, value: &str);
    fn input(&mut self, name: &str, hash: &Hash);
    fn output(&mut self, name: &str, hash: &Hash);
}

/// The digest of a node's parts: the same bytes as [`super::journal::digest`] of its stamp.
#[derive(Default)]
pub struct DigestSink {
    buf: Vec<u8>,
    stage: u8,
}

impl DigestSink {
    fn to(&mut self, stage: u8) {
        while self.stage < stage {
            self.stage += 1;
            if self.stage >= 2 {
                self.buf.push(self.stage);
            }
        }
    }

    pub fn finish(mut self) -> Hash {
        self.take()
    }

    /// The digest so far; the sink starts over, keeping its buffer for the next node.
    pub fn take(&mut self) -> Hash {
        self.to(3);
        let digest = crate::util::hash::hash_bytes(&self.buf);
        self.buf.clear();
        self.stage = 0;
        digest
    }
}

impl PartSink for DigestSink {
    fn rule(&mut self, version: u32) {
        self.buf.extend_from_slice(&version.to_le_bytes());
        self.stage = 1;
    }
    fn param(&mut self, name: &str, value: &str) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(1);
    }
    fn input(&mut self, name: &str, hash: &Hash) {
        self.to(2);
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.buf.extend_from_slice(hash);
    }
    fn output(&mut self, name: &str, hash: &Hash) {
        self.to(3);
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.buf.extend_from_slice(hash);
    }
}

/// A node's named parts, for stamps and for explaining a difference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    pub rule: u32,
    pub params: Vec<(String, String)>,
    pub inputs: Vec<(String, Hash)>,
    pub outputs: Vec<(String, Hash)>,
}

impl PartSink for Parts {
    fn rule(&mut self, version: u32) {
        self.rule = version;
    }
    fn param(&mut self, name: &str, value: &str) {
        self.params.push((name.to_string(), value.to_string()));
    }
    fn input(&mut self, name: &str, hash: &Hash) {
        self.inputs.push((name.to_string(), *hash));
    }
    fn output(&mut self, name: &str, hash: &Hash) {
        self.outputs.push((name.to_string(), *hash));
    }
}

impl Parts {
    pub fn digest(&self) -> Hash {
        self.stamp(false, 0).digest()
    }

    pub fn stamp(&self, adopted: bool, at: i64) -> Stamp {
        Stamp {
            rule: self.rule,
            adopted,
            params: self.params.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            at,
        }
    }
}

/// What is known of one run.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub files: RunFiles,
    pub extras: std::sync::Arc<RunExtras>,
    /// The run directory relative to the experiment.
    pub rel: String,
}

/// The facts of every node.
#[derive(Debug, Default)]
pub struct Facts {
    digest: Vec<Hash>,
    /// `None`: fresh.
    finding: Vec<Option<Box<Finding>>>,
    observed: Vec<bool>,
    /// By run index (`None`: the run was not looked at).
    pub runs: Vec<Option<RunFacts>>,
    /// Means of past executions, for estimates.
    pub history: History,
}

impl Facts {
    pub fn digest(&self, n: NodeId) -> Hash {
        self.digest[n.index()]
    }

    pub fn finding(&self, n: NodeId) -> &Finding {
        static FRESH: Finding = Finding::Fresh;
        self.finding[n.index()].as_deref().unwrap_or(&FRESH)
    }

    /// Whether the node was looked at (runs outside a selection are not).
    pub fn observed(&self, n: NodeId) -> bool {
        self.observed[n.index()]
    }

    /// Records a node as just built by darn: fresh, with this digest.
    pub fn set_built(&mut self, n: NodeId, digest: Hash) {
        self.digest[n.index()] = digest;
        self.finding[n.index()] = None;
    }

    pub(super) fn set(&mut self, n: NodeId, digest: Hash, finding: Finding) {
        self.digest[n.index()] = digest;
        self.finding[n.index()] = (!finding.is_fresh()).then(|| Box::new(finding));
        self.observed[n.index()] = true;
    }

    pub(super) fn empty(len: usize, runs: usize) -> Facts {
        Facts {
            digest: vec![[0; 16]; len],
            finding: (0..len).map(|_| None).collect(),
            observed: vec![false; len],
            runs: vec![None; runs],
            history: History::default(),
        }
    }
}

/// What the rules know of the experiment, computed once per load.
#[derive(Debug)]
pub struct Known {
    pub shared: ExpInfo,
    base: String,
    /// Each subtest's pipeline baseline, and as text.
    baselines: HashMap<(String, String), (Value, String)>,
}

impl Known {
    pub fn of(exp: &Experiment) -> Known {
        let baselines = exp
            .baseline_summaries()
            .into_iter()
            .map(|(k, v)| {
                let text = crate::py::json::to_string(&v);
                (k, (v, text))
            })
            .collect();
        Known { shared: ExpInfo::of(exp), base: exp.recorded_base(), baselines }
    }

    /// What the rules know of a run besides its files.
    pub fn info<'a>(&'a self, exp: &'a Experiment, graph: &Graph, run: usize) -> RunInfo<'a> {
        self.info_for(exp, run, graph.slots)
    }

    /// The same, without a graph.
    pub fn info_for<'a>(&'a self, exp: &'a Experiment, run: usize, slots: u16) -> RunInfo<'a> {
        let loc = &exp.runs[run];
        let baseline = self.baselines.get(&(loc.key.tier.clone(), loc.key.subtest.clone()));
        RunInfo {
            exp,
            shared: &self.shared,
            index: run,
            key: &loc.key,
            id: loc.key.id(),
            slots,
            recorded_run_path: exp.recorded_run_path(&self.base, &loc.key),
            baseline: baseline.map(|(v, _)| v),
            baseline_text: baseline.map_or("", |(_, t)| t.as_str()),
            dir: exp.run_dir(loc),
        }
    }
}

/// What looking at the experiment needs: everything shared by the runs.
pub struct Context<'a> {
    pub exp: &'a Experiment,
    pub graph: &'a Graph,
    pub stamps: &'a dyn Stamps,
    pub stat: &'a StatCache,
    pub checks: &'a ChecksCache,
    pub known: &'a Known,
    /// The command holds the lock: it may clean what an earlier darn left (temp files).
    pub writable: bool,
}

impl<'a> Context<'a> {
    pub fn new(
        exp: &'a Experiment,
        graph: &'a Graph,
        stamps: &'a dyn Stamps,
        stat: &'a StatCache,
        checks: &'a ChecksCache,
        known: &'a Known,
    ) -> Self {
        Context { exp, graph, stamps, stat, checks, known, writable: false }
    }

    /// What the rules know of a run besides its files.
    pub fn info(&self, run: usize) -> RunInfo<'a> {
        self.known.info(self.exp, self.graph, run)
    }

    /// The named parts of a run or slot node, given its run's files.
    pub fn run_parts(&self, info: &RunInfo, files: &RunFiles, n: NodeId, sink: &mut dyn PartSink) {
        let groups: Vec<Hash> = self.graph.groups().iter().map(|g| group_hash(files, g)).collect();
        self.run_parts_with(info, files, &groups, n, sink);
    }

    /// [`Context::run_parts`] with the run's group hashes already computed.
    fn run_parts_with(&self, info: &RunInfo, files: &RunFiles, groups: &[Hash], n: NodeId, sink: &mut dyn PartSink) {
        let node = self.graph.node(n);
        let Rule::Run(rule) = self.graph.registry.get(node.rule) else { return };
        sink.rule(rule.spec().version);
        rule.params(info, node.slot, &mut |k, v| sink.param(k, v));
        for read in self.graph.read_parts(n) {
            match read.what {
                ReadWhat::File(f) => sink.input(&read.name, &files.hash(f)),
                ReadWhat::Group(g) => sink.input(&read.name, &groups[g]),
            }
        }
        for f in self.graph.node_files(n).1 {
            sink.output(f.as_str(), &files.hash(*f));
        }
    }

    /// The named parts of an aggregate node.
    pub fn aggregate_parts(&self, cx: &AggCx, n: NodeId, sink: &mut dyn PartSink) {
        let node = self.graph.node(n);
        let Rule::Aggregate(rule) = self.graph.registry.get(node.rule) else { return };
        let spec = rule.spec();
        sink.rule(spec.version);
        rule.params(cx, node.at as usize, &mut |k, v| sink.param(k, v));
        rule.inputs(cx, node.at as usize, &mut |k, h| sink.input(&k, &h));
        let dir = super::aggregate_dir(self.exp, self.graph, n);
        for out in spec.outputs {
            sink.output(out, &cx.inputs.file_hash(&cx.rel(&dir.join(out))));
        }
    }
}

/// One hash over the names and hashes of a directory's files.
fn group_hash(files: &RunFiles, group: &[RunFile]) -> Hash {
    let mut buf = Vec::with_capacity(group.len() * 40);
    for f in group {
        buf.extend_from_slice(f.as_str().as_bytes());
        buf.push(0);
        buf.extend_from_slice(&files.hash(*f));
    }
    crate::util::hash::hash_bytes(&buf)
}

/// What looking at one run gave.
pub struct RunOut {
    pub run: usize,
    pub facts: RunFacts,
    pub nodes: Vec<(NodeId, Hash, Finding)>,
    pub entry: Option<RunEntry>,
    /// Node digests computed anew, with what they were computed from, for the stat cache.
    pub digests: Option<NodeDigests>,
    pub used: Used,
}

/// A run's node digests, after the digest of what they were computed from.
pub type NodeDigests = (Hash, Vec<Hash>);

/// What a run's node digests are computed from besides the rules: its files' states and every
/// node's parameters.
fn digests_key(cx: &Context, info: &RunInfo, content: &Hash) -> Hash {
    let mut d = crate::util::hash::Digest::new();
    d.raw(&cx.graph.rules_digest).raw(content);
    for n in cx.graph.run_nodes(info.index) {
        let node = cx.graph.node(n);
        if let Rule::Run(rule) = cx.graph.registry.get(node.rule) {
            d.raw(&n.index().to_le_bytes());
            rule.params(info, node.slot, &mut |k, v| {
                d.piece(k.as_bytes()).piece(v.as_bytes());
            });
        }
    }
    d.finish()
}

/// Looks at one run: its files, then each node's digest and finding. `trusted` nodes were just
/// built by darn and are fresh by construction.
pub fn run_facts(cx: &Context, run: usize, use_cache: bool, trusted: &(dyn Fn(NodeId) -> bool + Sync)) -> RunOut {
    let info = cx.info(run);
    let rel = cx.exp.run_rel(&cx.exp.runs[run]);
    for attempt in 0..2 {
        let cached = if use_cache && attempt == 0 { cx.stat.run(&rel) } else { None };
        let looked =
            look(&Dir::new(&info.dir), cx.graph.declared(), cached.as_ref(), cx.stat.racy_after_ns, true, cx.writable);
        let files = looked.files;
        let mut used = Used::default();
        let mut nodes: Vec<(NodeId, Hash, Option<Finding>)> = Vec::with_capacity(cx.graph.per_run());
        let mut to_check = false;
        // The nodes' digests follow from the run's files and parameters: when both are what
        // they were last time, so are the digests.
        let content = files.digest();
        let from = digests_key(cx, &info, &content);
        let cached = if use_cache { cx.stat.node_digests(&rel, &from, cx.graph.per_run()) } else { None };
        let computed = cached.is_none();
        let digests = cached.unwrap_or_else(|| {
            let groups: Vec<Hash> = cx.graph.groups().iter().map(|g| group_hash(&files, g)).collect();
            let mut d = DigestSink { buf: Vec::with_capacity(1024), stage: 0 };
            cx.graph
                .run_nodes(run)
                .map(|n| {
                    cx.run_parts_with(&info, &files, &groups, n, &mut d);
                    d.take()
                })
                .collect()
        });
        for (n, &digest) in cx.graph.run_nodes(run).zip(&digests) {
            let finding = if trusted(n) || cx.stamps.digest(n) == Some(digest) {
                Some(Finding::Fresh)
            } else if let Some(f) = cx.checks.finding(&digest) {
                used.findings.push((digest, None));
                Some(f)
            } else {
                to_check = true;
                None
            };
            nodes.push((n, digest, finding));
        }
        let cached_extras = cx.checks.extras(&content).cloned();
        let (extras, changed) = if !to_check && let Some(x) = cached_extras {
            used.extras.push((content, None));
            (x, false)
        } else {
            let src = RunSources::new(&info.dir, &files, looked.loaded);
            let rcx = RunCx::new(&info, src);
            for (n, digest, finding) in &mut nodes {
                if finding.is_none() {
                    let node = cx.graph.node(*n);
                    let f = match cx.graph.registry.get(node.rule) {
                        Rule::Run(r) => r.check(&rcx, node.slot),
                        Rule::Aggregate(_) => Finding::Fresh,
                    };
                    used.findings.push((*digest, Some(f.clone())));
                    *finding = Some(f);
                }
            }
            let extras = std::sync::Arc::new(rcx.extras());
            used.extras.push((content, Some(std::sync::Arc::clone(&extras))));
            (extras, rcx.src.changed())
        };
        if changed && attempt == 0 {
            // A file changed while darn looked at the run: look again from scratch.
            continue;
        }
        let entry = if changed { None } else { looked.entry };
        let used = if changed { Used::default() } else { used };
        let digests = (computed && !changed).then_some((from, digests));
        let nodes = nodes.into_iter().map(|(n, d, f)| (n, d, f.unwrap_or(Finding::Fresh))).collect();
        return RunOut { run, facts: RunFacts { files, extras, rel }, nodes, entry, digests, used };
    }
    unreachable!("the loop returns on its second pass")
}

/// The inputs aggregate rules read from the engine.
pub struct AggregateInputs<'a> {
    pub cx: &'a Context<'a>,
    pub facts: &'a Facts,
    pub progress: &'a [RunProgress],
    /// Files outside runs that had to be read, to remember in the stat cache.
    pub remember: Mutex<Vec<(String, crate::observe::dir::StatSig, Hash)>>,
    hashes: Mutex<HashMap<String, Hash>>,
}

impl<'a> AggregateInputs<'a> {
    pub fn new(cx: &'a Context<'a>, facts: &'a Facts, progress: &'a [RunProgress]) -> Self {
        AggregateInputs { cx, facts, progress, remember: Mutex::new(Vec::new()), hashes: Mutex::new(HashMap::new()) }
    }
}

impl AggInputs for AggregateInputs<'_> {
    fn run_file_hash(&self, run: usize, file: RunFile) -> Hash {
        match self.facts.runs.get(run).and_then(Option::as_ref) {
            Some(r) => r.files.hash(file),
            // A run not looked at: hash the file as it is.
            None => {
                let dir = self.cx.exp.run_dir(&self.cx.exp.runs[run]);
                std::fs::read(dir.join(file.as_str()))
                    .map_or(crate::util::hash::ABSENT, |b| crate::util::hash::hash_bytes(&b))
            }
        }
    }

    fn file_hash(&self, rel: &str) -> Hash {
        if let Ok(h) = self.hashes.lock()
            && let Some(h) = h.get(rel)
        {
            return *h;
        }
        let hash = match self.cx.stat.file_hash(&self.cx.exp.root, rel) {
            Ok(None) => crate::util::hash::ABSENT,
            Err(_) => crate::util::hash::UNREADABLE,
            Ok(Some(look)) => {
                if let (Some(r), Ok(mut remember)) = (look.remember, self.remember.lock()) {
                    remember.push(r);
                }
                look.hash
            }
        };
        if let Ok(mut h) = self.hashes.lock() {
            h.insert(rel.to_string(), hash);
        }
        hash
    }

    fn progress(&self, run: usize) -> RunProgress {
        self.progress.get(run).copied().unwrap_or(RunProgress::NotStarted)
    }
}

/// The digest and finding of every aggregate node.
pub fn aggregate_facts(
    cx: &Context,
    acx: &AggCx,
    nodes: &[NodeId],
    trusted: &(dyn Fn(NodeId) -> bool + Sync),
) -> (Vec<(NodeId, Hash, Finding)>, Used) {
    type Checked = (NodeId, Hash, Finding, Option<(Hash, Option<Finding>)>);
    let results: Vec<Checked> = nodes
        .par_iter()
        .map(|&n| {
            let mut d = DigestSink::default();
            cx.aggregate_parts(acx, n, &mut d);
            let digest = d.finish();
            if trusted(n) || cx.stamps.digest(n) == Some(digest) {
                return (n, digest, Finding::Fresh, None);
            }
            if let Some(f) = cx.checks.finding(&digest) {
                return (n, digest, f, Some((digest, None)));
            }
            let node = cx.graph.node(n);
            let f = match cx.graph.registry.get(node.rule) {
                Rule::Aggregate(r) => r.check(acx, node.at as usize),
                Rule::Run(_) => Finding::Fresh,
            };
            (n, digest, f.clone(), Some((digest, Some(f))))
        })
        .collect();
    let mut used = Used::default();
    let mut out = Vec::with_capacity(results.len());
    for (n, d, f, u) in results {
        used.findings.extend(u);
        out.push((n, d, f));
    }
    (out, used)
}

/// Builds the facts of the runs for which `keep` is true and, when `aggregates`, of every
/// aggregate node. Returns what to store in the caches.
pub struct Loaded {
    pub facts: Facts,
    /// For each run looked at: its cache entry and node digests to store, if new.
    pub entries: Vec<(String, Option<RunEntry>, Option<NodeDigests>)>,
    pub used: Used,
}

/// Looks at the runs `keep` selects.
pub fn load_runs(cx: &Context, keep: &(dyn Fn(usize) -> bool + Sync)) -> Loaded {
    let mut facts = Facts::empty(cx.graph.len(), cx.graph.runs());
    let runs: Vec<usize> = (0..cx.graph.runs()).filter(|&r| keep(r)).collect();
    crate::util::phase::begin(crate::util::phase::Phase::Runs, runs.len());
    let mut loaded = Loaded { facts: Facts::default(), entries: Vec::new(), used: Used::default() };
    // In chunks: what one run's look leaves to absorb is kept for a chunk at a time, not for
    // every run at once.
    for chunk in runs.chunks(1024) {
        let outs: Vec<RunOut> = chunk
            .par_iter()
            .map(|&r| {
                let out = run_facts(cx, r, true, &|_| false);
                crate::util::phase::step();
                out
            })
            .collect();
        for out in outs {
            absorb(&mut facts, &mut loaded, out);
        }
    }
    loaded.facts = facts;
    loaded
}

/// Takes one run's facts into the whole.
pub fn absorb(facts: &mut Facts, loaded: &mut Loaded, out: RunOut) {
    for (n, d, f) in out.nodes {
        facts.set(n, d, f);
    }
    loaded.entries.push((out.facts.rel.clone(), out.entry, out.digests));
    loaded.used.findings.extend(out.used.findings);
    loaded.used.extras.extend(out.used.extras);
    facts.runs[out.run] = Some(out.facts);
}

/// Sets the facts of aggregate nodes.
pub fn set_aggregates(facts: &mut Facts, nodes: Vec<(NodeId, Hash, Finding)>) {
    for (n, d, f) in nodes {
        facts.set(n, d, f);
    }
}

/// Sets a run's facts after darn rebuilt some of its nodes.
pub fn set_run(facts: &mut Facts, out: RunOut) {
    for (n, d, f) in out.nodes {
        facts.set(n, d, f);
    }
    facts.runs[out.run] = Some(out.facts);
}

/// What past executions of the looked-at runs cost and took, for estimates.
pub fn history(cx: &Context, facts: &mut Facts) {
    facts.history = History::of(
        facts
            .runs
            .iter()
            .enumerate()
            .filter_map(|(r, f)| f.as_ref().map(|f| (cx.exp.runs[r].key.tier.as_str(), &*f.extras))),
    );
}

/// The cost and time estimate of an execution node from that history, computed when asked: a
/// plan asks only of the nodes it would execute, so a no-op asks of none.
pub fn estimate(cx: &Context, facts: &Facts, n: NodeId) -> Estimate {
    let Some(run) = cx.graph.run_of(n) else { return Estimate::default() };
    if facts.runs.get(run).is_none_or(Option::is_none) {
        return Estimate::default();
    }
    let node = cx.graph.node(n);
    match cx.graph.registry.get(node.rule) {
        Rule::Run(r) => r.estimate(&cx.info(run), node.slot, &facts.history).unwrap_or_default(),
        Rule::Aggregate(_) => Estimate::default(),
    }
}

/// The named parts of any node now (for `why` and stamps).
pub fn parts(cx: &Context, acx: Option<&AggCx>, facts: &Facts, n: NodeId) -> Option<Parts> {
    let mut p = Parts::default();
    match cx.graph.run_of(n) {
        Some(run) => {
            let files = &facts.runs.get(run)?.as_ref()?.files;
            cx.run_parts(&cx.info(run), files, n, &mut p);
        }
        None => cx.aggregate_parts(acx?, n, &mut p),
    }
    Some(p)
}

/// A context for aggregate rules over these facts.
pub fn agg_cx<'a>(cx: &'a Context<'a>, inputs: &'a AggregateInputs<'a>, now: Option<&str>) -> AggCx<'a> {
    AggCx::new(cx.exp, inputs, now.map_or_else(crate::util::time::now_iso, str::to_string))
}
