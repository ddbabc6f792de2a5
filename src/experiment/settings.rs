//! `darn.toml`: how a user overrides execution and run enumeration (docs/contract.md#configuration).
//!
//! Every key is optional; unknown keys are errors so a typo never silently changes behaviour.

use crate::error::{Error, Result};
use crate::experiment::era::Era;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The parsed `darn.toml` (defaults when absent).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub experiment: ExperimentSettings,
    #[serde(default)]
    pub agent: AgentSettings,
    #[serde(default)]
    pub judge: JudgeSettings,
    #[serde(default)]
    pub execution: ExecutionSettings,
    #[serde(default)]
    pub pipeline: PipelineSettings,
    #[serde(default)]
    pub slurm: SlurmSettings,
    /// The file these settings came from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSettings {
    /// Explicit subtests per tier, replacing inference from the tree.
    #[serde(default)]
    pub subtests: BTreeMap<String, Vec<String>>,
    /// Force the era instead of detecting it.
    #[serde(default, deserialize_with = "de_era")]
    pub era: Option<Era>,
}

/// One element of a command template: an argument, or a group dropped whole when one of its
/// placeholders has no value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ArgTemplate {
    Arg(String),
    Group(Vec<String>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    pub command: Option<Vec<ArgTemplate>>,
    /// Replaces the default workspace preparation (git worktree at `task_commit`).
    pub prepare: Option<Vec<ArgTemplate>>,
    #[serde(default, deserialize_with = "de_duration")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSettings {
    pub command: Option<Vec<ArgTemplate>>,
    /// A template naming the file fed to standard input (`{prompt}`).
    pub stdin: Option<String>,
    pub system_prompt: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_duration")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSettings {
    pub jobs: Option<usize>,
    pub retries: Option<u32>,
    #[serde(default, deserialize_with = "de_duration")]
    pub max_rate_limit_wait: Option<Duration>,
    /// Failure classes that are re-executed (default: all of them).
    pub rerun: Option<Vec<String>>,
    /// Seconds to wait before the first retry after a transient failure (backoff doubles).
    #[serde(default, deserialize_with = "de_duration")]
    pub backoff: Option<Duration>,
    /// Where executions run (`--backend` overrides it).
    pub backend: Option<BackendName>,
}

/// `[execution] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    Local,
    Slurm,
}

/// `[slurm]`: how executions are submitted as Slurm jobs (`--backend slurm`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// The jobs' time limit (default: the execution's timeout plus a margin).
    #[serde(default, deserialize_with = "de_duration")]
    pub time: Option<Duration>,
    pub cpus_per_task: Option<u32>,
    /// As sbatch takes it (`4G`, `500M`).
    pub mem: Option<String>,
    /// More sbatch arguments, passed as they are.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Jobs in flight (`-j` means the same).
    pub max_jobs: Option<usize>,
    /// How often the jobs' states are asked for (one `squeue` for all of them).
    #[serde(default, deserialize_with = "de_duration")]
    pub poll: Option<Duration>,
    /// How long the controller may not answer before darn stops waiting (the jobs go on).
    #[serde(default, deserialize_with = "de_duration")]
    pub controller_timeout: Option<Duration>,
    /// The limit of each call to a Slurm command.
    #[serde(default, deserialize_with = "de_duration")]
    pub command_timeout: Option<Duration>,
}

/// The build/lint/test pipeline run on a re-executed agent's workspace, whose results go into
/// the judges' prompt (docs/format.md#judge-prompt, docs/format.md#pipeline-outputs). Without steps, a rebuilt prompt has no pipeline
/// section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    #[serde(default, rename = "step")]
    pub steps: Vec<PipelineStep>,
    /// For each step.
    #[serde(default, deserialize_with = "de_duration")]
    pub timeout: Option<Duration>,
}

/// One pipeline step: `[[pipeline.step]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStep {
    /// Its heading in the prompt (`Python Build`).
    pub name: String,
    pub command: Vec<ArgTemplate>,
    /// A file name under the run's `commands/` that keeps the step's output when non-empty.
    pub log: Option<String>,
}

impl Settings {
    /// Loads `config_file` if given (it must exist), else `<root>/darn.toml` if present.
    pub fn load(root: &Path, config_file: Option<&Path>) -> Result<Self> {
        let path = match config_file {
            Some(p) => p.to_path_buf(),
            None => {
                let p = root.join("darn.toml");
                if !p.exists() {
                    return Ok(Settings::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| Error::bad_file(&path, toml_message(&e)))?;
        settings.source = Some(path.clone());
        for (tier, subtests) in &settings.experiment.subtests {
            if !crate::experiment::names::is_tier(tier) {
                return Err(Error::bad_file(&path, format!("[experiment] subtests: `{tier}` is not a tier name")));
            }
            if let Some(bad) = subtests.iter().find(|s| !crate::experiment::names::is_subtest(s)) {
                return Err(Error::bad_file(
                    &path,
                    format!("[experiment] subtests.{tier}: `{bad}` is not a subtest id"),
                ));
            }
        }
        for step in &settings.pipeline.steps {
            if let Some(log) = &step.log
                && (log.is_empty() || log.contains(['/', '\\']) || log.starts_with('.'))
            {
                return Err(Error::bad_file(
                    &path,
                    format!(
                        "[pipeline] step `{}`: log `{log}` must be a plain file name (it goes in commands/)",
                        step.name
                    ),
                ));
            }
        }
        Ok(settings)
    }
}

fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => format!("invalid config at byte {}: {msg}", span.start),
        None => format!("invalid config: {msg}"),
    }
}

fn de_era<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Era>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref() {
        None => Ok(None),
        Some(name) => Era::named(name).map(Some).ok_or_else(|| {
            let known: Vec<&str> = crate::experiment::era::NAMED.iter().map(|(n, _)| *n).collect();
            serde::de::Error::custom(format!("unknown era `{name}` (expected one of {})", known.join(", ")))
        }),
    }
}

fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Seconds(s)) => Ok(Some(Duration::from_secs(s))),
        Some(Raw::Text(t)) => parse_duration(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Parses `90`, `30s`, `20m`, `1h`, `1h30m`, `1.5h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs, text);
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(format!("invalid duration `{text}` (use e.g. 90s, 20m, 1h)")),
        };
        let n: f64 = number.parse().map_err(|_| format!("invalid duration `{text}`"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("invalid duration `{text}`: a number needs a unit (s, m, h)"));
    }
    secs_to_duration(total, text)
}

fn secs_to_duration(secs: f64, text: &str) -> std::result::Result<Duration, String> {
    if secs.is_finite() && secs >= 0.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("invalid duration `{text}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m").ok(), Some(Duration::from_secs(1200)));
        assert_eq!(parse_duration("1h30m").ok(), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h").ok(), Some(Duration::from_secs(5400)));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn slurm_section() {
        let text = r#"
[execution]
backend = "slurm"
[slurm]
partition = "gpu"
account = "lab"
qos = "normal"
time = "2h"
cpus_per_task = 4
mem = "8G"
extra_args = ["--gres=gpu:1", "--exclusive"]
max_jobs = 50
poll = "0.5s"
"#;
        let s: Settings = toml::from_str(text).expect("parses");
        assert_eq!(s.execution.backend, Some(BackendName::Slurm));
        assert_eq!(s.slurm.partition.as_deref(), Some("gpu"));
        assert_eq!(s.slurm.time, Some(Duration::from_secs(7200)));
        assert_eq!(s.slurm.cpus_per_task, Some(4));
        assert_eq!(s.slurm.extra_args, ["--gres=gpu:1", "--exclusive"]);
        assert_eq!(s.slurm.max_jobs, Some(50));
        assert_eq!(s.slurm.poll, Some(Duration::from_millis(500)));
        let typo = toml::from_str::<Settings>("[slurm]\npartiton = \"gpu\"\n").expect_err("unknown key");
        assert!(typo.message().contains("partiton"), "{typo}");
        let bad = toml::from_str::<Settings>("[execution]\nbackend = \"k8s\"\n").expect_err("unknown backend");
        assert!(bad.message().contains("k8s"), "{bad}");
    }

    #[test]
    fn parses_contract_example() {
        let text = r#"
[agent]
command = ["claude", "--model", "{model}", ["--max-turns", "{max_turns}"], "{prompt}"]
timeout = "1h"
[judge]
command = ["claude", "--model", "{model}"]
stdin = "{prompt}"
system_prompt = "/p/system_prompt.md"
timeout = "20m"
[execution]
jobs = 2
retries = 3
max_rate_limit_wait = "15m"
[experiment]
subtests = { T0 = ["00", "01"] }
"#;
        let s: Settings = toml::from_str(text).expect("valid");
        let cmd = s.agent.command.expect("command");
        assert_eq!(cmd[3], ArgTemplate::Group(vec!["--max-turns".into(), "{max_turns}".into()]));
        assert_eq!(s.agent.timeout, Some(Duration::from_secs(3600)));
        assert_eq!(s.execution.jobs, Some(2));
        assert_eq!(s.experiment.subtests["T0"], vec!["00", "01"]);
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Settings>("[agent]\ncomand = []\n").is_err());
    }
}
