//! Library-level classification through `darn::engine`, checked against the verdicts of docs/contract.md#statuses,
//! against what the binary prints, and for the caches never hiding a change.

use crate::damage::{Slots, verdict};
use crate::util::{Exp, shared_demo};
use darn::Damage;
use darn::Era;
use darn::Experiment;
use darn::PlanOptions;
use darn::Select;
use darn::{AgentStatus, JudgeStatus};
use darn::{Engine, LoadOptions};

fn open(exp: &Exp) -> Experiment {
    Experiment::open(exp.root(), None).expect("open the experiment")
}

fn load(exp: &Exp, writable: bool) -> Engine {
    Engine::load(open(exp), LoadOptions { writable, aggregates: true }, &|_| true).expect("load")
}

/// Every damaged run of both demos, classified by the library, gets the verdict of docs/contract.md#statuses.
#[test]
fn library_classifies_every_damage_kind() {
    for phased in [true, false] {
        let demo = shared_demo(phased);
        let engine = load(&demo.exp, false);
        assert_eq!(engine.statuses.iter().flatten().count(), demo.summary.runs);
        for kind in Damage::ALL {
            let want = verdict(kind);
            let ids = demo.summary.runs_with(kind);
            assert!(!ids.is_empty(), "{kind:?}");
            for id in ids {
                let r = engine.graph.run_by_id(id).unwrap_or_else(|| panic!("{id} is a run"));
                let st = engine.statuses[r].as_ref().unwrap_or_else(|| panic!("{id} looked at"));
                let context = format!("{kind:?} phased={phased} {id}: {st:?}");
                assert_eq!(st.agent.name(), want.agent, "{context}");
                assert_eq!(st.judge.name(), want.judge, "{context}");
                let slots: Vec<&str> = st.slots.iter().map(|s| s.name()).collect();
                match want.slots {
                    Slots::All(name) => assert_eq!(slots, [name; 3], "{context}"),
                    Slots::One(odd, rest) => {
                        assert_eq!(slots.iter().filter(|s| **s == odd).count(), 1, "{context}");
                        assert_eq!(slots.iter().filter(|s| **s == rest).count(), 2, "{context}");
                    }
                    Slots::NotHere => {}
                }
                let classes: Vec<&str> = st.problems.iter().filter_map(|p| p.failure()).map(|c| c.name()).collect();
                match want.failure {
                    Some(class) => assert!(classes.contains(&class), "{context}"),
                    None => assert!(classes.is_empty(), "{context}"),
                }
                assert!(!st.problems.is_empty(), "{context}");
            }
        }
    }
}

/// The library's status report is the document the binary prints.
#[test]
fn library_report_is_what_the_binary_prints() {
    for phased in [true, false] {
        let demo = shared_demo(phased);
        let engine =
            Engine::load(open(&demo.exp), LoadOptions { writable: false, aggregates: false }, &|_| true).expect("load");
        let opts = PlanOptions { rerun: engine.rerun_classes().expect("policy"), ..PlanOptions::default() };
        let plan = engine.plan(&opts);
        let report = darn::status_report(&engine, &plan, &Select::default());
        let value = serde_json::to_value(&report).expect("serialize the report");
        assert_eq!(value, demo.status, "phased={phased}");
    }
}

/// A run directory that does not exist is `missing`, with every slot missing.
#[test]
fn nonexistent_run_directory_is_missing() {
    let exp = Exp::fixture();
    exp.remove("T2/01/run_01");
    let engine = load(&exp, false);
    let r = engine.graph.run_by_id("T2/01/run_01").expect("expected run");
    let st = engine.statuses[r].as_ref().expect("looked at");
    assert_eq!(st.agent, AgentStatus::Missing);
    assert_eq!(st.judge, JudgeStatus::Missing);
    assert_eq!(st.slots, [JudgeStatus::Missing; 3]);
    assert!(!st.exists && !st.problems.is_empty() && !st.aggregate_pending);
}

/// An empty run directory: started by nobody, so still `missing`.
#[test]
fn empty_run_directory_is_missing() {
    let exp = Exp::fixture();
    for file in exp.files_under("T4/01/run_01") {
        exp.remove(&file);
    }
    let status = exp.status(&["--tier", "T4"]);
    let r = crate::util::run(&status, "T4/01/run_01");
    crate::util::assert_run(r, "missing", "missing");
}

/// The real fixture through the library: all complete, nothing pending.
#[test]
fn library_classifies_the_fixture_complete() {
    let exp = Exp::fixture();
    let engine = load(&exp, false);
    assert_eq!(engine.exp.era, Era::JAN2026);
    assert_eq!(engine.statuses.len(), 7);
    for st in engine.statuses.iter().flatten() {
        assert_eq!((st.agent, st.judge), (AgentStatus::Completed, JudgeStatus::Complete));
        assert!(st.problems.is_empty() && !st.aggregate_pending, "{st:?}");
    }
}

/// Every node's digest and finding, by id.
fn facts(engine: &Engine) -> Vec<(String, [u8; 16], String)> {
    engine
        .graph
        .nodes()
        .map(|n| (engine.graph.id(n), engine.facts.digest(n), format!("{:?}", engine.facts.finding(n))))
        .collect()
}

/// What darn's caches (file hashes by stat data, findings by digest) give is what looking at
/// everything afresh gives, whatever happened to the files since they were filled.
#[test]
fn the_caches_never_hide_a_change() {
    let (exp, _) = Exp::demo(darn::DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 12, ..Default::default() });
    let mut warm = load(&exp, true);
    warm.save_caches().expect("save the caches");
    drop(warm);
    let experiment = open(&exp);
    type Mutation = (&'static str, fn(&std::path::Path));
    let mutations: [Mutation; 9] = [
        ("delete result.json", |d| drop(std::fs::remove_file(d.join("agent/result.json")))),
        ("delete output.txt", |d| drop(std::fs::remove_file(d.join("agent/output.txt")))),
        ("delete stdout.log", |d| drop(std::fs::remove_file(d.join("agent/stdout.log")))),
        ("truncate stdout.log", |d| {
            let p = d.join("agent/stdout.log");
            if let Ok(bytes) = std::fs::read(&p) {
                std::fs::write(&p, &bytes[..bytes.len() / 2]).expect("truncate");
            }
        }),
        ("delete command_log.json", |d| drop(std::fs::remove_file(d.join("agent/command_log.json")))),
        ("edit a judgment", |d| {
            let p = d.join("judge/judge_02/judgment.json");
            if let Ok(text) = std::fs::read_to_string(&p) {
                std::fs::write(&p, text.replace("\"passed\": true", "\"passed\": false")).expect("rewrite");
            }
        }),
        ("incomplete marker", |d| {
            if d.join("agent").is_dir() {
                std::fs::write(d.join("agent/.darn-incomplete"), "").expect("marker");
            }
        }),
        ("another cost", |d| {
            let p = d.join("agent/stdout.log");
            if let Ok(text) = std::fs::read_to_string(&p) {
                std::fs::write(&p, text.replace("\"total_cost_usd\":0.", "\"total_cost_usd\":1.")).expect("rewrite");
            }
        }),
        ("garbage result.json", |d| {
            if d.join("agent").is_dir() {
                std::fs::write(d.join("agent/result.json"), "{\"exit_code\": [").expect("garbage");
            }
        }),
    ];
    for (i, loc) in experiment.runs.iter().enumerate() {
        let (_, mutate) = mutations[i % mutations.len()];
        mutate(&experiment.run_dir(loc));
    }
    // Files written just now are racy: the caches must not trust them, and must not need to.
    let cached = facts(&load(&exp, false));
    std::fs::remove_dir_all(exp.path(".darn")).expect("drop the caches");
    let fresh = facts(&load(&exp, false));
    assert_eq!(cached.len(), fresh.len());
    for (a, b) in cached.iter().zip(&fresh) {
        assert_eq!(a, b);
    }
}
