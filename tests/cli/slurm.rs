//! `reconcile --backend slurm` against a real one-node Slurm cluster (`scripts/slurm-cluster`,
//! started in a temporary directory for this test and stopped by pid file at its end): the
//! results equal the local backend's, every execution runs in a job, and failures, timeouts,
//! Ctrl-C, a killed darn and a controller that stops answering lose nothing.
//!
//! One test function runs the scenarios in sequence on one cluster (two cores: parallel
//! scenarios would only queue behind each other). Where Slurm is not installed, or the cluster
//! cannot be started as root, it is skipped with one line.

use crate::engine::tree;
use crate::util::{DARN, Exp, copy_tree, text};
use darn::DemoSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private cluster, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    conf: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster")
}

impl Cluster {
    /// Starts one, or `None` (with one line saying why) where Slurm cannot run.
    fn start() -> Option<Cluster> {
        let dir = tempfile::Builder::new().prefix("darn-sc-").tempdir_in("/tmp").expect("a temp dir");
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .env("SLURM_CLUSTER_MIN_JOB_AGE", "5")
            .output()
            .expect("run scripts/slurm-cluster");
        match out.status.code() {
            Some(0) => {}
            Some(77) => {
                let why = format!("{}{}", text(&out.stdout), text(&out.stderr));
                eprintln!("slurm tests skipped: {}", why.lines().last().unwrap_or("Slurm is not available").trim());
                return None;
            }
            _ => panic!("slurm-cluster start failed: {}\n{}", text(&out.stdout), text(&out.stderr)),
        }
        let exports = text(&out.stdout);
        let conf = exports
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .map(|v| v.trim_matches('\'').to_string())
            .expect("SLURM_CONF among the export lines");
        Some(Cluster { dir, conf })
    }

    fn control(&self, what: &str) {
        let out = Command::new(script()).arg(what).arg(self.dir.path()).output().expect("run slurm-cluster");
        assert!(out.status.success(), "slurm-cluster {what}: {}\n{}", text(&out.stdout), text(&out.stderr));
        if what == "start-controller" {
            // As a user would: wait for the node to be back in the controller's view.
            let start = Instant::now();
            loop {
                let out = Command::new("sinfo")
                    .args(["-h", "-o", "%T"])
                    .env("SLURM_CONF", &self.conf)
                    .output()
                    .expect("sinfo");
                let state = text(&out.stdout).trim().to_string();
                if ["idle", "mixed", "allocated"].contains(&state.as_str()) {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(60), "the node stays {state}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn darn(&self, exp: &Exp, args: &[&str]) -> Command {
        let mut cmd = Command::new(DARN);
        cmd.arg("-C").arg(exp.root()).args(args).env("SLURM_CONF", &self.conf);
        cmd
    }

    fn run(&self, exp: &Exp, args: &[&str]) -> Output {
        self.darn(exp, args).output().expect("run darn")
    }

    /// darn's jobs still pending or running.
    fn active_jobs(&self) -> Vec<(String, String)> {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i|%T|%j"])
            .env("SLURM_CONF", &self.conf)
            .output()
            .expect("run squeue");
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains("|darn-"))
            .filter_map(|l| {
                let mut f = l.split('|');
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect()
    }

    /// Waits until darn has `running` jobs running and `pending` pending (or panics).
    fn wait_for(&self, running: usize, pending: usize) {
        let start = Instant::now();
        loop {
            let jobs = self.active_jobs();
            let r = jobs.iter().filter(|(_, s)| s == "RUNNING").count();
            let p = jobs.iter().filter(|(_, s)| s == "PENDING").count();
            if r >= running && p >= pending {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never saw {running} running, {pending} pending: {jobs:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_idle(&self) {
        let start = Instant::now();
        while !self.active_jobs().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(60), "darn's jobs stay: {:?}", self.active_jobs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).output();
    }
}

fn demo(seed: u64) -> Exp {
    let (exp, _) = Exp::demo(DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 3, seed, ..DemoSpec::default() });
    edit_toml(&exp, |t| {
        format!(
            "{}\n[slurm]\npoll = \"0.2s\"\ncommand_timeout = \"20s\"\ncontroller_timeout = \"60s\"\n",
            t.replace("retries = 3\n", "retries = 3\nbackoff = \"0.1s\"\n")
        )
    });
    exp
}

fn edit_toml(exp: &Exp, f: impl FnOnce(&str) -> String) {
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    exp.write("darn.toml", f(&toml));
}

/// Adds flags to the agent stand-in's command.
fn agent_knobs(exp: &Exp, flags: &str) {
    edit_toml(exp, |t| t.replace("\"stand-in\", \"agent\",", &format!("\"stand-in\", \"agent\", {flags},")));
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// `.darn/slurm/jobs.log`: (event, job id, node).
fn job_log(exp: &Exp) -> Vec<(String, String, String, String)> {
    std::fs::read_to_string(exp.path(".darn/slurm/jobs.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(1)?.to_string(), f.get(2)?.to_string(), f.get(3)?.to_string(), f[4..].join(" ")))
        })
        .collect()
}

fn submitted(exp: &Exp) -> Vec<String> {
    job_log(exp).into_iter().filter(|e| e.0 == "submitted").map(|e| e.2).collect()
}

/// Timestamps and measured durations masked: what two reconciles of the same tree may differ in.
fn masked(bytes: &[u8]) -> String {
    let t = String::from_utf8_lossy(bytes);
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?").expect("regex");
    let secs = regex::Regex::new(r#"("[a-z_]*(duration|seconds)[a-z_]*": )-?[0-9.e+-]+"#).expect("regex");
    let table = regex::Regex::new(r"\b\d+(\.\d+)?s\b").expect("regex");
    let t = stamp.replace_all(&t, "<time>");
    let t = secs.replace_all(&t, "${1}<secs>");
    table.replace_all(&t, "<secs>").into_owned()
}

/// A file as two reconciles of one tree must agree on it: masked, and the attempt records in
/// node order (concurrent executions finish in any order, on either backend).
fn comparable(rel: &str, bytes: &[u8]) -> String {
    if rel.ends_with("darn_attempts.json") {
        let mut entries: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(bytes)
            .expect("attempts parse")
            .iter()
            .map(|e| masked(e.to_string().as_bytes()))
            .collect();
        entries.sort();
        return entries.join("\n");
    }
    masked(bytes)
}

/// The agent and judge outputs of a tree, by content.
fn expensive(dir: &Path) -> BTreeSet<Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(p, _)| {
            (p.contains("/agent/") && p.ends_with("/stdout.log"))
                || (p.contains("/judge_") && (p.ends_with("/response.txt") || p.ends_with("/judgment.json")))
        })
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
        .collect()
}

fn replace_tree(dst: &Path, from: &Path) {
    for e in std::fs::read_dir(dst).expect("list").flatten() {
        let p = e.path();
        if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) }.expect("remove");
    }
    copy_tree(from, dst);
}

type Scenario = fn(&Cluster);

#[test]
fn the_slurm_backend() {
    let Some(cluster) = Cluster::start() else { return };
    let scenarios: [(&str, Scenario); 6] = [
        ("same results as local", same_results_as_local),
        ("failing jobs", failing_jobs),
        ("a timed-out job", timed_out_job),
        ("Ctrl-C", ctrl_c_cancels_the_jobs),
        ("a killed darn", killed_darn_reattaches),
        ("the controller down", controller_down),
    ];
    for (name, scenario) in scenarios {
        let t = Instant::now();
        scenario(&cluster);
        eprintln!("slurm: {name}: {:.1} s", t.elapsed().as_secs_f64());
    }
}

/// A damaged demo reconciled through Slurm ends as the same demo reconciled locally.
fn same_results_as_local(cluster: &Cluster) {
    let exp = demo(11);
    let pristine = tempfile::tempdir().expect("tempdir");
    copy_tree(exp.root(), pristine.path());
    let out = cluster.run(&exp, &["--json", "reconcile", "-j", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let local = tree(exp.root());
    let executed = json(&out)["executed"].as_array().expect("executed").len();
    assert!(executed > 10, "{executed}");

    replace_tree(exp.root(), pristine.path());
    let out = cluster.run(&exp, &["--json", "reconcile", "-j", "4", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let report = json(&out);
    assert_eq!(report["executed"].as_array().expect("executed").len(), executed);
    let slurm = tree(exp.root());
    assert_eq!(local.keys().collect::<Vec<_>>(), slurm.keys().collect::<Vec<_>>(), "the same files");
    for (rel, bytes) in &local {
        assert_eq!(comparable(rel, bytes), comparable(rel, &slurm[rel]), "{rel} differs between the backends");
    }
    // Every execution ran in its own job, whose darn saw its SLURM_JOB_ID.
    let log = job_log(&exp);
    let subs = submitted(&exp);
    assert_eq!(subs.len(), executed, "{log:?}");
    assert_eq!(subs.iter().collect::<BTreeSet<_>>().len(), executed, "no execution submitted twice");
    let ended: Vec<_> = log.iter().filter(|e| e.0 == "ended").collect();
    assert_eq!(ended.len(), executed);
    for e in &ended {
        assert!(e.3.starts_with("COMPLETED") && e.3.ends_with(&format!("job={}", e.1)), "{e:?}");
    }
    // Nothing is left behind but the log.
    let left: Vec<String> = std::fs::read_dir(exp.path(".darn/slurm"))
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "jobs.log")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A second reconcile submits nothing.
    let out = cluster.run(&exp, &["--json", "reconcile", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(json(&out)["executed"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(submitted(&exp).len(), executed);
}

/// An agent that fails in its job fails as it does locally; jobs sbatch would refuse are a
/// config error found before anything runs.
fn failing_jobs(cluster: &Cluster) {
    let exp = demo(12);
    agent_knobs(&exp, "\"--fail-rate\", \"1\"");
    let out = cluster.run(&exp, &["--json", "reconcile", "-j", "4", "--backend", "slurm", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let status = exp.status(&[]);
    let failures: Vec<String> = crate::util::runs(&status).iter().flat_map(crate::util::failures).collect();
    assert!(failures.iter().any(|f| f == "agent_error"), "{failures:?}");

    // A judge that prints no JSON fails as it does locally.
    let exp = demo(18);
    edit_toml(&exp, |t| t.replace("\"stand-in\", \"judge\",", "\"stand-in\", \"judge\", \"--garbage\","));
    let out = cluster.run(&exp, &["--json", "reconcile", "-j", "4", "--backend", "slurm", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let status = exp.status(&[]);
    let failures: Vec<String> = crate::util::runs(&status).iter().flat_map(crate::util::failures).collect();
    assert!(failures.iter().any(|f| f == "judge_error"), "{failures:?}");
    assert!(submitted(&exp).iter().any(|n| n.contains("/judge/")));

    let exp = demo(13);
    let before = tree(exp.root());
    edit_toml(&exp, |t| format!("{t}extra_args = [\"--mem=99999999\"]\n"));
    let out = cluster.run(&exp, &["reconcile", "-j", "4", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(2), "a config error");
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.contains("sbatch refuses the jobs darn would submit"), "{said}");
    assert!(said.contains("Requested node configuration is not available"), "{said}");
    // Checked before anything ran: the tree is as it was (darn.toml aside).
    let mut after = tree(exp.root());
    let mut before = before;
    before.remove("darn.toml");
    after.remove("darn.toml");
    assert_eq!(before, after);
    assert!(submitted(&exp).is_empty());
}

/// An agent over its timeout is stopped inside its job and recorded as timed out.
fn timed_out_job(cluster: &Cluster) {
    let exp = demo(14);
    agent_knobs(&exp, "\"--hang\"");
    edit_toml(&exp, |t| t.replace("timeout = \"2m\"", "timeout = \"2s\""));
    let out = cluster.run(&exp, &["--json", "reconcile", "-j", "4", "--backend", "slurm", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let logs: Vec<String> = tree(exp.root())
        .into_iter()
        .filter(|(p, _)| p.ends_with("agent/stderr.log") && !p.contains(".failed"))
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(logs.iter().any(|l| l.contains("darn: the agent timed out after 2 seconds")), "{logs:?}");
    let status = exp.status(&[]);
    let failures: Vec<String> = crate::util::runs(&status).iter().flat_map(crate::util::failures).collect();
    assert!(failures.iter().any(|f| f == "timeout"), "{failures:?}");
    cluster.wait_idle();
}

/// Ctrl-C with jobs pending and running: every job is cancelled, nothing is lost, and the next
/// reconcile finishes the work.
fn ctrl_c_cancels_the_jobs(cluster: &Cluster) {
    let exp = demo(15);
    let before = expensive(exp.root());
    agent_knobs(&exp, "\"--sleep\", \"60\"");
    let child = cluster
        .darn(&exp, &["-q", "reconcile", "-j", "5", "--backend", "slurm"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start darn");
    cluster.wait_for(2, 1);
    // SAFETY: kill(2) on a child we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("darn ends");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(cluster.active_jobs().is_empty(), "left in the queue: {:?}", cluster.active_jobs());
    let cancelled = job_log(&exp).iter().filter(|e| e.0 == "cancelled").count();
    assert!(cancelled >= 3, "{:?}", job_log(&exp));
    edit_toml(&exp, |t| t.replace("\"--sleep\", \"60\",", ""));
    let out = cluster.run(&exp, &["reconcile", "-j", "4", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let after = expensive(exp.root());
    assert!(before.is_subset(&after), "outputs lost");
}

/// A darn killed while its jobs run: the next reconcile takes the jobs up instead of submitting
/// them again.
fn killed_darn_reattaches(cluster: &Cluster) {
    let exp = demo(16);
    let before = expensive(exp.root());
    agent_knobs(&exp, "\"--sleep\", \"4\"");
    let mut child = cluster
        .darn(&exp, &["-q", "reconcile", "-j", "3", "--backend", "slurm"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start darn");
    cluster.wait_for(2, 0);
    // SAFETY: kill(2) on a child we own; SIGKILL cannot be caught.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let first = submitted(&exp);
    assert!(!first.is_empty());
    let out = cluster.run(&exp, &["reconcile", "-j", "3", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let all = submitted(&exp);
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for n in &all {
        *counts.entry(n).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "submitted twice: {twice:?}");
    let attached = job_log(&exp).iter().filter(|e| e.0 == "attached").count();
    assert!(attached >= 1, "{:?}", job_log(&exp));
    assert!(before.is_subset(&expensive(exp.root())), "outputs lost");
    let plan = cluster.run(&exp, &["plan"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));
}

/// The controller stops mid-reconcile: a clear error, nothing lost; after it is back the next
/// reconcile collects the jobs that went on running.
fn controller_down(cluster: &Cluster) {
    let exp = demo(17);
    // Short limits, to find the controller gone in seconds (squeue alone would take 8 s).
    edit_toml(&exp, |t| {
        t.replace("command_timeout = \"20s\"", "command_timeout = \"4s\"")
            .replace("controller_timeout = \"60s\"", "controller_timeout = \"3s\"")
    });
    let before = expensive(exp.root());
    agent_knobs(&exp, "\"--sleep\", \"5\"");
    let child = cluster
        .darn(&exp, &["reconcile", "-j", "2", "--backend", "slurm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start darn");
    cluster.wait_for(2, 0);
    cluster.control("stop-controller");
    let out = child.wait_with_output().expect("darn ends");
    cluster.control("start-controller");
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(said.contains("the Slurm controller has not answered"), "{said}");
    let first = submitted(&exp);
    edit_toml(&exp, |t| {
        t.replace("command_timeout = \"4s\"", "command_timeout = \"20s\"")
            .replace("controller_timeout = \"3s\"", "controller_timeout = \"60s\"")
    });
    let out = cluster.run(&exp, &["reconcile", "-j", "2", "--backend", "slurm"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let all = submitted(&exp);
    for n in &first {
        assert_eq!(all.iter().filter(|a| *a == n).count(), 1, "{n} submitted twice");
    }
    assert!(before.is_subset(&expensive(exp.root())), "outputs lost");
}
