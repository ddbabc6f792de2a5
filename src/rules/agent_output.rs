//! `run/agent/output.txt`: the agent's stdout, copied (docs/format.md#agent-transcript).

use super::cx::RunCx;
use super::finding::{Difference, Finding, Waiting};
use super::{Dep, Link, Output, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};

pub static AGENT_OUTPUT: AgentOutput = AgentOutput;

pub struct AgentOutput;

static SPEC: Spec = Spec {
    key: "agent-output",
    name: "agent/output.txt",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Agent,
    version: 1,
    after: &[Dep { rule: "agent", link: Link::Same }],
    outputs: &["agent/output.txt"],
    reads: &["agent/*"],
    stale_when: StaleWhen::Checked,
};

impl RunRule for AgentOutput {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        // A failed agent's files stay as the runner left them: it is re-executed, not repaired.
        let Some(t) = run.agent().transcript.as_ref().filter(|_| run.agent_ok()) else {
            return Finding::Waiting(Waiting::AgentOutput);
        };
        let file = RunCx::file("agent/output.txt");
        if !t.held {
            // A transcript too large to hold: output.txt is its copy when the hashes agree.
            return match run.agent().output_txt_hash {
                None => Finding::Missing(file),
                Some(h) if h == t.hash => Finding::Fresh,
                Some(_) => Finding::Differs(
                    file,
                    Box::new(Difference {
                        field: "".into(),
                        recorded: "other content".into(),
                        expected: format!("a copy of {}", t.stdout_file.as_str()).into(),
                        source: Some(t.stdout_file),
                    }),
                ),
            };
        }
        match &run.agent().output_txt {
            None => Finding::Missing(file),
            Some(b) if **b == *t.stdout.as_bytes() => Finding::Fresh,
            Some(b) => Finding::Differs(
                file,
                Box::new(Difference {
                    field: "".into(),
                    recorded: format!("{} bytes", b.len()).into(),
                    expected: format!("{} bytes", t.stdout.len()).into(),
                    source: Some(t.stdout_file),
                }),
            ),
        }
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        let t =
            run.agent().transcript.as_ref().filter(|_| run.agent_ok()).ok_or(Finding::Waiting(Waiting::AgentOutput))?;
        if !t.held {
            let whole = run.src.bytes(t.stdout_file).map_err(|why| Finding::InputDamaged(t.stdout_file, why))?;
            return Ok(vec![Output::new(RunCx::file("agent/output.txt"), whole.to_vec())]);
        }
        Ok(vec![Output::new(RunCx::file("agent/output.txt"), t.stdout.as_bytes())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::cx::testing::{RunFixture, built, finding};

    const OK: &str = "{\"type\":\"result\",\"is_error\":false,\"num_turns\":1}\n";

    #[test]
    fn findings() {
        let run = RunFixture::new().file("agent/stdout.log", OK);
        assert!(matches!(finding(&run, "agent-output", 0), Finding::Missing(_)));
        assert_eq!(built(&run, "agent-output", 0), vec![("agent/output.txt".to_string(), OK.as_bytes().to_vec())]);
        let run = run.file("agent/output.txt", OK);
        assert_eq!(finding(&run, "agent-output", 0), Finding::Fresh);
        let run = run.file("agent/output.txt", "other");
        assert!(matches!(finding(&run, "agent-output", 0), Finding::Differs(..)));
        let failed = RunFixture::new().file("agent/stdout.log", "not json");
        assert_eq!(finding(&failed, "agent-output", 0), Finding::Waiting(Waiting::AgentOutput));
    }
}
