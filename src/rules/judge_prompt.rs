//! The run-level `judge_prompt.md` (LAYOUT §5.6): the context every judge of a run receives.
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
