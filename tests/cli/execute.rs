//! Executions through the CLI with darn's stand-ins for the `claude` CLI: exactly the planned
//! executions run, nothing paid for is lost, and failures, timeouts, rate limits, budgets and
//! interrupts behave.

use crate::engine::tree;
use crate::util::{DARN, Exp, text};
use darn::{Damage, DemoSpec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn json_out(exp: &Exp, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = exp.darn(&full);
    let code = out.status.code().unwrap_or(-1);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("darn {args:?}: not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)));
    (code, value)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn executes(plan: &Value) -> BTreeSet<String> {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["strategy"] == "execute")
        .map(|a| a["node"].as_str().expect("node").to_string())
        .collect()
}

/// Adds flags to the stand-in commands of the demo's darn.toml (`role` is agent or judge).
fn knobs(exp: &Exp, role: &str, flags: &[&str]) {
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    let anchor = format!("\"stand-in\", \"{role}\",");
    assert!(toml.contains(&anchor), "darn.toml has the {role} stand-in");
    let extra: String = flags.iter().map(|f| format!(" \"{f}\",")).collect();
    exp.write("darn.toml", toml.replace(&anchor, &format!("{anchor}{extra}")));
}

fn set_toml(exp: &Exp, from: &str, to: &str) {
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    assert!(toml.contains(from), "darn.toml has {from}");
    exp.write("darn.toml", toml.replace(from, to));
}

fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

fn small(seed: u64) -> (Exp, darn::DemoSummary) {
    Exp::demo(DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 6, seed, ..DemoSpec::default() })
}

#[test]
fn reconcile_executes_exactly_what_the_plan_announced() {
    let (exp, _) = small(7);
    let log = exp.path("standin.log");
    let log_s = log.display().to_string();
    knobs(&exp, "agent", &["--log", &log_s]);
    knobs(&exp, "judge", &["--log", &log_s]);
    let (code, plan) = json_out(&exp, &["plan"]);
    assert_eq!(code, 1);
    let planned = executes(&plan);
    assert!(planned.len() > 10, "{planned:?}");
    let before = tree(exp.root());
    let (code, out) = json_out(&exp, &["reconcile", "-j", "4"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&out["executed"]), planned, "executions differ from the plan");
    assert_eq!(log_lines(&log).len(), planned.len(), "one stand-in call per execution");
    assert!(out["cost_usd"].as_f64().expect("cost") > 0.0);
    // Every run is complete, and every file that existed before still exists (moved aside at
    // worst): nothing paid for was deleted.
    let status = exp.status(&[]);
    assert_eq!(status["counts"]["agent"]["completed"], 24, "{status}");
    assert_eq!(status["counts"]["judge"]["complete"], 24);
    let after_files = tree(exp.root());
    let archived: Vec<&String> = after_files.keys().filter(|k| k.contains("/.failed/")).collect();
    for (rel, bytes) in &before {
        if after_files.contains_key(rel) {
            continue;
        }
        // A moved file keeps its bytes somewhere under a .failed/ archive.
        let name = rel.rsplit('/').next().unwrap_or("");
        let kept = archived.iter().any(|a| a.ends_with(name) && after_files[*a] == *bytes);
        assert!(kept, "{rel} disappeared without an archive copy");
    }
    // A second reconcile executes and writes nothing (darn's lock and stat cache aside: the cache
    // may take in runs written too recently to be cached the first time).
    let quiet = |e: &(String, bool, u64, std::time::SystemTime)| {
        !matches!(e.0.as_str(), ".darn" | ".darn/lock" | ".darn/cache" | "standin.log")
    };
    let listing: Vec<_> = exp.listing().into_iter().filter(quiet).collect();
    let (code, out) = json_out(&exp, &["reconcile"]);
    assert_eq!(code, 0);
    assert!(strings(&out["executed"]).is_empty());
    assert_eq!(out["adopted"], 0, "{out}");
    assert_eq!(log_lines(&log).len(), planned.len());
    let again: Vec<_> = exp.listing().into_iter().filter(quiet).collect();
    assert_eq!(again, listing);
}

#[test]
fn only_the_failing_judge_slot_is_rerun() {
    let (exp, summary) = small(7);
    let run = summary.runs_with(Damage::FailedJudgeSlot)[0].to_string();
    let status = exp.status(&[]);
    let slots = crate::util::slot_statuses(crate::util::run(&status, &run));
    let failed: Vec<usize> = slots.iter().enumerate().filter(|(_, s)| *s == "failed").map(|(i, _)| i + 1).collect();
    assert_eq!(failed.len(), 1, "{slots:?}");
    let dir = format!("completed/{run}");
    let keep: Vec<String> =
        (1..=3).filter(|n| *n != failed[0]).map(|n| format!("{dir}/judge/judge_{n:02}/judgment.json")).collect();
    let kept_bytes: Vec<Vec<u8>> = keep.iter().map(|k| exp.read(k)).collect();
    let (code, out) = json_out(&exp, &["reconcile", &run]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&out["executed"]), [format!("{run}/judge/judge_{:02}", failed[0])].into_iter().collect());
    for (k, b) in keep.iter().zip(&kept_bytes) {
        assert_eq!(&exp.read(k), b, "{k} was touched");
    }
    // The failed attempt is archived, not deleted.
    let archive = exp.path(&format!("{dir}/judge/.failed/judge_{:02}_attempt_01/error.log", failed[0]));
    assert!(archive.is_file(), "{}", archive.display());
    let record: Value = serde_json::from_slice(&exp.read(&format!("{dir}/darn_attempts.json"))).expect("attempts");
    assert_eq!(record[0]["previous_failure"], "judge_error");
}

#[test]
fn a_timed_out_agent_fails_the_run_and_nothing_is_lost() {
    let (exp, summary) = small(7);
    knobs(&exp, "agent", &["--hang"]);
    set_toml(&exp, "timeout = \"2m\"", "timeout = \"1s\"");
    let run = summary.runs_with(Damage::KilledAgent)[0].to_string();
    let partial_stdout = exp.read(&format!("in_progress/{run}/agent/stdout.log"));
    let (code, out) = json_out(&exp, &["reconcile", &format!("{run}/agent")]);
    assert_eq!(code, 1, "{out}");
    let failed = out["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["node"], format!("{run}/agent"));
    assert_eq!(failed[0]["failure"], "timeout");
    assert!(failed[0]["error"].as_str().expect("error").contains(&run));
    let status = exp.status(&[]);
    let r = crate::util::run(&status, &run);
    assert_eq!(r["agent"], "failed");
    assert!(crate::util::failures(r).contains(&"timeout".to_string()));
    // The killed attempt from before is in the archive, byte for byte.
    let archived = exp.read(&format!(
        "in_progress/{}/.failed/run_{}_attempt_01/agent/stdout.log",
        parent(&run),
        &run[run.len() - 2..]
    ));
    assert_eq!(archived, partial_stdout);
}

fn parent(run: &str) -> &str {
    run.rsplit_once('/').map_or(run, |(p, _)| p)
}

#[test]
fn a_rate_limited_judge_is_retried_after_the_wait() {
    let (exp, summary) = small(7);
    let state = exp.path("standin-state");
    knobs(&exp, "judge", &["--rate-limit-first", "1", "--state", &state.display().to_string()]);
    let run = summary.runs_with(Damage::RateLimitedJudge)[0].to_string();
    let started = std::time::Instant::now();
    let (code, out) = json_out(&exp, &["reconcile", &run]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["retries"], 1, "{out}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "waited for Retry-After");
    assert_eq!(crate::util::run(&exp.status(&[]), &run)["judge"], "complete");
}

#[test]
fn keep_going_runs_the_rest_after_a_failure() {
    let (exp, summary) = small(7);
    knobs(&exp, "agent", &["--fail-rate", "1"]);
    let agents: Vec<String> = [Damage::NeverStarted, Damage::KilledAgent, Damage::AgentError]
        .iter()
        .flat_map(|d| summary.runs_with(*d))
        .map(|r| format!("{r}/agent"))
        .collect();
    assert!(agents.len() >= 2);
    let targets: Vec<&str> = agents.iter().map(String::as_str).collect();
    let mut args = vec!["reconcile", "-j", "1"];
    args.extend(&targets);
    let (code, out) = json_out(&exp, &args);
    assert_eq!(code, 1);
    assert_eq!(out["failed"].as_array().expect("failed").len(), 1, "stops after the first failure: {out}");
    assert_eq!(out["skipped"].as_array().expect("skipped").len(), agents.len() - 1);
    let mut args = vec!["reconcile", "-j", "1", "--keep-going"];
    args.extend(&targets);
    let (code, out) = json_out(&exp, &args);
    assert_eq!(code, 1);
    assert_eq!(out["failed"].as_array().expect("failed").len(), agents.len(), "{out}");
    for f in out["failed"].as_array().expect("failed") {
        assert_eq!(f["failure"], "agent_error");
    }
}

#[test]
fn max_cost_refuses_executions_past_the_budget() {
    let (exp, _) = small(7);
    let (_, plan) = json_out(&exp, &["plan", "--max-cost", "0.05"]);
    let held: Vec<&Value> = plan["held"].as_array().expect("held").iter().filter(|h| h["reason"] == "budget").collect();
    assert!(!held.is_empty(), "{plan}");
    assert!(plan["estimate"]["cost_usd"].as_f64().expect("cost") <= 0.05);
    let (code, out) = json_out(&exp, &["reconcile", "--max-cost", "0"]);
    assert_eq!(code, 1);
    assert!(strings(&out["executed"]).is_empty());
    assert!(!out["pending_executions"].as_array().expect("pending").is_empty());
}

#[test]
fn an_interrupted_reconcile_resumes() {
    let (exp, _) = small(7);
    knobs(&exp, "agent", &["--sleep", "4"]);
    let mut child = std::process::Command::new(DARN)
        .args(["-C", &exp.root().display().to_string(), "reconcile", "-j", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start darn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().expect("wait for darn");
    assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
    // Interrupted agents read as partial (their marker is still there), not complete.
    let st = exp.status(&[]);
    assert!(st["counts"]["agent"]["partial"].as_u64().expect("partial") >= 1, "{}", st["counts"]);
    set_toml(&exp, "\"--sleep\", \"4\",", "");
    let (code, out) = json_out(&exp, &["reconcile"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(exp.status(&[])["counts"]["agent"]["completed"], 24);
}

#[test]
fn a_missing_agent_binary_is_a_config_error_before_anything_runs() {
    let (exp, summary) = small(7);
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    let darn_path = format!("\"{DARN}\", \"stand-in\", \"agent\"");
    exp.write("darn.toml", toml.replacen(&darn_path, "\"/nonexistent/claude\"", 1));
    let run = summary.runs_with(Damage::AgentError)[0].to_string();
    let old = exp.read(&format!("in_progress/{run}/agent/stdout.log"));
    let out = exp.darn(&["reconcile", "--keep-going", &format!("{run}/agent")]);
    let file = exp.path("darn.toml").display().to_string();
    crate::util::assert_usage_error(&out, &[&file, "[agent] command", "/nonexistent/claude"]);
    // Nothing was moved or executed: the run is as it was.
    assert_eq!(exp.read(&format!("in_progress/{run}/agent/stdout.log")), old);
    assert!(!exp.path(&format!("in_progress/{}/.failed", parent(&run))).exists());
    // `plan` does not look programs up (it may run where the executions will not).
    assert_eq!(exp.darn(&["plan", &format!("{run}/agent")]).status.code(), Some(1));
}

#[test]
fn shell_metacharacters_in_a_model_name_are_passed_literally() {
    let (exp, _) =
        Exp::demo(DemoSpec { tiers: 1, subtests: 1, runs_per_subtest: 2, damage: false, ..DemoSpec::default() });
    let log = exp.path("standin.log");
    knobs(&exp, "judge", &["--log", &log.display().to_string()]);
    let evil = "claude; touch PWNED $(touch PWNED2)";
    exp.edit_json("config/experiment.json", |c| c["judge_models"][0] = evil.into());
    let (code, out) = json_out(&exp, &["reconcile"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&out["executed"]).len(), 2, "slot 1 of both runs: {out}");
    assert!(log_lines(&log).iter().all(|l| l.contains(evil)), "{:?}", log_lines(&log));
    assert!(!exp.path("PWNED").exists() && !exp.path("completed/T0/00/run_01/PWNED").exists());
}

#[test]
fn a_replaced_judge_model_reruns_that_slot_only() {
    let (exp, _) =
        Exp::demo(DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 2, damage: false, ..DemoSpec::default() });
    exp.edit_json("config/experiment.json", |c| c["judge_models"][2] = "claude-opus-4-5".into());
    let (code, out) = json_out(&exp, &["reconcile"]);
    assert_eq!(code, 0, "{out}");
    let executed = strings(&out["executed"]);
    assert_eq!(executed.len(), 4);
    assert!(executed.iter().all(|n| n.ends_with("judge/judge_03")), "{executed:?}");
    let md = String::from_utf8(exp.read("completed/T0/00/run_01/judge/judge_03/MODEL.md")).expect("utf-8");
    assert!(md.contains("**Model**: claude-opus-4-5"));
}

#[test]
fn garbage_on_the_agent_stdout_is_a_failure_not_a_result() {
    let (exp, summary) = small(7);
    knobs(&exp, "agent", &["--garbage"]);
    let run = summary.runs_with(Damage::NeverStarted)[0].to_string();
    let (code, out) = json_out(&exp, &["reconcile", &format!("{run}/agent")]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["failed"][0]["failure"], "agent_error");
    assert!(out["failed"][0]["error"].as_str().expect("error").contains("not a Claude Code JSON result"));
    let st = exp.status(&[]);
    assert_eq!(crate::util::run(&st, &run)["agent"], "failed");
}

#[test]
fn a_judge_without_its_prompt_is_blocked_and_changes_nothing() {
    let (exp, summary) = small(7);
    let run = summary.runs_with(Damage::FailedJudgeSlot)[0].to_string();
    let dir = format!("completed/{run}");
    exp.remove(&format!("{dir}/judge_prompt.md"));
    let before = tree(exp.root());
    let (code, out) = json_out(&exp, &["reconcile", "--keep-going", &run]);
    assert_eq!(code, 1, "{out}");
    // The prompt cannot be rebuilt (the workspace is gone): executing the judge would fail at
    // once, after paying for the call.
    assert_eq!(out["executed"].as_array().map_or(0, Vec::len), 0, "{out}");
    let prompt = format!("{run}/judge_prompt.md");
    assert!(out["blocked"].as_array().is_some_and(|b| b.iter().any(|x| x["node"] == prompt.as_str())), "{out}");
    let after = tree(exp.root());
    for (rel, bytes) in &before {
        if rel.starts_with(&dir) {
            assert_eq!(after.get(rel), Some(bytes), "{rel} changed");
        }
    }
}

#[test]
fn a_judge_that_never_answers_times_out_and_keeps_the_old_slot() {
    let (exp, summary) = small(7);
    knobs(&exp, "judge", &["--hang"]);
    set_toml(&exp, "timeout = \"1m\"", "timeout = \"1s\"");
    let run = summary.runs_with(Damage::FailedJudgeSlot)[0].to_string();
    let dir = format!("completed/{run}");
    let status = exp.status(&[]);
    let slots = crate::util::slot_statuses(crate::util::run(&status, &run));
    let slot = slots.iter().position(|s| s == "failed").expect("a failed slot") + 1;
    let old_error = exp.read(&format!("{dir}/judge/judge_{slot:02}/error.log"));
    let started = std::time::Instant::now();
    let (code, out) = json_out(&exp, &["reconcile", &format!("{run}/judge/judge_{slot:02}")]);
    assert_eq!(code, 1, "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the hanging judge was stopped");
    assert_eq!(out["failed"][0]["node"], format!("{run}/judge/judge_{slot:02}"));
    assert_eq!(out["failed"][0]["failure"], "timeout", "{out}");
    // The earlier failed attempt is archived byte for byte; the new one is recorded as a timeout.
    assert_eq!(exp.read(&format!("{dir}/judge/.failed/judge_{slot:02}_attempt_01/error.log")), old_error);
    let st = exp.status(&[]);
    assert!(crate::util::failures(crate::util::run(&st, &run)).contains(&"timeout".to_string()), "{st:#}");
}

#[test]
fn a_crashed_agent_is_retried_after_a_backoff() {
    let (exp, summary) = small(7);
    let state = exp.path("standin-state");
    let log = exp.path("calls.log");
    knobs(
        &exp,
        "agent",
        &["--crash-first", "1", "--state", &state.display().to_string(), "--log", &log.display().to_string()],
    );
    set_toml(&exp, "retries = 3\n", "retries = 3\nbackoff = \"0.2s\"\n");
    let run = summary.runs_with(Damage::KilledAgent)[0].to_string();
    let (code, out) = json_out(&exp, &["reconcile", &run]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["retries"], 1, "{out}");
    assert_eq!(log_lines(&log).iter().filter(|l| l.starts_with("agent ")).count(), 2, "one crash, one retry");
    let st = exp.status(&[]);
    assert_eq!(crate::util::run(&st, &run)["agent"], "completed", "{st:#}");
    // Both attempts are on record; the second names the crash as the reason it ran.
    let parent = parent(&run);
    let record: Value =
        serde_json::from_slice(&exp.read(&format!("completed/{run}/darn_attempts.json"))).expect("attempts");
    let agent: Vec<&Value> =
        record.as_array().expect("list").iter().filter(|r| r["node"] == format!("{run}/agent")).collect();
    assert_eq!(agent.len(), 2, "{record:#}");
    assert_eq!(agent[1]["previous_failure"], "infrastructure", "{record:#}");
    assert!(
        exp.path(&format!("in_progress/{parent}/.failed")).is_dir()
            || exp.path(&format!("completed/{parent}/.failed")).is_dir()
    );
}

#[test]
fn a_re_executed_agent_gets_the_pipeline_results_in_its_judge_prompt() {
    let (exp, summary) = small(7);
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    exp.write(
        "darn.toml",
        format!(
            "{toml}\n[pipeline]\ntimeout = \"30s\"\n\
             [[pipeline.step]]\nname = \"Build\"\ncommand = [\"/bin/sh\", \"-c\", \"echo built in $(basename {{workspace}})\"]\nlog = \"build_output.log\"\n\
             [[pipeline.step]]\nname = \"Test\"\ncommand = [\"/bin/sh\", \"-c\", \"echo boom >&2; exit 3\"]\nlog = \"test_output.log\"\n\
             [[pipeline.step]]\nname = \"Lint\"\ncommand = [\"/nonexistent/linter\"]\n"
        ),
    );
    let run = summary.runs_with(Damage::NeverStarted)[0].to_string();
    let (code, out) = json_out(&exp, &["reconcile", &run]);
    assert_eq!(code, 0, "{out}");
    let dir = format!("completed/{run}");
    let prompt = String::from_utf8(exp.read(&format!("{dir}/judge_prompt.md"))).expect("utf-8");
    let section = prompt
        .split("## Build/Lint/Test Pipeline Results (After Agent)\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("a pipeline section in\n{prompt}"));
    assert!(
        section.starts_with("**Overall Status**: SOME FAILED ✗\n\n### Build (PASSED)\n```\nbuilt in workspace\n```"),
        "{section}"
    );
    assert!(section.contains("### Test (FAILED)\n```\nboom\n```"), "{section}");
    assert!(section.contains("### Lint (FAILED)") && section.contains("/nonexistent/linter"), "{section}");
    assert!(section.ends_with("Evaluate the agent's work using the rubric and criteria in your system prompt."));
    assert_eq!(exp.read(&format!("{dir}/commands/build_output.log")), b"built in workspace\n");
    assert_eq!(exp.read(&format!("{dir}/commands/test_output.log")), b"boom\n");
    // The judges read that prompt and the run ends complete.
    let st = exp.status(&[]);
    let r = crate::util::run(&st, &run);
    assert_eq!((r["agent"].as_str(), r["judge"].as_str()), (Some("completed"), Some("complete")));
}

#[test]
fn a_pipeline_log_outside_commands_is_a_config_error() {
    let (exp, _) = small(7);
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    exp.write(
        "darn.toml",
        format!("{toml}\n[[pipeline.step]]\nname = \"Build\"\ncommand = [\"true\"]\nlog = \"../escape.log\"\n"),
    );
    let out = exp.darn(&["plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("darn.toml") && stderr.contains("plain file name"), "{stderr}");
}
