//! Turns observations into the planner's facts: for every node, what is on disk, the named parts
//! of its fingerprint now (rule version, parameters, input hashes) and the hashes of its outputs.
//!
//! Aggregate nodes are checked by content only when their stamp does not already prove them
//! fresh: recomputing an aggregate means reading every run result under it.

use crate::aggregate_io::{self, RunResults};
use crate::cache::ObsCache;
use crate::classify::{AgentStatus, JudgeStatus};
use crate::graph::{Graph, NodeKind, run_kinds};
use crate::layout::Experiment;
use crate::layout::names::slot_dir_name;
use crate::observe::{AgentOutcome, Check, RunObs, SlotState};
use crate::plan::{NodeFacts, NodeState};
use crate::rules;
use crate::scan::ScannedRun;
use crate::stamp::{ABSENT, Hash, Journal};
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use std::collections::HashMap;

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
    obs.files.iter().find(|f| f.rel == rel).map_or(ABSENT, |f| f.hash)
}

fn first_hash(obs: &RunObs, rels: &[&str]) -> Hash {
    rels.iter().map(|r| file_hash(obs, r)).find(|h| *h != ABSENT).unwrap_or(ABSENT)
}

fn named(obs: &RunObs, rels: &[&str]) -> Vec<(String, Hash)> {
    rels.iter().map(|r| ((*r).to_string(), file_hash(obs, r))).collect()
}

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// Facts for every node of one run, in [`run_kinds`] order.
fn run_facts(exp: &Experiment, sr: &ScannedRun, slots: usize, est: &Estimates, recorded_path: &str) -> Vec<NodeFacts> {
    let obs = &sr.obs;
    let rel = &sr.rel;
    let era = exp.era.name().to_string();
    let cfg = &exp.config;
    let stdout =
        first_hash(obs, &["agent/stdout.log", "agent/cmd_0000_stdout.log", "agent/output.txt", "agent/result.json"]);
    let stderr = first_hash(obs, &["agent/stderr.log", "agent/cmd_0000_stderr.log", "agent/result.json"]);
    let command_log = file_hash(obs, "agent/command_log.json");
    let tier = &exp.runs[sr.index].key.tier;
    let agent_est = est.agent_by_tier.get(tier).copied().unwrap_or(est.agent);
    let mut out = Vec::with_capacity(run_kinds(slots).len());
    for kind in run_kinds(slots) {
        let outputs: Vec<(String, Hash)> = kind.outputs().iter().map(|o| (o.clone(), file_hash(obs, o))).collect();
        let path = format!("{rel}/{}", kind.outputs().first().cloned().unwrap_or_default());
        let mut f = NodeFacts {
            state: NodeState::Unknown,
            rule: rule_version(kind),
            params: Vec::new(),
            inputs: Vec::new(),
            outputs,
            recorded_model: None,
            path,
            estimate: (0.0, 0.0),
        };
        match kind {
            NodeKind::Agent => {
                f.state = NodeState::Agent(obs.agent.outcome.clone());
                f.params = vec![
                    p("model", cfg.agent_model()),
                    p("task_commit", cfg.task_commit.clone()),
                    p("max_turns", cfg.max_turns.map_or("null".into(), |t| t.to_string())),
                    p("thinking_mode", cfg.thinking_mode.clone()),
                ];
                f.recorded_model = obs.agent.model.as_deref().map(crate::layout::config::normalize_model);
                f.path = format!("{rel}/agent");
                f.estimate = agent_est;
            }
            NodeKind::AgentOutput => {
                f.state = NodeState::Regen(obs.agent.output_txt.clone());
                f.inputs = vec![("stdout".into(), stdout)];
            }
            NodeKind::AgentResult => {
                f.state = NodeState::Regen(obs.agent.result_json.clone());
                f.params = vec![p("model", cfg.agent_model())];
                f.inputs = vec![
                    ("stdout".into(), stdout),
                    ("stderr".into(), stderr),
                    ("agent/command_log.json".into(), command_log),
                ];
            }
            NodeKind::AgentTiming => {
                f.state = NodeState::Regen(obs.agent.timing_json.clone());
                f.inputs = vec![("agent/command_log.json".into(), command_log)];
            }
            NodeKind::JudgePrompt => {
                f.state = NodeState::JudgePrompt { exists: obs.judge_prompt, buildable: obs.has_workspace };
                // A prompt shows the agent's output: a new output makes it (and its judges) stale.
                f.inputs = vec![("stdout".into(), stdout)];
            }
            NodeKind::JudgeSlot(n) => {
                let s = &obs.slots[n as usize - 1];
                let model = cfg.judge_models.get(n as usize - 1).cloned().unwrap_or_default();
                f.state = NodeState::Slot(s.state.clone());
                f.estimate = est.judge_by_model.get(&model).copied().unwrap_or(est.judge);
                f.params = vec![p("model", model)];
                f.inputs = vec![("judge_prompt.md".into(), file_hash(obs, "judge_prompt.md"))];
                f.recorded_model = s.model.as_deref().map(crate::layout::config::normalize_model);
                f.path = format!("{rel}/judge/{}", slot_dir_name(n as usize));
            }
            NodeKind::Judgment(n) => {
                let s = &obs.slots[n as usize - 1];
                f.state = NodeState::Regen(s.judgment.clone());
                let d = slot_dir_name(n as usize);
                f.inputs = named(obs, &[&format!("judge/{d}/response.txt"), &format!("judge/{d}/stdout.log")]);
            }
            NodeKind::Consensus => {
                f.state = NodeState::Regen(obs.consensus.clone());
                f.params = vec![p("era", era.clone())];
                f.inputs = (1..=slots)
                    .map(|n| {
                        let d = slot_dir_name(n);
                        let h = match &obs.slots[n - 1].state {
                            SlotState::Failed { detail, .. } => crate::observe::hash_bytes(detail.as_bytes()),
                            _ => file_hash(obs, &format!("judge/{d}/judgment.json")),
                        };
                        (format!("judge/{d}"), h)
                    })
                    .collect();
            }
            NodeKind::RunResult => {
                f.state = NodeState::Regen(obs.run_result.clone());
                f.params = vec![
                    p("era", era.clone()),
                    p("run_path", recorded_path),
                    p("judge_models", cfg.judge_models.join(",")),
                ];
                let mut inputs =
                    named(obs, &["agent/result.json", "agent/timing.json", "judge/timing.json", "judge/result.json"]);
                for n in 1..=slots {
                    let r = format!("judge/{}/judgment.json", slot_dir_name(n));
                    inputs.push((r.clone(), file_hash(obs, &r)));
                }
                f.inputs = inputs;
            }
            NodeKind::RunReport => {
                f.state = NodeState::Regen(obs.report.clone());
                f.params = vec![p("era", era.clone())];
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
    /// Observed runs, by run index.
    pub runs: Vec<ScannedRun>,
    pub estimates: Estimates,
    /// Parsed run results, shared with regeneration.
    pub run_results: RunResults,
}

/// Builds the facts of every node. `runs` must hold every run of the experiment (aggregates
/// depend on all of them).
pub fn assess(
    exp: &Experiment,
    graph: &Graph,
    runs: Vec<ScannedRun>,
    journal: &Journal,
    cache: &mut ObsCache,
) -> Assessment {
    let slots = graph.slots;
    let estimates = Estimates::from_runs(exp, &runs);
    let base = crate::scan::recorded_base(exp);
    let mut facts: Vec<NodeFacts> =
        graph.g.node_indices().map(|n| NodeFacts::unknown(graph.node(n).id.clone())).collect();
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

    // Aggregates: inputs are the run results under them.
    let rr_hash = |ri: usize| -> Hash {
        let sr = runs.iter().find(|r| r.index == ri);
        sr.map_or(ABSENT, |r| file_hash(&r.obs, "run_result.json"))
    };
    let by_index: HashMap<usize, &ScannedRun> = runs.iter().map(|r| (r.index, r)).collect();
    let run_input = |ri: usize| -> (String, Hash) {
        let h = by_index.get(&ri).map_or_else(|| rr_hash(ri), |r| file_hash(&r.obs, "run_result.json"));
        (format!("{}/run_result.json", exp.runs[ri].key.id()), h)
    };
    let rel_of = |path: &std::path::Path| -> String {
        path.strip_prefix(&exp.root)
            .map_or_else(|_| path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
    };
    let agg_nodes: Vec<NodeIndex> = graph.g.node_indices().filter(|n| !graph.node(*n).kind.is_run_node()).collect();
    let config_hash = crate::observe::hash_bytes(crate::pyjson::to_string(&exp.config.raw).as_bytes());
    // Output hashes of aggregate files (stat cache), computed in dependency order so that a
    // node's inputs (earlier aggregates' files) are known.
    let mut file_hashes: HashMap<String, Hash> = HashMap::new();
    let mut hash_of = |cache: &mut ObsCache, rel: String| -> Hash {
        if let Some(h) = file_hashes.get(&rel) {
            return *h;
        }
        let h = match cache.file_hash(&exp.root, &rel) {
            Some((h, read)) => {
                if read.is_some() {
                    cache.store_file(&exp.root, &rel, h);
                }
                h
            }
            None => ABSENT,
        };
        file_hashes.insert(rel, h);
        h
    };
    let run_results = RunResults::default();
    for n in agg_nodes {
        let node = graph.node(n);
        let dir = graph.node_dir(exp, n);
        let outputs: Vec<(String, Hash)> =
            node.kind.outputs().iter().map(|o| (o.clone(), hash_of(cache, rel_of(&dir.join(o))))).collect();
        let mut params = vec![p("era", exp.era.name())];
        let inputs: Vec<(String, Hash)> = match (node.kind, node.tier.as_deref(), node.subtest.as_deref()) {
            (NodeKind::SubtestReport, Some(t), Some(s)) => (0..exp.runs.len())
                .filter(|ri| exp.runs[*ri].key.tier == t && exp.runs[*ri].key.subtest == s)
                .map(run_input)
                .collect(),
            (NodeKind::TierResult, Some(t), None) => {
                (0..exp.runs.len()).filter(|ri| exp.runs[*ri].key.tier == t).map(run_input).collect()
            }
            (NodeKind::TierReport, Some(t), None) => {
                let d = exp.tier_dir(t);
                vec![
                    (format!("{t}/result.json"), hash_of(cache, rel_of(&d.join("result.json")))),
                    (format!("{t}/best_subtest.json"), hash_of(cache, rel_of(&d.join("best_subtest.json")))),
                ]
            }
            (NodeKind::ExperimentResult, None, None) => {
                params.push(("config".into(), crate::stamp::short_hex(&config_hash)));
                exp.tiers
                    .iter()
                    .map(|t| (format!("{t}/result.json"), hash_of(cache, rel_of(&exp.tier_dir(t).join("result.json")))))
                    .collect()
            }
            (NodeKind::ExperimentReport, None, None) => {
                vec![("result.json".into(), hash_of(cache, "result.json".into()))]
            }
            (NodeKind::Checkpoint, None, None) => {
                vec![("runs".into(), run_states_digest(exp, &runs))]
            }
            _ => Vec::new(),
        };
        let rule = rule_version(node.kind);
        let stamp = journal.get(&node.id);
        let proven =
            stamp.is_some_and(|s| s.rule == rule && s.params == params && s.inputs == inputs && s.outputs == outputs);
        let state = if proven {
            Check::Ok
        } else if node.kind == NodeKind::Checkpoint {
            crate::checkpoint::check(exp, &runs)
        } else {
            let generated = aggregate_io::existing_generated(&dir)
                .unwrap_or_else(|| crate::rules::aggregate::Generated::same(&crate::timefmt::now_iso()));
            aggregate_io::compare(&aggregate_io::outputs(exp, graph, n, &run_results, &generated))
        };
        facts[n.index()] = NodeFacts {
            state: NodeState::Regen(state),
            rule,
            params,
            inputs,
            outputs,
            recorded_model: None,
            path: rel_of(&dir.join(node.kind.outputs().first().cloned().unwrap_or_default())),
            estimate: (0.0, 0.0),
        };
    }
    Assessment { facts, runs, estimates, run_results }
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
