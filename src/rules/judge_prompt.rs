//! `run/judge_prompt.md`: what every judge of a run reads (docs/format.md#judge-prompt).
//!
//! It is built from the live workspace (git state, the build pipeline), so an existing prompt is
//! the source of truth and is kept: it becomes stale only when the agent's transcript changed
//! since it was stamped (the agent was executed again), and it can be rebuilt only while the
//! workspace exists.

use super::content::judge_prompt::{self, PromptParts, StepResult};
use super::cx::RunCx;
use super::finding::{Finding, Unbuildable};
use super::{Dep, Link, Output, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use std::path::Path;

pub static JUDGE_PROMPT: JudgePrompt = JudgePrompt;

pub struct JudgePrompt;

static SPEC: Spec = Spec {
    key: "judge-prompt",
    name: "judge_prompt.md",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Judge,
    version: 1,
    after: &[Dep { rule: "agent", link: Link::Same }],
    outputs: &["judge_prompt.md"],
    reads: &["agent/stdout.log", "workspace", "agent/prompt.md"],
    stale_when: StaleWhen::InputsChange(&["agent/stdout.log"]),
};

/// The files an agent changed in its workspace, and the diff.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChanges {
    pub changed: Vec<(String, &'static str)>,
    pub diff: Option<String>,
}

/// The effects building a prompt needs: looking at the workspace with git and running the build
/// pipeline. The build layer provides them; tests replace them.
pub trait PromptEffects: Sync {
    fn workspace_changes(&self, workspace: &Path) -> WorkspaceChanges;
    fn pipeline(&self, run_dir: &Path, workspace: &Path) -> Result<Vec<StepResult>, String>;
}

impl RunRule for JudgePrompt {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        let file = RunCx::file("judge_prompt.md");
        if run.src.exists(file) {
            Finding::Fresh
        } else if run.src.exists(RunCx::file("workspace")) {
            Finding::Missing(file)
        } else {
            Finding::Unbuildable(Unbuildable::NoWorkspace)
        }
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        let Some(env) = run.env else { return Err(Finding::Unbuildable(Unbuildable::NoWorkspace)) };
        let effects = env.effects;
        let exp = run.info.exp;
        let dir = &run.info.dir;
        let ws = dir.join("workspace");
        if !ws.is_dir() {
            return Err(Finding::Unbuildable(Unbuildable::NoWorkspace));
        }
        let rubric = std::fs::read_to_string(exp.root.join("rubric.yaml")).ok();
        let task = run
            .src
            .text(RunCx::file("agent/prompt.md"))
            .or_else(|| std::fs::read_to_string(exp.root.join("prompt.md")).ok())
            .ok_or(Finding::Missing(RunCx::file("agent/prompt.md")))?;
        let stdout = run.src.text(RunCx::file("agent/stdout.log")).unwrap_or_default();
        let changes = effects.workspace_changes(&ws);
        let steps = effects.pipeline(dir, &ws).map_err(|e| Finding::Unbuildable(Unbuildable::Pipeline(e.into())))?;
        let text = judge_prompt::build(&PromptParts {
            rubric: rubric.as_deref(),
            task: &task,
            agent_output: &stdout,
            changed_files: changes.changed,
            diff: changes.diff.as_deref(),
            pipeline: judge_prompt::pipeline_section(exp.era, &steps).into_iter().collect(),
        });
        Ok(vec![Output::new(RunCx::file("judge_prompt.md"), text)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, finding};

    #[test]
    fn an_existing_prompt_stands_and_a_missing_one_needs_the_workspace() {
        let run = RunFixture::new().file("judge_prompt.md", "## Rubric");
        assert_eq!(finding(&run, "judge-prompt", 0), Finding::Fresh);
        let run = RunFixture::new().file("agent/stdout.log", "{}");
        assert_eq!(finding(&run, "judge-prompt", 0), Finding::Unbuildable(Unbuildable::NoWorkspace));
        let run = run.dir("workspace");
        assert!(matches!(finding(&run, "judge-prompt", 0), Finding::Missing(_)));
    }
}
