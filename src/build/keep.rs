//! What a replaced file measured is never lost: before darn rewrites a JSON file whose measured
//! values (durations, timestamps, exit codes) would change, the old file is copied to
//! `.darn/replaced/<when>/<its path in the experiment>`.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Keys whose values the runner measured rather than computed.
const MEASURED: [&str; 10] = [
    "agent_duration_seconds",
    "judge_duration_seconds",
    "duration_seconds",
    "total_duration",
    "total_duration_seconds",
    "measured_at",
    "started_at",
    "completed_at",
    "exit_code",
    "timestamp",
];

/// Equal values, numbers compared as floats (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether replacing `old` by `new` loses or changes a measured value. Both are read as streams
/// of their measured values only, and compared by path through a map: an aggregate embedding
/// 100,000 runs (about a million measured values) is compared in linear time.
pub fn loses_measurements(old: &[u8], new: &[u8]) -> bool {
    let (Ok(before), Ok(after)) =
        (crate::py::json::scalars_under(old, &MEASURED), crate::py::json::scalars_under(new, &MEASURED))
    else {
        return false;
    };
    let after: std::collections::HashMap<&str, &Value> = after.iter().map(|(p, v)| (p.as_str(), v)).collect();
    before.iter().any(|(path, value)| !after.get(path.as_str()).is_some_and(|v| same(v, value)))
}

/// Where old files of this reconcile go.
pub fn folder(root: &Path, stamp: &str) -> PathBuf {
    root.join(".darn").join("replaced").join(stamp.replace(':', "-"))
}

/// Copies `target` (an existing file about to be replaced by `new`) aside when it measured
/// something `new` does not keep.
pub fn keep_if_measured(root: &Path, folder: &Path, target: &Path, new: &[u8]) -> std::io::Result<()> {
    if target.extension().is_none_or(|e| e != "json") {
        return Ok(());
    }
    let Ok(old) = std::fs::read(target) else { return Ok(()) };
    if old == new || !loses_measurements(&old, new) {
        return Ok(());
    }
    let rel = target.strip_prefix(root).unwrap_or(target);
    let dest = folder.join(rel);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(target, dest).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_duration_is_a_lost_measurement() {
        let old = br#"{"agent_duration_seconds": 114.89, "measured_at": "t1", "score": 0.5}"#;
        assert!(loses_measurements(old, br#"{"agent_duration_seconds": 106.5, "measured_at": "t1", "score": 0.5}"#));
        assert!(!loses_measurements(old, br#"{"agent_duration_seconds": 114.89, "measured_at": "t1", "score": 0.9}"#));
        assert!(loses_measurements(old, br#"{"score": 0.5}"#), "a dropped measurement is lost too");
        let nested = br#"{"runs": [{"duration_seconds": 1.0}]}"#;
        assert!(loses_measurements(nested, br#"{"runs": [{"duration_seconds": 2.0}]}"#));
        assert!(!loses_measurements(b"not json", b"{}"));
    }

    #[test]
    fn the_old_file_is_kept_under_darn() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let target = root.join("T0/00/run_01/run_result.json");
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(&target, br#"{"duration_seconds": 166.17}"#).expect("write");
        let folder = folder(root, "2026-12-01T10:00:00Z");
        keep_if_measured(root, &folder, &target, br#"{"duration_seconds": 157.81}"#).expect("keep");
        let kept = std::fs::read(folder.join("T0/00/run_01/run_result.json")).expect("kept");
        assert_eq!(kept, br#"{"duration_seconds": 166.17}"#);
    }
}
