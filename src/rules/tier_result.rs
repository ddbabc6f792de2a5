//! `T0/result.json` (and `best_subtest.json`): a tier's TierResult and its best subtest
//! (docs/format.md#tier-files, docs/format.md#best-subtest-selection), carrying over what no run records (`total_duration`, `inherited_from`).

use super::content::aggregate::{self, Generated, TierOutput};
use super::cx::AggCx;
use super::finding::Finding;
use super::on_disk::{compare, outputs};
use super::{AggregateRule, Dep, Link, Output, ParamSink, Scope, Spec, Stage, StaleWhen, Strategy};

pub static TIER_RESULT: TierResult = TierResult;

pub struct TierResult;

static SPEC: Spec = Spec {
    key: "tier-result",
    name: "result.json",
    scope: Scope::Tier,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "run-result", link: Link::Below }],
    outputs: &["result.json", "best_subtest.json"],
    reads: &[],
    stale_when: StaleWhen::Checked,
};

/// The tier's result computed from its runs and its previous `result.json`.
pub(super) fn tier_output(cx: &AggCx, at: usize) -> TierOutput {
    let tier = &cx.exp.tiers[at];
    let subtests = cx
        .subtests
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| t == tier)
        .map(|(i, _)| super::subtest_report::subtest_value(cx, i))
        .collect();
    let previous = super::on_disk::tier_record(cx.exp, tier);
    aggregate::tier_result(cx.exp.era, tier, subtests, previous.as_ref())
}

fn files(cx: &AggCx, at: usize) -> Vec<(&'static str, Vec<u8>)> {
    // Neither file carries a timestamp.
    let f = aggregate::tier_files(cx.exp.era, &tier_output(cx, at), &Generated::same(&cx.now));
    let mut out = vec![("result.json", f.result_json.into_bytes())];
    if let Some(b) = f.best_subtest_json {
        out.push(("best_subtest.json", b.into_bytes()));
    }
    out
}

impl AggregateRule for TierResult {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, cx: &'a AggCx, _at: usize, out: ParamSink<'_, 'a>) {
        out("era", cx.exp.era.code());
    }

    fn inputs(&self, cx: &AggCx, at: usize, out: &mut dyn FnMut(String, crate::util::hash::Hash)) {
        cx.run_results_in(&cx.runs_of_tier[at], out);
        // What the tier's own record falls back to when its result.json is lost.
        let t = &cx.exp.tiers[at];
        out(format!("{t}/report.json"), cx.inputs.file_hash(&cx.rel(&cx.exp.tier_dir(t).join("report.json"))));
        out("result.json".into(), cx.inputs.file_hash("result.json"));
    }

    fn check(&self, cx: &AggCx, at: usize) -> Finding {
        compare(&cx.exp.tier_dir(&cx.exp.tiers[at]), &files(cx, at))
    }

    fn build(&self, cx: &AggCx, at: usize) -> Result<Vec<Output>, Finding> {
        Ok(outputs(files(cx, at)))
    }
}
