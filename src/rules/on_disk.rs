//! What the aggregate rules share: reading the previous files of an aggregate directory and
//! comparing computed contents with them.

use super::content::aggregate::Generated;
use super::finding::{Difference, Finding, Malformed};
use crate::experiment::files::RunFile;
use crate::py::json as pyjson;
use serde_json::Value;
use std::path::Path;

pub fn read_json(path: &Path) -> Option<Value> {
    pyjson::parse(&std::fs::read(path).ok()?).ok()
}

/// An aggregate's previous file as a record: everything but the embedded runs, which no record
/// reads (they are recomputed from the runs' own files), so a 172 MB `result.json` is not held.
fn read_record(path: &Path) -> Option<Value> {
    pyjson::parse_pruned(&std::fs::read(path).ok()?, &["runs"]).ok()
}

/// A tier's or the experiment's `result.json` as its reports read it: each embedded run reduced
/// to what the reports show ([`REPORTED_RUN_KEYS`](super::content::aggregate::REPORTED_RUN_KEYS)).
pub fn read_for_reports(path: &Path) -> Option<Value> {
    pyjson::parse_lean_runs(&std::fs::read(path).ok()?, super::content::aggregate::REPORTED_RUN_KEYS).ok()
}

/// The `generated_at` stamps of existing reports in `dir`, so a check can rebuild their exact bytes.
pub fn existing_generated(dir: &Path) -> Option<Generated> {
    let json = read_json(&dir.join("report.json"))?;
    let report_json = json.get("generated_at")?.as_str()?.to_string();
    let md = std::fs::read_to_string(dir.join("report.md")).ok()?;
    let report_md = md.lines().find_map(|l| l.strip_prefix("**Generated**: "))?.to_string();
    Some(Generated { report_json, report_md })
}

/// The stamps to check `dir`'s reports with: the recorded ones, else now (they then differ).
pub fn check_stamps(dir: &Path) -> Generated {
    existing_generated(dir).unwrap_or_else(|| Generated::same(&crate::util::time::now_iso()))
}

fn file(name: &str) -> RunFile {
    RunFile::of(name).unwrap_or_else(|| unreachable!("{name} is in the vocabulary"))
}

/// Compares computed files (`(name, bytes)`, relative to `dir`) with those on disk: the first
/// missing, malformed or differing one.
pub fn compare(dir: &Path, outputs: &[(&str, Vec<u8>)]) -> Finding {
    let mut missing = None;
    for (name, want) in outputs {
        let f = file(name);
        let path = dir.join(name);
        // The common case, a file that is right, is read a piece at a time against what it
        // should hold: an aggregate of 10,000 runs is not held twice.
        match same_as(&path, want) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.get_or_insert(Finding::Missing(f));
                continue;
            }
            Err(e) => return Finding::Unreadable(f, crate::observe::files::IoProblem::of(&e)),
            Ok(true) => continue,
            Ok(false) => {}
        }
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.get_or_insert(Finding::Missing(f));
            }
            Err(e) => return Finding::Unreadable(f, crate::observe::files::IoProblem::of(&e)),
            Ok(have) if have != *want => {
                if have.iter().all(u8::is_ascii_whitespace) {
                    return Finding::Malformed(f, Malformed::Empty);
                }
                if name.ends_with(".json")
                    && let Err(m) = crate::util::problem::check_json(&have)
                {
                    return Finding::Malformed(f, m);
                }
                return Finding::Differs(
                    f,
                    Box::new(Difference { field: "".into(), recorded: "".into(), expected: "".into(), source: None }),
                );
            }
            Ok(_) => {}
        }
    }
    missing.unwrap_or(Finding::Fresh)
}

/// Whether the file at `path` holds exactly `want`, read in pieces.
fn same_as(path: &Path, want: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() != want.len() as u64 {
        return Ok(false);
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(at == want.len()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if want.get(at..at + n) != Some(&buf[..n]) {
            return Ok(false);
        }
        at += n;
    }
}

/// Outputs as the rules return them.
pub fn outputs(files: Vec<(&str, Vec<u8>)>) -> Vec<super::Output> {
    files.into_iter().map(|(name, bytes)| super::Output::new(file(name), bytes)).collect()
}

/// What the runner recorded of a tier that no run holds (its subtest order, `total_duration`,
/// `inherited_from`): its `result.json`; when that is gone or damaged, the copy embedded in the
/// experiment's `result.json`; else what its `report.json` kept (duration, subtest order).
pub fn tier_record(exp: &crate::experiment::Experiment, tier: &str) -> Option<Value> {
    let dir = exp.tier_dir(tier);
    if let Some(v) = read_record(&dir.join("result.json")).filter(Value::is_object) {
        return Some(v);
    }
    if let Some(v) = read_record(&exp.root.join("result.json"))
        .and_then(|r| r.get("tier_results")?.get(tier).cloned())
        .filter(Value::is_object)
    {
        return Some(v);
    }
    let report = read_json(&dir.join("report.json"))?;
    let order: serde_json::Map<String, Value> = report
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .map(|id| (id.to_string(), Value::Object(serde_json::Map::new())))
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("subtest_results".into(), Value::Object(order));
    if let Some(d) = report.get("summary").and_then(|s| s.get("total_duration")).filter(|d| d.is_number()) {
        m.insert("total_duration".into(), d.clone());
    }
    Some(Value::Object(m))
}

/// The experiment's clock as the runner recorded it: its `result.json`; when that is gone or
/// damaged, its `report.json` summary (written in the same step, with the same values).
pub fn experiment_record(exp: &crate::experiment::Experiment) -> Option<Value> {
    if let Some(v) = read_record(&exp.root.join("result.json")).filter(Value::is_object) {
        return Some(v);
    }
    let summary = read_json(&exp.root.join("report.json"))?.get("summary")?.clone();
    let mut m = serde_json::Map::new();
    for (from, to) in
        [("started_at", "started_at"), ("completed_at", "completed_at"), ("total_duration", "total_duration_seconds")]
    {
        if let Some(v) = summary.get(from).filter(|v| !v.is_null()) {
            m.insert(to.into(), v.clone());
        }
    }
    Some(Value::Object(m))
}
