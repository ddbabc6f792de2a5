//! Regeneration of one node: what its files should contain now, given what is on disk.
//!
//! Run nodes take their content from a fresh observation of the run (`observe::Expected`), so
//! regeneration writes exactly what the check compared against; aggregates are computed from
//! the run results on disk.

use crate::aggregate_io::{self, RunResults};
use crate::experiment::Experiment;
use crate::graph::{Graph, NodeKind};
use crate::observe::{ObsContext, RunObs, observe_run};
use crate::py::json as pyjson;
use crate::rules::aggregate::Generated;
use crate::rules::{judge_prompt, run_report};
use crate::scan::ScannedRun;
use crate::write::PendingFile;
use petgraph::graph::NodeIndex;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a regeneration needs besides the graph.
pub struct RegenCtx<'a> {
    pub exp: &'a Experiment,
    pub graph: &'a Graph,
    pub run_results: &'a RunResults,
    /// The `generated_at` of reports written now.
    pub now: String,
    /// Observation context of each run, by run index.
    pub contexts: &'a [ObsContext],
}

fn pending(path: PathBuf, bytes: impl Into<Vec<u8>>) -> PendingFile {
    PendingFile { path, bytes: bytes.into(), executable: false }
}

/// The files a node should have now. `obs` may pass an observation of the run made since its
/// last write (saves reading it again).
pub fn regenerate(ctx: &RegenCtx, n: NodeIndex, obs: Option<&RunObs>) -> Result<Vec<PendingFile>, String> {
    let node = ctx.graph.node(n);
    let exp = ctx.exp;
    let Some(ri) = node.run else {
        return Ok(aggregate(ctx, n));
    };
    let dir = exp.run_dir(&exp.runs[ri]);
    let fresh;
    let obs = match obs.filter(|o| o.expected.covers(node.kind)) {
        Some(o) => o,
        None => {
            fresh = observe_run(&dir, &ctx.contexts[ri]);
            &fresh
        }
    };
    let e = &obs.expected;
    let need = |what: &Option<String>, why: &str| what.clone().ok_or_else(|| why.to_string());
    Ok(match node.kind {
        NodeKind::AgentOutput => {
            let bytes = e.output_txt.clone().ok_or("no agent output to copy")?;
            vec![pending(dir.join("agent/output.txt"), bytes)]
        }
        NodeKind::AgentResult => {
            vec![pending(dir.join("agent/result.json"), need(&e.result_json, "no agent transcript to derive it from")?)]
        }
        NodeKind::AgentTiming => vec![pending(
            dir.join("agent/timing.json"),
            need(&e.timing_json, "nothing records the agent's duration (no command log)")?,
        )],
        NodeKind::Judgment(k) => {
            let i = k as usize - 1;
            let slot = format!("judge/{}", crate::experiment::names::slot_dir_name(k as usize));
            let json = e.judgments.get(i).cloned().flatten().ok_or("the slot has no usable response")?;
            let mut out = vec![pending(dir.join(&slot).join("judgment.json"), json)];
            if let Some(Some(text)) = e.response_txt.get(i) {
                out.push(pending(dir.join(&slot).join("response.txt"), text.clone()));
            }
            out
        }
        NodeKind::Consensus => {
            let mut out =
                vec![pending(dir.join("judge/result.json"), need(&e.consensus, "not every slot has a judgment")?)];
            if let Some(t) = &e.judge_timing {
                out.push(pending(dir.join("judge/timing.json"), t.clone()));
            }
            out
        }
        NodeKind::RunResult => vec![pending(
            dir.join("run_result.json"),
            need(&e.run_result, "its inputs are incomplete (agent result, timings or judgments)")?,
        )],
        NodeKind::RunReport => {
            let bytes = std::fs::read(dir.join("run_result.json")).map_err(|e| format!("run_result.json: {e}"))?;
            let rr = pyjson::parse(&bytes).map_err(|e| format!("run_result.json: {e}"))?;
            let previous = std::fs::read_to_string(dir.join("report.md")).ok();
            let ws = previous
                .as_deref()
                .and_then(run_report::workspace_section)
                .unwrap_or_else(|| run_report::NO_WORKSPACE.to_string());
            let id = exp.runs[ri].key.id();
            vec![
                pending(dir.join("report.json"), pyjson::to_string(&run_report::report_json(exp.era, &rr, &ctx.now))),
                pending(dir.join("report.md"), run_report::report_md(exp.era, &id, &rr, &ws, &ctx.now)),
            ]
        }
        NodeKind::JudgePrompt => vec![pending(dir.join("judge_prompt.md"), build_judge_prompt(exp, &dir)?)],
        NodeKind::Agent | NodeKind::JudgeSlot(_) => return Err("an execution, not a regeneration".into()),
        _ => Vec::new(),
    })
}

fn aggregate(ctx: &RegenCtx, n: NodeIndex) -> Vec<PendingFile> {
    aggregate_io::outputs(ctx.exp, ctx.graph, n, ctx.run_results, &Generated::same(&ctx.now))
        .into_iter()
        .map(|(p, b)| pending(p, b))
        .collect()
}

/// The checkpoint, from freshly observed runs.
pub fn checkpoint(exp: &Experiment, runs: &[ScannedRun], now: &str) -> Vec<PendingFile> {
    vec![pending(exp.root.join("checkpoint.json"), crate::checkpoint::regenerate(exp, runs, now))]
}

fn git(workspace: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(workspace).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds a judge prompt from the live workspace (LAYOUT §5.6): rubric, task, the agent's
/// output, the files it changed and the diff. Pipeline sections need a configured pipeline and
/// are left out.
pub fn build_judge_prompt(exp: &Experiment, run_dir: &Path) -> Result<String, String> {
    let ws = run_dir.join("workspace");
    if !ws.is_dir() {
        return Err("the workspace is gone, so judge_prompt.md cannot be rebuilt".into());
    }
    let rubric = std::fs::read_to_string(exp.root.join("rubric.yaml")).ok();
    let task = std::fs::read_to_string(run_dir.join("agent/prompt.md"))
        .or_else(|_| std::fs::read_to_string(exp.root.join("prompt.md")))
        .map_err(|_| "no task prompt (agent/prompt.md or prompt.md)".to_string())?;
    let stdout = std::fs::read_to_string(run_dir.join("agent/stdout.log")).unwrap_or_default();
    let excluded = |f: &str| f == "CLAUDE.md" || f.starts_with(".claude");
    let mut changed: Vec<(String, &'static str)> = Vec::new();
    let mut diff = None;
    if ws.join(".git").exists() {
        let status = git(&ws, &["status", "--porcelain"]).unwrap_or_default();
        for line in status.lines() {
            let (code, file) = line.split_at(line.len().min(3));
            let file = file.trim().to_string();
            if excluded(&file) {
                continue;
            }
            let what = match code.trim() {
                "??" | "A" => "created",
                "D" => "deleted",
                _ => "modified",
            };
            changed.push((file, what));
        }
        if changed.is_empty() {
            let last = git(&ws, &["show", "--name-status", "--format=", "HEAD"]).unwrap_or_default();
            for line in last.lines() {
                let mut parts = line.split_whitespace();
                if let (Some(code), Some(file)) = (parts.next(), parts.next())
                    && !excluded(file)
                {
                    changed.push((
                        file.to_string(),
                        if code == "A" {
                            "created"
                        } else if code == "D" {
                            "deleted"
                        } else {
                            "modified"
                        },
                    ));
                }
            }
        }
        diff = git(&ws, &["diff", "HEAD"])
            .filter(|d| !d.trim().is_empty())
            .or_else(|| git(&ws, &["show", "--format=", "HEAD"]));
    } else if let Ok(entries) = std::fs::read_dir(&ws) {
        let mut files: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| !excluded(f) && !f.starts_with('.'))
            .collect();
        files.sort();
        changed = files.into_iter().map(|f| (f, "created")).collect();
    }
    #[cfg(unix)]
    let steps = crate::exec::pipeline::run(&exp.settings.pipeline, run_dir, &ws)?;
    #[cfg(not(unix))]
    let steps = Vec::new();
    Ok(judge_prompt::build(&judge_prompt::PromptParts {
        rubric: rubric.as_deref(),
        task: &task,
        agent_output: &stdout,
        changed_files: changed,
        diff: diff.as_deref(),
        pipeline: judge_prompt::pipeline_section(exp.era, &steps).into_iter().collect(),
    }))
}

/// Whether new content differs from what is on disk in more than its timestamps
/// (`generated_at`, the `**Generated**:` line, the checkpoint's clock).
pub fn differs(path: &Path, new: &[u8]) -> bool {
    let Ok(old) = std::fs::read(path) else { return true };
    if old == new {
        return false;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.ends_with(".md") {
        let strip = |b: &[u8]| run_report::without_generated(&String::from_utf8_lossy(b));
        return strip(&old) != strip(new);
    }
    if name.ends_with(".json") {
        let (Ok(mut a), Ok(mut b)) = (pyjson::parse(&old), pyjson::parse(new)) else { return true };
        for v in [&mut a, &mut b] {
            if let Value::Object(m) = v {
                for k in ["generated_at", "last_updated_at", "last_heartbeat"] {
                    m.shift_remove(k);
                }
            }
        }
        return a != b;
    }
    true
}
