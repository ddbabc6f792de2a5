//! `report.json` (and `report.md`, `summary.md`) at the experiment root, rendered from its
//! `result.json` (docs/format.md#experiment-aggregates).

use super::content::aggregate::{self, Generated};
use super::cx::AggCx;
use super::finding::{Finding, Waiting};
use super::on_disk::{check_stamps, compare, outputs, read_for_reports};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};

pub static EXPERIMENT_REPORT: ExperimentReport = ExperimentReport;

pub struct ExperimentReport;

static SPEC: Spec = Spec {
    key: "experiment-report",
    name: "report.json",
    scope: Scope::Experiment,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "experiment-result", link: Link::Same }],
    outputs: &["report.json", "report.md", "summary.md"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

fn files(cx: &AggCx, generated: &Generated) -> Result<Vec<(&'static str, Vec<u8>)>, Finding> {
    let v = read_for_reports(&cx.exp.root.join("result.json")).ok_or(Finding::Waiting(Waiting::ExperimentResult))?;
    let f = aggregate::experiment_reports(cx.exp.era, &v, generated);
    Ok(vec![
        ("report.json", f.report_json.into_bytes()),
        ("report.md", f.report_md.into_bytes()),
        ("summary.md", f.summary_md.into_bytes()),
    ])
}

impl AggregateRule for ExperimentReport {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
    }

    fn inputs(&self, cx: &AggCx, _at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        out("result.json".into(), cx.inputs.file_hash("result.json"));
    }

    fn check(&self, cx: &AggCx, _at: usize) -> Finding {
        match files(cx, &check_stamps(&cx.exp.root)) {
            Ok(f) => compare(&cx.exp.root, &f),
            Err(w) => w,
        }
    }

    fn build(&self, cx: &AggCx, _at: usize) -> Result<Vec<Output>, Finding> {
        files(cx, &Generated::same(&cx.now)).map(outputs)
    }
}
