//! One rule per node kind. A rule declares everything about its kind (its id, its outputs, the
//! files it reads, the rules it comes after, its parameters and version, its strategy and stage),
//! checks its outputs against its inputs into a typed [`Finding`], and builds its outputs.
//!
//! The graph, the facts, regeneration, stamping and status all iterate over a [`Registry`];
//! adding a derived file is one rule module plus one line in [`Registry::standard`].
//!
//! Rules never write: `build` returns contents, the build layer writes them. The pure file
//! contents live in [`content`].

pub mod content;
pub mod cx;
pub mod finding;

mod agent;
mod agent_output;
mod agent_result;
mod agent_timing;
mod checkpoint;
mod compare;
mod consensus;
mod experiment_report;
mod experiment_result;
mod judge_prompt;
mod judge_slot;
mod judgment;
mod on_disk;
mod run_report;
mod run_result;
mod subtest_report;
mod tier_report;
mod tier_result;

pub use checkpoint::{RunProgress, config_hash};
pub use cx::{AggCx, AggInputs, BuildEnv, ExpInfo, History, RunCx, RunExtras, RunInfo, SlotDisk};
pub use finding::{FailureClass, Finding};
pub use judge_prompt::{PromptEffects, WorkspaceChanges};

use crate::experiment::files::RunFile;
use std::collections::HashMap;

/// Where a node lives: in a run, in one judge slot of a run, or at a subtest, tier or the
/// experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Run,
    Slot,
    Subtest,
    Tier,
    Experiment,
}

impl Scope {
    pub fn is_run(self) -> bool {
        matches!(self, Scope::Run | Scope::Slot)
    }
}

/// How a node is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Cheap: derived from files on disk.
    Regenerate,
    /// Expensive: an agent or a judge must run.
    Execute,
}

/// A pipeline stage, for `--stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Agent,
    Judge,
    Aggregate,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Agent, Stage::Judge, Stage::Aggregate];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Agent => "agent",
            Stage::Judge => "judge",
            Stage::Aggregate => "aggregate",
        }
    }
}

/// How a node is linked to the nodes of an upstream rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The node of the same run (and the same slot, between slot rules).
    Same,
    /// Every slot of the same run.
    EachSlot,
    /// Every node of the upstream rule below this node: the runs of a subtest, a tier or the
    /// experiment; the subtests of a tier; the tiers of the experiment.
    Below,
}

/// An upstream rule.
#[derive(Debug, Clone, Copy)]
pub struct Dep {
    pub rule: &'static str,
    pub link: Link,
}

/// Everything static about a node kind.
#[derive(Debug)]
pub struct Spec {
    /// The rule's unique key, used by dependencies (`agent-result`).
    pub key: &'static str,
    /// The node id below its scope: `agent/result.json`, `judge/judge_{slot}/judgment.json`,
    /// `report.json`. For aggregates, also what tells them apart within a scope.
    pub name: &'static str,
    pub scope: Scope,
    pub strategy: Strategy,
    pub stage: Stage,
    /// Bumped when the rule's output for the same inputs changes: old outputs become stale.
    pub version: u32,
    /// Upstream rules: the graph's edges into this node.
    pub after: &'static [Dep],
    /// Files the node writes, relative to its directory (`{slot}`: the node's slot).
    pub outputs: &'static [&'static str],
    /// Files (besides its outputs) whose content decides the node, relative to its directory
    /// (`{slot}`: the node's slot; `{each}`: every slot). Run and slot rules only: aggregates
    /// name their inputs through [`AggregateRule::inputs`].
    pub reads: &'static [&'static str],
    /// What besides its check makes the node stale (against its stamp).
    pub stale_when: StaleWhen,
}

/// What besides a node's check makes it stale, compared with what its stamp recorded: for
/// executions and for outputs a check cannot verify (an existing judge prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleWhen {
    /// The check alone decides (it compares the outputs with what the inputs give).
    Checked,
    /// Also when a parameter changed (the agent: only its configuration decides a run).
    ParamsChange,
    /// Also when a parameter or one of these files changed (a judge slot and its prompt).
    InputsChange(&'static [&'static str]),
}

/// One output file with its new content.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub file: RunFile,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

impl Output {
    pub fn new(file: RunFile, bytes: impl Into<Vec<u8>>) -> Self {
        Output { file, bytes: bytes.into(), executable: false }
    }
}

/// The agent's outcome as the files of a run directory show it (the agent rule's check), for a
/// backend to classify what it ran: (run index, run directory) → finding.
pub type OutcomeFn = dyn Fn(usize, &std::path::Path) -> Finding + Send + Sync;

/// What an execution rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Execution {
    Agent,
    Judge(u16),
}

/// A cost and time estimate (USD, seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub cost_usd: f64,
    pub seconds: f64,
}

/// Receives a node's named parameters.
pub type ParamSink<'s, 'a> = &'s mut dyn FnMut(&'static str, &'a str);

/// A rule whose node belongs to one run (or one judge slot of a run).
pub trait RunRule: Sync {
    fn spec(&self) -> &'static Spec;

    /// The parameters that decide the node's output, as configured now.
    fn params<'a>(&self, _info: &'a RunInfo, _slot: u16, _out: ParamSink<'_, 'a>) {}

    /// Checks the node's outputs against what its inputs give.
    fn check(&self, run: &RunCx, slot: u16) -> Finding;

    /// The node's outputs as they should be (regeneration rules); `Err` says what is missing.
    fn build(&self, _run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        Err(Finding::NeverRan)
    }

    /// What to run (execution rules).
    fn execution(&self, _slot: u16) -> Option<Execution> {
        None
    }

    /// What an execution would cost, from the experiment's history (execution rules).
    fn estimate(&self, _info: &RunInfo, _slot: u16, _history: &History) -> Option<Estimate> {
        None
    }
}

/// A rule whose node is a subtest, tier or experiment aggregate.
pub trait AggregateRule: Sync {
    fn spec(&self) -> &'static Spec;

    fn params<'a>(&self, _cx: &'a AggCx, _at: usize, _out: ParamSink<'_, 'a>) {}

    /// The files whose content decides the node, by name, with their hashes now.
    fn inputs(&self, cx: &AggCx, at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash));

    fn check(&self, cx: &AggCx, at: usize) -> Finding;

    fn build(&self, cx: &AggCx, at: usize) -> Result<Vec<Output>, Finding>;
}

/// A rule of either kind.
#[derive(Clone, Copy)]
pub enum Rule {
    Run(&'static dyn RunRule),
    Aggregate(&'static dyn AggregateRule),
}

impl Rule {
    pub fn spec(&self) -> &'static Spec {
        match self {
            Rule::Run(r) => r.spec(),
            Rule::Aggregate(r) => r.spec(),
        }
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.spec().key)
    }
}

/// A rule's position in its registry.
pub type RuleIx = u8;

/// The rules of a build, in a topological order, with their file lists expanded per slot.
#[derive(Debug)]
pub struct Registry {
    rules: Vec<Rule>,
    by_name: HashMap<&'static str, RuleIx>,
    /// Upstream rules of each rule, resolved.
    after: Vec<Vec<(RuleIx, Link)>>,
}

/// Why a set of rules does not make a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    UnknownDependency {
        rule: &'static str,
        dep: &'static str,
    },
    Cycle(&'static str),
    Duplicate(&'static str),
    /// A run rule after an aggregate rule, or a link that makes no sense between two scopes.
    BadLink {
        rule: &'static str,
        dep: &'static str,
    },
    UnknownFile {
        rule: &'static str,
        file: &'static str,
    },
}

impl Registry {
    /// darn's rules.
    pub fn standard() -> Registry {
        Self::new(Self::standard_rules()).unwrap_or_else(|e| unreachable!("the standard rules are consistent: {e:?}"))
    }

    /// darn's rules as a list (tests extend it).
    pub fn standard_rules() -> Vec<Rule> {
        vec![
            Rule::Run(&agent::AGENT),
            Rule::Run(&agent_output::AGENT_OUTPUT),
            Rule::Run(&agent_result::AGENT_RESULT),
            Rule::Run(&agent_timing::AGENT_TIMING),
            Rule::Run(&judge_prompt::JUDGE_PROMPT),
            Rule::Run(&judge_slot::JUDGE_SLOT),
            Rule::Run(&judgment::JUDGMENT),
            Rule::Run(&consensus::CONSENSUS),
            Rule::Run(&run_result::RUN_RESULT),
            Rule::Run(&run_report::RUN_REPORT),
            Rule::Aggregate(&subtest_report::SUBTEST_REPORT),
            Rule::Aggregate(&tier_result::TIER_RESULT),
            Rule::Aggregate(&tier_report::TIER_REPORT),
            Rule::Aggregate(&experiment_result::EXPERIMENT_RESULT),
            Rule::Aggregate(&experiment_report::EXPERIMENT_REPORT),
            Rule::Aggregate(&checkpoint::CHECKPOINT),
        ]
    }

    /// Orders `rules` topologically (keeping the given order where it is free) and checks that
    /// every dependency and file exists.
    pub fn new(rules: Vec<Rule>) -> Result<Registry, RegistryError> {
        use petgraph::graph::DiGraph;
        let mut by_name: HashMap<&'static str, usize> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            if by_name.insert(r.spec().name_key(), i).is_some() {
                return Err(RegistryError::Duplicate(r.spec().key));
            }
        }
        let mut g: DiGraph<usize, ()> = DiGraph::new();
        let nodes: Vec<_> = (0..rules.len()).map(|i| g.add_node(i)).collect();
        for (i, r) in rules.iter().enumerate() {
            let spec = r.spec();
            for dep in spec.after {
                let Some(&j) = by_name.get(dep.rule) else {
                    return Err(RegistryError::UnknownDependency { rule: spec.key, dep: dep.rule });
                };
                if !link_fits(rules[j].spec().scope, spec.scope, dep.link) {
                    return Err(RegistryError::BadLink { rule: spec.key, dep: dep.rule });
                }
                g.add_edge(nodes[j], nodes[i], ());
            }
            // A rule's files join the vocabulary: a new derived file needs nothing else.
            for file in spec.outputs.iter().chain(spec.reads) {
                if expand(file, 1, 1).iter().any(|f| RunFile::intern(f).is_none()) {
                    return Err(RegistryError::UnknownFile { rule: spec.key, file });
                }
            }
        }
        // A stable topological order: repeatedly take the first rule whose upstream are placed.
        let mut placed = vec![false; rules.len()];
        let mut order: Vec<usize> = Vec::with_capacity(rules.len());
        while order.len() < rules.len() {
            let next = (0..rules.len()).find(|&i| {
                !placed[i] && g.neighbors_directed(nodes[i], petgraph::Direction::Incoming).all(|p| placed[g[p]])
            });
            let Some(i) = next else {
                let stuck = (0..rules.len()).find(|&i| !placed[i]).map_or("?", |i| rules[i].spec().key);
                return Err(RegistryError::Cycle(stuck));
            };
            placed[i] = true;
            order.push(i);
        }
        // Runs before aggregates, finer aggregate scopes before coarser ones: node index order
        // is then a build order.
        let rank = |s: Scope| match s {
            Scope::Run | Scope::Slot => 0,
            Scope::Subtest => 1,
            Scope::Tier => 2,
            Scope::Experiment => 3,
        };
        let mut sorted = order.clone();
        sorted.sort_by_key(|&i| rank(rules[i].spec().scope));
        for (pos, &i) in sorted.iter().enumerate() {
            for dep in rules[i].spec().after {
                let j = by_name[dep.rule];
                if sorted.iter().position(|&x| x == j).is_none_or(|p| p > pos) {
                    return Err(RegistryError::BadLink { rule: rules[i].spec().key, dep: dep.rule });
                }
            }
        }
        let ordered: Vec<Rule> = sorted.iter().map(|&i| rules[i]).collect();
        let by_name: HashMap<&'static str, RuleIx> =
            ordered.iter().enumerate().map(|(i, r)| (r.spec().name_key(), i as RuleIx)).collect();
        let after =
            ordered.iter().map(|r| r.spec().after.iter().map(|d| (by_name[d.rule], d.link)).collect()).collect();
        Ok(Registry { rules: ordered, by_name, after })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, ix: RuleIx) -> Rule {
        self.rules[usize::from(ix)]
    }

    pub fn spec(&self, ix: RuleIx) -> &'static Spec {
        self.rules[usize::from(ix)].spec()
    }

    /// The rules in build order, with their indices.
    pub fn iter(&self) -> impl Iterator<Item = (RuleIx, Rule)> + '_ {
        self.rules.iter().enumerate().map(|(i, r)| (i as RuleIx, *r))
    }

    pub fn by_name(&self, name: &str) -> Option<RuleIx> {
        self.by_name.get(name).copied()
    }

    /// Upstream rules of a rule.
    pub fn after(&self, ix: RuleIx) -> &[(RuleIx, Link)] {
        &self.after[usize::from(ix)]
    }

    /// Files a run or slot rule writes, for one slot of a run with `slots` slots.
    pub fn outputs(&self, ix: RuleIx, slot: u16, slots: u16) -> Vec<RunFile> {
        files_of(self.spec(ix).outputs, slot, slots)
    }

    /// Files a run or slot rule reads besides its outputs.
    pub fn reads(&self, ix: RuleIx, slot: u16, slots: u16) -> Vec<RunFile> {
        files_of(self.spec(ix).reads, slot, slots)
    }

    /// What a run or slot rule reads, as its digest names it: a file by its name, and a
    /// directory template (`agent/*`) as one part covering every file darn knows in it.
    pub fn read_parts(&self, ix: RuleIx, slot: u16, slots: u16) -> Vec<ReadPart> {
        let mut parts = Vec::new();
        for template in self.spec(ix).reads {
            for t in expand_slots(template, slot, slots) {
                let files: Vec<RunFile> = expand(&t, slot, slots).iter().filter_map(|f| RunFile::of(f)).collect();
                match t.ends_with("/*") {
                    true => parts.push(ReadPart { name: t.into_boxed_str(), files, group: true }),
                    false => parts.extend(files.into_iter().map(|f| ReadPart {
                        name: f.as_str().into(),
                        files: vec![f],
                        group: false,
                    })),
                }
            }
        }
        parts
    }

    /// The files and directories of a run with `slots` judge slots that any rule reads or writes.
    pub fn declared(&self, slots: u16) -> crate::observe::files::Declared {
        let mut files: Vec<RunFile> = Vec::new();
        for (ix, rule) in self.iter() {
            let spec = rule.spec();
            let slots_of: Vec<u16> = match spec.scope {
                Scope::Run => vec![0],
                Scope::Slot => (1..=slots).collect(),
                Scope::Subtest | Scope::Tier | Scope::Experiment => continue,
            };
            for s in slots_of {
                files.extend(self.outputs(ix, s, slots));
                files.extend(self.reads(ix, s, slots));
            }
        }
        // Every directory on the way to a file: their stat data vouches for absent files.
        let mut dirs: Vec<RunFile> = Vec::new();
        for f in &files {
            let mut path = f.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                if let Some(d) = RunFile::of(parent)
                    && !dirs.contains(&d)
                {
                    dirs.push(d);
                }
                path = parent;
            }
        }
        // Directories that are themselves read (the workspace) are looked at as directories.
        let (as_dirs, files): (Vec<RunFile>, Vec<RunFile>) = files.into_iter().partition(|f| f.as_str() == "workspace");
        dirs.sort_by_key(|d| d.as_str().len());
        dirs.extend(as_dirs);
        crate::observe::files::Declared::new(files, dirs)
    }

    /// The run and slot nodes of a run with `slots` judge slots in files: for each, the files it
    /// writes and the files it reads (its own reads and what the nodes upstream of it write).
    /// The scale bench writes the same graph as a `build.ninja` from it.
    pub fn file_edges(&self, slots: u16) -> Vec<(Vec<RunFile>, Vec<RunFile>)> {
        let slots_of = |scope: Scope, link: Option<(Link, u16)>| -> Vec<u16> {
            match (scope, link) {
                (Scope::Run, _) => vec![0],
                (Scope::Slot, Some((Link::Same, s))) => vec![s],
                (Scope::Slot, _) => (1..=slots).collect(),
                _ => Vec::new(),
            }
        };
        let mut edges = Vec::new();
        for (ix, rule) in self.iter() {
            for s in slots_of(rule.spec().scope, None) {
                let outs = self.outputs(ix, s, slots);
                let mut ins: Vec<RunFile> = self.reads(ix, s, slots);
                for &(up, link) in self.after(ix) {
                    for u in slots_of(self.spec(up).scope, Some((link, s))) {
                        ins.extend(self.outputs(up, u, slots));
                    }
                }
                let mut seen = std::collections::HashSet::new();
                ins.retain(|f| !outs.contains(f) && seen.insert(*f));
                edges.push((outs, ins));
            }
        }
        edges
    }

    /// A fingerprint of the rules (names and versions) and of the file vocabulary, for caches
    /// of their verdicts.
    pub fn fingerprint(&self) -> crate::util::hash::Hash {
        let mut d = crate::util::hash::Digest::new();
        d.raw(&crate::experiment::files::vocabulary_digest());
        for r in &self.rules {
            d.piece(r.spec().name.as_bytes()).raw(&r.spec().version.to_le_bytes());
        }
        d.finish()
    }
}

impl Spec {
    /// The name that identifies the rule in dependencies.
    fn name_key(&self) -> &'static str {
        self.key
    }

    /// The node's id below its scope, for a slot.
    pub fn suffix(&self, slot: u16) -> String {
        self.name.replace("{slot}", &format!("{slot:02}"))
    }
}

fn link_fits(up: Scope, down: Scope, link: Link) -> bool {
    use Scope::*;
    match link {
        Link::Same => matches!((up, down), (Run, Run) | (Run, Slot) | (Slot, Slot)) || (up == down && !up.is_run()),
        Link::EachSlot => up == Slot && down == Run,
        Link::Below => {
            matches!(
                (up, down),
                (Run | Slot, Subtest | Tier | Experiment) | (Subtest, Tier | Experiment) | (Tier, Experiment)
            )
        }
    }
}

/// One part of what a node reads, as its digest and stamp name it.
#[derive(Debug, Clone)]
pub struct ReadPart {
    /// The file, or the directory template (`agent/*`, `judge/judge_02/*`).
    pub name: Box<str>,
    pub files: Vec<RunFile>,
    /// A directory: one hash over its files' names and hashes stands for them all, so a stamp
    /// stays small and a change anywhere in the directory shows.
    pub group: bool,
}

/// A template with `{slot}` (the node's slot) or `{each}` (every slot) filled in.
fn expand_slots(template: &str, slot: u16, slots: u16) -> Vec<String> {
    if template.contains("{each}") {
        (1..=slots).map(|s| template.replace("{each}", &format!("{s:02}"))).collect()
    } else {
        vec![template.replace("{slot}", &format!("{slot:02}"))]
    }
}

/// Expands a file template: `{slot}` (the node's slot), `{each}` (every slot), and a final `*`
/// for every file darn knows in that directory (`agent/*`, `judge/judge_{slot}/*`).
fn expand(template: &str, slot: u16, slots: u16) -> Vec<String> {
    expand_slots(template, slot, slots)
        .into_iter()
        .flat_map(|t| match t.strip_suffix("/*") {
            Some("agent") => crate::experiment::files::AGENT_FILES.iter().map(|f| (*f).to_string()).collect(),
            Some(dir) => crate::observe::judge::SLOT_FILES.iter().map(|f| format!("{dir}/{f}")).collect(),
            None => vec![t],
        })
        .collect()
}

fn files_of(templates: &[&str], slot: u16, slots: u16) -> Vec<RunFile> {
    templates.iter().flat_map(|t| expand(t, slot, slots)).filter_map(|f| RunFile::of(&f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_rules_are_in_build_order() {
        let r = Registry::standard();
        assert_eq!(r.len(), 16);
        for (ix, rule) in r.iter() {
            for (up, _) in r.after(ix) {
                assert!(*up < ix, "{} comes after {}", rule.spec().name, r.spec(*up).name);
            }
        }
        assert_eq!(r.spec(0).name, "agent");
        assert_eq!(
            r.outputs(r.by_name("judgment").expect("rule"), 2, 3).iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            ["judge/judge_02/judgment.json"]
        );
    }

    #[test]
    fn inconsistent_rules_are_refused() {
        struct Orphan;
        static ORPHAN_SPEC: Spec = Spec {
            key: "orphan",
            name: "orphan.txt",
            scope: Scope::Run,
            strategy: Strategy::Regenerate,
            stage: Stage::Agent,
            version: 1,
            after: &[Dep { rule: "nowhere", link: Link::Same }],
            outputs: &["agent/output.txt"],
            reads: &[],
            stale_when: StaleWhen::Checked,
        };
        impl RunRule for Orphan {
            fn spec(&self) -> &'static Spec {
                &ORPHAN_SPEC
            }
            fn check(&self, _: &RunCx, _: u16) -> Finding {
                Finding::Fresh
            }
        }
        static O: Orphan = Orphan;
        let mut rules = Registry::standard_rules();
        rules.push(Rule::Run(&O));
        assert_eq!(
            Registry::new(rules).err(),
            Some(RegistryError::UnknownDependency { rule: "orphan", dep: "nowhere" })
        );
    }
}
