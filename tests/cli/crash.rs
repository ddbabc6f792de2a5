//! A reconcile killed with SIGKILL at any instant loses nothing and leaves nothing behind: the
//! next reconcile converges, every JSON file parses, no temp file is left, and every agent and
//! judge output the killed reconcile (or the experiment before it) had is still in the tree,
//! in place or archived.

use crate::util::{DARN, Exp, text};
use darn::DemoSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every file under `dir` (`.darn/` aside).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".darn") {
                continue;
            }
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// The outputs only an execution makes (agent transcripts, judge answers), by content.
fn expensive(dir: &Path) -> BTreeMap<Vec<u8>, PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            (s.contains("/agent/") && s.ends_with("/stdout.log"))
                || (s.contains("/judge_") && (s.ends_with("/response.txt") || s.ends_with("/judgment.json")))
        })
        .filter_map(|p| std::fs::read(&p).ok().filter(|b| !b.is_empty()).map(|b| (b, p)))
        .collect()
}

fn demo(seed: u64) -> Exp {
    let (exp, _) = Exp::demo(DemoSpec { tiers: 1, subtests: 2, runs_per_subtest: 4, seed, ..DemoSpec::default() });
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    let toml = toml
        .replace("\"stand-in\", \"agent\",", "\"stand-in\", \"agent\", \"--sleep\", \"0.05\",")
        .replace("\"stand-in\", \"judge\",", "\"stand-in\", \"judge\", \"--sleep\", \"0.02\",")
        .replace("retries = 3\n", "retries = 3\nbackoff = \"0.1s\"\n");
    exp.write("darn.toml", toml);
    exp
}

#[test]
fn a_killed_reconcile_loses_nothing_and_the_next_one_converges() {
    // Instants spread over a whole reconcile: planning, regeneration and executions.
    let delays: Vec<u64> = (0..20u64).map(|i| 5 + (i * 37 + i * i * 11) % 700).collect();
    let mut report = Vec::new();
    for (i, delay) in delays.iter().enumerate() {
        let exp = demo(i as u64 + 1);
        let before = expensive(exp.root());
        let mut child = std::process::Command::new(DARN)
            .args(["-C", &exp.root().display().to_string(), "-q", "reconcile", "-j", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start darn");
        std::thread::sleep(Duration::from_millis(*delay));
        // SAFETY: kill(2) with a pid we own; SIGKILL cannot be caught.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        // The stand-ins the killed darn started may still be finishing: let them.
        std::thread::sleep(Duration::from_millis(150));
        let mid = expensive(exp.root());

        let out = exp.darn(&["reconcile", "-j", "2"]);
        assert_eq!(out.status.code(), Some(0), "kill at {delay} ms: {}\n{}", text(&out.stdout), text(&out.stderr));
        let plan = exp.darn(&["plan"]);
        assert_eq!(plan.status.code(), Some(0), "kill at {delay} ms: {}", text(&plan.stdout));

        let after = files(exp.root());
        for p in &after {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            assert!(!name.starts_with(".darn-tmp-"), "kill at {delay} ms left {}", p.display());
            if name.ends_with(".json") {
                let bytes = std::fs::read(p).expect("read");
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()
                        || String::from_utf8_lossy(&bytes).contains("Infinity"),
                    "kill at {delay} ms: {} does not parse",
                    p.display()
                );
            }
        }
        let now = expensive(exp.root());
        for (bytes, was) in before.iter().chain(mid.iter()) {
            assert!(now.contains_key(bytes), "kill at {delay} ms lost {} (not in place, not archived)", was.display());
        }
        report.push(*delay);
    }
    assert_eq!(report.len(), 20, "{report:?}");
}
