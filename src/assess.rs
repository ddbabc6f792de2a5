//! Turns observations into the planner's facts: for every node, what is on disk, the named parts
//! of its fingerprint now (rule version, parameters, input hashes) and the hashes of its outputs.
//!
//! Aggregate nodes are checked by content only when their stamp does not already prove them
//! fresh: recomputing an aggregate means reading every run result under it.

use crate::aggregate_io::{self, RunResults};
use crate::cache::ObsCache;
use crate::classify::{AgentStatus, JudgeStatus};
use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::graph::{Graph, NodeKind, run_kinds};
use crate::observe::{AgentOutcome, Check, RunObs, SlotState};
use crate::plan::{NodeFacts, NodeState};
use crate::rules;
use crate::scan::ScannedRun;
use crate::stamp::{ABSENT, Hash, Journal};
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Rule versions, one per node kind, part of every fingerprint.
pub fn rule_version(kind: NodeKind) -> u32 {
    match kind {
        NodeKind::Agent | NodeKind::JudgeSlot(_) | NodeKind::JudgePrompt => 1,
        NodeKind::AgentOutput | NodeKind::AgentResult | NodeKind::AgentTiming => rules::agent::RULE_VERSION,
        NodeKind::Judgment(_) => rules::judgment::RULE_VERSION,
        NodeKind::Consensus => rules::consensus::RULE_VERSION,
        NodeKind::RunResult => rules::run_result::RULE_VERSION,
        NodeKind::RunReport => rules::run_report::RULE_VERSION,
        _ => 1,
    }
}

/// Default estimates when the experiment has no history: (USD, seconds).
pub const DEFAULT_AGENT_ESTIMATE: (f64, f64) = (0.15, 60.0);
pub const DEFAULT_JUDGE_ESTIMATE: (f64, f64) = (0.04, 25.0);

/// Cost and time estimates from the experiment's own history.
#[derive(Debug, Clone, Default)]
pub struct Estimates {
    /// Mean (cost, seconds) of completed agent runs per tier.
    pub agent_by_tier: HashMap<String, (f64, f64)>,
    pub agent: (f64, f64),
    /// Mean (cost, seconds) of judge calls per slot model.
    pub judge_by_model: HashMap<String, (f64, f64)>,
    pub judge: (f64, f64),
}

fn mean_pair(items: &[(f64, f64)]) -> Option<(f64, f64)> {
    if items.is_empty() {
        return None;
    }
    let n = items.len() as f64;
    Some((items.iter().map(|x| x.0).sum::<f64>() / n, items.iter().map(|x| x.1).sum::<f64>() / n))
}

impl Estimates {
    /// Means over completed agent runs (per tier) and judge calls (per model) that recorded
    /// cost and duration.
    pub fn from_runs(exp: &Experiment, runs: &[ScannedRun]) -> Self {
        let mut by_tier: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut all = Vec::new();
        let mut by_model: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut judges = Vec::new();
        for r in runs {
            let a = &r.obs.agent;
            if a.outcome == AgentOutcome::Ok
                && let (Some(c), Some(d)) = (a.cost_usd, a.duration_seconds)
            {
                by_tier.entry(exp.runs[r.index].key.tier.clone()).or_default().push((c, d));
                all.push((c, d));
            }
            for s in &r.obs.slots {
                if let (Some(c), Some(d)) = (s.cost_usd, s.duration_seconds) {
                    let model = exp.config.judge_models.get(s.slot - 1).cloned().unwrap_or_default();
                    by_model.entry(model).or_default().push((c, d));
                    judges.push((c, d));
                }
            }
        }
        Estimates {
            agent_by_tier: by_tier.iter().filter_map(|(k, v)| mean_pair(v).map(|m| (k.clone(), m))).collect(),
            agent: mean_pair(&all).unwrap_or(DEFAULT_AGENT_ESTIMATE),
            judge_by_model: by_model.iter().filter_map(|(k, v)| mean_pair(v).map(|m| (k.clone(), m))).collect(),
            judge: mean_pair(&judges).unwrap_or(DEFAULT_JUDGE_ESTIMATE),
        }
    }
}

fn file_hash(obs: &RunObs, rel: &str) -> Hash {
    RunFile::of(rel).map_or(ABSENT, |f| obs.hash_of(f))
}

fn first_hash(obs: &RunObs, rels: &[&str]) -> Hash {
    rels.iter().map(|r| file_hash(obs, r)).find(|h| *h != ABSENT).unwrap_or(ABSENT)
}

fn named(obs: &RunObs, rels: &[&'static str]) -> Vec<(Cow<'static, str>, Hash)> {
    rels.iter().map(|r| (Cow::Borrowed(*r), file_hash(obs, r))).collect()
}

fn slot_file(n: usize, name: &str) -> &'static str {
    RunFile::slot(n, name).map_or("judge/judge_??", RunFile::as_str)
}

/// Facts for every node of one run, in [`run_kinds`] order.
fn run_facts(exp: &Experiment, sr: &ScannedRun, slots: usize, est: &Estimates, recorded_path: &str) -> Vec<NodeFacts> {
    let obs = &sr.obs;
    let dir: Arc<str> = Arc::from(sr.rel.as_str());
    let era = exp.era.name();
    let cfg = &exp.config;
    let stdout =
        first_hash(obs, &["agent/stdout.log", "agent/cmd_0000_stdout.log", "agent/output.txt", "agent/result.json"]);
    let stderr = first_hash(obs, &["agent/stderr.log", "agent/cmd_0000_stderr.log", "agent/result.json"]);
    let command_log = file_hash(obs, "agent/command_log.json");
    let tier = &exp.runs[sr.index].key.tier;
    let agent_est = est.agent_by_tier.get(tier).copied().unwrap_or(est.agent);
    let mut out = Vec::with_capacity(run_kinds(slots).len());
    for kind in run_kinds(slots) {
        let outputs: Vec<(&'static str, Hash)> = kind.outputs().into_iter().map(|o| (o, file_hash(obs, o))).collect();
        let mut f = NodeFacts {
            state: NodeState::Unknown,
            rule: rule_version(kind),
            params: Vec::new(),
            inputs: Vec::new(),
            outputs,
            recorded_model: None,
            dir: Arc::clone(&dir),
            file: kind.main_file(),
            estimate: (0.0, 0.0),
        };
        match kind {
            NodeKind::Agent => {
                f.state = NodeState::Agent(obs.agent.outcome.clone());
                f.params = vec![
                    ("model", cfg.agent_model().to_string()),
                    ("task_commit", cfg.task_commit.clone()),
                    ("max_turns", cfg.max_turns.map_or("null".into(), |t| t.to_string())),
                    ("thinking_mode", cfg.thinking_mode.clone()),
                ];
                f.recorded_model = obs.agent.model.as_deref().map(crate::experiment::config::normalize_model);
                f.estimate = agent_est;
            }
            NodeKind::AgentOutput => {
                f.state = NodeState::Regen(obs.agent.output_txt.clone());
                f.inputs = vec![(Cow::Borrowed("stdout"), stdout)];
            }
            NodeKind::AgentResult => {
                f.state = NodeState::Regen(obs.agent.result_json.clone());
                f.params = vec![("model", cfg.agent_model().to_string())];
                f.inputs = vec![
                    (Cow::Borrowed("stdout"), stdout),
                    (Cow::Borrowed("stderr"), stderr),
                    (Cow::Borrowed("agent/command_log.json"), command_log),
                ];
            }
            NodeKind::AgentTiming => {
                f.state = NodeState::Regen(obs.agent.timing_json.clone());
                f.inputs = vec![(Cow::Borrowed("agent/command_log.json"), command_log)];
            }
            NodeKind::JudgePrompt => {
                f.state = NodeState::JudgePrompt { exists: obs.judge_prompt, buildable: obs.has_workspace };
                // A prompt shows the agent's output: a new output makes it (and its judges) stale.
                f.inputs = vec![(Cow::Borrowed("stdout"), stdout)];
            }
            NodeKind::JudgeSlot(n) => {
                let s = &obs.slots[n as usize - 1];
                let model = cfg.judge_models.get(n as usize - 1).cloned().unwrap_or_default();
                f.state = NodeState::Slot(s.state.clone());
                f.estimate = est.judge_by_model.get(&model).copied().unwrap_or(est.judge);
                f.params = vec![("model", model)];
                f.inputs = named(obs, &["judge_prompt.md"]);
                f.recorded_model = s.model.as_deref().map(crate::experiment::config::normalize_model);
            }
            NodeKind::Judgment(n) => {
                let s = &obs.slots[n as usize - 1];
                f.state = NodeState::Regen(s.judgment.clone());
                let n = n as usize;
                f.inputs = named(obs, &[slot_file(n, "response.txt"), slot_file(n, "stdout.log")]);
            }
            NodeKind::Consensus => {
                f.state = NodeState::Regen(obs.consensus.clone());
                f.params = vec![("era", era.to_string())];
                f.inputs = (1..=slots)
                    .map(|n| {
                        let h = match &obs.slots[n - 1].state {
                            SlotState::Failed { detail, .. } => crate::observe::hash_bytes(detail.as_bytes()),
                            _ => file_hash(obs, slot_file(n, "judgment.json")),
                        };
                        (Cow::Borrowed(slot_file(n, "")), h)
                    })
                    .collect();
            }
            NodeKind::RunResult => {
                f.state = NodeState::Regen(obs.run_result.clone());
                f.params = vec![
                    ("era", era.to_string()),
                    ("run_path", recorded_path.to_string()),
                    ("judge_models", cfg.judge_models.join(",")),
                ];
                let mut inputs =
                    named(obs, &["agent/result.json", "agent/timing.json", "judge/timing.json", "judge/result.json"]);
                for n in 1..=slots {
                    let r = slot_file(n, "judgment.json");
                    inputs.push((Cow::Borrowed(r), file_hash(obs, r)));
                }
                f.inputs = inputs;
            }
            NodeKind::RunReport => {
                f.state = NodeState::Regen(obs.report.clone());
                f.params = vec![("era", era.to_string())];
                f.inputs = named(obs, &["run_result.json"]);
            }
            _ => {}
        }
        out.push(f);
    }
    out
}

/// Everything assessment produces.
pub struct Assessment {
    /// Facts per node index.
    pub facts: Vec<NodeFacts>,
    /// Observed runs (every run of the experiment, in run order).
    pub runs: Vec<ScannedRun>,
    pub estimates: Estimates,
    /// Parsed run results and subtest values, shared with regeneration.
    pub run_results: RunResults,
}

/// Builds the facts of every node. `runs` must hold every run of the experiment (aggregates
/// depend on all of them). Nodes in `trusted` were just built by darn: their content is known
/// to be right and is not checked again.
pub fn assess(
    exp: &Experiment,
    graph: &Graph,
    runs: Vec<ScannedRun>,
    journal: &Journal,
    cache: &mut ObsCache,
    trusted: &HashSet<NodeIndex>,
) -> Assessment {
    let slots = graph.slots;
    let estimates = Estimates::from_runs(exp, &runs);
    let base = crate::scan::recorded_base(exp);
    let mut facts: Vec<NodeFacts> = graph.g.node_indices().map(|_| NodeFacts::unknown()).collect();
    let per_run: Vec<(usize, Vec<NodeFacts>)> = runs
        .par_iter()
        .map(|sr| {
            let path = crate::scan::recorded_run_path(exp, &base, &exp.runs[sr.index]);
            (sr.index, run_facts(exp, sr, slots, &estimates, &path))
        })
        .collect();
    for (ri, fs) in per_run {
        for (i, f) in fs.into_iter().enumerate() {
            facts[graph.run_nodes[ri][i].index()] = f;
        }
    }
    let run_results = RunResults::default();
    aggregate_facts(exp, graph, &runs, journal, cache, trusted, &run_results, &mut facts);
    Assessment { facts, runs, estimates, run_results }
}

/// Facts of the aggregate nodes, level by level (subtests, tier results, tier reports, the
/// experiment's files, the checkpoint), each level in parallel.
#[allow(clippy::too_many_arguments)]
fn aggregate_facts(
    exp: &Experiment,
    graph: &Graph,
    runs: &[ScannedRun],
    journal: &Journal,
    cache: &mut ObsCache,
    trusted: &HashSet<NodeIndex>,
    run_results: &RunResults,
    facts: &mut [NodeFacts],
) {
    let rr_hash: HashMap<usize, Hash> = runs.iter().map(|r| (r.index, file_hash(&r.obs, "run_result.json"))).collect();
    let run_input = |ri: usize| -> (Cow<'static, str>, Hash) {
        (Cow::Owned(format!("{}/run_result.json", exp.runs[ri].key.id())), rr_hash.get(&ri).copied().unwrap_or(ABSENT))
    };
    let rel_of = |path: &std::path::Path| -> String {
        path.strip_prefix(&exp.root)
            .map_or_else(|_| path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
    };
    let config_hash = crate::observe::hash_bytes(crate::py::json::to_string(&exp.config.raw).as_bytes());
    let mut runs_of_subtest: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut runs_of_tier: HashMap<&str, Vec<usize>> = HashMap::new();
    for (ri, loc) in exp.runs.iter().enumerate() {
        runs_of_subtest.entry((loc.key.tier.as_str(), loc.key.subtest.as_str())).or_default().push(ri);
        runs_of_tier.entry(loc.key.tier.as_str()).or_default().push(ri);
    }

    let mut levels: Vec<Vec<NodeIndex>> = vec![Vec::new(); 6];
    for n in graph.g.node_indices() {
        let level = match graph.node(n).kind {
            NodeKind::SubtestReport => 0,
            NodeKind::TierResult => 1,
            NodeKind::TierReport => 2,
            NodeKind::ExperimentResult => 3,
            NodeKind::ExperimentReport => 4,
            NodeKind::Checkpoint => 5,
            _ => continue,
        };
        levels[level].push(n);
    }
    for level in levels {
        // Hash every output and input file of the level first (the stat cache is shared).
        let mut rels: Vec<String> = Vec::new();
        for &n in &level {
            let node = graph.node(n);
            let dir = graph.node_dir(exp, n);
            rels.extend(node.kind.outputs().iter().map(|o| rel_of(&dir.join(o))));
            match (node.kind, node.tier.as_deref()) {
                (NodeKind::TierReport, Some(t)) => {
                    let d = exp.tier_dir(t);
                    rels.push(rel_of(&d.join("result.json")));
                    rels.push(rel_of(&d.join("best_subtest.json")));
                }
                (NodeKind::ExperimentResult, _) => {
                    rels.extend(exp.tiers.iter().map(|t| rel_of(&exp.tier_dir(t).join("result.json"))));
                }
                _ => {}
            }
        }
        let hashed: Vec<(String, Option<(Hash, bool)>)> = rels
            .par_iter()
            .map(|rel| (rel.clone(), cache.file_hash(&exp.root, rel).map(|(h, read)| (h, read.is_some()))))
            .collect();
        let mut hashes: HashMap<String, Hash> = HashMap::new();
        for (rel, h) in hashed {
            if let Some((h, read)) = h {
                if read {
                    cache.store_file(&exp.root, &rel, h);
                }
                hashes.insert(rel, h);
            }
        }
        let hash = |rel: String| hashes.get(&rel).copied().unwrap_or(ABSENT);
        let computed: Vec<(NodeIndex, NodeFacts)> = level
            .par_iter()
            .map(|&n| {
                let node = graph.node(n);
                let dir = graph.node_dir(exp, n);
                let outputs: Vec<(&'static str, Hash)> =
                    node.kind.outputs().into_iter().map(|o| (o, hash(rel_of(&dir.join(o))))).collect();
                let mut params = vec![("era", exp.era.name().to_string())];
                let inputs: Vec<(Cow<'static, str>, Hash)> =
                    match (node.kind, node.tier.as_deref(), node.subtest.as_deref()) {
                        (NodeKind::SubtestReport, Some(t), Some(s)) => runs_of_subtest
                            .get(&(t, s))
                            .map(|v| v.iter().map(|ri| run_input(*ri)).collect())
                            .unwrap_or_default(),
                        (NodeKind::TierResult, Some(t), None) => {
                            runs_of_tier.get(t).map(|v| v.iter().map(|ri| run_input(*ri)).collect()).unwrap_or_default()
                        }
                        (NodeKind::TierReport, Some(t), None) => {
                            let d = exp.tier_dir(t);
                            vec![
                                (Cow::Owned(format!("{t}/result.json")), hash(rel_of(&d.join("result.json")))),
                                (
                                    Cow::Owned(format!("{t}/best_subtest.json")),
                                    hash(rel_of(&d.join("best_subtest.json"))),
                                ),
                            ]
                        }
                        (NodeKind::ExperimentResult, None, None) => {
                            params.push(("config", crate::stamp::short_hex(&config_hash)));
                            exp.tiers
                                .iter()
                                .map(|t| {
                                    (
                                        Cow::Owned(format!("{t}/result.json")),
                                        hash(rel_of(&exp.tier_dir(t).join("result.json"))),
                                    )
                                })
                                .collect()
                        }
                        (NodeKind::ExperimentReport, None, None) => {
                            vec![(Cow::Borrowed("result.json"), hash("result.json".into()))]
                        }
                        (NodeKind::Checkpoint, None, None) => {
                            vec![(Cow::Borrowed("runs"), run_states_digest(exp, runs))]
                        }
                        _ => Vec::new(),
                    };
                let dir_rel = rel_of(&dir);
                let mut f = NodeFacts {
                    state: NodeState::Unknown,
                    rule: rule_version(node.kind),
                    params,
                    inputs,
                    outputs,
                    recorded_model: None,
                    dir: Arc::from(if dir_rel.is_empty() || dir == exp.root { "" } else { dir_rel.as_str() }),
                    file: node.kind.main_file(),
                    estimate: (0.0, 0.0),
                };
                let proven = trusted.contains(&n) || journal.digest(&node.id).is_some_and(|d| d == f.digest());
                let state = if proven {
                    Check::Ok
                } else if node.kind == NodeKind::Checkpoint {
                    crate::checkpoint::check(exp, runs)
                } else {
                    let generated = aggregate_io::existing_generated(&dir)
                        .unwrap_or_else(|| crate::rules::aggregate::Generated::same(&crate::util::time::now_iso()));
                    aggregate_io::compare(&aggregate_io::outputs(exp, graph, n, run_results, &generated))
                };
                f.state = NodeState::Regen(state);
                (n, f)
            })
            .collect();
        for (n, f) in computed {
            facts[n.index()] = f;
        }
    }
}

/// A digest of what the checkpoint records about every run.
pub fn run_states_digest(exp: &Experiment, runs: &[ScannedRun]) -> Hash {
    let mut h = blake3::Hasher::new();
    for r in runs {
        h.update(exp.runs[r.index].key.id().as_bytes());
        h.update(&[r.status.agent as u8, r.status.judge as u8, u8::from(r.status.aggregate_pending)]);
        h.update(&file_hash(&r.obs, "run_result.json"));
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// Whether a run is finished in the checkpoint's sense.
pub fn run_finished(agent: AgentStatus, judge: JudgeStatus, aggregate_pending: bool) -> bool {
    agent == AgentStatus::Completed && judge == JudgeStatus::Complete && !aggregate_pending
}
