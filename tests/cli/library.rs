//! Library-level classification: `darn::scan` / `darn::classify` on the same trees, checked against
//! the CONTRACT verdicts and against what the binary prints.

use crate::damage::{Slots, verdict};
use crate::util::{Exp, shared_demo};
use darn::classify::{AgentStatus, JudgeStatus, classify};
use darn::demo::Damage;
use darn::experiment::Experiment;
use darn::experiment::era::Era;
use darn::observe::{ObsContext, observe_run};
use darn::select::Select;

fn open(exp: &Exp) -> Experiment {
    Experiment::open(exp.root(), None).expect("open the experiment")
}

/// Every damaged run of both demos, classified by the library, gets CONTRACT's verdict.
#[test]
fn library_classifies_every_damage_kind() {
    for phased in [true, false] {
        let demo = shared_demo(phased);
        let experiment = open(&demo.exp);
        let scanned = darn::scan::scan(&experiment, |_, _| true);
        assert_eq!(scanned.len(), demo.summary.runs);
        for kind in Damage::ALL {
            let want = verdict(kind);
            let ids = demo.summary.runs_with(kind);
            assert!(!ids.is_empty(), "{kind:?}");
            for id in ids {
                let s = scanned
                    .iter()
                    .find(|s| experiment.runs[s.index].key.id() == id)
                    .unwrap_or_else(|| panic!("{id} scanned"));
                let st = &s.status;
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
                let classes: Vec<&str> = st.problems.iter().filter_map(|p| p.failure).map(|c| c.name()).collect();
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
        let report = darn::commands::status::build(&open(&demo.exp), &Select::default());
        let value = serde_json::to_value(&report).expect("serialize the report");
        assert_eq!(value, demo.status, "phased={phased}");
    }
}

/// A run directory that does not exist is `missing` on both sides, with every slot missing.
#[test]
fn nonexistent_run_directory_is_missing() {
    let dir = Exp::empty();
    let ctx = ObsContext {
        era: Era::Head,
        run_id: "T0/00/run_01".into(),
        run_number: 1,
        want_contents: false,
        agent_model: "claude-sonnet-4-6".into(),
        judge_models: vec!["claude-opus-4-6".into(), "claude-haiku-4-5".into()],
        recorded_run_path: "/x/completed/T0/00/run_01".into(),
        baseline_summary: None,
    };
    let obs = observe_run(&dir.path("T0/00/run_01"), &ctx);
    assert!(!obs.exists);
    let st = classify(&obs, "in_progress/T0/00/run_01");
    assert_eq!(st.agent, AgentStatus::Missing);
    assert_eq!(st.judge, JudgeStatus::Missing);
    assert_eq!(st.slots, [JudgeStatus::Missing; 2]);
    assert!(st.problems.iter().all(|p| p.path.starts_with("in_progress/T0/00/run_01") && p.failure.is_none()));
    assert!(!st.problems.is_empty());
    assert!(!st.aggregate_pending);
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

/// The real fixture observed run by run through the library: all complete, nothing pending.
#[test]
fn library_classifies_the_fixture_complete() {
    let exp = Exp::fixture();
    let experiment = open(&exp);
    assert_eq!(experiment.era, Era::Jan2026);
    let scanned = darn::scan::scan(&experiment, |_, _| true);
    assert_eq!(scanned.len(), 7);
    for s in scanned {
        assert_eq!((s.status.agent, s.status.judge), (AgentStatus::Completed, JudgeStatus::Complete));
        assert!(s.status.problems.is_empty() && !s.status.aggregate_pending, "{:?}", s.status);
    }
}

/// Observing only `agent/` again on top of a cached observation gives exactly what a whole new
/// observation gives, whatever happened to the agent's files: the cache's partial reuse can
/// never hide a change.
#[test]
fn observing_the_agent_again_equals_observing_the_whole_run() {
    use darn::observe::{light, observe_agent_again, observe_full};
    let (exp, _) =
        Exp::demo(darn::demo::DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 12, ..Default::default() });
    let experiment = open(&exp);
    let ctxs = darn::scan::contexts(&experiment, true);
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
        ("delete timing.json", |d| drop(std::fs::remove_file(d.join("agent/timing.json")))),
        ("incomplete marker", |d| {
            if d.join("agent").is_dir() {
                std::fs::write(d.join("agent/.darn-incomplete"), "").expect("marker");
            }
        }),
        ("another cost", |d| {
            let p = d.join("agent/stdout.log");
            if let Ok(text) = std::fs::read_to_string(&p) {
                std::fs::write(&p, text.replace("\"total_cost_usd\": 0.", "\"total_cost_usd\": 1.")).expect("rewrite");
            }
        }),
        ("garbage result.json", |d| {
            if d.join("agent").is_dir() {
                std::fs::write(d.join("agent/result.json"), "{\"exit_code\": [").expect("garbage");
            }
        }),
    ];
    let mut reused = 0;
    for (i, loc) in experiment.runs.iter().enumerate() {
        let dir = experiment.run_dir(loc);
        let before = observe_full(&dir, &ctxs[i]);
        let (what, mutate) = mutations[i % mutations.len()];
        mutate(&dir);
        let again = observe_agent_again(&dir, &ctxs[i], &before.obs, &before.deps.agent_key);
        let whole = observe_full(&dir, &ctxs[i]);
        let context = format!("{} after {what}", loc.key.id());
        assert_eq!(light(&again.obs), light(&whole.obs), "{context}");
        assert_eq!(again.deps.agent_key, whole.deps.agent_key, "{context}");
        assert_eq!(again.deps.agent, whole.deps.agent, "{context}");
        let e = (&again.obs.expected, &whole.obs.expected);
        assert!(e.0.agent_observed && e.1.agent_observed, "{context}");
        assert_eq!(
            (&e.0.output_txt, &e.0.result_json, &e.0.timing_json),
            (&e.1.output_txt, &e.1.result_json, &e.1.timing_json),
            "{context}"
        );
        if !again.obs.expected.observed {
            assert!(again.deps.rest.is_none(), "{context}");
            reused += 1;
        } else {
            assert_eq!(again.deps.rest, whole.deps.rest, "{context}");
        }
    }
    // Most mutations leave what the rest of the run takes from the agent unchanged.
    assert!(reused >= experiment.runs.len() / 3, "reused the rest of {reused} runs");
}
