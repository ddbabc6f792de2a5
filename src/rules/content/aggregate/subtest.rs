//! Subtest level: the SubTestResult (docs/format.md#subtest-statistics) and the subtest `report.json` / `report.md`
//! (docs/format.md#subtest-files).

use serde_json::{Map, Value, json};

use super::{
    FOOTER, GRADES_BEST_FIRST, GRADES_WORST_FIRST, Generated, RunView, TokenStats, best_run, criteria_table, field_or,
    int_of, number_or, py_str, runs_of, truthy,
};
use crate::experiment::era::{AggregateShape, Era};
use crate::py::fmt as pyfmt;
use crate::py::json as pyjson;
use crate::py::stats as pystats;

/// Keys of a HEAD `run_result.json` that the runner's in-memory run model does not carry, so
/// they are absent from runs embedded in a tier `result.json` (docs/format.md#tier-files, docs/format.md#run-result).
const HEAD_RUN_FILE_ONLY_KEYS: [&str; 5] =
    ["tokens_input", "tokens_output", "process_metrics", "progress_tracking", "changes"];

/// The SubTestResult of one subtest (docs/format.md#subtest-statistics) from its runs' `run_result.json` values.
///
/// Runs are ordered by `run_number` (a stable sort, so callers may pass them in any order).
/// With no runs every statistic keeps the runner's default (`0.0`, null grades, zero tokens).
/// `selected_as_best` / `selection_reason` start false / empty: [`super::tier_result`] sets
/// them. Embedded runs are the input objects unchanged in the Jan-2026 era; at HEAD they lose the
/// keys only the file has (`tokens_input`, `tokens_output`, `process_metrics`,
/// `progress_tracking`, `changes`).
pub fn subtest_result(era: Era, tier: &str, subtest: &str, runs: &[Value]) -> Value {
    let mut ordered: Vec<&Value> = runs.iter().collect();
    ordered.sort_by_key(|r| r.get("run_number").map_or(0, int_of));
    let views: Vec<RunView> = ordered.iter().map(|r| RunView::new(r)).collect();
    let embedded: Vec<Value> = ordered.iter().map(|r| embed_run(era, r)).collect();

    let n = views.len();
    let mut stats = Stats::default();
    if n > 0 {
        let scores: Vec<f64> = views.iter().map(|r| r.score).collect();
        let costs: Vec<f64> = views.iter().map(|r| r.cost).collect();
        let passed = views.iter().filter(|r| r.passed).count();
        stats.pass_rate = passed as f64 / n as f64;
        stats.mean_score = pystats::mean(&scores).unwrap_or(0.0);
        stats.median_score = pystats::median(&scores).unwrap_or(0.0);
        stats.std_dev = if n > 1 { pystats::stdev(&scores).unwrap_or(0.0) } else { 0.0 };
        // consistency = max(0, 1 - coefficient of variation); a zero mean counts as cv = 1.
        let cv = if stats.mean_score > 0.0 { stats.std_dev / stats.mean_score } else { 1.0 };
        let inverse = 1.0 - cv;
        // Python's max(0.0, x) keeps 0.0 unless x is greater (NaN and -0.0 give 0.0).
        stats.consistency = if inverse > 0.0 { inverse } else { 0.0 };
        stats.mean_cost = pystats::mean(&costs).unwrap_or(0.0);
        stats.total_cost = pystats::sum(era.summation, &costs);
        stats.tokens = views.iter().fold(TokenStats::default(), |acc, r| acc.add(r.tokens));
    }
    let grades = GradeSummary::of(&views);

    json!({
        "subtest_id": subtest,
        "tier_id": tier,
        "runs": embedded,
        "pass_rate": stats.pass_rate,
        "mean_score": pyjson::float(stats.mean_score),
        "median_score": pyjson::float(stats.median_score),
        "std_dev_score": pyjson::float(stats.std_dev),
        "mean_cost": pyjson::float(stats.mean_cost),
        "total_cost": pyjson::float(stats.total_cost),
        "token_stats": stats.tokens.to_value(),
        "consistency": pyjson::float(stats.consistency),
        "grade_distribution": grades.distribution,
        "modal_grade": grades.modal,
        "min_grade": grades.min,
        "max_grade": grades.max,
        "selected_as_best": false,
        "selection_reason": "",
        "rate_limit_info": null,
    })
}

#[derive(Default)]
struct Stats {
    pass_rate: f64,
    mean_score: f64,
    median_score: f64,
    std_dev: f64,
    mean_cost: f64,
    total_cost: f64,
    consistency: f64,
    tokens: TokenStats,
}

/// Grade aggregation: counts in order of first appearance, the modal grade (first on ties),
/// and the worst/best grade among the standard letters (others only counted).
struct GradeSummary {
    distribution: Value,
    modal: Value,
    min: Value,
    max: Value,
}

impl GradeSummary {
    fn of(runs: &[RunView]) -> Self {
        let mut counts: Vec<(&str, u64)> = Vec::new();
        for grade in runs.iter().filter_map(RunView::grade) {
            match counts.iter_mut().find(|(g, _)| *g == grade) {
                Some((_, c)) => *c += 1,
                None => counts.push((grade, 1)),
            }
        }
        if counts.is_empty() {
            return GradeSummary { distribution: Value::Null, modal: Value::Null, min: Value::Null, max: Value::Null };
        }
        let mut modal = counts[0];
        for entry in &counts[1..] {
            if entry.1 > modal.1 {
                modal = *entry;
            }
        }
        let ranks: Vec<usize> = runs
            .iter()
            .filter_map(RunView::grade)
            .filter_map(|g| GRADES_WORST_FIRST.iter().position(|x| *x == g))
            .collect();
        let letter =
            |rank: Option<&usize>| rank.map_or(Value::Null, |r| Value::String(GRADES_WORST_FIRST[*r].to_string()));
        let distribution: Map<String, Value> = counts.iter().map(|(g, c)| (g.to_string(), json!(c))).collect();
        GradeSummary {
            distribution: Value::Object(distribution),
            modal: Value::String(modal.0.to_string()),
            min: letter(ranks.iter().min()),
            max: letter(ranks.iter().max()),
        }
    }
}

fn embed_run(era: Era, run: &Value) -> Value {
    // Embedded runs are the run's `run_result.json` without what only the file has: the
    // process keys always, and from the pydantic dumps on also `tokens_*`.
    let file_only: &[&str] = match era.aggregates {
        AggregateShape::M => &HEAD_RUN_FILE_ONLY_KEYS,
        AggregateShape::J | AggregateShape::F => &HEAD_RUN_FILE_ONLY_KEYS[2..],
    };
    match run {
        Value::Object(map) if file_only.iter().any(|k| map.contains_key(*k)) => {
            let mut kept = map.clone();
            for key in file_only {
                kept.shift_remove(*key);
            }
            Value::Object(kept)
        }
        _ => run.clone(),
    }
}

/// The two subtest report files, rendered from a SubTestResult value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtestFiles {
    /// `<T>/<S>/report.json`.
    pub report_json: String,
    /// `<T>/<S>/report.md`.
    pub report_md: String,
}

/// Renders `report.json` and `report.md` of a subtest from its SubTestResult value (as built
/// by [`subtest_result`] or read from a tier `result.json`). Both eras write the same shape.
pub fn subtest_files(_era: Era, result: &Value, generated: &Generated) -> SubtestFiles {
    let runs = runs_of(result);
    let subtest_id = result.get("subtest_id").map(py_str).unwrap_or_default();
    let tier_id = result.get("tier_id").map(py_str).unwrap_or_default();
    let passed = runs.iter().filter(|r| r.passed).count();
    let tokens = TokenStats::from_value(result.get("token_stats"));
    let field = |key: &str| number_or(result, key, 0.0);

    let children: Vec<Value> = runs
        .iter()
        .map(|run| {
            json!({
                "run_number": run.number,
                "score": number_or(run.raw, "judge_score", 0.0),
                "passed": run.passed,
                "report": format!("./run_{}/report.json", pyfmt::two_digits(run.number)),
            })
        })
        .collect();
    let report = json!({
        "subtest_id": subtest_id,
        "tier_id": tier_id,
        "summary": {
            "total_runs": runs.len(),
            "passed": passed,
            "pass_rate": field("pass_rate"),
            "mean_score": field("mean_score"),
            "median_score": field("median_score"),
            "std_dev": field("std_dev_score"),
            "total_cost": field("total_cost"),
            "consistency": field("consistency"),
            "grade_distribution": field_or(result, "grade_distribution", Value::Null),
            "modal_grade": field_or(result, "modal_grade", Value::Null),
            "min_grade": field_or(result, "min_grade", Value::Null),
            "max_grade": field_or(result, "max_grade", Value::Null),
        },
        "token_stats": tokens.to_value(),
        "children": children,
        "generated_at": generated.report_json,
    });

    let value = |key: &str| super::num(result, key);
    let mut lines: Vec<String> = vec![
        format!("# Subtest Report: {subtest_id}"),
        String::new(),
        format!("**Tier**: {tier_id}"),
        format!("**Generated**: {}", generated.report_md),
        String::new(),
        "## Summary".into(),
        String::new(),
        "| Metric | Value |".into(),
        "|--------|-------|".into(),
        format!("| Total Runs | {} |", runs.len()),
        format!("| Passed | {passed} |"),
        format!("| Pass Rate | {} |", pyfmt::percent(value("pass_rate"), 1)),
        format!("| Mean Score | {} |", pyfmt::fixed(value("mean_score"), 3)),
        format!("| Median Score | {} |", pyfmt::fixed(value("median_score"), 3)),
        format!("| Std Dev | {} |", pyfmt::fixed(value("std_dev_score"), 3)),
        format!("| Total Cost | ${} |", pyfmt::fixed(value("total_cost"), 4)),
        format!("| Consistency | {} |", pyfmt::fixed(value("consistency"), 3)),
        String::new(),
        "## Runs Overview".into(),
        String::new(),
        "| Run | Score | Grade | Pass | Duration | Cost | In | Out | Cache R | Cache W |".into(),
        "|-----|-------|-------|------|----------|------|-----|-----|---------|---------|".into(),
    ];
    // The star goes to every run sharing the best run's number (the runner compares numbers).
    let best_number = best_run(&runs).map(|r| r.number);
    for run in &runs {
        let star = if Some(run.number) == best_number { "★" } else { "" };
        let grade = run.raw.get("judge_grade").map_or_else(|| "None".to_string(), py_str);
        lines.push(format!(
            "| {}{star} | {} | {grade} | {} | {}s | ${} | {} | {} | {} | {} |",
            pyfmt::two_digits(run.number),
            pyfmt::fixed(run.score, 2),
            if run.passed { "✓" } else { "✗" },
            pyfmt::fixed(run.duration, 2),
            pyfmt::fixed(run.cost, 4),
            pyfmt::thousands(run.tokens.input),
            pyfmt::thousands(run.tokens.output),
            pyfmt::thousands(run.tokens.cache_read),
            pyfmt::thousands(run.tokens.cache_creation),
        ));
    }
    grade_statistics(result, &mut lines);
    if runs.iter().any(|r| r.criteria().is_some()) {
        lines.extend(["", "## Per-Criteria Scores (All Runs)", ""].map(String::from));
        let columns: Vec<(String, &RunView)> =
            runs.iter().map(|run| (format!("Run {}", pyfmt::two_digits(run.number)), run)).collect();
        lines.extend(criteria_table(&columns, "--------|"));
    }
    tokens.markdown_section(&mut lines);
    lines.extend(["## Run Reports", ""].map(String::from));
    for run in &runs {
        let nn = pyfmt::two_digits(run.number);
        lines.push(format!("- [Run {nn}](./run_{nn}/report.md)"));
    }
    lines.extend(["", "---", FOOTER].map(String::from));

    SubtestFiles { report_json: pyjson::to_string(&report), report_md: lines.join("\n") }
}

/// The optional `## Grade Statistics` section (only when some run has a grade).
fn grade_statistics(result: &Value, lines: &mut Vec<String>) {
    let Some(distribution) = result.get("grade_distribution").and_then(Value::as_object).filter(|d| !d.is_empty())
    else {
        return;
    };
    let mut entries: Vec<(&String, &Value)> = distribution.iter().collect();
    entries.sort_by_key(|(grade, _)| GRADES_BEST_FIRST.iter().position(|g| g == grade).unwrap_or(99));
    let listed: Vec<String> = entries.iter().map(|(grade, count)| format!("{grade}={}", py_str(count))).collect();
    lines.extend(["", "## Grade Statistics", ""].map(String::from));
    lines.push(format!("**Distribution**: {}", listed.join(", ")));
    let modal = result.get("modal_grade").map_or_else(|| "None".to_string(), py_str);
    lines.push(format!("**Modal Grade**: {modal}"));
    let min = result.get("min_grade").filter(|v| truthy(v));
    let max = result.get("max_grade").filter(|v| truthy(v));
    if let (Some(min), Some(max)) = (min, max) {
        lines.push(format!("**Grade Range**: {} - {}", py_str(min), py_str(max)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(number: i64, score: f64, passed: bool, grade: &str, cost: f64) -> Value {
        json!({
            "run_number": number,
            "exit_code": 0,
            "token_stats": {
                "input_tokens": 10 * number,
                "output_tokens": 100,
                "cache_creation_tokens": 1000,
                "cache_read_tokens": 2000,
            },
            "tokens_input": 2000 + 10 * number,
            "tokens_output": 100,
            "cost_usd": cost,
            "duration_seconds": 100.5 + number as f64,
            "judge_score": score,
            "judge_passed": passed,
            "judge_grade": grade,
            "judges": [],
            "criteria_scores": {},
        })
    }

    #[test]
    fn statistics_over_several_runs() {
        // Passed in reverse order: the result must be sorted by run number.
        let runs = vec![run(3, 0.5, false, "C", 0.3), run(2, 0.96, true, "A", 0.2), run(1, 1.0, true, "S", 0.1)];
        let r = subtest_result(Era::JAN2026, "T1", "02", &runs);
        let numbers: Vec<i64> =
            r["runs"].as_array().unwrap().iter().map(|x| x["run_number"].as_i64().unwrap()).collect();
        assert_eq!(numbers, [1, 2, 3]);
        // From CPython 3.13: statistics.mean/median/stdev([1.0, 0.96, 0.5]), sum([.1, .2, .3]).
        assert_eq!(r["pass_rate"].as_f64(), Some(2.0 / 3.0));
        assert_eq!(r["mean_score"].as_f64(), Some(0.82));
        assert_eq!(r["median_score"].as_f64(), Some(0.96));
        assert_eq!(r["std_dev_score"].as_f64(), Some(0.2778488797889961));
        assert_eq!(r["consistency"].as_f64(), Some(0.6611599026963462));
        assert_eq!(r["mean_cost"].as_f64(), Some(0.2));
        assert_eq!(r["total_cost"].as_f64(), Some(0.6));
        assert_eq!(r["token_stats"]["input_tokens"], json!(60));
        assert_eq!(r["token_stats"]["cache_read_tokens"], json!(6000));
        assert_eq!(r["grade_distribution"], json!({"S": 1, "A": 1, "C": 1}));
        assert_eq!(r["modal_grade"], json!("S"));
        assert_eq!(r["min_grade"], json!("C"));
        assert_eq!(r["max_grade"], json!("S"));
    }

    #[test]
    fn modal_grade_is_first_most_frequent_and_odd_grades_only_counted() {
        let runs = vec![
            run(1, 0.5, false, "C", 0.1),
            run(2, 0.85, true, "A", 0.1),
            run(3, 0.5, false, "N/A", 0.1),
            run(4, 0.85, true, "A", 0.1),
            run(5, 0.5, false, "C", 0.1),
        ];
        let r = subtest_result(Era::JAN2026, "T0", "00", &runs);
        assert_eq!(r["grade_distribution"], json!({"C": 2, "A": 2, "N/A": 1}));
        assert_eq!(r["modal_grade"], json!("C"));
        assert_eq!(r["min_grade"], json!("C"));
        assert_eq!(r["max_grade"], json!("A"));
        let md = subtest_files(Era::JAN2026, &r, &Generated::same("now")).report_md;
        assert!(md.contains("**Distribution**: A=2, C=2, N/A=1\n"), "{md}");
        assert!(md.contains("**Grade Range**: C - A"));
    }

    #[test]
    fn no_runs_keeps_defaults() {
        let r = subtest_result(Era::HEAD, "T2", "03", &[]);
        let text = pyjson::to_string(&r);
        assert!(text.contains("\"pass_rate\": 0.0,"));
        assert!(text.contains("\"grade_distribution\": null,"));
        assert!(text.contains("\"std_dev_score\": 0.0,"));
        let files = subtest_files(Era::HEAD, &r, &Generated::same("now"));
        assert!(files.report_md.contains("| Total Runs | 0 |"));
        assert!(!files.report_md.contains("## Grade Statistics"));
        assert!(files.report_md.ends_with("## Run Reports\n\n\n---\n*Generated by ProjectScylla E2E Framework*"));
    }

    #[test]
    fn runs_with_missing_fields_use_defaults() {
        let runs = vec![json!({"run_number": 1, "judge_score": null}), json!("not an object")];
        let r = subtest_result(Era::JAN2026, "T0", "00", &runs);
        assert_eq!(r["mean_score"].as_f64(), Some(0.0));
        assert_eq!(r["consistency"].as_f64(), Some(0.0));
        assert_eq!(r["grade_distribution"], Value::Null);
        let files = subtest_files(Era::JAN2026, &r, &Generated::same("now"));
        // The non-object run counts as run 0 and sorts first; the star goes to the first best.
        assert!(files.report_md.contains("| 00★ | 0.00 | None | ✗ |"), "{}", files.report_md);
        assert!(files.report_md.contains("\n| 01 | 0.00 | None | ✗ | 0.00s | $0.0000 | 0 | 0 | 0 | 0 |\n"));
    }

    #[test]
    fn head_runs_drop_file_only_keys() {
        let mut raw = run(1, 0.9, true, "A", 0.1);
        raw["process_metrics"] = json!({"r_prog": 0.0});
        raw["changes"] = json!([]);
        let jan = subtest_result(Era::JAN2026, "T0", "00", std::slice::from_ref(&raw));
        let head = subtest_result(Era::HEAD, "T0", "00", &[raw]);
        assert!(jan["runs"][0].get("tokens_input").is_some());
        // The runner embeds `to_dict()`, which never had the process keys the file adds.
        assert!(jan["runs"][0].get("process_metrics").is_none() && jan["runs"][0].get("changes").is_none());
        for key in HEAD_RUN_FILE_ONLY_KEYS {
            assert!(head["runs"][0].get(key).is_none(), "{key}");
        }
        assert!(head["runs"][0].get("judges").is_some());
    }

    #[test]
    fn criteria_table_marks_best_cells() {
        let mut a = run(1, 0.9, true, "A", 0.1);
        a["criteria_scores"] = json!({
            "functional": {"achieved": 4, "max": 4, "score": 1.0},
            "quality": {"score": 0.5},
            "notes": {"score": "N/A"},
        });
        let mut b = run(2, 0.8, true, "A", 0.1);
        b["criteria_scores"] = json!({"functional": {"score": 0.75}, "quality": {"score": 0.5}});
        let r = subtest_result(Era::JAN2026, "T0", "00", &[a, b]);
        let md = subtest_files(Era::JAN2026, &r, &Generated::same("now")).report_md;
        let expected = "\n## Per-Criteria Scores (All Runs)\n\n\
            | Criterion | Run 01 | Run 02 |\n\
            |-----------|--------|--------|\n\
            | functional | ***1.00*** | 0.75 |\n\
            | notes | N/A | - |\n\
            | quality | ***0.50*** | ***0.50*** |\n\
            | **Total** | **0.90** | **0.80** |\n\
            \n## Token Statistics (Total)";
        assert!(md.contains(expected), "{md}");
    }
}
