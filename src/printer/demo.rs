//! Human output of `darn demo`.

use crate::demo::{Damage, DemoSpec, DemoSummary};
use crate::shell;

pub fn render(s: &DemoSummary, spec: &DemoSpec) -> String {
    let dir = shell::quote(&s.root.display().to_string());
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
        "  darn.toml points at darn's offline stand-ins for the claude CLI\n\ntry:\n  darn -C {dir} status\n  darn -C {dir} status -v --status failed\n  darn -C {dir} plan\n  darn -C {dir} why {example}/run_result.json\n  darn -C {dir} reconcile --regenerate-only\n  darn -C {dir} reconcile\n"
    ));
    out
}
