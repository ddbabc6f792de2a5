//! The experiment tree: where it is, which layout and era it has, and which runs it should hold.
//!
//! Discovery reads only directory listings, `config/experiment.json`, `checkpoint.json` and
//! `darn.toml`; run contents are read by [`crate::observe`].

pub mod choices;
pub mod config;
pub mod detect;
pub mod era;
pub mod files;
pub mod names;
pub mod settings;

use crate::error::{Error, Result};
use crate::experiment::era::Era;
use crate::experiment::settings::Settings;
use crate::util::problem::{IoProblem, Unusable, parse_object};
use config::ExperimentConfig;
use names::{RunKey, is_subtest, is_tier, parse_run_dir, run_dir_name};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where runs live: directly under the experiment, or under `in_progress/` and `completed/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Flat,
    Phased,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Flat => "flat",
            Layout::Phased => "phased",
        }
    }
}

/// The directory a run or subtest was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// `<exp>/T0/...` (flat layout).
    Root,
    /// `<exp>/completed/T0/...`.
    Completed,
    /// `<exp>/in_progress/T0/...`.
    InProgress,
}

impl Phase {
    /// The path component under the experiment root, if any.
    pub fn component(self) -> Option<&'static str> {
        match self {
            Phase::Root => None,
            Phase::Completed => Some("completed"),
            Phase::InProgress => Some("in_progress"),
        }
    }

    pub fn base(self, root: &Path) -> PathBuf {
        match self.component() {
            Some(c) => root.join(c),
            None => root.to_path_buf(),
        }
    }
}

/// One expected run and where (if anywhere) its directory is.
#[derive(Debug, Clone)]
pub struct RunLoc {
    pub key: RunKey,
    /// The run directory darn works on, with its phase; `None` when the run never started.
    pub dir: Option<(Phase, PathBuf)>,
    /// Other copies of the same run (e.g. both `in_progress/` and `completed/`).
    pub duplicates: Vec<PathBuf>,
}

/// A loaded experiment: configuration, layout, era and the expected runs.
#[derive(Debug)]
pub struct Experiment {
    pub root: PathBuf,
    pub config: ExperimentConfig,
    /// `checkpoint.json` as written, if present and readable: its bytes, parsed again only when
    /// a rule asks (held parsed, it took 40 MB at 100,000 runs for what a no-op never reads).
    checkpoint_bytes: Option<Vec<u8>>,
    checkpoint_value: std::sync::OnceLock<Option<Value>>,
    /// The checkpoint's `experiment_dir`.
    checkpoint_dir: Option<String>,
    /// Why `checkpoint.json` could not be used, if it exists but is broken.
    pub checkpoint_problem: Option<Unusable>,
    pub layout: Layout,
    pub era: Era,
    pub settings: Settings,
    /// Judge models chosen for single slots (`reconcile --judge-model`).
    pub judge_choices: choices::JudgeChoices,
    /// Tiers in run order (`tiers_to_run`, else those found).
    pub tiers: Vec<String>,
    /// Subtests per tier, sorted.
    pub subtests: BTreeMap<String, Vec<String>>,
    /// Every expected run, sorted by tier number, subtest and run.
    pub runs: Vec<RunLoc>,
    /// Run directories darn moved while working (a re-executed run's new directory, a
    /// promotion to `completed/`), by run index. Consulted by [`Experiment::run_dir`].
    moved: std::sync::RwLock<std::collections::HashMap<RunKey, PathBuf>>,
}

/// The most runs darn expects of one experiment (10× the largest campaigns it is built for).
pub const MAX_EXPECTED_RUNS: u64 = 1_000_000;

/// Finds the experiment directory: `start` itself or its nearest ancestor holding
/// `config/experiment.json` (like git finds `.git`).
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = std::fs::canonicalize(start).map_err(|e| Error::io(start, e))?;
    let mut dir: &Path = &start;
    loop {
        if dir.join("config").join("experiment.json").is_file() {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return Err(Error::NotAnExperiment(start)),
        }
    }
}

impl Experiment {
    /// Loads the experiment that contains `start`, with `config_file` overriding `darn.toml`.
    pub fn open(start: &Path, config_file: Option<&Path>) -> Result<Self> {
        let root = find_root(start)?;
        Self::open_root(root, config_file)
    }

    /// Loads the experiment rooted exactly at `root`.
    pub fn open_root(root: PathBuf, config_file: Option<&Path>) -> Result<Self> {
        let config = ExperimentConfig::load(&root.join("config").join("experiment.json"))?;
        let settings = Settings::load(&root, config_file)?;
        let judge_choices = choices::JudgeChoices::load(&root)?;
        let (loaded, checkpoint_problem) = load_checkpoint(&root.join("checkpoint.json"));
        let (checkpoint_bytes, checkpoint) = loaded.unzip();
        let phased = root.join("completed").is_dir() || root.join("in_progress").is_dir();
        let layout = if phased { Layout::Phased } else { Layout::Flat };

        let found = scan_runs(&root)?;
        let tiers = if config.tiers_to_run.is_empty() {
            let mut t: Vec<String> = found.subtests.keys().cloned().collect();
            t.sort_by(|a, b| names::tier_order(a, b));
            t
        } else {
            config.tiers_to_run.clone()
        };

        let mut subtests: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tier in &tiers {
            let list: Vec<String> = if let Some(explicit) = settings.experiment.subtests.get(tier) {
                explicit.clone()
            } else {
                let mut set: BTreeSet<String> = found.subtests.get(tier).cloned().unwrap_or_default();
                if let Some(cp) = &checkpoint {
                    set.extend(checkpoint_subtests(cp, tier));
                }
                set.into_iter().collect()
            };
            subtests.insert(tier.clone(), list);
        }

        // A size from the configuration is weighed against the tree before anything is
        // allocated for it: a typo must not exhaust memory.
        let expected: u64 = subtests.values().map(|s| s.len() as u64).sum::<u64>() * u64::from(config.runs_per_subtest);
        if expected > MAX_EXPECTED_RUNS {
            let highest = found.runs.keys().map(|k| k.run).max().unwrap_or(0);
            return Err(Error::bad_file(
                root.join("config").join("experiment.json"),
                format!(
                    "`runs_per_subtest` is {} ({} expected runs, more than the {} darn handles); the tree's highest run is run_{highest:02}",
                    crate::py::fmt::thousands(i64::from(config.runs_per_subtest)),
                    crate::py::fmt::thousands(expected as i64),
                    crate::py::fmt::thousands(MAX_EXPECTED_RUNS as i64),
                ),
            ));
        }
        let mut runs = Vec::with_capacity(expected as usize);
        for tier in &tiers {
            for subtest in subtests.get(tier).map(Vec::as_slice).unwrap_or_default() {
                for run in 1..=config.runs_per_subtest {
                    let key = RunKey::new(tier.clone(), subtest.clone(), run);
                    let mut copies = found.runs.get(&key).cloned().unwrap_or_default();
                    // Completed copies win: an in_progress copy beside one is a leftover of an
                    // interrupted promotion or re-run, reported as a duplicate.
                    copies.sort_by_key(|(phase, _)| *phase);
                    let mut iter = copies.into_iter();
                    let dir = iter.next();
                    let duplicates = iter.map(|(_, p)| p).collect();
                    runs.push(RunLoc { key, dir, duplicates });
                }
            }
        }
        runs.sort_by(|a, b| a.key.cmp(&b.key));

        let era = settings
            .experiment
            .era
            .unwrap_or_else(|| detect::detect(&root, layout, checkpoint.as_ref(), &config.raw, &tiers, &runs));
        let checkpoint_dir =
            checkpoint.as_ref().and_then(|c| c.get("experiment_dir")).and_then(Value::as_str).map(str::to_string);
        Ok(Experiment {
            root,
            config,
            checkpoint_bytes,
            checkpoint_value: std::sync::OnceLock::new(),
            checkpoint_dir,
            checkpoint_problem,
            layout,
            era,
            settings,
            judge_choices,
            tiers,
            subtests,
            runs,
            moved: std::sync::RwLock::new(std::collections::HashMap::new()),
        })
    }

    /// The model a run's judge slot (numbered from 1) is to be graded by: the one chosen for
    /// that slot with `reconcile --judge-model`, else `judge_models` of the configuration.
    pub fn judge_model(&self, run: &RunKey, slot: usize) -> &str {
        self.judge_choices
            .model(&run.to_string(), slot)
            .or_else(|| self.config.judge_models.get(slot.wrapping_sub(1)).map(String::as_str))
            .unwrap_or("")
    }

    /// An experiment that exists only in memory (no run has a directory), for unit tests of
    /// what is computed from the run list alone: the graph and the planner.
    #[cfg(test)]
    pub fn in_memory(tiers: &[&str], subtests: &[&str], runs_per_subtest: u32, judges: &[&str]) -> Experiment {
        let config = ExperimentConfig::from_value(serde_json::json!({
            "experiment_id": "in-memory",
            "task_repo": "https://example.invalid/repo",
            "task_commit": "0000000",
            "task_prompt_file": "prompt.md",
            "runs_per_subtest": runs_per_subtest,
            "models": ["claude-sonnet-4-5"],
            "judge_models": judges,
            "tiers_to_run": tiers,
        }))
        .unwrap_or_else(|e| unreachable!("a valid config: {e}"));
        let mut runs = Vec::new();
        for tier in tiers {
            for subtest in subtests {
                for run in 1..=runs_per_subtest {
                    let key = RunKey::new((*tier).to_string(), (*subtest).to_string(), run);
                    runs.push(RunLoc { key, dir: None, duplicates: Vec::new() });
                }
            }
        }
        Experiment {
            root: PathBuf::from("/in-memory"),
            config,
            checkpoint_bytes: None,
            checkpoint_value: std::sync::OnceLock::new(),
            checkpoint_dir: None,
            checkpoint_problem: None,
            layout: Layout::Flat,
            era: Era::HEAD,
            settings: Settings::default(),
            judge_choices: choices::JudgeChoices::default(),
            tiers: tiers.iter().map(|t| (*t).to_string()).collect(),
            subtests: tiers
                .iter()
                .map(|t| ((*t).to_string(), subtests.iter().map(|s| (*s).to_string()).collect()))
                .collect(),
            runs,
            moved: std::sync::RwLock::new(std::collections::HashMap::new()),
        }
    }

    /// The directory a tier's aggregate files live in (`completed/T0` when phased).
    pub fn tier_dir(&self, tier: &str) -> PathBuf {
        self.aggregate_base().join(tier)
    }

    /// The directory a subtest's aggregate files live in.
    pub fn subtest_dir(&self, tier: &str, subtest: &str) -> PathBuf {
        self.aggregate_base().join(tier).join(subtest)
    }

    /// Where aggregates (and finished runs) live: the root (flat) or `completed/` (phased).
    pub fn aggregate_base(&self) -> PathBuf {
        match self.layout {
            Layout::Flat => self.root.clone(),
            Layout::Phased => self.root.join("completed"),
        }
    }

    /// The directory a run that does not exist yet would be created in.
    pub fn new_run_dir(&self, key: &RunKey) -> PathBuf {
        let base = match self.layout {
            Layout::Flat => self.root.clone(),
            Layout::Phased => self.root.join("in_progress"),
        };
        base.join(&key.tier).join(&key.subtest).join(run_dir_name(key.run))
    }

    /// The directory of a run: where it is, or where it would be created.
    pub fn run_dir(&self, loc: &RunLoc) -> PathBuf {
        if let Ok(moved) = self.moved.read()
            && let Some(dir) = moved.get(&loc.key)
        {
            return dir.clone();
        }
        match &loc.dir {
            Some((_, dir)) => dir.clone(),
            None => self.new_run_dir(&loc.key),
        }
    }

    /// Records that a run's directory is now `dir` (darn moved or created it).
    pub fn relocate(&self, key: &RunKey, dir: PathBuf) {
        if let Ok(mut moved) = self.moved.write() {
            moved.insert(key.clone(), dir);
        }
    }

    /// Where a finished run lives: `completed/` in the phased layout.
    pub fn finished_run_dir(&self, key: &RunKey) -> PathBuf {
        let base = match self.layout {
            Layout::Flat => self.root.clone(),
            Layout::Phased => self.root.join("completed"),
        };
        base.join(&key.tier).join(&key.subtest).join(run_dir_name(key.run))
    }

    /// `checkpoint.json` as written, if present and readable.
    pub fn checkpoint(&self) -> Option<&Value> {
        self.checkpoint_value
            .get_or_init(|| self.checkpoint_bytes.as_deref().and_then(|b| parse_object(b).ok()))
            .as_ref()
    }

    /// The base directory the runner recorded in absolute paths (checkpoint `experiment_dir`,
    /// else where the experiment is now): regenerated files keep the recorded paths (docs/format.md#bug-absolute-paths-baked-into-files).
    pub fn recorded_base(&self) -> String {
        self.checkpoint_dir
            .as_deref()
            .map_or_else(|| self.root.display().to_string(), |s| s.trim_end_matches('/').to_string())
    }

    /// A run's directory as the runner records it in `run_result.json` paths.
    pub fn recorded_run_path(&self, base: &str, key: &RunKey) -> String {
        let phase = if self.layout == Layout::Phased { "/completed" } else { "" };
        format!("{base}{phase}/{}/{}/{}", key.tier, key.subtest, run_dir_name(key.run))
    }

    /// `baseline_pipeline_summary` per subtest, from the pipeline baseline (the experiment root
    /// in the current layout, else the subtest directory); current era only.
    pub fn baseline_summaries(&self) -> std::collections::HashMap<(String, String), Value> {
        let mut out = std::collections::HashMap::new();
        if self.era.run_result < crate::experiment::era::RunResultShape::Feb15 {
            return out;
        }
        let root = load_baseline(&self.root.join("pipeline_baseline.json"));
        for (tier, subtests) in &self.subtests {
            for s in subtests {
                let local = [self.root.join("completed"), self.root.join("in_progress"), self.root.clone()]
                    .iter()
                    .find_map(|b| load_baseline(&b.join(tier).join(s).join("pipeline_baseline.json")));
                if let Some(v) = local.or_else(|| root.clone()) {
                    out.insert((tier.clone(), s.clone()), v);
                }
            }
        }
        out
    }

    /// A run's directory relative to the experiment, `/`-separated.
    pub fn run_rel(&self, loc: &RunLoc) -> String {
        let dir = self.run_dir(loc);
        dir.strip_prefix(&self.root)
            .map_or_else(|_| dir.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"))
    }

    /// The subtests of a tier, in order.
    pub fn subtests_of(&self, tier: &str) -> &[String] {
        self.subtests.get(tier).map(Vec::as_slice).unwrap_or_default()
    }

    /// The experiment id for display.
    pub fn name(&self) -> &str {
        &self.config.experiment_id
    }
}

fn load_baseline(path: &Path) -> Option<Value> {
    let v = crate::py::json::parse(&std::fs::read(path).ok()?).ok()?;
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    Some(serde_json::json!({
        "all_passed": get("all_passed"),
        "build_passed": get("build_passed"),
        "format_passed": get("format_passed"),
        "test_passed": get("test_passed"),
    }))
}

/// `checkpoint.json`'s bytes and object, else why it cannot be used.
fn load_checkpoint(path: &Path) -> (Option<(Vec<u8>, Value)>, Option<Unusable>) {
    match std::fs::read(path) {
        Ok(bytes) => match parse_object(&bytes) {
            Ok(v) => (Some((bytes, v)), None),
            Err(m) => (None, Some(Unusable::Malformed(m))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
        Err(e) => (None, Some(Unusable::Unreadable(IoProblem::of(&e)))),
    }
}

/// Subtest ids the checkpoint knows for a tier (from `completed_runs`, `run_states`,
/// `subtest_states`).
fn checkpoint_subtests(cp: &Value, tier: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["completed_runs", "run_states", "subtest_states"] {
        if let Some(map) = cp.get(key).and_then(|v| v.get(tier)).and_then(Value::as_object) {
            out.extend(map.keys().filter(|s| is_subtest(s)).cloned());
        }
    }
    out
}

struct Found {
    subtests: BTreeMap<String, BTreeSet<String>>,
    runs: std::collections::HashMap<RunKey, Vec<(Phase, PathBuf)>>,
}

/// Lists tier, subtest and run directories in every phase, skipping what docs/format.md#names says to
/// skip (dot directories such as `.failed/`, workspaces, `repo/`, `config/`, ...).
fn scan_runs(root: &Path) -> Result<Found> {
    let mut found = Found { subtests: BTreeMap::new(), runs: std::collections::HashMap::new() };
    for phase in [Phase::Root, Phase::Completed, Phase::InProgress] {
        let base = phase.base(root);
        for tier in list_dirs(&base)? {
            if !is_tier(&tier) {
                continue;
            }
            for subtest in list_dirs(&base.join(&tier))? {
                if !is_subtest(&subtest) {
                    continue;
                }
                found.subtests.entry(tier.clone()).or_default().insert(subtest.clone());
                let subtest_dir = base.join(&tier).join(&subtest);
                for run_name in list_dirs(&subtest_dir)? {
                    if let Some(run) = parse_run_dir(&run_name) {
                        let key = RunKey::new(tier.clone(), subtest.clone(), run);
                        found.runs.entry(key).or_default().push((phase, subtest_dir.join(&run_name)));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Names of the subdirectories of `dir` (none if it does not exist).
fn list_dirs(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::NotADirectory => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => entry.path().is_dir(),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}
