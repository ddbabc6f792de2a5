//! Experiment level: the ExperimentResult (docs/format.md#experiment-aggregates) and the root files `result.json`,
//! `report.json`, `report.md`, `summary.md`, `tier_comparison.json`.

use serde_json::{Map, Value, json};

use super::{
    FOOTER, Generated, Reports, RunView, TokenStats, best_run, best_subtest_of, criteria_table, field_or, num,
    number_or, py_str, run_duration_sum, runs_of, subtests_of, tier_rank,
};
use crate::experiment::era::{AggregateShape, Era};
use crate::py::fmt as pyfmt;
use crate::py::json as pyjson;
use crate::py::stats as pystats;

/// The experiment's clock, used where no previous `result.json` provides it.
///
/// The runner records the wall clock of the whole run, which no other file holds (docs/format.md#experiment-aggregates);
/// a caller may know it from `checkpoint.json` (`started_at`, `last_updated_at`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentTimes {
    /// ISO-8601 start, e.g. `2026-01-20T06:13:07.511942+00:00`.
    pub started_at: Option<String>,
    /// ISO-8601 end.
    pub completed_at: Option<String>,
    /// Wall-clock seconds; derived from the two timestamps when absent.
    pub total_duration_seconds: Option<f64>,
}

/// Builds the ExperimentResult from the tier results (`(tier id, TierResult)`).
///
/// `config` is written back as it is: `config/experiment.json` for the Jan-2026 era; the HEAD
/// runner dumps its in-memory config model instead, so there prefer the previous file's `config`.
///
/// Carried over from `previous` (the old root `result.json`), field by field: `started_at` and
/// `completed_at` when they are strings, `total_duration_seconds` when it is a number, and the
/// tier order (tiers no longer given are dropped). Without them: `times`, then for the duration
/// the difference of the two timestamps (as Python's `timedelta.total_seconds()`), else `0.0`;
/// timestamps else null; new tiers follow in `tiers_to_run` order, then by tier id.
///
/// The frontier is the tier with the lowest cost of pass (`mean_cost / pass_rate` of its best
/// subtest; tiers without subtests, without a best subtest or with a zero pass rate skipped;
/// the first in tier order wins ties); `frontier_cop` is `Infinity` when there is none (docs/format.md#bug-infinite-cost-of-pass-written-as-infinity).
pub fn experiment_result(
    summation: pystats::Summation,
    config: &Value,
    tiers: Vec<(String, Value)>,
    previous: Option<&Value>,
    completion_order: &[String],
    times: &ExperimentTimes,
) -> Value {
    let tiers = order_tiers(config, tiers, previous, completion_order);

    let mut frontier: Option<usize> = None;
    let mut frontier_cop = f64::INFINITY;
    for (i, (_, tier)) in tiers.iter().enumerate() {
        if subtests_of(tier).is_empty() {
            continue;
        }
        let Some(best) = best_subtest_of(tier) else {
            continue;
        };
        let pass_rate = num(best, "pass_rate");
        if pass_rate == 0.0 {
            continue;
        }
        let cop = num(best, "mean_cost") / pass_rate;
        if cop < frontier_cop {
            frontier_cop = cop;
            frontier = Some(i);
        }
    }
    let frontier_tier = frontier.map_or(Value::Null, |i| Value::String(tiers[i].0.clone()));
    let frontier_subtest = frontier.and_then(|i| tiers[i].1.get("best_subtest").cloned()).unwrap_or(Value::Null);

    let costs: Vec<f64> = tiers.iter().map(|(_, t)| num(t, "total_cost")).collect();
    let tokens =
        tiers.iter().fold(TokenStats::default(), |acc, (_, t)| acc.add(TokenStats::from_value(t.get("token_stats"))));

    let previous_str = |key: &str| previous.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_string);
    let started_at = previous_str("started_at").or_else(|| times.started_at.clone());
    let completed_at = previous_str("completed_at").or_else(|| times.completed_at.clone());
    let total_duration = match previous.and_then(|p| p.get("total_duration_seconds")) {
        Some(n @ Value::Number(_)) => n.clone(),
        _ => pyjson::float(
            times
                .total_duration_seconds
                .or_else(|| elapsed_seconds(started_at.as_deref()?, completed_at.as_deref()?))
                .unwrap_or(0.0),
        ),
    };

    let tier_results: Map<String, Value> = tiers.into_iter().collect();
    json!({
        "config": config,
        "tier_results": tier_results,
        "best_overall_tier": frontier_tier,
        "best_overall_subtest": frontier_subtest,
        "frontier_cop": pyjson::float(frontier_cop),
        "frontier_cop_tier": frontier_tier,
        "total_cost": pyjson::float(pystats::sum(summation, &costs)),
        "total_duration_seconds": total_duration,
        "token_stats": tokens.to_value(),
        "started_at": started_at,
        "completed_at": completed_at,
    })
}

/// `(end - start).total_seconds()`: whole microseconds divided by 10^6, rounded once.
fn elapsed_seconds(start: &str, end: &str) -> Option<f64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.parse().ok()?;
    let micros = end.duration_since(start).as_micros();
    Some(micros as f64 / 1e6)
}

/// The configured tiers (`tiers_to_run`, upper-cased like the runner's `TierID.from_string`).
fn configured_tiers(config: &Value) -> Vec<String> {
    config
        .get("tiers_to_run")
        .and_then(Value::as_array)
        .map(|tiers| tiers.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect())
        .unwrap_or_default()
}

/// Previous order first, then the order the runner completed the tiers in, then `tiers_to_run`
/// order, then by tier id.
fn order_tiers(
    config: &Value,
    tiers: Vec<(String, Value)>,
    previous: Option<&Value>,
    completion_order: &[String],
) -> Vec<(String, Value)> {
    let mut pending = tiers;
    let mut ordered = Vec::with_capacity(pending.len());
    let mut take = |id: &str, ordered: &mut Vec<(String, Value)>| {
        if let Some(pos) = pending.iter().position(|(t, _)| t == id) {
            ordered.push(pending.remove(pos));
        }
    };
    if let Some(prev) = previous.and_then(|p| p.get("tier_results")).and_then(Value::as_object) {
        for id in prev.keys() {
            take(id, &mut ordered);
        }
    }
    for id in completion_order {
        take(id, &mut ordered);
    }
    for id in configured_tiers(config) {
        take(&id, &mut ordered);
    }
    pending.sort_by_key(|(t, _)| tier_rank(t));
    ordered.extend(pending);
    ordered
}

/// The experiment's root files, rendered from an ExperimentResult (all of them at once: the parity
/// goldens; the rules render the result and the reports separately).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentFiles {
    /// `result.json`.
    pub result_json: String,
    /// `report.json`.
    pub report_json: String,
    /// `report.md`.
    pub report_md: String,
    /// `summary.md`.
    pub summary_md: String,
    /// `tier_comparison.json`.
    pub tier_comparison_json: String,
}

/// Renders the root files from an ExperimentResult (as built by [`experiment_result`] or read
/// from an existing `result.json`).
#[cfg(test)]
pub fn experiment_files(era: Era, result: &Value, generated: &Generated) -> ExperimentFiles {
    let r = experiment_reports(era, result, generated);
    ExperimentFiles {
        result_json: pyjson::to_string(result),
        report_json: r.report_json,
        report_md: r.report_md,
        summary_md: r.summary_md,
        tier_comparison_json: tier_comparison_json(result),
    }
}

/// `tier_comparison.json`: it reads only the tiers' own fields, not their subtests' runs.
pub fn tier_comparison_json(result: &Value) -> String {
    pyjson::to_string(&tier_comparison(result))
}

/// The reports alone: they read only what [`REPORTED_RUN_KEYS`] keeps of the embedded runs, so a
/// result read with [`crate::py::json::parse_lean_runs`] renders the same reports.
pub fn experiment_reports(era: Era, result: &Value, generated: &Generated) -> Reports {
    Reports {
        report_json: pyjson::to_string(&report_json(result, &generated.report_json)),
        report_md: report_md(era, result, &generated.report_md),
        summary_md: summary_md(result),
    }
}

fn tiers_of(result: &Value) -> Vec<(&String, &Value)> {
    result.get("tier_results").and_then(Value::as_object).map(|m| m.iter().collect()).unwrap_or_default()
}

fn config_str(result: &Value, key: &str) -> String {
    result.get("config").and_then(|c| c.get(key)).map(py_str).unwrap_or_default()
}

/// The `frontier_cop` value, or null when it is infinite (the report writes null there).
fn finite_frontier(result: &Value) -> Value {
    match result.get("frontier_cop") {
        Some(v) if pyjson::as_f64(v) == Some(f64::INFINITY) => Value::Null,
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn report_json(result: &Value, generated_at: &str) -> Value {
    let tiers = tiers_of(result);
    let best_tier = result.get("best_overall_tier").cloned().unwrap_or(Value::Null);
    let best_report = match &best_tier {
        Value::String(t) => Value::String(format!("./{t}/report.json")),
        _ => Value::Null,
    };
    let best_subtest = result.get("best_overall_subtest").cloned().unwrap_or(Value::Null);
    let children: Vec<Value> = tiers
        .iter()
        .map(|(id, t)| {
            json!({
                "tier": id,
                "best_subtest": field_or(t, "best_subtest", Value::Null),
                "best_score": number_or(t, "best_subtest_score", 0.0),
                "cost": number_or(t, "total_cost", 0.0),
                "report": format!("./{id}/report.json"),
            })
        })
        .collect();
    let carried = |key: &str| field_or(result, key, Value::Null);
    let experiment_id = field_or(result.get("config").unwrap_or(&Value::Null), "experiment_id", Value::Null);
    json!({
        "experiment_id": experiment_id,
        "summary": {
            "total_tiers": tiers.len(),
            "best_tier": best_tier,
            "best_subtest": best_subtest,
            "frontier_cop": finite_frontier(result),
            "total_cost": number_or(result, "total_cost", 0.0),
            "total_duration": number_or(result, "total_duration_seconds", 0.0),
            "started_at": carried("started_at"),
            "completed_at": carried("completed_at"),
        },
        "token_stats": TokenStats::from_value(result.get("token_stats")).to_value(),
        "best": {
            "tier": best_tier,
            "subtest": best_subtest,
            "report": best_report,
        },
        "children": children,
        "generated_at": generated_at,
    })
}

fn report_md(era: Era, result: &Value, generated_at: &str) -> String {
    let tiers = tiers_of(result);
    let find = |id: &str| tiers.iter().find(|(t, _)| t.as_str() == id).map(|(_, v)| *v);
    let configured = configured_tiers(result.get("config").unwrap_or(&Value::Null));
    let best_tier = result.get("best_overall_tier").and_then(Value::as_str).unwrap_or("N/A");
    let best_subtest = super::non_empty_str(result, "best_overall_subtest").map_or("N/A".to_string(), str::to_string);
    let frontier = result.get("frontier_cop").and_then(pyjson::as_f64).unwrap_or(f64::INFINITY);
    let frontier_line = if frontier == f64::INFINITY {
        "- **Frontier CoP**: N/A".to_string()
    } else {
        format!("- **Frontier CoP**: ${}", pyfmt::fixed(frontier, 4))
    };

    let mut lines: Vec<String> = vec![
        format!("# E2E Experiment Report: {}", config_str(result, "experiment_id")),
        String::new(),
        format!("**Generated**: {generated_at}"),
        format!("**Duration**: {}s", pyfmt::fixed(num(result, "total_duration_seconds"), 1)),
        format!("**Total Cost**: ${}", pyfmt::fixed(num(result, "total_cost"), 4)),
        String::new(),
        "## Summary".into(),
        String::new(),
        format!("- **Best Tier**: {best_tier}"),
        format!("- **Best Sub-test**: {best_subtest}"),
        frontier_line,
        String::new(),
        "## Tier Summary".into(),
        String::new(),
        "| Tier | Subtests | Duration | Cost | In | Out | Cache R | Cache W | CoP |".into(),
        "|------|----------|----------|------|-----|-----|---------|---------|-----|".into(),
    ];
    for id in &configured {
        let Some(tier) = find(id) else { continue };
        let tokens = TokenStats::from_value(tier.get("token_stats"));
        // docs/format.md#bug-two-definitions-of-cost-of-pass: this column divides the tier's total cost, not the best subtest's mean cost.
        let cop = match best_subtest_of(tier) {
            Some(best) if num(best, "pass_rate") > 0.0 => {
                format!("${}", pyfmt::fixed(num(tier, "total_cost") / num(best, "pass_rate"), 2))
            }
            _ => "N/A".to_string(),
        };
        lines.push(format!(
            "| {id} | {} | {}s | ${} | {} | {} | {} | {} | {cop} |",
            subtests_of(tier).len(),
            pyfmt::fixed(num(tier, "total_duration"), 1),
            pyfmt::fixed(num(tier, "total_cost"), 2),
            pyfmt::thousands(tokens.input),
            pyfmt::thousands(tokens.output),
            pyfmt::thousands(tokens.cache_read),
            pyfmt::thousands(tokens.cache_creation),
        ));
    }
    lines.extend(
        [
            "",
            "## Best Subtest per Tier",
            "",
            "| Tier | Best | Score | Pass | Cost | Duration |",
            "|------|------|-------|------|------|----------|",
        ]
        .map(String::from),
    );
    for id in &configured {
        let Some(tier) = find(id) else { continue };
        let Some(best) = best_subtest_of(tier) else {
            continue;
        };
        lines.push(format!(
            "| {id} | {} | {} | {} | ${} | {}s |",
            py_str(tier.get("best_subtest").unwrap_or(&Value::Null)),
            pyfmt::fixed(num(tier, "best_subtest_score"), 2),
            pyfmt::percent(num(best, "pass_rate"), 0),
            pyfmt::fixed(num(best, "total_cost"), 2),
            pyfmt::fixed(run_duration_sum(&runs_of(best)), 1),
        ));
    }
    // HEAD's table helper ends the best-subtest table with its own blank line.
    if era.aggregates >= AggregateShape::F {
        lines.push(String::new());
    }

    let mut best_runs: Vec<(&String, Vec<RunView>)> =
        tiers.iter().filter_map(|(id, tier)| best_subtest_of(tier).map(|best| (*id, runs_of(best)))).collect();
    best_runs.sort_by(|a, b| a.0.cmp(b.0));
    let columns: Vec<(String, &RunView)> =
        best_runs.iter().filter_map(|(id, runs)| best_run(runs).map(|run| (id.to_string(), run))).collect();
    if columns.iter().any(|(_, run)| run.criteria().is_some()) {
        lines.extend(["", "## Per-Criteria Scores (Best Subtest per Tier)", ""].map(String::from));
        lines.extend(criteria_table(&columns, super::tier::criteria_separator(era)));
    }

    TokenStats::from_value(result.get("token_stats")).markdown_section(&mut lines);
    let judges = judge_models(result.get("config").unwrap_or(&Value::Null));
    let runs_per_subtest =
        result.get("config").and_then(|c| c.get("runs_per_subtest")).map_or_else(|| "10".to_string(), py_str);
    lines.extend([
        "## Configuration".to_string(),
        String::new(),
        format!("- **Task Repo**: {}", config_str(result, "task_repo")),
        format!("- **Task Commit**: {}", config_str(result, "task_commit")),
        format!("- **Runs per Sub-test**: {runs_per_subtest}"),
        format!("- **Judge Models**: {}", judges.join(", ")),
        String::new(),
        "## Tier Reports".to_string(),
        String::new(),
    ]);
    for id in &configured {
        if find(id).is_some() {
            lines.push(format!("- [{id}](./{id}/report.md)"));
        }
    }
    lines.extend(
        [
            "",
            "## Files",
            "",
            "- [prompt.md](./prompt.md) - Task prompt",
            "- [criteria.md](./criteria.md) - Grading criteria (if available)",
            "- [rubric.yaml](./rubric.yaml) - Grading rubric (if available)",
            "- [judge_prompt.md](./judge_prompt.md) - Judge prompt template",
            "- [result.json](./result.json) - Full results data",
            "",
            "---",
            "",
            FOOTER,
        ]
        .map(String::from),
    );
    lines.join("\n")
}

/// `judge_models`, or the legacy single `judge_model` (docs/format.md#experiment-config).
fn judge_models(config: &Value) -> Vec<String> {
    match (config.get("judge_models"), config.get("judge_model")) {
        (Some(Value::Array(models)), _) => models.iter().map(py_str).collect(),
        (_, Some(model)) => vec![py_str(model)],
        _ => Vec::new(),
    }
}

fn summary_md(result: &Value) -> String {
    let mut tiers = tiers_of(result);
    tiers.sort_by_key(|(id, _)| tier_rank(id));
    let mut lines: Vec<String> = vec![
        "# Experiment Summary: All Subtests".into(),
        String::new(),
        "| Tier | Subtest | Best Score | Pass Rate | Avg Cost | Report |".into(),
        "|------|---------|------------|-----------|----------|--------|".into(),
    ];
    for (tier_id, tier) in tiers {
        let mut subtests = subtests_of(tier);
        subtests.sort_by(|a, b| a.0.cmp(b.0));
        for (id, s) in subtests {
            let runs = runs_of(s);
            let best = best_run(&runs).map_or(0.0, |r| r.score);
            // docs/format.md#bug-report-links-point-at-missing-directories: the runner links a `tiers/` directory that no layout has.
            lines.push(format!(
                "| {tier_id} | {id} | {} | {} | ${} | [View](./tiers/{tier_id}/{id}/report.md) |",
                pyfmt::fixed(best, 2),
                pyfmt::percent(num(s, "pass_rate"), 1),
                pyfmt::fixed(num(s, "mean_cost"), 4),
            ));
        }
    }
    lines.extend([String::new(), FOOTER.to_string()]);
    lines.join("\n")
}

fn tier_comparison(result: &Value) -> Value {
    let entries: Map<String, Value> = tiers_of(result)
        .into_iter()
        .map(|(id, t)| {
            let entry = json!({
                "best_subtest": field_or(t, "best_subtest", Value::Null),
                "best_score": number_or(t, "best_subtest_score", 0.0),
                "total_cost": number_or(t, "total_cost", 0.0),
                "tiebreaker_needed": field_or(t, "tiebreaker_needed", Value::Bool(false)),
            });
            (id.clone(), entry)
        })
        .collect();
    Value::Object(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::content::aggregate::{subtest_result, tier_result};

    fn tier(id: &str, scores_costs: &[(f64, bool, f64)]) -> (String, Value) {
        let runs: Vec<Value> = scores_costs
            .iter()
            .enumerate()
            .map(|(i, (score, passed, cost))| {
                json!({
                    "run_number": i + 1,
                    "token_stats": {
                        "input_tokens": 1,
                        "output_tokens": 2,
                        "cache_creation_tokens": 3,
                        "cache_read_tokens": 4,
                    },
                    "cost_usd": cost,
                    "duration_seconds": 10.0,
                    "judge_score": score,
                    "judge_passed": passed,
                    "judge_grade": "A",
                    "criteria_scores": {},
                })
            })
            .collect();
        let subtest = subtest_result(Era::JAN2026, id, "01", &runs);
        (id.to_string(), tier_result(Era::JAN2026, id, vec![subtest], None).result)
    }

    fn config() -> Value {
        json!({
            "experiment_id": "exp",
            "task_repo": "https://example.invalid/repo",
            "task_commit": "abc",
            "runs_per_subtest": 2,
            "tiers_to_run": ["T0", "T1", "T2"],
            "judge_model": "judge-a",
        })
    }

    #[test]
    fn frontier_picks_lowest_cost_of_pass() {
        let tiers = vec![
            tier("T1", &[(0.9, true, 0.4), (0.8, false, 0.2)]), // 0.30000000000000004 / 0.5
            tier("T0", &[(0.9, true, 0.5)]),                    // 0.5 / 1.0
            tier("T2", &[(0.1, false, 0.01)]),                  // no pass: skipped
        ];
        let times = ExperimentTimes {
            started_at: Some("2026-01-20T06:13:07.511942+00:00".into()),
            completed_at: Some("2026-01-20T06:22:17.393699+00:00".into()),
            total_duration_seconds: None,
        };
        let result = experiment_result(crate::py::stats::Summation::Compensated, &config(), tiers, None, &[], &times);
        let order: Vec<&String> = result["tier_results"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["T0", "T1", "T2"]);
        assert_eq!(result["best_overall_tier"], json!("T0"));
        assert_eq!(result["frontier_cop"].as_f64(), Some(0.5));
        // The fixture's value: 06:22:17.393699 - 06:13:07.511942.
        assert_eq!(result["total_duration_seconds"].as_f64(), Some(549.881757));
        assert_eq!(result["token_stats"]["cache_read_tokens"], json!(16));
        let files = experiment_files(Era::JAN2026, &result, &Generated::same("now"));
        assert!(files.report_md.contains("- **Judge Models**: judge-a\n"));
        assert!(files.report_md.contains("| T2 | 1 | 10.0s | $0.01 | 1 | 2 | 4 | 3 | N/A |"), "{}", files.report_md);
        // docs/format.md#bug-two-definitions-of-cost-of-pass: total_cost / pass_rate = 0.6000000000000001 / 0.5.
        assert!(files.report_md.contains("| T1 | 1 | 20.0s | $0.60 | 2 | 4 | 8 | 6 | $1.20 |"));
    }

    #[test]
    fn no_frontier_is_infinity_null_and_na() {
        let tiers = vec![tier("T0", &[(0.1, false, 0.2)])];
        let result = experiment_result(
            crate::py::stats::Summation::Compensated,
            &config(),
            tiers,
            None,
            &[],
            &ExperimentTimes::default(),
        );
        let files = experiment_files(Era::HEAD, &result, &Generated::same("now"));
        assert!(files.result_json.contains("\"frontier_cop\": Infinity,"));
        assert!(files.result_json.contains("\"started_at\": null,"));
        assert!(files.report_json.contains("\"frontier_cop\": null,"));
        assert!(files.report_md.contains("- **Best Tier**: N/A\n- **Best Sub-test**: N/A\n- **Frontier CoP**: N/A\n"));
        // HEAD leaves a second blank line after the best-subtest table.
        assert!(files.report_md.contains("| T0 | 01 | 0.10 | 0% | $0.20 | 10.0s |\n\n\n## Token Statistics"));
    }

    #[test]
    fn previous_order_and_clock_are_kept() {
        let previous = json!({
            "tier_results": {"T2": {}, "T0": {}},
            "started_at": "a",
            "completed_at": null,
            "total_duration_seconds": 7.25,
        });
        let tiers =
            vec![tier("T0", &[(0.9, true, 0.1)]), tier("T1", &[(0.9, true, 0.1)]), tier("T2", &[(0.9, true, 0.1)])];
        let times = ExperimentTimes { completed_at: Some("b".into()), ..Default::default() };
        let result =
            experiment_result(crate::py::stats::Summation::Compensated, &config(), tiers, Some(&previous), &[], &times);
        let order: Vec<&String> = result["tier_results"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["T2", "T0", "T1"]);
        // Equal cost of pass: the first in tier order wins.
        assert_eq!(result["best_overall_tier"], json!("T2"));
        assert_eq!(result["started_at"], json!("a"));
        assert_eq!(result["completed_at"], json!("b"));
        assert_eq!(result["total_duration_seconds"].as_f64(), Some(7.25));
    }

    #[test]
    fn empty_experiment_does_not_panic() {
        let result = experiment_result(
            crate::py::stats::Summation::Compensated,
            &json!({}),
            vec![],
            None,
            &[],
            &ExperimentTimes::default(),
        );
        let files = experiment_files(Era::JAN2026, &result, &Generated::same("now"));
        assert!(files.report_md.starts_with("# E2E Experiment Report: \n"));
        assert_eq!(files.tier_comparison_json, "{}");
        let table_then_footer = "|--------|\n\n*Generated by ProjectScylla E2E Framework*";
        assert!(files.summary_md.ends_with(table_then_footer));
    }
}
