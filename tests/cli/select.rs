//! SELECT filters on `status`: each restricts the runs, different flags AND together, a repeated
//! flag ORs its values.

use crate::util::{Exp, assert_usage_error, ids, runs, shared_demo};
use serde_json::Value;

/// The ids of the shared phased demo's runs for which `keep` holds.
fn expected(keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let all = &shared_demo(true).status;
    runs(all).iter().filter(|r| keep(r)).map(|r| r["id"].as_str().expect("id").to_string()).collect()
}

/// `status --json ARGS` on the shared demo: the ids, with counts checked against the runs.
fn selected(args: &[&str]) -> Vec<String> {
    let doc = shared_demo(true).exp.status(args);
    let n = runs(&doc).len() as u64;
    for side in ["agent", "judge"] {
        let total: u64 = doc["counts"][side].as_object().expect("counts").values().filter_map(Value::as_u64).sum();
        assert_eq!(total, n, "counts.{side} count the selected runs only ({args:?})");
    }
    ids(&doc)
}

/// Whether a problem of the run is about the run's aggregate files.
fn aggregate_problem(r: &Value) -> bool {
    r["problems"].as_array().expect("problems").iter().any(|p| {
        let path = p["path"].as_str().unwrap_or("");
        path.ends_with("/run_result.json") || path.ends_with("/report.json") || path.ends_with("/report.md")
    })
}

#[track_caller]
fn check(args: &[&str], keep: impl Fn(&Value) -> bool, n: usize) {
    let want = expected(keep);
    assert_eq!(want.len(), n, "the demo has {n} runs for {args:?}; fix the test if the demo changed");
    assert_eq!(selected(args), want, "{args:?}");
}

#[test]
fn tier() {
    check(&["--tier", "T1"], |r| r["tier"] == "T1", 12);
}

#[test]
fn subtest() {
    check(&["--subtest", "01"], |r| r["subtest"] == "01", 12);
}

#[test]
fn runs_list_with_range() {
    check(&["--runs", "1,3-4"], |r| matches!(r["run"].as_u64(), Some(1 | 3 | 4)), 12);
}

#[test]
fn agent_status() {
    check(&["--status", "failed"], |r| r["agent"] == "failed", 3);
    check(&["--status", "completed"], |r| r["agent"] == "completed", 16);
}

#[test]
fn judge_status() {
    check(&["--judge-status", "partial"], |r| r["judge"] == "partial", 4);
}

#[test]
fn stage_agent() {
    check(&["--stage", "agent"], |r| r["agent"] != "completed", 8);
}

#[test]
fn stage_judge() {
    check(&["--stage", "judge"], |r| r["judge"] != "complete", 13);
}

#[test]
fn stage_aggregate() {
    check(&["--stage", "aggregate"], aggregate_problem, 3);
    // The aggregate damage of the demo is exactly what is selected.
    let summary = &shared_demo(true).summary;
    let mut want: Vec<String> = [darn::demo::Damage::MissingRunResult, darn::demo::Damage::LostJudges]
        .into_iter()
        .chain([darn::demo::Damage::MissingRunReport])
        .flat_map(|k| summary.runs_with(k))
        .map(str::to_string)
        .collect();
    want.sort();
    assert_eq!(selected(&["--stage", "aggregate"]), want);
}

#[test]
fn different_flags_and_together() {
    check(&["--tier", "T1", "--status", "failed"], |r| r["tier"] == "T1" && r["agent"] == "failed", 3);
    check(
        &["--tier", "T0", "--subtest", "01", "--runs", "2-3"],
        |r| r["tier"] == "T0" && r["subtest"] == "01" && matches!(r["run"].as_u64(), Some(2 | 3)),
        2,
    );
    check(
        &["--status", "completed", "--judge-status", "partial", "--tier", "T0"],
        |r| r["agent"] == "completed" && r["judge"] == "partial" && r["tier"] == "T0",
        3,
    );
}

#[test]
fn repeated_flags_or_together() {
    check(&["--tier", "T0", "--tier", "T1"], |_| true, 24);
    check(&["--status", "failed", "--status", "partial"], |r| r["agent"] == "failed" || r["agent"] == "partial", 4);
    check(&["--runs", "1", "--runs", "6"], |r| matches!(r["run"].as_u64(), Some(1 | 6)), 8);
    check(&["--stage", "agent", "--stage", "aggregate"], |r| r["agent"] != "completed" || aggregate_problem(r), 11);
}

#[test]
fn filters_on_the_fixture() {
    let exp = Exp::fixture();
    let doc = exp.status(&["--tier", "T3", "--runs", "1"]);
    assert_eq!(ids(&doc), ["T3/01/run_01"]);
    assert_eq!(doc["counts"]["agent"]["completed"], 1);
    assert_eq!(doc["counts"]["judge"]["complete"], 1);
}

#[test]
fn filter_matching_nothing_is_an_error() {
    let exp = &shared_demo(true).exp;
    assert_usage_error(&exp.darn(&["status", "--tier", "T9"]), &["T9"]);
    assert_usage_error(&exp.darn(&["status", "--json", "--tier", "T0", "--status", "missing"]), &["--status missing"]);
    let fixture = Exp::fixture();
    assert_usage_error(&fixture.darn(&["status", "--status", "failed"]), &["failed"]);
}

#[test]
fn invalid_filter_values_are_errors() {
    let exp = &shared_demo(true).exp;
    assert_usage_error(&exp.darn(&["status", "--status", "done"]), &["done"]);
    assert_usage_error(&exp.darn(&["status", "--judge-status", "ok"]), &["ok"]);
    assert_usage_error(&exp.darn(&["status", "--runs", "3-1"]), &["3-1"]);
    assert_usage_error(&exp.darn(&["status", "--runs", "x"]), &["x"]);
    assert_usage_error(&exp.darn(&["status", "--stage", "build"]), &["build"]);
}
