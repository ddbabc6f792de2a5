//! One reconcile reaches a fixed point, and every command reports the same decision.
//!
//! - On demo experiments carrying every kind of damage, with stand-ins that crash or are rate
//!   limited before they succeed, one `reconcile` leaves `plan` nothing to do, and every derived
//!   file equals what regenerating it from scratch gives.
//! - On random damage and configuration changes, what `status` says each run needs is what the
//!   plan has for it.

use crate::engine::{clone_exp, masked, tree};
use crate::util::{Exp, text};
use darn::DemoSpec;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn json(exp: &Exp, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = exp.darn(&full);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("darn {args:?}: not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

/// Adds flags to a stand-in command of the demo's darn.toml.
fn knobs(exp: &Exp, role: &str, flags: &[String]) {
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    let anchor = format!("\"stand-in\", \"{role}\",");
    let extra: String = flags.iter().map(|f| format!(" \"{f}\",")).collect();
    exp.write("darn.toml", toml.replace(&anchor, &format!("{anchor}{extra}")));
}

/// Files computed from others (the rest are what executions and the runner measured).
fn derived(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if rel.contains("/run_") {
        let computed = ["output.txt", "judgment.json", "run_result.json", "report.json", "report.md"];
        computed.contains(&name) || rel.ends_with("agent/result.json") || rel.ends_with("judge/result.json")
    } else {
        ["report.json", "report.md", "summary.md", "result.json", "best_subtest.json", "tier_comparison.json"]
            .contains(&name)
    }
}

/// The tree with every derived file regenerated from scratch. A run's `report.md` stays: its
/// workspace section recorded the live worktree, which no other file holds. So do the tiers' and
/// the experiment's `report.json`: the wall clocks they record were measured by the runner and are
/// kept in no file a run holds.
fn clean_rebuild(exp: &Exp) -> BTreeMap<String, Vec<u8>> {
    let copy = clone_exp(exp);
    let _ = std::fs::remove_dir_all(copy.path(".darn"));
    let tier_report = |r: &str| {
        let mut parts = r.rsplit('/');
        let (name, dir) = (parts.next(), parts.next().unwrap_or(""));
        name == Some("report.json")
            && dir.len() > 1
            && dir.starts_with('T')
            && dir[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let keep = |r: &str| {
        r.contains("/.failed/")
            || (r.contains("/run_") && r.ends_with("/report.md"))
            || tier_report(r)
            || r == "report.json"
    };
    for rel in tree(copy.root()).keys().filter(|r| derived(r) && !keep(r)) {
        copy.remove(rel);
    }
    let out = copy.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "the clean rebuild regenerates everything: {}", text(&out.stdout));
    tree(copy.root())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn one_reconcile_converges_on_every_kind_of_damage(
        seed in 1u64..500,
        crashes in 0u32..2,
        limits in 0u32..2,
        phased in any::<bool>(),
    ) {
        let (exp, _) = Exp::demo(DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 6, seed, phased, ..DemoSpec::default() });
        let state = exp.path("standin-state").display().to_string();
        knobs(&exp, "agent", &["--crash-first".into(), crashes.to_string(), "--state".into(), state.clone()]);
        knobs(&exp, "judge", &["--rate-limit-first".into(), limits.to_string(), "--state".into(), state]);
        let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
        exp.write("darn.toml", toml.replace("retries = 3\n", "retries = 3\nbackoff = \"0.1s\"\n"));
        let (code, out) = json(&exp, &["reconcile", "-j", "4"]);
        prop_assert_eq!(code, 0, "{:#}", out);
        let (code, plan) = json(&exp, &["plan"]);
        prop_assert_eq!(code, 0, "{:#}", plan);
        prop_assert!(plan["actions"].as_array().is_some_and(Vec::is_empty));
        prop_assert!(plan["held"].as_array().is_some_and(Vec::is_empty));
        // Nothing darn wrote disagrees with what its rules give from scratch.
        let _ = std::fs::remove_file(exp.path("standin-state"));
        let after = tree(exp.root());
        let oracle = clean_rebuild(&exp);
        for (rel, bytes) in after.iter().filter(|(r, _)| derived(r) && !r.contains("/.failed/")) {
            let want = oracle.get(rel).map(|b| masked(rel, b));
            prop_assert_eq!(Some(masked(rel, bytes)), want, "{} differs from a clean rebuild", rel);
        }
        // And with no stamps at all, every output darn left is adopted as it is.
        let _ = std::fs::remove_dir_all(exp.path(".darn"));
        let (code, plan) = json(&exp, &["plan"]);
        prop_assert_eq!(code, 0, "{:#}", plan["actions"]);
    }
}

/// What the plan has for each run: its most expensive action or held node.
fn planned_needs(plan: &Value) -> BTreeMap<String, &'static str> {
    let mut out: BTreeMap<String, (u8, &'static str)> = BTreeMap::new();
    let items = plan["actions"].as_array().into_iter().chain(plan["held"].as_array()).flatten();
    for a in items {
        let node = a["node"].as_str().unwrap_or("");
        let parts: Vec<&str> = node.splitn(4, '/').collect();
        if parts.len() < 4 || !parts[2].starts_with("run_") {
            continue;
        }
        let run = parts[..3].join("/");
        let execute = a["strategy"] == "execute";
        let need = match (execute, parts[3]) {
            (true, "agent") => (4, "agent_execution"),
            (true, _) => (3, "judge_execution"),
            (false, _) => (2, "regeneration"),
        };
        let e = out.entry(run).or_insert((0, "complete"));
        if need.0 > e.0 {
            *e = need;
        }
    }
    out.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[derive(Debug, Clone)]
enum Change {
    JudgeModel(usize),
    AgentModel,
    DeleteResult(usize),
    DeleteJudgment(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0usize..3).prop_map(Change::JudgeModel),
        Just(Change::AgentModel),
        (0usize..24).prop_map(Change::DeleteResult),
        (0usize..24).prop_map(Change::DeleteJudgment),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn status_needs_are_the_plans_run_by_run(seed in 1u64..500, changes in proptest::collection::vec(change(), 0..4)) {
        let (exp, _) = Exp::demo(DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 6, seed, ..DemoSpec::default() });
        let status = exp.status(&[]);
        let ids: Vec<String> = status["runs"].as_array().expect("runs").iter().map(|r| r["id"].as_str().expect("id").to_string()).collect();
        let path_of = |id: &str| status["runs"].as_array().expect("runs").iter().find(|r| r["id"] == id).map(|r| r["path"].as_str().expect("path").to_string()).expect("run");
        for c in &changes {
            match c {
                Change::JudgeModel(i) => exp.edit_json("config/experiment.json", |v| v["judge_models"][*i] = "claude-opus-4-5".into()),
                Change::AgentModel => exp.edit_json("config/experiment.json", |v| v["models"][0] = "claude-haiku-4-5".into()),
                Change::DeleteResult(r) => drop(std::fs::remove_file(exp.path(&format!("{}/agent/result.json", path_of(&ids[*r]))))),
                Change::DeleteJudgment(r) => drop(std::fs::remove_file(exp.path(&format!("{}/judge/judge_02/judgment.json", path_of(&ids[*r]))))),
            }
        }
        let status = exp.status(&[]);
        let (_, plan) = json(&exp, &["plan"]);
        let planned = planned_needs(&plan);
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for r in status["runs"].as_array().expect("runs") {
            let id = r["id"].as_str().expect("id");
            let want = planned.get(id).copied().unwrap_or("complete");
            let have = r["needs"].as_str().unwrap_or("");
            // A run whose only work waits on something nothing can build is blocked, not complete.
            prop_assert!(have == want || (have == "blocked" && want == "complete"), "{}: status says {}, the plan {}", id, have, want);
            *counts.entry(have).or_default() += 1;
        }
        for key in ["agent_execution", "judge_execution", "regeneration", "complete"] {
            prop_assert_eq!(status["needs"][key].as_u64().unwrap_or(0), counts.get(key).copied().unwrap_or(0), "needs.{}", key);
        }
    }
}
