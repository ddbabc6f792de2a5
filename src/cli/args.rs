//! Command-line definitions (clap derive) and nothing else.

use crate::engine::status::{AgentStatus, JudgeStatus};
use crate::rules::Stage;
use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use std::path::PathBuf;

/// Repairs AI-agent evaluation experiments the way make repairs a build.
///
/// darn reads an experiment tree (ProjectScylla layout), finds every missing, broken or stale
/// file, and rebuilds only those: regenerating from logs where it can, re-running an agent or a
/// judge only where it must.
#[derive(Debug, Parser)]
#[command(name = "darn", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// The experiment directory (default: the current directory or the nearest parent with
    /// config/experiment.json)
    #[arg(short = 'C', value_name = "DIR", global = true, value_hint = ValueHint::DirPath, help_heading = "Global options")]
    pub dir: Option<PathBuf>,

    /// Machine-readable output: one JSON document on stdout
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// More detail (repeat for more)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,

    /// No progress bars, logs or warnings on stderr
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    /// When to use colours
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN", help_heading = "Global options")]
    pub color: ColorChoice,

    /// darn settings file (default: darn.toml in the experiment directory, if present)
    #[arg(long, value_name = "FILE", global = true, value_hint = ValueHint::FilePath, help_heading = "Global options")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify every expected run: agent and judge status, counts per status and per tier
    Status(StatusArgs),
    /// Dry run of reconcile: the ordered actions, each with strategy and cause
    Plan(PlanCmdArgs),
    /// Bring the targets (default: everything) up to date
    Reconcile(ReconcileArgs),
    /// Why each target is stale or missing: the cause chain down to the root causes
    Why(WhyArgs),
    /// The dependency graph (Graphviz DOT or JSON)
    Graph(GraphArgs),
    /// Write a realistic, partly broken experiment to try darn on, offline
    Demo(DemoArgs),
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write every page into a directory
    Man {
        /// The page of this subcommand (default: darn's own)
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
        /// Write darn.1 and darn-SUBCOMMAND.1 for every subcommand into DIR
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
    /// darn's built-in stand-in for the `claude` CLI, used by demo experiments
    #[command(name = "stand-in", hide = true)]
    StandIn(StandInArgs),
    /// Inside a Slurm job that darn submitted: run one execution's process, record how it ended
    #[command(name = "slurm-job", hide = true)]
    SlurmJob {
        /// The process to run (JSON, written by the submitting darn)
        spec: PathBuf,
        /// Where to record how it ended
        exit: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Node ids, globs over node ids, or paths inside the experiment
    #[arg(value_name = "TARGET", value_hint = ValueHint::AnyPath)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Treat the selected nodes as stale
    #[arg(long)]
    pub force: bool,
    /// Regenerate only: never execute an agent or a judge
    #[arg(long)]
    pub regenerate_only: bool,
    /// No execution past this estimated cost (USD)
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
}

/// `darn plan`: the plan's flags and the parallelism its wall-clock estimate assumes.
#[derive(Debug, Args)]
pub struct PlanCmdArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Parallel executions the wall-clock estimate assumes [default: [execution] jobs in
    /// darn.toml, else 2]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Local,
    Slurm,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Parallel executions (regeneration always uses every core) [default: [execution] jobs in
    /// darn.toml, else 2; with Slurm, [slurm] max_jobs first]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Go on after a failed node (its dependents are skipped)
    #[arg(short, long)]
    pub keep_going: bool,
    /// Show what would be done, like `plan`
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Where executions run: local (default) or slurm (default: [execution] backend in darn.toml)
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Grade the judge slots this reconcile executes with MODEL, and record that choice for those
    /// slots only (in .darn/judge-models.json); other runs stay as they are
    #[arg(long, value_name = "MODEL", value_hint = ValueHint::Other)]
    pub judge_model: Option<String>,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// Node ids, globs over node ids, or paths inside the experiment
    #[arg(value_name = "TARGET", value_hint = ValueHint::AnyPath)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Node ids, globs over node ids, or paths inside the experiment (default: everything)
    #[arg(value_name = "TARGET", value_hint = ValueHint::AnyPath)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format (default: dot, or json with --json)
    #[arg(long, value_enum)]
    pub format: Option<GraphFormat>,
    /// How many levels of upstream nodes to include below the targets (default: all)
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// Only the targets themselves and the edges between them (same as --depth 0)
    #[arg(long, conflicts_with = "depth")]
    pub no_upstream: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the experiment (must not exist or be empty)
    #[arg(value_name = "DIR", default_value = "darn-demo")]
    pub dir: PathBuf,
    /// Tiers (T0..)
    #[arg(long, default_value_t = 4)]
    pub tiers: u32,
    /// Subtests per tier
    #[arg(long, default_value_t = 3)]
    pub subtests: u32,
    /// Runs per subtest
    #[arg(long = "runs-per-subtest", default_value_t = 25)]
    pub runs_per_subtest: u32,
    /// Judge models (slots)
    #[arg(long, default_value_t = 3)]
    pub judges: u32,
    /// Seed for the generator (same seed, same experiment)
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory layout of the experiment
    #[arg(long, value_enum, default_value_t = DemoLayout::Phased)]
    pub layout: DemoLayout,
    /// Write an intact experiment, without damage
    #[arg(long)]
    pub clean: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoLayout {
    /// `<exp>/T0/00/run_01` with January-2026 file shapes
    Flat,
    /// `<exp>/completed|in_progress/T0/00/run_01` with current file shapes
    Phased,
}

#[derive(Debug, Args)]
pub struct StandInArgs {
    /// agent or judge
    #[arg(value_name = "ROLE")]
    pub role: String,
    /// Arguments as the real CLI would get them
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The names a filter takes, for `--help` and the completions; the values are checked against the
/// experiment by `engine::select`, whose one-line message names the closest one.
#[derive(Debug, Clone)]
pub struct Names(Vec<&'static str>);

impl TypedValueParser for Names {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|n| PossibleValue::new(*n))))
    }
}

/// The SELECT filters, the same on every command. Values of one flag, repeated or
/// comma-separated, are alternatives; different flags combine with AND.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Only these tiers (e.g. T0); repeatable or comma-separated
    #[arg(long = "tier", value_name = "TIER", global = true, value_hint = ValueHint::Other, help_heading = "Filters")]
    pub tiers: Vec<String>,
    /// Only these subtests (e.g. 00); repeatable or comma-separated
    #[arg(long = "subtest", value_name = "SUBTEST", global = true, value_hint = ValueHint::Other, help_heading = "Filters")]
    pub subtests: Vec<String>,
    /// Only these run numbers: a list with ranges, e.g. 1,3,5-7
    #[arg(long = "runs", value_name = "LIST", global = true, value_hint = ValueHint::Other, help_heading = "Filters")]
    pub runs: Vec<String>,
    /// Only runs whose agent status is one of these; repeatable or comma-separated
    #[arg(long = "status", value_name = "STATUS", global = true, help_heading = "Filters", value_delimiter = ',',
          value_parser = Names(AgentStatus::ALL.map(AgentStatus::name).to_vec()))]
    pub status: Vec<String>,
    /// Only runs whose judge status is one of these; repeatable or comma-separated
    #[arg(long = "judge-status", value_name = "STATUS", global = true, help_heading = "Filters", value_delimiter = ',',
          value_parser = Names(JudgeStatus::ALL.map(JudgeStatus::name).to_vec()))]
    pub judge_status: Vec<String>,
    /// Only work of these stages; repeatable or comma-separated
    #[arg(long = "stage", value_name = "STAGE", global = true, help_heading = "Filters", value_delimiter = ',',
          value_parser = Names(Stage::ALL.map(Stage::name).to_vec()))]
    pub stage: Vec<String>,
}

impl SelectArgs {
    pub fn values(&self) -> crate::engine::select::SelectValues {
        crate::engine::select::SelectValues {
            tiers: self.tiers.clone(),
            subtests: self.subtests.clone(),
            runs: self.runs.clone(),
            status: self.status.clone(),
            judge_status: self.judge_status.clone(),
            stages: self.stage.clone(),
        }
    }
}
