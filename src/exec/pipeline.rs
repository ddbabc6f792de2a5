//! The build/lint/test pipeline (`[pipeline]` in `darn.toml`), run on a re-executed agent's
//! workspace so that the judges' rebuilt prompt carries its results, as the runner's does
//! (docs/format.md#judge-prompt, #pipeline-outputs, docs/format.md#build-pipeline). Each step is an argv, run with cwd = the workspace; a step that
//! fails, times out or cannot start is reported as failed with what it printed or why.

use crate::exec::process::{self, ProcessSpec};
use crate::exec::template::{Placeholder, Values, expand_command};
use crate::experiment::settings::PipelineSettings;
use crate::rules::content::judge_prompt::StepResult;
use std::path::Path;
use std::time::Duration;

/// A step's limit when `[pipeline] timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs every step in order. Outputs of steps with a `log` are kept, when non-empty, in the
/// run's `commands/` directory. An interrupted pipeline is an error: a judge prompt built from
/// it would be wrong for good (prompts are never rebuilt once they exist).
pub fn run(settings: &PipelineSettings, run_dir: &Path, workspace: &Path) -> Result<Vec<StepResult>, String> {
    let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
    settings
        .steps
        .iter()
        .map(|step| {
            let (passed, output) = run_step(&step.command, run_dir, workspace, timeout)?;
            if let Some(log) = &step.log
                && !output.trim().is_empty()
            {
                let path = run_dir.join("commands").join(log);
                let saved = std::fs::create_dir_all(run_dir.join("commands")).and_then(|()| {
                    crate::util::fs::write_unsynced(&path, output.as_bytes())
                        .and_then(|()| crate::util::fs::sync_tree(&path))
                });
                if let Err(e) = saved {
                    // The prompt still carries the output; only the separate log is missing.
                    eprintln!("darn: warning: {}: {e}", path.display());
                }
            }
            Ok(StepResult { name: step.name.clone(), passed, output })
        })
        .collect()
}

fn run_step(
    command: &[crate::experiment::settings::ArgTemplate],
    run_dir: &Path,
    workspace: &Path,
    timeout: Duration,
) -> Result<(bool, String), String> {
    let argv = Values::new()
        .with_timeout(timeout)
        .with_path(Placeholder::Workspace, workspace)
        .and_then(|v| v.with_path(Placeholder::RunDir, run_dir))
        .and_then(|v| expand_command(command, &v, "[pipeline] step command"));
    let argv = match argv {
        Ok(a) => a,
        Err(e) => return Ok((false, e.to_string())),
    };
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return Ok((false, format!("could not make a temporary directory: {e}"))),
    };
    let (out, err) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    // Ctrl-C stops a step as it stops agents and judges.
    let cancel = std::sync::Arc::clone(&crate::util::interrupt::INTERRUPTED);
    let spec = ProcessSpec::new(argv, &out, &err).cwd(workspace).timeout(timeout).cancel(cancel);
    match process::run(&spec) {
        Ok(outcome) => {
            let mut text = std::fs::read_to_string(&out).unwrap_or_default();
            text.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
            if outcome.timed_out {
                text.push_str(&format!("\n(timed out after {} s)\n", timeout.as_secs()));
            }
            if outcome.cancelled {
                return Err("the pipeline was interrupted; the judge prompt will be built next time".into());
            }
            Ok((outcome.exit.success() && !outcome.timed_out, text))
        }
        Err(e) => Ok((false, e.to_string())),
    }
}
