//! Human output of `darn demo`.

use crate::demo::{Damage, DemoSpec, DemoSummary};
use crate::util::shell;

pub fn render(s: &DemoSummary, spec: &DemoSpec) -> String {
    let dir = shell::quote(&s.root.display().to_string());
    let darn = command_name(spec.darn_exe.as_deref());
    let mut out = format!(
        "wrote a demo experiment to {}\n  {} runs ({} tiers × {} subtests × {} runs), {} judges, {} layout\n",
        s.root.display(),
        s.runs,
        spec.tiers,
        spec.subtests,
        spec.runs_per_subtest,
        spec.judges,
        if spec.phased { "phased" } else { "flat" },
    );
    if !s.damaged.is_empty() {
        out.push_str(&format!(
            "  {} runs damaged the ways real experiments break (killed and rate-limited agents, missing results, failed judges, ...)\n",
            s.damaged.len()
        ));
    }
    // `why` is worth trying on a run that needs work: one whose agent result is missing shows
    // the regeneration story; any damaged run will do otherwise.
    let example = s
        .runs_with(Damage::MissingAgentResult)
        .first()
        .copied()
        .or_else(|| s.damaged.first().map(|(id, _)| id.as_str()))
        .unwrap_or("T0/00/run_01");
    out.push_str(&format!(
        "  darn.toml points at darn's offline stand-ins for the claude CLI\n\nlook:\n  {darn} -C {dir} status -v --status failed\n  {darn} -C {dir} plan\n  {darn} -C {dir} why {example}/run_result.json\nrepair (watch the progress bar; Ctrl-C stops, the next reconcile resumes):\n  {darn} -C {dir} reconcile\nthen:\n  {darn} -C {dir} status\n  {darn} -C {dir} why {example}/run_result.json\n  {darn} -C {dir} plan\n"
    ));
    out
}

/// `darn` when that name on `PATH` is this very program, else its full path (e.g. a fresh
/// `cargo run` build), so the suggested commands work as printed.
fn command_name(exe: Option<&std::path::Path>) -> String {
    let Some(exe) = exe else { return "darn".to_string() };
    let this = std::fs::canonicalize(exe).ok();
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            let candidate = d.join("darn");
            candidate.is_file() && std::fs::canonicalize(&candidate).ok() == this
        })
    });
    if on_path { "darn".to_string() } else { shell::quote(&exe.display().to_string()) }
}
