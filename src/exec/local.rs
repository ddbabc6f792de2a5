//! Executing an agent run or a judge call the way the runner does (docs/format.md#execution), writing every
//! file the runner would write, and classifying the result. Regeneration rules take over
//! downstream (agent result, timing, judgments, consensus, reports).

use super::process::{ProcessSpec, run};
use super::template::{Placeholder, Values, expand_command, expand_path, validate_command, validate_path};
use super::wait::rate_limit_wait;
use super::{Backend, ExecError, Executed, Job};
use crate::experiment::era::RunnerShape;
use crate::experiment::names::{run_dir_name, slot_dir_name};
use crate::experiment::{Experiment, Layout};
use crate::observe::agent::INCOMPLETE_MARKER;
use crate::rules::content::runner_files::{self, LoggedCommand};
use crate::rules::{Execution, FailureClass, Finding};
use crate::util::time::now_iso;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The judge's default wall-clock limit (the runner's).
pub const JUDGE_TIMEOUT: Duration = Duration::from_secs(1200);
/// How long darn may sleep for a rate limit before it stops launching instead.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);

/// What the judges are told when their first answer had no parseable verdict.
const JSON_REMINDER: &str = "\n\nIMPORTANT: respond only with the JSON object described above (score, passed, reasoning), with no other text.\n";

pub use crate::rules::OutcomeFn;

/// One execution attempt, for `darn_attempts.json`.
struct Attempt<'a> {
    file: &'a Path,
    node: &'a str,
    attempt: u32,
    /// Where the previous outputs were archived.
    previous: Option<&'a Path>,
    outcome: &'a str,
    started: &'a str,
    previous_class: Option<FailureClass>,
}

/// Runs executions as local processes.
pub struct Local {
    pub exp: Arc<Experiment>,
    pub outcome: Arc<OutcomeFn>,
    /// Grace between SIGTERM and SIGKILL.
    pub grace: Duration,
}

fn fail(class: FailureClass, error: impl Into<String>) -> Executed {
    Executed { ok: false, error: Some(ExecError::Setup(error.into())), failure: Some(class), ..Executed::default() }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // Synced once per execution (see `durable`), not once per file.
    crate::util::fs::write_unsynced(path, bytes.as_ref()).map_err(|e| format!("{}: {e}", path.display()))
}

fn executable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The `total_cost_usd` of a Claude Code result (a JSON object or a stream's result event).
fn cost_of(stdout: &str) -> f64 {
    match crate::observe::claude::parse_stdout(stdout) {
        crate::observe::claude::Stdout::Json(r) => r.total_cost_usd.unwrap_or(0.0),
        _ => crate::observe::claude::result_line_cost(stdout).unwrap_or(0.0),
    }
}

/// Checks, before anything runs, that what will run can: every command template of `darn.toml`
/// parses (a misspelt placeholder, an empty command), and the program of each command about to
/// be used exists. A config error (exit 2) instead of a failure of the first execution.
/// `programs`: also look the programs up on this machine's PATH (not for `plan`, which may run
/// where the executions will not).
pub fn check_config(exp: &Experiment, agents: bool, judges: bool, programs: bool) -> crate::error::Result<()> {
    let s = &exp.settings;
    let config = s.source.as_deref();
    let commands = [
        ("[agent] command", s.agent.command.as_deref(), agents),
        ("[agent] prepare", s.agent.prepare.as_deref(), agents),
        ("[judge] command", s.judge.command.as_deref(), judges),
    ];
    // A pipeline step whose tool is missing is a failed step, recorded in the judges' prompt as
    // the runner does: its template must parse, its program need not exist.
    let steps = s.pipeline.steps.iter().map(|step| ("[pipeline] step command", Some(step.command.as_slice()), false));
    for (key, template, used) in commands.into_iter().chain(steps) {
        if let Some(t) = template {
            validate_command(t, key).map_err(|e| e.into_error(config))?;
        }
        // The program itself, when it is written out (not a placeholder, not relative to the
        // workspace the command runs in).
        let program = match template.and_then(|t| t.first()) {
            Some(crate::experiment::settings::ArgTemplate::Arg(p)) => Some(p.as_str()),
            Some(crate::experiment::settings::ArgTemplate::Group(_)) => None,
            None if key != "[agent] prepare" => Some("claude"),
            None => None,
        };
        if let Some(p) =
            program.filter(|p| programs && used && !p.contains('{') && (p.starts_with('/') || !p.contains('/')))
        {
            let path = std::env::var_os("PATH");
            if let Err(e) = super::process::find_program(p, path.as_deref(), None) {
                let hint = if template.is_none() { " (install Claude Code, or set it in darn.toml)" } else { "" };
                let msg = format!("{key}: {e}{hint}");
                return Err(match config {
                    Some(file) => crate::error::Error::bad_file(file, msg),
                    None => crate::error::Error::Usage(msg),
                });
            }
        }
    }
    if let Some(stdin) = &s.judge.stdin {
        validate_path(stdin, "[judge] stdin").map_err(|e| e.into_error(config))?;
    }
    Ok(())
}

impl Local {
    fn max_wait(&self) -> Duration {
        self.exp.settings.execution.max_rate_limit_wait.unwrap_or(MAX_RATE_LIMIT_WAIT)
    }

    fn config_file(&self) -> Option<&Path> {
        self.exp.settings.source.as_deref()
    }

    /// A path from `darn.toml`, relative to the experiment when not absolute.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.exp.root.join(p) }
    }

    /// The judges' system prompt, when configured.
    fn system_prompt(&self) -> Option<PathBuf> {
        self.exp.settings.judge.system_prompt.as_deref().map(|p| self.resolve(p))
    }

    /// Records one execution attempt in the run, so re-executions stay visible in the results.
    fn record_attempt(&self, a: &Attempt) {
        let Attempt { file, node, attempt, previous, outcome, started, previous_class } = *a;
        // Judges of one run end together (on Slurm, at the same poll): one read-modify-write of
        // the run's record at a time, or one would lose the other's entry.
        static RECORDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = RECORDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let read = |f: &Path| std::fs::read(f).ok().and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok());
        // A re-executed agent starts a fresh run directory: its history comes along from the
        // archived one (which keeps its own copy).
        let mut history: Vec<Value> =
            read(file).or_else(|| previous.and_then(|p| read(&p.join("darn_attempts.json")))).unwrap_or_default();
        // The failure that made this attempt necessary: the last recorded one (a retry within
        // this reconcile), else what the plan found on disk.
        let recorded = history
            .iter()
            .rev()
            .find(|r| r["node"] == node)
            .and_then(|r| r["outcome"].as_str())
            .and_then(FailureClass::parse);
        history.push(json!({
            "node": node,
            "attempt": attempt,
            "previous_failure": recorded.or(previous_class).map(FailureClass::name),
            "previous_outputs": previous.map(path_str),
            "started_at": started,
            "finished_at": now_iso(),
            "outcome": outcome,
            "darn_version": env!("CARGO_PKG_VERSION"),
        }));
        let _ = write(file, serde_json::to_string_pretty(&Value::Array(history)).unwrap_or_default());
    }

    /// How many attempts of this run or slot the archives already hold.
    fn archived_attempts(failed_dir: &Path, name: &str) -> u32 {
        std::fs::read_dir(failed_dir)
            .map(|d| {
                d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{name}_attempt_"))).count()
            })
            .unwrap_or(0) as u32
    }
}

impl Backend for Local {
    fn execute(&self, job: &Job, cancel: &Arc<AtomicBool>) -> Executed {
        let mut step = self.begin(job, cancel);
        loop {
            match step {
                Step::Done(result) => return result,
                Step::Launch(launch) => {
                    let ran = Ran::from_result(run(&launch.process.spec(self.grace, cancel)));
                    step = self.proceed(job.run, *launch, ran);
                }
            }
        }
    }
}

/// Where an execution is between its steps: preparing (archive, prompt, workspace, marker),
/// running one process, and classifying what it left. Backends differ only in how they run the
/// process ([`Launch::process`]); the local backend runs it here, the Slurm backend in a job.
#[derive(Debug)]
pub enum Step {
    /// A process to run, then give to [`Local::proceed`].
    Launch(Box<Launch>),
    /// The execution is over.
    Done(Executed),
}

/// The process of one step, as data: what a Slurm job's darn runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessPlan {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub env_remove: Vec<String>,
    pub timeout: Duration,
}

impl ProcessPlan {
    /// The spec [`run`] takes.
    pub fn spec(&self, grace: Duration, cancel: &Arc<AtomicBool>) -> ProcessSpec {
        let mut spec = ProcessSpec::new(self.argv.clone(), &self.stdout, &self.stderr)
            .cwd(&self.cwd)
            .timeout(self.timeout)
            .grace(grace)
            .cancel(Arc::clone(cancel));
        if let Some(stdin) = &self.stdin {
            spec = spec.stdin(stdin);
        }
        for key in &self.env_remove {
            spec = spec.env_remove(key);
        }
        spec
    }
}

/// How the process of a step ended, wherever it ran (serializable: a Slurm job's darn writes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Ran {
    /// It ran: Python's `returncode` (minus the signal), its run time, whether it timed out.
    Exited { returncode: i32, seconds: f64, timed_out: bool },
    /// Stopped by Ctrl-C (darn's or the job's).
    Cancelled,
    /// It could not be started (the message names the program or the file).
    NotStarted(String),
    /// Where it ran failed under it (a node lost, a job preempted); `permanent`: running it again
    /// the same way would fail the same way.
    Lost { message: String, permanent: bool },
}

impl Ran {
    pub fn from_result(r: Result<super::process::Outcome, super::process::ProcessError>) -> Ran {
        match r {
            Ok(o) if o.cancelled => Ran::Cancelled,
            Ok(o) => Ran::Exited {
                returncode: o.exit.returncode(),
                seconds: o.duration.as_secs_f64(),
                timed_out: o.timed_out,
            },
            Err(e) => Ran::NotStarted(e.to_string()),
        }
    }
}

/// What the attempt record of an execution needs, from its start to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptInfo {
    /// The node id (`T0/00/run_01/agent`).
    pub node: String,
    started: String,
    archived: Option<PathBuf>,
    number: u32,
    previous: Option<String>,
    /// The run directory the record goes into (unless the execution moved it).
    dir: PathBuf,
}

/// A step whose process is to run: everything [`Local::proceed`] needs afterwards, so that a
/// reconcile that was killed can take it up again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub attempt: AttemptInfo,
    pub process: ProcessPlan,
    /// The incomplete marker written before the launch, and its contents.
    pub marker: PathBuf,
    pub marker_text: String,
    state: LaunchState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum LaunchState {
    Agent {
        run_dir: PathBuf,
        pre: LoggedCommand,
        model: String,
    },
    Judge {
        slot: usize,
        run_dir: PathBuf,
        slot_dir: PathBuf,
        model: String,
        stdin: PathBuf,
        try_no: u32,
        total: f64,
        cost: f64,
    },
}

/// The node id of a job (`T0/00/run_01/agent`, `T0/00/run_01/judge/judge_01`).
pub fn node_id(exp: &Experiment, job: &Job) -> String {
    let key = &exp.runs[job.run].key;
    match job.what {
        Execution::Agent => format!("{key}/agent"),
        Execution::Judge(slot) => format!("{key}/judge/{}", slot_dir_name(usize::from(slot))),
    }
}

/// The longest time limit an execution of `exp` has (agent or judge).
pub fn longest_timeout(exp: &Experiment) -> Duration {
    let agent = exp.settings.agent.timeout.unwrap_or(Duration::from_secs(exp.config.timeout_seconds.max(1)));
    agent.max(exp.settings.judge.timeout.unwrap_or(JUDGE_TIMEOUT))
}

fn marker_text() -> String {
    format!("pid {}\nstarted {}\n", std::process::id(), now_iso())
}

impl Local {
    /// Prepares an execution: its first process to run, or its end when it cannot start.
    pub fn begin(&self, job: &Job, cancel: &Arc<AtomicBool>) -> Step {
        match job.what {
            Execution::Agent => self.agent(job.run, job.previous, cancel),
            Execution::Judge(slot) => self.judge(job.run, usize::from(slot), job.previous),
        }
    }

    /// Takes an execution on after its process ended: classifies, records the attempt, makes the
    /// files durable; or the next process to run (a judge's second try).
    pub fn proceed(&self, ri: usize, launch: Launch, ran: Ran) -> Step {
        let attempt = launch.attempt.clone();
        let result = match &launch.state {
            LaunchState::Agent { .. } => self.agent_after(ri, &launch, ran),
            LaunchState::Judge { .. } => match self.judge_after(launch, ran) {
                Ok(next) => return Step::Launch(Box::new(next)),
                Err(result) => result,
            },
        };
        Step::Done(self.finish(&attempt, result))
    }

    /// Records the attempt and makes the execution's files durable.
    fn finish(&self, a: &AttemptInfo, result: Executed) -> Executed {
        let outcome =
            if result.ok { "ok".to_string() } else { result.failure.map_or("failed", FailureClass::name).to_string() };
        let record_dir = result.run_dir.clone().unwrap_or(a.dir.clone());
        self.record_attempt(&Attempt {
            file: &record_dir.join("darn_attempts.json"),
            node: &a.node,
            attempt: a.number,
            previous: a.archived.as_deref(),
            outcome: &outcome,
            started: &a.started,
            previous_class: a.previous.as_deref().and_then(FailureClass::parse),
        });
        durable(&record_dir, result)
    }

    /// Re-executes a run's agent in a fresh run directory.
    fn agent(&self, ri: usize, previous: Option<FailureClass>, cancel: &Arc<AtomicBool>) -> Step {
        let exp = &*self.exp;
        let loc = &exp.runs[ri];
        let key = &loc.key;
        let id = format!("{key}/agent");
        let started = now_iso();
        for dir in [exp.run_dir(loc), exp.new_run_dir(key)] {
            if let Err(e) = crate::util::fs::confined(&exp.root, &dir.join("agent").join("result.json")) {
                return Step::Done(fail(FailureClass::Infrastructure, format!("{key}: {e}")));
            }
        }
        // Everything of the previous attempt moves to .failed/ first: nothing is ever deleted.
        let mut archived: Option<PathBuf> = None;
        let mut old_dirs: Vec<PathBuf> = vec![exp.run_dir(loc)];
        old_dirs.extend(loc.duplicates.iter().cloned());
        old_dirs.push(exp.new_run_dir(key));
        old_dirs.push(exp.finished_run_dir(key));
        old_dirs.dedup();
        for dir in old_dirs {
            match super::archive_run(&dir) {
                Ok(Some(a)) => archived = archived.or(Some(a)),
                Ok(None) => {}
                Err(e) => {
                    return Step::Done(fail(
                        FailureClass::Infrastructure,
                        format!("{key}: could not archive the previous run: {e}"),
                    ));
                }
            }
        }
        let run_dir = exp.new_run_dir(key);
        let failed_dir = run_dir.parent().map(|p| p.join(super::archive::FAILED_DIR)).unwrap_or_default();
        let number = Self::archived_attempts(&failed_dir, &run_dir_name(key.run)) + 1;
        let attempt = AttemptInfo {
            node: id,
            started,
            archived,
            number,
            previous: previous.map(|c| c.name().to_string()),
            dir: run_dir.clone(),
        };
        match self.agent_in(ri, &run_dir, &attempt, cancel) {
            Ok(launch) => Step::Launch(Box::new(launch)),
            Err(result) => Step::Done(self.finish(&attempt, result)),
        }
    }

    // `Err` is the execution's end (a result like any other), not a rare error path.
    #[allow(clippy::result_large_err)]
    fn agent_in(
        &self,
        ri: usize,
        run_dir: &Path,
        attempt: &AttemptInfo,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Launch, Executed> {
        let archived = attempt.archived.as_deref();
        let exp = &*self.exp;
        let key = &exp.runs[ri].key;
        let cfg = &exp.config;
        let agent_dir = run_dir.join("agent");
        if let Err(e) = std::fs::create_dir_all(&agent_dir) {
            return Err(fail(FailureClass::Infrastructure, format!("{}: {e}", agent_dir.display())));
        }
        let result = Executed { run_dir: Some(run_dir.to_path_buf()), ..Executed::default() };
        let workspace = run_dir.join("workspace");
        let model = cfg.agent_model().to_string();
        let timeout = exp.settings.agent.timeout.unwrap_or(Duration::from_secs(cfg.timeout_seconds.max(1)));

        // The task prompt: the one the previous attempt used, else the experiment's. Runners of
        // 2026-01-15..02-09 overwrote a long prompt path's prompt.md with the path itself
        // (docs/format.md#agent-prompt): such a file is not a prompt.
        let is_own_path = |b: &[u8]| {
            let t = String::from_utf8_lossy(b);
            let t = t.trim();
            !t.contains('\n') && t.starts_with('/') && t.ends_with("prompt.md")
        };
        let previous = archived.and_then(|a| std::fs::read(a.join("agent/prompt.md")).ok()).filter(|b| !is_own_path(b));
        let task = previous.or_else(|| {
            let base = std::fs::read_to_string(exp.root.join("prompt.md")).ok()?;
            let prefix = match cfg.thinking_mode.as_str() {
                "Low" => "think\n\n",
                "High" => "think hard\n\n",
                "UltraThink" => "ultrathink\n\n",
                _ => "",
            };
            Some(format!("{prefix}{base}").into_bytes())
        });
        let Some(task) = task else {
            return Err(Executed {
                error: Some(ExecError::Setup(format!(
                    "{key}: no task prompt (neither {}/prompt.md nor an archived agent/prompt.md)",
                    exp.root.display()
                ))),
                failure: Some(FailureClass::Infrastructure),
                ..result
            });
        };
        let prompt_path = agent_dir.join("prompt.md");
        if let Err(e) = write(&prompt_path, &task).and_then(|()| {
            std::fs::read(exp.root.join("prompt.md")).map_or(Ok(()), |p| write(&run_dir.join("task_prompt.md"), p))
        }) {
            return Err(Executed {
                error: Some(ExecError::Setup(e)),
                failure: Some(FailureClass::Infrastructure),
                ..result
            });
        }

        // A fresh workspace.
        if let Err(e) = self.prepare_workspace(ri, run_dir, &workspace, archived, cancel) {
            return Err(Executed {
                error: Some(ExecError::Setup(format!("{key}: workspace: {e}"))),
                failure: Some(FailureClass::Infrastructure),
                permanent: true,
                ..result
            });
        }

        // The command, its log and replay script, then the launch.
        let values = Values::new()
            .with(Placeholder::Model, model.clone())
            .with(Placeholder::Prompt, path_str(&prompt_path))
            .with(Placeholder::RunDir, path_str(run_dir))
            .with(Placeholder::Workspace, path_str(&workspace))
            .with_timeout(timeout);
        let mut values = values;
        values.set(Placeholder::MaxTurns, cfg.max_turns.map(|t| t.to_string()));
        let argv = match &exp.settings.agent.command {
            Some(t) => match expand_command(t, &values, "[agent] command") {
                Ok(a) => a,
                Err(e) => {
                    return Err(Executed {
                        error: Some(ExecError::Setup(e.into_error(self.config_file()).to_string())),
                        failure: Some(FailureClass::Infrastructure),
                        ..result
                    });
                }
            },
            None => {
                let mut a: Vec<String> = [
                    "claude",
                    "--model",
                    &model,
                    "--print",
                    "--output-format",
                    "json",
                    "--dangerously-skip-permissions",
                ]
                .iter()
                .map(|s| (*s).to_string())
                .collect();
                if let Some(t) = cfg.max_turns {
                    a.extend(["--max-turns".to_string(), t.to_string()]);
                }
                a.push(path_str(&prompt_path));
                a
            }
        };
        let env = runner_files::recorded_env(|k| std::env::var(k).ok());
        let pre = LoggedCommand {
            timestamp: now_iso(),
            argv: argv.clone(),
            cwd: path_str(&workspace),
            env,
            exit_code: 0,
            duration_seconds: 0.0,
        };
        let replay = agent_dir.join("replay.sh");
        let marker = agent_dir.join(INCOMPLETE_MARKER);
        let marker_text = marker_text();
        let setup = write(&agent_dir.join("command_log.json"), runner_files::command_log(&now_iso(), &pre))
            .and_then(|()| write(&replay, runner_files::agent_replay(&now_iso(), &pre)))
            .and_then(|()| write(&marker, &marker_text));
        if let Err(e) = setup {
            return Err(Executed {
                error: Some(ExecError::Setup(e)),
                failure: Some(FailureClass::Infrastructure),
                ..result
            });
        }
        executable(&replay);
        Ok(Launch {
            attempt: attempt.clone(),
            process: ProcessPlan {
                argv,
                cwd: workspace,
                stdin: None,
                stdout: agent_dir.join("stdout.log"),
                stderr: agent_dir.join("stderr.log"),
                env_remove: Vec::new(),
                timeout,
            },
            marker,
            marker_text,
            state: LaunchState::Agent { run_dir: run_dir.to_path_buf(), pre, model },
        })
    }

    /// The agent's process ended: the files the runner writes after it, and the agent rule's
    /// verdict on them.
    fn agent_after(&self, ri: usize, launch: &Launch, ran: Ran) -> Executed {
        let exp = &*self.exp;
        let key = &exp.runs[ri].key;
        let LaunchState::Agent { run_dir, pre, model } = &launch.state else {
            return fail(FailureClass::Infrastructure, format!("{key}: not an agent execution"));
        };
        let run_dir = run_dir.as_path();
        let agent_dir = run_dir.join("agent");
        let mut result = Executed { run_dir: Some(run_dir.to_path_buf()), ..Executed::default() };
        let (stdout_path, stderr_path) = (&launch.process.stdout, &launch.process.stderr);
        let argv = &launch.process.argv;
        let (exit_code, duration) = match ran {
            Ran::Cancelled => {
                // Interrupted: the marker stays, so the run reads as partial and is redone.
                return Executed { error: Some(ExecError::Interrupted), failure: None, ..result };
            }
            Ran::Exited { timed_out: true, seconds, .. } => {
                let secs = launch.process.timeout.as_secs();
                append(stderr_path, &format!("darn: the agent timed out after {secs} seconds\n"));
                (-1, seconds)
            }
            Ran::Exited { returncode, seconds, .. } => (i64::from(returncode), seconds),
            Ran::NotStarted(e) => {
                // Recorded like the runner's exception path: exit −1 and the reason on stderr.
                // Trying again would fail the same way.
                let _ = write(stdout_path, "");
                append(stderr_path, &format!("darn: could not run the agent: {e}\n"));
                result.permanent = true;
                (-1, 0.0)
            }
            Ran::Lost { message, permanent } => {
                append(stderr_path, &format!("darn: {message}\n"));
                result.permanent = permanent;
                (-1, 0.0)
            }
        };
        // Finish the files the runner writes after the agent.
        let stdout = std::fs::read_to_string(stdout_path).unwrap_or_default();
        let _ = std::fs::copy(stdout_path, agent_dir.join("cmd_0000_stdout.log"));
        let _ = std::fs::copy(stderr_path, agent_dir.join("cmd_0000_stderr.log"));
        let post = LoggedCommand { timestamp: now_iso(), exit_code, duration_seconds: round6(duration), ..pre.clone() };
        let _ = write(&agent_dir.join("command_log.json"), runner_files::command_log(&now_iso(), &post));
        let _ = write(&agent_dir.join("MODEL.md"), runner_files::agent_model_md(model, &cli_version(argv), &now_iso()));
        let _ = std::fs::remove_file(&launch.marker);
        result.cost_usd = cost_of(&stdout);

        // What the files say about the outcome: the agent rule's own verdict.
        match (self.outcome)(ri, run_dir) {
            Finding::Fresh | Finding::ModelChanged(_) => {
                result.ok = true;
                if exp.layout == Layout::Phased {
                    // Promote the finished run to completed/, as the runner does.
                    let done = exp.finished_run_dir(key);
                    if let Some(parent) = done.parent()
                        && std::fs::create_dir_all(parent).is_ok()
                        && std::fs::rename(run_dir, &done).is_ok()
                    {
                        let _ = crate::util::fs::sync_dir(parent);
                        result.run_dir = Some(done);
                    }
                }
                result
            }
            finding => {
                let class = finding.failure().unwrap_or(FailureClass::Infrastructure);
                if class == FailureClass::RateLimit {
                    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
                    let wait = rate_limit_wait(&format!("{stdout}\n{stderr}"), jiff::Timestamp::now());
                    let message = match &finding {
                        Finding::Failed(f) => f.message.as_deref().unwrap_or("rate limited").to_string(),
                        _ => "rate limited".to_string(),
                    };
                    result.rate_limited = Some((wait.wait, wait.exceeds(self.max_wait()), message));
                }
                Executed { error: Some(ExecError::Outcome(finding)), failure: Some(class), ..result }
            }
        }
    }

    /// Makes the workspace: `[agent] prepare`, else a git worktree of the base repository at
    /// `task_commit` with the tier's `CLAUDE.md` and `.claude/` from the previous attempt.
    fn prepare_workspace(
        &self,
        ri: usize,
        run_dir: &Path,
        workspace: &Path,
        archived: Option<&Path>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), String> {
        let exp = &*self.exp;
        let key = &exp.runs[ri].key;
        let out = run_dir.join("cmd_0000_stdout.log");
        let err = run_dir.join("cmd_0000_stderr.log");
        if let Some(prepare) = &exp.settings.agent.prepare {
            let values = Values::new()
                .with(Placeholder::Workspace, path_str(workspace))
                .with(Placeholder::RunDir, path_str(run_dir))
                .with(Placeholder::Model, exp.config.agent_model());
            let argv = expand_command(prepare, &values, "[agent] prepare")
                .map_err(|e| e.into_error(self.config_file()).to_string())?;
            let spec = ProcessSpec::new(argv, &out, &err)
                .cwd(run_dir)
                .timeout(Duration::from_secs(600))
                .grace(self.grace)
                .cancel(Arc::clone(cancel));
            let o = run(&spec).map_err(|e| e.to_string())?;
            if !o.exit.success() {
                let tail = std::fs::read_to_string(&err).unwrap_or_default();
                return Err(format!("[agent] prepare exited with {}: {}", o.exit.returncode(), tail.trim()));
            }
        } else {
            let base = base_repo(exp).ok_or_else(|| {
                format!(
                    "no base repository to make a git worktree from ({}/repo or ../repos/<hash>); set [agent] prepare in darn.toml",
                    exp.root.display()
                )
            })?;
            let prefix: String = exp.config.experiment_id.chars().take(8).collect();
            let branch = match exp.era.runner {
                RunnerShape::Head => format!("{prefix}_{}_{}_{}", key.tier, key.subtest, run_dir_name(key.run)),
                RunnerShape::Jan => format!("{}_{}_{}", key.tier, key.subtest, run_dir_name(key.run)),
            };
            let base_s = path_str(&base);
            let git = |args: &[&str], out: &Path, err: &Path| -> Result<super::process::Outcome, String> {
                let mut argv = vec!["git".to_string(), "-C".to_string(), base_s.clone()];
                argv.extend(args.iter().map(|s| (*s).to_string()));
                run(&ProcessSpec::new(argv, out, err).timeout(Duration::from_secs(60)).grace(self.grace))
                    .map_err(|e| e.to_string())
            };
            let scratch = run_dir.join(".darn-git.log");
            let _ = git(&["worktree", "prune"], &scratch, &scratch);
            let _ = git(&["branch", "-D", &branch], &scratch, &scratch);
            let _ = std::fs::remove_file(&scratch);
            let ws = path_str(workspace);
            let o = git(&["worktree", "add", "-b", &branch, &ws, &exp.config.task_commit], &out, &err)?;
            if !o.exit.success() {
                let tail = std::fs::read_to_string(&err).unwrap_or_default();
                return Err(format!("git worktree add failed: {}", tail.trim()));
            }
            let script = runner_files::worktree_script(
                &branch,
                &base_s,
                &ws,
                &exp.config.task_commit,
                exp.era.runner == RunnerShape::Head,
            );
            let path = run_dir.join("worktree_create.sh");
            write(&path, script)?;
            executable(&path);
            // The tier's configuration comes back from the previous attempt's workspace.
            if let Some(old) = archived.map(|a| a.join("workspace")) {
                let mut staged = false;
                for item in ["CLAUDE.md", ".claude"] {
                    let from = old.join(item);
                    if from.exists() {
                        copy_tree(&from, &workspace.join(item)).map_err(|e| format!("{}: {e}", from.display()))?;
                        staged = true;
                    }
                }
                if staged {
                    let ws_git = |args: &[&str]| {
                        let mut argv = vec!["git".to_string(), "-C".to_string(), ws.clone()];
                        argv.extend(args.iter().map(|s| (*s).to_string()));
                        let log = run_dir.join(".darn-git.log");
                        let r = run(&ProcessSpec::new(argv, &log, &log).timeout(Duration::from_secs(60)));
                        let _ = std::fs::remove_file(&log);
                        r
                    };
                    let _ = ws_git(&["add", "CLAUDE.md", ".claude"]);
                    let _ = ws_git(&["commit", "-m", "[scylla] Initialize test configuration"]);
                }
            }
        }
        if !workspace.is_dir() {
            return Err(format!("{} was not created", workspace.display()));
        }
        Ok(())
    }

    /// Re-executes one judge slot, keeping the slot's previous files in `judge/.failed/`.
    fn judge(&self, ri: usize, slot: usize, previous: Option<FailureClass>) -> Step {
        let exp = &*self.exp;
        let key = &exp.runs[ri].key;
        let id = format!("{key}/judge/{}", slot_dir_name(slot));
        let started = now_iso();
        let run_dir = exp.run_dir(&exp.runs[ri]);
        let slot_file = run_dir.join("judge").join(slot_dir_name(slot)).join("judgment.json");
        if let Err(e) = crate::util::fs::confined(&exp.root, &slot_file) {
            return Step::Done(fail(FailureClass::Infrastructure, format!("{key}: {e}")));
        }
        let prompt = run_dir.join("judge_prompt.md");
        if !prompt.is_file() {
            return Step::Done(fail(
                FailureClass::JudgeError,
                format!(
                    "{key}: judge_prompt.md is missing and cannot be rebuilt (the workspace is gone); nothing was changed"
                ),
            ));
        }
        let slot_dir = run_dir.join("judge").join(slot_dir_name(slot));
        let archived = match super::archive_judge_slot(&slot_dir) {
            Ok(a) => a,
            Err(e) => {
                return Step::Done(fail(
                    FailureClass::Infrastructure,
                    format!("{key}: could not archive judge slot {slot}: {e}"),
                ));
            }
        };
        let failed_dir = run_dir.join("judge").join(super::archive::FAILED_DIR);
        let number = Self::archived_attempts(&failed_dir, &slot_dir_name(slot)) + u32::from(archived.is_none());
        let attempt = AttemptInfo {
            node: id,
            started,
            archived,
            number: number.max(1),
            previous: previous.map(|c| c.name().to_string()),
            dir: run_dir.clone(),
        };
        let model = exp.judge_model(key, slot).to_string();
        match self.judge_in(slot, &model, &run_dir, &slot_dir, &prompt, &attempt) {
            Ok(launch) => Step::Launch(Box::new(launch)),
            Err(result) => Step::Done(self.finish(&attempt, result)),
        }
    }
    // `Err` is the execution's end (a result like any other), not a rare error path.
    #[allow(clippy::result_large_err)]
    fn judge_in(
        &self,
        slot: usize,
        model: &str,
        run_dir: &Path,
        slot_dir: &Path,
        prompt: &Path,
        attempt: &AttemptInfo,
    ) -> Result<Launch, Executed> {
        let exp = &*self.exp;
        let model = model.to_string();
        let timeout = exp.settings.judge.timeout.unwrap_or(JUDGE_TIMEOUT);
        let marker = slot_dir.join(INCOMPLETE_MARKER);
        let marker_text = marker_text();
        if let Err(e) = write(&marker, &marker_text) {
            return Err(fail(FailureClass::Infrastructure, e));
        }
        let system_prompt = self.system_prompt();
        let mut values = Values::new()
            .with(Placeholder::Model, model.clone())
            .with(Placeholder::Prompt, path_str(prompt))
            .with(Placeholder::RunDir, path_str(run_dir))
            .with(Placeholder::Slot, slot.to_string())
            .with_timeout(timeout);
        values.set(Placeholder::SystemPrompt, system_prompt.as_deref().map(path_str));
        let (argv, stdin): (Vec<String>, PathBuf) = match &exp.settings.judge.command {
            Some(t) => {
                let argv = match expand_command(t, &values, "[judge] command") {
                    Ok(a) => a,
                    Err(e) => return Err(fail(FailureClass::JudgeError, e.into_error(self.config_file()).to_string())),
                };
                let stdin_t = exp.settings.judge.stdin.clone().unwrap_or_else(|| "{prompt}".to_string());
                match expand_path(&stdin_t, &values, "[judge] stdin") {
                    Ok(p) => (argv, self.resolve(&p)),
                    Err(e) => return Err(fail(FailureClass::JudgeError, e.into_error(self.config_file()).to_string())),
                }
            }
            None => {
                let Some(sp) = &system_prompt else {
                    return Err(fail(
                        FailureClass::JudgeError,
                        "the judges' system prompt is not configured: set [judge] system_prompt in darn.toml (ProjectScylla's config/judge/system_prompt.md)",
                    ));
                };
                let argv: Vec<String> = [
                    "claude",
                    "--model",
                    &model,
                    "--print",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--dangerously-skip-permissions",
                    "--allowedTools",
                    "",
                    "--system-prompt-file",
                    &path_str(sp),
                ]
                .iter()
                .map(|s| (*s).to_string())
                .collect();
                (argv, prompt.to_path_buf())
            }
        };
        if let Some(sp) = &system_prompt
            && argv.iter().any(|a| a == &path_str(sp))
            && !sp.is_file()
        {
            return Err(fail(
                FailureClass::JudgeError,
                format!("the judges' system prompt {} does not exist", sp.display()),
            ));
        }
        Ok(Launch {
            attempt: attempt.clone(),
            process: ProcessPlan {
                argv,
                cwd: run_dir.to_path_buf(),
                stdin: Some(stdin.clone()),
                stdout: slot_dir.join("stdout.log"),
                stderr: slot_dir.join("stderr.log"),
                env_remove: vec!["CLAUDECODE".to_string()],
                timeout,
            },
            marker,
            marker_text,
            state: LaunchState::Judge {
                slot,
                run_dir: run_dir.to_path_buf(),
                slot_dir: slot_dir.to_path_buf(),
                model,
                stdin,
                try_no: 1,
                total: 0.0,
                cost: 0.0,
            },
        })
    }

    /// A judge's process ended: its verdict, a failure recorded the runner's way, or (no
    /// parseable verdict the first time) the second try with a reminder to answer in JSON.
    // `Err` is the execution's end (a result like any other), not a rare error path.
    #[allow(clippy::result_large_err)]
    fn judge_after(&self, launch: Launch, ran: Ran) -> Result<Launch, Executed> {
        let LaunchState::Judge { slot_dir, model, stdin, try_no, total, cost, .. } = &launch.state else {
            return Err(fail(FailureClass::Infrastructure, format!("{}: not a judge execution", launch.attempt.node)));
        };
        let (slot_dir, try_no, mut total, mut cost) = (slot_dir.as_path(), *try_no, *total, *cost);
        let marker = &launch.marker;
        let (stdout_path, stderr_path) = (&launch.process.stdout, &launch.process.stderr);
        let (argv, timeout) = (&launch.process.argv, launch.process.timeout);
        if try_no == 2
            && let Some(input) = &launch.process.stdin
        {
            let _ = std::fs::remove_file(input);
        }
        let (returncode, timed_out) = match ran {
            Ran::Cancelled => return Err(Executed { error: Some(ExecError::Interrupted), ..Executed::default() }),
            Ran::NotStarted(e) => {
                return Err(self.judge_failed(
                    slot_dir,
                    marker,
                    FailureClass::Infrastructure,
                    format!("could not run the judge: {e}"),
                    total,
                ));
            }
            Ran::Lost { message, permanent } => {
                let r = self.judge_failed(slot_dir, marker, FailureClass::Infrastructure, message, total);
                return Err(Executed { permanent, ..r });
            }
            Ran::Exited { returncode, seconds, timed_out } => {
                total += seconds;
                (returncode, timed_out)
            }
        };
        let stdout = std::fs::read_to_string(stdout_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
        cost += cost_of(&stdout);
        if stderr.is_empty() {
            let _ = std::fs::remove_file(stderr_path);
        }
        if timed_out {
            return Err(Executed {
                cost_usd: cost,
                ..self.judge_failed(
                    slot_dir,
                    marker,
                    FailureClass::Timeout,
                    format!("timed out after {} seconds", timeout.as_secs()),
                    total,
                )
            });
        }
        let success = returncode == 0;
        let stream = crate::observe::claude::response_from_stdout(&stdout);
        let limited = stream.error.as_deref().is_some_and(crate::rules::content::ratelimit::matches_json_patterns)
            || (!success && crate::rules::content::ratelimit::in_stderr(&stderr).is_some());
        if limited {
            let wait = rate_limit_wait(&format!("{stdout}\n{stderr}"), jiff::Timestamp::now());
            let message = stream.error.clone().unwrap_or_else(|| stderr.trim().to_string());
            let mut r = self.judge_failed(slot_dir, marker, FailureClass::RateLimit, message.clone(), total);
            r.rate_limited = Some((wait.wait, wait.exceeds(self.max_wait()), message));
            r.cost_usd = cost;
            return Err(r);
        }
        if let Some(e) = stream.error.clone() {
            return Err(Executed {
                cost_usd: cost,
                ..self.judge_failed(slot_dir, marker, FailureClass::JudgeError, e, total)
            });
        }
        // A judge that exits without any answer crashed, like an agent that does: a transient
        // failure, tried again.
        if !success && stream.text.trim().is_empty() {
            let tail = stderr.lines().last().unwrap_or("").to_string();
            return Err(Executed {
                cost_usd: cost,
                ..self.judge_failed(
                    slot_dir,
                    marker,
                    FailureClass::Infrastructure,
                    format!("the judge exited with {returncode}: {tail}"),
                    total,
                )
            });
        }
        let _ = write(&slot_dir.join("response.txt"), &stream.text);
        match crate::rules::content::judgment::parse_response(&stream.text) {
            Ok(_) => {
                let at = now_iso();
                let _ = write(&slot_dir.join("timing.json"), runner_files::judge_timing(round6(total), &at));
                let _ = write(&slot_dir.join("MODEL.md"), runner_files::judge_model_md(model, &cli_version(argv), &at));
                let replay = slot_dir.join("replay.sh");
                let _ = write(&replay, runner_files::judge_replay(model));
                executable(&replay);
                let _ = std::fs::remove_file(marker);
                Err(Executed { ok: true, cost_usd: cost, ..Executed::default() })
            }
            Err(why) if try_no >= 2 => Err(Executed {
                cost_usd: cost,
                ..self.judge_failed(
                    slot_dir,
                    marker,
                    FailureClass::JudgeUnparseable,
                    format!("no parseable verdict after a retry: {why}"),
                    total,
                )
            }),
            Err(_) => {
                // Keep the first answer: it was paid for.
                let _ = std::fs::rename(stdout_path, slot_dir.join("stdout.first-attempt.log"));
                let _ = std::fs::rename(slot_dir.join("response.txt"), slot_dir.join("response.first-attempt.txt"));
                // One retry when the answer has no parseable verdict (the runner's main path
                // does two).
                let retry = slot_dir.join(".darn-retry-prompt.md");
                let mut text = std::fs::read(stdin).unwrap_or_default();
                text.extend_from_slice(JSON_REMINDER.as_bytes());
                if let Err(e) = write(&retry, text) {
                    return Err(fail(FailureClass::Infrastructure, e));
                }
                let mut next = launch.clone();
                next.process.stdin = Some(retry);
                if let LaunchState::Judge { try_no, total: t, cost: c, .. } = &mut next.state {
                    *try_no = 2;
                    *t = total;
                    *c = cost;
                }
                Ok(next)
            }
        }
    }
    /// Records a failed judge call the way the runner does (timing with `failed`, error.log).
    fn judge_failed(&self, slot_dir: &Path, marker: &Path, class: FailureClass, error: String, secs: f64) -> Executed {
        let timing =
            json!({"judge_duration_seconds": round6(secs), "measured_at": now_iso(), "failed": true, "error": error});
        let _ = write(&slot_dir.join("timing.json"), crate::py::json::to_string(&timing));
        let _ = write(&slot_dir.join("error.log"), format!("Judge failed: {error}\n"));
        let _ = std::fs::remove_file(marker);
        let key = slot_dir.parent().and_then(Path::parent).map(path_str).unwrap_or_default();
        fail(
            class,
            format!(
                "{key}: judge {}: {error}",
                slot_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ),
        )
    }
}

/// Makes an execution's files durable before reporting it done (one sync for all of them).
fn durable(dir: &Path, result: Executed) -> Executed {
    match crate::util::fs::sync_tree(dir) {
        Ok(()) => result,
        Err(e) => fail(FailureClass::Infrastructure, format!("{}: could not sync the outputs: {e}", dir.display())),
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(text.as_bytes());
    }
}

/// `claude --version` when the command is the real CLI; stand-ins and other programs report
/// "unknown". Asked once per program: the CLI takes a fraction of a second to start.
fn cli_version(argv: &[String]) -> String {
    static KNOWN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let Some(program) = argv.first() else { return "unknown".to_string() };
    if Path::new(program).file_name().is_none_or(|n| n != "claude") {
        return "unknown".to_string();
    }
    if let Ok(known) = KNOWN.lock()
        && let Some((_, v)) = known.iter().find(|(p, _)| p == program)
    {
        return v.clone();
    }
    crate::util::pages::for_children();
    let version = std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    if let Ok(mut known) = KNOWN.lock() {
        known.push((program.clone(), version.clone()));
    }
    version
}

/// The base repository for worktrees: `<exp>/repo` (older experiments) or
/// `<results base>/repos/<first 16 hex of sha256(task_repo)>` (docs/format.md#experiment-directory).
fn base_repo(exp: &Experiment) -> Option<PathBuf> {
    let local = exp.root.join("repo");
    if local.join(".git").exists() {
        return Some(local);
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(exp.config.task_repo.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let shared = exp.root.parent()?.join("repos").join(hash);
    shared.join(".git").exists().then_some(shared)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).map(|_| ())
    }
}
