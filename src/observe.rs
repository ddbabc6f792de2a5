//! Reads a run's files and turns them into facts: what exists, what is valid, what agrees with
//! its inputs, and a content hash of every file read (for stamps).
//!
//! Observation never writes and never fails: a corrupt or truncated file is a fact with a reason,
//! not an error. Everything the classification and the planner decide comes from these facts.

use crate::cache::{RunDirStat, StatSig};
use crate::experiment::era::Era;
use crate::experiment::files::RunFile;
use crate::experiment::names::slot_dir_name;
use crate::py::json as pyjson;
use crate::ratelimit;
use crate::rules::agent::{self, AgentResult, Stdout};
use crate::rules::consensus::{Consensus, SlotOutcome};
use crate::rules::judgment::{self, Judgment};
use crate::rules::{run_report, run_result};
use crate::stamp::Hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// A file or directory an observation depended on, with its stat data (`None`: absent).
pub type Dep = (RunFile, Option<StatSig>);

/// Marker darn writes into a run's `agent/` or a slot directory before launching an execution
/// and removes after success: if it is still there, the execution never finished.
pub const INCOMPLETE_MARKER: &str = ".darn-incomplete";

/// Why an execution failed (CONTRACT CLASS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    RateLimit,
    Infrastructure,
    Timeout,
    AgentError,
    JudgeUnparseable,
    JudgeError,
}

impl FailureClass {
    pub const ALL: [FailureClass; 6] = [
        FailureClass::RateLimit,
        FailureClass::Infrastructure,
        FailureClass::Timeout,
        FailureClass::AgentError,
        FailureClass::JudgeUnparseable,
        FailureClass::JudgeError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureClass::RateLimit => "rate_limit",
            FailureClass::Infrastructure => "infrastructure",
            FailureClass::Timeout => "timeout",
            FailureClass::AgentError => "agent_error",
            FailureClass::JudgeUnparseable => "judge_unparseable",
            FailureClass::JudgeError => "judge_error",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The state of a derived file compared with what its inputs give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Present, valid, and agrees with its inputs.
    Ok,
    Missing,
    /// Unparseable, wrong keys, values out of range.
    Invalid(String),
    /// Valid on its own, but not what its inputs give.
    Disagrees(String),
    /// Cannot be judged until something upstream is fixed.
    Blocked,
}

impl Check {
    pub fn is_ok(&self) -> bool {
        matches!(self, Check::Ok)
    }

    /// A one-line reason, for problems and causes.
    pub fn describe(&self) -> Option<String> {
        match self {
            Check::Ok | Check::Blocked => None,
            Check::Missing => Some("missing".into()),
            Check::Invalid(r) => Some(format!("invalid: {r}")),
            Check::Disagrees(r) => Some(format!("stale: {r}")),
        }
    }
}

/// What the agent execution left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentOutcome {
    /// Never started.
    Missing,
    /// Finished unsuccessfully; `file` is the evidence (relative to the run).
    Failed { class: FailureClass, detail: String, file: String },
    /// Started but left no complete output.
    Partial { detail: String, file: String },
    /// A valid transcript.
    Ok,
}

/// Facts about the agent side of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentObs {
    pub outcome: AgentOutcome,
    pub output_txt: Check,
    pub result_json: Check,
    pub timing_json: Check,
    /// The model the agent ran with, as recorded (command log argv, else MODEL.md).
    pub model: Option<String>,
    pub cost_usd: Option<f64>,
    pub duration_seconds: Option<f64>,
    /// `agent/prompt.md` exists (what a re-execution reuses).
    pub has_prompt: bool,
}

/// What a judge slot's execution left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    Missing,
    Failed {
        class: FailureClass,
        detail: String,
        file: String,
    },
    /// A usable response (or a valid judgment standing alone).
    Usable,
}

/// Facts about one configured judge slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotObs {
    pub slot: usize,
    pub state: SlotState,
    pub judgment: Check,
    /// The model recorded in the slot's `MODEL.md`.
    pub model: Option<String>,
    /// The slot's judgment as its response gives it (for consensus and run_result).
    #[serde(skip)]
    pub parsed: Option<Judgment>,
    /// Seconds the slot took, from its `timing.json`.
    pub duration_seconds: Option<f64>,
    /// What the judge call cost, from its stream's result event.
    pub cost_usd: Option<f64>,
    /// `measured_at` of the slot's `timing.json`.
    pub measured_at: Option<String>,
    /// The response text, when `response.txt` is missing but `stdout.log` holds it.
    #[serde(skip)]
    pub response_to_restore: Option<String>,
}

/// A file that was read, with its content hash (truncated blake3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// Relative to the run directory.
    pub file: RunFile,
    pub hash: [u8; 16],
}

impl RunObs {
    /// The content hash of a file the observation read (`ABSENT` if it was not there).
    pub fn hash_of(&self, file: RunFile) -> [u8; 16] {
        self.files.iter().find(|f| f.file == file).map_or([0; 16], |f| f.hash)
    }
}

/// What the run's derived files should contain, computed while checking them, so that
/// regeneration writes exactly what the check compared against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// Set by a fresh observation (cached observations carry no contents).
    pub observed: bool,
    /// The agent's contents (`output_txt`, `result_json`, `timing_json`) are set: a run whose
    /// agent files alone were observed again has these without the rest.
    pub agent_observed: bool,
    pub output_txt: Option<Vec<u8>>,
    pub result_json: Option<String>,
    pub timing_json: Option<String>,
    /// Per slot: `response.txt` when it is missing but the stream holds the response.
    pub response_txt: Vec<Option<String>>,
    /// Per slot: `judgment.json`.
    pub judgments: Vec<Option<String>>,
    pub consensus: Option<String>,
    /// `judge/timing.json`, only when it is missing.
    pub judge_timing: Option<String>,
    pub run_result: Option<String>,
}

impl Expected {
    /// Whether these contents include what regenerating a node of `kind` writes.
    pub fn covers(&self, kind: crate::graph::NodeKind) -> bool {
        use crate::graph::NodeKind;
        match kind {
            NodeKind::AgentOutput | NodeKind::AgentResult | NodeKind::AgentTiming => self.agent_observed,
            NodeKind::Judgment(_) | NodeKind::Consensus | NodeKind::RunResult => self.observed,
            // Read from disk or the experiment, not from an observation.
            _ => true,
        }
    }
}

/// Everything observed about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunObs {
    /// The run directory exists.
    pub exists: bool,
    pub agent: AgentObs,
    pub judge_prompt: bool,
    pub slots: Vec<SlotObs>,
    pub consensus: Check,
    /// `judge/timing.json` exists and holds a number.
    pub judge_timing: bool,
    pub run_result: Check,
    pub report: Check,
    /// `workspace/` exists (needed to rebuild a judge prompt).
    pub has_workspace: bool,
    /// The judges' verdict (`passed` of the consensus), when every slot has a judgment.
    pub passed: Option<bool>,
    pub files: Vec<FileHash>,
    /// Contents to write when regenerating (not cached: regeneration observes afresh).
    #[serde(skip)]
    pub expected: Expected,
}

/// What observation needs to know about the experiment.
#[derive(Debug, Clone)]
pub struct ObsContext {
    pub era: Era,
    /// `T0/00/run_01`.
    pub run_id: String,
    pub run_number: u32,
    pub agent_model: String,
    pub judge_models: Vec<String>,
    /// The run directory as recorded inside files (checkpoint `experiment_dir` based, B24).
    pub recorded_run_path: String,
    /// `baseline_pipeline_summary` for this run's subtest (current era only).
    pub baseline_summary: Option<Value>,
    /// Fill `RunObs::expected` (reconcile does; read-only commands need only the verdicts).
    pub want_contents: bool,
}

/// Hashes content for stamps: 128 bits of blake3 are plenty to tell versions apart.
pub fn hash_bytes(bytes: &[u8]) -> [u8; 16] {
    let full = blake3::hash(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    out
}

/// Reads an opened file with its stat data, taken from the open file (no second path lookup) before
/// reading: a write after that changes the stat data, so the cache can never pair new stat
/// data with old content. The buffer is not sized from that stat data: run files are small.
fn read_file_sig(file: std::io::Result<std::fs::File>) -> std::io::Result<(Vec<u8>, Option<StatSig>)> {
    use std::io::Read as _;
    let mut f = file?;
    let sig = StatSig::of_file(&f);
    let mut buf = Vec::with_capacity(16 * 1024);
    f.read_to_end(&mut buf)?;
    Ok((buf, sig))
}

/// Reads files of one run directory, remembering their hashes.
struct Reader<'a> {
    dir: &'a Path,
    /// Files are opened relative to a handle on the run directory (a shorter path walk).
    at: &'a RunDirStat<'a>,
    files: Vec<FileHash>,
    /// Stat data of each file read, taken from the open file before reading it.
    deps: Vec<Dep>,
}

/// A file's content, or why it could not be read.
enum Read {
    Missing,
    Bytes(Vec<u8>),
    Unreadable(String),
}

impl Reader<'_> {
    fn new<'a>(dir: &'a Path, at: &'a RunDirStat<'a>) -> Reader<'a> {
        Reader { dir, at, files: Vec::new(), deps: Vec::new() }
    }

    /// Records the stat data of directories whose listing the observation depends on, before
    /// reading in them (a file added meanwhile then shows as a changed directory later).
    fn look_in(&mut self, dirs: impl IntoIterator<Item = RunFile>) {
        for d in dirs {
            self.deps.push((d, self.at.sig(d)));
        }
    }

    fn read(&mut self, rel: &str) -> Read {
        match read_file_sig(self.at.open(rel)) {
            Ok((bytes, sig)) => {
                // Every path observation reads is in the vocabulary (`layout::files`).
                if let Some(file) = RunFile::of(rel) {
                    self.files.push(FileHash { file, hash: hash_bytes(&bytes) });
                    self.deps.push((file, sig));
                }
                Read::Bytes(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Read::Unreadable("is a directory".into()),
            Err(e) => Read::Unreadable(e.to_string()),
        }
    }

    fn text(&mut self, rel: &str) -> Option<String> {
        match self.read(rel) {
            // Valid UTF-8 (nearly always) is taken as it is, without a copy.
            Read::Bytes(b) => {
                Some(String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            }
            _ => None,
        }
    }

    fn exists(&self, rel: &str) -> bool {
        self.at.sig_of(rel).is_some()
    }

    /// Parses a JSON file: `Err(Check)` says why it is not usable.
    fn json(&mut self, rel: &str) -> Result<Value, Check> {
        match self.read(rel) {
            Read::Missing => Err(Check::Missing),
            Read::Unreadable(e) => Err(Check::Invalid(format!("unreadable: {e}"))),
            Read::Bytes(b) if b.iter().all(u8::is_ascii_whitespace) => Err(Check::Invalid("empty file".into())),
            Read::Bytes(b) => pyjson::parse(&b).map_err(|e| Check::Invalid(format!("not valid JSON: {e}"))),
        }
    }
}

/// The last entry of `agent/command_log.json`, if readable.
#[derive(Debug, Clone, Default)]
struct LoggedCommand {
    exit_code: Option<i64>,
    duration: Option<f64>,
    timestamp: Option<String>,
    model: Option<String>,
}

fn logged_command(v: &Value) -> LoggedCommand {
    let Some(last) = v.get("commands").and_then(Value::as_array).and_then(|c| c.last()) else {
        return LoggedCommand::default();
    };
    let model = last.get("command").and_then(Value::as_array).and_then(|argv| {
        let pos = argv.iter().position(|a| a.as_str() == Some("--model"))?;
        argv.get(pos + 1)?.as_str().map(str::to_string)
    });
    LoggedCommand {
        exit_code: last.get("exit_code").and_then(Value::as_i64),
        duration: last.get("duration_seconds").and_then(pyjson::as_f64),
        timestamp: last.get("timestamp").and_then(Value::as_str).map(str::to_string),
        model,
    }
}

/// Reads `**Model**: <name>` from a `MODEL.md`.
pub fn model_from_model_md(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("**Model**:")).map(|m| m.trim().to_string()).filter(|m| !m.is_empty())
}

/// The agent transcript darn derives files from, with where it came from.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub stdout: String,
    /// `stdout` parsed once.
    pub parsed: Stdout,
    pub stdout_file: &'static str,
    pub stderr: String,
    pub exit_code: i64,
    pub duration: Option<f64>,
    pub timestamp: Option<String>,
}

/// Everything the agent rules need, read from a run directory.
struct AgentSources {
    transcript: Option<Transcript>,
    logged: LoggedCommand,
    existing_result: Result<Value, Check>,
    existing_timing: Result<Value, Check>,
    output_txt: Option<Vec<u8>>,
    /// Any trace of the agent having started: prompt, command log or output.
    started: bool,
}

impl AgentSources {
    fn none() -> Self {
        AgentSources {
            transcript: None,
            logged: LoggedCommand::default(),
            existing_result: Err(Check::Missing),
            existing_timing: Err(Check::Missing),
            output_txt: None,
            started: false,
        }
    }
}

/// Reads the raw transcript: stdout from `stdout.log`, else `cmd_0000_stdout.log`, else a
/// non-empty `output.txt`, else `result.json`'s `stdout`; stderr likewise; the exit code from
/// the command log's last entry, else `result.json`.
fn read_agent(r: &mut Reader) -> AgentSources {
    let command_log = r.json("agent/command_log.json");
    let logged = command_log.as_ref().map(logged_command).unwrap_or_default();
    let existing_result = r.json("agent/result.json");
    let existing_timing = r.json("agent/timing.json");
    let output_txt = match r.read("agent/output.txt") {
        Read::Bytes(b) => Some(b),
        _ => None,
    };
    let mut stdout: Option<(String, &'static str)> = None;
    for (rel, name) in
        [("agent/stdout.log", "agent/stdout.log"), ("agent/cmd_0000_stdout.log", "agent/cmd_0000_stdout.log")]
    {
        if let Some(t) = r.text(rel) {
            stdout = Some((t, name));
            break;
        }
    }
    if stdout.as_ref().is_none_or(|(s, _)| s.trim().is_empty())
        && let Some(b) = output_txt.as_ref().filter(|b| !b.iter().all(u8::is_ascii_whitespace))
    {
        stdout = Some((String::from_utf8_lossy(b).into_owned(), "agent/output.txt"));
    }
    let result_obj = existing_result.as_ref().ok();
    if stdout.as_ref().is_none_or(|(s, _)| s.trim().is_empty())
        && let Some(s) = result_obj.and_then(|v| v.get("stdout")).and_then(Value::as_str)
        && (!s.trim().is_empty() || stdout.is_none())
    {
        stdout = Some((s.to_string(), "agent/result.json"));
    }
    let stderr = r
        .text("agent/stderr.log")
        .or_else(|| r.text("agent/cmd_0000_stderr.log"))
        .or_else(|| result_obj.and_then(|v| v.get("stderr")).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let started = r.exists("agent/prompt.md") || command_log.is_ok() || stdout.is_some() || output_txt.is_some();
    let exit_code = logged.exit_code.or_else(|| result_obj.and_then(|v| v.get("exit_code")).and_then(Value::as_i64));
    let transcript = stdout.map(|(stdout, stdout_file)| {
        let parsed = agent::parse_stdout(&stdout);
        // Without a command log the result's own duration is the best record of the run.
        let duration = logged.duration.filter(|d| *d > 0.0).or_else(|| match &parsed {
            Stdout::Json(r) => r.duration_ms.map(|ms| ms / 1000.0),
            _ => None,
        });
        Transcript {
            stdout,
            parsed,
            stdout_file,
            stderr,
            exit_code: exit_code.unwrap_or(0),
            duration,
            timestamp: logged.timestamp.clone(),
        }
    });
    AgentSources { transcript, logged, existing_result, existing_timing, output_txt, started }
}

fn timeout_text(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("timed out") || lower.contains("timeout")
}

/// Decides the agent outcome from the transcript (CONTRACT "Statuses", rules 1–3).
fn agent_outcome(
    transcript: Option<&Transcript>,
    existing_result: Option<&Value>,
    started: bool,
    marker: bool,
) -> AgentOutcome {
    if !started {
        return AgentOutcome::Missing;
    }
    if marker {
        return AgentOutcome::Partial {
            detail: "darn was stopped while the agent ran (incomplete marker present)".into(),
            file: format!("agent/{INCOMPLETE_MARKER}"),
        };
    }
    // The runner's invalid-result signature: exit −1 with zero tokens.
    if let Some(v) = existing_result {
        let exit = v.get("exit_code").and_then(Value::as_i64);
        let tokens = agent::TokenStats::from_value(v.get("token_stats").unwrap_or(&Value::Null));
        if exit == Some(-1) && tokens.is_zero() {
            let stderr = v.get("stderr").and_then(Value::as_str).unwrap_or("");
            let (class, what) = if timeout_text(stderr) {
                (FailureClass::Timeout, "the agent timed out")
            } else {
                (FailureClass::Infrastructure, "runner failure: exit -1 with zero tokens")
            };
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            let detail = if first.is_empty() { what.to_string() } else { format!("{what} ({first})") };
            return AgentOutcome::Failed { class, detail, file: "agent/result.json".into() };
        }
    }
    let Some(t) = transcript else {
        return AgentOutcome::Partial {
            detail: "no agent output (stdout.log missing)".into(),
            file: "agent/stdout.log".into(),
        };
    };
    let parsed = &t.parsed;
    let limited = match parsed {
        Stdout::Json(r) if r.is_error => r
            .text
            .as_deref()
            .filter(|t| ratelimit::matches_json_patterns(t))
            .map(|t| ratelimit::RateLimit { message: t.to_string() }),
        Stdout::Json(_) | Stdout::Empty => None,
        Stdout::Text | Stdout::Truncated(_) => ratelimit::in_stdout(&t.stdout),
    };
    if let Some(rl) = limited {
        return AgentOutcome::Failed {
            class: FailureClass::RateLimit,
            detail: format!("rate limited: {}", first_line(&rl.message)),
            file: t.stdout_file.into(),
        };
    }
    let errored = matches!(parsed, Stdout::Json(r) if r.is_error);
    let output_ok = matches!(parsed, Stdout::Json(_) | Stdout::Text);
    if (t.exit_code != 0 || errored || !output_ok)
        && let Some(rl) = ratelimit::in_stderr(&t.stderr)
    {
        return AgentOutcome::Failed {
            class: FailureClass::RateLimit,
            detail: format!("rate limited: {}", first_line(&rl.message)),
            file: "agent/stderr.log".into(),
        };
    }
    if t.exit_code != 0 {
        let signal = t.exit_code < 0 || matches!(t.exit_code, 134 | 137 | 139 | 143);
        let class = if t.exit_code == -1 && timeout_text(&t.stderr) {
            FailureClass::Timeout
        } else if signal {
            FailureClass::Infrastructure
        } else {
            FailureClass::AgentError
        };
        let tail = t.stderr.lines().rev().find(|l| !l.trim().is_empty() && !l.starts_with('+')).unwrap_or("").trim();
        let detail = if tail.is_empty() {
            format!("agent exited with code {}", t.exit_code)
        } else {
            format!("agent exited with code {}: {}", t.exit_code, first_line(tail))
        };
        return AgentOutcome::Failed { class, detail, file: "agent/command_log.json".into() };
    }
    if let Stdout::Json(r) = parsed
        && r.is_error
    {
        let text = r.text.as_deref().unwrap_or("no message");
        return AgentOutcome::Failed {
            class: FailureClass::AgentError,
            detail: format!("agent reported an error: {}", first_line(text)),
            file: t.stdout_file.into(),
        };
    }
    match parsed {
        Stdout::Empty => AgentOutcome::Partial { detail: "agent output is empty".into(), file: t.stdout_file.into() },
        Stdout::Truncated(why) => {
            AgentOutcome::Partial { detail: format!("agent output {why}"), file: t.stdout_file.into() }
        }
        Stdout::Json(_) => AgentOutcome::Ok,
        // The agent command must print a Claude Code JSON result (CONTRACT); anything else is
        // not an outcome darn can derive results from.
        Stdout::Text => AgentOutcome::Failed {
            class: FailureClass::AgentError,
            detail: "agent output is not a Claude Code JSON result".into(),
            file: t.stdout_file.into(),
        },
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(157).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Observes one run. `dir` is the run directory (it may not exist).
pub fn observe_run(dir: &Path, ctx: &ObsContext) -> RunObs {
    observe_full(dir, ctx).obs
}

/// An observation with what the cache needs to tell later whether it still holds.
pub struct Observed {
    pub obs: RunObs,
    pub deps: Deps,
}

/// What an observation depended on, in two parts: `agent/` can change alone (regenerated
/// agent files) without invalidating the rest.
#[derive(Debug, Clone)]
pub struct Deps {
    /// What the agent stage read (the `agent/` directory and files in it).
    pub agent: Vec<Dep>,
    /// What the rest of the observation read; `None` when the rest was taken unchanged from a
    /// cached observation (whose record of it stands).
    pub rest: Option<Vec<Dep>>,
    /// What the rest of the observation took from the agent stage.
    pub agent_key: Hash,
}

/// Observes a run, recording what it depended on.
pub fn observe_full(dir: &Path, ctx: &ObsContext) -> Observed {
    let exists = dir.is_dir();
    let at = RunDirStat::new(dir);
    let agent = observe_agent(dir, &at, ctx, exists);
    observe_rest(dir, &at, ctx, exists, agent)
}

/// Observes again only the agent's files of a run whose other files are unchanged since
/// `cached` was made with `cached_key`: when the agent's files still give the rest of the run
/// the same facts, the rest of `cached` stands (e.g. only `agent/result.json` was deleted).
pub fn observe_agent_again(dir: &Path, ctx: &ObsContext, cached: &RunObs, cached_key: &Hash) -> Observed {
    let exists = dir.is_dir();
    let at = RunDirStat::new(dir);
    let stage = observe_agent(dir, &at, ctx, exists);
    let agent_key = stage.key(exists);
    if agent_key != *cached_key || exists != cached.exists {
        return observe_rest(dir, &at, ctx, exists, stage);
    }
    let mut files = stage.files;
    files.extend(cached.files.iter().filter(|f| !f.file.in_agent_dir()).cloned());
    let obs = RunObs { agent: stage.agent, files, expected: stage.expected, ..light(cached) };
    Observed { obs, deps: Deps { agent: stage.deps, rest: None, agent_key } }
}

/// A copy of an observation without its expected contents.
pub fn light(obs: &RunObs) -> RunObs {
    RunObs {
        exists: obs.exists,
        agent: obs.agent.clone(),
        judge_prompt: obs.judge_prompt,
        slots: obs.slots.clone(),
        consensus: obs.consensus.clone(),
        judge_timing: obs.judge_timing,
        run_result: obs.run_result.clone(),
        report: obs.report.clone(),
        has_workspace: obs.has_workspace,
        passed: obs.passed,
        files: obs.files.clone(),
        expected: Expected::default(),
    }
}

/// The agent's part of an observation: its facts, and what the run's other checks take from it.
struct AgentStage {
    agent: AgentObs,
    derived: Option<AgentResult>,
    files: Vec<FileHash>,
    deps: Vec<Dep>,
    /// The agent's expected contents only.
    expected: Expected,
}

impl AgentStage {
    /// A digest of everything the rest of the observation uses from this stage.
    fn key(&self, exists: bool) -> Hash {
        let derived = self.derived.as_ref().map(|d| (d.exit_code, format!("{:?}", d.tokens), d.cost_usd.to_bits()));
        let text = format!(
            "{exists}|{}|{:?}|{derived:?}",
            matches!(self.agent.outcome, AgentOutcome::Ok),
            self.agent.duration_seconds.map(f64::to_bits),
        );
        hash_bytes(text.as_bytes())
    }
}

fn observe_agent(dir: &Path, at: &RunDirStat, ctx: &ObsContext, exists: bool) -> AgentStage {
    let mut r = Reader::new(dir, at);
    r.look_in(RunFile::of("agent"));
    let AgentSources { transcript, logged, existing_result, existing_timing, output_txt, started } =
        if exists { read_agent(&mut r) } else { AgentSources::none() };
    let marker = exists && r.exists(&format!("agent/{INCOMPLETE_MARKER}"));
    let outcome = agent_outcome(transcript.as_ref(), existing_result.as_ref().ok(), started, marker);
    let agent_model_md = if exists { r.text("agent/MODEL.md").and_then(|t| model_from_model_md(&t)) } else { None };

    // The agent's derived files, checked against what the transcript gives.
    let mut expected = Expected::default();
    let mut derived: Option<AgentResult> = None;
    let (output_check, result_check, timing_check) = match (&outcome, &transcript) {
        (AgentOutcome::Ok | AgentOutcome::Failed { .. }, Some(t)) => {
            let d = AgentResult::derive_parsed(&t.parsed, &t.stdout, &t.stderr, t.exit_code, &ctx.agent_model);
            let output_check = match &output_txt {
                None => Check::Missing,
                Some(b) if b.as_slice() == t.stdout.as_bytes() => Check::Ok,
                Some(_) => Check::Disagrees(format!("differs from {}", t.stdout_file)),
            };
            let result_check = match &existing_result {
                Err(c) => c.clone(),
                Ok(v) => match agent::check_result(v, &d) {
                    Ok(()) => Check::Ok,
                    Err(e) if e.starts_with("missing key") || e.contains("B1") || e.starts_with("not a JSON") => {
                        Check::Invalid(e)
                    }
                    Err(e) => Check::Disagrees(e),
                },
            };
            if ctx.want_contents {
                expected.output_txt = Some(t.stdout.as_bytes().to_vec());
                expected.result_json = Some(pyjson::to_string(&d.to_value()));
            }
            if let Some(secs) = t.duration.filter(|_| ctx.want_contents) {
                // measured_at cannot be recovered: keep the recorded one, else the command's time.
                let measured = existing_timing
                    .as_ref()
                    .ok()
                    .and_then(|v| v.get("measured_at"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| t.timestamp.clone())
                    .unwrap_or_else(crate::util::time::now_iso);
                expected.timing_json = Some(pyjson::to_string(&agent::timing_value(secs, &measured)));
            }
            let timing_check = match &existing_timing {
                Err(Check::Missing) if t.duration.is_none() => Check::Blocked,
                Err(c) => c.clone(),
                Ok(v) => match agent::check_timing(v, t.duration) {
                    Ok(()) => Check::Ok,
                    Err(e) if e.starts_with("says") => Check::Disagrees(e),
                    Err(e) => Check::Invalid(e),
                },
            };
            derived = Some(d);
            (output_check, result_check, timing_check)
        }
        _ => (Check::Blocked, Check::Blocked, Check::Blocked),
    };
    let agent_duration = existing_timing
        .as_ref()
        .ok()
        .filter(|_| timing_check.is_ok())
        .and_then(|v| v.get("agent_duration_seconds"))
        .and_then(pyjson::as_f64)
        .or(logged.duration);
    let agent = AgentObs {
        model: logged.model.clone().or(agent_model_md),
        cost_usd: derived.as_ref().map(|d| d.cost_usd),
        duration_seconds: agent_duration,
        has_prompt: exists && r.exists("agent/prompt.md"),
        outcome,
        output_txt: output_check,
        result_json: result_check,
        timing_json: timing_check,
    };
    expected.agent_observed = ctx.want_contents;
    AgentStage { agent, derived, files: r.files, deps: r.deps, expected }
}

/// Observes everything but the agent's files, given what the agent stage found.
fn observe_rest(dir: &Path, at: &RunDirStat, ctx: &ObsContext, exists: bool, stage: AgentStage) -> Observed {
    let agent_key = stage.key(exists);
    let AgentStage { agent, derived, files: agent_files, deps: agent_deps, mut expected } = stage;
    expected.observed = ctx.want_contents;
    let mut r = Reader::new(dir, at);
    r.look_in(crate::cache::run_dirs(ctx.judge_models.len()).into_iter().filter(|d| !d.in_agent_dir()));
    let judge_prompt = exists && r.read_hash_only("judge_prompt.md");
    let slots: Vec<SlotObs> = (1..=ctx.judge_models.len()).map(|n| observe_slot(&mut r, n, exists)).collect();
    if ctx.want_contents {
        for s in &slots {
            let usable = s.state == SlotState::Usable;
            expected.judgments.push(s.parsed.as_ref().filter(|_| usable).map(|j| pyjson::to_string(&j.to_value())));
            expected.response_txt.push(s.response_to_restore.clone());
        }
    }

    // Consensus and judge timing.
    let judge_timing_value = if exists { r.json("judge/timing.json").ok() } else { None };
    let judge_timing =
        judge_timing_value.as_ref().and_then(|v| v.get("judge_duration_seconds")).and_then(pyjson::as_f64);
    let outcomes: Option<Vec<SlotOutcome>> = slots
        .iter()
        .map(|s| match (&s.state, &s.parsed) {
            (SlotState::Usable, Some(j)) => Some(SlotOutcome::Judged(j.clone())),
            (SlotState::Failed { detail, .. }, _) => Some(SlotOutcome::Failed(detail.clone())),
            _ => None,
        })
        .collect();
    let all_usable = slots.iter().all(|s| s.state == SlotState::Usable);
    let consensus_value = outcomes.as_ref().filter(|_| all_usable).map(|o| Consensus::compute(ctx.era, o));
    if ctx.want_contents {
        expected.consensus = consensus_value.as_ref().map(|c| pyjson::to_string(&c.to_value(ctx.era)));
    }
    let existing_consensus = if exists { r.json("judge/result.json") } else { Err(Check::Missing) };
    let consensus = match (&consensus_value, &existing_consensus) {
        (None, _) => Check::Blocked,
        (Some(_), Err(c)) => c.clone(),
        (Some(_), Ok(_)) if judge_timing_value.is_none() && slots.iter().any(|s| s.duration_seconds.is_some()) => {
            Check::Disagrees("judge/timing.json is missing".into())
        }
        (Some(c), Ok(v)) => match c.check(ctx.era, v) {
            Ok(()) => Check::Ok,
            Err(e) if e.starts_with("missing key") || e.starts_with("not a JSON") || e.contains("not a number") => {
                Check::Invalid(e)
            }
            Err(e) => Check::Disagrees(e),
        },
    };

    // run_result.json, computed from the fully regenerated chain.
    let existing_rr = if exists { r.json("run_result.json") } else { Err(Check::Missing) };
    let judge_duration = judge_timing.or_else(|| derive_judge_duration(ctx.era, &slots));
    if judge_timing.is_none()
        && ctx.want_contents
        && let Some(secs) = judge_duration
    {
        let at = slots.iter().rev().find_map(|s| s.measured_at.clone()).unwrap_or_else(crate::util::time::now_iso);
        expected.judge_timing = Some(crate::rules::runner_files::judge_timing(secs, &at));
    }
    let run_result_check = match (&derived, &consensus_value, agent.duration_seconds, judge_duration) {
        (Some(d), Some(c), Some(ad), Some(jd)) if matches!(agent.outcome, AgentOutcome::Ok) => {
            let inputs = run_result::RunResultInputs {
                era: ctx.era,
                run_number: ctx.run_number,
                exit_code: d.exit_code,
                tokens: d.tokens,
                cost_usd: d.cost_usd,
                agent_duration: ad,
                judge_duration: jd,
                consensus: c,
                slots: ctx.judge_models.iter().cloned().zip(outcomes.clone().unwrap_or_default()).collect(),
                // Keep the paths the runner recorded (B24), even after a move between layouts.
                run_path: existing_rr
                    .as_ref()
                    .ok()
                    .and_then(|v| v.get("workspace_path"))
                    .and_then(Value::as_str)
                    .and_then(|p| p.strip_suffix("/workspace"))
                    .map_or_else(|| ctx.recorded_run_path.clone(), str::to_string),
                baseline_summary: ctx.baseline_summary.clone(),
                previous: existing_rr.as_ref().ok(),
            };
            let want = run_result::build(&inputs);
            if ctx.want_contents {
                expected.run_result = Some(pyjson::to_string(&want));
            }
            match &existing_rr {
                Err(c) => c.clone(),
                Ok(v) => match run_result::check(v, &want) {
                    Ok(()) => Check::Ok,
                    Err(e) if e.starts_with("missing key") || e.starts_with("not a JSON") => Check::Invalid(e),
                    Err(e) => Check::Disagrees(e),
                },
            }
        }
        _ => Check::Blocked,
    };

    // The run report, checked against the run_result.json on disk.
    let report = match (&existing_rr, exists) {
        (Ok(rr), true) => {
            let json_check = match r.json("report.json") {
                Err(c) => c,
                Ok(v) => {
                    let generated = v.get("generated_at").and_then(Value::as_str).unwrap_or("");
                    let want = run_report::report_json(ctx.era, rr, generated);
                    if run_result::same(&v, &want) {
                        Check::Ok
                    } else {
                        Check::Disagrees("report.json disagrees with run_result.json".into())
                    }
                }
            };
            match json_check {
                Check::Ok => match r.text("report.md") {
                    None => Check::Missing,
                    Some(md) if md.trim().is_empty() => Check::Invalid("report.md is empty".into()),
                    Some(md) => {
                        let ws =
                            run_report::workspace_section(&md).unwrap_or_else(|| run_report::NO_WORKSPACE.to_string());
                        let generated = md.lines().find_map(|l| l.strip_prefix("**Generated**: ")).unwrap_or("");
                        let want = run_report::report_md(ctx.era, &ctx.run_id, rr, &ws, generated);
                        if want == md {
                            Check::Ok
                        } else {
                            Check::Disagrees("report.md disagrees with run_result.json".into())
                        }
                    }
                },
                other => other,
            }
        }
        _ => Check::Blocked,
    };

    // The parsed judgments served the checks above; observations are cloned and cached, so
    // they do not carry them further.
    let mut slots = slots;
    for s in &mut slots {
        s.parsed = None;
        s.response_to_restore = None;
    }
    let mut files = agent_files;
    files.extend(r.files);
    let obs = RunObs {
        exists,
        agent,
        judge_prompt,
        slots,
        consensus,
        judge_timing: judge_timing.is_some(),
        run_result: run_result_check,
        report,
        has_workspace: exists && dir.join("workspace").is_dir(),
        passed: consensus_value.as_ref().map(|c| c.passed),
        files,
        expected,
    };
    Observed { obs, deps: Deps { agent: agent_deps, rest: Some(r.deps), agent_key } }
}

/// `judge/timing.json` when absent: the sum of slot times (January 2026) or the last slot's
/// cumulative time (current runner, B19).
pub fn derive_judge_duration(era: Era, slots: &[SlotObs]) -> Option<f64> {
    let times: Vec<f64> = slots.iter().filter_map(|s| s.duration_seconds).collect();
    if times.is_empty() {
        return None;
    }
    Some(match era {
        Era::Jan2026 => crate::py::stats::py_sum(&times),
        Era::Head => times.iter().copied().fold(0.0, f64::max),
    })
}

impl Reader<'_> {
    /// Records a file's hash without keeping its content; true when it exists.
    fn read_hash_only(&mut self, rel: &str) -> bool {
        matches!(self.read(rel), Read::Bytes(_))
    }
}

fn observe_slot(r: &mut Reader, slot: usize, run_exists: bool) -> SlotObs {
    let base = format!("judge/{}", slot_dir_name(slot));
    let missing = SlotObs {
        slot,
        state: SlotState::Missing,
        judgment: Check::Blocked,
        model: None,
        parsed: None,
        duration_seconds: None,
        cost_usd: None,
        measured_at: None,
        response_to_restore: None,
    };
    if !run_exists {
        return missing;
    }
    let has_files = std::fs::read_dir(r.dir.join(&base)).map(|mut d| d.next().is_some()).unwrap_or(false);
    if !has_files {
        return missing;
    }
    let model = r.text(&format!("{base}/MODEL.md")).and_then(|t| model_from_model_md(&t));
    let timing = r.json(&format!("{base}/timing.json")).ok();
    let duration_seconds = timing.as_ref().and_then(|t| t.get("judge_duration_seconds")).and_then(pyjson::as_f64);
    let measured_at = timing.as_ref().and_then(|t| t.get("measured_at")).and_then(Value::as_str).map(str::to_string);
    let mut errors: Vec<(String, String)> = Vec::new();
    if let Some(t) = &timing
        && t.get("failed").and_then(Value::as_bool) == Some(true)
    {
        let e = t.get("error").and_then(Value::as_str).unwrap_or("judge failed");
        errors.push((e.to_string(), format!("{base}/timing.json")));
    }
    if let Some(e) = r.text(&format!("{base}/error.log")).filter(|e| !e.trim().is_empty()) {
        errors.push((e.trim().trim_start_matches("Judge failed: ").to_string(), format!("{base}/error.log")));
    }
    let marker = r.exists(&format!("{base}/{INCOMPLETE_MARKER}"));
    let stdout = r.text(&format!("{base}/stdout.log"));
    let response_txt = r.text(&format!("{base}/response.txt"));
    let has_response = response_txt.as_deref().is_some_and(|t| !t.trim().is_empty());
    // The whole stream is parsed only when it is the response's source; otherwise its result
    // line alone gives the call's cost.
    let stream =
        stdout.as_deref().filter(|o| !o.trim().is_empty() && !has_response).map(judgment::response_from_stdout);
    let cost_usd = match &stream {
        Some(s) => s.result_event.as_ref().and_then(|e| e.get("total_cost_usd")).and_then(pyjson::as_f64),
        None => stdout.as_deref().and_then(judgment::result_line_cost),
    };
    let mut response_to_restore = None;
    let (response, response_file) = match (&response_txt, &stream) {
        (Some(t), _) if !t.trim().is_empty() => (Some(t.clone()), format!("{base}/response.txt")),
        (_, Some(s)) => {
            if let Some(e) = &s.error {
                errors.push((e.clone(), format!("{base}/stdout.log")));
            }
            if response_txt.is_none() && !s.text.trim().is_empty() {
                response_to_restore = Some(s.text.clone());
            }
            (Some(s.text.clone()), format!("{base}/stdout.log"))
        }
        _ => (None, format!("{base}/response.txt")),
    };
    let base_obs = SlotObs { model, duration_seconds, cost_usd, measured_at, response_to_restore, ..missing };
    let existing = r.json(&format!("{base}/judgment.json"));
    let mut parsed = response.as_deref().map(judgment::parse_response);
    let mut response_file = response_file;
    let mut base_obs = base_obs;
    // A damaged response.txt (cut short by a crash) next to a complete stream: the stream wins
    // and response.txt is restored from it.
    if has_response
        && matches!(parsed, Some(Err(_)))
        && let Some(out) = stdout.as_deref().filter(|o| !o.trim().is_empty())
    {
        let s = judgment::response_from_stdout(out);
        if let Ok(j) = judgment::parse_response(&s.text) {
            parsed = Some(Ok(j));
            base_obs.response_to_restore = Some(s.text);
            response_file = format!("{base}/stdout.log");
        }
    }

    let fail = |class: FailureClass, detail: String, file: String| SlotObs {
        state: SlotState::Failed { class, detail, file },
        response_to_restore: None,
        ..base_obs.clone()
    };
    if marker {
        return fail(
            FailureClass::Infrastructure,
            "darn was stopped while this judge ran (incomplete marker present)".into(),
            format!("{base}/{INCOMPLETE_MARKER}"),
        );
    }
    match parsed {
        Some(Ok(j)) => {
            let judgment = match &existing {
                // The response only survives in the stream: restoring response.txt is part of
                // regenerating the judgment.
                Ok(_) if base_obs.response_to_restore.is_some() => {
                    Check::Disagrees("response.txt is missing or damaged; stdout.log holds the response".into())
                }
                Err(c) => c.clone(),
                Ok(v) => match Judgment::from_value(v) {
                    Err(e) => Check::Invalid(e),
                    Ok(have) if run_result::same(&have.to_value(), &j.to_value()) => Check::Ok,
                    Ok(_) => Check::Disagrees(format!("does not match {response_file}")),
                },
            };
            SlotObs { state: SlotState::Usable, judgment, parsed: Some(j), ..base_obs }
        }
        parse_result => {
            // No usable response. A valid judgment with no response and no error stands alone.
            if response.is_none()
                && errors.is_empty()
                && let Ok(v) = &existing
                && let Ok(j) = Judgment::from_value(v)
                && j.is_valid
            {
                return SlotObs { state: SlotState::Usable, judgment: Check::Ok, parsed: Some(j), ..base_obs };
            }
            let error_text: String = errors.first().map(|(e, _)| e.clone()).unwrap_or_default();
            let rate_limited = errors.iter().any(|(e, _)| ratelimit::matches_json_patterns(e))
                || stdout.as_deref().and_then(ratelimit::in_stdout).is_some();
            if rate_limited {
                let file = errors.first().map_or(format!("{base}/stdout.log"), |(_, f)| f.clone());
                return fail(FailureClass::RateLimit, format!("judge rate limited: {}", first_line(&error_text)), file);
            }
            if let Some((e, file)) = errors.first() {
                let class = if timeout_text(e) { FailureClass::Timeout } else { FailureClass::JudgeError };
                return fail(class, format!("judge failed: {}", first_line(e)), file.clone());
            }
            match parse_result {
                Some(Err(why)) if why == "empty response" => {
                    fail(FailureClass::JudgeError, "judge response is empty".into(), response_file)
                }
                Some(Err(why)) => {
                    fail(FailureClass::JudgeUnparseable, format!("judge response unparseable: {why}"), response_file)
                }
                _ => fail(FailureClass::JudgeError, "no judge response recorded".into(), response_file),
            }
        }
    }
}
