//! `darn demo`: writes a realistic experiment that `status` then reads.

use crate::util::{Exp, assert_no_panic, assert_usage_error, darn_cmd, problems, run, runs, shared_demo, text};
use serde_json::Value;

const SMALL: [&str; 6] = ["--tiers", "2", "--subtests", "2", "--runs-per-subtest", "6"];

/// `darn demo DIR SMALL ARGS` from the directory above `DIR`; the output.
fn demo(parent: &Exp, dir: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["demo", dir];
    all.extend_from_slice(&SMALL);
    all.extend_from_slice(args);
    parent.darn(&all)
}

#[test]
fn writes_into_an_empty_directory_then_status_reads_it() {
    let parent = Exp::empty();
    std::fs::create_dir(parent.path("exp")).expect("create an empty directory");
    let out = demo(&parent, "exp", &[]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let root = parent.path("exp");
    assert!(text(&out.stdout).contains(&root.display().to_string()), "names where it wrote:\n{}", text(&out.stdout));
    assert!(root.join("config/experiment.json").is_file());
    assert!(root.join("darn.toml").is_file());
    let status = darn_cmd(&root, &["--json", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let doc: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(runs(&doc).len(), 24);
    assert_eq!(doc["layout"], "phased");
    let human = darn_cmd(&root, &["status"]);
    assert_eq!(human.status.code(), Some(0), "{}", text(&human.stderr));
    // Same seed (the default, 7) and sizes as the shared demo the library generated: the same
    // experiment, wherever it is.
    assert_eq!(without_root(doc), without_root(shared_demo(true).status.clone()));
}

fn without_root(mut doc: Value) -> Value {
    doc["root"] = Value::Null;
    doc
}

#[test]
fn creates_a_new_directory() {
    let parent = Exp::empty();
    let out = demo(&parent, "a/b/new", &["--layout", "flat"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = {
        let out = darn_cmd(&parent.path("a/b/new"), &["--json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    };
    assert_eq!(doc["layout"], "flat");
}

#[test]
fn refuses_a_non_empty_directory() {
    let parent = Exp::empty();
    parent.write("exp/keep.txt", "mine");
    let out = demo(&parent, "exp", &[]);
    assert_usage_error(&out, &["exp"]);
    assert_eq!(parent.read("exp/keep.txt"), b"mine");
    assert_eq!(parent.files_under("exp"), ["exp/keep.txt"], "nothing written");
}

#[test]
fn refuses_sizes_of_zero() {
    let parent = Exp::empty();
    assert_usage_error(&parent.darn(&["demo", "exp", "--tiers", "0"]), &["at least 1"]);
    assert!(!parent.path("exp/config").exists());
}

#[test]
fn json_summary_matches_the_experiment() {
    let parent = Exp::empty();
    let out = demo(&parent, "exp", &["--json", "--seed", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("demo --json prints JSON");
    let root = parent.path("exp");
    assert_eq!(summary["root"], root.display().to_string());
    assert_eq!(summary["runs"], 24);
    let damaged = summary["damaged"].as_array().expect("damaged[]");
    assert_eq!(damaged.len(), 19, "every kind once");
    let status = {
        let out = darn_cmd(&root, &["--json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("status JSON")
    };
    let mut kinds = Vec::new();
    for entry in damaged {
        let id = entry[0].as_str().expect("damaged run id");
        kinds.push(entry[1].as_str().expect("damage kind").to_string());
        let r = run(&status, id);
        assert!(!problems(r).is_empty(), "damaged {id} has problems: {r:#}");
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 19, "19 distinct kinds: {kinds:?}");
    let damaged_ids: Vec<&str> = damaged.iter().filter_map(|e| e[0].as_str()).collect();
    for r in runs(&status).iter().filter(|r| !damaged_ids.contains(&r["id"].as_str().unwrap_or(""))) {
        assert!(problems(r).is_empty(), "undamaged run: {r:#}");
    }
    // Another seed damages other runs.
    assert_ne!(without_root(status), without_root(shared_demo(true).status.clone()));
}

#[test]
fn clean_demo_is_complete_in_both_layouts() {
    for layout in ["phased", "flat"] {
        let parent = Exp::empty();
        let out = demo(&parent, "exp", &["--clean", "--layout", layout, "--judges", "2", "--seed", "11"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let out = darn_cmd(&parent.path("exp"), &["--json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let doc: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        assert_eq!(doc["layout"], layout);
        assert_eq!(doc["counts"]["agent"]["completed"], 24, "{layout}: {:#}", doc["counts"]);
        assert_eq!(doc["counts"]["judge"]["complete"], 24, "{layout}: {:#}", doc["counts"]);
        assert!(runs(&doc).iter().all(|r| problems(r).is_empty() && r["judges"].as_array().map(Vec::len) == Some(2)));
    }
}

#[test]
fn the_suggested_commands_work_as_printed() {
    let parent = Exp::empty();
    let out = demo(&parent, "exp", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let why = stdout.lines().find(|l| l.contains(" why ")).expect("a why suggestion");
    let words: Vec<&str> = why.split_whitespace().collect();
    // `PROGRAM -C DIR why TARGET`: the program exists and the target needs work.
    assert_eq!(words.len(), 5, "{why}");
    assert!(words[0] == "darn" || std::path::Path::new(words[0]).is_file(), "{why}");
    let root = parent.path("exp");
    let explained = darn_cmd(&root, &["why", words[4]]);
    assert_eq!(explained.status.code(), Some(0), "{}", text(&explained.stderr));
    assert!(text(&explained.stdout).contains("root cause"), "{}", text(&explained.stdout));
}
