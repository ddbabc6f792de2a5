//! Writes realistic experiments: every file a runner writes, then a share of runs damaged the
//! ways real experiments break. Used by `darn demo`, the tests and the benchmarks.
//!
//! Everything is derived from the seed, so the same spec always writes the same bytes (except the
//! absolute paths of the directory it is written to).

use crate::error::{Error, Result};
use crate::experiment::era::Era;
use crate::experiment::names::{RunKey, run_dir_name, slot_dir_name};
use crate::py::json as pyjson;
use crate::rules::content::agent::AgentResult;
use crate::rules::content::consensus::{Consensus, SlotOutcome};
use crate::rules::content::judgment;
use crate::rules::content::runner_files::{self, LoggedCommand};
use crate::rules::content::{judge_prompt, run_report, run_result};
mod aggregates;
pub mod standin;

use crate::util::time::iso_micros;
use rayon::prelude::*;
use serde_json::{Value, json};
use standin::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The size and shape of a demo experiment.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub tiers: u32,
    pub subtests: u32,
    pub runs_per_subtest: u32,
    pub judges: u32,
    pub seed: u64,
    /// Flat writes January-2026 shapes; phased writes the current runner's.
    pub phased: bool,
    /// Damage a share of runs (and some aggregates).
    pub damage: bool,
    /// The darn executable the stand-in commands in `darn.toml` call.
    pub darn_exe: Option<PathBuf>,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec {
            tiers: 4,
            subtests: 3,
            runs_per_subtest: 25,
            judges: 3,
            seed: 7,
            phased: true,
            damage: true,
            darn_exe: None,
        }
    }
}

impl DemoSpec {
    /// A spec with about `runs` runs over 7 tiers (like the seed experiment's 1,130).
    pub fn with_runs(runs: u32) -> Self {
        let tiers = 7;
        let subtests = ((runs as f64 / (tiers as f64 * 10.0)).ceil() as u32).max(1);
        let runs_per_subtest = (runs as f64 / (tiers * subtests) as f64).ceil() as u32;
        DemoSpec { tiers, subtests, runs_per_subtest: runs_per_subtest.max(1), ..DemoSpec::default() }
    }

    pub fn era(&self) -> Era {
        if self.phased { Era::HEAD } else { Era::JAN2026 }
    }

    pub fn total_runs(&self) -> u32 {
        self.tiers * self.subtests * self.runs_per_subtest
    }
}

/// The kinds of damage real experiments show, each with the verdict darn must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// No run directory: the runner never got to it.
    NeverStarted,
    /// The agent was killed mid-run: truncated stdout, nothing derived.
    KilledAgent,
    /// The agent hit the usage limit.
    RateLimitedAgent,
    /// The runner's timeout: exit −1, zero tokens, empty output.
    AgentTimeout,
    /// The agent reported an error of its own.
    AgentError,
    /// `agent/result.json` never written (the 1,091-of-1,130 case).
    MissingAgentResult,
    /// `agent/result.json` written with the wrong token keys (docs/format.md#bug-regenerated-agent-result-uses-usage-token-names).
    WrongKeyedAgentResult,
    /// `agent/output.txt` missing.
    MissingOutputTxt,
    /// The agent finished but no judge ran.
    JudgesNeverRan,
    /// One judge slot never ran.
    MissingJudgeSlot,
    /// One judge slot failed with an error.
    FailedJudgeSlot,
    /// One judge answered without a parseable verdict.
    UnparseableJudge,
    /// One judge hit a rate limit.
    RateLimitedJudge,
    /// A slot's response is there but its `judgment.json` is not.
    MissingJudgment,
    /// `judge/result.json` missing.
    MissingConsensus,
    /// `judge/result.json` disagrees with the judgments.
    StaleConsensus,
    /// `run_result.json` missing.
    MissingRunResult,
    /// `run_result.json` lost its `judges[]` on a resume (docs/format.md#bug-resume-loses-criteria-and-judges).
    LostJudges,
    /// The run's `report.json`/`report.md` missing.
    MissingRunReport,
}

impl Damage {
    pub const ALL: [Damage; 19] = [
        Damage::NeverStarted,
        Damage::KilledAgent,
        Damage::RateLimitedAgent,
        Damage::AgentTimeout,
        Damage::AgentError,
        Damage::MissingAgentResult,
        Damage::WrongKeyedAgentResult,
        Damage::MissingOutputTxt,
        Damage::JudgesNeverRan,
        Damage::MissingJudgeSlot,
        Damage::FailedJudgeSlot,
        Damage::UnparseableJudge,
        Damage::RateLimitedJudge,
        Damage::MissingJudgment,
        Damage::MissingConsensus,
        Damage::StaleConsensus,
        Damage::MissingRunResult,
        Damage::LostJudges,
        Damage::MissingRunReport,
    ];

    /// The agent never produced a valid transcript: the run stays in `in_progress/`.
    fn agent_broken(self) -> bool {
        matches!(self, Damage::KilledAgent | Damage::RateLimitedAgent | Damage::AgentTimeout | Damage::AgentError)
    }
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoSummary {
    pub root: PathBuf,
    pub runs: usize,
    pub damaged: Vec<(String, Damage)>,
    /// Aggregate files removed on purpose.
    pub removed_aggregates: Vec<String>,
}

impl DemoSummary {
    /// The runs damaged with `kind`.
    pub fn runs_with(&self, kind: Damage) -> Vec<&str> {
        self.damaged.iter().filter(|(_, d)| *d == kind).map(|(id, _)| id.as_str()).collect()
    }
}

const TASK_PROMPT: &str = "# Task: Create a Hello World Script\n\nCreate a simple Python script called `hello.py` that prints \"Hello, World!\" to stdout.\n\n## Requirements\n\n1. Create a file named `hello.py` in the current working directory (use relative path `./hello.py`)\n2. The script should print exactly: `Hello, World!`\n3. The script should exit with code 0\n\n## Success Criteria\n\n- File `hello.py` exists in the current working directory\n- Running `python hello.py` prints \"Hello, World!\"\n- Exit code is 0\n";

const RUBRIC: &str = "# Rubric for the demo task\ncategories:\n  functional:\n    weight: 0.35\n    scoring_type: \"checklist\"\n    items:\n      - id: F1\n        check: \"File hello.py exists in workspace root\"\n        points: 1.0\n      - id: F2\n        check: \"Running `python hello.py` prints 'Hello, World!'\"\n        points: 1.0\n      - id: F3\n        check: \"Script exits with code 0\"\n        points: 1.0\n  code_quality:\n    weight: 0.20\n    scoring_type: \"checklist\"\n    items:\n      - id: Q1\n        check: \"Python syntax is valid\"\n        points: 1.0\n      - id: Q2\n        check: \"Code is idiomatic Python\"\n        points: 1.0\n      - id: Q3\n        check: \"No unused imports or variables\"\n        points: 1.0\n  proportionality:\n    weight: 0.15\n    scoring_type: \"checklist\"\n    items:\n      - id: P1\n        check: \"At most 3 files created\"\n        points: 1.0\n      - id: P2\n        check: \"At most 3 lines of code\"\n        points: 1.0\n  build_pipeline:\n    weight: 0.10\n    scoring_type: \"checklist\"\n    items:\n      - id: B1\n        check: \"Build passes\"\n        points: 1.0\n      - id: B2\n        check: \"Format check passes\"\n        points: 1.0\n  overall_quality:\n    weight: 0.20\n    scoring_type: \"subjective\"\n    items:\n      - id: OQ1\n        check: \"Overall engineering judgment\"\n        points: 2.0\ngrading:\n  pass_threshold: 0.60\n  grade_scale:\n    S: 1.00\n    A: 0.80\n    B: 0.60\n    C: 0.40\n    D: 0.20\n    F: 0.0\n";

const CRITERIA: &str = "# Evaluation Criteria\n\n## R001: File Creation\nThe agent must create `hello.py` in the workspace.\n\n## R002: Correct Output\nThe script must print \"Hello, World!\" when executed.\n";

const SYSTEM_PROMPT: &str = "You are an expert code reviewer grading an AI agent's work against a rubric.\nAnswer with a JSON object: score (0-1), passed, reasoning, categories.\n";

const CLI_VERSION: &str = "2.1.12 (Claude Code)";
const TASK_COMMIT: &str = "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d";

/// Everything shared by the runs of one demo.
struct Ctx {
    root: PathBuf,
    root_str: String,
    spec: DemoSpec,
    era: Era,
    experiment_id: String,
    agent_model: String,
    judge_models: Vec<String>,
    /// Microseconds of the experiment start.
    start: i64,
}

/// The files of one run, relative to the run directory.
type Files = BTreeMap<String, Vec<u8>>;

/// Writes a demo experiment into `dir` (which must not exist or be empty).
pub fn generate(dir: &Path, spec: &DemoSpec) -> Result<DemoSummary> {
    if spec.tiers == 0 || spec.subtests == 0 || spec.runs_per_subtest == 0 || spec.judges == 0 {
        return Err(Error::Usage("demo sizes must be at least 1".into()));
    }
    if spec.tiers > 100 || spec.judges > 99 {
        return Err(Error::Usage("demo: at most 100 tiers and 99 judges".into()));
    }
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        if entries.next().is_some() {
            return Err(Error::Usage(format!(
                "{} already exists and is not empty; choose a new directory",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let root = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    let era = spec.era();
    let (agent_model, all_judges): (String, &[&str]) = match era {
        Era::HEAD => ("claude-sonnet-4-6".into(), &["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"]),
        _ => (
            "claude-sonnet-4-5-20250929".into(),
            &["claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5"],
        ),
    };
    let judge_models: Vec<String> =
        (0..spec.judges as usize).map(|i| all_judges[i % all_judges.len()].to_string()).collect();
    let ctx = Ctx {
        root_str: root.display().to_string(),
        root: root.clone(),
        spec: spec.clone(),
        era,
        experiment_id: format!("demo-{:03}", spec.seed % 1000),
        agent_model,
        judge_models,
        start: 1_774_857_600_000_000 + (spec.seed % 1000) as i64 * 86_400_000_000,
    };

    // Which runs get which damage: a deterministic shuffle, kinds dealt round-robin so that every
    // kind appears once there are enough runs.
    let mut keys: Vec<RunKey> = Vec::new();
    for t in 0..spec.tiers {
        for s in 0..spec.subtests {
            for r in 1..=spec.runs_per_subtest {
                keys.push(RunKey::new(format!("T{t}"), format!("{s:02}"), r));
            }
        }
    }
    let mut damage: BTreeMap<usize, Damage> = BTreeMap::new();
    if spec.damage {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        let mut rng = Rng::new(spec.seed ^ 0xDA3A6E);
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let share = ((keys.len() as f64 * 0.35).round() as usize).max(Damage::ALL.len().min(keys.len()));
        for (n, idx) in order.into_iter().take(share).enumerate() {
            damage.insert(idx, Damage::ALL[n % Damage::ALL.len()]);
        }
    }

    let results: Vec<Result<()>> = keys
        .par_iter()
        .enumerate()
        .map(|(i, key)| {
            let kind = damage.get(&i).copied();
            if kind == Some(Damage::NeverStarted) {
                return Ok(());
            }
            let (files, phase) = make_run(&ctx, key, i, kind);
            let dir = ctx.run_dir(key, phase);
            write_files(&dir, &files)
        })
        .collect();
    results.into_iter().collect::<Result<Vec<()>>>()?;

    write_experiment_files(&ctx, &keys, &damage)?;
    let removed_aggregates = aggregates::write(&root, spec.damage)?;

    Ok(DemoSummary {
        root,
        runs: keys.len(),
        damaged: damage.iter().map(|(i, d)| (keys[*i].id(), *d)).collect(),
        removed_aggregates,
    })
}

/// Where a run lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunPhase {
    Flat,
    InProgress,
    Completed,
}

impl Ctx {
    fn run_dir(&self, key: &RunKey, phase: RunPhase) -> PathBuf {
        let base = match phase {
            RunPhase::Flat => self.root.clone(),
            RunPhase::InProgress => self.root.join("in_progress"),
            RunPhase::Completed => self.root.join("completed"),
        };
        base.join(&key.tier).join(&key.subtest).join(run_dir_name(key.run))
    }

    fn run_path_str(&self, key: &RunKey, phase: RunPhase) -> String {
        let phase = match phase {
            RunPhase::Flat => "",
            RunPhase::InProgress => "/in_progress",
            RunPhase::Completed => "/completed",
        };
        format!("{}{phase}/{}/{}/{}", self.root_str, key.tier, key.subtest, run_dir_name(key.run))
    }
}

/// Writes a run's files: each directory is made once (not once per file), and scripts are
/// created executable (not changed after), which halves the system calls of a large demo.
fn write_files(dir: &Path, files: &Files) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            made.insert(parent.to_path_buf());
        }
        let mode = if rel.ends_with(".sh") { 0o755 } else { 0o644 };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

fn put(files: &mut Files, rel: &str, text: impl Into<Vec<u8>>) {
    files.insert(rel.to_string(), text.into());
}

/// Builds one run's files (clean, then damaged) and says where the run lives.
fn make_run(ctx: &Ctx, key: &RunKey, index: usize, damage: Option<Damage>) -> (Files, RunPhase) {
    let era = ctx.era;
    let seed = format!("{}:{}", ctx.spec.seed, key.id());
    let mut rng = Rng::from_bytes(seed.as_bytes());
    let phase = match (era, damage) {
        (Era::JAN2026, _) => RunPhase::Flat,
        (Era::HEAD, Some(d)) if d.agent_broken() => RunPhase::InProgress,
        _ => RunPhase::Completed,
    };
    // The agent always ran in the directory the runner created the run in.
    let exec_phase = if era == Era::HEAD { RunPhase::InProgress } else { RunPhase::Flat };
    let exec_path = ctx.run_path_str(key, exec_phase);
    let recorded_path = ctx.run_path_str(key, if era == Era::HEAD { RunPhase::Completed } else { RunPhase::Flat });
    let t0 = ctx.start + index as i64 * 41_000_000 + rng.range(0, 999_999) as i64;
    let mut files = Files::new();

    // Workspace setup (run level).
    let branch = match era {
        Era::HEAD => format!(
            "{}_{}_{}_{}",
            &ctx.experiment_id[..ctx.experiment_id.len().min(8)],
            key.tier,
            key.subtest,
            run_dir_name(key.run)
        ),
        _ => format!("{}_{}_{}", key.tier, key.subtest, run_dir_name(key.run)),
    };
    let workspace = format!("{exec_path}/workspace");
    put(&mut files, "task_prompt.md", TASK_PROMPT);
    put(&mut files, "cmd_0000_stdout.log", "HEAD is now at 7fd1a60 Initial commit\n");
    put(&mut files, "cmd_0000_stderr.log", format!("Preparing worktree (new branch '{branch}')\n"));
    put(
        &mut files,
        "worktree_create.sh",
        runner_files::worktree_script(
            &branch,
            &format!("{}/repo", ctx.root_str),
            &workspace,
            TASK_COMMIT,
            era == Era::HEAD,
        ),
    );
    if era == Era::JAN2026 {
        put(&mut files, "workspace/README", "Hello-World\n");
    }

    // The agent.
    let prompt_path = format!("{exec_path}/agent/prompt.md");
    let argv: Vec<String> = [
        "claude",
        "--model",
        &ctx.agent_model,
        "--print",
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        &prompt_path,
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let env = vec![
        ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
        ("HOME".to_string(), "/home/eval".to_string()),
        ("USER".to_string(), "eval".to_string()),
        ("SHELL".to_string(), "/bin/bash".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    let success = standin::agent_success(seed.as_bytes(), &ctx.agent_model);
    let (stdout, exit_code, duration) = match damage {
        Some(Damage::RateLimitedAgent) => (standin::agent_rate_limited(seed.as_bytes()), 1, 1.0 + rng.unit()),
        Some(Damage::AgentError) => (standin::agent_error(seed.as_bytes()), 1, 20.0 + rng.unit() * 10.0),
        Some(Damage::AgentTimeout) => (String::new(), -1, ctx.spec_timeout() as f64),
        _ => (success.stdout.clone(), 0, success.duration_seconds),
    };
    let pre = LoggedCommand {
        timestamp: iso_micros(t0 + 1_000),
        argv,
        cwd: workspace.clone(),
        env,
        exit_code: 0,
        duration_seconds: 0.0,
    };
    let done_at = t0 + (duration * 1e6) as i64 + 2_000;
    let post = LoggedCommand { timestamp: iso_micros(done_at), exit_code, duration_seconds: duration, ..pre.clone() };
    put(&mut files, "agent/prompt.md", TASK_PROMPT);
    put(&mut files, "agent/replay.sh", runner_files::agent_replay(&iso_micros(t0 + 1_500), &pre));
    let trace = runner_files::agent_trace(&pre);
    match damage {
        Some(Damage::KilledAgent) => {
            // Killed mid-write: the command log still has the pre-run entry, stdout stops short.
            put(&mut files, "agent/command_log.json", runner_files::command_log(&iso_micros(t0 + 1_200), &pre));
            let cut = stdout.len() * 2 / 5;
            put(&mut files, "agent/stdout.log", &stdout.as_bytes()[..cut]);
            put(&mut files, "agent/stderr.log", trace);
            return (files, phase);
        }
        Some(Damage::AgentTimeout) => {
            // The runner's exception path: empty output.txt, no logs, exit −1 with zero tokens.
            let stderr = format!("Agent execution timed out after {} seconds", ctx.spec_timeout());
            let result = AgentResult::derive("", &stderr, -1, &ctx.agent_model);
            put(&mut files, "agent/command_log.json", runner_files::command_log(&iso_micros(done_at + 500), &post));
            put(&mut files, "agent/output.txt", "");
            put(&mut files, "agent/result.json", pyjson::to_string(&result.to_value()));
            put(
                &mut files,
                "agent/timing.json",
                pyjson::to_string(&crate::rules::content::agent::timing_value(duration, &iso_micros(done_at + 700))),
            );
            return (files, phase);
        }
        _ => {}
    }
    let stderr = trace;
    let result = AgentResult::derive(&stdout, &stderr, exit_code, &ctx.agent_model);
    put(&mut files, "agent/command_log.json", runner_files::command_log(&iso_micros(done_at + 500), &post));
    put(&mut files, "agent/cmd_0000_stdout.log", stdout.clone());
    put(&mut files, "agent/cmd_0000_stderr.log", stderr.clone());
    put(&mut files, "agent/stdout.log", stdout.clone());
    put(&mut files, "agent/stderr.log", stderr.clone());
    if damage != Some(Damage::MissingOutputTxt) {
        put(&mut files, "agent/output.txt", stdout.clone());
    }
    match damage {
        Some(Damage::MissingAgentResult) => {}
        Some(Damage::WrongKeyedAgentResult) => {
            let mut v = result.to_value();
            let t = result.tokens;
            v["token_stats"] = json!({
                "input_tokens": t.input_tokens,
                "output_tokens": t.output_tokens,
                "cache_creation_input_tokens": t.cache_creation_tokens,
                "cache_read_input_tokens": t.cache_read_tokens,
            });
            v["api_calls"] = json!(1);
            put(&mut files, "agent/result.json", pyjson::to_string(&v));
        }
        _ => put(&mut files, "agent/result.json", pyjson::to_string(&result.to_value())),
    }
    put(
        &mut files,
        "agent/timing.json",
        pyjson::to_string(&crate::rules::content::agent::timing_value(duration, &iso_micros(done_at + 300))),
    );
    put(
        &mut files,
        "agent/MODEL.md",
        runner_files::agent_model_md(&ctx.agent_model, CLI_VERSION, &iso_micros(done_at + 1_600_000)),
    );
    if matches!(damage, Some(d) if d.agent_broken()) {
        return (files, phase);
    }

    // The build pipeline and the judge prompt.
    let build_log = "Python syntax check passed\n\n## Script Execution Results\n\n### Running: python hello.py\nExit code: 0\nOutput:\nHello, World!\n";
    put(&mut files, "commands/python_build_output.log", build_log);
    put(&mut files, "commands/python_format_output.log", "All checks passed!\n");
    let pipeline = vec![(
        if era == Era::HEAD {
            "Build/Lint/Test Pipeline Results (After Agent)"
        } else {
            "Build/Lint/Test Pipeline Results"
        }
        .to_string(),
        format!(
            "**Overall Status**: ALL PASSED ✓\n\n### Python Build (PASSED)\n```\n{build_log}\n```\n\n### Python Format Check (PASSED)\n```\nAll checks passed!\n\n```"
        ),
    )];
    let prompt = judge_prompt::build(&judge_prompt::PromptParts {
        rubric: Some(RUBRIC),
        task: TASK_PROMPT,
        agent_output: &stdout,
        changed_files: vec![("hello.py".to_string(), "created")],
        diff: Some(
            "diff --git a/hello.py b/hello.py\nnew file mode 100644\n--- /dev/null\n+++ b/hello.py\n@@ -0,0 +1 @@\n+print(\"Hello, World!\")",
        ),
        pipeline,
    });
    put(&mut files, "judge_prompt.md", prompt.clone());
    if damage == Some(Damage::JudgesNeverRan) {
        return (files, phase);
    }

    // The judges.
    let quality = standin::quality_of(prompt.as_bytes());
    let n_judges = ctx.judge_models.len();
    let special_slot = (rng.range(1, n_judges as u64)) as usize;
    let mut outcomes: Vec<SlotOutcome> = Vec::new();
    let mut judge_t = done_at as f64 / 1e6 + 3.0;
    let judge_start = judge_t;
    let mut slot_times = Vec::new();
    for (i, model) in ctx.judge_models.iter().enumerate() {
        let slot = i + 1;
        let base = format!("judge/{}", slot_dir_name(slot));
        let special = slot == special_slot;
        if special && damage == Some(Damage::MissingJudgeSlot) {
            outcomes.push(SlotOutcome::Failed("judge never ran".into()));
            continue;
        }
        let response = if special && damage == Some(Damage::UnparseableJudge) {
            "I reviewed the workspace. The agent created hello.py and it runs, but I cannot provide a structured verdict for this submission.\n".to_string()
        } else {
            standin::judge_response(prompt.as_bytes(), model, quality)
        };
        let (stream, secs) = standin::judge_stream(prompt.as_bytes(), model, &response);
        judge_t += secs;
        let measured = iso_micros((judge_t * 1e6) as i64);
        // The current runner's slot timings are cumulative (docs/format.md#bug-judge-timing-is-cumulative); January's were per slot.
        let recorded_secs = match era {
            Era::HEAD => round6(judge_t - judge_start),
            _ => secs,
        };
        slot_times.push(secs);
        put(&mut files, &format!("{base}/MODEL.md"), runner_files::judge_model_md(model, CLI_VERSION, &measured));
        put(&mut files, &format!("{base}/replay.sh"), runner_files::judge_replay(model));
        if special && matches!(damage, Some(Damage::FailedJudgeSlot | Damage::RateLimitedJudge)) {
            let error = if damage == Some(Damage::RateLimitedJudge) {
                "API Error: 429 {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your rate limit\"}}"
            } else {
                "Judge CLI exited with code 1: Error: connection reset by peer"
            };
            if damage == Some(Damage::RateLimitedJudge) {
                let ev = json!({"type": "result", "subtype": "success", "is_error": true, "duration_ms": 900, "num_turns": 1, "result": error, "total_cost_usd": 0});
                put(&mut files, &format!("{base}/stdout.log"), format!("{}\n", standin::js_json(&ev)));
            }
            put(&mut files, &format!("{base}/error.log"), format!("Judge failed: {error}\n"));
            let timing =
                json!({"judge_duration_seconds": 0.0, "measured_at": measured, "failed": true, "error": error});
            put(&mut files, &format!("{base}/timing.json"), pyjson::to_string(&timing));
            outcomes.push(SlotOutcome::Failed(error.to_string()));
            continue;
        }
        match era {
            Era::HEAD => put(&mut files, &format!("{base}/stdout.log"), stream),
            _ => put(&mut files, &format!("{base}/stdout.log"), response.clone()),
        }
        put(&mut files, &format!("{base}/response.txt"), response.clone());
        put(&mut files, &format!("{base}/timing.json"), runner_files::judge_timing(recorded_secs, &measured));
        match judgment::parse_response(&response) {
            Ok(j) => {
                if !(special && damage == Some(Damage::MissingJudgment)) {
                    put(&mut files, &format!("{base}/judgment.json"), pyjson::to_string(&j.to_value()));
                }
                outcomes.push(SlotOutcome::Judged(j));
            }
            Err(e) => outcomes.push(SlotOutcome::Failed(format!("Could not parse judge response: {e}"))),
        }
    }
    let judge_total = match era {
        Era::HEAD => round6(judge_t - judge_start),
        _ => round6(crate::py::stats::py_sum(&slot_times) + 0.002),
    };
    let judged_at = iso_micros((judge_t * 1e6) as i64 + 4_000);
    put(&mut files, "judge/timing.json", runner_files::judge_timing(judge_total, &judged_at));
    if damage == Some(Damage::MissingJudgeSlot) {
        // The runner stopped before the consensus.
        return (files, phase);
    }
    let consensus = Consensus::compute(era.consensus, &outcomes);
    match damage {
        Some(Damage::MissingConsensus) => {}
        Some(Damage::StaleConsensus) => {
            let mut stale = consensus.clone();
            stale.score = ((consensus.score - 0.15).max(0.0) * 100.0).round() / 100.0;
            stale.grade = judgment::grade(stale.score).to_string();
            put(&mut files, "judge/result.json", pyjson::to_string(&stale.to_value(era.consensus)));
        }
        _ => put(&mut files, "judge/result.json", pyjson::to_string(&consensus.to_value(era.consensus))),
    }
    if matches!(damage, Some(Damage::MissingJudgment | Damage::UnparseableJudge)) {
        // These slots broke during judging: the run was never finalised.
        return (files, phase);
    }

    // The run summary and report.
    let slots: Vec<(String, SlotOutcome)> = ctx.judge_models.iter().cloned().zip(outcomes).collect();
    let inputs = run_result::RunResultInputs {
        era,
        run_number: key.run,
        exit_code,
        tokens: result.tokens,
        cost_usd: result.cost_usd,
        agent_duration: duration,
        judge_duration: judge_total,
        consensus: &consensus,
        slots,
        run_path: recorded_path,
        baseline_summary: None,
        previous: None,
    };
    let mut rr = run_result::build(&inputs);
    if damage == Some(Damage::LostJudges) {
        rr["judges"] = json!([]);
        rr["criteria_scores"] = json!({});
    }
    if damage != Some(Damage::MissingRunResult) {
        put(&mut files, "run_result.json", pyjson::to_string(&rr));
    }
    if damage != Some(Damage::MissingRunReport) {
        let generated = iso_micros((judge_t * 1e6) as i64 + 9_000);
        put(&mut files, "report.json", pyjson::to_string(&run_report::report_json(era.report, &rr, &generated)));
        let ws = match era {
            Era::HEAD => run_report::NO_WORKSPACE.to_string(),
            _ => "Files created/modified:\n\n- [hello.py](./workspace/hello.py) ⚠ uncommitted".to_string(),
        };
        put(&mut files, "report.md", run_report::report_md(era.report, &key.id(), &rr, &ws, &generated));
    }
    (files, phase)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Ctx {
    fn spec_timeout(&self) -> u64 {
        3600
    }
}

fn judge_status_word(run_result: Option<&Value>) -> &'static str {
    match run_result.and_then(|r| r.get("judge_passed")).and_then(Value::as_bool) {
        Some(true) => "passed",
        _ => "failed",
    }
}

/// Experiment-level files: config, grading material, checkpoint, darn.toml, subtest manifests.
fn write_experiment_files(ctx: &Ctx, keys: &[RunKey], damage: &BTreeMap<usize, Damage>) -> Result<()> {
    let era = ctx.era;
    let tiers: Vec<String> = (0..ctx.spec.tiers).map(|t| format!("T{t}")).collect();
    let mut config = serde_json::Map::new();
    config.insert("experiment_id".into(), json!(ctx.experiment_id));
    config.insert("task_repo".into(), json!("https://github.com/example/hello-world"));
    config.insert("task_commit".into(), json!(TASK_COMMIT));
    config.insert("task_prompt_file".into(), json!("tests/fixtures/tests/demo/prompt.md"));
    config.insert("language".into(), json!("python"));
    config.insert("models".into(), json!([ctx.agent_model]));
    config.insert("runs_per_subtest".into(), json!(ctx.spec.runs_per_subtest));
    config.insert("tiers_to_run".into(), json!(tiers));
    config.insert("judge_models".into(), json!(ctx.judge_models));
    if era == Era::JAN2026 {
        config.insert("parallel_subtests".into(), json!(6));
    }
    config.insert("timeout_seconds".into(), json!(ctx.spec_timeout()));
    config.insert("max_turns".into(), Value::Null);
    config.insert("max_subtests".into(), Value::Null);
    if era == Era::HEAD {
        config.insert("skip_agent_teams".into(), json!(false));
        config.insert("thinking_mode".into(), json!("None"));
    }
    config.insert("use_containers".into(), json!(false));
    let config = Value::Object(config);
    let w = |rel: &str, bytes: &[u8]| -> Result<()> {
        let path = ctx.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
    };
    w("config/experiment.json", pyjson::to_string(&config).as_bytes())?;
    w("config/judge_system_prompt.md", SYSTEM_PROMPT.as_bytes())?;
    w("prompt.md", TASK_PROMPT.as_bytes())?;
    w("rubric.yaml", RUBRIC.as_bytes())?;
    w("criteria.md", CRITERIA.as_bytes())?;
    w("repo/README", b"Hello-World\n")?;
    let note = format!(
        "# Judge Evaluation Context\n\nJudge prompts are generated dynamically per run using:\n- **System Prompt**: `config/judge/system_prompt.md` (via --system-prompt-file)\n- **Task Prompt**: Generated via `scylla.judge.prompts.build_task_prompt()`\n\n## Task Prompt References:\n- Agent Task: `{0}/prompt.md`\n- Success Criteria: `{0}/criteria.md`\n- Rubric: `{0}/rubric.yaml`\n\n## Per-Run Context (Generated Dynamically):\n- Agent Output: `<run_dir>/output.txt`\n- Workspace: `<subtest_dir>/workspace/`\n- Patchfile: Git diff of workspace changes\n- Pipeline Results: Build/lint/test output",
        ctx.root_str
    );
    w("judge_prompt.md", note.as_bytes())?;

    // Subtest manifests (the current runner leaves them in in_progress/, docs/format.md#bug-subtest-manifest-left-in-progress).
    for t in &tiers {
        for s in 0..ctx.spec.subtests {
            let s = format!("{s:02}");
            let manifest = json!({
                "tier_id": t, "subtest_id": s,
                "fixture_config_path": format!("tests/claude-code/shared/subtests/{}/{s}-demo.yaml", t.to_lowercase()),
                "resources": {}, "composed_at": iso_micros(ctx.start), "claude_md_hash": Value::Null, "inherited_from": Value::Null,
            });
            let base = if era == Era::HEAD { "in_progress/" } else { "" };
            w(&format!("{base}{t}/{s}/config_manifest.json"), pyjson::to_string(&manifest).as_bytes())?;
        }
    }

    // The checkpoint.
    let mut completed: BTreeMap<String, BTreeMap<String, serde_json::Map<String, Value>>> = BTreeMap::new();
    let mut states: BTreeMap<String, BTreeMap<String, serde_json::Map<String, Value>>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let d = damage.get(&i).copied();
        let rr_path = ctx
            .run_dir(key, if era == Era::HEAD { RunPhase::Completed } else { RunPhase::Flat })
            .join("run_result.json");
        let rr = std::fs::read(&rr_path).ok().and_then(|b| pyjson::parse(&b).ok());
        let (state, done) = match d {
            Some(Damage::NeverStarted) => ("pending", None),
            Some(x) if x.agent_broken() => ("failed", Some("failed")),
            Some(Damage::KilledAgent) => ("replay_generated", None),
            Some(
                Damage::JudgesNeverRan | Damage::MissingJudgeSlot | Damage::MissingJudgment | Damage::UnparseableJudge,
            ) => ("judge_prompt_built", Some("agent_complete")),
            _ if rr.is_some() => ("worktree_cleaned", Some(judge_status_word(rr.as_ref()))),
            _ => ("judge_complete", Some("agent_complete")),
        };
        let run = key.run.to_string();
        states
            .entry(key.tier.clone())
            .or_default()
            .entry(key.subtest.clone())
            .or_default()
            .insert(run.clone(), json!(state));
        if let Some(done) = done {
            completed
                .entry(key.tier.clone())
                .or_default()
                .entry(key.subtest.clone())
                .or_default()
                .insert(run, json!(done));
        }
    }
    let mut cp = serde_json::Map::new();
    let config_hash = crate::rules::config_hash(&config, era);
    let last = iso_micros(ctx.start + keys.len() as i64 * 41_000_000 + 60_000_000);
    match era {
        Era::JAN2026 => {
            cp.insert("version".into(), json!("2.0"));
            cp.insert("experiment_id".into(), json!(ctx.experiment_id));
            cp.insert("experiment_dir".into(), json!(ctx.root_str));
            cp.insert("config_hash".into(), json!(config_hash));
            cp.insert("completed_runs".into(), json!(completed));
            cp.insert("started_at".into(), json!(iso_micros(ctx.start)));
            cp.insert("last_updated_at".into(), json!(last));
            cp.insert("status".into(), json!("interrupted"));
        }
        _ => {
            let tier_states: serde_json::Map<String, Value> =
                tiers.iter().map(|t| (t.clone(), json!("subtests_running"))).collect();
            let subtest_states: BTreeMap<&String, BTreeMap<String, Value>> = tiers
                .iter()
                .map(|t| (t, (0..ctx.spec.subtests).map(|s| (format!("{s:02}"), json!("runs_in_progress"))).collect()))
                .collect();
            cp.insert("version".into(), json!("3.1"));
            cp.insert("experiment_id".into(), json!(ctx.experiment_id));
            cp.insert("experiment_dir".into(), json!(ctx.root_str));
            cp.insert("config_hash".into(), json!(config_hash));
            cp.insert("experiment_state".into(), json!("interrupted"));
            cp.insert("tier_states".into(), Value::Object(tier_states));
            cp.insert("subtest_states".into(), json!(subtest_states));
            cp.insert("run_states".into(), json!(states));
            cp.insert("completed_runs".into(), json!(completed));
            cp.insert("started_at".into(), json!(iso_micros(ctx.start)));
            cp.insert("last_updated_at".into(), json!(last));
            cp.insert("last_heartbeat".into(), json!(last));
            cp.insert("status".into(), json!("interrupted"));
        }
    }
    cp.insert("rate_limit_source".into(), Value::Null);
    cp.insert("rate_limit_until".into(), Value::Null);
    cp.insert("pause_count".into(), json!(0));
    cp.insert("pid".into(), json!(4242));
    w("checkpoint.json", pyjson::to_string(&Value::Object(cp)).as_bytes())?;
    w("darn.toml", darn_toml(ctx).as_bytes())?;
    Ok(())
}

/// The demo's `darn.toml`: darn's own stand-ins instead of the `claude` CLI.
fn darn_toml(ctx: &Ctx) -> String {
    let exe = ctx.spec.darn_exe.clone().unwrap_or_else(|| PathBuf::from("darn"));
    let exe = toml_string(&exe.display().to_string());
    format!(
        "# darn settings for this demo: darn's built-in stand-ins play the `claude` CLI, offline.\n\
         # Remove this file (or point the commands at `claude`) to run real agents and judges.\n\n\
         [agent]\n\
         command = [{exe}, \"stand-in\", \"agent\", \"--model\", \"{{model}}\", \"--print\", \"--output-format\", \"json\",\n           \"--dangerously-skip-permissions\", \"{{prompt}}\"]\n\
         prepare = [{exe}, \"stand-in\", \"prepare\", \"{{workspace}}\"]\n\
         timeout = \"2m\"\n\n\
         [judge]\n\
         command = [{exe}, \"stand-in\", \"judge\", \"--model\", \"{{model}}\", \"--print\", \"--output-format\", \"stream-json\",\n           \"--verbose\", \"--dangerously-skip-permissions\", \"--allowedTools\", \"\", \"--system-prompt-file\", \"{{system_prompt}}\"]\n\
         stdin = \"{{prompt}}\"\n\
         system_prompt = \"config/judge_system_prompt.md\"\n\
         timeout = \"1m\"\n\n\
         [execution]\n\
         jobs = 4\n\
         retries = 3\n"
    )
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
