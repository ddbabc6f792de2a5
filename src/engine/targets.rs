//! Command-line targets (docs/contract.md#targets): node ids, globs over node ids, or paths to files or
//! directories of the experiment in either layout. Relative paths resolve against the directory
//! given with `-C`, then the current directory, as git and make do.

use super::graph::{Graph, NodeId};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::experiment::names::{parse_run_dir, run_dir_name};
use crate::rules::Scope;
use crate::util::suggest::closest;
use std::path::{Component, Path, PathBuf};

/// Resolves targets to nodes, in build order, without duplicates. `bases` are the directories
/// relative paths are tried against, in order.
pub fn resolve(exp: &Experiment, graph: &Graph, targets: &[String], bases: &[PathBuf]) -> Result<Vec<NodeId>> {
    let mut out = Vec::new();
    for t in targets {
        let found = resolve_one(exp, graph, t, bases)?;
        if found.is_empty() {
            let logical = logical_form(exp, t, bases);
            return Err(Error::UnknownTarget {
                target: t.clone(),
                suggestion: suggest(graph, &logical),
                valid: valid_runs(exp, graph, &logical),
            });
        }
        out.extend(found);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Nodes whose id is `prefix` or starts with `prefix/`.
fn by_prefix(graph: &Graph, prefix: &str) -> Vec<NodeId> {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() || prefix == "." {
        return graph.nodes().collect();
    }
    // A run's directory: its nodes, without looking at every node.
    if let Some(run) = graph.run_by_id(prefix) {
        return graph.run_nodes(run).collect();
    }
    let with_slash = format!("{prefix}/");
    graph.nodes().filter(|n| graph.id(*n).starts_with(&with_slash)).collect()
}

fn resolve_one(exp: &Experiment, graph: &Graph, t: &str, bases: &[PathBuf]) -> Result<Vec<NodeId>> {
    if let Some(n) = graph.find(t) {
        return Ok(vec![n]);
    }
    if t.contains(['*', '?', '[']) {
        let glob = globset::GlobBuilder::new(t)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Usage(format!("invalid glob `{t}`: {e}")))?
            .compile_matcher();
        return Ok(graph.nodes().filter(|n| glob.is_match(graph.id(*n))).collect());
    }
    let is_path =
        t.starts_with('/') || t.starts_with('.') || t.starts_with("completed/") || t.starts_with("in_progress/");
    if !is_path {
        let logical = by_prefix(graph, t);
        if !logical.is_empty() {
            return Ok(logical);
        }
    }
    let candidates: Vec<PathBuf> =
        if Path::new(t).is_absolute() { vec![PathBuf::from(t)] } else { bases.iter().map(|b| b.join(t)).collect() };
    let root = normalize(&exp.root);
    let mut outside = None;
    for path in candidates {
        let path = normalize(&path);
        let rel = match path.strip_prefix(&root) {
            Ok(r) => r.to_path_buf(),
            Err(_) => {
                // Symlinked directories: compare canonical forms when the path exists.
                match std::fs::canonicalize(&path).ok().and_then(|c| c.strip_prefix(&root).ok().map(Path::to_path_buf))
                {
                    Some(r) => r,
                    None => {
                        outside.get_or_insert(path);
                        continue;
                    }
                }
            }
        };
        let found = by_logical_path(exp, graph, &rel);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    match outside {
        Some(path) if Path::new(t).is_absolute() || bases.len() == 1 => Err(Error::OutsideExperiment { path, root }),
        _ => Ok(Vec::new()),
    }
}

/// The nodes a path relative to the experiment names: the node producing that file, or every
/// node under that directory.
fn by_logical_path(exp: &Experiment, graph: &Graph, rel: &Path) -> Vec<NodeId> {
    let mut parts: Vec<String> = rel.components().filter_map(|c| c.as_os_str().to_str().map(str::to_string)).collect();
    if matches!(parts.first().map(String::as_str), Some("completed" | "in_progress")) {
        parts.remove(0);
    }
    let logical = parts.join("/");
    if logical.is_empty() {
        return graph.nodes().collect();
    }
    let _ = exp;
    // A file some node produces.
    if let Some(run) = (parts.len() > 3).then(|| graph.run_by_id(&parts[..3].join("/"))).flatten() {
        let file = parts[3..].join("/");
        let hits: Vec<NodeId> =
            graph.run_nodes(run).filter(|n| graph.node_files(*n).1.iter().any(|f| f.as_str() == file)).collect();
        if !hits.is_empty() {
            return hits;
        }
    }
    for (ix, rule) in graph.registry.iter() {
        let spec = rule.spec();
        if spec.scope.is_run() {
            continue;
        }
        for n in graph.nodes_of(ix) {
            let id = graph.id(n);
            let base = id.strip_suffix(spec.name).unwrap_or("");
            if spec.outputs.iter().any(|o| format!("{base}{o}") == logical) {
                return vec![n];
            }
        }
    }
    by_prefix(graph, &logical)
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

/// A target as a node id would spell it: the experiment's root, `./`, `completed/` and
/// `in_progress/` taken off, so that a mistyped path gets the same suggestion as a mistyped id.
fn logical_form(exp: &Experiment, t: &str, bases: &[PathBuf]) -> String {
    let root = normalize(&exp.root);
    let mut rel = PathBuf::from(t);
    let candidates: Vec<PathBuf> =
        if rel.is_absolute() { vec![rel.clone()] } else { bases.iter().map(|b| normalize(&b.join(t))).collect() };
    if let Some(inside) = candidates.iter().find_map(|c| c.strip_prefix(&root).ok()) {
        rel = inside.to_path_buf();
    }
    let mut parts: Vec<String> = normalize(&rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => p.to_str().map(str::to_string),
            _ => None,
        })
        .collect();
    if matches!(parts.first().map(String::as_str), Some("completed" | "in_progress")) {
        parts.remove(0);
    }
    parts.join("/")
}

/// For a target naming a run past `runs_per_subtest` of a subtest that exists: the runs it has.
fn valid_runs(exp: &Experiment, graph: &Graph, logical: &str) -> Option<String> {
    let parts: Vec<&str> = logical.split('/').collect();
    let (tier, subtest, run) = (parts.first()?, parts.get(1)?, parts.get(2)?);
    let n = run.strip_prefix("run_").unwrap_or(run).parse::<u32>().ok()?;
    let known = graph.subtests.iter().any(|(t, s)| t == tier && s == subtest);
    let max = exp.config.runs_per_subtest;
    (known && (n == 0 || n > max)).then(|| format!("{tier}/{subtest} has {} to {}", run_dir_name(1), run_dir_name(max)))
}

/// A node id close to a mistyped target: each part fixed to the closest tier, subtest, run and
/// node name.
fn suggest(graph: &Graph, t: &str) -> Option<String> {
    let parts: Vec<&str> = t.trim_matches('/').split('/').collect();
    if parts.first().is_none_or(|p| p.is_empty()) {
        return None;
    }
    let tier = closest(parts.first()?, graph.tiers.iter().map(String::as_str))?;
    let mut fixed = vec![tier.to_string()];
    if let Some(s) = parts.get(1) {
        let subtests: Vec<&str> = graph.subtests.iter().filter(|(t, _)| t == tier).map(|(_, s)| s.as_str()).collect();
        let padded = format!("{s:0>2}");
        fixed.push(
            closest(&padded, subtests.iter().copied()).or_else(|| closest(s, subtests.iter().copied()))?.to_string(),
        );
    }
    if let Some(r) = parts.get(2) {
        let n = r.strip_prefix("run_").unwrap_or(r).parse::<u32>().ok().or_else(|| parse_run_dir(r))?;
        fixed.push(run_dir_name(n));
    }
    let run_id = fixed.join("/");
    if parts.len() <= 3 {
        return graph.run_by_id(&run_id).map(|_| run_id).or_else(|| (parts.len() < 3).then_some(fixed.join("/")));
    }
    let run = graph.run_by_id(&run_id)?;
    let rest = parts[3..].join("/");
    let names: Vec<String> = graph
        .run_nodes(run)
        .filter(|n| graph.scope(*n) == Scope::Run || graph.scope(*n) == Scope::Slot)
        .map(|n| graph.id(n)[run_id.len() + 1..].to_string())
        .collect();
    let name = closest(&rest, names.iter().map(String::as_str))?;
    Some(format!("{run_id}/{name}"))
}
