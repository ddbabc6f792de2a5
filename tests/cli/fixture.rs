//! The real fixture: complete as shipped, and damaged by hand the ways real runs break.

use crate::util::{Exp, assert_run, failures, has_problem_at, problems, run, runs, slot_statuses};
use serde_json::{Value, json};

/// The run damaged by the tests below.
const RUN: &str = "T0/00/run_01";

/// The ids of the seven fixture runs.
const FIXTURE_RUNS: [&str; 7] =
    ["T0/00/run_01", "T1/01/run_01", "T2/01/run_01", "T3/01/run_01", "T4/01/run_01", "T5/01/run_01", "T6/01/run_01"];

fn rel(file: &str) -> String {
    format!("{RUN}/{file}")
}

/// Asserts every run of a status document is complete with three complete slots and no problem.
#[track_caller]
fn assert_all_complete(status: &Value) {
    assert_all_statuses_complete(status);
    for r in runs(status) {
        assert!(problems(r).is_empty(), "{r:#}");
    }
}

/// Asserts every run's agent, judge and slot statuses are complete.
#[track_caller]
fn assert_all_statuses_complete(status: &Value) {
    let ids: Vec<&str> = runs(status).iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, FIXTURE_RUNS);
    for r in runs(status) {
        assert_run(r, "completed", "complete");
        assert_eq!(slot_statuses(r), ["complete"; 3], "{r:#}");
    }
    assert_eq!(status["counts"]["agent"]["completed"], 7);
    assert_eq!(status["counts"]["judge"]["complete"], 7);
}

/// Status of the damaged run, checking that the other six runs are untouched.
fn damaged_run(exp: &Exp) -> Value {
    let status = exp.status(&[]);
    for r in runs(&status).iter().filter(|r| r["id"] != RUN) {
        assert_run(r, "completed", "complete");
    }
    run(&status, RUN).clone()
}

#[test]
fn fixture_is_complete() {
    let exp = Exp::fixture();
    let status = exp.status(&[]);
    assert_eq!(status["experiment"], "test-001");
    assert_eq!(status["layout"], "flat");
    assert_all_complete(&status);
    let models: Vec<&str> =
        runs(&status)[0]["judges"].as_array().expect("judges").iter().filter_map(|j| j["model"].as_str()).collect();
    assert_eq!(models, ["claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5"]);
}

#[test]
fn empty_stdout_without_derived_files_is_partial() {
    let exp = Exp::fixture();
    exp.write(&rel("agent/stdout.log"), "");
    exp.remove(&rel("agent/output.txt"));
    exp.remove(&rel("agent/result.json"));
    let r = damaged_run(&exp);
    assert_run(&r, "partial", "missing");
    assert!(has_problem_at(&r, "agent/stdout.log"), "{r:#}");
    assert!(failures(&r).is_empty(), "a partial agent is not a failed execution: {r:#}");
}

#[test]
fn truncated_stdout_is_partial() {
    let exp = Exp::fixture();
    let stdout = exp.read(&rel("agent/stdout.log"));
    exp.write(&rel("agent/stdout.log"), &stdout[..stdout.len() / 2]);
    let r = damaged_run(&exp);
    assert_run(&r, "partial", "missing");
    assert!(has_problem_at(&r, "agent/stdout.log"), "{r:#}");
    assert!(failures(&r).is_empty(), "{r:#}");
}

#[test]
fn is_error_result_is_a_failed_agent() {
    let exp = Exp::fixture();
    let stdout = String::from_utf8(exp.read(&rel("agent/stdout.log"))).expect("utf-8 stdout");
    assert!(stdout.contains("\"is_error\":false"));
    exp.write(&rel("agent/stdout.log"), stdout.replace("\"is_error\":false", "\"is_error\":true"));
    let r = damaged_run(&exp);
    assert_run(&r, "failed", "agent_failed");
    assert_eq!(failures(&r), ["agent_error"], "{r:#}");
}

/// "Statuses describe what is on disk": a failed agent makes the run's judge status
/// `agent_failed`, but slots whose complete judgments are on disk are `complete` per docs/contract.md#statuses
/// "Per slot" (whose vocabulary has no `agent_failed`).
#[test]
fn slots_of_a_failed_agent_keep_their_status() {
    let exp = Exp::fixture();
    let stdout = String::from_utf8(exp.read(&rel("agent/stdout.log"))).expect("utf-8 stdout");
    exp.write(&rel("agent/stdout.log"), stdout.replace("\"is_error\":false", "\"is_error\":true"));
    let r = damaged_run(&exp);
    assert_run(&r, "failed", "agent_failed");
    assert_eq!(slot_statuses(&r), ["complete"; 3], "{r:#}");
}

/// The claude CLI's usage-limit result, as the agent's whole stdout.
fn rate_limited_stdout() -> String {
    json!({
        "type": "result", "subtype": "success", "is_error": true, "duration_ms": 1312,
        "num_turns": 1, "result": "You've hit your limit · resets 4pm (America/Los_Angeles)",
        "session_id": "0b6ad3f5-3b0a-4c55-9a55-5a0f0c1ed6a1", "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    })
    .to_string()
}

fn set_exit_code(exp: &Exp, code: i64) {
    exp.edit_json(&rel("agent/command_log.json"), |log| {
        let last = log["commands"].as_array_mut().and_then(|c| c.last_mut()).expect("a logged command");
        last["exit_code"] = json!(code);
    });
}

#[test]
fn rate_limit_result_is_a_rate_limited_agent() {
    for exit_code in [0, 1] {
        let exp = Exp::fixture();
        exp.write(&rel("agent/stdout.log"), rate_limited_stdout());
        set_exit_code(&exp, exit_code);
        let r = damaged_run(&exp);
        assert_run(&r, "failed", "agent_failed");
        assert_eq!(failures(&r), ["rate_limit"], "exit {exit_code}: {r:#}");
    }
}

/// A `set -x` trace whose paths contain the rate-limit patterns (docs/format.md#bug-rate-limits-detected-in-trace-lines).
const TRACE: &str = "+ cd /data/runs/429-overloaded-rate_limit/resets /T0/00/run_01/workspace\n\
+ claude --model claude-sonnet-4-5-20250929 --print --output-format json --dangerously-skip-permissions /data/runs/429-overloaded-rate_limit/resets /T0/00/run_01/agent/prompt.md\n";

/// Puts the trace in stderr.log (and the copy of stderr inside result.json, which must agree).
fn write_trace(exp: &Exp) {
    exp.write(&rel("agent/stderr.log"), TRACE);
    exp.write(&rel("agent/cmd_0000_stderr.log"), TRACE);
    exp.edit_json(&rel("agent/result.json"), |v| v["stderr"] = json!(TRACE));
}

#[test]
fn trace_lines_with_limit_words_are_not_a_rate_limit() {
    let exp = Exp::fixture();
    write_trace(&exp);
    let r = damaged_run(&exp);
    assert_run(&r, "completed", "complete");
    assert!(problems(&r).is_empty(), "{r:#}");
}

#[test]
fn trace_lines_with_limit_words_do_not_make_an_agent_error_a_rate_limit() {
    let exp = Exp::fixture();
    write_trace(&exp);
    set_exit_code(&exp, 1);
    let r = damaged_run(&exp);
    assert_run(&r, "failed", "agent_failed");
    assert_eq!(failures(&r), ["agent_error"], "{r:#}");
}

#[test]
fn wrong_keyed_agent_result_needs_regeneration() {
    let exp = Exp::fixture();
    exp.edit_json(&rel("agent/result.json"), |v| {
        let t = v["token_stats"].as_object_mut().expect("token_stats");
        let creation = t.shift_remove("cache_creation_tokens").expect("cache_creation_tokens");
        let read = t.shift_remove("cache_read_tokens").expect("cache_read_tokens");
        t.insert("cache_creation_input_tokens".into(), creation);
        t.insert("cache_read_input_tokens".into(), read);
    });
    let r = damaged_run(&exp);
    assert_run(&r, "results", "complete");
    assert!(has_problem_at(&r, "agent/result.json"), "{r:#}");
    assert!(failures(&r).is_empty(), "{r:#}");
}

#[test]
fn judgment_with_score_out_of_range_is_not_complete() {
    let exp = Exp::fixture();
    exp.edit_json(&rel("judge/judge_01/judgment.json"), |v| v["score"] = json!(1.5));
    let r = damaged_run(&exp);
    assert_run(&r, "completed", "partial");
    assert_eq!(slot_statuses(&r), ["partial", "complete", "complete"], "{r:#}");
    assert!(has_problem_at(&r, "judge/judge_01/judgment.json"), "{r:#}");
}

/// Without a response, an out-of-range judgment is all there is: no usable judgment.
#[test]
fn judgment_with_score_out_of_range_and_no_response_is_a_failed_slot() {
    let exp = Exp::fixture();
    exp.edit_json(&rel("judge/judge_01/judgment.json"), |v| v["score"] = json!(1.5));
    exp.remove(&rel("judge/judge_01/response.txt"));
    exp.remove(&rel("judge/judge_01/stdout.log"));
    let r = damaged_run(&exp);
    assert_eq!(slot_statuses(&r), ["failed", "complete", "complete"], "{r:#}");
    assert_run(&r, "completed", "failed");
}

#[test]
fn unparseable_judge_response_is_a_failed_slot() {
    let exp = Exp::fixture();
    let prose = "I looked at the workspace. The script works, but I will not give a score.\n";
    exp.write(&rel("judge/judge_02/response.txt"), prose);
    exp.write(&rel("judge/judge_02/stdout.log"), prose);
    let r = damaged_run(&exp);
    assert_run(&r, "completed", "failed");
    assert_eq!(slot_statuses(&r), ["complete", "failed", "complete"], "{r:#}");
    assert_eq!(failures(&r), ["judge_unparseable"], "{r:#}");
    assert!(problems(&r).iter().any(|p| p["path"].as_str().is_some_and(|p| p.contains("judge/judge_02"))));
}

#[test]
fn empty_judge_slot_directory_is_a_missing_slot() {
    let exp = Exp::fixture();
    for file in exp.files_under(&rel("judge/judge_02")) {
        exp.remove(&file);
    }
    assert!(exp.path(&rel("judge/judge_02")).is_dir());
    let r = damaged_run(&exp);
    assert_eq!(slot_statuses(&r), ["complete", "missing", "complete"], "{r:#}");
    assert_run(&r, "completed", "partial");
    assert!(has_problem_at(&r, "judge/judge_02"), "{r:#}");
    assert!(failures(&r).is_empty(), "{r:#}");
}

#[test]
fn no_judge_directory_is_a_missing_judge() {
    let exp = Exp::fixture();
    exp.remove(&rel("judge"));
    let r = damaged_run(&exp);
    assert_run(&r, "completed", "missing");
    assert_eq!(slot_statuses(&r), ["missing"; 3], "{r:#}");
}

#[test]
fn stale_consensus_is_a_partial_judge() {
    let exp = Exp::fixture();
    exp.edit_json(&rel("judge/result.json"), |v| v["score"] = json!(0.5));
    let r = damaged_run(&exp);
    assert_run(&r, "completed", "partial");
    assert_eq!(slot_statuses(&r), ["complete"; 3], "{r:#}");
    assert!(has_problem_at(&r, "judge/result.json"), "{r:#}");
}

#[test]
fn missing_agent_timing_is_regenerable() {
    let exp = Exp::fixture();
    exp.remove(&rel("agent/timing.json"));
    let r = damaged_run(&exp);
    assert_run(&r, "results", "complete");
    assert!(has_problem_at(&r, "agent/timing.json"), "{r:#}");
}

#[test]
fn runner_invalid_result_signature_is_a_failed_agent() {
    // docs/format.md#invalid-agent-result: exit −1 and zero tokens, the runner's exception path.
    let exp = Exp::fixture();
    exp.remove(&rel("agent/stdout.log"));
    exp.remove(&rel("agent/cmd_0000_stdout.log"));
    exp.write(&rel("agent/output.txt"), "");
    exp.edit_json(&rel("agent/result.json"), |v| {
        v["exit_code"] = json!(-1);
        v["stdout"] = json!("");
        v["stderr"] = json!("RuntimeError: worktree creation failed");
        v["token_stats"] =
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_tokens": 0, "cache_read_tokens": 0});
        v["cost_usd"] = json!(0.0);
        v["api_calls"] = json!(0);
    });
    let r = damaged_run(&exp);
    assert_run(&r, "failed", "agent_failed");
    assert_eq!(failures(&r), ["infrastructure"], "{r:#}");
}

/// A timed-out run, then a re-launch that never finished: the runner's placeholder entry (exit 0
/// after 0.0 s) sits over the earlier attempt's `result.json` (exit −1, zero tokens). The
/// placeholder records no outcome (docs/format.md#command-log): the run is a failed agent, and a
/// regenerating reconcile leaves every file of that attempt as it is.
#[test]
fn a_placeholder_command_log_never_turns_a_failure_into_a_success() {
    let exp = Exp::fixture();
    let timed_out = "Command '['bash', '/abs/agent/replay.sh']' timed out after 300 seconds";
    exp.remove(&rel("agent/stdout.log"));
    exp.remove(&rel("agent/stderr.log"));
    exp.write(&rel("agent/output.txt"), "");
    exp.write(&rel("agent/cmd_0000_stdout.log"), "");
    exp.write(&rel("agent/cmd_0000_stderr.log"), "");
    exp.edit_json(&rel("agent/result.json"), |v| {
        v["exit_code"] = json!(-1);
        v["stdout"] = json!("");
        v["stderr"] = json!(timed_out);
        v["token_stats"] =
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_tokens": 0, "cache_read_tokens": 0});
        v["cost_usd"] = json!(0.0);
        v["api_calls"] = json!(0);
    });
    exp.edit_json(&rel("agent/command_log.json"), |v| {
        v["commands"][0]["exit_code"] = json!(0);
        v["commands"][0]["duration_seconds"] = json!(0.0);
    });
    let r = damaged_run(&exp);
    assert_run(&r, "failed", "agent_failed");
    assert_eq!(failures(&r), ["timeout"], "{r:#}");
    let agent_files: Vec<String> =
        ["result.json", "output.txt", "timing.json", "MODEL.md"].iter().map(|f| rel(&format!("agent/{f}"))).collect();
    let before: Vec<Vec<u8>> = agent_files.iter().map(|f| exp.read(f)).collect();
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(1), "the agent is left to execute: {}", crate::util::text(&out.stdout));
    let after: Vec<Vec<u8>> = agent_files.iter().map(|f| exp.read(f)).collect();
    assert!(before == after, "the failed attempt's files are kept as the runner wrote them");
}

// Layouts and eras.

/// Moves the fixture's tiers under `completed/` (the phased layout, January-era content).
fn phased_fixture() -> Exp {
    let exp = Exp::fixture();
    for tier in ["T0", "T1", "T2", "T3", "T4", "T5", "T6"] {
        exp.rename(tier, &format!("completed/{tier}"));
    }
    exp
}

/// The era of a tree is in its files (a v2.0 checkpoint, January-shaped consensus files), not in
/// its layout: docs/contract.md#statuses judges by content, and each consensus file is valid and agrees
/// with its judgments in the shape of the era that wrote it.
#[test]
fn fixture_in_phased_layout_is_complete() {
    let exp = phased_fixture();
    let status = exp.status(&[]);
    assert_eq!(status["layout"], "phased");
    assert_all_complete(&status);
}

/// With the era given explicitly (`darn.toml`), the phased fixture's agents and judges are
/// complete.
#[test]
fn fixture_in_phased_layout_with_explicit_era_is_complete() {
    let exp = phased_fixture();
    exp.write("darn.toml", "[experiment]\nera = \"jan2026\"\n");
    let status = exp.status(&[]);
    assert_eq!(status["layout"], "phased");
    assert_all_statuses_complete(&status);
    for r in runs(&status) {
        let path = r["path"].as_str().expect("path");
        assert!(path.starts_with("completed/"), "{path}");
    }
}

/// The runner's own `run_result.json`, untouched, is not stale because the run directory moved:
/// the paths it records are the runner's (docs/format.md#bug-absolute-paths-baked-into-files), and nothing it was derived from changed.
#[test]
fn fixture_in_phased_layout_with_explicit_era_has_no_problems() {
    let exp = phased_fixture();
    exp.write("darn.toml", "[experiment]\nera = \"jan2026\"\n");
    assert_all_complete(&exp.status(&[]));
}

#[test]
fn runs_only_in_in_progress_are_found() {
    let exp = phased_fixture();
    exp.write("darn.toml", "[experiment]\nera = \"jan2026\"\n");
    // T0 exists only in in_progress/, and so does one run of T1.
    exp.rename("completed/T0", "in_progress/T0");
    exp.rename("completed/T1/01/run_01", "in_progress/T1/01/run_01");
    let status = exp.status(&[]);
    assert_all_statuses_complete(&status);
    assert_eq!(run(&status, "T0/00/run_01")["path"], "in_progress/T0/00/run_01");
    assert_eq!(run(&status, "T1/01/run_01")["path"], "in_progress/T1/01/run_01");
    assert_eq!(run(&status, "T2/01/run_01")["path"], "completed/T2/01/run_01");
}

#[test]
fn flat_demo_is_january_era() {
    let demo = crate::util::shared_demo(false);
    assert_eq!(demo.status["layout"], "flat");
    assert_eq!(demo.status["era"], "jan2026");
    assert_eq!(runs(&demo.status).len(), 24);
    for r in runs(&demo.status) {
        let path = r["path"].as_str().expect("path");
        assert!(path.starts_with(r["tier"].as_str().expect("tier")), "{path}");
        assert!(path.ends_with(&format!("/run_{:02}", r["run"].as_u64().expect("run"))), "{path}");
    }
}

#[test]
fn phased_demo_is_current_era_in_both_phases() {
    let demo = crate::util::shared_demo(true);
    assert_eq!(demo.status["layout"], "phased");
    assert_eq!(demo.status["era"], "head");
    assert_eq!(runs(&demo.status).len(), 24);
    let mut in_progress = 0;
    for r in runs(&demo.status) {
        let path = r["path"].as_str().expect("path");
        let id = r["id"].as_str().expect("id");
        let agent_broke = matches!(r["agent"].as_str(), Some("missing" | "partial" | "failed"));
        let want = if agent_broke { "in_progress/" } else { "completed/" };
        assert_eq!(path, format!("{want}{id}"), "{r:#}");
        if agent_broke && r["agent"] != "missing" {
            assert!(demo.exp.path(path).is_dir(), "{path} exists only in in_progress/");
            assert!(!demo.exp.path(&format!("completed/{id}")).exists());
            in_progress += 1;
        }
    }
    assert!(in_progress >= 4, "the demo has runs found only in in_progress/");
}

#[test]
fn run_moved_back_to_in_progress_is_found_and_unchanged() {
    let (exp, summary) = Exp::demo(crate::util::small_demo(true));
    let damaged: Vec<&str> = summary.damaged.iter().map(|(id, _)| id.as_str()).collect();
    let before = exp.status(&[]);
    let clean = runs(&before)
        .iter()
        .filter_map(|r| r["id"].as_str())
        .find(|id| !damaged.contains(id))
        .expect("a clean run")
        .to_string();
    exp.rename(&format!("completed/{clean}"), &format!("in_progress/{clean}"));
    let after = exp.status(&[]);
    let r = run(&after, &clean);
    assert_eq!(r["path"], format!("in_progress/{clean}"));
    assert_run(r, "completed", "complete");
    assert_eq!(before["counts"], after["counts"]);
}
