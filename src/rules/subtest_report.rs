//! `T0/00/report.json` (and `report.md`): a subtest's aggregate of its runs (docs/format.md#subtest-files, docs/format.md#subtest-statistics).

use super::content::aggregate::{self, Generated};
use super::cx::AggCx;
use super::finding::Finding;
use super::on_disk::{check_stamps, compare, outputs};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};
use serde_json::Value;

pub static SUBTEST_REPORT: SubtestReport = SubtestReport;

pub struct SubtestReport;

static SPEC: Spec = Spec {
    key: "subtest-report",
    name: "report.json",
    scope: Scope::Subtest,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "run-result", link: Link::Below }],
    outputs: &["report.json", "report.md"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

/// A subtest's SubTestResult from its runs' results (sorted by run number).
pub(super) fn subtest_value(cx: &AggCx, at: usize) -> Value {
    let (tier, subtest) = &cx.subtests[at];
    let mut runs: Vec<(u32, Value)> = cx.runs_of_subtest[at]
        .iter()
        .filter_map(|&ri| super::cx::read_run_result(cx.exp, ri).map(|v| (cx.exp.runs[ri].key.run, v)))
        .collect();
    runs.sort_by_key(|(n, _)| *n);
    let values: Vec<Value> = runs.into_iter().map(|(_, v)| v).collect();
    aggregate::subtest_result(cx.exp.era, tier, subtest, &values)
}

fn files(cx: &AggCx, at: usize, generated: &Generated) -> Vec<(&'static str, Vec<u8>)> {
    let f = aggregate::subtest_files(cx.exp.era, &subtest_value(cx, at), generated);
    vec![("report.json", f.report_json.into_bytes()), ("report.md", f.report_md.into_bytes())]
}

impl AggregateRule for SubtestReport {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
    }

    fn inputs(&self, cx: &AggCx, at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        cx.run_results_in(&cx.runs_of_subtest[at], out);
    }

    fn check(&self, cx: &AggCx, at: usize) -> Finding {
        let (t, s) = &cx.subtests[at];
        let dir = cx.exp.subtest_dir(t, s);
        compare(&dir, &files(cx, at, &check_stamps(&dir)))
    }

    fn build(&self, cx: &AggCx, at: usize) -> Result<Vec<Output>, Finding> {
        Ok(outputs(files(cx, at, &Generated::same(&cx.now))))
    }
}
