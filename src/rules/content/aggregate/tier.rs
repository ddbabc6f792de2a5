//! Tier level: best-subtest selection (docs/format.md#best-subtest-selection), the TierResult (docs/format.md#tier-files, docs/format.md#cost-of-pass) and the tier
//! files `result.json`, `best_subtest.json`, `report.json`, `report.md`, `summary.md`.

use serde_json::{Map, Value, json};

use super::{
    FOOTER, Generated, Reports, RunView, TokenStats, best_run, criteria_table, field_or, non_empty_str, num, number_or,
    py_str, run_duration_sum, runs_of, subtests_of,
};
use crate::experiment::era::{AggregateShape, Era};
use crate::py::fmt as pyfmt;
use crate::py::json as pyjson;
use crate::py::stats as pystats;

/// Medians closer than this send the top two subtests to the token tie-break.
const TIE_THRESHOLD: f64 = 0.05;

/// A TierResult and the selection that picked its best subtest.
#[derive(Debug, Clone, PartialEq)]
pub struct TierOutput {
    /// The TierResult, the content of the tier `result.json`.
    pub result: Value,
    /// The JudgeSelection, the content of `best_subtest.json`; `None` for a tier without
    /// subtests (the runner cannot select from nothing and writes no such file).
    pub best_subtest: Option<Value>,
}

/// Builds a tier's TierResult from its SubTestResults (from [`super::subtest_result`]).
///
/// Selects the best subtest (docs/format.md#best-subtest-selection) and marks it (`selected_as_best`,
/// `selection_reason`; every other subtest is reset to false / empty). What the files cannot
/// tell is carried over from `previous`, the tier's old `result.json`:
///
/// * subtest order: the previous order for subtests still present, then new ones sorted by id;
/// * `inherited_from` (null without a previous file);
/// * `total_duration`, the tier's wall clock. Without a previous number it falls back to the sum
///   of the runs' `duration_seconds`, a lower bound of the wall clock when subtests ran serially.
///
/// `total_cost` is the Python `sum` of the subtests' costs in subtest order and `cost_of_pass`
/// the winner's `mean_cost / pass_rate` (bare `Infinity` when undefined, docs/format.md#bug-infinite-cost-of-pass-written-as-infinity). The key order
/// follows the era: Jan-2026 writes `cost_of_pass` before `token_stats`, HEAD after it.
pub fn tier_result(era: Era, tier: &str, subtests: Vec<Value>, previous: Option<&Value>) -> TierOutput {
    let mut ordered = order_subtests(subtests, previous);
    let recorded = |id: &str, key: &str| -> Option<Value> {
        previous.and_then(|p| p.get("subtest_results")).and_then(|r| r.get(id)).and_then(|s| s.get(key)).cloned()
    };
    for (id, subtest) in ordered.iter_mut() {
        if let Value::Object(map) = subtest {
            // A subtest stopped by a rate limit has no runs: the limit and the reason the
            // runner recorded for it are in no other file.
            let stopped = map.get("runs").and_then(Value::as_array).is_some_and(Vec::is_empty)
                && recorded(id, "rate_limit_info").is_some_and(|v| !v.is_null());
            map.insert("selected_as_best".into(), Value::Bool(false));
            let reason = match stopped {
                true => recorded(id, "selection_reason").unwrap_or_else(|| Value::String(String::new())),
                false => Value::String(String::new()),
            };
            map.insert("selection_reason".into(), reason);
            if stopped && let Some(info) = recorded(id, "rate_limit_info") {
                map.insert("rate_limit_info".into(), info);
            }
        }
    }

    let selection = select_best(&ordered);
    if let Some(sel) = &selection
        && let Some((_, Value::Object(winner))) = ordered.get_mut(sel.winner)
    {
        winner.insert("selected_as_best".into(), Value::Bool(true));
        winner.insert("selection_reason".into(), Value::String(sel.reason.clone()));
    }

    let costs: Vec<f64> = ordered.iter().map(|(_, s)| num(s, "total_cost")).collect();
    let tokens =
        ordered.iter().fold(TokenStats::default(), |acc, (_, s)| acc.add(TokenStats::from_value(s.get("token_stats"))));
    let total_duration = match previous.and_then(|p| p.get("total_duration")) {
        Some(n @ Value::Number(_)) => n.clone(),
        _ => {
            let durations: Vec<f64> =
                ordered.iter().flat_map(|(_, s)| runs_of(s).into_iter().map(|r| r.duration)).collect();
            pyjson::float(pystats::sum(era.summation, &durations))
        }
    };
    let inherited_from = previous.and_then(|p| p.get("inherited_from")).cloned().unwrap_or(Value::Null);
    let cost_of_pass = selection.as_ref().map_or(f64::INFINITY, |sel| {
        let best = &ordered[sel.winner].1;
        let pass_rate = num(best, "pass_rate");
        if pass_rate <= 0.0 { f64::INFINITY } else { num(best, "mean_cost") / pass_rate }
    });

    let (best_id, best_score, tiebreaker_needed) = match &selection {
        Some(sel) => (Value::String(ordered[sel.winner].0.clone()), sel.winning_score.clone(), sel.tiebreaker_needed),
        None => (Value::Null, pyjson::float(0.0), false),
    };
    let best_subtest = selection.map(|sel| sel.file);
    let subtest_results: Map<String, Value> = ordered.into_iter().collect();

    let mut result = Map::new();
    result.insert("tier_id".into(), json!(tier));
    result.insert("subtest_results".into(), Value::Object(subtest_results));
    result.insert("best_subtest".into(), best_id);
    result.insert("best_subtest_score".into(), best_score);
    result.insert("inherited_from".into(), inherited_from);
    result.insert("tiebreaker_needed".into(), Value::Bool(tiebreaker_needed));
    result.insert("total_cost".into(), pyjson::float(pystats::sum(era.summation, &costs)));
    result.insert("total_duration".into(), total_duration);
    match era.aggregates {
        AggregateShape::J | AggregateShape::F => {
            result.insert("cost_of_pass".into(), pyjson::float(cost_of_pass));
            result.insert("token_stats".into(), tokens.to_value());
        }
        AggregateShape::M => {
            result.insert("token_stats".into(), tokens.to_value());
            result.insert("cost_of_pass".into(), pyjson::float(cost_of_pass));
        }
    }
    TierOutput { result: Value::Object(result), best_subtest }
}

/// Previous order first (subtests no longer given are dropped), then the rest sorted by id.
fn order_subtests(subtests: Vec<Value>, previous: Option<&Value>) -> Vec<(String, Value)> {
    let mut pending: Vec<(String, Value)> =
        subtests.into_iter().map(|s| (s.get("subtest_id").map(py_str).unwrap_or_default(), s)).collect();
    let mut ordered = Vec::with_capacity(pending.len());
    if let Some(prev) = previous.and_then(|p| p.get("subtest_results")).and_then(Value::as_object) {
        for id in prev.keys() {
            if let Some(pos) = pending.iter().position(|(s, _)| s == id) {
                ordered.push(pending.remove(pos));
            }
        }
    }
    pending.sort_by(|a, b| a.0.cmp(&b.0));
    ordered.extend(pending);
    ordered
}

/// The outcome of best-subtest selection.
struct Selection {
    /// Index of the winner in the ordered subtests.
    winner: usize,
    /// The winner's `median_score`, as stored.
    winning_score: Value,
    tiebreaker_needed: bool,
    /// The winner's `selection_reason`.
    reason: String,
    /// The `best_subtest.json` content.
    file: Value,
}

/// The runner's `select_best_subtest` (docs/format.md#best-subtest-selection); `None` without subtests.
fn select_best(subtests: &[(String, Value)]) -> Option<Selection> {
    let median = |i: usize| num(&subtests[i].1, "median_score");
    let median_value = |i: usize| number_or(&subtests[i].1, "median_score", 0.0);
    let vote = |id: &str, score: Value, confidence: Value, reasoning: String| {
        json!({
            "subtest_id": id,
            "score": score,
            "confidence": confidence,
            "reasoning": reasoning,
        })
    };
    let file = |winner: usize, votes: Vec<Value>, margin: f64, tiebreak: Option<Value>| {
        json!({
            "winning_subtest": subtests[winner].0,
            "winning_score": median_value(winner),
            "votes": votes,
            "margin": pyjson::float(margin),
            "tiebreaker_needed": tiebreak.is_some(),
            "tiebreaker_result": tiebreak.unwrap_or(Value::Null),
        })
    };
    let reason = |winner: usize, tiebreak: Option<&str>| match tiebreak {
        Some(text) => text.to_string(),
        None => format!("Highest median score ({})", pyfmt::fixed(median(winner), 3)),
    };

    match subtests.len() {
        0 => None,
        1 => {
            let only = vote(&subtests[0].0, median_value(0), pyjson::float(1.0), "Only sub-test in tier".to_string());
            Some(Selection {
                winner: 0,
                winning_score: median_value(0),
                tiebreaker_needed: false,
                reason: reason(0, None),
                file: file(0, vec![only], 1.0, None),
            })
        }
        _ => {
            // Stable sort, highest median first: ties keep the subtest order.
            let mut ranked: Vec<usize> = (0..subtests.len()).collect();
            ranked.sort_by(|a, b| median(*b).partial_cmp(&median(*a)).unwrap_or(std::cmp::Ordering::Equal));
            let votes: Vec<Value> = ranked
                .iter()
                .map(|&i| {
                    let s = &subtests[i].1;
                    let reasoning = format!(
                        "Pass rate: {}, Mean score: {}, Consistency: {}",
                        pyfmt::percent(num(s, "pass_rate"), 1),
                        pyfmt::fixed(num(s, "mean_score"), 3),
                        pyfmt::fixed(num(s, "consistency"), 3),
                    );
                    vote(&subtests[i].0, median_value(i), number_or(s, "consistency", 0.0), reasoning)
                })
                .collect();
            let (first, second) = (ranked[0], ranked[1]);
            let margin = median(first) - median(second);
            if margin < TIE_THRESHOLD {
                let tokens = |i: usize| TokenStats::from_value(subtests[i].1.get("token_stats")).total();
                let (first_tokens, second_tokens) = (tokens(first), tokens(second));
                let winner = if first_tokens <= second_tokens { first } else { second };
                let reasoning = format!(
                    "Tie broken by token usage: {} tokens ({}={first_tokens}, {}={second_tokens}). \
                     Lower is better.",
                    first_tokens.min(second_tokens),
                    subtests[first].0,
                    subtests[second].0,
                );
                let tiebreak = vote(&subtests[winner].0, median_value(winner), pyjson::float(1.0), reasoning.clone());
                Some(Selection {
                    winner,
                    winning_score: median_value(winner),
                    tiebreaker_needed: true,
                    reason: reason(winner, Some(&reasoning)),
                    file: file(winner, votes, margin, Some(tiebreak)),
                })
            } else {
                Some(Selection {
                    winner: first,
                    winning_score: median_value(first),
                    tiebreaker_needed: false,
                    reason: reason(first, None),
                    file: file(first, votes, margin, None),
                })
            }
        }
    }
}

/// The tier files, rendered from a [`TierOutput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierFiles {
    /// `<T>/result.json`.
    pub result_json: String,
    /// `<T>/best_subtest.json`; `None` when the tier has no subtests.
    pub best_subtest_json: Option<String>,
    /// `<T>/report.json`.
    pub report_json: String,
    /// `<T>/report.md`.
    pub report_md: String,
    /// `<T>/summary.md`.
    pub summary_md: String,
}

/// Renders the tier files. The reports depend only on `out.result`, so a TierResult read back
/// from disk renders the same reports.
pub fn tier_files(era: Era, out: &TierOutput, generated: &Generated) -> TierFiles {
    let r = tier_reports(era, &out.result, generated);
    TierFiles {
        result_json: pyjson::to_string(&out.result),
        best_subtest_json: out.best_subtest.as_ref().map(pyjson::to_string),
        report_json: r.report_json,
        report_md: r.report_md,
        summary_md: r.summary_md,
    }
}

/// The tier's reports alone, from its TierResult: like the experiment's, they read only what
/// [`super::REPORTED_RUN_KEYS`] keeps of the embedded runs.
pub fn tier_reports(era: Era, result: &Value, generated: &Generated) -> Reports {
    Reports {
        report_json: pyjson::to_string(&tier_report_json(result, &generated.report_json)),
        report_md: tier_report_md(era, result, &generated.report_md),
        summary_md: tier_summary_md(result),
    }
}

fn tier_report_json(result: &Value, generated_at: &str) -> Value {
    let tier_id = result.get("tier_id").map(py_str).unwrap_or_default();
    let subtests = subtests_of(result);
    let best = field_or(result, "best_subtest", Value::Null);
    let best_report =
        non_empty_str(result, "best_subtest").map_or(Value::Null, |id| Value::String(format!("./{id}/report.json")));
    let best_score = number_or(result, "best_subtest_score", 0.0);
    let children: Vec<Value> = subtests
        .iter()
        .map(|(id, s)| {
            json!({
                "id": id,
                "score": number_or(s, "median_score", 0.0),
                "pass_rate": number_or(s, "pass_rate", 0.0),
                "cost": number_or(s, "total_cost", 0.0),
                "selected": field_or(s, "selected_as_best", Value::Bool(false)),
                "report": format!("./{id}/report.json"),
            })
        })
        .collect();
    json!({
        "tier": tier_id,
        "summary": {
            "total_subtests": subtests.len(),
            "best_subtest": best,
            "best_score": best_score,
            "total_cost": number_or(result, "total_cost", 0.0),
            "total_duration": number_or(result, "total_duration", 0.0),
            "tiebreaker_needed": field_or(result, "tiebreaker_needed", Value::Bool(false)),
        },
        "token_stats": TokenStats::from_value(result.get("token_stats")).to_value(),
        "best": {
            "subtest": best,
            "score": best_score,
            "report": best_report,
        },
        "children": children,
        "generated_at": generated_at,
    })
}

fn tier_report_md(era: Era, result: &Value, generated_at: &str) -> String {
    let tier_id = result.get("tier_id").map(py_str).unwrap_or_default();
    let subtests = subtests_of(result);
    let mut sorted = subtests.clone();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let best = non_empty_str(result, "best_subtest").unwrap_or("N/A");
    let tiebreak = result.get("tiebreaker_needed").is_some_and(super::truthy);
    let mut lines: Vec<String> = vec![
        format!("# Tier Report: {tier_id}"),
        String::new(),
        format!("**Generated**: {generated_at}"),
        String::new(),
        "## Summary".into(),
        String::new(),
        "| Metric | Value |".into(),
        "|--------|-------|".into(),
        format!("| Total Subtests | {} |", subtests.len()),
        format!("| Best Subtest | {best} |"),
        format!("| Best Score | {} |", pyfmt::fixed(num(result, "best_subtest_score"), 3)),
        format!("| Total Cost | ${} |", pyfmt::fixed(num(result, "total_cost"), 4)),
        format!("| Duration | {}s |", pyfmt::fixed(num(result, "total_duration"), 1)),
        format!("| Tiebreaker Needed | {} |", if tiebreak { "Yes" } else { "No" }),
        String::new(),
        "## Subtests Overview".into(),
        String::new(),
        "| Subtest | Score | Pass | Duration | Cost | In | Out | Cache R | Cache W | Best |".into(),
        "|---------|-------|------|----------|------|-----|-----|---------|---------|------|".into(),
    ];
    for (id, s) in &sorted {
        let tokens = TokenStats::from_value(s.get("token_stats"));
        let selected = s.get("selected_as_best").is_some_and(super::truthy);
        lines.push(format!(
            "| {id} | {} | {} | {}s | ${} | {} | {} | {} | {} | {} |",
            pyfmt::fixed(num(s, "median_score"), 2),
            pyfmt::percent(num(s, "pass_rate"), 0),
            pyfmt::fixed(run_duration_sum(&runs_of(s)), 2),
            pyfmt::fixed(num(s, "total_cost"), 2),
            pyfmt::thousands(tokens.input),
            pyfmt::thousands(tokens.output),
            pyfmt::thousands(tokens.cache_read),
            pyfmt::thousands(tokens.cache_creation),
            if selected { "★" } else { "" },
        ));
    }

    let runs: Vec<(&String, Vec<RunView>)> = sorted.iter().map(|(id, s)| (*id, runs_of(s))).collect();
    let columns: Vec<(String, &RunView)> =
        runs.iter().filter_map(|(id, runs)| best_run(runs).map(|run| (id.to_string(), run))).collect();
    if columns.iter().any(|(_, run)| run.criteria().is_some()) {
        lines.extend(["", "## Per-Criteria Scores (Best Run per Subtest)", ""].map(String::from));
        lines.extend(criteria_table(&columns, criteria_separator(era)));
    }

    TokenStats::from_value(result.get("token_stats")).markdown_section(&mut lines);
    lines.extend(["## Subtest Reports", ""].map(String::from));
    for (id, _) in &sorted {
        lines.push(format!("- [{id}](./{id}/report.md)"));
    }
    lines.extend(["", "---", FOOTER].map(String::from));
    lines.join("\n")
}

/// Column separator of the tier and experiment criteria tables: the Jan-2026 runner wrote six
/// dashes, the HEAD runner's shared table helper eight.
pub(super) fn criteria_separator(era: Era) -> &'static str {
    match era.aggregates {
        AggregateShape::J => "------|",
        AggregateShape::F | AggregateShape::M => "--------|",
    }
}

fn tier_summary_md(result: &Value) -> String {
    let tier_id = result.get("tier_id").map(py_str).unwrap_or_default();
    let mut sorted = subtests_of(result);
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut lines: Vec<String> = vec![
        format!("# {tier_id} Subtest Summary"),
        String::new(),
        "| Subtest | Best Score | Pass Rate | Avg Cost | Report |".into(),
        "|---------|------------|-----------|----------|--------|".into(),
    ];
    for (id, s) in sorted {
        let runs = runs_of(s);
        let best = best_run(&runs).map_or(0.0, |r| r.score);
        lines.push(format!(
            "| {id} | {} | {} | ${} | [View](./{id}/report.md) |",
            pyfmt::fixed(best, 2),
            pyfmt::percent(num(s, "pass_rate"), 1),
            pyfmt::fixed(num(s, "mean_cost"), 4),
        ));
    }
    lines.extend([String::new(), FOOTER.to_string()]);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::content::aggregate::subtest_result;

    /// A run whose token total is `tokens` (all in `input_tokens`).
    fn run(number: i64, score: f64, tokens: i64, cost: f64, duration: f64) -> Value {
        json!({
            "run_number": number,
            "token_stats": {
                "input_tokens": tokens,
                "output_tokens": 0,
                "cache_creation_tokens": 0,
                "cache_read_tokens": 0,
            },
            "cost_usd": cost,
            "duration_seconds": duration,
            "judge_score": score,
            "judge_passed": score >= 0.6,
            "judge_grade": crate::rules::content::judgment::grade(score),
            "criteria_scores": {},
        })
    }

    fn subtest(id: &str, runs: &[Value]) -> Value {
        subtest_result(Era::JAN2026, "T3", id, runs)
    }

    #[test]
    fn clear_winner_is_highest_median() {
        let subtests = vec![
            subtest("01", &[run(1, 0.7, 100, 0.1, 10.0), run(2, 0.8, 100, 0.1, 10.0)]),
            subtest("02", &[run(1, 0.9, 500, 0.2, 10.0), run(2, 0.95, 500, 0.4, 10.0)]),
            subtest("03", &[run(1, 0.5, 50, 0.1, 10.0)]),
        ];
        let out = tier_result(Era::JAN2026, "T3", subtests, None);
        let r = &out.result;
        assert_eq!(r["best_subtest"], json!("02"));
        assert_eq!(r["best_subtest_score"].as_f64(), Some(0.925));
        assert_eq!(r["tiebreaker_needed"], json!(false));
        assert_eq!(r["subtest_results"]["02"]["selected_as_best"], json!(true));
        assert_eq!(r["subtest_results"]["02"]["selection_reason"], json!("Highest median score (0.925)"));
        assert_eq!(r["subtest_results"]["01"]["selected_as_best"], json!(false));
        // mean_cost 0.30000000000000004 / pass_rate 1.0 (CPython: statistics.mean([0.2, 0.4])).
        assert_eq!(r["cost_of_pass"].as_f64(), Some(0.30000000000000004));
        // sum([0.2, 0.6000000000000001, 0.1]) in subtest order 01, 02, 03.
        assert_eq!(r["total_cost"].as_f64(), Some(0.9000000000000001));
        assert_eq!(r["total_duration"].as_f64(), Some(50.0));
        let best = out.best_subtest.expect("selection");
        let ids: Vec<&str> =
            best["votes"].as_array().unwrap().iter().map(|v| v["subtest_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["02", "01", "03"]);
        // 0.925 - 0.75 in double arithmetic.
        assert_eq!(best["margin"].as_f64(), Some(0.17500000000000004));
        assert_eq!(best["votes"][1]["reasoning"], json!("Pass rate: 100.0%, Mean score: 0.750, Consistency: 0.906"));
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys[8..], ["cost_of_pass", "token_stats"]);
        let head = tier_result(Era::HEAD, "T3", vec![subtest("01", &[])], None);
        let keys: Vec<&String> = head.result.as_object().unwrap().keys().collect();
        assert_eq!(keys[8..], ["token_stats", "cost_of_pass"]);
    }

    #[test]
    fn close_medians_are_broken_by_tokens() {
        // Medians 0.9 and 0.88: margin < 0.05, so the cheaper (second-ranked) subtest wins.
        let subtests =
            vec![subtest("01", &[run(1, 0.9, 5000, 0.1, 1.0)]), subtest("02", &[run(1, 0.88, 1200, 0.1, 1.0)])];
        let out = tier_result(Era::JAN2026, "T1", subtests, None);
        assert_eq!(out.result["best_subtest"], json!("02"));
        assert_eq!(out.result["best_subtest_score"].as_f64(), Some(0.88));
        assert_eq!(out.result["tiebreaker_needed"], json!(true));
        let reason = "Tie broken by token usage: 1200 tokens (01=5000, 02=1200). Lower is better.";
        assert_eq!(out.result["subtest_results"]["02"]["selection_reason"], json!(reason));
        let best = out.best_subtest.expect("selection");
        assert_eq!(best["tiebreaker_result"]["subtest_id"], json!("02"));
        assert_eq!(best["tiebreaker_result"]["confidence"].as_f64(), Some(1.0));
        assert_eq!(best["tiebreaker_result"]["reasoning"], json!(reason));
        assert_eq!(best["winning_score"].as_f64(), Some(0.88));

        // Equal token totals keep the first-ranked subtest.
        let subtests =
            vec![subtest("01", &[run(1, 0.88, 1200, 0.1, 1.0)]), subtest("02", &[run(1, 0.9, 1200, 0.1, 1.0)])];
        let out = tier_result(Era::JAN2026, "T1", subtests, None);
        assert_eq!(out.result["best_subtest"], json!("02"));
        assert_eq!(out.result["tiebreaker_needed"], json!(true));
    }

    #[test]
    fn equal_medians_keep_subtest_order() {
        let subtests = vec![subtest("02", &[run(1, 0.8, 10, 0.1, 1.0)]), subtest("01", &[run(1, 0.8, 10, 0.1, 1.0)])];
        // No previous file: sorted by id, so "01" ranks first and wins the token tie.
        let out = tier_result(Era::JAN2026, "T1", subtests.clone(), None);
        assert_eq!(out.result["best_subtest"], json!("01"));
        // A previous file listing "02" first keeps that order, and "02" wins.
        let previous = json!({"subtest_results": {"02": {}, "01": {}}, "total_duration": 12.5});
        let out = tier_result(Era::JAN2026, "T1", subtests, Some(&previous));
        let order: Vec<&String> = out.result["subtest_results"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["02", "01"]);
        assert_eq!(out.result["best_subtest"], json!("02"));
        assert_eq!(out.result["total_duration"].as_f64(), Some(12.5));
    }

    #[test]
    fn no_subtests_and_no_passes() {
        let out = tier_result(Era::JAN2026, "T4", vec![], None);
        assert!(out.best_subtest.is_none());
        let text = pyjson::to_string(&out.result);
        assert!(text.contains("\"best_subtest\": null,"));
        assert!(text.contains("\"cost_of_pass\": Infinity,"));
        let files = tier_files(Era::JAN2026, &out, &Generated::same("now"));
        assert!(files.best_subtest_json.is_none());
        assert!(files.report_md.contains("| Best Subtest | N/A |"));
        assert!(files.report_json.contains("\"report\": null"));

        let failing = vec![subtest("01", &[run(1, 0.1, 10, 0.5, 1.0)])];
        let out = tier_result(Era::JAN2026, "T4", failing, None);
        assert_eq!(out.result["best_subtest"], json!("01"));
        assert!(pyjson::to_string(&out.result).contains("\"cost_of_pass\": Infinity,"));
    }

    #[test]
    fn tier_criteria_table_uses_best_runs() {
        let mut a = run(1, 0.9, 10, 0.1, 1.0);
        a["criteria_scores"] = json!({"quality": {"score": 0.9}});
        let mut b = run(1, 0.7, 10, 0.1, 1.0);
        b["criteria_scores"] = json!({"quality": {"score": 0.6}});
        let out = tier_result(Era::JAN2026, "T2", vec![subtest("01", &[a]), subtest("02", &[b])], None);
        let md = tier_files(Era::JAN2026, &out, &Generated::same("now")).report_md;
        let expected = "## Per-Criteria Scores (Best Run per Subtest)\n\n\
            | Criterion | 01 | 02 |\n|-----------|------|------|\n\
            | quality | ***0.90*** | 0.60 |\n| **Total** | **0.90** | **0.70** |\n";
        assert!(md.contains(expected), "{md}");
        let md = tier_files(Era::HEAD, &out, &Generated::same("now")).report_md;
        assert!(md.contains("|-----------|--------|--------|\n"), "{md}");
    }
}
