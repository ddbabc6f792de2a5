//! `T0/report.json` (and `report.md`, `summary.md`): a tier's reports, rendered from its
//! `result.json` and `best_subtest.json` (docs/format.md#tier-files).

use super::content::aggregate::{self, Generated};
use super::cx::AggCx;
use super::finding::{Finding, Waiting};
use super::on_disk::{check_stamps, compare, outputs, read_for_reports};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};

pub static TIER_REPORT: TierReport = TierReport;

pub struct TierReport;

static SPEC: Spec = Spec {
    key: "tier-report",
    name: "report.json",
    scope: Scope::Tier,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "tier-result", link: Link::Same }],
    outputs: &["report.json", "report.md", "summary.md"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

fn files(cx: &AggCx, at: usize, generated: &Generated) -> Result<Vec<(&'static str, Vec<u8>)>, Finding> {
    let dir = cx.exp.tier_dir(&cx.exp.tiers[at]);
    let result = read_for_reports(&dir.join("result.json")).ok_or(Finding::Waiting(Waiting::TierResult))?;
    let f = aggregate::tier_reports(cx.exp.era, &result, generated);
    Ok(vec![
        ("report.json", f.report_json.into_bytes()),
        ("report.md", f.report_md.into_bytes()),
        ("summary.md", f.summary_md.into_bytes()),
    ])
}

impl AggregateRule for TierReport {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
    }

    fn inputs(&self, cx: &AggCx, at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        let t = &cx.exp.tiers[at];
        let dir = cx.exp.tier_dir(t);
        for name in ["result.json", "best_subtest.json"] {
            out(format!("{t}/{name}"), cx.inputs.file_hash(&cx.rel(&dir.join(name))));
        }
    }

    fn check(&self, cx: &AggCx, at: usize) -> Finding {
        let dir = cx.exp.tier_dir(&cx.exp.tiers[at]);
        match files(cx, at, &check_stamps(&dir)) {
            Ok(f) => compare(&dir, &f),
            Err(w) => w,
        }
    }

    fn build(&self, cx: &AggCx, at: usize) -> Result<Vec<Output>, Finding> {
        files(cx, at, &Generated::same(&cx.now)).map(outputs)
    }
}
