//! The file side of aggregates: which run results feed a subtest, tier or experiment node, what
//! a node's files should contain given what is on disk now, and the checkpoint's run states.
//! The computations themselves are pure (`rules::aggregate`, `checkpoint`).

use crate::experiment::Experiment;
use crate::experiment::era::Era;
use crate::graph::{Graph, NodeKind};
use crate::py::json as pyjson;
use crate::rules::aggregate::{self, ExperimentTimes, Generated, TierOutput};
use petgraph::graph::NodeIndex;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Parsed `run_result.json` files, read once per command.
#[derive(Debug, Default)]
pub struct RunResults {
    map: Mutex<HashMap<usize, Option<Arc<Value>>>>,
}

impl RunResults {
    /// The run's `run_result.json`, if it exists and parses.
    pub fn get(&self, exp: &Experiment, run: usize) -> Option<Arc<Value>> {
        if let Ok(map) = self.map.lock()
            && let Some(v) = map.get(&run)
        {
            return v.clone();
        }
        let path = exp.run_dir(&exp.runs[run]).join("run_result.json");
        let v = std::fs::read(&path).ok().and_then(|b| pyjson::parse(&b).ok()).filter(Value::is_object).map(Arc::new);
        if let Ok(mut map) = self.map.lock() {
            map.insert(run, v.clone());
        }
        v
    }

    /// Forgets a run's result (after it was rewritten).
    pub fn forget(&self, run: usize) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&run);
        }
    }
}

/// The files a node writes, with their content.
pub type Outputs = Vec<(PathBuf, Vec<u8>)>;

fn read_json(path: &Path) -> Option<Value> {
    pyjson::parse(&std::fs::read(path).ok()?).ok()
}

/// The `generated_at` stamps of existing reports in `dir`, so a check can rebuild the exact bytes.
pub fn existing_generated(dir: &Path) -> Option<Generated> {
    let json = read_json(&dir.join("report.json"))?;
    let report_json = json.get("generated_at")?.as_str()?.to_string();
    let md = std::fs::read_to_string(dir.join("report.md")).ok()?;
    let report_md = md.lines().find_map(|l| l.strip_prefix("**Generated**: "))?.to_string();
    Some(Generated { report_json, report_md })
}

/// SubTestResults of one subtest from its runs' results (sorted by run number).
fn subtest_value(exp: &Experiment, rr: &RunResults, tier: &str, subtest: &str) -> Value {
    let mut runs: Vec<(u32, Value)> = exp
        .runs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.key.tier == tier && l.key.subtest == subtest)
        .filter_map(|(i, l)| rr.get(exp, i).map(|v| (l.key.run, (*v).clone())))
        .collect();
    runs.sort_by_key(|(n, _)| *n);
    let values: Vec<Value> = runs.into_iter().map(|(_, v)| v).collect();
    aggregate::subtest_result(exp.era, tier, subtest, &values)
}

/// The tier's TierResult computed from its runs' results and its previous `result.json`.
fn tier_output(exp: &Experiment, rr: &RunResults, tier: &str) -> TierOutput {
    let subtests: Vec<Value> = exp
        .subtests
        .get(tier)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| subtest_value(exp, rr, tier, s))
        .collect();
    let previous = read_json(&exp.tier_dir(tier).join("result.json"));
    aggregate::tier_result(exp.era, tier, subtests, previous.as_ref())
}

/// When the experiment ran, from the checkpoint, for an experiment result made from scratch.
fn experiment_times(exp: &Experiment) -> ExperimentTimes {
    let get = |k: &str| exp.checkpoint.as_ref().and_then(|c| c.get(k)).and_then(Value::as_str).map(str::to_string);
    ExperimentTimes {
        started_at: get("started_at"),
        completed_at: get("last_updated_at"),
        total_duration_seconds: None,
    }
}

/// What an aggregate node's files should hold now. `generated` gives the report timestamps
/// (taken from the existing files when checking, the current time when rebuilding).
pub fn outputs(exp: &Experiment, graph: &Graph, n: NodeIndex, rr: &RunResults, generated: &Generated) -> Outputs {
    let node = graph.node(n);
    let dir = graph.node_dir(exp, n);
    let era = exp.era;
    let text = |s: String| s.into_bytes();
    match (node.kind, node.tier.as_deref(), node.subtest.as_deref()) {
        (NodeKind::SubtestReport, Some(t), Some(s)) => {
            let v = subtest_value(exp, rr, t, s);
            let f = aggregate::subtest_files(era, &v, generated);
            vec![(dir.join("report.json"), text(f.report_json)), (dir.join("report.md"), text(f.report_md))]
        }
        (NodeKind::TierResult, Some(t), None) => {
            let out = tier_output(exp, rr, t);
            let f = aggregate::tier_files(era, &out, generated);
            let mut v = vec![(dir.join("result.json"), text(f.result_json))];
            if let Some(b) = f.best_subtest_json {
                v.push((dir.join("best_subtest.json"), text(b)));
            }
            v
        }
        (NodeKind::TierReport, Some(_), None) => {
            // Rendered from the tier result on disk (rebuilt first when stale).
            let result = read_json(&dir.join("result.json")).unwrap_or(Value::Null);
            let best_subtest = read_json(&dir.join("best_subtest.json"));
            let f = aggregate::tier_files(era, &TierOutput { result, best_subtest }, generated);
            vec![
                (dir.join("report.json"), text(f.report_json)),
                (dir.join("report.md"), text(f.report_md)),
                (dir.join("summary.md"), text(f.summary_md)),
            ]
        }
        (NodeKind::ExperimentResult, None, None) => {
            let v = experiment_value(exp);
            let f = aggregate::experiment_files(era, &v, generated);
            vec![
                (exp.root.join("result.json"), text(f.result_json)),
                (exp.root.join("tier_comparison.json"), text(f.tier_comparison_json)),
            ]
        }
        (NodeKind::ExperimentReport, None, None) => {
            let v = read_json(&exp.root.join("result.json")).unwrap_or(Value::Null);
            let f = aggregate::experiment_files(era, &v, generated);
            vec![
                (exp.root.join("report.json"), text(f.report_json)),
                (exp.root.join("report.md"), text(f.report_md)),
                (exp.root.join("summary.md"), text(f.summary_md)),
            ]
        }
        _ => Vec::new(),
    }
}

/// The ExperimentResult from the tier results on disk.
fn experiment_value(exp: &Experiment) -> Value {
    let previous = read_json(&exp.root.join("result.json"));
    let tiers: Vec<(String, Value)> = exp
        .tiers
        .iter()
        .filter_map(|t| read_json(&exp.tier_dir(t).join("result.json")).map(|v| (t.clone(), v)))
        .collect();
    // The current runner dumps its in-memory config, which only the previous file records.
    let config = match (exp.era, previous.as_ref().and_then(|p| p.get("config"))) {
        (Era::Head, Some(c)) if c.is_object() => c.clone(),
        _ => exp.config.raw.clone(),
    };
    aggregate::experiment_result(&config, tiers, previous.as_ref(), &experiment_times(exp))
}

/// Compares expected outputs with the files on disk: `Ok` when every file has those bytes.
pub fn compare(outputs: &Outputs) -> crate::observe::Check {
    use crate::observe::Check;
    let mut missing = Vec::new();
    for (path, want) in outputs {
        match std::fs::read(path) {
            Err(_) => missing.push(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
            Ok(have) if have != *want => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if have.iter().all(u8::is_ascii_whitespace) {
                    return Check::Invalid(format!("{name} is empty"));
                }
                if name.ends_with(".json") && pyjson::parse(&have).is_err() {
                    return Check::Invalid(format!("{name} is not valid JSON"));
                }
                return Check::Disagrees(format!("{name} disagrees with the runs' results"));
            }
            Ok(_) => {}
        }
    }
    if missing.is_empty() { Check::Ok } else { Check::Missing }
}

/// Writes every aggregate of an experiment from its runs' results (the demo generator's last
/// step); with `damage`, removes a few afterwards, the way interrupted runners leave them.
pub fn write_demo_aggregates(root: &Path, damage: bool) -> crate::error::Result<Vec<String>> {
    let exp = Experiment::open_root(root.to_path_buf(), None)?;
    let graph = Graph::build(&exp);
    let rr = RunResults::default();
    let stamp = crate::util::time::iso_micros(
        exp.checkpoint
            .as_ref()
            .and_then(|c| c.get("last_updated_at"))
            .and_then(Value::as_str)
            .and_then(crate::util::time::parse_iso)
            .unwrap_or(0),
    );
    let generated = Generated::same(&stamp);
    let mut order: Vec<NodeIndex> = graph.subtest_nodes.values().copied().collect();
    order.sort();
    let mut tiers: Vec<&String> = exp.tiers.iter().collect();
    tiers.sort_by(|a, b| crate::experiment::names::tier_order(a, b));
    order.extend(tiers.iter().map(|t| graph.tier_result[*t]));
    order.extend(tiers.iter().map(|t| graph.tier_report[*t]));
    order.push(graph.experiment_result);
    order.push(graph.experiment_report);
    for n in order {
        for (path, bytes) in outputs(&exp, &graph, n, &rr, &generated) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| crate::error::Error::io(parent, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| crate::error::Error::io(&path, e))?;
        }
    }
    let mut removed = Vec::new();
    if damage {
        let rel = |p: &Path| p.strip_prefix(root).map_or_else(|_| p.display().to_string(), |r| r.display().to_string());
        let mut victims: Vec<PathBuf> = Vec::new();
        if let Some((t, s)) = exp.subtests.iter().find_map(|(t, s)| s.first().map(|s| (t.clone(), s.clone()))) {
            let d = exp.subtest_dir(&t, &s);
            victims.push(d.join("report.json"));
            victims.push(d.join("report.md"));
        }
        if let Some(t) = exp.tiers.last() {
            victims.push(exp.tier_dir(t).join("result.json"));
        }
        victims.push(root.join("report.md"));
        for v in victims {
            if std::fs::remove_file(&v).is_ok() {
                removed.push(rel(&v));
            }
        }
    }
    Ok(removed)
}
