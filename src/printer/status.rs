//! Human output of `darn status`.

use super::{Printer, Style, count, plural, table};
use crate::classify::{AgentStatus, JudgeStatus};
use crate::commands::status::StatusReport;

/// Renders the status report: a header, agent and judge tables per tier, what the runs need,
/// and with -v every run that is not complete with its problems.
pub fn render(r: &StatusReport, p: &Printer) -> String {
    let mut out = String::new();
    let total = r.runs.len();
    out.push_str(&format!(
        "{}  ({} layout, {} era, {}, {})\n\n",
        p.paint(&r.experiment, Style::Bold),
        r.layout,
        r.era,
        plural(total, "run", "runs"),
        plural(r.judge_models.len(), "judge", "judges"),
    ));

    let mut header: Vec<&str> = vec!["agent"];
    header.extend(AgentStatus::ALL.iter().rev().map(|s| s.name()));
    let mut rows: Vec<Vec<String>> = r
        .tiers
        .iter()
        .map(|t| {
            let mut row = vec![t.tier.clone()];
            row.extend(AgentStatus::ALL.iter().rev().map(|s| count(t.counts.agent[s.name()])));
            row
        })
        .collect();
    let mut total_row = vec!["total".to_string()];
    total_row.extend(AgentStatus::ALL.iter().rev().map(|s| count(r.counts.agent[s.name()])));
    rows.push(total_row);
    out.push_str(&table(&header, &rows));
    out.push('\n');

    let order = [
        JudgeStatus::Complete,
        JudgeStatus::Partial,
        JudgeStatus::Failed,
        JudgeStatus::Missing,
        JudgeStatus::AgentFailed,
    ];
    let mut header: Vec<&str> = vec!["judge"];
    header.extend(order.iter().map(|s| s.name()));
    let mut rows: Vec<Vec<String>> = r
        .tiers
        .iter()
        .map(|t| {
            let mut row = vec![t.tier.clone()];
            row.extend(order.iter().map(|s| count(t.counts.judge[s.name()])));
            row
        })
        .collect();
    let mut total_row = vec!["total".to_string()];
    total_row.extend(order.iter().map(|s| count(r.counts.judge[s.name()])));
    rows.push(total_row);
    out.push_str(&table(&header, &rows));
    out.push('\n');

    let n = &r.needs;
    let pending = n.agent_execution + n.judge_execution + n.regeneration;
    if pending == 0 {
        out.push_str(&format!(
            "{}\n",
            p.paint(&format!("all {} complete", plural(total, "run is", "runs are")), Style::Green)
        ));
    } else {
        out.push_str(&format!(
            "{} of {} need work: {} an agent run, {} judge runs, {} only regeneration\n",
            count(pending),
            plural(total, "run", "runs"),
            count(n.agent_execution),
            count(n.judge_execution),
            count(n.regeneration),
        ));
        if p.verbose == 0 {
            out.push_str("run `darn status -v` to see why, `darn plan` for what would be done\n");
        }
    }

    if p.verbose > 0 {
        for run in r.runs.iter().filter(|run| !run.problems.is_empty()) {
            let agent = AgentStatus::parse(run.agent).unwrap_or(AgentStatus::Missing);
            let judge = JudgeStatus::parse(run.judge).unwrap_or(JudgeStatus::Missing);
            out.push_str(&format!(
                "\n{}  agent {}  judge {}\n",
                p.paint(&run.id, Style::Bold),
                p.paint(run.agent, super::agent_style(agent)),
                p.paint(run.judge, super::judge_style(judge)),
            ));
            for problem in &run.problems {
                let class = problem.failure.map(|c| format!(" [{}]", c.name())).unwrap_or_default();
                out.push_str(&format!("  {}: {}{}\n", p.paint(&problem.path, Style::Dim), problem.problem, class));
            }
        }
    }
    out
}
