//! The progress bar of a reconcile on stderr (only when stderr is a terminal and not `-q`):
//! actions done, dollars spent against the plan's estimate, an ETA labelled as an estimate, a
//! rate-limit wait with the time launches resume, and with `-v` the executions running now.

use super::Printer;
use super::plan::duration;
use crate::build::scheduler::Watch;
use crate::engine::graph::NodeId;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the first plan estimated: the bar measures progress against it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    pub cost_usd: f64,
    /// Wall-clock seconds of the executions at the reconcile's `-j`.
    pub wall_seconds: f64,
}

/// What the bar shows besides the counts, kept up to date by the scheduler's calls.
#[derive(Debug)]
struct State {
    expected: Expected,
    /// Spent in rounds before the current one.
    spent_before: f64,
    spent: f64,
    until: Option<jiff::Timestamp>,
    running: Vec<String>,
    started: Instant,
    /// Time spent waiting for rate limits (the estimate does not include it).
    waited: Duration,
    wait_began: Option<Instant>,
}

/// The bar's words after the counts: `$0.42 of ~$1.71 spent · ETA ~12m 30s (estimate)`, or while
/// waiting `$0.42 of ~$1.71 spent · rate limited: resuming at 15:04:10`.
fn status_line(s: &State, now: Instant, zone: &jiff::tz::TimeZone) -> String {
    let spent = s.spent_before + s.spent;
    let mut out = if s.expected.cost_usd > 0.0 {
        format!("${spent:.2} of ~${:.2} spent", s.expected.cost_usd)
    } else {
        format!("${spent:.2} spent")
    };
    if let Some(t) = s.until {
        out.push_str(&format!(" · rate limited: resuming at {}", t.to_zoned(zone.clone()).strftime("%H:%M:%S")));
        return out;
    }
    if s.expected.wall_seconds > 0.0 {
        let worked = now.saturating_duration_since(s.started).saturating_sub(s.waited);
        let left = s.expected.wall_seconds - worked.as_secs_f64();
        if left >= 1.0 {
            out.push_str(&format!(" · ETA ~{} (estimate)", duration(left)));
        } else {
            out.push_str(" · ETA: past the estimate");
        }
    }
    out
}

/// `running: T0/00/run_02/agent, T0/00/run_04/agent`, at most four named.
fn running_line(s: &State) -> String {
    if s.running.is_empty() {
        return "  running: nothing".into();
    }
    let shown: Vec<&str> = s.running.iter().take(4).map(String::as_str).collect();
    let more = s.running.len().saturating_sub(4);
    let tail = if more > 0 { format!(", … {more} more") } else { String::new() };
    format!("  running: {}{tail}", shown.join(", "))
}

/// What the bar measures against, from the first plan of a reconcile at `jobs` parallel
/// executions, and the names of the executions it plans.
pub fn expect(
    engine: &crate::engine::Engine,
    plan: &crate::engine::plan::Plan,
    jobs: usize,
) -> (Expected, HashMap<NodeId, String>) {
    let wall_seconds = crate::engine::estimate::wall_seconds(&engine.graph, plan, jobs, |n| engine.estimate(n).seconds);
    let names = plan
        .actions
        .iter()
        .filter(|a| a.strategy == crate::rules::Strategy::Execute)
        .map(|a| (a.node, engine.graph.id(a.node)))
        .collect();
    (Expected { cost_usd: plan.cost_usd, wall_seconds }, names)
}

/// The progress bar a reconcile reports to.
pub struct Bar {
    bar: ProgressBar,
    state: Arc<Mutex<State>>,
    names: HashMap<NodeId, String>,
}

impl Bar {
    /// A bar measuring against `expected`; `names` are the ids of the executions it may see
    /// running (shown with `-v`).
    pub fn new(printer: &Printer, expected: Expected, names: HashMap<NodeId, String>) -> Bar {
        let state = Arc::new(Mutex::new(State {
            expected,
            spent_before: 0.0,
            spent: 0.0,
            until: None,
            running: Vec::new(),
            started: Instant::now(),
            waited: Duration::ZERO,
            wait_began: None,
        }));
        let bar = if printer.progress {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let zone = jiff::tz::TimeZone::system();
            let words = {
                let state = Arc::clone(&state);
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(s) = state.lock() {
                        let _ = w.write_str(&status_line(&s, Instant::now(), &zone));
                    }
                }
            };
            let running = {
                let state = Arc::clone(&state);
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(s) = state.lock() {
                        let _ = w.write_str(&running_line(&s));
                    }
                }
            };
            let template = if printer.verbose > 0 {
                "reconciling [{bar:30}] {pos}/{len} {darn}\n{running}"
            } else {
                "reconciling [{bar:30}] {pos}/{len} {darn}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("darn", words)
                .with_key("running", running)
                .progress_chars("=> ");
            pb.set_style(style);
            // Redrawn every second, so that the ETA and a wait stay current between events.
            pb.enable_steady_tick(Duration::from_secs(1));
            pb
        } else {
            ProgressBar::hidden()
        };
        Bar { bar, state, names }
    }

    /// Clears the bar from the terminal (also on Ctrl-C and on errors: see `Drop`).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        self.bar.tick();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Watch for Bar {
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn total(&self, total: u64) {
        // A new round: what the last one spent stays spent.
        self.update(|s| {
            s.spent_before += s.spent;
            s.spent = 0.0;
        });
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn spent(&self, usd: f64) {
        self.update(|s| s.spent = usd);
    }

    fn waiting(&self, until: Option<jiff::Timestamp>) {
        self.update(|s| {
            match (until, s.wait_began) {
                (Some(_), None) => s.wait_began = Some(Instant::now()),
                (None, Some(began)) => {
                    s.waited += began.elapsed();
                    s.wait_began = None;
                }
                _ => {}
            }
            s.until = until;
        });
    }

    fn running(&self, nodes: &[NodeId]) {
        let names: Vec<String> =
            nodes.iter().map(|n| self.names.get(n).cloned().unwrap_or_else(|| "an execution".into())).collect();
        self.update(|s| s.running = names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(cost: f64, wall: f64) -> State {
        State {
            expected: Expected { cost_usd: cost, wall_seconds: wall },
            spent_before: 0.25,
            spent: 0.5,
            until: None,
            running: Vec::new(),
            started: Instant::now(),
            waited: Duration::ZERO,
            wait_began: None,
        }
    }

    #[test]
    fn spent_against_the_estimate_and_a_labelled_eta() {
        let s = state(1.5, 600.0);
        let line = status_line(&s, s.started + Duration::from_secs(90), &jiff::tz::TimeZone::UTC);
        assert_eq!(line, "$0.75 of ~$1.50 spent · ETA ~8m 30s (estimate)");
        let late = status_line(&s, s.started + Duration::from_secs(900), &jiff::tz::TimeZone::UTC);
        assert_eq!(late, "$0.75 of ~$1.50 spent · ETA: past the estimate");
        assert_eq!(status_line(&state(0.0, 0.0), Instant::now(), &jiff::tz::TimeZone::UTC), "$0.75 spent");
    }

    #[test]
    fn a_wait_says_until_when_and_is_not_counted_against_the_eta() {
        let mut s = state(1.5, 600.0);
        s.until = "2026-12-01T15:04:10Z".parse().ok();
        let line = status_line(&s, s.started, &jiff::tz::TimeZone::UTC);
        assert_eq!(line, "$0.75 of ~$1.50 spent · rate limited: resuming at 15:04:10");
        s.until = None;
        s.waited = Duration::from_secs(300);
        let line = status_line(&s, s.started + Duration::from_secs(390), &jiff::tz::TimeZone::UTC);
        assert_eq!(line, "$0.75 of ~$1.50 spent · ETA ~8m 30s (estimate)");
    }

    #[test]
    fn running_executions_are_named() {
        let mut s = state(0.0, 0.0);
        assert_eq!(running_line(&s), "  running: nothing");
        s.running = (1..=6).map(|i| format!("T0/00/run_0{i}/agent")).collect();
        assert_eq!(
            running_line(&s),
            "  running: T0/00/run_01/agent, T0/00/run_02/agent, T0/00/run_03/agent, T0/00/run_04/agent, … 2 more"
        );
    }
}
