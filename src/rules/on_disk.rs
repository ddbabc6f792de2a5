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
        match std::fs::read(dir.join(name)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.get_or_insert(Finding::Missing(f));
            }
            Err(e) => return Finding::Unreadable(f, crate::observe::files::IoProblem::of(&e)),
            Ok(have) if have != *want => {
                if have.iter().all(u8::is_ascii_whitespace) {
                    return Finding::Malformed(f, Malformed::Empty);
                }
                if name.ends_with(".json")
                    && let Err(m) = crate::observe::sources::parse_json(&have)
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

/// Outputs as the rules return them.
pub fn outputs(files: Vec<(&str, Vec<u8>)>) -> Vec<super::Output> {
    files.into_iter().map(|(name, bytes)| super::Output::new(file(name), bytes)).collect()
}
