//! Regeneration: what a node's files should contain now, from its rule, and which of them differ
//! from what is on disk.

use super::write::PendingFile;
use crate::engine::Engine;
use crate::engine::graph::NodeId;
use crate::observe::files::RunFiles;
use crate::observe::sources::RunSources;
use crate::rules::content::judge_prompt::StepResult;
use crate::rules::{BuildEnv, Finding, PromptEffects, Rule, RunCx, WorkspaceChanges};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// What building one node gave.
#[derive(Debug)]
pub struct Built {
    /// Files whose bytes change.
    pub write: Vec<PendingFile>,
    /// The output changed beyond its timestamps.
    pub changed: bool,
}

/// The effects a judge prompt needs: git on the workspace and the build pipeline.
pub struct Effects<'a> {
    pub exp: &'a crate::experiment::Experiment,
}

fn git(workspace: &Path, args: &[&str]) -> Option<String> {
    crate::util::pages::for_children();
    let out = std::process::Command::new("git").arg("-C").arg(workspace).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

impl PromptEffects for Effects<'_> {
    fn workspace_changes(&self, ws: &Path) -> WorkspaceChanges {
        let excluded = |f: &str| f == "CLAUDE.md" || f.starts_with(".claude");
        let word = |code: &str| match code {
            "??" | "A" => "created",
            "D" => "deleted",
            _ => "modified",
        };
        let mut changed: Vec<(String, &'static str)> = Vec::new();
        if ws.join(".git").exists() {
            for line in git(ws, &["status", "--porcelain"]).unwrap_or_default().lines() {
                let (code, file) = line.split_at(line.len().min(3));
                let file = file.trim();
                if !excluded(file) {
                    changed.push((file.to_string(), word(code.trim())));
                }
            }
            if changed.is_empty() {
                for line in git(ws, &["show", "--name-status", "--format=", "HEAD"]).unwrap_or_default().lines() {
                    let mut parts = line.split_whitespace();
                    if let (Some(code), Some(file)) = (parts.next(), parts.next())
                        && !excluded(file)
                    {
                        changed.push((file.to_string(), word(code)));
                    }
                }
            }
            let diff = git(ws, &["diff", "HEAD"])
                .filter(|d| !d.trim().is_empty())
                .or_else(|| git(ws, &["show", "--format=", "HEAD"]));
            return WorkspaceChanges { changed, diff };
        }
        if let Ok(entries) = std::fs::read_dir(ws) {
            let mut files: Vec<String> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|f| !excluded(f) && !f.starts_with('.'))
                .collect();
            files.sort();
            changed = files.into_iter().map(|f| (f, "created")).collect();
        }
        WorkspaceChanges { changed, diff: None }
    }

    fn pipeline(&self, run_dir: &Path, workspace: &Path) -> Result<Vec<StepResult>, String> {
        #[cfg(unix)]
        return crate::exec::pipeline::run(&self.exp.settings.pipeline, run_dir, workspace);
        #[cfg(not(unix))]
        {
            let _ = (run_dir, workspace);
            Ok(Vec::new())
        }
    }
}

/// Keys a rebuild always changes, left out when deciding whether content changed.
const TIMESTAMPS: [&str; 3] = ["generated_at", "last_updated_at", "last_heartbeat"];

/// Whether new content differs from the old file `name` held in more than its timestamps
/// (`generated_at`, the `**Generated**:` line, the checkpoint's clock). JSON is compared by
/// digest of its value, so a large aggregate is never held as two parsed trees.
pub fn differs(name: &str, old: &[u8], new: &[u8]) -> bool {
    if old == new {
        return false;
    }
    if name.ends_with(".md") {
        let strip = |b: &[u8]| crate::rules::content::run_report::without_generated(&String::from_utf8_lossy(b));
        return strip(old) != strip(new);
    }
    if name.ends_with(".json") {
        return !crate::py::json_digest::same_value(old, new, &TIMESTAMPS);
    }
    true
}

/// Builds nodes (run nodes grouped by run, in order; runs and aggregates in parallel). `own`
/// tells whether a node is rebuilt for its own causes alone (then any change of bytes is
/// written) rather than after something upstream (then only a change beyond timestamps).
pub fn build(
    engine: &Engine,
    nodes: &[NodeId],
    files: &HashMap<usize, RunFiles>,
    own: &(dyn Fn(NodeId) -> bool + Sync),
    now: &str,
) -> Vec<(NodeId, Result<Built, Finding>)> {
    let mut by_run: HashMap<usize, Vec<NodeId>> = HashMap::new();
    let mut aggregates: Vec<NodeId> = Vec::new();
    for &n in nodes {
        match engine.graph.run_of(n) {
            Some(r) => by_run.entry(r).or_default().push(n),
            None => aggregates.push(n),
        }
    }
    let effects = Effects { exp: &engine.exp };
    let env = BuildEnv { effects: &effects, now };
    let groups: Vec<(usize, Vec<NodeId>)> = by_run.into_iter().collect();
    let mut out: Vec<(NodeId, Result<Built, Finding>)> = groups
        .par_iter()
        .flat_map_iter(|(run, ns)| {
            let cx = engine.run_info(*run);
            let run_files = files
                .get(run)
                .or_else(|| engine.facts.runs[*run].as_ref().map(|f| &f.files))
                .cloned()
                .unwrap_or_default();
            let dir = cx.dir.clone();
            let src = RunSources::new(&dir, &run_files, Default::default());
            let mut rcx = RunCx::new(&cx, src);
            rcx.env = Some(&env);
            let results: Vec<(NodeId, Result<Built, Finding>)> = ns
                .iter()
                .map(|&n| {
                    let node = engine.graph.node(n);
                    let outputs = match engine.graph.registry.get(node.rule) {
                        Rule::Run(r) => r.build(&rcx, node.slot),
                        Rule::Aggregate(_) => Err(Finding::Fresh),
                    };
                    (n, outputs.map(|o| compare(&dir, o, own(n))))
                })
                .collect();
            results
        })
        .collect();
    if !aggregates.is_empty() {
        let agg: Vec<(NodeId, Result<Built, Finding>)> = engine.with_aggregates(Some(now), |acx| {
            aggregates
                .par_iter()
                .map(|&n| {
                    let node = engine.graph.node(n);
                    let dir = engine.node_dir(n);
                    let outputs = match engine.graph.registry.get(node.rule) {
                        Rule::Aggregate(r) => r.build(acx, node.at as usize),
                        Rule::Run(_) => Err(Finding::Fresh),
                    };
                    (n, outputs.map(|o| compare(&dir, o, own(n))))
                })
                .collect()
        });
        out.extend(agg);
    }
    out
}

/// Which outputs differ from the files on disk.
fn compare(dir: &Path, outputs: Vec<crate::rules::Output>, own: bool) -> Built {
    let mut changed = false;
    let mut write = Vec::new();
    for o in outputs {
        let path = dir.join(o.file.as_str());
        // The old file is held only while it is compared.
        let (bytes_differ, semantic) = match std::fs::read(&path) {
            Ok(old) if old == o.bytes => (false, false),
            Ok(old) => (true, differs(o.file.as_str(), &old, &o.bytes)),
            Err(_) => (true, true),
        };
        changed |= semantic;
        // A rebuild forced only by upstream keeps a file whose only change is its timestamp.
        if bytes_differ && (own || semantic) {
            write.push(PendingFile { path, bytes: o.bytes, executable: o.executable });
        }
    }
    Built { write, changed }
}

#[cfg(test)]
mod tests {
    use super::differs;

    #[test]
    fn only_a_change_beyond_timestamps_is_a_change() {
        let old = br#"{"generated_at": "t1", "score": 0.5, "tiers": {"T0": {"generated_at": "x"}}}"#;
        let restamped = b"{\"score\": 0.5, \"tiers\": {\"T0\": {\"generated_at\": \"x\"}}, \"generated_at\": \"t2\"}";
        assert!(!differs("result.json", old, restamped), "top-level stamps and key order");
        assert!(differs(
            "result.json",
            old,
            br#"{"generated_at": "t1", "score": 0.6, "tiers": {"T0": {"generated_at": "x"}}}"#
        ));
        assert!(
            differs(
                "result.json",
                old,
                br#"{"generated_at": "t1", "score": 0.5, "tiers": {"T0": {"generated_at": "y"}}}"#
            ),
            "a nested stamp is content"
        );
        assert!(differs("result.json", b"{\"score\": 0.5", br#"{"score": 0.5}"#), "a damaged file is replaced");
        assert!(!differs("report.md", b"# R\n**Generated**: t1\nx", b"# R\n**Generated**: t2\nx"));
        assert!(differs("report.md", b"# R\n**Generated**: t1\nx", b"# R\n**Generated**: t1\ny"));
        assert!(differs("run.sh", b"a", b"b"));
    }
}
