//! `run/report.json` (and `report.md`): the run's report, rendered from its `run_result.json`
//! (docs/format.md#run-report).

use super::compare;
use super::content::run_report::{NO_WORKSPACE, report_json, report_md, workspace_section};
use super::cx::RunCx;
use super::finding::{Difference, Finding, Malformed, Waiting};
use super::{Dep, Link, Output, ParamSink, RunInfo, RunRule, Scope, Spec, Stage, StaleWhen, Strategy};
use crate::py::json as pyjson;
use serde_json::Value;

pub static RUN_REPORT: RunReport = RunReport;

pub struct RunReport;

static SPEC: Spec = Spec {
    key: "run-report",
    name: "report.json",
    scope: Scope::Run,
    strategy: Strategy::Regenerate,
    stage: Stage::Aggregate,
    version: 1,
    after: &[Dep { rule: "run-result", link: Link::Same }],
    outputs: &["report.json", "report.md"],
    reads: &["run_result.json"],
    stale_when: StaleWhen::Checked,
};

/// The run result on disk, which the report renders.
fn run_result(run: &RunCx) -> Result<std::sync::Arc<Value>, Finding> {
    run.src.json(RunCx::file("run_result.json")).map_err(|_| Finding::Waiting(Waiting::RunResult))
}

impl RunRule for RunReport {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn params<'a>(&self, info: &'a RunInfo, _slot: u16, out: ParamSink<'_, 'a>) {
        out("era", info.shared.era);
    }

    fn check(&self, run: &RunCx, _slot: u16) -> Finding {
        let rr = match run_result(run) {
            Ok(v) => v,
            Err(f) => return f,
        };
        let era = run.info.exp.era.report;
        let json_file = RunCx::file("report.json");
        let have = match run.src.json(json_file) {
            Ok(v) => v,
            Err(why) => return Finding::output(json_file, why),
        };
        let generated = have.get("generated_at").and_then(Value::as_str).unwrap_or("");
        let want = report_json(era, &rr, generated);
        if !compare::same(&have, &want) {
            return match compare::against(json_file, &have, &want, Some(RunCx::file("run_result.json"))) {
                Finding::Fresh => Finding::Differs(
                    json_file,
                    Box::new(Difference {
                        field: "".into(),
                        recorded: "".into(),
                        expected: "".into(),
                        source: Some(RunCx::file("run_result.json")),
                    }),
                ),
                other => other,
            };
        }
        let md_file = RunCx::file("report.md");
        let Some(md) = run.src.text(md_file) else {
            return match run.src.bytes(md_file) {
                Err(why) => Finding::output(md_file, why),
                Ok(_) => Finding::Malformed(md_file, Malformed::Empty),
            };
        };
        if md.trim().is_empty() {
            return Finding::Malformed(md_file, Malformed::Empty);
        }
        let ws = workspace_section(&md).unwrap_or_else(|| NO_WORKSPACE.to_string());
        let generated = md.lines().find_map(|l| l.strip_prefix("**Generated**: ")).unwrap_or("");
        if report_md(era, &run.info.id, &rr, &ws, generated) == md {
            Finding::Fresh
        } else {
            Finding::Differs(
                md_file,
                Box::new(Difference {
                    field: "".into(),
                    recorded: "".into(),
                    expected: "".into(),
                    source: Some(RunCx::file("run_result.json")),
                }),
            )
        }
    }

    fn build(&self, run: &RunCx, _slot: u16) -> Result<Vec<Output>, Finding> {
        // Read now, not from the run's sources: run_result.json may have just been rebuilt.
        let path = run.info.dir.join("run_result.json");
        let rr = std::fs::read(&path)
            .ok()
            .and_then(|b| pyjson::parse(&b).ok())
            .filter(Value::is_object)
            .ok_or(Finding::Waiting(Waiting::RunResult))?;
        let previous = std::fs::read_to_string(run.info.dir.join("report.md")).ok();
        let ws = previous.as_deref().and_then(workspace_section).unwrap_or_else(|| NO_WORKSPACE.to_string());
        let now = run.env.map_or_else(crate::util::time::now_iso, |e| e.now.to_string());
        let era = run.info.exp.era.report;
        Ok(vec![
            Output::new(RunCx::file("report.json"), pyjson::to_string(&report_json(era, &rr, &now))),
            Output::new(RunCx::file("report.md"), report_md(era, &run.info.id, &rr, &ws, &now)),
        ])
    }
}
