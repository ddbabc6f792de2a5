//! How long a plan takes on the clock: its executions scheduled on `jobs` parallel slots in plan
//! order, each starting once the executions it depends on (through any regenerated node between
//! them) have finished. Regenerations count as instantaneous. An estimate for people, never a
//! decision: the scheduler does not read it.

use super::graph::{Graph, NodeId};
use super::plan::Plan;
use crate::rules::Strategy;
use std::collections::{BinaryHeap, HashMap};

/// A finishing execution in the simulation, ordered so that the heap pops the earliest.
#[derive(PartialEq)]
struct Finish(f64, usize);

impl Eq for Finish {}

impl PartialOrd for Finish {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Finish {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// Seconds from the first launch to the last finish, with `seconds(n)` the estimate of each
/// execution. Executions only read run and slot nodes upstream, so only those carry dependencies.
pub fn wall_seconds(graph: &Graph, plan: &Plan, jobs: usize, seconds: impl Fn(NodeId) -> f64) -> f64 {
    let jobs = jobs.max(1);
    // For each planned run node, the planned executions it waits for (directly or through
    // regenerated nodes); for each execution, its index in `execs`.
    let mut above: HashMap<NodeId, Vec<usize>> = HashMap::new();
    let mut execs: Vec<(f64, Vec<usize>)> = Vec::new();
    for a in &plan.actions {
        if graph.run_of(a.node).is_none() {
            continue;
        }
        let mut deps: Vec<usize> = graph.preds(a.node).iter().filter_map(|p| above.get(p)).flatten().copied().collect();
        deps.sort_unstable();
        deps.dedup();
        if a.strategy == Strategy::Execute {
            execs.push((seconds(a.node).max(0.0), deps));
            above.insert(a.node, vec![execs.len() - 1]);
        } else {
            above.insert(a.node, deps);
        }
    }
    // List scheduling: ready executions start in plan order whenever a slot is free.
    let mut waiting: Vec<usize> = execs.iter().map(|(_, d)| d.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); execs.len()];
    for (i, (_, deps)) in execs.iter().enumerate() {
        for &d in deps {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..execs.len()).filter(|&i| waiting[i] == 0).collect();
    let mut running: BinaryHeap<Finish> = BinaryHeap::new();
    let mut now = 0.0f64;
    loop {
        while running.len() < jobs {
            let Some(i) = ready.pop_first() else { break };
            running.push(Finish(now + execs[i].0, i));
        }
        let Some(Finish(t, i)) = running.pop() else { break };
        now = t;
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    /// Two runs, each an agent (60 s) then two judges (20 s each), with a regenerated judge
    /// prompt between them and an aggregate after.
    fn two_runs() -> (Graph, Plan) {
        let exp = crate::experiment::Experiment::in_memory(&["T0"], &["00"], 2, &["judge-a", "judge-b"]);
        let graph = Graph::new(&exp, crate::rules::Registry::standard());
        let mut actions = Vec::new();
        for id in [
            "T0/00/run_01/agent",
            "T0/00/run_02/agent",
            "T0/00/run_01/judge_prompt.md",
            "T0/00/run_02/judge_prompt.md",
            "T0/00/run_01/judge/judge_01",
            "T0/00/run_01/judge/judge_02",
            "T0/00/run_02/judge/judge_01",
            "T0/00/run_02/judge/judge_02",
            "result.json",
        ] {
            let node = graph.find(id).unwrap_or_else(|| panic!("{id} is a node"));
            let strategy =
                if id.ends_with("agent") || id.contains("judge_0") { Strategy::Execute } else { Strategy::Regenerate };
            actions.push(crate::engine::plan::Action { node, strategy, causes: Vec::new(), cascade_only: false });
        }
        let plan = Plan { verdicts: Vec::new(), actions, cost_usd: 0.0, seconds: 200.0, held_cost_usd: 0.0 };
        (graph, plan)
    }

    #[test]
    fn wall_clock_at_one_two_and_many_jobs() {
        let (graph, plan) = two_runs();
        let secs = |n: NodeId| if graph.id(n).ends_with("agent") { 60.0 } else { 20.0 };
        assert_eq!(wall_seconds(&graph, &plan, 1, secs), 200.0, "serial");
        assert_eq!(wall_seconds(&graph, &plan, 2, secs), 100.0, "both agents, then four judges on two slots");
        assert_eq!(wall_seconds(&graph, &plan, 8, secs), 80.0, "the longest chain: an agent and a judge");
        assert_eq!(wall_seconds(&graph, &plan, 0, secs), 200.0, "no jobs means one");
    }

    #[test]
    fn the_heap_pops_the_earliest_finish() {
        let mut h = BinaryHeap::new();
        for (t, i) in [(5.0, 0), (1.0, 1), (3.0, 2)] {
            h.push(Finish(t, i));
        }
        let order: Vec<usize> = std::iter::from_fn(|| h.pop().map(|f| f.1)).collect();
        assert_eq!(order, [1, 2, 0]);
        assert_eq!(Finish(1.0, 0).cmp(&Finish(1.0, 0)), Ordering::Equal);
    }
}
