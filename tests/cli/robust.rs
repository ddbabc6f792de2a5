//! Broken content inside runs is classified, never fatal; `status` never writes.

use crate::util::{Exp, assert_no_panic, problems, run, runs, shared_demo, small_demo, text};
use serde_json::Value;

const RUN: &str = "T0/00/run_01";

/// Files whose content darn validates: any garbage in them leaves the run with a problem.
/// (`response.txt` is not here: in the January era `stdout.log` holds the same response.)
const VALIDATED: [&str; 12] = [
    "agent/stdout.log",
    "agent/output.txt",
    "agent/result.json",
    "agent/timing.json",
    "judge/result.json",
    "judge/judge_01/judgment.json",
    "judge/judge_02/judgment.json",
    "judge/judge_03/judgment.json",
    "run_result.json",
    "report.json",
    "report.md",
    "agent/stderr.log",
];

/// Whether garbage of `kind` in `file` must leave the run with a problem. darn reads the agent's
/// stdout from `stdout.log`, else `cmd_0000_stdout.log`, else `output.txt` (stderr likewise), so
/// an empty or unreadable `stdout.log` and an unreadable `stderr.log` are recovered from the
/// intact copies.
fn validated(file: &str, kind: &str) -> bool {
    match (file, kind) {
        ("agent/stdout.log", "empty" | "whitespace" | "directory") => false,
        ("agent/stderr.log", "directory") => false,
        _ => VALIDATED.contains(&file),
    }
}

/// Ways a file's content breaks.
fn garbage(original: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut binary: Vec<u8> = (0..=255u8).rev().collect();
    binary.extend_from_slice(b"\x00\x00\xff{\"score\":");
    vec![
        ("empty", Vec::new()),
        ("truncated", original[..original.len() / 3].to_vec()),
        ("binary", binary),
        ("wrong JSON", b"[1, \"two\", {\"three\": null}]".to_vec()),
        ("whitespace", b" \n\t\n".to_vec()),
    ]
}

/// Every file of one fixture run, replaced by every kind of garbage in turn: status still exits 0,
/// never panics, still reports the run, and gives it a problem when the file is one darn checks.
#[test]
fn garbage_in_any_run_file_never_breaks_status() {
    let exp = Exp::fixture();
    let files = exp.files_under(RUN);
    assert!(files.len() > 40, "the fixture run has its files: {files:?}");
    for file in &files {
        let original = exp.read(file);
        let short = file.strip_prefix(&format!("{RUN}/")).expect("under the run");
        for (kind, bytes) in garbage(&original) {
            if bytes == original {
                continue;
            }
            exp.write(file, &bytes);
            // Only T0 (this run's tier) is classified: the loop runs darn some 200 times.
            let doc = status_ok(&exp, &["--tier", "T0"], &format!("{short} {kind}"));
            assert_eq!(runs(&doc).len(), 1);
            let r = run(&doc, RUN);
            if validated(short, kind) {
                assert!(!problems(r).is_empty(), "{short} {kind}: the run should have a problem: {r:#}");
                assert!(r["agent"] != "completed" || r["judge"] != "complete" || has_aggregate_problem(r));
            }
        }
        exp.write(file, &original);
    }
    // Everything restored: complete again.
    assert!(runs(&status_ok(&exp, &[], "restored")).iter().all(|r| problems(r).is_empty()));
}

fn has_aggregate_problem(r: &Value) -> bool {
    problems(r).iter().any(|p| {
        let path = p["path"].as_str().unwrap_or("");
        path.ends_with("run_result.json") || path.ends_with("report.json") || path.ends_with("report.md")
    })
}

/// A directory where a file should be cannot be read: an error naming it (exit 2), never a panic,
/// never taken for a missing file, and nothing is written.
#[test]
fn directories_in_place_of_files_are_errors_naming_them() {
    let exp = Exp::fixture();
    for short in VALIDATED {
        let file = format!("{RUN}/{short}");
        let original = exp.read(&file);
        exp.remove(&file);
        std::fs::create_dir(exp.path(&file)).expect("make a directory in place of the file");
        exp.write(&format!("{file}/inner"), "x");
        for cmd in [&["status"][..], &["plan"], &["reconcile", "--regenerate-only"]] {
            let out = exp.darn(cmd);
            assert_no_panic(&out);
            assert_eq!(out.status.code(), Some(2), "{short} as a directory, {cmd:?}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains(&file), "the message names {file}: {}", text(&out.stderr));
        }
        assert!(exp.path(&file).join("inner").is_file(), "nothing is changed on top of it");
        exp.remove(&file);
        exp.write(&file, &original);
    }
}

/// A named pipe where a file should be neither hangs darn nor passes for a file.
#[cfg(unix)]
#[test]
fn a_pipe_in_place_of_a_file_is_an_error_naming_it() {
    let exp = Exp::fixture();
    let file = format!("{RUN}/agent/result.json");
    exp.remove(&file);
    let path = std::ffi::CString::new(exp.path(&file).display().to_string()).expect("a path");
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0, "make a pipe");
    let out = exp.darn(&["status"]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&file) && stderr.contains("pipe"), "names the file and what it is: {stderr}");
}

/// Broken experiment-level files that are not the config are warnings or classified, not fatal.
#[test]
fn broken_checkpoint_and_manifests_never_break_status() {
    let exp = Exp::fixture();
    for bytes in [&b""[..], b"{\"version\": ", b"\xff\xfe", b"[]"] {
        exp.write("checkpoint.json", bytes);
        exp.write("T0/00/config_manifest.json", bytes);
        exp.write("T0/result.json", bytes);
        let doc = status_ok(&exp, &[], "broken checkpoint");
        assert_eq!(runs(&doc).len(), 7);
    }
}

/// `status --json ARGS` must exit 0 without a panic; the document.
fn status_ok(exp: &Exp, args: &[&str], what: &str) -> Value {
    let mut all = vec!["--json", "status"];
    all.extend_from_slice(args);
    let out = exp.darn(&all);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: no JSON ({e})"))
}

/// `status` (human, verbose, JSON, filtered) writes nothing: every path, size and mtime is the
/// same afterwards, and no `.darn` directory appears.
#[test]
fn status_writes_nothing() {
    let (demo, _) = Exp::demo(small_demo(true));
    let fixture = Exp::fixture();
    for exp in [&demo, &fixture] {
        let before = exp.listing();
        for args in [
            &["status"][..],
            &["status", "-v"],
            &["--json", "status"],
            &["status", "-vv", "--tier", "T0"],
            &["-q", "status", "--runs", "1", "--color", "always"],
        ] {
            let out = exp.darn(args);
            assert_no_panic(&out);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        }
        // From a subdirectory too.
        let sub = if exp.path("completed").is_dir() { "completed/T0" } else { "T0" };
        assert_eq!(exp.darn_in(sub, &["status"]).status.code(), Some(0));
        let after = exp.listing();
        assert!(!exp.path(".darn").exists(), "no .darn directory");
        assert_eq!(before.len(), after.len(), "no file added or removed");
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b, a, "{} changed", b.0);
        }
    }
}

/// A read-only command on a tree darn does not manage keeps its caches in the user's cache
/// directory, never in the tree: a second look reads nothing unchanged, still sees every change,
/// and the first command that manages the tree takes the caches over.
#[test]
fn a_first_look_is_remembered_outside_the_tree() {
    let exp = Exp::fixture();
    let cache = tempfile::tempdir().expect("tempdir");
    let darn = |home: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new(crate::util::DARN)
            .current_dir(exp.root())
            .env("DARN_CACHE_DIR", home)
            .args(args)
            .output()
            .expect("run darn");
        assert_no_panic(&out);
        out
    };
    let status = |home: &std::path::Path| -> Value {
        let out = darn(home, &["--json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    };
    // Files younger than two seconds are never remembered (their stat data is not yet stable).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let before = exp.listing();
    let first = status(cache.path());
    let entries = || std::fs::read_dir(cache.path()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or(vec![]);
    let entry = match entries().as_slice() {
        [one] => one.clone(),
        other => panic!("one cache entry for the experiment: {other:?}"),
    };
    assert!(entry.join("cache").is_file() && entry.join("checks").is_file());
    assert_eq!(exp.listing(), before, "nothing written in the tree");
    assert_eq!(status(cache.path()), first, "the same answer from the cache");
    // A change after the first look is seen, as by a look without any cache.
    exp.write(&format!("{RUN}/judge/judge_02/judgment.json"), "{\"score\": ");
    let no_cache = tempfile::tempdir().expect("tempdir");
    let changed = status(cache.path());
    assert_ne!(changed, first);
    assert_eq!(changed, status(&no_cache.path().join("none")));
    // The first reconcile starts from the entry, then drops it for `.darn/`.
    let out = darn(cache.path(), &["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(exp.path(".darn/cache").is_file() && exp.path(".darn/checks").is_file());
    assert!(entries().is_empty(), "the entry is gone: {:?}", entries());
}

/// The shared demo is read by many tests at once; classifying it twice gives the same answer.
#[test]
fn status_is_deterministic() {
    let demo = shared_demo(false);
    assert_eq!(demo.exp.status(&[]), demo.status);
}

/// A run directory that is a symbolic link to a directory outside the experiment: nothing is
/// written through it, the failure names the link, and the rest of the experiment is repaired.
#[cfg(unix)]
#[test]
fn nothing_is_written_through_a_symlink_out_of_the_experiment() {
    let exp = Exp::fixture();
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("run_01");
    std::fs::rename(exp.path(RUN), &target).expect("move the run out");
    std::os::unix::fs::symlink(&target, exp.path(RUN)).expect("symlink");
    std::fs::remove_file(target.join("run_result.json")).expect("remove");
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("is a symbolic link"), "{}", text(&out.stdout));
    assert!(!target.join("run_result.json").exists(), "nothing written outside");
}

/// Temp files a killed darn left behind are removed by the next reconcile, wherever they are.
#[test]
fn leftover_temps_are_removed_by_the_next_reconcile() {
    let exp = Exp::fixture();
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    let temps = [
        ".darn-tmp-1-a",
        "T0/.darn-tmp-2-b",
        &format!("{RUN}/.darn-tmp-3-c"),
        &format!("{RUN}/judge/judge_02/.darn-tmp-4"),
    ];
    for t in &temps {
        exp.write(t, "half a file");
    }
    // A read-only command leaves them: it does not hold the lock.
    assert_eq!(exp.darn(&["status"]).status.code(), Some(0));
    assert!(temps.iter().all(|t| exp.path(t).exists()));
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    for t in &temps {
        assert!(!exp.path(t).exists(), "{t} is gone");
    }
}

/// A measured value darn corrects from the runner's own records is not lost: the file it replaces
/// is kept under `.darn/replaced/`.
#[test]
fn a_replaced_measurement_is_kept() {
    let exp = Exp::fixture();
    let file = format!("{RUN}/run_result.json");
    exp.edit_json(&file, |v| v["agent_duration_seconds"] = serde_json::json!(99.5));
    let edited = exp.read(&file);
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_ne!(exp.read(&file), edited, "rebuilt from agent/timing.json");
    let kept: Vec<_> = walk(&exp.path(".darn/replaced")).into_iter().filter(|p| p.ends_with(&file)).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).expect("kept"), edited);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// The journal's side index only saves time: a damaged or missing one changes no answer, and a
/// reconcile after more stamps writes one that covers them.
#[test]
fn the_journal_index_changes_no_answer() {
    let (exp, _) = Exp::demo(darn::DemoSpec { damage: false, phased: false, ..darn::DemoSpec::default() });
    let out = exp.darn(&["reconcile", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index = exp.path(".darn/journal.idx");
    assert!(index.is_file(), "a 300-run reconcile indexes its journal");
    // Exit 0: nothing to do; 1: work to do.
    let plan_with = |code: i32| {
        let out = exp.darn(&["--json", "plan"]);
        assert_eq!(out.status.code(), Some(code), "{}{}", text(&out.stdout), text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("plan JSON")
    };
    let plan = || plan_with(0);
    let fresh = plan();
    assert_eq!(fresh["actions"].as_array().map(Vec::len), Some(0), "{fresh}");
    let mut bytes = std::fs::read(&index).expect("read index");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&index, &bytes).expect("damage the index");
    assert_eq!(plan(), fresh, "a damaged index is not used");
    std::fs::remove_file(&index).expect("remove the index");
    assert_eq!(plan(), fresh, "nor is a missing one needed");
    // New stamps after an index: a later load reads the index and the records after it.
    let out = exp.darn(&["reconcile", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(index.is_file());
    exp.remove(&format!("{RUN}/run_result.json"));
    let stale = plan_with(1);
    assert_ne!(stale, fresh);
    let out = exp.darn(&["reconcile", "-q", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(plan(), fresh, "the rebuilt run's new stamp is found past the index");
}
