//! What the rules see of a run and of the experiment: the run's sources, and the values several
//! rules share (the agent's outcome, the derived agent result, each slot's judgment, the
//! consensus, the expected run result), each computed once, by the rule that owns it.
//!
//! Shared values derive from primary sources only (transcripts, command logs, judges'
//! responses), never from a file a regeneration writes: a run's `RunCx` stays valid while its
//! derived files are rebuilt, and only an execution makes a new one necessary.

use super::finding::{Finding, Waiting};
use super::{agent, agent_result, consensus, judge_slot, run_result};
use crate::experiment::Experiment;
use crate::experiment::files::RunFile;
use crate::experiment::names::RunKey;
use crate::observe::agent::AgentSources;
use crate::observe::sources::RunSources;
use crate::util::hash::Hash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::PathBuf;

/// Values every node of the experiment shares, as strings for parameters.
#[derive(Debug, Clone)]
pub struct ExpInfo {
    pub era: &'static str,
    pub agent_model: String,
    pub task_commit: String,
    pub max_turns: String,
    pub thinking_mode: String,
    pub judge_models: Vec<String>,
    pub judge_models_joined: String,
}

impl ExpInfo {
    pub fn of(exp: &Experiment) -> Self {
        let cfg = &exp.config;
        ExpInfo {
            era: exp.era.code(),
            agent_model: cfg.agent_model().to_string(),
            task_commit: cfg.task_commit.clone(),
            max_turns: cfg.max_turns.map_or("null".into(), |t| t.to_string()),
            thinking_mode: cfg.thinking_mode.clone(),
            judge_models: cfg.judge_models.clone(),
            judge_models_joined: cfg.judge_models.join(","),
        }
    }
}

/// What the rules know of one run besides its files.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    pub exp: &'a Experiment,
    pub shared: &'a ExpInfo,
    /// Index into `Experiment::runs`.
    pub index: usize,
    pub key: &'a RunKey,
    /// `T0/00/run_01`.
    pub id: String,
    pub slots: u16,
    /// The run directory as the runner recorded it inside files (docs/format.md#bug-absolute-paths-baked-into-files keeps them).
    pub recorded_run_path: String,
    /// `baseline_pipeline_summary` of the run's subtest (current era), and as text.
    pub baseline: Option<&'a Value>,
    pub baseline_text: &'a str,
    /// Where the run's directory is now.
    pub dir: PathBuf,
}

impl RunInfo<'_> {
    /// The configured model of a slot: the one chosen for it (`reconcile --judge-model`,
    /// docs/contract.md#judge-models-for-single-slots), else `judge_models`.
    pub fn judge_model(&self, slot: u16) -> &str {
        if self.exp.judge_choices.is_empty() {
            return self.shared.judge_models.get(usize::from(slot).wrapping_sub(1)).map_or("", String::as_str);
        }
        self.exp.judge_model(self.key, usize::from(slot))
    }
}

/// What building a run's nodes needs besides its files.
pub struct BuildEnv<'a> {
    pub effects: &'a dyn super::judge_prompt::PromptEffects,
    /// The `generated_at` of reports written now.
    pub now: &'a str,
}

/// One run as the rules see it, with its shared values computed on first use.
pub struct RunCx<'a> {
    pub info: &'a RunInfo<'a>,
    pub src: RunSources<'a>,
    /// What building needs (set when building, not when checking).
    pub env: Option<&'a BuildEnv<'a>>,
    agent: OnceCell<AgentSources>,
    outcome: OnceCell<Finding>,
    derived: OnceCell<Option<super::content::agent::AgentResult>>,
    duration: OnceCell<Option<f64>>,
    slots: Vec<OnceCell<judge_slot::SlotView>>,
    consensus: OnceCell<Option<consensus::ConsensusView>>,
    run_result: OnceCell<Result<Value, Waiting>>,
}

impl<'a> RunCx<'a> {
    pub fn new(info: &'a RunInfo<'a>, src: RunSources<'a>) -> Self {
        RunCx {
            info,
            src,
            env: None,
            agent: OnceCell::new(),
            outcome: OnceCell::new(),
            derived: OnceCell::new(),
            duration: OnceCell::new(),
            slots: (0..info.slots).map(|_| OnceCell::new()).collect(),
            consensus: OnceCell::new(),
            run_result: OnceCell::new(),
        }
    }

    /// The agent directory's sources.
    pub fn agent(&self) -> &AgentSources {
        self.agent.get_or_init(|| AgentSources::read(&self.src))
    }

    /// The agent execution's verdict: `Fresh` for a valid transcript.
    pub fn outcome(&self) -> &Finding {
        self.outcome.get_or_init(|| agent::outcome(self))
    }

    /// Whether the agent left a valid transcript.
    pub fn agent_ok(&self) -> bool {
        self.outcome().is_fresh() || matches!(self.outcome(), Finding::ModelChanged(_))
    }

    /// `agent/result.json` as the transcript gives it (for a finished agent, failed or not).
    pub fn derived(&self) -> Option<&super::content::agent::AgentResult> {
        self.derived.get_or_init(|| agent_result::derive(self)).as_ref()
    }

    /// The agent's recorded duration in seconds.
    pub fn agent_duration(&self) -> Option<f64> {
        *self.duration.get_or_init(|| super::agent_timing::recorded_duration(self))
    }

    /// A slot's view (1-based).
    pub fn slot(&self, slot: u16) -> &judge_slot::SlotView {
        match self.slots.get(usize::from(slot).wrapping_sub(1)) {
            Some(cell) => cell.get_or_init(|| judge_slot::view(self, slot)),
            None => unreachable!("slot {slot} of a run with {} slots", self.info.slots),
        }
    }

    /// Every slot, in order.
    pub fn slot_views(&self) -> impl Iterator<Item = &judge_slot::SlotView> {
        (1..=self.info.slots).map(|s| self.slot(s))
    }

    /// The consensus, when every slot has an outcome.
    pub fn consensus(&self) -> Option<&consensus::ConsensusView> {
        self.consensus.get_or_init(|| consensus::view(self)).as_ref()
    }

    /// `run_result.json` as its inputs give it.
    pub fn expected_run_result(&self) -> Result<&Value, Waiting> {
        self.run_result.get_or_init(|| run_result::expected(self)).as_ref().map_err(|w| *w)
    }

    /// A file of the run by name.
    pub fn file(name: &str) -> RunFile {
        crate::observe::agent::file(name)
    }

    /// What the run tells about past executions (for estimates, status and the checkpoint).
    pub fn extras(&self) -> RunExtras {
        let agent_ok = self.outcome().is_fresh();
        RunExtras {
            agent_cost: self.derived().map(|d| d.cost_usd).filter(|_| agent_ok),
            agent_seconds: self.agent_duration().filter(|_| agent_ok),
            agent_model: self.agent().recorded_model().map(crate::experiment::config::normalize_model),
            slots: self
                .slot_views()
                .map(|s| SlotExtras {
                    state: match s.state {
                        judge_slot::SlotState::Missing => SlotDisk::Missing,
                        judge_slot::SlotState::Failed(_) => SlotDisk::Failed,
                        judge_slot::SlotState::Usable => SlotDisk::Usable,
                    },
                    model: s.sources.model.as_deref().map(crate::experiment::config::normalize_model),
                    cost: s.sources.cost_usd,
                    seconds: s.sources.duration_seconds,
                })
                .collect(),
            passed: self.consensus().map(|c| c.consensus.passed),
        }
    }
}

/// What a judge slot holds on disk, whatever the agent's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlotDisk {
    #[default]
    Missing,
    Failed,
    Usable,
}

/// What one judge slot tells about its past call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotExtras {
    pub state: SlotDisk,
    /// The model recorded in its `MODEL.md`.
    pub model: Option<String>,
    pub cost: Option<f64>,
    pub seconds: Option<f64>,
}

/// What a run tells about past executions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunExtras {
    /// Cost and seconds of a successful agent run.
    pub agent_cost: Option<f64>,
    pub agent_seconds: Option<f64>,
    /// The model the agent ran with, as recorded.
    pub agent_model: Option<String>,
    pub slots: Vec<SlotExtras>,
    /// The consensus verdict, when every slot has an outcome.
    pub passed: Option<bool>,
}

/// Default estimates when the experiment has no history: (USD, seconds).
pub const DEFAULT_AGENT_ESTIMATE: (f64, f64) = (0.15, 60.0);
pub const DEFAULT_JUDGE_ESTIMATE: (f64, f64) = (0.04, 25.0);

/// Means of past executions: agents per tier, judge calls per model.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub agent_by_tier: HashMap<String, (f64, f64)>,
    pub agent: (f64, f64),
    pub judge_by_model: HashMap<String, (f64, f64)>,
    pub judge: (f64, f64),
}

/// A running mean of (cost, seconds) pairs.
#[derive(Default, Clone, Copy)]
struct Mean {
    cost: f64,
    seconds: f64,
    n: usize,
}

impl Mean {
    fn add(&mut self, (cost, seconds): (f64, f64)) {
        self.cost += cost;
        self.seconds += seconds;
        self.n += 1;
    }

    fn get(self) -> Option<(f64, f64)> {
        (self.n > 0).then(|| (self.cost / self.n as f64, self.seconds / self.n as f64))
    }
}

impl History {
    /// Means over successful agent runs (per tier) and judge calls (per model that made them,
    /// as each slot recorded it): a slot's estimate depends only on its model's calls.
    pub fn of<'e>(runs: impl IntoIterator<Item = (&'e str, &'e RunExtras)>) -> History {
        let mut by_tier: HashMap<&str, Mean> = HashMap::new();
        let mut all = Mean::default();
        let mut by_model: HashMap<&str, Mean> = HashMap::new();
        for (tier, x) in runs {
            if let (Some(c), Some(d)) = (x.agent_cost, x.agent_seconds) {
                by_tier.entry(tier).or_default().add((c, d));
                all.add((c, d));
            }
            for s in &x.slots {
                if let (Some(c), Some(d), Some(m)) = (s.cost, s.seconds, &s.model) {
                    by_model.entry(m.as_str()).or_default().add((c, d));
                }
            }
        }
        let means =
            |m: HashMap<&str, Mean>| m.into_iter().filter_map(|(k, v)| Some((k.to_string(), v.get()?))).collect();
        History {
            agent_by_tier: means(by_tier),
            agent: all.get().unwrap_or(DEFAULT_AGENT_ESTIMATE),
            judge_by_model: means(by_model),
            judge: DEFAULT_JUDGE_ESTIMATE,
        }
    }
}

/// What the aggregate rules read besides the files of their own directory.
pub trait AggInputs: Sync {
    /// The hash of a run's file now.
    fn run_file_hash(&self, run: usize, file: RunFile) -> Hash;
    /// The hash of a file outside runs (relative to the experiment), as it is now.
    fn file_hash(&self, rel: &str) -> Hash;
    /// Where each run stands, for the checkpoint.
    fn progress(&self, run: usize) -> super::RunProgress;
}

/// A run's `run_result.json`, if it exists and parses as an object. Read afresh by each
/// aggregate that needs it and dropped after: kept for the whole command, every run's result
/// would be held at once (about 60 KB parsed, each).
pub fn read_run_result(exp: &Experiment, run: usize) -> Option<Value> {
    let path = exp.run_dir(&exp.runs[run]).join("run_result.json");
    std::fs::read(&path).ok().and_then(|b| crate::py::json::parse(&b).ok()).filter(Value::is_object)
}

/// The experiment as the aggregate rules see it.
pub struct AggCx<'a> {
    pub exp: &'a Experiment,
    pub inputs: &'a dyn AggInputs,
    /// The `generated_at` of reports built now.
    pub now: String,
    /// Runs of each subtest (by subtest index) and of each tier (by tier index).
    pub runs_of_subtest: Vec<Vec<usize>>,
    pub runs_of_tier: Vec<Vec<usize>>,
    /// `(tier, subtest)` of each subtest index.
    pub subtests: Vec<(String, String)>,
    /// The tier order the runner completed them in (checkpoint `completed_runs`), for an
    /// experiment result made from scratch.
    pub completion_order: String,
    /// A digest of `config/experiment.json`, which the experiment result embeds.
    pub config_digest: String,
}

impl<'a> AggCx<'a> {
    pub fn new(exp: &'a Experiment, inputs: &'a dyn AggInputs, now: String) -> Self {
        let subtests: Vec<(String, String)> =
            exp.tiers.iter().flat_map(|t| exp.subtests_of(t).iter().map(move |s| (t.clone(), s.clone()))).collect();
        let index: HashMap<(&str, &str), usize> =
            subtests.iter().enumerate().map(|(i, (t, s))| ((t.as_str(), s.as_str()), i)).collect();
        let tier_index: HashMap<&str, usize> = exp.tiers.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let mut runs_of_subtest = vec![Vec::new(); subtests.len()];
        let mut runs_of_tier = vec![Vec::new(); exp.tiers.len()];
        for (ri, loc) in exp.runs.iter().enumerate() {
            if let Some(&i) = index.get(&(loc.key.tier.as_str(), loc.key.subtest.as_str())) {
                runs_of_subtest[i].push(ri);
            }
            if let Some(&i) = tier_index.get(loc.key.tier.as_str()) {
                runs_of_tier[i].push(ri);
            }
        }
        let completion_order = super::experiment_result::completion_order(exp).join(",");
        let config_digest = crate::util::hash::short_hex(&crate::util::hash::hash_bytes(
            crate::py::json::to_string(&exp.config.raw).as_bytes(),
        ));
        AggCx { exp, inputs, now, runs_of_subtest, runs_of_tier, subtests, completion_order, config_digest }
    }

    /// Each of `runs`' `run_result.json`, as an aggregate's input (named by run).
    pub fn run_results_in(&self, runs: &[usize], out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        let file = RunCx::file("run_result.json");
        for &ri in runs {
            out(format!("{}/run_result.json", self.exp.runs[ri].key.id()), self.inputs.run_file_hash(ri, file));
        }
    }

    /// A path relative to the experiment, `/`-separated.
    pub fn rel(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.exp.root)
            .map_or_else(|_| path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
    }
}

#[cfg(test)]
pub mod testing {
    //! A one-run experiment on disk, for the rules' unit tests.

    use super::*;
    use crate::observe::dir::Dir;
    use crate::observe::files::look;
    use crate::rules::{Registry, Rule};

    /// A temporary experiment with one run (`T0/00/run_01`) and one judge slot.
    pub struct RunFixture {
        pub dir: tempfile::TempDir,
    }

    impl Default for RunFixture {
        fn default() -> Self {
            Self::new()
        }
    }

    impl RunFixture {
        pub fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = r#"{"experiment_id": "unit", "task_repo": "https://example.com/r", "task_commit": "abc", "task_prompt_file": "p.md", "language": "python", "models": ["claude-sonnet-4-6"], "runs_per_subtest": 1, "tiers_to_run": ["T0"], "judge_models": ["claude-opus-4-6"], "timeout_seconds": 300, "max_turns": null}"#;
            std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
            std::fs::write(dir.path().join("config/experiment.json"), config).expect("write");
            std::fs::create_dir_all(dir.path().join("T0/00/run_01")).expect("mkdir");
            RunFixture { dir }
        }

        fn run_dir(&self) -> std::path::PathBuf {
            self.dir.path().join("T0/00/run_01")
        }

        /// Writes a file of the run.
        pub fn file(self, name: &str, content: &str) -> Self {
            let path = self.run_dir().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
            self
        }

        /// Removes a file of the run.
        pub fn remove(self, name: &str) -> Self {
            let _ = std::fs::remove_file(self.run_dir().join(name));
            self
        }

        /// Creates a directory in the run.
        pub fn dir(self, name: &str) -> Self {
            std::fs::create_dir_all(self.run_dir().join(name)).expect("mkdir");
            self
        }

        /// Runs `f` on the run's context.
        pub fn with<T>(&self, f: impl FnOnce(&RunCx, Rule, u16) -> T, key: &str, slot: u16) -> T {
            let exp = Experiment::open_root(self.dir.path().to_path_buf(), None).expect("experiment");
            let shared = ExpInfo::of(&exp);
            let registry = Registry::standard();
            let loc = &exp.runs[0];
            let info = RunInfo {
                exp: &exp,
                shared: &shared,
                index: 0,
                key: &loc.key,
                id: loc.key.id(),
                slots: 1,
                recorded_run_path: "/recorded/T0/00/run_01".into(),
                baseline: None,
                baseline_text: "",
                dir: exp.run_dir(loc),
            };
            let declared = registry.declared(1);
            let looked = look(&Dir::new(&info.dir), &declared, None, i128::MAX, true, false);
            let src = RunSources::new(&info.dir, &looked.files, looked.loaded);
            let run = RunCx::new(&info, src);
            let ix = registry.by_name(key).expect("a rule of that key");
            f(&run, registry.get(ix), slot)
        }
    }

    /// The finding of the rule `key` on the fixture's run.
    pub fn finding(fixture: &RunFixture, key: &str, slot: u16) -> Finding {
        fixture.with(
            |run, rule, slot| match rule {
                Rule::Run(r) => r.check(run, slot),
                Rule::Aggregate(_) => unreachable!("a run rule"),
            },
            key,
            slot,
        )
    }

    /// What the rule `key` builds on the fixture's run: (file, bytes).
    pub fn built(fixture: &RunFixture, key: &str, slot: u16) -> Vec<(String, Vec<u8>)> {
        fixture.with(
            |run, rule, slot| match rule {
                Rule::Run(r) => r
                    .build(run, slot)
                    .expect("buildable")
                    .into_iter()
                    .map(|o| (o.file.as_str().to_string(), o.bytes))
                    .collect(),
                Rule::Aggregate(_) => unreachable!("a run rule"),
            },
            key,
            slot,
        )
    }
}
