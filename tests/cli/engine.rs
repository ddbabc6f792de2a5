//! The engine through the CLI: plan, why, graph and `reconcile --regenerate-only`, asserting
//! which nodes were rebuilt (reconcile's JSON is the execution log), not only the end state.

use crate::util::{Exp, copy_tree, fixture_dir, text};
use darn::DemoSpec;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every file of a tree (outside `.darn/`) with its bytes.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list a directory").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("inside the tree").to_string_lossy().into_owned();
            if rel == ".darn" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    out
}

/// Content with the fields that record when a file was written masked out.
pub fn masked(rel: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let volatile = ["\"generated_at\": ", "\"last_updated_at\": ", "\"last_heartbeat\": ", "\"measured_at\": "];
    text.lines()
        .map(|l| {
            if l.starts_with("**Generated**: ")
                || (rel.ends_with(".json") && volatile.iter().any(|v| l.trim_start().starts_with(v)))
            {
                "<volatile>".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_out(exp: &Exp, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = exp.darn(&full);
    let code = out.status.code().unwrap_or(-1);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("darn {args:?} did not print JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr))
    });
    (code, value)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn action_nodes(plan: &Value) -> BTreeSet<String> {
    plan["actions"].as_array().expect("actions").iter().map(|a| a["node"].as_str().expect("node").to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn the_fixture_is_adopted_without_writing_anything() {
    let exp = Exp::fixture();
    let before = tree(exp.root());
    let (code, plan) = json_out(&exp, &["plan"]);
    assert_eq!(code, 0, "nothing to do: {plan}");
    assert!(plan["actions"].as_array().expect("actions").is_empty());
    assert!(plan["adopt"].as_u64().expect("adopt") > 100);
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0, "{out}");
    assert!(out["regenerated"].as_array().expect("list").is_empty());
    assert_eq!(tree(exp.root()), before, "adoption must not touch the experiment's files");
    // The journal now holds the adopted stamps; a second reconcile writes nothing at all.
    let journal = exp.read(".darn/journal");
    let listing = exp.listing();
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0);
    assert_eq!(out["adopted"], 0);
    assert_eq!(exp.read(".darn/journal"), journal);
    assert_eq!(
        exp.listing().into_iter().filter(|e| !e.0.starts_with(".darn")).collect::<Vec<_>>(),
        listing.into_iter().filter(|e| !e.0.starts_with(".darn")).collect::<Vec<_>>()
    );
}

/// Files whose lost content cannot be recovered from anything else on disk (docs/format.md#regeneration-matrix), with
/// what darn writes instead; every other regenerable file must come back byte for byte (up to
/// the time it was written).
fn unrecoverable(rel: &str) -> bool {
    let tier_result = rel.matches('/').count() == 1 && rel.ends_with("/result.json"); // tier wall clock
    tier_result
        || rel == "result.json" // tier order, experiment clock
        || rel == "checkpoint.json" // the original machine's path and key order
        || rel.ends_with("/judge/timing.json") // approximated from the slots (a few ms short)
        || rel.ends_with("run_01/report.md") // its workspace section listed the live worktree
}

#[test]
fn every_regenerable_fixture_file_comes_back() {
    let original = tree(&fixture_dir());
    let regenerable: Vec<&String> = original
        .keys()
        .filter(|rel| {
            let name = rel.rsplit('/').next().unwrap_or("");
            !rel.contains("/workspace/")
                && !rel.starts_with("config/")
                && !rel.contains("/commands/")
                && matches!(
                    name,
                    "output.txt"
                        | "result.json"
                        | "timing.json"
                        | "judgment.json"
                        | "response.txt"
                        | "run_result.json"
                        | "report.json"
                        | "report.md"
                        | "best_subtest.json"
                        | "summary.md"
                        | "tier_comparison.json"
                        | "checkpoint.json"
                )
                // A judge's own clock cannot be regenerated.
                && (!rel.contains("/judge/judge_") || name != "timing.json")
        })
        .collect();
    assert!(regenerable.len() > 100, "{}", regenerable.len());
    let exp = Exp::fixture();
    for rel in regenerable {
        exp.remove(rel);
        let out = exp.darn(&["reconcile", "--regenerate-only"]);
        assert_eq!(out.status.code(), Some(0), "{rel}: {}", text(&out.stderr));
        let now = std::fs::read(exp.path(rel)).unwrap_or_else(|_| panic!("{rel} was not regenerated"));
        if !unrecoverable(rel) {
            assert_eq!(masked(rel, &now), masked(rel, &original[rel.as_str()]), "{rel} differs after regeneration");
        }
        // Put the original back so that each file is tested alone.
        exp.write(rel, &original[rel.as_str()]);
    }
}

#[test]
fn a_deleted_judgment_is_rebuilt_and_the_cascade_stops_there() {
    let exp = Exp::fixture();
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    let before = tree(exp.root());
    exp.remove("T2/01/run_01/judge/judge_02/judgment.json");
    let (code, plan) = json_out(&exp, &["plan"]);
    assert_eq!(code, 1);
    // The plan is an upper bound: everything downstream might change.
    assert_eq!(
        action_nodes(&plan),
        set(&[
            "T2/01/run_01/judge/judge_02/judgment.json",
            "T2/01/run_01/judge/result.json",
            "T2/01/run_01/run_result.json",
            "T2/01/run_01/report.json",
            "T2/01/report.json",
            "T2/result.json",
            "T2/report.json",
            "result.json",
            "report.json",
            "checkpoint.json",
        ])
    );
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0, "{out}");
    // The rebuilt judgment is byte-identical, so nothing downstream is rebuilt (early cutoff).
    assert_eq!(strings(&out["regenerated"]), set(&["T2/01/run_01/judge/judge_02/judgment.json"]));
    assert!(strings(&out["unchanged"]).contains("T2/01/run_01/judge/result.json"));
    assert_eq!(tree(exp.root()), before);
}

#[test]
fn a_changed_response_rebuilds_exactly_its_chain() {
    let exp = Exp::fixture();
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    let before = tree(exp.root());
    // The judge's verdict changes: 0.96 → 0.5.
    let rel = "T4/01/run_01/judge/judge_02/response.txt";
    let response = String::from_utf8(exp.read(rel)).expect("utf-8");
    let top = "{\n  \"score\": ";
    let at = response.find(top).expect("the verdict object starts with its score") + top.len();
    let end = at + response[at..].find(',').expect("a number");
    let changed = format!("{}0.5{}", &response[..at], &response[end..]);
    exp.write(rel, &changed);
    exp.write("T4/01/run_01/judge/judge_02/stdout.log", &changed);
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0, "{out}");
    let expected = set(&[
        "T4/01/run_01/judge/judge_02/judgment.json",
        "T4/01/run_01/judge/result.json",
        "T4/01/run_01/run_result.json",
        "T4/01/run_01/report.json",
        "T4/01/report.json",
        "T4/result.json",
        "T4/report.json",
        "result.json",
        "report.json",
    ]);
    let regenerated = strings(&out["regenerated"]);
    assert_eq!(regenerated.iter().filter(|n| *n != "checkpoint.json").cloned().collect::<BTreeSet<_>>(), expected);
    // Nothing outside that chain was written.
    let after = tree(exp.root());
    let touched: BTreeSet<String> =
        after.iter().filter(|(k, v)| before.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
    let allowed = [
        "T4/01/run_01/judge/judge_02/",
        "T4/01/run_01/judge/result.json",
        "T4/01/run_01/run_result.json",
        "T4/01/run_01/report.",
        "T4/01/report.",
        "T4/result.json",
        "T4/best_subtest.json",
        "T4/report.",
        "T4/summary.md",
        "result.json",
        "report.",
        "summary.md",
        "tier_comparison.json",
        "checkpoint.json",
    ];
    for t in &touched {
        assert!(allowed.iter().any(|a| t.starts_with(a)), "{t} was written but is not downstream of the change");
    }
    // A second reconcile does nothing and writes nothing (but darn's caches, which may take in
    // files written too recently to be cached before, and keep only what this run used).
    let without_lock = |l: Vec<(String, bool, u64, std::time::SystemTime)>| {
        l.into_iter()
            .filter(|e| !matches!(e.0.as_str(), ".darn" | ".darn/lock" | ".darn/cache" | ".darn/checks"))
            .collect::<Vec<_>>()
    };
    let listing = without_lock(exp.listing());
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0);
    assert!(out["regenerated"].as_array().expect("list").is_empty(), "{out}");
    assert_eq!(without_lock(exp.listing()), listing);
}

#[test]
fn why_follows_the_cascade_to_the_root_cause() {
    let exp = Exp::fixture();
    exp.remove("T0/00/run_01/judge/judge_03/judgment.json");
    let (_, why) = json_out(&exp, &["why", "T0/00/report.json"]);
    let t = &why["targets"][0];
    assert_eq!(t["node"], "T0/00/report.json");
    assert_eq!(t["fresh"], false);
    assert_eq!(t["causes"][0]["kind"], "upstream_stale");
    let roots = t["root_causes"].as_array().expect("roots");
    assert_eq!(roots.len(), 1, "{why}");
    assert_eq!(roots[0]["kind"], "missing_output");
    assert_eq!(roots[0]["node"], "T0/00/run_01/judge/judge_03/judgment.json");
    // A fresh, never-stamped node says so.
    let (_, why) = json_out(&exp, &["why", "T1/01/run_01/agent/result.json"]);
    assert_eq!(why["targets"][0]["fresh"], true);
    assert_eq!(why["targets"][0]["causes"][0]["kind"], "never_stamped");
}

#[test]
fn a_replaced_judge_model_makes_that_slot_stale_everywhere() {
    let (exp, _) =
        Exp::demo(DemoSpec { damage: false, tiers: 2, subtests: 2, runs_per_subtest: 3, ..DemoSpec::default() });
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    exp.edit_json("config/experiment.json", |c| c["judge_models"][1] = "claude-opus-4-5".into());
    let (code, plan) = json_out(&exp, &["plan"]);
    assert_eq!(code, 1);
    let executes: Vec<&Value> =
        plan["actions"].as_array().expect("actions").iter().filter(|a| a["strategy"] == "execute").collect();
    assert_eq!(executes.len(), 12, "one slot per run: {plan}");
    for a in &executes {
        assert!(a["node"].as_str().expect("node").ends_with("/judge/judge_02"), "{a}");
        assert_eq!(a["causes"][0]["kind"], "config_changed");
        assert_eq!(a["causes"][0]["detail"], "judge_models[1]: claude-sonnet-4-6 → claude-opus-4-5");
    }
    let (_, why) = json_out(&exp, &["why", "T*/*/run_*/judge/judge_0?"]);
    let summary = why["summary"].as_array().expect("summary");
    assert!(
        summary.iter().any(|l| l.as_str().is_some_and(|l| l.starts_with("12 judge slots stale: config_changed"))),
        "{summary:?}"
    );
    assert!(
        summary.iter().any(|l| l.as_str().is_some_and(|l| l.contains("0 agent runs, 12 judge slots"))),
        "{summary:?}"
    );
}

#[test]
fn a_changed_agent_model_needs_force() {
    let (exp, _) =
        Exp::demo(DemoSpec { damage: false, tiers: 1, subtests: 1, runs_per_subtest: 3, ..DemoSpec::default() });
    exp.edit_json("config/experiment.json", |c| c["models"][0] = "claude-opus-4-6".into());
    let (code, plan) = json_out(&exp, &["plan"]);
    assert_eq!(code, 1, "held work is pending work");
    assert_eq!(plan["counts"]["execute"], 0);
    let held = plan["held"].as_array().expect("held");
    assert_eq!(held.len(), 3);
    assert!(held.iter().all(|h| h["reason"] == "needs_force" && h["causes"][0]["kind"] == "config_changed"));
    // An explicit target releases it: the agent alone (make semantics)...
    let (_, plan) = json_out(&exp, &["plan", "T0/00/run_02/agent"]);
    assert_eq!(plan["counts"]["execute"].as_u64(), Some(1), "{plan}");
    // ...or the whole run, whose judges then judge the new output.
    let (_, plan) = json_out(&exp, &["plan", "T0/00/run_02"]);
    assert_eq!(plan["counts"]["execute"].as_u64(), Some(1 + 3), "the agent and its three judges: {plan}");
    // --force releases every held agent.
    let (_, plan) = json_out(&exp, &["plan", "--force", "--stage", "agent"]);
    assert_eq!(plan["counts"]["execute"].as_u64(), Some(3), "{plan}");
}

#[test]
fn targets_by_id_glob_and_path() {
    let (exp, _) =
        Exp::demo(DemoSpec { damage: false, tiers: 2, subtests: 1, runs_per_subtest: 2, ..DemoSpec::default() });
    let graph_nodes = |args: &[&str]| -> BTreeSet<String> {
        let mut full = vec!["graph", "--format", "json"];
        full.extend_from_slice(args);
        let (code, g) = json_out(&exp, &full);
        assert_eq!(code, 0);
        g["nodes"].as_array().expect("nodes").iter().map(|n| n["id"].as_str().expect("id").to_string()).collect()
    };
    let by_id = graph_nodes(&["T1/00/run_02/run_result.json"]);
    assert!(by_id.contains("T1/00/run_02/agent") && by_id.contains("T1/00/run_02/judge/result.json"));
    assert!(!by_id.contains("T1/00/run_02/report.json"), "only what the target needs");
    let by_path = graph_nodes(&["completed/T1/00/run_02/run_result.json"]);
    assert_eq!(by_path, by_id, "a path in the phased layout names the same node");
    let abs = exp.path("completed/T1/00/run_02/run_result.json").display().to_string();
    assert_eq!(graph_nodes(&[&abs]), by_id);
    let glob = graph_nodes(&["T*/00/run_0[2]/judge/judge_01"]);
    assert!(glob.contains("T0/00/run_02/judge/judge_01") && glob.contains("T1/00/run_02/judge/judge_01"));
    let dir = graph_nodes(&["completed/T0/00/run_01/judge"]);
    assert!(dir.contains("T0/00/run_01/judge/judge_03/judgment.json"));
    assert!(!dir.iter().any(|n| n.starts_with("T1/")));
    // Unknown and outside targets are usage errors naming the target.
    let out = exp.darn(&["plan", "T9/00/run_01/agent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("T9/00/run_01/agent"));
    let out = exp.darn(&["plan", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("outside the experiment"));
}

#[test]
fn graph_dot_names_every_edge() {
    let exp = Exp::fixture();
    let out = exp.darn(&["graph", "T0/00/run_01/report.json"]);
    assert_eq!(out.status.code(), Some(0));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph darn {"));
    assert!(dot.contains("\"T0/00/run_01/run_result.json\" -> \"T0/00/run_01/report.json\";"));
    assert!(dot.contains("\"T0/00/run_01/judge/judge_01\" -> \"T0/00/run_01/judge/judge_01/judgment.json\";"));
}

#[test]
fn a_second_darn_is_refused_while_the_lock_is_held() {
    let exp = Exp::fixture();
    let _held = darn::Lock::acquire(exp.root()).expect("take the lock");
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&std::process::id().to_string()));
    // Read-only commands still work.
    assert_eq!(exp.darn(&["plan"]).status.code(), Some(0));
}

#[test]
fn a_corrupt_journal_is_recovered() {
    let exp = Exp::fixture();
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    let mut journal = exp.read(".darn/journal");
    let cut = journal.len() - 7;
    journal.truncate(cut);
    journal.extend_from_slice(b"\xff\xfe garbage");
    exp.write(".darn/journal", &journal);
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0, "{out}");
    assert!(out["regenerated"].as_array().expect("list").is_empty());
    assert!(out["adopted"].as_u64().expect("adopted") >= 1, "the node whose stamp was torn is re-adopted: {out}");
    // Garbage instead of a journal: everything is re-checked, nothing rebuilt.
    exp.write(".darn/journal", b"not a journal");
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 0);
    assert!(out["regenerated"].as_array().expect("list").is_empty());
}

#[test]
fn plain_reconcile_reports_pending_executions() {
    let (exp, summary) = Exp::demo(crate::util::small_demo(true));
    let (code, out) = json_out(&exp, &["reconcile", "--regenerate-only"]);
    assert_eq!(code, 1, "executions remain: {out}");
    assert!(!out["pending_executions"].as_array().expect("pending").is_empty());
    assert!(summary.runs > 0);
    // Every run that only needed regeneration is now complete.
    let status = exp.status(&[]);
    for id in summary.runs_with(darn::Damage::MissingAgentResult) {
        let run = crate::util::run(&status, id);
        assert_eq!(run["agent"], "completed", "{id}");
    }
}

/// Copies a tree (for property tests that need many copies).
pub fn clone_exp(from: &Exp) -> Exp {
    let to = Exp::empty();
    copy_tree(from.root(), to.root());
    to
}

mod property {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A clean demo and its oracle: the same tree after regenerating every node from scratch.
    struct Oracle {
        clean: Exp,
        regenerated: BTreeMap<String, Vec<u8>>,
    }

    fn oracle() -> &'static Oracle {
        static ORACLE: OnceLock<Oracle> = OnceLock::new();
        ORACLE.get_or_init(|| {
            let spec =
                DemoSpec { tiers: 2, subtests: 1, runs_per_subtest: 3, damage: false, seed: 11, ..DemoSpec::default() };
            let (clean, _) = Exp::demo(spec);
            let copy = clone_exp(&clean);
            let out = copy.darn(&["reconcile", "--regenerate-only", "--force"]);
            assert_eq!(out.status.code(), Some(1), "forced agents stay pending: {}", text(&out.stderr));
            let regenerated = tree(copy.root());
            Oracle { clean, regenerated }
        })
    }

    /// Damage that regeneration alone must repair.
    #[derive(Debug, Clone)]
    enum Hurt {
        Delete(&'static str),
        Truncate(&'static str),
        Garbage(&'static str),
        WrongKeys,
        StaleConsensus,
    }

    const FILES: &[&str] = &[
        "agent/output.txt",
        "agent/result.json",
        "agent/timing.json",
        "judge/judge_01/judgment.json",
        "judge/judge_02/judgment.json",
        "judge/judge_03/response.txt",
        "judge/result.json",
        "judge/timing.json",
        "run_result.json",
        "report.json",
        "report.md",
    ];

    fn hurt() -> impl Strategy<Value = Hurt> {
        let file = proptest::sample::select(FILES);
        prop_oneof![
            file.clone().prop_map(Hurt::Delete),
            file.clone().prop_map(Hurt::Truncate),
            file.prop_map(Hurt::Garbage),
            Just(Hurt::WrongKeys),
            Just(Hurt::StaleConsensus),
        ]
    }

    const RUNS: &[&str] = &["completed/T0/00/run_01", "completed/T0/00/run_02", "completed/T1/00/run_03"];
    const AGGREGATES: &[&str] = &[
        "completed/T0/00/report.json",
        "completed/T1/result.json",
        "completed/T0/report.md",
        "report.json",
        "result.json",
    ];

    fn parses(exp: &Exp, rel: &str) -> bool {
        std::fs::read(exp.path(rel)).is_ok_and(|b| serde_json::from_slice::<Value>(&b).is_ok())
    }

    fn apply(exp: &Exp, run: &str, h: &Hurt) {
        match h {
            Hurt::Delete(f) => {
                let _ = std::fs::remove_file(exp.path(&format!("{run}/{f}")));
            }
            Hurt::Truncate(f) => {
                if let Ok(b) = std::fs::read(exp.path(&format!("{run}/{f}"))) {
                    exp.write(&format!("{run}/{f}"), &b[..b.len() / 2]);
                }
            }
            Hurt::Garbage(f) => exp.write(&format!("{run}/{f}"), b"\x00\x01 not what it should be"),
            Hurt::WrongKeys => {
                if parses(exp, &format!("{run}/agent/result.json")) {
                    exp.edit_json(&format!("{run}/agent/result.json"), |v| {
                        let t = v["token_stats"].clone();
                        v["token_stats"] = serde_json::json!({
                            "input_tokens": t["input_tokens"],
                            "output_tokens": t["output_tokens"],
                            "cache_creation_input_tokens": t["cache_creation_tokens"],
                            "cache_read_input_tokens": t["cache_read_tokens"],
                        });
                    });
                }
            }
            Hurt::StaleConsensus => {
                if parses(exp, &format!("{run}/judge/result.json")) {
                    exp.edit_json(&format!("{run}/judge/result.json"), |v| v["score"] = serde_json::json!(0.123));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random damage, then `reconcile --regenerate-only`, equals regenerating the clean tree
        /// from scratch, file for file.
        #[test]
        fn incremental_reconcile_equals_a_clean_regeneration(
            hurts in proptest::collection::vec((0..RUNS.len(), hurt()), 1..6),
            lost in proptest::collection::vec(0..AGGREGATES.len(), 0..3),
        ) {
            let o = oracle();
            let exp = clone_exp(&o.clean);
            for (run, h) in &hurts {
                apply(&exp, RUNS[*run], h);
            }
            for a in &lost {
                let _ = std::fs::remove_file(exp.path(AGGREGATES[*a]));
            }
            let out = exp.darn(&["reconcile", "--regenerate-only"]);
            prop_assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let after = tree(exp.root());
            prop_assert_eq!(after.keys().collect::<Vec<_>>(), o.regenerated.keys().collect::<Vec<_>>());
            for (rel, bytes) in &after {
                prop_assert_eq!(masked(rel, bytes), masked(rel, &o.regenerated[rel]), "{} differs", rel);
            }
        }
    }
}

/// A current experiment whose tier and experiment results are lost gets them back byte for byte:
/// only markdown is left to tell the aggregates' shape, and the markdown of the current shape
/// is the previous one's, so the runs' shape decides. (A large experiment is in that case
/// whenever it runs: its results are too large to read for the shape.)
#[test]
fn lost_aggregates_of_a_current_experiment_come_back_in_its_shape() {
    let spec = darn::DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 2, damage: false, ..Default::default() };
    let (exp, _) = Exp::demo(spec);
    let files = ["completed/T0/result.json", "completed/T1/result.json", "result.json"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| exp.read(f)).collect();
    for f in files {
        exp.remove(f);
    }
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    for (f, want) in files.iter().zip(&before) {
        assert!(exp.read(f) == *want, "{f} differs from the runner's");
    }
}
