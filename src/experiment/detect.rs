//! Which runner wrote an experiment, family by family, from the files it has
//! (docs/format.md#era-detection).
//!
//! Each family's shape is read from intact files of that family where there are any (the keys
//! and key order of `run_result.json`, the keys of `judge/result.json`, a Process Metrics
//! section, the aggregates' separators); a family with no file to go by takes the shape of the
//! runner the other families point to. A tree resumed by a newer runner can mix shapes: the
//! newest shape seen wins, since that runner is the one that will read the tree next.

use super::era::{
    AggregateShape, CheckpointShape, ConsensusShape, Era, JudgeTiming, ReportShape, RunResultShape, RunnerShape,
    Summation, TierOrder,
};
use super::{Layout, RunLoc};
use serde_json::Value;
use std::path::Path;

/// How many files of one family are read at most.
const SAMPLE: usize = 8;

/// The shape of one `run_result.json`.
pub fn run_result_shape(v: &Value) -> Option<RunResultShape> {
    let obj = v.as_object()?;
    let second = obj.keys().nth(1).map(String::as_str);
    let first_judge = obj.get("judges").and_then(Value::as_array).and_then(|j| j.first());
    Some(if second == Some("cost_usd") {
        RunResultShape::Head
    } else if obj.contains_key("process_metrics") {
        RunResultShape::Feb27
    } else if obj.contains_key("baseline_pipeline_summary") {
        RunResultShape::Feb15
    } else if first_judge.is_some_and(|j| j.get("is_valid").is_some()) {
        RunResultShape::Feb09
    } else {
        RunResultShape::Jan
    })
}

/// The shape of one `judge/result.json`.
pub fn consensus_shape(v: &Value) -> Option<ConsensusShape> {
    let obj = v.as_object()?;
    obj.contains_key("score").then_some(if obj.contains_key("is_valid") {
        ConsensusShape::Closest
    } else {
        ConsensusShape::FirstSlot
    })
}

/// Whether a tier `result.json` is pydantic's (M): `cost_of_pass` after `token_stats`. `None`
/// when it lacks either. Before pydantic, J and F wrote the same JSON: only the markdown tells
/// them apart.
fn tier_json_is_m(v: &Value) -> Option<bool> {
    let keys: Vec<&str> = v.as_object()?.keys().map(String::as_str).collect();
    let cop = keys.iter().position(|k| *k == "cost_of_pass")?;
    let tokens = keys.iter().position(|k| *k == "token_stats")?;
    Some(cop > tokens)
}

/// How a tier's or the experiment's `result.json` totals were added, when its numbers tell (the two ways differ in
/// the last digit only now and then).
pub fn summation_cue(tier: &Value) -> Option<Summation> {
    use crate::py::json::as_f64;
    use crate::py::stats::sum;
    let decide = |parts: &[f64], recorded: Option<f64>| -> Option<Summation> {
        let (naive, compensated) = (sum(Summation::Naive, parts), sum(Summation::Compensated, parts));
        match recorded? {
            _ if naive == compensated => None,
            r if r == naive => Some(Summation::Naive),
            r if r == compensated => Some(Summation::Compensated),
            _ => None,
        }
    };
    // An experiment result: its total over the tiers, then each tier's.
    if let Some(tiers) = tier.get("tier_results").and_then(Value::as_object) {
        let totals: Vec<f64> = tiers.values().filter_map(|t| t.get("total_cost").and_then(as_f64)).collect();
        return decide(&totals, tier.get("total_cost").and_then(as_f64))
            .or_else(|| tiers.values().find_map(summation_cue));
    }
    let subtests = tier.get("subtest_results")?.as_object()?;
    let totals: Vec<f64> = subtests.values().filter_map(|s| s.get("total_cost").and_then(as_f64)).collect();
    if let Some(found) = decide(&totals, tier.get("total_cost").and_then(as_f64)) {
        return Some(found);
    }
    subtests.values().find_map(|s| {
        let costs: Vec<f64> =
            s.get("runs")?.as_array()?.iter().filter_map(|r| r.get("cost_usd").and_then(as_f64)).collect();
        decide(&costs, s.get("total_cost").and_then(as_f64))
    })
}

/// The shape of a tier or experiment `report.md`, from its criteria table separators.
pub fn aggregate_md_shape(md: &str) -> Option<AggregateShape> {
    let line = md.lines().find(|l| l.starts_with("|-----------|") && l.len() > "|-----------|".len())?;
    let cells: Vec<&str> = line.trim_matches('|').split('|').skip(1).collect();
    match cells.first()?.len() {
        6 => Some(AggregateShape::J),
        8 => Some(AggregateShape::F),
        _ => None,
    }
}

/// The shape of a run's report, from `report.md` or `report.json`.
pub fn report_shape(md: Option<&str>, json: Option<&Value>) -> Option<ReportShape> {
    let pm = md.map(|t| t.contains("\n## Process Metrics\n")).unwrap_or(false)
        || json.is_some_and(|v| v.get("process_metrics").is_some());
    if pm {
        Some(ReportShape::ProcessMetrics)
    } else if md.is_some() || json.is_some() {
        Some(ReportShape::Plain)
    } else {
        None
    }
}

/// Files larger than this tell nothing a smaller sibling would not: detection skips them
/// (an experiment `result.json` embeds every run).
const LARGEST: u64 = 8 << 20;

fn read_json(path: &Path) -> Option<Value> {
    read_json_as(path, crate::py::json::parse)
}

/// [`read_json`] through a reader that keeps only what a cue looks at: a tier's `result.json`
/// embeds every run of the tier, which no key-order cue needs.
fn read_json_as(path: &Path, parse: impl Fn(&[u8]) -> Result<Value, crate::py::json::ParseError>) -> Option<Value> {
    let size = std::fs::metadata(path).ok()?.len();
    (size <= LARGEST).then(|| std::fs::read(path).ok().and_then(|b| parse(&b).ok())).flatten()
}

/// An aggregate's `result.json` without its subtests: enough for the key-order cues.
fn read_aggregate_keys(path: &Path) -> Option<Value> {
    read_json_as(path, |b| crate::py::json::parse_pruned(b, &["subtest_results"]))
}

/// An aggregate's `result.json` with only the cost of each embedded run: enough for the
/// summation cue.
fn read_aggregate_costs(path: &Path) -> Option<Value> {
    read_json_as(path, |b| crate::py::json::parse_lean_runs(b, &["cost_usd"]))
}

/// The newest of the shapes `each` finds in up to [`SAMPLE`] runs that have the file.
fn sample<T: Ord>(runs: &[RunLoc], file: &str, each: impl Fn(&Path) -> Option<T>) -> Option<T> {
    runs.iter()
        .filter_map(|l| l.dir.as_ref().map(|(_, d)| d.join(file)))
        .filter(|p| p.is_file())
        .take(SAMPLE)
        .filter_map(|p| each(&p))
        .max()
}

/// The runner a `run_result.json` shape comes from, for families with nothing else to go by.
fn anchor(rr: RunResultShape) -> Era {
    match rr {
        RunResultShape::Jan => Era::JAN2026,
        RunResultShape::Feb09 => Era::FEB09,
        RunResultShape::Feb15 => Era::FEB15,
        RunResultShape::Feb27 => Era::MAR2026,
        RunResultShape::Head => Era::HEAD,
    }
}

/// Detects every family's shape.
pub fn detect(
    root: &Path,
    layout: Layout,
    checkpoint: Option<&Value>,
    config: &Value,
    tiers: &[String],
    runs: &[RunLoc],
) -> Era {
    let version = checkpoint.and_then(|c| c.get("version")).and_then(Value::as_str);
    let checkpoint_shape = version.map(|v| if v.starts_with('2') { CheckpointShape::V2 } else { CheckpointShape::V3 });
    let rr = sample(runs, "run_result.json", |p| read_json(p).as_ref().and_then(run_result_shape));
    let consensus = sample(runs, "judge/result.json", |p| {
        read_json(p).as_ref().and_then(consensus_shape).map(|c| c == ConsensusShape::Closest)
    })
    .map(|closest| if closest { ConsensusShape::Closest } else { ConsensusShape::FirstSlot });
    let report = sample(runs, "report.md", |p| {
        let md = std::fs::read_to_string(p).ok();
        let json = p.parent().and_then(|d| read_json(&d.join("report.json")));
        report_shape(md.as_deref(), json.as_ref()).map(|r| r == ReportShape::ProcessMetrics)
    })
    .map(|pm| if pm { ReportShape::ProcessMetrics } else { ReportShape::Plain });
    let aggregates = aggregate_cue(root, layout, tiers);
    let summation = tiers.iter().find_map(|t| {
        let base = match layout {
            Layout::Phased => root.join("completed"),
            Layout::Flat => root.to_path_buf(),
        };
        read_aggregate_costs(&base.join(t).join("result.json")).as_ref().and_then(summation_cue)
    });
    let summation =
        summation.or_else(|| read_aggregate_costs(&root.join("result.json")).as_ref().and_then(summation_cue));

    let mut era = match (rr, checkpoint_shape) {
        (Some(rr), _) => anchor(rr),
        (None, Some(CheckpointShape::V2)) => Era::JAN2026,
        // Nothing to go by: the phased layout and v3 checkpoints came with the current shapes.
        (None, _) => Era::HEAD,
    };
    if let Some(c) = consensus {
        era.consensus = c;
    }
    if let Some(r) = report {
        era.report = r;
    }
    era.aggregates = settle_aggregates(era.aggregates, aggregates);
    if let Some(c) = checkpoint_shape {
        era.checkpoint = c;
        // The state machine (v3) brought cumulative judge timings and the current preparation.
        (era.judge_timing, era.runner) = match c {
            CheckpointShape::V2 => (JudgeTiming::PerSlot, RunnerShape::Jan),
            CheckpointShape::V3 => (JudgeTiming::Cumulative, RunnerShape::Head),
        };
    }
    if layout == Layout::Phased {
        era.runner = RunnerShape::Head;
    }
    if let Some(how) = summation {
        era.summation = how;
    }
    // Parallel tiers ended with `parallel_subtests` leaving the configuration (2026-03-19).
    if let Some(obj) = config.as_object() {
        era.tier_order =
            if obj.contains_key("parallel_subtests") { TierOrder::Completion } else { TierOrder::Ascending };
    }
    era
}

/// The aggregates' shape from surviving tier and experiment files, and whether their JSON
/// decided it. Markdown cannot tell M from F (pydantic changed only the JSON): a shape that
/// only markdown gave is F-or-M. The JSON of a large experiment is over [`LARGEST`] and unread,
/// so for it the markdown is all there is.
fn aggregate_cue(root: &Path, layout: Layout, tiers: &[String]) -> Option<(AggregateShape, bool)> {
    let base = match layout {
        Layout::Phased => root.join("completed"),
        Layout::Flat => root.to_path_buf(),
    };
    let mut md = Vec::new();
    let mut json_says_not_m = false;
    for t in tiers {
        if let Some(v) = read_aggregate_keys(&base.join(t).join("result.json")) {
            match tier_json_is_m(&v) {
                Some(true) => return Some((AggregateShape::M, true)),
                Some(false) => json_says_not_m = true,
                None => {}
            }
        }
        if let Ok(text) = std::fs::read_to_string(base.join(t).join("report.md")) {
            md.push(text);
        }
    }
    if !json_says_not_m
        && let Some(v) = read_aggregate_keys(&root.join("result.json"))
        && let Some(first) = v.get("tier_results").and_then(Value::as_object).and_then(|t| t.values().next())
        && first.get("token_stats").is_some()
        && first.get("cost_of_pass").is_none()
    {
        return Some((AggregateShape::M, true));
    }
    if let Ok(text) = std::fs::read_to_string(root.join("report.md")) {
        md.push(text);
    }
    md.iter().filter_map(|t| aggregate_md_shape(t)).max().map(|shape| (shape, json_says_not_m))
}

/// The aggregates' shape: what the files decided, except that a markdown-only F stays the M the
/// runs' era has (the same markdown).
fn settle_aggregates(anchored: AggregateShape, cue: Option<(AggregateShape, bool)>) -> AggregateShape {
    match cue {
        Some((AggregateShape::F, false)) if anchored == AggregateShape::M => AggregateShape::M,
        Some((shape, _)) => shape,
        None => anchored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_result_cues() {
        let jan = json!({"run_number": 1, "exit_code": 0, "judges": [{"model": "m", "judge_number": 1}]});
        assert_eq!(run_result_shape(&jan), Some(RunResultShape::Jan));
        let feb = json!({"run_number": 1, "exit_code": 0, "judges": [{"model": "m", "is_valid": true}]});
        assert_eq!(run_result_shape(&feb), Some(RunResultShape::Feb09));
        let mut feb15 = feb.clone();
        feb15["baseline_pipeline_summary"] = Value::Null;
        assert_eq!(run_result_shape(&feb15), Some(RunResultShape::Feb15));
        feb15["process_metrics"] = json!({});
        assert_eq!(run_result_shape(&feb15), Some(RunResultShape::Feb27));
        let head = json!({"run_number": 1, "cost_usd": 0.1, "process_metrics": {}});
        assert_eq!(run_result_shape(&head), Some(RunResultShape::Head));
    }

    #[test]
    fn aggregate_cues() {
        let m = json!({"tier_id": "T0", "token_stats": {}, "cost_of_pass": 1.0});
        assert_eq!(tier_json_is_m(&m), Some(true));
        let jf = json!({"tier_id": "T0", "cost_of_pass": 1.0, "token_stats": {}});
        assert_eq!(tier_json_is_m(&jf), Some(false), "J and F are the same JSON");
        let j = "## Per-Criteria Scores\n\n| Criterion | 00 |\n|-----------|------|\n";
        let f = "## Per-Criteria Scores\n\n| Criterion | 00 |\n|-----------|--------|\n";
        assert_eq!(aggregate_md_shape(j), Some(AggregateShape::J));
        assert_eq!(aggregate_md_shape(f), Some(AggregateShape::F));
        assert_eq!(aggregate_md_shape("| Metric | Value |\n|--------|-------|\n"), None);
        // Markdown alone cannot tell F from M: the runs' era decides; JSON that rules M out wins.
        use AggregateShape::{F, J, M};
        assert_eq!(settle_aggregates(M, Some((F, false))), M);
        assert_eq!(settle_aggregates(M, Some((F, true))), F);
        assert_eq!(settle_aggregates(F, Some((F, false))), F);
        assert_eq!(settle_aggregates(M, Some((J, false))), J);
        assert_eq!(settle_aggregates(M, None), M);
    }

    #[test]
    fn aggregate_files_are_read_only_as_far_as_their_cues_need() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        std::fs::create_dir_all(root.join("T0")).expect("mkdir");
        let runs =
            json!([{"run_number": 1, "cost_usd": 0.1, "judges": [{"score": 1}]}, {"cost_usd": 0.2}, {"cost_usd": 0.3}]);
        // M's key order (token_stats before cost_of_pass), with subtests to be passed over.
        let tier = json!({"tier_id": "T0", "subtest_results": {"00": {"runs": runs, "total_cost": 0.6}}, "token_stats": {}, "cost_of_pass": 1.0});
        std::fs::write(root.join("T0/result.json"), crate::py::json::to_string(&tier)).expect("write");
        assert_eq!(aggregate_cue(root, Layout::Flat, &["T0".to_string()]), Some((AggregateShape::M, true)));
        let keys = read_aggregate_keys(&root.join("T0/result.json")).expect("read");
        assert!(keys.get("subtest_results").is_none(), "subtests are not held");
        let costs = read_aggregate_costs(&root.join("T0/result.json")).expect("read");
        assert_eq!(costs["subtest_results"]["00"]["runs"][0], json!({"cost_usd": 0.1}));
        assert_eq!(summation_cue(&costs), summation_cue(&tier));
        assert_eq!(summation_cue(&costs), Some(Summation::Compensated));
    }

    #[test]
    fn summation_cues() {
        // 0.1 + 0.2 + 0.3: 0.6000000000000001 added left to right, 0.6 compensated.
        let runs = json!([{"cost_usd": 0.1}, {"cost_usd": 0.2}, {"cost_usd": 0.3}]);
        let tier = |total: f64| json!({"subtest_results": {"00": {"runs": runs, "total_cost": total}}});
        assert_eq!(summation_cue(&tier(0.6000000000000001)), Some(Summation::Naive));
        assert_eq!(summation_cue(&tier(0.6)), Some(Summation::Compensated));
        let plain = json!({"subtest_results": {"00": {"runs": [{"cost_usd": 0.5}], "total_cost": 0.5}}});
        assert_eq!(summation_cue(&plain), None, "nothing to tell by");
    }

    #[test]
    fn report_cues() {
        assert_eq!(report_shape(Some("# Run\n\n## Process Metrics\n"), None), Some(ReportShape::ProcessMetrics));
        assert_eq!(report_shape(Some("# Run\n"), None), Some(ReportShape::Plain));
        assert_eq!(report_shape(None, Some(&json!({"process_metrics": {}}))), Some(ReportShape::ProcessMetrics));
        assert_eq!(report_shape(None, None), None);
    }
}
