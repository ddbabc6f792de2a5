//! The old scripts' workflows as the documented darn commands (docs/guide.md#coming-from-the-old-scripts),
//! run on demo trees.

use crate::util::{Exp, run, small_demo, text};
use serde_json::Value;

fn json(exp: &Exp, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = exp.darn(&all);
    crate::util::assert_no_panic(&out);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("darn {all:?}: no JSON ({e}):\n{}", text(&out.stderr)));
    (out.status.code(), doc)
}

fn ids(doc: &Value, key: &str) -> Vec<String> {
    doc[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// `regenerate_agent_results.py` → `darn reconcile --regenerate-only`: derived files are
/// rebuilt, nothing is executed.
#[test]
fn regenerate_missing_agent_results() {
    let (exp, _) = Exp::demo(small_demo(true));
    let before = exp.status(&[]);
    assert!(before["counts"]["agent"]["results"].as_u64().unwrap_or(0) > 0, "the demo has runs to regenerate");
    let (_, doc) = json(&exp, &["reconcile", "--regenerate-only"]);
    assert!(ids(&doc, "executed").is_empty(), "nothing executed: {doc:#}");
    assert!(!ids(&doc, "regenerated").is_empty());
    assert_eq!(exp.status(&[])["counts"]["agent"]["results"], 0);
}

/// `rerun_agents.py --tier T0 --runs 1,3,5` → `darn reconcile --tier T0 --runs 1,3,5`: only
/// those runs are executed.
#[test]
fn rerun_only_t0_runs_1_3_5() {
    let (exp, _) = Exp::demo(small_demo(true));
    let (code, plan) = json(&exp, &["plan", "--tier", "T0", "--runs", "1,3,5"]);
    assert_eq!(code, Some(1), "work is pending");
    let (_, doc) = json(&exp, &["reconcile", "--tier", "T0", "--runs", "1,3,5"]);
    let executed = ids(&doc, "executed");
    let planned: Vec<String> = plan["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["strategy"] == "execute")
        .filter_map(|a| a["node"].as_str().map(str::to_string))
        .collect();
    assert_eq!(executed.len(), planned.len(), "{executed:?} vs {planned:?}");
    for id in executed.iter().chain(&ids(&doc, "regenerated")) {
        let run = id.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        let in_selection = ["/run_01", "/run_03", "/run_05"].iter().any(|r| run.ends_with(r)) && run.starts_with("T0/");
        let aggregate = !id.contains("/run_");
        assert!(in_selection || aggregate, "{id} is outside T0 runs 1, 3, 5");
    }
    let (code, _) = json(&exp, &["plan", "--tier", "T0", "--runs", "1,3,5"]);
    assert_eq!(code, Some(0), "the selection is up to date");
}

/// `rerun_agents.py --status failed` → `darn reconcile --stage agent --status failed`.
#[test]
fn rerun_failed_agents() {
    let (exp, _) = Exp::demo(small_demo(true));
    let failed: Vec<String> = crate::util::ids(&exp.status(&["--status", "failed"]));
    assert!(!failed.is_empty());
    let (_, doc) = json(&exp, &["reconcile", "--stage", "agent", "--status", "failed"]);
    let mut executed = ids(&doc, "executed");
    executed.sort();
    let want: Vec<String> = failed.iter().map(|r| format!("{r}/agent")).collect();
    assert_eq!(executed, want, "exactly the failed runs' agents");
    for id in &failed {
        assert_eq!(run(&exp.status(&[]), id)["agent"], "completed", "{id}");
    }
}

/// "What would it cost?" → `darn plan`: dollars and time, per tier and per stage, exit 1.
#[test]
fn what_would_it_cost() {
    let (exp, _) = Exp::demo(small_demo(true));
    let (code, doc) = json(&exp, &["plan", "--stage", "agent", "-j", "2"]);
    assert_eq!(code, Some(1));
    assert!(doc["estimate"]["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{doc:#}");
    assert_eq!(doc["estimate"]["jobs"], 2);
    assert!(doc["by_stage"].as_array().is_some_and(|s| s.iter().any(|x| x["name"] == "agent")));
    // --dry-run is the same plan.
    let (dry_code, dry) = json(&exp, &["reconcile", "--dry-run", "--stage", "agent", "-j", "2"]);
    assert_eq!((dry_code, &dry["actions"]), (code, &doc["actions"]));
}

/// `rerun_judges.py --status failed --judge-model opus` → `darn reconcile --judge-status …
/// --judge-model MODEL`: the selected slots are re-run with that model, which is recorded for
/// them; the other runs are untouched, and a later plain reconcile re-runs nothing.
#[test]
fn rejudge_slots_with_another_model() {
    let spec = darn::DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 3, damage: false, ..Default::default() };
    let (exp, _) = Exp::demo(spec);
    assert_eq!(exp.darn(&["-q", "reconcile"]).status.code(), Some(0));
    let slot = "completed/T0/00/run_02/judge/judge_02";
    exp.remove(slot);
    let others_before = exp.files_under("completed/T0/01");
    let before: Vec<Vec<u8>> = others_before.iter().map(|f| exp.read(f)).collect();

    let (code, doc) = json(&exp, &["reconcile", "--judge-status", "partial", "--judge-model", "claude-opus-4-6"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(ids(&doc, "executed"), ["T0/00/run_02/judge/judge_02"]);
    let model_md = String::from_utf8(exp.read(&format!("{slot}/MODEL.md"))).expect("utf-8");
    assert!(model_md.contains("claude-opus-4-6"), "{model_md}");
    let choices = exp.read_json(".darn/judge-models.json");
    assert_eq!(choices, serde_json::json!({"T0/00/run_02": {"judge_02": "claude-opus-4-6"}}));

    // status, why and the run's result name the model that graded the slot.
    let status = exp.status(&[]);
    assert_eq!(run(&status, "T0/00/run_02")["judges"][1]["model"], "claude-opus-4-6");
    assert_eq!(run(&status, "T0/00/run_01")["judges"][1]["model"], "claude-sonnet-4-6");
    let why = text(&exp.darn(&["why", "T0/00/run_02/judge/judge_02"]).stdout);
    assert!(why.contains("graded by claude-opus-4-6 (chosen for this slot with --judge-model)"), "{why}");
    let result = exp.read_json("completed/T0/00/run_02/run_result.json");
    assert_eq!(result["judges"][1]["model"], "claude-opus-4-6");

    // The other runs were not touched, and nothing is stale now.
    let after: Vec<Vec<u8>> = others_before.iter().map(|f| exp.read(f)).collect();
    assert!(before == after, "other subtests' run files are unchanged");
    let (code, doc) = json(&exp, &["reconcile"]);
    assert_eq!(code, Some(0));
    assert!(ids(&doc, "executed").is_empty() && ids(&doc, "regenerated").is_empty(), "{doc:#}");
    let (code, _) = json(&exp, &["plan"]);
    assert_eq!(code, Some(0));
    // Nothing would be executed: the flag cannot go with --regenerate-only.
    let out = exp.darn(&["reconcile", "--regenerate-only", "--judge-model", "claude-opus-4-6"]);
    crate::util::assert_usage_error(&out, &["--judge-model", "--regenerate-only"]);
}
