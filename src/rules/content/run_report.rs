//! A run's `report.json` and `report.md` (docs/format.md#run-report), both built from `run_result.json`.

use crate::experiment::era::ReportShape;
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
pub fn report_json(shape: ReportShape, run_result: &Value, generated_at: &str) -> Value {
    let mut m = Map::new();
    m.insert("run_number".into(), run_result.get("run_number").cloned().unwrap_or(Value::Null));
    m.insert("score".into(), run_result.get("judge_score").cloned().unwrap_or(Value::Null));
    m.insert("grade".into(), run_result.get("judge_grade").cloned().unwrap_or(Value::Null));
    m.insert("passed".into(), run_result.get("judge_passed").cloned().unwrap_or(Value::Null));
    m.insert("cost_usd".into(), run_result.get("cost_usd").cloned().unwrap_or(Value::Null));
    m.insert("duration_seconds".into(), run_result.get("duration_seconds").cloned().unwrap_or(Value::Null));
    m.insert("generated_at".into(), json!(generated_at));
    // The runner passes these as floats: an integer score is written `1.0`.
    for key in ["score", "cost_usd", "duration_seconds"] {
        if let Some(f) = m.get(key).filter(|v| v.is_number()).and_then(pyjson::as_f64) {
            m.insert(key.into(), pyjson::float(f));
        }
    }
    if shape == ReportShape::ProcessMetrics
        && let Some(metrics) = process_metrics(run_result)
    {
        let mut pm = Map::new();
        for key in PROCESS_KEYS {
            // None and NaN become null; an infinite value stays a float.
            let v = metrics.get(key).and_then(py_float).filter(|f| !f.is_nan());
            pm.insert(key.into(), v.map_or(Value::Null, pyjson::float));
        }
        m.insert("process_metrics".into(), Value::Object(pm));
    }
    Value::Object(m)
}

const PROCESS_KEYS: [&str; 4] = ["r_prog", "strategic_drift", "cfp", "pr_revert_rate"];

/// `process_metrics` when it is a non-empty object (the runner shows nothing otherwise).
fn process_metrics(run_result: &Value) -> Option<&Map<String, Value>> {
    run_result.get("process_metrics").and_then(Value::as_object).filter(|m| !m.is_empty())
}

/// Python's `float(v)`: numbers, booleans and numeric strings.
fn py_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            match t.trim_start_matches(['+', '-']) {
                "inf" | "infinity" => Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
                "nan" => Some(f64::NAN),
                _ => t.parse().ok(),
            }
        }
        other => pyjson::as_f64(other),
    }
}

/// `f"{x:.Nf}"`, with Python's `inf` and `nan`.
fn py_fixed(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        fixed(x, digits)
    }
}

/// Python's `str.title()`: a cased character after an uncased one is upper-cased, every other
/// cased character lower-cased (`r2d2-ok` → `R2D2-Ok`).
pub fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if previous_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        previous_cased = cased;
    }
    out
}

/// A criterion's score as the runner prints it: `.2f` for numbers (booleans count), else the
/// value as Python's `str` shows it.
fn criterion_score(data: &Map<String, Value>) -> String {
    match data.get("score") {
        None => "N/A".into(),
        Some(Value::Null) => "None".into(),
        Some(Value::Bool(b)) => fixed(f64::from(u8::from(*b)), 2),
        Some(v @ Value::Number(_)) => pyjson::as_f64(v).map_or_else(|| v.to_string(), |f| py_fixed(f, 2)),
        Some(Value::String(s)) => s.clone(),
        Some(other) => crate::rules::content::aggregate::py_str(other),
    }
}

/// The criteria section (only when the chosen judge gave criteria).
fn criteria_section(criteria: &Map<String, Value>, push: &mut dyn FnMut(&str)) {
    push("### Criteria Scores");
    push("");
    push("| Criterion | Score | Explanation |");
    push("|-----------|-------|-------------|");
    let explanation = |data: &Map<String, Value>| -> String {
        match data.get("explanation") {
            Some(Value::String(s)) => s.clone(),
            None => "No explanation provided".into(),
            Some(other) => crate::rules::content::aggregate::py_str(other),
        }
    };
    for (name, data) in criteria {
        match data {
            Value::Object(d) => {
                let text = explanation(d);
                let mut short: String = text.chars().take(100).collect::<String>().replace('|', "\\|");
                if text.chars().count() > 100 {
                    short.push_str("...");
                }
                push(&format!("| {name} | {} | {short} |", criterion_score(d)));
            }
            other => {
                let v = pyjson::as_f64(other)
                    .map_or_else(|| crate::rules::content::aggregate::py_str(other), |f| py_fixed(f, 2));
                push(&format!("| {name} | {v} | - |"));
            }
        }
    }
    push("");
    push("### Detailed Explanations");
    push("");
    for (name, data) in criteria {
        if let Value::Object(d) = data {
            push(&format!("#### {} ({})", py_title(&name.replace('_', " ")), criterion_score(d)));
            push("");
            push(&explanation(d));
            push("");
        }
    }
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
pub fn report_md(shape: ReportShape, run_id: &str, run_result: &Value, workspace: &str, generated_at: &str) -> String {
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
            let jgrade = judge.get("grade").and_then(Value::as_str).filter(|g| !g.is_empty()).unwrap_or("N/A");
            let jpassed = judge.get("passed").and_then(Value::as_bool).unwrap_or(false);
            push(&format!("#### Judge {n}: {model}"));
            push("");
            push("| Metric | Value |");
            push("|--------|-------|");
            push(&format!("| Score | {jscore} |"));
            push(&format!("| Passed | {} |", check(jpassed)));
            push(&format!("| Grade | {jgrade} |"));
            push("");
            let reasoning = judge
                .get("reasoning")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .unwrap_or("No reasoning provided");
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
        push("- [View full judgment](./judge/judge_01/judgment.json)");
        push("");
    }
    // The runner always leaves one more blank line after the judges.
    push("");
    if let Some(criteria) = run_result.get("criteria_scores").and_then(Value::as_object).filter(|c| !c.is_empty()) {
        criteria_section(criteria, &mut push);
    }
    push("---");
    push("");
    push("## Workspace State");
    push("");
    push(workspace);
    push("");
    push("---");
    push("");
    if shape == ReportShape::ProcessMetrics
        && let Some(metrics) = process_metrics(run_result)
    {
        let show = |k: &str| {
            metrics.get(k).and_then(py_float).filter(|f| !f.is_nan()).map_or("N/A".to_string(), |f| py_fixed(f, 4))
        };
        push("## Process Metrics");
        push("");
        push("| Metric | Value |");
        push("|--------|-------|");
        push(&format!("| R_Prog (Fine-Grained Progress) | {} |", show("r_prog")));
        push(&format!("| Strategic Drift | {} |", show("strategic_drift")));
        push(&format!("| CFP (Change Fail %) | {} |", show("cfp")));
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
            let json_text = pyjson::to_string(&report_json(crate::experiment::era::ReportShape::Plain, &rr, generated));
            assert_eq!(json_text.as_bytes(), std::fs::read(dir.join("report.json")).expect("fixture").as_slice());

            let old_md = std::fs::read_to_string(dir.join("report.md")).expect("fixture");
            let md_generated = old_md.lines().find_map(|l| l.strip_prefix("**Generated**: ")).expect("generated line");
            let ws = workspace_section(&old_md).expect("workspace section");
            let md = report_md(
                crate::experiment::era::ReportShape::Plain,
                &format!("{tier}/{subtest}/run_01"),
                &rr,
                &ws,
                md_generated,
            );
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
