//! The run-level `judge_prompt.md` (docs/format.md#judge-prompt): the context every judge of a run receives.
//!
//! An existing prompt is the source of truth and is never rewritten; darn builds one only for
//! a run whose agent it has just executed (the workspace is then live).

/// What goes into a judge prompt.
#[derive(Debug, Clone, Default)]
pub struct PromptParts<'a> {
    pub rubric: Option<&'a str>,
    pub task: &'a str,
    /// The agent's raw stdout.
    pub agent_output: &'a str,
    /// Files the agent created or changed, with a short status word.
    pub changed_files: Vec<(String, &'static str)>,
    pub diff: Option<&'a str>,
    /// `(title, body)` sections of pipeline results, already rendered.
    pub pipeline: Vec<(String, String)>,
}

/// What one pipeline step gave.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub name: String,
    pub passed: bool,
    /// Its standard output then its standard error.
    pub output: String,
}

/// The pipeline section, as the runner titles it in `era` (none without steps).
pub fn pipeline_section(era: crate::experiment::era::Era, steps: &[StepResult]) -> Option<(String, String)> {
    if steps.is_empty() {
        return None;
    }
    let title = match era.runner {
        crate::experiment::era::RunnerShape::Jan => "Build/Lint/Test Pipeline Results",
        crate::experiment::era::RunnerShape::Head => "Build/Lint/Test Pipeline Results (After Agent)",
    };
    let overall = if steps.iter().all(|s| s.passed) { "ALL PASSED ✓" } else { "SOME FAILED ✗" };
    let mut body = format!("**Overall Status**: {overall}");
    for s in steps {
        let status = if s.passed { "PASSED" } else { "FAILED" };
        body.push_str(&format!("\n\n### {} ({status})\n```\n{}\n```", s.name, s.output.trim_end()));
    }
    Some((title.to_string(), body))
}

/// Builds the prompt: sections joined by a blank line, ending with the instruction.
pub fn build(p: &PromptParts) -> String {
    let mut sections: Vec<String> = Vec::new();
    if let Some(rubric) = p.rubric {
        sections.push(format!("## Rubric (Evaluation Criteria)\n\n```yaml\n{}\n```", rubric.trim_end()));
    }
    sections.push(format!("## Task Given to Agent\n\n{}\n", p.task.trim_end()));
    sections.push(format!("## Agent's Output\n\n{}\n", p.agent_output.trim_end()));
    let files = if p.changed_files.is_empty() {
        "(no changes detected)".to_string()
    } else {
        let list: Vec<String> = p.changed_files.iter().map(|(f, s)| format!("- `{f}` ({s})")).collect();
        format!("Files modified/created by agent:\n{}", list.join("\n"))
    };
    sections.push(format!("## Workspace State After Agent Execution\n\n{files}"));
    if let Some(diff) = p.diff.filter(|d| !d.trim().is_empty()) {
        sections.push(format!("## Git Diff (Patchfile)\n\n```diff\n{}\n```", diff.trim_end()));
    }
    for (title, body) in &p.pipeline {
        sections.push(format!("## {title}\n\n{}", body.trim_end()));
    }
    sections.push("---\n\nEvaluate the agent's work using the rubric and criteria in your system prompt.".to_string());
    sections.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::era::Era;

    fn step(name: &str, passed: bool, output: &str) -> StepResult {
        StepResult { name: name.into(), passed, output: output.into() }
    }

    #[test]
    fn pipeline_section_per_era_and_outcome() {
        assert_eq!(pipeline_section(Era::HEAD, &[]), None);
        let ok =
            [step("Python Build", true, "Python syntax check passed\n\n"), step("Python Test", true, "1 passed\n")];
        let (title, body) = pipeline_section(Era::JAN2026, &ok).expect("a section");
        assert_eq!(title, "Build/Lint/Test Pipeline Results");
        assert_eq!(
            body,
            "**Overall Status**: ALL PASSED ✓\n\n### Python Build (PASSED)\n```\nPython syntax check passed\n```\n\n\
             ### Python Test (PASSED)\n```\n1 passed\n```"
        );
        let mixed = [step("Build", true, "ok"), step("Test", false, "boom")];
        let (title, body) = pipeline_section(Era::HEAD, &mixed).expect("a section");
        assert_eq!(title, "Build/Lint/Test Pipeline Results (After Agent)");
        assert!(
            body.starts_with("**Overall Status**: SOME FAILED ✗") && body.contains("### Test (FAILED)\n```\nboom\n```")
        );
        let prompt =
            build(&PromptParts { task: "t", agent_output: "{}", pipeline: vec![(title, body)], ..Default::default() });
        let at = prompt.find("## Build/Lint/Test Pipeline Results (After Agent)").expect("in the prompt");
        assert!(at > prompt.find("## Workspace State After Agent Execution").expect("workspace section"));
    }
}
