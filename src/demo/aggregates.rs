//! The demo's last step: every aggregate of the experiment, built by darn's own rules from its
//! runs' results, as the runner would have left them; with damage, a few removed again.

use crate::engine::graph::Graph;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::rules::{AggCx, AggInputs, Registry, Rule, RunProgress};
use crate::util::hash::{ABSENT, Hash};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Aggregate builds read run results and files from disk, never these inputs.
struct NoInputs;

impl AggInputs for NoInputs {
    fn run_file_hash(&self, _: usize, _: RunFile) -> Hash {
        ABSENT
    }
    fn file_hash(&self, _: &str) -> Hash {
        ABSENT
    }
    fn progress(&self, _: usize) -> RunProgress {
        RunProgress::NotStarted
    }
}

/// Writes every aggregate (not the checkpoint, which the generator writes itself). Returns the
/// files removed as damage.
pub fn write(root: &Path, damage: bool) -> Result<Vec<String>> {
    let exp = Experiment::open_root(root.to_path_buf(), None)?;
    let graph = Graph::new(&exp, Registry::standard());
    let stamp = crate::util::time::iso_micros(
        exp.checkpoint()
            .and_then(|c| c.get("last_updated_at"))
            .and_then(Value::as_str)
            .and_then(crate::util::time::parse_iso)
            .unwrap_or(0),
    );
    let acx = AggCx::new(&exp, &NoInputs, stamp);
    for n in graph.nodes().filter(|n| graph.run_of(*n).is_none()) {
        let node = graph.node(n);
        let Rule::Aggregate(rule) = graph.registry.get(node.rule) else { continue };
        if rule.spec().key == "checkpoint" {
            continue;
        }
        let dir = crate::engine::aggregate_dir(&exp, &graph, n);
        let outputs = rule.build(&acx, node.at as usize).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for o in outputs {
            let path = dir.join(o.file.as_str());
            std::fs::write(&path, &o.bytes).map_err(|e| Error::io(&path, e))?;
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
