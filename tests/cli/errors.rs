//! Exit codes and messages for experiments darn cannot read, and finding the experiment from
//! inside it.

use crate::util::{Exp, assert_no_panic, assert_usage_error, darn_cmd, text};
use serde_json::json;

#[test]
fn directory_that_is_not_an_experiment() {
    let dir = Exp::empty();
    dir.write("notes.txt", "not an experiment");
    let path = dir.root().display().to_string();
    assert_usage_error(&dir.darn(&["status"]), &[&path, "config/experiment.json"]);
    // Also through -C from elsewhere, and with --json (the error still goes to stderr).
    let other = Exp::empty();
    assert_usage_error(&other.darn(&["-C", &path, "--json", "status"]), &[&path]);
}

#[test]
fn nonexistent_directory() {
    let dir = Exp::empty();
    let missing = dir.path("no-such-experiment");
    let path = missing.display().to_string();
    assert_usage_error(&dir.darn(&["-C", &path, "status"]), &[&path]);
}

#[test]
fn config_directory_without_experiment_json() {
    let exp = Exp::config_only();
    exp.remove("config/experiment.json");
    assert!(exp.path("config").is_dir());
    let path = exp.root().display().to_string();
    assert_usage_error(&exp.darn(&["-C", &path, "status"]), &[&path, "config/experiment.json"]);
}

#[test]
fn corrupt_experiment_json() {
    let exp = Exp::config_only();
    for bytes in [&b"{\"experiment_id\": \"test-001\", \"task_repo\""[..], b"", b"\xff\xfe\x00garbage", b"[1, 2]"] {
        exp.write("config/experiment.json", bytes);
        let file = exp.path("config/experiment.json").display().to_string();
        assert_usage_error(&exp.darn(&["status"]), &[&file]);
    }
}

#[test]
fn experiment_json_with_a_wrong_typed_key() {
    for (key, value) in [
        ("runs_per_subtest", json!("ten")),
        ("judge_models", json!("claude-opus-4-5-20251101")),
        ("tiers_to_run", json!([0, 1])),
        ("experiment_id", json!(1)),
    ] {
        let exp = Exp::config_only();
        exp.edit_json("config/experiment.json", |v| v[key] = value.clone());
        let file = exp.path("config/experiment.json").display().to_string();
        assert_usage_error(&exp.darn(&["status"]), &[&file, key]);
    }
}

#[test]
fn experiment_json_without_a_required_key() {
    let exp = Exp::config_only();
    exp.edit_json("config/experiment.json", |v| {
        v.as_object_mut().expect("object").shift_remove("task_commit");
    });
    assert_usage_error(&exp.darn(&["status"]), &["config/experiment.json", "task_commit"]);
}

#[test]
fn unknown_darn_toml_key() {
    let exp = Exp::config_only();
    assert_eq!(exp.darn(&["status"]).status.code(), Some(0), "valid without darn.toml");
    exp.write("darn.toml", "[agent]\ncomand = [\"claude\"]\n");
    let file = exp.path("darn.toml").display().to_string();
    assert_usage_error(&exp.darn(&["status"]), &[&file, "comand"]);
    exp.write("darn.toml", "[agentt]\n");
    assert_usage_error(&exp.darn(&["status"]), &[&file, "agentt"]);
}

#[test]
fn invalid_darn_toml() {
    let exp = Exp::config_only();
    exp.write("darn.toml", "[agent\ncommand = ");
    assert_usage_error(&exp.darn(&["status"]), &["darn.toml"]);
    exp.write("darn.toml", "[experiment]\nera = \"1999\"\n");
    assert_usage_error(&exp.darn(&["status"]), &["darn.toml", "1999"]);
}

#[test]
fn missing_config_file_given_on_the_command_line() {
    let exp = Exp::config_only();
    let file = exp.path("elsewhere.toml").display().to_string();
    assert_usage_error(&exp.darn(&["--config", &file, "status"]), &[&file]);
}

#[test]
fn finds_the_experiment_from_a_subdirectory() {
    let exp = Exp::fixture();
    for dir in ["T0", "T3/01/run_01/agent", "T6/01/run_01/judge/judge_03", "config"] {
        let out = exp.darn_in(dir, &["--json", "status"]);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(0), "from {dir}: {}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(doc["experiment"], "test-001", "from {dir}");
        assert_eq!(doc["runs"].as_array().map(Vec::len), Some(7), "from {dir}");
    }
    // -C pointing inside the experiment works the same.
    let inside = exp.path("T2/01").display().to_string();
    let out = darn_cmd(std::env::temp_dir().as_path(), &["-C", &inside, "--json", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn unknown_command_line_arguments() {
    let exp = Exp::config_only();
    let out = exp.darn(&["status", "--no-such-flag"]);
    assert_usage_error(&out, &["--no-such-flag"]);
}

#[test]
fn a_misspelt_placeholder_stops_reconcile_before_anything_runs() {
    let (exp, _) = Exp::demo(darn::DemoSpec { tiers: 1, subtests: 1, runs_per_subtest: 2, ..Default::default() });
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    exp.write("darn.toml", toml.replacen("{model}", "{modle}", 1));
    let before = crate::engine::tree(exp.root());
    let file = exp.path("darn.toml").display().to_string();
    assert_usage_error(&exp.darn(&["reconcile"]), &[&file, "unknown placeholder `{modle}`"]);
    let after = crate::engine::tree(exp.root());
    assert!(before == after, "nothing written");
    // Regenerating needs no command: the template is not looked at.
    assert_ne!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(2));
}

#[test]
fn a_huge_run_count_is_an_error_not_an_allocation() {
    let exp = Exp::fixture();
    exp.edit_json("config/experiment.json", |v| v["runs_per_subtest"] = serde_json::json!(1_000_000_000u64));
    let file = exp.path("config/experiment.json").display().to_string();
    assert_usage_error(&exp.darn(&["status"]), &[&file, "runs_per_subtest", "1,000,000,000"]);
}
