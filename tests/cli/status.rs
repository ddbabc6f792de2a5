//! `darn status` output: the human tables (snapshots) and the JSON document's shape.

use crate::util::{Exp, assert_no_panic, runs, shared_demo, text};
use serde_json::Value;

/// `darn status ARGS --color never` stdout, with the experiment path masked.
fn human(exp: &Exp, args: &[&str]) -> String {
    let mut all = vec!["--color", "never", "status"];
    all.extend_from_slice(args);
    let out = exp.darn(&all);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "darn {all:?}:\n{}", text(&out.stderr));
    text(&out.stdout).replace(&exp.root().display().to_string(), "[EXP]")
}

#[test]
fn status_of_the_fixture() {
    let exp = Exp::fixture();
    insta::assert_snapshot!("fixture_status", human(&exp, &[]));
}

#[test]
fn status_verbose_of_the_fixture() {
    let exp = Exp::fixture();
    let verbose = human(&exp, &["-v"]);
    // Nothing is wrong, so -v adds nothing.
    assert_eq!(verbose, human(&exp, &[]));
    insta::assert_snapshot!("fixture_status_verbose", verbose);
}

#[test]
fn status_of_a_damaged_demo() {
    insta::assert_snapshot!("demo_status", human(&shared_demo(true).exp, &[]));
}

#[test]
fn status_verbose_of_a_damaged_demo() {
    insta::assert_snapshot!("demo_status_verbose", human(&shared_demo(true).exp, &["-v"]));
}

#[test]
fn status_verbose_of_a_flat_damaged_demo() {
    insta::assert_snapshot!("flat_demo_status_verbose", human(&shared_demo(false).exp, &["-v"]));
}

/// `--color always` paints the same words `--color never` prints; the default (`auto`) does not
/// paint when stdout is not a terminal.
#[test]
fn colour_choice() {
    let exp = &shared_demo(true).exp;
    let plain = human(exp, &["-v"]);
    assert!(!plain.contains('\x1b'));
    let out = exp.darn(&["--color", "always", "status", "-v"]);
    let painted = text(&out.stdout);
    assert!(painted.contains("\x1b["), "--color always paints:\n{painted}");
    let stripped = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex").replace_all(&painted, "").into_owned();
    assert_eq!(stripped.replace(&exp.root().display().to_string(), "[EXP]"), plain);
    let auto = exp.darn(&["status", "-v"]);
    assert_eq!(text(&auto.stdout).replace(&exp.root().display().to_string(), "[EXP]"), plain);
}

const AGENT_STATUSES: [&str; 5] = ["missing", "failed", "partial", "results", "completed"];
const JUDGE_STATUSES: [&str; 5] = ["agent_failed", "missing", "failed", "partial", "complete"];
const SLOT_STATUSES: [&str; 5] = ["agent_failed", "missing", "failed", "partial", "complete"];
const FAILURE_CLASSES: [&str; 6] =
    ["rate_limit", "infrastructure", "timeout", "agent_error", "judge_unparseable", "judge_error"];

/// Checks a `status --json` document against docs/contract.md#json-output.
fn check_shape(doc: &Value, judges: usize) {
    assert!(doc["experiment"].is_string(), "experiment");
    assert!(matches!(doc["layout"].as_str(), Some("flat" | "phased")), "layout");
    for r in runs(doc) {
        let id = r["id"].as_str().expect("id is a string");
        let tier = r["tier"].as_str().expect("tier is a string");
        let subtest = r["subtest"].as_str().expect("subtest is a string");
        let n = r["run"].as_u64().expect("run is a number");
        assert_eq!(id, format!("{tier}/{subtest}/run_{n:02}"));
        assert!(AGENT_STATUSES.contains(&r["agent"].as_str().expect("agent")), "{r:#}");
        assert!(JUDGE_STATUSES.contains(&r["judge"].as_str().expect("judge")), "{r:#}");
        let slots = r["judges"].as_array().expect("judges[]");
        assert_eq!(slots.len(), judges, "one entry per configured slot");
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(s["slot"].as_u64(), Some(i as u64 + 1), "slots numbered from 1: {s:#}");
            assert!(s["model"].as_str().is_some_and(|m| !m.is_empty()), "{s:#}");
            assert!(SLOT_STATUSES.contains(&s["status"].as_str().expect("slot status")), "{s:#}");
        }
        for p in r["problems"].as_array().expect("problems[]") {
            assert!(p["path"].is_string() && p["problem"].is_string(), "{p:#}");
            assert!(p["problem"].as_str().is_some_and(|t| !t.is_empty()), "{p:#}");
            if let Some(f) = p.get("failure") {
                assert!(FAILURE_CLASSES.contains(&f.as_str().expect("failure is a string")), "{p:#}");
            }
        }
        let complete = r["agent"] == "completed" && r["judge"] == "complete";
        if !complete {
            assert!(!r["problems"].as_array().expect("problems").is_empty(), "problems say why: {r:#}");
        }
    }
    for (side, names) in [("agent", &AGENT_STATUSES), ("judge", &JUDGE_STATUSES)] {
        let counts = doc["counts"][side].as_object().expect("counts.{side}");
        for name in names {
            let n = counts.get(*name).and_then(Value::as_u64);
            assert!(n.is_some(), "counts.{side}.{name} present (zeros too): {counts:?}");
        }
        let total: u64 = counts.values().filter_map(Value::as_u64).sum();
        assert_eq!(total, runs(doc).len() as u64, "counts.{side} add up to the runs");
    }
}

#[test]
fn json_shape_of_the_fixture() {
    let exp = Exp::fixture();
    let doc = exp.status(&[]);
    check_shape(&doc, 3);
    // Zeros are present too.
    assert_eq!(doc["counts"]["agent"]["failed"], 0);
    assert_eq!(doc["counts"]["judge"]["agent_failed"], 0);
}

#[test]
fn json_shape_of_damaged_demos() {
    for phased in [true, false] {
        let demo = shared_demo(phased);
        check_shape(&demo.status, 3);
        let classes: Vec<&str> = runs(&demo.status)
            .iter()
            .flat_map(|r| r["problems"].as_array().into_iter().flatten())
            .filter_map(|p| p["failure"].as_str())
            .collect();
        for class in ["rate_limit", "timeout", "agent_error", "judge_unparseable", "judge_error"] {
            assert!(classes.contains(&class), "the demo shows failure class {class}");
        }
    }
}

/// `--json` prints one JSON document and nothing else on stdout.
#[test]
fn json_is_one_document() {
    let out = shared_demo(true).exp.darn(&["status", "--json", "-v"]);
    assert_eq!(out.status.code(), Some(0));
    let mut stream = serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>();
    assert!(stream.next().is_some_and(|d| d.is_ok()), "a JSON document");
    assert!(stream.next().is_none(), "only one document");
}

/// A run with a judge slot that never ran needs that judge executed: regeneration cannot produce
/// a judge's output (docs/contract.md#nodes: `run/judge/judge_NN` is executed). The demo has five such
/// runs: three with a failed slot, one with no judge at all, one with a single missing slot.
#[test]
fn needs_count_a_missing_slot_as_judge_execution() {
    let demo = shared_demo(true);
    let slot_needs_run = |r: &&Value| {
        r["agent"] != "failed"
            && r["judges"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| matches!(s["status"].as_str(), Some("missing" | "failed")))
            && matches!(r["agent"].as_str(), Some("completed" | "results"))
    };
    let want = runs(&demo.status).iter().filter(slot_needs_run).count();
    assert_eq!(want, 5);
    assert_eq!(demo.status["needs"]["judge_execution"], want as u64, "{:#}", demo.status["needs"]);
    assert!(human(&demo.exp, &[]).contains("5 to re-run judges"));
}
