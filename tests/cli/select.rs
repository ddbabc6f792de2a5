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

/// The stage of a run node by its id below the run.
fn stage_of(node: &str) -> &'static str {
    let rest = node.splitn(4, '/').nth(3).unwrap_or("");
    if rest == "agent" || rest.starts_with("agent/") {
        "agent"
    } else if rest == "judge_prompt.md" || rest.starts_with("judge/") {
        "judge"
    } else {
        "aggregate"
    }
}

/// Runs the plan has own work of `stage` for (an action or a held node whose causes are not
/// only upstream ones): what `--stage` selects, as the planner decides it.
fn planned(stage: &str) -> std::collections::BTreeSet<String> {
    let out = shared_demo(true).exp.darn(&["plan", "--json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan json");
    let own = |a: &Value| a["causes"].as_array().is_some_and(|c| c.iter().any(|c| c["kind"] != "upstream_stale"));
    plan["actions"]
        .as_array()
        .into_iter()
        .chain(plan["held"].as_array())
        .flatten()
        .filter(|a| a["node"].as_str().is_some_and(|n| n.split('/').nth(2).is_some_and(|r| r.starts_with("run_"))))
        .filter(|a| stage_of(a["node"].as_str().unwrap_or("")) == stage && own(a))
        .map(|a| a["node"].as_str().unwrap_or("").splitn(4, '/').take(3).collect::<Vec<_>>().join("/"))
        .collect()
}

/// Whether the plan has own work of `stage` for this run.
fn stage_work(stage: &'static str) -> impl Fn(&Value) -> bool {
    let runs = planned(stage);
    move |r: &Value| runs.contains(r["id"].as_str().unwrap_or(""))
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
    check(&["--stage", "agent"], stage_work("agent"), 8);
    // Own agent-stage work is exactly a run whose agent is not complete.
    assert_eq!(expected(stage_work("agent")), expected(|r| r["agent"] != "completed"));
}

#[test]
fn stage_judge() {
    // A run whose agent is re-executed needs a new judge prompt (its own judge-stage work).
    check(&["--stage", "judge"], stage_work("judge"), 13);
}

#[test]
fn stage_aggregate() {
    check(&["--stage", "aggregate"], stage_work("aggregate"), 4);
    // The aggregate damage of the demo is among what is selected.
    let summary = &shared_demo(true).summary;
    let selected = selected(&["--stage", "aggregate"]);
    for k in [darn::Damage::MissingRunResult, darn::Damage::LostJudges, darn::Damage::MissingRunReport] {
        for id in summary.runs_with(k) {
            assert!(selected.iter().any(|s| s == id), "{id} ({k:?})");
        }
    }
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
    let (agent, aggregate) = (stage_work("agent"), stage_work("aggregate"));
    check(&["--stage", "agent", "--stage", "aggregate"], |r| agent(r) || aggregate(r), 12);
}

#[test]
fn filters_on_the_fixture() {
    let exp = Exp::fixture();
    let doc = exp.status(&["--tier", "T3", "--runs", "1"]);
    assert_eq!(ids(&doc), ["T3/01/run_01"]);
    assert_eq!(doc["counts"]["agent"]["completed"], 1);
    assert_eq!(doc["counts"]["judge"]["complete"], 1);
}

/// A filter naming a tier, subtest or run the experiment does not have is an error naming the
/// valid values; a selection that exists but holds nothing (no run of T0 is missing) is not.
#[test]
fn filters_naming_nothing_are_errors_and_empty_selections_are_not() {
    let exp = &shared_demo(true).exp;
    assert_usage_error(&exp.darn(&["status", "--tier", "T9"]), &["T9", "T0, T1"]);
    assert_usage_error(&exp.darn(&["status", "--tier", "t0"]), &["did you mean T0"]);
    assert_usage_error(&exp.darn(&["status", "--subtest", "0"]), &["did you mean 00"]);
    assert_usage_error(&exp.darn(&["status", "--runs", "30"]), &["1-6"]);
    let out = exp.darn(&["status", "--json", "--tier", "T0", "--status", "missing"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(doc["runs"].as_array().is_some_and(Vec::is_empty));
    let fixture = Exp::fixture();
    assert_eq!(fixture.darn(&["plan", "--status", "failed"]).status.code(), Some(0), "nothing to do");
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
