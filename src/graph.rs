//! The dependency graph: node kinds, ids, output files, edges, and target resolution.
//!
//! Nodes are added in a topological order (a run's nodes from the agent down, then subtest,
//! tier and experiment aggregates), so node index order is an order in which to build.

use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::experiment::names::{RunKey, slot_dir_name};
use crate::select::Stage;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// How a node is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Cheap: derived from files on disk.
    Regenerate,
    /// Expensive: an agent or a judge must run.
    Execute,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Agent,
    AgentOutput,
    AgentResult,
    AgentTiming,
    JudgePrompt,
    JudgeSlot(u16),
    Judgment(u16),
    Consensus,
    RunResult,
    RunReport,
    SubtestReport,
    TierResult,
    TierReport,
    ExperimentResult,
    ExperimentReport,
    Checkpoint,
}

impl NodeKind {
    pub fn strategy(self) -> Strategy {
        match self {
            NodeKind::Agent | NodeKind::JudgeSlot(_) => Strategy::Execute,
            _ => Strategy::Regenerate,
        }
    }

    pub fn stage(self) -> Stage {
        match self {
            NodeKind::Agent | NodeKind::AgentOutput | NodeKind::AgentResult | NodeKind::AgentTiming => Stage::Agent,
            NodeKind::JudgePrompt | NodeKind::JudgeSlot(_) | NodeKind::Judgment(_) | NodeKind::Consensus => {
                Stage::Judge
            }
            _ => Stage::Aggregate,
        }
    }

    /// True for nodes that belong to one run.
    pub fn is_run_node(self) -> bool {
        !matches!(
            self,
            NodeKind::SubtestReport
                | NodeKind::TierResult
                | NodeKind::TierReport
                | NodeKind::ExperimentResult
                | NodeKind::ExperimentReport
                | NodeKind::Checkpoint
        )
    }

    /// The id suffix of a run node (`agent/result.json`), or the file name of an aggregate.
    pub fn suffix(self) -> String {
        match self {
            NodeKind::Agent => "agent".into(),
            NodeKind::AgentOutput => "agent/output.txt".into(),
            NodeKind::AgentResult => "agent/result.json".into(),
            NodeKind::AgentTiming => "agent/timing.json".into(),
            NodeKind::JudgePrompt => "judge_prompt.md".into(),
            NodeKind::JudgeSlot(n) => format!("judge/{}", slot_dir_name(n as usize)),
            NodeKind::Judgment(n) => format!("judge/{}/judgment.json", slot_dir_name(n as usize)),
            NodeKind::Consensus => "judge/result.json".into(),
            NodeKind::RunResult => "run_result.json".into(),
            NodeKind::RunReport | NodeKind::SubtestReport | NodeKind::TierReport | NodeKind::ExperimentReport => {
                "report.json".into()
            }
            NodeKind::TierResult | NodeKind::ExperimentResult => "result.json".into(),
            NodeKind::Checkpoint => "checkpoint.json".into(),
        }
    }

    /// Files the node produces, relative to its run directory (run nodes) or its aggregate
    /// directory (others).
    pub fn outputs(self) -> Vec<&'static str> {
        let slot = |n: u16, f: &str| RunFile::slot(n as usize, f).map_or("judge/judge_??", RunFile::as_str);
        match self {
            NodeKind::Agent => vec!["agent/stdout.log", "agent/stderr.log", "agent/command_log.json"],
            NodeKind::AgentOutput => vec!["agent/output.txt"],
            NodeKind::AgentResult => vec!["agent/result.json"],
            NodeKind::AgentTiming => vec!["agent/timing.json"],
            NodeKind::JudgePrompt => vec!["judge_prompt.md"],
            NodeKind::JudgeSlot(n) => vec![slot(n, "response.txt"), slot(n, "stdout.log")],
            NodeKind::Judgment(n) => vec![slot(n, "judgment.json")],
            NodeKind::Consensus => vec!["judge/result.json", "judge/timing.json"],
            NodeKind::RunResult => vec!["run_result.json"],
            NodeKind::RunReport | NodeKind::SubtestReport => vec!["report.json", "report.md"],
            NodeKind::TierResult => vec!["result.json", "best_subtest.json"],
            NodeKind::TierReport | NodeKind::ExperimentReport => vec!["report.json", "report.md", "summary.md"],
            NodeKind::ExperimentResult => vec!["result.json", "tier_comparison.json"],
            NodeKind::Checkpoint => vec!["checkpoint.json"],
        }
    }

    /// The node's main file (its first output), or the slot directory for a judge slot.
    pub fn main_file(self) -> &'static str {
        match self {
            NodeKind::Agent => "agent",
            NodeKind::JudgeSlot(n) => RunFile::slot(n as usize, "").map_or("judge", RunFile::as_str),
            other => other.outputs().first().copied().unwrap_or(""),
        }
    }
}

/// One node of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    /// Index into `Experiment::runs` for run nodes.
    pub run: Option<usize>,
    pub tier: Option<String>,
    pub subtest: Option<String>,
    /// The logical id (same in both layouts).
    pub id: String,
}

/// The graph of an experiment.
#[derive(Debug)]
pub struct Graph {
    pub g: DiGraph<Node, ()>,
    /// Node indices of each run, by run index, in [`run_kinds`] order.
    pub run_nodes: Vec<Vec<NodeIndex>>,
    pub subtest_nodes: HashMap<(String, String), NodeIndex>,
    pub tier_result: HashMap<String, NodeIndex>,
    pub tier_report: HashMap<String, NodeIndex>,
    pub experiment_result: NodeIndex,
    pub experiment_report: NodeIndex,
    pub checkpoint: NodeIndex,
    pub slots: usize,
}

/// The kinds of a run's nodes, in build order.
pub fn run_kinds(slots: usize) -> Vec<NodeKind> {
    let mut kinds = vec![
        NodeKind::Agent,
        NodeKind::AgentOutput,
        NodeKind::AgentResult,
        NodeKind::AgentTiming,
        NodeKind::JudgePrompt,
    ];
    for n in 1..=slots as u16 {
        kinds.push(NodeKind::JudgeSlot(n));
    }
    for n in 1..=slots as u16 {
        kinds.push(NodeKind::Judgment(n));
    }
    kinds.extend([NodeKind::Consensus, NodeKind::RunResult, NodeKind::RunReport]);
    kinds
}

/// Position of a kind in [`run_kinds`].
pub fn run_kind_index(kind: NodeKind, slots: usize) -> Option<usize> {
    Some(match kind {
        NodeKind::Agent => 0,
        NodeKind::AgentOutput => 1,
        NodeKind::AgentResult => 2,
        NodeKind::AgentTiming => 3,
        NodeKind::JudgePrompt => 4,
        NodeKind::JudgeSlot(n) => 4 + n as usize,
        NodeKind::Judgment(n) => 4 + slots + n as usize,
        NodeKind::Consensus => 5 + 2 * slots,
        NodeKind::RunResult => 6 + 2 * slots,
        NodeKind::RunReport => 7 + 2 * slots,
        _ => return None,
    })
}

impl Graph {
    /// Builds the graph of every expected run and every aggregate.
    pub fn build(exp: &Experiment) -> Graph {
        let slots = exp.config.judge_models.len();
        let kinds = run_kinds(slots);
        let per_run = kinds.len();
        let mut g: DiGraph<Node, ()> =
            DiGraph::with_capacity(exp.runs.len() * per_run + 64, exp.runs.len() * (per_run * 2 + slots * 2));
        let mut run_nodes = Vec::with_capacity(exp.runs.len());
        for (ri, loc) in exp.runs.iter().enumerate() {
            let run_id = loc.key.id();
            let idx: Vec<NodeIndex> = kinds
                .iter()
                .map(|k| {
                    g.add_node(Node {
                        kind: *k,
                        run: Some(ri),
                        tier: None,
                        subtest: None,
                        id: format!("{run_id}/{}", k.suffix()),
                    })
                })
                .collect();
            let at = |k: NodeKind| idx[run_kind_index(k, slots).unwrap_or(0)];
            let agent = at(NodeKind::Agent);
            for k in [NodeKind::AgentOutput, NodeKind::AgentResult, NodeKind::AgentTiming, NodeKind::JudgePrompt] {
                g.add_edge(agent, at(k), ());
            }
            for n in 1..=slots as u16 {
                g.add_edge(at(NodeKind::JudgePrompt), at(NodeKind::JudgeSlot(n)), ());
                g.add_edge(at(NodeKind::JudgeSlot(n)), at(NodeKind::Judgment(n)), ());
                g.add_edge(at(NodeKind::Judgment(n)), at(NodeKind::Consensus), ());
                g.add_edge(at(NodeKind::Judgment(n)), at(NodeKind::RunResult), ());
            }
            for k in [NodeKind::AgentOutput, NodeKind::AgentResult, NodeKind::AgentTiming, NodeKind::Consensus] {
                g.add_edge(at(k), at(NodeKind::RunResult), ());
            }
            g.add_edge(at(NodeKind::RunResult), at(NodeKind::RunReport), ());
            run_nodes.push(idx);
        }

        let agg = |g: &mut DiGraph<Node, ()>, kind: NodeKind, tier: Option<&str>, subtest: Option<&str>| {
            let id = match (tier, subtest) {
                (Some(t), Some(s)) => format!("{t}/{s}/{}", kind.suffix()),
                (Some(t), None) => format!("{t}/{}", kind.suffix()),
                _ => kind.suffix(),
            };
            g.add_node(Node {
                kind,
                run: None,
                tier: tier.map(str::to_string),
                subtest: subtest.map(str::to_string),
                id,
            })
        };
        let mut subtest_nodes = HashMap::new();
        for (tier, subtests) in &exp.subtests {
            for s in subtests {
                let n = agg(&mut g, NodeKind::SubtestReport, Some(tier), Some(s));
                subtest_nodes.insert((tier.clone(), s.clone()), n);
            }
        }
        for (ri, loc) in exp.runs.iter().enumerate() {
            if let Some(&s) = subtest_nodes.get(&(loc.key.tier.clone(), loc.key.subtest.clone())) {
                g.add_edge(run_nodes[ri][run_kind_index(NodeKind::RunReport, slots).unwrap_or(0)], s, ());
            }
        }
        let mut tier_result = HashMap::new();
        let mut tier_report = HashMap::new();
        for tier in &exp.tiers {
            let r = agg(&mut g, NodeKind::TierResult, Some(tier), None);
            for s in exp.subtests.get(tier).map(Vec::as_slice).unwrap_or_default() {
                if let Some(&sn) = subtest_nodes.get(&(tier.clone(), s.clone())) {
                    g.add_edge(sn, r, ());
                }
            }
            tier_result.insert(tier.clone(), r);
        }
        for tier in &exp.tiers {
            let rep = agg(&mut g, NodeKind::TierReport, Some(tier), None);
            g.add_edge(tier_result[tier], rep, ());
            tier_report.insert(tier.clone(), rep);
        }
        let experiment_result = agg(&mut g, NodeKind::ExperimentResult, None, None);
        for tier in &exp.tiers {
            g.add_edge(tier_result[tier], experiment_result, ());
        }
        let experiment_report = agg(&mut g, NodeKind::ExperimentReport, None, None);
        g.add_edge(experiment_result, experiment_report, ());
        let checkpoint = agg(&mut g, NodeKind::Checkpoint, None, None);
        g.add_edge(experiment_report, checkpoint, ());
        for nodes in &run_nodes {
            g.add_edge(nodes[run_kind_index(NodeKind::RunResult, slots).unwrap_or(0)], checkpoint, ());
        }
        Graph {
            g,
            run_nodes,
            subtest_nodes,
            tier_result,
            tier_report,
            experiment_result,
            experiment_report,
            checkpoint,
            slots,
        }
    }

    pub fn node(&self, n: NodeIndex) -> &Node {
        &self.g[n]
    }

    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// The node of `kind` in run `run`.
    pub fn run_node(&self, run: usize, kind: NodeKind) -> Option<NodeIndex> {
        self.run_nodes.get(run)?.get(run_kind_index(kind, self.slots)?).copied()
    }

    /// The directory a node's outputs live in.
    pub fn node_dir(&self, exp: &Experiment, n: NodeIndex) -> PathBuf {
        let node = &self.g[n];
        match (node.run, &node.tier, &node.subtest) {
            (Some(ri), _, _) => exp.run_dir(&exp.runs[ri]),
            (None, Some(t), Some(s)) => exp.subtest_dir(t, s),
            (None, Some(t), None) => exp.tier_dir(t),
            _ => match node.kind {
                NodeKind::Checkpoint => exp.root.clone(),
                _ => exp.root.clone(),
            },
        }
    }

    /// Output paths of a node.
    pub fn output_paths(&self, exp: &Experiment, n: NodeIndex) -> Vec<PathBuf> {
        let dir = self.node_dir(exp, n);
        self.g[n].kind.outputs().iter().map(|o| dir.join(o)).collect()
    }
}

/// Resolves command-line targets to nodes. See CONTRACT "TARGET".
pub fn resolve_targets(exp: &Experiment, graph: &Graph, targets: &[String], cwd: &Path) -> Result<Vec<NodeIndex>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let by_id: HashMap<&str, NodeIndex> = graph.g.node_indices().map(|n| (graph.g[n].id.as_str(), n)).collect();
    let mut out = Vec::new();
    for t in targets {
        let found = resolve_one(exp, graph, &by_id, t, cwd)?;
        if found.is_empty() {
            return Err(Error::UnknownTarget(t.clone()));
        }
        out.extend(found);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn by_prefix(graph: &Graph, prefix: &str) -> Vec<NodeIndex> {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() || prefix == "." {
        return graph.g.node_indices().collect();
    }
    let with_slash = format!("{prefix}/");
    graph.g.node_indices().filter(|n| graph.g[*n].id.starts_with(&with_slash) || graph.g[*n].id == prefix).collect()
}

fn resolve_one(
    exp: &Experiment,
    graph: &Graph,
    by_id: &HashMap<&str, NodeIndex>,
    t: &str,
    cwd: &Path,
) -> Result<Vec<NodeIndex>> {
    if let Some(&n) = by_id.get(t) {
        return Ok(vec![n]);
    }
    if t.contains(['*', '?', '[']) {
        let glob = globset::GlobBuilder::new(t)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Usage(format!("invalid glob `{t}`: {e}")))?
            .compile_matcher();
        return Ok(graph.g.node_indices().filter(|n| glob.is_match(&graph.g[*n].id)).collect());
    }
    let logical = by_prefix(graph, t);
    if !logical.is_empty() && !t.starts_with('/') && !t.starts_with('.') {
        return Ok(logical);
    }
    // A path in either layout, relative to the current directory or absolute.
    let path = if Path::new(t).is_absolute() { PathBuf::from(t) } else { cwd.join(t) };
    let path = normalize(&path);
    let root = normalize(&exp.root);
    let rel = match path.strip_prefix(&root) {
        Ok(r) => r.to_path_buf(),
        Err(_) => {
            // Symlinked directories: compare canonical forms when the path exists.
            let canon = std::fs::canonicalize(&path).unwrap_or(path.clone());
            match canon.strip_prefix(&root) {
                Ok(r) => r.to_path_buf(),
                Err(_) => return Err(Error::OutsideExperiment { path, root }),
            }
        }
    };
    let mut parts: Vec<String> = rel.components().filter_map(|c| c.as_os_str().to_str().map(str::to_string)).collect();
    if matches!(parts.first().map(String::as_str), Some("completed" | "in_progress")) {
        parts.remove(0);
    }
    let logical_path = parts.join("/");
    if logical_path.is_empty() {
        return Ok(graph.g.node_indices().collect());
    }
    // A file that some node produces.
    let mut hits = Vec::new();
    for n in graph.g.node_indices() {
        let node = &graph.g[n];
        let base = match (node.run, &node.tier, &node.subtest) {
            (Some(ri), _, _) => exp.runs[ri].key.id(),
            (None, Some(tier), Some(s)) => format!("{tier}/{s}"),
            (None, Some(tier), None) => tier.clone(),
            _ => String::new(),
        };
        for o in node.kind.outputs() {
            let full = if base.is_empty() { o.to_string() } else { format!("{base}/{o}") };
            if full == logical_path {
                hits.push(n);
            }
        }
    }
    if !hits.is_empty() {
        return Ok(hits);
    }
    Ok(by_prefix(graph, &logical_path))
}

/// Removes `.` and resolves `..` lexically (targets may name files that do not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The run key of a run node.
pub fn run_key<'a>(exp: &'a Experiment, graph: &Graph, n: NodeIndex) -> Option<&'a RunKey> {
    graph.g[n].run.map(|ri| &exp.runs[ri].key)
}
