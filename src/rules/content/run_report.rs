//! A run's `report.json` and `report.md` (docs/format.md#run-report), both built from `run_result.json`.

use crate::experiment::era::Era;
use crate::observe::claude::TokenStats;
use crate::py::fmt::{fixed, thousands};
use crate::py::json as pyjson;
use serde_json::{Map, Value, json};

/// The workspace section used when no earlier report recorded the live worktree.
pub const NO_WORKSPACE: &str = "No files created in workspace.";

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(pyjson::as_f64).unwrap_or(0.0)
}

/// The run's `report.json`.
pub fn report_json(era: Era, run_result: &Value, generated_at: &str) -> Value {
    let mut m = Map::new();
    m.insert("run_number".into(), run_result.get("run_number").cloned().unwrap_or(Value::Null));
    m.insert("score".into(), run_result.get("judge_score").cloned().unwrap_or(Value::Null));
    m.insert("grade".into(), run_result.get("judge_grade").cloned().unwrap_or(Value::Null));
    m.insert("passed".into(), run_result.get("judge_passed").cloned().unwrap_or(Value::Null));
    m.insert("cost_usd".into(), run_result.get("cost_usd").cloned().unwrap_or(Value::Null));
    m.insert("duration_seconds".into(), run_result.get("duration_seconds").cloned().unwrap_or(Value::Null));
    m.insert("generated_at".into(), json!(generated_at));
    if era == Era::Head
        && let Some(metrics) = run_result.get("process_metrics").and_then(Value::as_object)
    {
        let mut pm = Map::new();
        for key in ["r_prog", "strategic_drift", "cfp", "pr_revert_rate"] {
            let v = metrics.get(key).and_then(pyjson::as_f64).filter(|f| f.is_finite());
            pm.insert(key.into(), v.map_or(Value::Null, pyjson::float));
        }
        m.insert("process_metrics".into(), Value::Object(pm));
    }
    Value::Object(m)
}

/// The token line of the summary table.
fn tokens_display(t: TokenStats) -> String {
    if t.cache_read_tokens > 0 || t.cache_creation_tokens > 0 {
        let mut s = format!(
            "{} in ({} cached) / {} out",
            thousands((t.input_tokens + t.cache_read_tokens) as i64),
            thousands(t.cache_read_tokens as i64),
            thousands(t.output_tokens as i64)
        );
        if t.cache_creation_tokens > 0 {
            s.push_str(&format!(" / {} cache created", thousands(t.cache_creation_tokens as i64)));
        }
        s
    } else {
        format!("{} in / {} out", thousands(t.input_tokens as i64), thousands(t.output_tokens as i64))
    }
}

fn check(passed: bool) -> &'static str {
    if passed { "✅" } else { "❌" }
}

/// Extracts the workspace section's body from an earlier report, so a regenerated report keeps
/// what the live worktree showed when it was first written.
pub fn workspace_section(previous_md: &str) -> Option<String> {
    let start = previous_md.find("## Workspace State\n\n")? + "## Workspace State\n\n".len();
    let rest = &previous_md[start..];
    let end = rest.find("\n\n---\n")?;
    Some(rest[..end].to_string())
}

/// The run's `report.md`; `workspace` is the workspace section's body (see [`workspace_section`]).
pub fn report_md(era: Era, run_id: &str, run_result: &Value, workspace: &str, generated_at: &str) -> String {
    let tokens = TokenStats::from_value(run_result.get("token_stats").unwrap_or(&Value::Null));
    let score = num(run_result, "judge_score");
    let passed = run_result.get("judge_passed").and_then(Value::as_bool).unwrap_or(false);
    let grade = run_result.get("judge_grade").and_then(Value::as_str).unwrap_or("N/A");
    let exit_code = run_result.get("exit_code").map_or_else(|| "N/A".to_string(), |v| v.to_string());
    let mut l: Vec<String> = Vec::with_capacity(96);
    let mut push = |s: &str| l.push(s.to_string());
    push(&format!("# Run Report: {run_id}"));
    push("");
    push(&format!("**Generated**: {generated_at}"));
    push("");
    push("## Summary");
    push("");
    push("| Metric | Value |");
    push("|--------|-------|");
    push(&format!("| Score | {} |", fixed(score, 3)));
    push(&format!("| Grade | {grade} |"));
    push(&format!("| Status | {} |", if passed { "✓ PASS" } else { "✗ FAIL" }));
    push(&format!("| Cost | ${} |", fixed(num(run_result, "cost_usd"), 4)));
    push(&format!("| Duration (Total) | {}s |", fixed(num(run_result, "duration_seconds"), 2)));
    push(&format!("| - Agent | {}s |", fixed(num(run_result, "agent_duration_seconds"), 2)));
    push(&format!("| - Judge | {}s |", fixed(num(run_result, "judge_duration_seconds"), 2)));
    push(&format!("| Tokens | {} |", tokens_display(tokens)));
    push(&format!("| Exit Code | {exit_code} |"));
    push("");
    push("### Token Breakdown");
    push("");
    push("| Type | Count |");
    push("|------|-------|");
    push(&format!("| Input (fresh) | {} |", thousands(tokens.input_tokens as i64)));
    push(&format!("| Output | {} |", thousands(tokens.output_tokens as i64)));
    push(&format!("| Cache Read | {} |", thousands(tokens.cache_read_tokens as i64)));
    push(&format!("| Cache Created | {} |", thousands(tokens.cache_creation_tokens as i64)));
    let total = tokens.input_tokens + tokens.output_tokens + tokens.cache_read_tokens + tokens.cache_creation_tokens;
    push(&format!("| **Total** | **{}** |", thousands(total as i64)));
    push("");
    push("---");
    push("");
    push("## Task");
    push("");
    push("[View task prompt](./task_prompt.md)");
    push("");
    push("---");
    push("");

    let judges = run_result.get("judges").and_then(Value::as_array).cloned().unwrap_or_default();
    // The consensus table is the same with one judge or several; only the heading differs.
    let consensus_table = |push: &mut dyn FnMut(&str), heading: &str| {
        push(heading);
        push("");
        push("| Metric | Value |");
        push("|--------|-------|");
        push(&format!("| Score | {} |", fixed(score, 3)));
        push(&format!("| Grade | {grade} |"));
        push(&format!("| Passed | {} |", check(passed)));
        push("");
    };
    if judges.len() > 1 {
        consensus_table(&mut push, "## Judge Evaluation (Consensus)");
        push("### Individual Judges");
        push("");
        for (i, judge) in judges.iter().enumerate() {
            let n = judge.get("judge_number").and_then(Value::as_u64).unwrap_or(i as u64 + 1);
            let model = judge.get("model").and_then(Value::as_str).unwrap_or("unknown");
            let jscore = judge.get("score").and_then(pyjson::as_f64).map_or_else(|| "N/A".to_string(), |s| fixed(s, 3));
            let jgrade = judge.get("grade").and_then(Value::as_str).unwrap_or("N/A");
            let jpassed = judge.get("passed").and_then(Value::as_bool).unwrap_or(false);
            push(&format!("#### Judge {n}: {model}"));
            push("");
            push("| Metric | Value |");
            push("|--------|-------|");
            push(&format!("| Score | {jscore} |"));
            push(&format!("| Passed | {} |", check(jpassed)));
            push(&format!("| Grade | {jgrade} |"));
            push("");
            let reasoning = judge.get("reasoning").and_then(Value::as_str).unwrap_or("");
            push(&format!("**Reasoning:** {reasoning}"));
            push("");
            push(&format!("- [View judgment](./judge/judge_{n:02}/judgment.json)"));
            push("");
        }
    } else {
        consensus_table(&mut push, "## Judge Evaluation");
        let reasoning = run_result.get("judge_reasoning").and_then(Value::as_str).unwrap_or("");
        push(&format!("**Reasoning:** {reasoning}"));
        push("");
        push("- [View judgment](./judge/judge_01/judgment.json)");
        push("");
    }

    if let Some(criteria) = run_result.get("criteria_scores").and_then(Value::as_object).filter(|c| !c.is_empty()) {
        push("### Criteria Scores");
        push("");
        push("| Criterion | Score |");
        push("|-----------|-------|");
        for (name, c) in criteria {
            let s = c.get("score").and_then(pyjson::as_f64).map_or_else(|| "N/A".to_string(), |s| fixed(s, 2));
            push(&format!("| {name} | {s} |"));
        }
        push("");
        push("### Detailed Explanations");
        push("");
        for (name, c) in criteria {
            let text = c.get("explanation").and_then(Value::as_str).unwrap_or("No explanation provided");
            push(&format!("**{name}**: {text}"));
            push("");
        }
    }

    push("");
    push("---");
    push("");
    push("## Workspace State");
    push("");
    push(workspace);
    push("");
    push("---");
    push("");
    if era == Era::Head
        && let Some(metrics) = run_result.get("process_metrics").and_then(Value::as_object)
    {
        let show = |k: &str| {
            metrics.get(k).and_then(pyjson::as_f64).filter(|f| f.is_finite()).map_or("N/A".to_string(), |f| fixed(f, 4))
        };
        push("## Process Metrics");
        push("");
        push("| Metric | Value |");
        push("|--------|-------|");
        push(&format!("| R_Prog | {} |", show("r_prog")));
        push(&format!("| Strategic Drift | {} |", show("strategic_drift")));
        push(&format!("| CFP | {} |", show("cfp")));
        push(&format!("| PR Revert Rate | {} |", show("pr_revert_rate")));
        push("");
        push("---");
        push("");
    }
    push("## Agent Output");
    push("");
    push("- [View agent output](./agent/output.txt)");
    push("- [View agent result JSON](./agent/result.json)");
    push("");
    push("---");
    push("");
    push("*Generated by ProjectScylla E2E Framework*");
    l.join("\n")
}

/// Replaces the `**Generated**:` timestamp line so two reports can be compared.
pub fn without_generated(md: &str) -> String {
    md.lines().filter(|l| !l.starts_with("**Generated**: ")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_every_fixture_run_report() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun");
        for tier in ["T0", "T1", "T2", "T3", "T4", "T5", "T6"] {
            let subtest = if tier == "T0" { "00" } else { "01" };
            let dir = root.join(format!("{tier}/{subtest}/run_01"));
            let rr = pyjson::parse(&std::fs::read(dir.join("run_result.json")).expect("fixture")).expect("json");
            let old_json = pyjson::parse(&std::fs::read(dir.join("report.json")).expect("fixture")).expect("json");
            let generated = old_json["generated_at"].as_str().expect("generated_at");
            let json_text = pyjson::to_string(&report_json(Era::Jan2026, &rr, generated));
            assert_eq!(json_text.as_bytes(), std::fs::read(dir.join("report.json")).expect("fixture").as_slice());

            let old_md = std::fs::read_to_string(dir.join("report.md")).expect("fixture");
            let md_generated = old_md.lines().find_map(|l| l.strip_prefix("**Generated**: ")).expect("generated line");
            let ws = workspace_section(&old_md).expect("workspace section");
            let md = report_md(Era::Jan2026, &format!("{tier}/{subtest}/run_01"), &rr, &ws, md_generated);
            assert_eq!(md, old_md, "{tier}");
        }
    }

    #[test]
    fn token_display_variants() {
        let t = TokenStats { input_tokens: 1200, output_tokens: 30, ..TokenStats::default() };
        assert_eq!(tokens_display(t), "1,200 in / 30 out");
        let t = TokenStats { input_tokens: 1, output_tokens: 2, cache_creation_tokens: 0, cache_read_tokens: 5 };
        assert_eq!(tokens_display(t), "6 in (5 cached) / 2 out");
    }
}
