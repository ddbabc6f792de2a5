//! The dependency graph, implicit: every run has the same nodes (one per run rule, one per slot
//! of each slot rule), followed by the aggregate nodes (one per subtest, tier or experiment of
//! each aggregate rule). A node is a dense index in an order in which to build; its rule, slot
//! and place are arithmetic on that index, and its edges come from the rules' declarations, so
//! the graph costs a few words per run instead of a record per node and edge.

use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::observe::files::Declared;
use crate::rules::{Link, Registry, RuleIx, Scope};
use std::collections::HashMap;

/// A node: an index in build order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a node is: its rule, its slot (0 when not a slot node), and its place (run index,
/// subtest index, tier index, or 0 for the experiment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub rule: RuleIx,
    pub slot: u16,
    pub at: u32,
}

/// 16 bytes standing for a node id (the truncated blake3 of the id): what the journal indexes
/// stamps by, so neither it nor its callers hold a string per node.
pub type Key = crate::util::hash::Hash;

/// The key of a node id.
pub fn key_of(id: &str) -> Key {
    crate::util::hash::hash_bytes(id.as_bytes())
}

/// One part of what a run node reads, as its digest names it.
#[derive(Debug)]
pub struct Read {
    pub name: Box<str>,
    pub what: ReadWhat,
}

#[derive(Debug, Clone, Copy)]
pub enum ReadWhat {
    File(RunFile),
    /// One hash over a directory's files ([`Graph::groups`]).
    Group(usize),
}

/// The graph of one experiment.
#[derive(Debug)]
pub struct Graph {
    pub registry: Registry,
    /// The rules' fingerprint (names, versions, vocabulary), computed once.
    pub rules_digest: crate::util::hash::Hash,
    pub slots: u16,
    runs: u32,
    /// Nodes per run, and for each of them its (rule, slot).
    per_run: u32,
    run_layout: Vec<(RuleIx, u16)>,
    /// For each of a run's nodes: the files it reads (besides its outputs) and its outputs.
    run_files: Vec<(Vec<RunFile>, Vec<RunFile>)>,
    /// For each of a run's nodes: its id below the run (`judge/judge_02`).
    run_suffixes: Vec<String>,
    /// For each of a run's nodes: what it reads, as its digest names it.
    run_reads: Vec<Vec<Read>>,
    /// The directory groups those reads name (`agent/*`), each hashed once per run.
    groups: Vec<Vec<RunFile>>,
    /// Every file and directory of a run that any rule reads or writes.
    declared: Declared,
    /// Offset within a run's block of each run rule's first node.
    run_offset: HashMap<RuleIx, u32>,
    /// Aggregate blocks: (rule, first node, node count).
    blocks: Vec<(RuleIx, u32, u32)>,
    total: u32,
    /// `T0/00/run_01` of each run; `(tier, subtest)` of each subtest; each tier.
    pub run_ids: Vec<String>,
    pub subtests: Vec<(String, String)>,
    pub tiers: Vec<String>,
    run_index: HashMap<String, u32>,
    /// The subtest and tier index of each run; the tier of each subtest.
    run_subtest: Vec<u32>,
    run_tier: Vec<u32>,
    subtest_tier: Vec<u32>,
    /// Runs of each subtest and of each tier; subtests of each tier.
    subtest_runs: Vec<Vec<u32>>,
    tier_runs: Vec<Vec<u32>>,
    tier_subtests: Vec<Vec<u32>>,
}

impl Graph {
    pub fn new(exp: &Experiment, registry: Registry) -> Graph {
        let slots = exp.config.judge_models.len().min(crate::experiment::files::MAX_SLOTS) as u16;
        let mut run_layout = Vec::new();
        let mut run_offset = HashMap::new();
        for (ix, rule) in registry.iter() {
            match rule.spec().scope {
                Scope::Run => {
                    run_offset.insert(ix, run_layout.len() as u32);
                    run_layout.push((ix, 0));
                }
                Scope::Slot => {
                    run_offset.insert(ix, run_layout.len() as u32);
                    run_layout.extend((1..=slots).map(|s| (ix, s)));
                }
                Scope::Subtest | Scope::Tier | Scope::Experiment => {}
            }
        }
        let per_run = run_layout.len() as u32;
        let run_files = run_layout
            .iter()
            .map(|&(ix, slot)| {
                let outputs = registry.outputs(ix, slot, slots);
                let mut reads: Vec<RunFile> = Vec::new();
                for f in registry.reads(ix, slot, slots) {
                    if !outputs.contains(&f) && !reads.contains(&f) {
                        reads.push(f);
                    }
                }
                (reads, outputs)
            })
            .collect();
        let rules_digest = registry.fingerprint();
        let run_suffixes = run_layout.iter().map(|&(ix, slot)| registry.spec(ix).suffix(slot)).collect();
        let mut groups: Vec<(Box<str>, Vec<RunFile>)> = Vec::new();
        let run_reads = run_layout
            .iter()
            .map(|&(ix, slot)| {
                let mut reads = Vec::new();
                for part in registry.read_parts(ix, slot, slots) {
                    if part.group {
                        let at = groups.iter().position(|(name, _)| *name == part.name).unwrap_or_else(|| {
                            groups.push((part.name.clone(), part.files.clone()));
                            groups.len() - 1
                        });
                        reads.push(Read { name: part.name, what: ReadWhat::Group(at) });
                    } else {
                        reads.extend(
                            part.files.iter().map(|&f| Read { name: part.name.clone(), what: ReadWhat::File(f) }),
                        );
                    }
                }
                reads
            })
            .collect();
        let groups = groups.into_iter().map(|(_, files)| files).collect();
        let declared = registry.declared(slots);
        let runs = exp.runs.len() as u32;
        let tiers: Vec<String> = exp.tiers.clone();
        let subtests: Vec<(String, String)> =
            tiers.iter().flat_map(|t| exp.subtests_of(t).iter().map(move |s| (t.clone(), s.clone()))).collect();
        let tier_pos: HashMap<&str, u32> = tiers.iter().enumerate().map(|(i, t)| (t.as_str(), i as u32)).collect();
        let subtest_pos: HashMap<(&str, &str), u32> =
            subtests.iter().enumerate().map(|(i, (t, s))| ((t.as_str(), s.as_str()), i as u32)).collect();
        let mut run_subtest = Vec::with_capacity(exp.runs.len());
        let mut run_tier = Vec::with_capacity(exp.runs.len());
        let mut subtest_runs = vec![Vec::new(); subtests.len()];
        let mut tier_runs = vec![Vec::new(); tiers.len()];
        for (ri, loc) in exp.runs.iter().enumerate() {
            let s = subtest_pos.get(&(loc.key.tier.as_str(), loc.key.subtest.as_str())).copied().unwrap_or(u32::MAX);
            let t = tier_pos.get(loc.key.tier.as_str()).copied().unwrap_or(u32::MAX);
            run_subtest.push(s);
            run_tier.push(t);
            if let Some(v) = subtest_runs.get_mut(s as usize) {
                v.push(ri as u32);
            }
            if let Some(v) = tier_runs.get_mut(t as usize) {
                v.push(ri as u32);
            }
        }
        let subtest_tier: Vec<u32> = subtests.iter().map(|(t, _)| tier_pos[t.as_str()]).collect();
        let mut tier_subtests = vec![Vec::new(); tiers.len()];
        for (si, &t) in subtest_tier.iter().enumerate() {
            tier_subtests[t as usize].push(si as u32);
        }
        let mut next = runs * per_run;
        let mut blocks = Vec::new();
        for (ix, rule) in registry.iter() {
            let count = match rule.spec().scope {
                Scope::Subtest => subtests.len() as u32,
                Scope::Tier => tiers.len() as u32,
                Scope::Experiment => 1,
                Scope::Run | Scope::Slot => continue,
            };
            blocks.push((ix, next, count));
            next += count;
        }
        let run_ids: Vec<String> = exp.runs.iter().map(|l| l.key.id()).collect();
        let run_index = run_ids.iter().enumerate().map(|(i, id)| (id.clone(), i as u32)).collect();
        Graph {
            registry,
            slots,
            runs,
            per_run,
            run_layout,
            rules_digest,
            run_files,
            run_suffixes,
            run_reads,
            groups,
            declared,
            run_offset,
            blocks,
            total: next,
            run_ids,
            subtests,
            tiers,
            run_index,
            run_subtest,
            run_tier,
            subtest_tier,
            subtest_runs,
            tier_runs,
            tier_subtests,
        }
    }

    pub fn len(&self) -> usize {
        self.total as usize
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + use<> {
        (0..self.total).map(NodeId)
    }

    pub fn runs(&self) -> usize {
        self.runs as usize
    }

    pub fn per_run(&self) -> usize {
        self.per_run as usize
    }

    pub fn node(&self, n: NodeId) -> Node {
        if n.0 < self.runs * self.per_run {
            let (rule, slot) = self.run_layout[(n.0 % self.per_run) as usize];
            return Node { rule, slot, at: n.0 / self.per_run };
        }
        for &(rule, start, count) in &self.blocks {
            if n.0 >= start && n.0 < start + count {
                return Node { rule, slot: 0, at: n.0 - start };
            }
        }
        unreachable!("node {} of a graph of {}", n.0, self.total)
    }

    /// The files a run or slot node reads (besides its outputs), and its outputs.
    pub fn node_files(&self, n: NodeId) -> (&[RunFile], &[RunFile]) {
        match self.run_of(n) {
            Some(_) => {
                let (r, o) = &self.run_files[(n.0 % self.per_run) as usize];
                (r, o)
            }
            None => (&[], &[]),
        }
    }

    /// The directory groups run nodes read, by the index their [`Read`]s name.
    pub fn groups(&self) -> &[Vec<RunFile>] {
        &self.groups
    }

    /// What a run or slot node reads, as its digest names it.
    pub fn read_parts(&self, n: NodeId) -> &[Read] {
        match self.run_of(n) {
            Some(_) => &self.run_reads[(n.0 % self.per_run) as usize],
            None => &[],
        }
    }

    /// What the first look at a run covers.
    pub fn declared(&self) -> &Declared {
        &self.declared
    }

    pub fn scope(&self, n: NodeId) -> Scope {
        self.registry.spec(self.node(n).rule).scope
    }

    /// The run a run or slot node belongs to.
    pub fn run_of(&self, n: NodeId) -> Option<usize> {
        (n.0 < self.runs * self.per_run).then_some((n.0 / self.per_run) as usize)
    }

    /// The nodes of one run, in build order.
    pub fn run_nodes(&self, run: usize) -> impl Iterator<Item = NodeId> + use<> {
        let start = run as u32 * self.per_run;
        (start..start + self.per_run).map(NodeId)
    }

    /// The node of `rule` (slot `slot` for a slot rule) in run `run`.
    pub fn run_node(&self, run: usize, rule: RuleIx, slot: u16) -> Option<NodeId> {
        let off = *self.run_offset.get(&rule)?;
        let spec = self.registry.spec(rule);
        let off = match spec.scope {
            Scope::Slot if slot >= 1 && slot <= self.slots => off + u32::from(slot) - 1,
            Scope::Slot => return None,
            Scope::Run | Scope::Subtest | Scope::Tier | Scope::Experiment => off,
        };
        (run < self.runs as usize).then_some(NodeId(run as u32 * self.per_run + off))
    }

    /// The node of an aggregate rule at place `at`.
    pub fn aggregate_node(&self, rule: RuleIx, at: u32) -> Option<NodeId> {
        self.blocks.iter().find(|b| b.0 == rule).filter(|b| at < b.2).map(|b| NodeId(b.1 + at))
    }

    /// Every node of a rule.
    pub fn nodes_of(&self, rule: RuleIx) -> Vec<NodeId> {
        if let Some(&(_, start, count)) = self.blocks.iter().find(|b| b.0 == rule) {
            return (start..start + count).map(NodeId).collect();
        }
        let slots: Vec<u16> =
            if self.registry.spec(rule).scope == Scope::Slot { (1..=self.slots).collect() } else { vec![0] };
        (0..self.runs as usize).flat_map(|r| slots.iter().filter_map(move |&s| self.run_node(r, rule, s))).collect()
    }

    /// The nodes of `rule` of run `run` (every slot for a slot rule).
    fn rule_in_run(&self, rule: RuleIx, run: u32, out: &mut Vec<NodeId>) {
        let slots: Vec<u16> =
            if self.registry.spec(rule).scope == Scope::Slot { (1..=self.slots).collect() } else { vec![0] };
        out.extend(slots.into_iter().filter_map(|s| self.run_node(run as usize, rule, s)));
    }

    /// The nodes this node comes after (its inputs).
    pub fn preds(&self, n: NodeId) -> Vec<NodeId> {
        let node = self.node(n);
        let scope = self.registry.spec(node.rule).scope;
        let mut out = Vec::new();
        for &(up, link) in self.registry.after(node.rule) {
            let up_scope = self.registry.spec(up).scope;
            match (link, scope) {
                (Link::Same, Scope::Run | Scope::Slot) => {
                    let slot = if up_scope == Scope::Slot { node.slot } else { 0 };
                    out.extend(self.run_node(node.at as usize, up, slot));
                }
                (Link::Same, _) => out.extend(self.aggregate_node(up, node.at)),
                (Link::EachSlot, _) => self.rule_in_run(up, node.at, &mut out),
                (Link::Below, below) => {
                    let runs: &[u32] = match below {
                        Scope::Subtest => &self.subtest_runs[node.at as usize],
                        Scope::Tier => &self.tier_runs[node.at as usize],
                        Scope::Run | Scope::Slot | Scope::Experiment => &[],
                    };
                    match (below, up_scope) {
                        (Scope::Subtest | Scope::Tier, Scope::Run | Scope::Slot) => {
                            for &r in runs {
                                self.rule_in_run(up, r, &mut out);
                            }
                        }
                        (Scope::Experiment, Scope::Run | Scope::Slot) => {
                            for r in 0..self.runs {
                                self.rule_in_run(up, r, &mut out);
                            }
                        }
                        (Scope::Tier, Scope::Subtest) => out.extend(
                            self.tier_subtests[node.at as usize].iter().filter_map(|&s| self.aggregate_node(up, s)),
                        ),
                        (Scope::Experiment, Scope::Subtest | Scope::Tier) => out.extend(self.nodes_of(up)),
                        _ => {}
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The nodes that come after this node (its dependents).
    pub fn succs(&self, n: NodeId) -> Vec<NodeId> {
        let node = self.node(n);
        let scope = self.registry.spec(node.rule).scope;
        let mut out = Vec::new();
        for (down, rule) in self.registry.iter() {
            let down_scope = rule.spec().scope;
            for &(up, link) in self.registry.after(down) {
                if up != node.rule {
                    continue;
                }
                match (link, down_scope) {
                    (Link::Same, Scope::Run) => out.extend(self.run_node(node.at as usize, down, 0)),
                    (Link::Same, Scope::Slot) => {
                        if scope == Scope::Slot {
                            out.extend(self.run_node(node.at as usize, down, node.slot));
                        } else {
                            self.rule_in_run(down, node.at, &mut out);
                        }
                    }
                    (Link::Same, _) => out.extend(self.aggregate_node(down, node.at)),
                    (Link::EachSlot, _) => out.extend(self.run_node(node.at as usize, down, 0)),
                    (Link::Below, below) => {
                        let at = match (scope, below) {
                            (Scope::Run | Scope::Slot, Scope::Subtest) => {
                                self.run_subtest.get(node.at as usize).copied()
                            }
                            (Scope::Run | Scope::Slot, Scope::Tier) => self.run_tier.get(node.at as usize).copied(),
                            (Scope::Subtest, Scope::Tier) => self.subtest_tier.get(node.at as usize).copied(),
                            (_, Scope::Experiment) => Some(0),
                            _ => None,
                        };
                        out.extend(at.and_then(|a| self.aggregate_node(down, a)));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The node's id: `T0/00/run_01/agent/result.json`, `T0/00/report.json`, `result.json`.
    pub fn id(&self, n: NodeId) -> String {
        let node = self.node(n);
        let spec = self.registry.spec(node.rule);
        let suffix = spec.suffix(node.slot);
        match spec.scope {
            Scope::Run | Scope::Slot => format!("{}/{suffix}", self.run_ids[node.at as usize]),
            Scope::Subtest => {
                let (t, s) = &self.subtests[node.at as usize];
                format!("{t}/{s}/{suffix}")
            }
            Scope::Tier => format!("{}/{suffix}", self.tiers[node.at as usize]),
            Scope::Experiment => suffix,
        }
    }

    /// The journal key of a node's id, without building the id.
    pub fn key(&self, n: NodeId) -> Key {
        match self.run_of(n) {
            Some(run) => crate::util::hash::hash_concat(&[
                &self.run_ids[run],
                "/",
                &self.run_suffixes[(n.0 % self.per_run) as usize],
            ]),
            None => key_of(&self.id(n)),
        }
    }

    /// The node with this id.
    pub fn find(&self, id: &str) -> Option<NodeId> {
        // Run nodes: `T/S/run_NN/<suffix>`.
        let mut parts = id.splitn(4, '/');
        if let (Some(t), Some(s), Some(r), Some(rest)) = (parts.next(), parts.next(), parts.next(), parts.next())
            && let Some(&run) = self.run_index.get(&format!("{t}/{s}/{r}"))
        {
            for (ix, rule) in self.registry.iter() {
                let spec = rule.spec();
                match spec.scope {
                    Scope::Run if spec.name == rest => return self.run_node(run as usize, ix, 0),
                    Scope::Slot => {
                        if let Some(slot) = match_slot(spec.name, rest) {
                            return self.run_node(run as usize, ix, slot);
                        }
                    }
                    _ => {}
                }
            }
            return None;
        }
        for (ix, rule) in self.registry.iter() {
            let spec = rule.spec();
            let at = match spec.scope {
                Scope::Subtest => self.subtests.iter().position(|(t, s)| id == format!("{t}/{s}/{}", spec.name)),
                Scope::Tier => self.tiers.iter().position(|t| id == format!("{t}/{}", spec.name)),
                Scope::Experiment => (id == spec.name).then_some(0),
                Scope::Run | Scope::Slot => None,
            };
            if let Some(at) = at {
                return self.aggregate_node(ix, at as u32);
            }
        }
        None
    }

    /// The index of a run by its id.
    pub fn run_by_id(&self, id: &str) -> Option<usize> {
        self.run_index.get(id).map(|&r| r as usize)
    }

    /// Runs of a subtest, of a tier.
    pub fn runs_of_subtest(&self, s: usize) -> &[u32] {
        &self.subtest_runs[s]
    }

    pub fn runs_of_tier(&self, t: usize) -> &[u32] {
        &self.tier_runs[t]
    }

    pub fn subtest_of_run(&self, r: usize) -> Option<usize> {
        self.run_subtest.get(r).filter(|s| **s != u32::MAX).map(|s| *s as usize)
    }

    pub fn tier_of_run(&self, r: usize) -> Option<usize> {
        self.run_tier.get(r).filter(|t| **t != u32::MAX).map(|t| *t as usize)
    }

    pub fn tier_of_subtest(&self, s: usize) -> usize {
        self.subtest_tier[s] as usize
    }
}

/// The slot of `rest` if it matches a slot rule's id template (`judge/judge_{slot}/...`).
fn match_slot(template: &str, rest: &str) -> Option<u16> {
    let (before, after) = template.split_once("{slot}")?;
    let digits = rest.strip_prefix(before)?.strip_suffix(after)?;
    if digits.len() != 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|s| *s >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(dir: &std::path::Path) -> Experiment {
        let spec = crate::demo::DemoSpec {
            tiers: 2,
            subtests: 2,
            runs_per_subtest: 3,
            judges: 3,
            damage: false,
            ..Default::default()
        };
        crate::demo::generate(dir, &spec).expect("demo");
        Experiment::open_root(dir.to_path_buf(), None).expect("open")
    }

    #[test]
    fn ids_round_trip_and_edges_agree_both_ways() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let exp = demo(tmp.path());
        let g = Graph::new(&exp, Registry::standard());
        assert_eq!(g.runs(), 12);
        assert_eq!(g.per_run(), 14);
        for n in g.nodes() {
            let id = g.id(n);
            assert_eq!(g.find(&id), Some(n), "{id}");
            assert_eq!(g.key(n), key_of(&id), "{id}: the key is the id's");
            for p in g.preds(n) {
                assert!(p < n, "{} comes before {}", g.id(p), id);
                assert!(g.succs(p).contains(&n), "{} -> {id}", g.id(p));
            }
            for s in g.succs(n) {
                assert!(g.preds(s).contains(&n), "{id} -> {}", g.id(s));
            }
        }
        let run = g.find("T0/00/run_02/run_result.json").expect("node");
        let preds: Vec<String> = g.preds(run).into_iter().map(|p| g.id(p)).collect();
        assert!(preds.contains(&"T0/00/run_02/judge/judge_03/judgment.json".to_string()), "{preds:?}");
        assert!(g.find("T0/00/run_02/judge/judge_04").is_none());
        let cp = g.find("checkpoint.json").expect("checkpoint");
        assert_eq!(cp.index(), g.len() - 1);
    }
}
