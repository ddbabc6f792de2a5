//! The Slurm backend: each process an execution runs (an agent's command, a judge's call) is one
//! `sbatch` job whose script runs `darn slurm-job`, which runs the process exactly as the local
//! backend does ([`super::process::run`]) and leaves a durable exit record. Everything before
//! and after the process (archive, prompt, workspace, marker, classification, attempt record) is
//! the local backend's own code ([`Local::begin`], [`Local::proceed`]), so the files are the
//! same whichever backend ran them.
//!
//! - Every submission is recorded in `.darn/slurm/<token>.json` (the [`Launch`] and the job id)
//!   before darn waits on it: a reconcile that was killed re-attaches to its jobs still queued or
//!   running, and collects those that ended while it was away, instead of submitting them again.
//! - One poller thread asks for the state of every job in flight with one
//!   `squeue -h -t all -j ID,ID,…` per poll interval; a job missing from the answer is asked
//!   about with `scontrol show job`, and one gone from the controller is resolved from its exit
//!   record.
//! - Every Slurm command has its own time limit; a controller that does not answer for
//!   `[slurm] controller_timeout` ends the waits with an error and leaves the jobs (and their
//!   records) as they are, for the next reconcile.
//! - Ctrl-C cancels darn's jobs (`scancel`), pending and running.

use super::local::{Launch, Local, Ran, node_id};
use super::process::{ProcessSpec, run};
use super::{Backend, ExecError, Executed, Job};
use crate::experiment::settings::SlurmSettings;
use crate::util::shell::quote;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The default time between two `squeue` calls.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// The default limit of one Slurm command (a controller that is down makes `squeue` hang ~18 s).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the controller may not answer before darn stops waiting, by default.
pub const DEFAULT_CONTROLLER_TIMEOUT: Duration = Duration::from_secs(180);
/// Added to an execution's own timeout for the job's time limit (darn's wrapper enforces the
/// timeout itself; Slurm's limit is only a backstop).
const TIME_MARGIN: Duration = Duration::from_secs(300);
/// How long darn waits for cancelled jobs to leave the queue.
const CANCEL_WAIT: Duration = Duration::from_secs(20);
/// The exit status of a job script whose working directory is missing.
const NO_WORKDIR: i32 = 97;

/// What `.darn/slurm/<token>.json` holds: one execution's step in flight.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    node: String,
    /// This submission's name (`<token>-<n>`): its job name is `darn-<name>`, and its script,
    /// spec, exit record and Slurm output files are named after it.
    name: String,
    /// Known once sbatch answered.
    job_id: Option<String>,
    launch: Launch,
}

/// What the job's darn reads: the process to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobSpec {
    process: super::local::ProcessPlan,
    grace: Duration,
}

/// What the job's darn leaves when the process ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExitRecord {
    ran: Ran,
    /// `SLURM_JOB_ID` as the job saw it.
    job_id: Option<String>,
}

/// A job's state as the controller reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not asked about yet, or the answer did not say.
    Unknown,
    /// Pending, running, completing…
    Active(String),
    /// Ended: state, exit status, signal.
    Ended { state: String, exit: i32, signal: i32 },
    /// The controller no longer knows the job (purged after `MinJobAge`).
    Vanished,
}

/// The states a job ends in.
const TERMINAL: [&str; 11] = [
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "CANCELLED",
    "NODE_FAIL",
    "PREEMPTED",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "SPECIAL_EXIT",
    "REVOKED",
];

fn is_terminal(state: &str) -> bool {
    // scontrol may say `CANCELLED+` or `CANCELLED by 0`.
    let base = state.split([' ', '+']).next().unwrap_or(state);
    TERMINAL.contains(&base)
}

/// The state name without decorations.
fn base_state(state: &str) -> &str {
    state.split([' ', '+']).next().unwrap_or(state)
}

/// Parses `squeue -h -O 'JobID:|,State:|,exit_code:|'` lines: id → state. `exit_code` is the raw
/// wait status (`exit 3` gives 768, signal 15 gives 15).
pub fn parse_squeue(out: &str) -> HashMap<String, Seen> {
    let mut seen = HashMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(id), Some(state)) = (fields.first(), fields.get(1)) else { continue };
        if id.is_empty() || state.is_empty() {
            continue;
        }
        let raw: i32 = fields.get(2).and_then(|c| c.parse().ok()).unwrap_or(0);
        let s = if is_terminal(state) {
            Seen::Ended { state: base_state(state).to_string(), exit: (raw >> 8) & 0xff, signal: raw & 0x7f }
        } else {
            Seen::Active((*state).to_string())
        };
        seen.insert((*id).to_string(), s);
    }
    seen
}

/// Parses `scontrol -o show job ID`: `JobState=` and `ExitCode=N:S`.
pub fn parse_scontrol(out: &str) -> Seen {
    let field = |name: &str| {
        out.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    let Some(state) = field("JobState") else { return Seen::Unknown };
    if !is_terminal(&state) {
        return Seen::Active(state);
    }
    let (exit, signal) = field("ExitCode")
        .and_then(|c| c.split_once(':').map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(0))))
        .unwrap_or((0, 0));
    Seen::Ended { state: base_state(&state).to_string(), exit, signal }
}

/// What an ended job came to, from its state and the exit record its darn left (if any).
/// `waited`: how long darn waited for it (a job Slurm timed out records no run time).
pub fn resolve(job: &str, seen: &Seen, record: Option<Ran>, cancelled_by_darn: bool, waited: f64, err: &Path) -> Ran {
    let state = match seen {
        Seen::Ended { state, .. } => state.as_str(),
        Seen::Vanished => "gone",
        _ => "unknown",
    };
    if let Some(ran) = record {
        return match ran {
            // The job's darn was stopped, and not by this darn: Slurm preempted or cancelled it.
            Ran::Cancelled if !cancelled_by_darn => Ran::Lost {
                message: format!("the Slurm job {job} was stopped by Slurm ({state}) before the command ended"),
                permanent: false,
            },
            other => other,
        };
    }
    if cancelled_by_darn {
        return Ran::Cancelled;
    }
    let tail = std::fs::read_to_string(err)
        .ok()
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    let lost = |message: String, permanent| Ran::Lost { message, permanent };
    match seen {
        Seen::Ended { state, exit, signal } => match state.as_str() {
            "TIMEOUT" | "DEADLINE" => Ran::Exited { returncode: -15, seconds: waited, timed_out: true },
            "OUT_OF_MEMORY" => lost(format!("the Slurm job {job} ran out of memory (see [slurm] mem){tail}"), true),
            "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" | "CANCELLED" | "REVOKED" => {
                lost(format!("the Slurm job {job} ended {state} before the command ended{tail}"), false)
            }
            "FAILED" if *exit == NO_WORKDIR => lost(
                format!(
                    "the Slurm job {job} could not enter its working directory (is the experiment on a file system the compute nodes share?){tail}"
                ),
                true,
            ),
            _ => lost(
                format!(
                    "the Slurm job {job} ended {state} (exit code {exit}:{signal}) without an exit record; see {}{tail}",
                    err.display()
                ),
                true,
            ),
        },
        _ => lost(format!("the Slurm job {job} left the queue without an exit record{tail}"), false),
    }
}

/// Runs one Slurm command with a time limit; its standard output, or why it failed.
fn command(argv: &[String], timeout: Duration) -> Result<String, String> {
    let tmp = tempfile::Builder::new().prefix("darn-slurm-").tempdir().map_err(|e| format!("a temp directory: {e}"))?;
    let (out, err) = (tmp.path().join("out"), tmp.path().join("err"));
    let spec = ProcessSpec::new(argv.to_vec(), &out, &err).timeout(timeout).grace(Duration::from_secs(1));
    let name = argv.first().cloned().unwrap_or_default();
    let o = run(&spec).map_err(|e| e.to_string())?;
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    if o.timed_out {
        return Err(format!("`{name}` did not answer within {} s", timeout.as_secs_f64()));
    }
    if !o.exit.success() {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(format!("`{name}` exited with {}: {last}", o.exit.returncode()));
    }
    Ok(stdout)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The jobs in flight and what the controller last said about them.
#[derive(Default)]
struct PollState {
    jobs: HashMap<String, Seen>,
    thread: bool,
    /// Since when the controller does not answer, and its last error.
    failing: Option<(Instant, String)>,
    polls: u64,
}

struct Poller {
    state: Mutex<PollState>,
    cv: Condvar,
    poll: Duration,
    timeout: Duration,
}

impl Poller {
    fn lock(&self) -> std::sync::MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn watch(self: &Arc<Self>, id: &str) {
        let mut st = self.lock();
        st.jobs.entry(id.to_string()).or_insert(Seen::Unknown);
        if !st.thread {
            st.thread = true;
            let me = Arc::clone(self);
            let spawned = std::thread::Builder::new().name("darn-squeue".into()).spawn(move || me.run());
            if spawned.is_err() {
                st.thread = false;
            }
        }
    }

    fn unwatch(&self, id: &str) {
        self.lock().jobs.remove(id);
    }

    /// The poll loop: one squeue for every job in flight, scontrol for the ones it omits.
    fn run(&self) {
        loop {
            let ids: Vec<String> = {
                let mut st = self.lock();
                if st.jobs.is_empty() {
                    st.thread = false;
                    st.failing = None;
                    return;
                }
                st.jobs
                    .iter()
                    .filter(|(_, s)| !matches!(s, Seen::Ended { .. } | Seen::Vanished))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            if !ids.is_empty() {
                let argv =
                    strings(&["squeue", "-h", "-t", "all", "-j", &ids.join(","), "-O", "JobID:|,State:|,exit_code:|"]);
                let answer = match command(&argv, self.timeout) {
                    Ok(out) => Ok(parse_squeue(&out)),
                    // One id that was purged: squeue fails with this; several: it leaves it out.
                    Err(e) if e.contains("Invalid job id") => Ok(HashMap::new()),
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(mut seen) => {
                        let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
                        for id in missing {
                            let argv = strings(&["scontrol", "-o", "show", "job", id]);
                            let s = match command(&argv, self.timeout) {
                                Ok(out) => parse_scontrol(&out),
                                Err(e) if e.contains("Invalid job id") => Seen::Vanished,
                                Err(_) => Seen::Unknown,
                            };
                            seen.insert(id.clone(), s);
                        }
                        let mut st = self.lock();
                        st.failing = None;
                        st.polls += 1;
                        for (id, s) in seen {
                            if let Some(slot) = st.jobs.get_mut(&id)
                                && s != Seen::Unknown
                            {
                                *slot = s;
                            }
                        }
                    }
                    Err(e) => {
                        let mut st = self.lock();
                        st.polls += 1;
                        let since = st.failing.as_ref().map_or_else(Instant::now, |(t, _)| *t);
                        st.failing = Some((since, e));
                    }
                }
                self.cv.notify_all();
            }
            std::thread::sleep(self.poll);
        }
    }
}

/// How waiting for a job ended.
enum Waited {
    Ran(Ran),
    /// darn stops waiting; the job and its record stay (the message says why).
    Detached(String),
}

/// Runs executions as Slurm jobs.
pub struct Slurm {
    pub local: Local,
    settings: SlurmSettings,
    /// `.darn/slurm/`.
    dir: PathBuf,
    exe: PathBuf,
    poller: Arc<Poller>,
    command_timeout: Duration,
    controller_timeout: Duration,
    submissions: AtomicU64,
}

impl Slurm {
    /// A backend for `local`'s experiment; checks that `sbatch` is on PATH and the directory
    /// for the job records can be made.
    pub fn new(local: Local, settings: &SlurmSettings) -> Result<Slurm, String> {
        let exe = std::env::current_exe().map_err(|e| format!("the darn executable's path: {e}"))?;
        let dir = local.exp.root.join(".darn").join("slurm");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = std::env::var_os("PATH");
        for program in ["sbatch", "squeue", "scontrol", "scancel"] {
            super::process::find_program(program, path.as_deref(), None)
                .map_err(|e| format!("--backend slurm: {e}"))?;
        }
        let command_timeout = settings.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        Ok(Slurm {
            local,
            settings: settings.clone(),
            dir,
            exe,
            poller: Arc::new(Poller {
                state: Mutex::new(PollState::default()),
                cv: Condvar::new(),
                poll: settings.poll.unwrap_or(DEFAULT_POLL).max(Duration::from_millis(50)),
                timeout: command_timeout,
            }),
            command_timeout,
            controller_timeout: settings.controller_timeout.unwrap_or(DEFAULT_CONTROLLER_TIMEOUT),
            submissions: AtomicU64::new(0),
        })
    }

    /// Asks sbatch whether it would take the jobs, submitting nothing (`--test-only`): a bad
    /// partition, account or `mem`, or a controller that does not answer, is found before any
    /// execution starts. `limit`: the longest execution timeout.
    pub fn check(&self, limit: Duration) -> Result<(), String> {
        let script = self.dir.join("check.sh");
        crate::util::fs::write_unsynced(&script, b"#!/bin/sh\ntrue\n")
            .and_then(|()| crate::util::fs::set_mode(&script, 0o755))
            .map_err(|e| format!("{}: {e}", script.display()))?;
        let mut argv = self.sbatch_argv("check", &script, limit);
        argv.insert(1, "--test-only".to_string());
        let checked = command(&argv, self.command_timeout);
        let _ = std::fs::remove_file(&script);
        checked.map(|_| ()).map_err(|e| format!("--backend slurm: sbatch refuses the jobs darn would submit: {e}"))
    }

    fn record_path(&self, token: &str) -> PathBuf {
        self.dir.join(format!("{token}.json"))
    }

    fn file(&self, name: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{name}.{ext}"))
    }

    /// Writes a file durably (temp file, rename, filesystem sync).
    fn durable_write(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        crate::util::fs::write_unsynced(path, bytes)
            .and_then(|()| crate::util::fs::sync_tree(&self.dir))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn save(&self, token: &str, record: &Record) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
        self.durable_write(&self.record_path(token), &bytes)
    }

    /// Appends one line to `.darn/slurm/jobs.log` (what was submitted and how it ended).
    fn log(&self, line: &str) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("jobs.log")) {
            let _ = f.write_all(format!("{} {line}\n", crate::util::time::now_iso()).as_bytes());
        }
    }

    /// Removes a submission's files (the Slurm output files only when empty).
    fn clean(&self, name: &str) {
        for ext in ["sh", "spec.json", "exit.json"] {
            let _ = std::fs::remove_file(self.file(name, ext));
        }
        for ext in ["out", "err"] {
            let p = self.file(name, ext);
            if std::fs::metadata(&p).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// The record of a job of `node` still in flight, when its launch is still the one on disk
    /// (its incomplete marker unchanged).
    fn attached(&self, token: &str, node: &str) -> Option<Record> {
        let path = self.record_path(token);
        let bytes = std::fs::read(&path).ok()?;
        let record: Option<Record> = serde_json::from_slice(&bytes).ok();
        match record {
            Some(r)
                if r.node == node
                    && std::fs::read_to_string(&r.launch.marker).is_ok_and(|m| m == r.launch.marker_text) =>
            {
                Some(r)
            }
            other => {
                // Stale: the execution was finished or redone another way.
                if let Some(r) = other {
                    self.clean(&r.name);
                }
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// The sbatch arguments of a job.
    fn sbatch_argv(&self, name: &str, script: &Path, timeout: Duration) -> Vec<String> {
        let s = &self.settings;
        let limit = s.time.unwrap_or_else(|| timeout.saturating_add(TIME_MARGIN));
        let minutes = limit.as_secs().div_ceil(60).max(1);
        let mut argv = strings(&["sbatch", "--parsable"]);
        argv.push(format!("--job-name=darn-{name}"));
        argv.push(format!("--chdir={}", self.dir.display()));
        argv.push(format!("--output={}", self.file(name, "out").display()));
        argv.push(format!("--error={}", self.file(name, "err").display()));
        argv.push(format!("--time={minutes}"));
        for (flag, value) in
            [("--partition", &s.partition), ("--account", &s.account), ("--qos", &s.qos), ("--mem", &s.mem)]
        {
            if let Some(v) = value {
                argv.push(format!("{flag}={v}"));
            }
        }
        if let Some(c) = s.cpus_per_task {
            argv.push(format!("--cpus-per-task={c}"));
        }
        argv.extend(s.extra_args.iter().cloned());
        argv.push(script.display().to_string());
        argv
    }

    /// Submits a launch as a job, recording it before and after sbatch. `Err`: it was not
    /// submitted (the message says why).
    fn submit(&self, token: &str, node: &str, launch: &Launch) -> Result<Record, String> {
        let n = self.submissions.fetch_add(1, Ordering::SeqCst);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{token}-{}{n}", stamp.as_millis());
        let spec = JobSpec { process: launch.process.clone(), grace: self.local.grace };
        let spec_path = self.file(&name, "spec.json");
        let exit_path = self.file(&name, "exit.json");
        let script_path = self.file(&name, "sh");
        let dir = self.dir.display().to_string();
        let script = format!(
            "#!/bin/sh\n# darn: {node}\ncd {d} || {{ echo \"darn: the job's working directory {d} is missing on $(hostname): is the experiment on a file system the compute nodes share?\" >&2; exit {NO_WORKDIR}; }}\nexec {exe} slurm-job {spec} {exit}\n",
            d = quote(&dir),
            exe = quote(&self.exe.display().to_string()),
            spec = quote(&spec_path.display().to_string()),
            exit = quote(&exit_path.display().to_string()),
        );
        let spec_bytes = serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?;
        crate::util::fs::write_unsynced(&spec_path, &spec_bytes)
            .and_then(|()| crate::util::fs::write_unsynced(&script_path, script.as_bytes()))
            .and_then(|()| crate::util::fs::set_mode(&script_path, 0o755))
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut record = Record { node: node.to_string(), name: name.clone(), job_id: None, launch: launch.clone() };
        // Recorded before sbatch: a kill between the two is found again by the job's name.
        self.save(token, &record)?;
        let argv = self.sbatch_argv(&name, &script_path, launch.process.timeout);
        match command(&argv, self.command_timeout) {
            Ok(out) => {
                let id = out.trim().split(';').next().unwrap_or("").trim().to_string();
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
                    return Err(format!("sbatch printed no job id: {}", out.trim()));
                }
                record.job_id = Some(id.clone());
                if let Err(e) = self.save(token, &record) {
                    // The job is submitted but its id could not be kept: cancel it rather
                    // than lose track of it.
                    let _ = command(&strings(&["scancel", &id]), self.command_timeout);
                    return Err(e);
                }
                self.log(&format!("submitted {id} {node}"));
                Ok(record)
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.record_path(token));
                self.clean(&name);
                Err(format!("could not submit the Slurm job: {e}"))
            }
        }
    }

    /// The job id of a record whose sbatch answer was lost (darn killed meanwhile), by name.
    fn find_by_name(&self, name: &str) -> Result<Option<String>, String> {
        let argv = strings(&["squeue", "-h", "-t", "all", "-n", &format!("darn-{name}"), "-o", "%i"]);
        let out = command(&argv, self.command_timeout)?;
        Ok(out.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string))
    }

    fn read_exit(&self, name: &str) -> Option<ExitRecord> {
        std::fs::read(self.file(name, "exit.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Waits for a job to end (or Ctrl-C, or the controller to stay silent too long).
    fn wait(&self, record: &Record, cancel: &Arc<AtomicBool>) -> Waited {
        let Some(id) = record.job_id.clone() else { return Waited::Detached("no job id".into()) };
        let started = Instant::now();
        self.poller.watch(&id);
        let err = self.file(&record.name, "err");
        let mut cancelled_at: Option<Instant> = None;
        loop {
            if cancel.load(Ordering::SeqCst) && cancelled_at.is_none() {
                if let Err(e) = command(&strings(&["scancel", &id]), self.command_timeout) {
                    self.poller.unwatch(&id);
                    return Waited::Detached(format!(
                        "could not cancel the Slurm job {id} ({e}); it is left in the queue and the next reconcile takes it up"
                    ));
                }
                self.log(&format!("cancelled {id} {}", record.node));
                cancelled_at = Some(Instant::now());
            }
            let seen = {
                let st = self.poller.lock();
                let st = self
                    .poller
                    .cv
                    .wait_timeout(st, Duration::from_millis(100))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                // Counted from when this job was submitted at the earliest: sbatch answered then.
                if let Some((since, e)) = &st.failing
                    && (*since).max(started).elapsed() >= self.controller_timeout
                {
                    let msg = format!(
                        "the Slurm controller has not answered for {} s ({e}); the job {id} is left as it is, and the next reconcile takes it up",
                        (*since).max(started).elapsed().as_secs()
                    );
                    drop(st);
                    self.poller.unwatch(&id);
                    return Waited::Detached(msg);
                }
                st.jobs.get(&id).cloned().unwrap_or(Seen::Unknown)
            };
            let ended = matches!(seen, Seen::Ended { .. } | Seen::Vanished);
            if let Some(t) = cancelled_at
                && !ended
                && t.elapsed() > CANCEL_WAIT
            {
                self.poller.unwatch(&id);
                return Waited::Ran(Ran::Cancelled);
            }
            if !ended {
                continue;
            }
            self.poller.unwatch(&id);
            // The exit record is written before the job ends; on a shared file system it may
            // take a moment to show.
            let mut exit = self.read_exit(&record.name);
            let patience = Instant::now();
            while exit.is_none()
                && cancelled_at.is_none()
                && matches!(&seen, Seen::Ended { state, .. } if state == "COMPLETED")
                && patience.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(100));
                exit = self.read_exit(&record.name);
            }
            let state = match &seen {
                Seen::Ended { state, exit, signal } => format!("{state} {exit}:{signal}"),
                _ => "gone".to_string(),
            };
            let inside = exit.as_ref().and_then(|e| e.job_id.clone()).unwrap_or_else(|| "-".into());
            self.log(&format!("ended {id} {} {state} job={inside}", record.node));
            let ran =
                resolve(&id, &seen, exit.map(|e| e.ran), cancelled_at.is_some(), started.elapsed().as_secs_f64(), &err);
            return Waited::Ran(ran);
        }
    }

    /// An execution whose job could not be waited for: its files stay as they are (the marker
    /// says incomplete), nothing is classified.
    fn detached(message: String) -> Executed {
        Executed { error: Some(ExecError::Setup(message)), permanent: true, ..Executed::default() }
    }
}

impl Backend for Slurm {
    fn execute(&self, job: &Job, cancel: &Arc<AtomicBool>) -> Executed {
        let node = node_id(&self.local.exp, job);
        let token = crate::util::hash::short_hex(&crate::util::hash::hash_bytes(node.as_bytes()));
        // A job of this execution submitted by an earlier reconcile: take it up.
        let mut pending: Option<(Record, Launch)> = None;
        if let Some(mut record) = self.attached(&token, &node) {
            let launch = record.launch.clone();
            if record.job_id.is_none() {
                match self.find_by_name(&record.name) {
                    Ok(Some(id)) => {
                        record.job_id = Some(id);
                        let _ = self.save(&token, &record);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        return Self::detached(format!(
                            "could not ask Slurm about the job of an earlier reconcile: {e}"
                        ));
                    }
                }
            }
            if record.job_id.is_some() {
                self.log(&format!("attached {} {node}", record.job_id.as_deref().unwrap_or("")));
                pending = Some((record, launch));
            } else if let Some(exit) = self.read_exit(&record.name) {
                // It ran and left the queue while no darn watched.
                self.clean(&record.name);
                let _ = std::fs::remove_file(self.record_path(&token));
                let step = self.local.proceed(job.run, launch, exit.ran);
                return self.drive(job, &node, &token, step, cancel);
            } else {
                // Never submitted: submit the same launch.
                let _ = std::fs::remove_file(self.record_path(&token));
                self.clean(&record.name);
                return self.drive(job, &node, &token, super::local::Step::Launch(Box::new(launch)), cancel);
            }
        }
        if let Some((record, launch)) = pending {
            return self.after_wait(job, &node, &token, record, launch, cancel);
        }
        let step = self.local.begin(job, cancel);
        self.drive(job, &node, &token, step, cancel)
    }
}

impl Slurm {
    /// Carries an execution through its steps, each process as a job.
    fn drive(
        &self,
        job: &Job,
        node: &str,
        token: &str,
        step: super::local::Step,
        cancel: &Arc<AtomicBool>,
    ) -> Executed {
        match step {
            super::local::Step::Done(result) => result,
            super::local::Step::Launch(launch) => {
                if cancel.load(Ordering::SeqCst) {
                    let step = self.local.proceed(job.run, *launch, Ran::Cancelled);
                    return self.drive(job, node, token, step, cancel);
                }
                match self.submit(token, node, &launch) {
                    Ok(record) => self.after_wait(job, node, token, record, *launch, cancel),
                    Err(e) => Self::detached(e),
                }
            }
        }
    }

    fn after_wait(
        &self,
        job: &Job,
        node: &str,
        token: &str,
        record: Record,
        launch: Launch,
        cancel: &Arc<AtomicBool>,
    ) -> Executed {
        match self.wait(&record, cancel) {
            Waited::Detached(msg) => Self::detached(msg),
            Waited::Ran(ran) => {
                let step = self.local.proceed(job.run, launch, ran);
                // The execution's files are durable (or the next step is recorded): the job's
                // record has served.
                self.clean(&record.name);
                let _ = std::fs::remove_file(self.record_path(token));
                self.drive(job, node, token, step, cancel)
            }
        }
    }
}

/// Whether a Slurm reconcile left records of jobs in flight in `.darn/slurm/`.
pub fn jobs_recorded(root: &Path) -> bool {
    std::fs::read_dir(root.join(".darn").join("slurm")).is_ok_and(|d| {
        d.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".json") && name.matches('.').count() == 1
        })
    })
}

/// `darn slurm-job SPEC EXIT`, inside a job: runs the process the spec names the way the local
/// backend does, and writes how it ended to EXIT, durably. Exit status 0 once EXIT is written.
pub fn job_main(spec: &Path, exit: &Path) -> i32 {
    // scancel sends SIGTERM: stop the process group the local way, and record it.
    crate::util::interrupt::install();
    let ran = match std::fs::read(spec)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<JobSpec>(&b).map_err(|e| format!("{}: {e}", spec.display())))
    {
        Ok(s) => Ran::from_result(run(&s.process.spec(s.grace, &crate::util::interrupt::INTERRUPTED))),
        Err(e) => Ran::NotStarted(format!("{}: {e}", spec.display())),
    };
    let record = ExitRecord { ran, job_id: std::env::var("SLURM_JOB_ID").ok() };
    let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    let dir = exit.parent().unwrap_or(Path::new("."));
    match crate::util::fs::write_unsynced(exit, &bytes).and_then(|()| crate::util::fs::sync_tree(dir)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("darn slurm-job: {}: {e}", exit.display());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_records_round_trip() {
        for ran in [
            Ran::Exited { returncode: -9, seconds: 1.5, timed_out: true },
            Ran::Cancelled,
            Ran::NotStarted("program `x` not found".into()),
            Ran::Lost { message: "node lost".into(), permanent: false },
        ] {
            let record = ExitRecord { ran: ran.clone(), job_id: Some("7".into()) };
            let bytes = serde_json::to_vec(&record).expect("serialize");
            let back: ExitRecord = serde_json::from_slice(&bytes).expect("parse");
            assert_eq!(back.ran, ran);
            assert_eq!(back.job_id.as_deref(), Some("7"));
        }
    }

    #[test]
    fn squeue_lines() {
        let seen = parse_squeue("1|COMPLETED|0|\n2|FAILED|768|\n3|PENDING|0|\n4|CANCELLED|15|\n\n");
        assert_eq!(seen["1"], Seen::Ended { state: "COMPLETED".into(), exit: 0, signal: 0 });
        assert_eq!(seen["2"], Seen::Ended { state: "FAILED".into(), exit: 3, signal: 0 });
        assert_eq!(seen["3"], Seen::Active("PENDING".into()));
        assert_eq!(seen["4"], Seen::Ended { state: "CANCELLED".into(), exit: 0, signal: 15 });
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn scontrol_fields() {
        let out = "JobId=4 JobName=x JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 DerivedExitCode=0:0";
        assert_eq!(parse_scontrol(out), Seen::Ended { state: "FAILED".into(), exit: 3, signal: 0 });
        assert_eq!(parse_scontrol("JobId=5 JobState=RUNNING Reason=None"), Seen::Active("RUNNING".into()));
        assert_eq!(
            parse_scontrol("JobId=6 JobState=CANCELLED+ ExitCode=0:15"),
            Seen::Ended { state: "CANCELLED".into(), exit: 0, signal: 15 }
        );
        assert_eq!(parse_scontrol("garbage"), Seen::Unknown);
    }

    #[test]
    fn states_map_to_outcomes() {
        let err = Path::new("/nonexistent/x.err");
        let ended = |s: &str, exit| Seen::Ended { state: s.into(), exit, signal: 0 };
        let ok = Ran::Exited { returncode: 0, seconds: 1.0, timed_out: false };
        // The exit record wins whatever the state.
        assert_eq!(resolve("1", &ended("COMPLETED", 0), Some(ok.clone()), false, 1.0, err), ok);
        assert_eq!(resolve("1", &Seen::Vanished, Some(ok.clone()), false, 1.0, err), ok);
        // Cancelled by Slurm (preempted): a transient loss; by darn: cancelled.
        assert!(matches!(
            resolve("1", &ended("PREEMPTED", 0), Some(Ran::Cancelled), false, 1.0, err),
            Ran::Lost { permanent: false, .. }
        ));
        assert_eq!(resolve("1", &ended("CANCELLED", 0), None, true, 1.0, err), Ran::Cancelled);
        assert_eq!(
            resolve("1", &ended("TIMEOUT", 0), None, false, 7.0, err),
            Ran::Exited { returncode: -15, seconds: 7.0, timed_out: true }
        );
        assert_eq!(
            resolve("1", &ended("DEADLINE", 0), None, false, 7.0, err),
            Ran::Exited { returncode: -15, seconds: 7.0, timed_out: true }
        );
        for transient in ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "CANCELLED"] {
            assert!(
                matches!(resolve("1", &ended(transient, 0), None, false, 1.0, err), Ran::Lost { permanent: false, .. }),
                "{transient}"
            );
        }
        for permanent in ["OUT_OF_MEMORY", "FAILED", "COMPLETED"] {
            assert!(
                matches!(resolve("1", &ended(permanent, 1), None, false, 1.0, err), Ran::Lost { permanent: true, .. }),
                "{permanent}"
            );
        }
        let Ran::Lost { message, .. } = resolve("9", &ended("FAILED", NO_WORKDIR), None, false, 1.0, err) else {
            panic!("lost")
        };
        assert!(message.contains("working directory"), "{message}");
        assert!(matches!(resolve("1", &Seen::Vanished, None, false, 1.0, err), Ran::Lost { permanent: false, .. }));
    }
}
