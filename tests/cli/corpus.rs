//! Bad input, case by case: every damaged file, broken configuration and hostile path gives a
//! documented exit code and, when it stops darn, one line naming the file; nothing the
//! experiment had is lost, and nothing outside it is written.

use crate::util::{Exp, assert_no_panic, text};
use std::collections::BTreeMap;
use std::path::Path;

const RUN: &str = "T0/00/run_01";

/// What a case expects of `status` and of `reconcile --regenerate-only`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Both run; status exits 0, reconcile 0 or 1 (work left is fine, a crash is not).
    Handled,
    /// Both stop with exit 2 and a one-line message naming this (relative) path.
    Error(&'static str),
}

/// Damages the experiment in `Exp`; the second path is a directory outside it.
type Setup = Box<dyn Fn(&Exp, &Path)>;
/// Damages a file's bytes.
type Damage = Box<dyn Fn(&[u8]) -> Vec<u8>>;

struct Case {
    name: String,
    setup: Setup,
    expect: Expect,
}

fn case(name: impl Into<String>, expect: Expect, setup: impl Fn(&Exp, &Path) + 'static) -> Case {
    Case { name: name.into(), setup: Box::new(setup), expect }
}

/// The ways a JSON file can be damaged.
fn json_damage() -> Vec<(&'static str, Damage)> {
    vec![
        ("empty", Box::new(|_| Vec::new())),
        ("truncated", Box::new(|b| b[..b.len() / 2].to_vec())),
        ("not JSON", Box::new(|_| b"<html>not json</html>".to_vec())),
        ("an array", Box::new(|_| b"[1, 2, 3]".to_vec())),
        (
            "wrong types",
            Box::new(|_| br#"{"score": "high", "exit_code": [], "agent_duration_seconds": "1m"}"#.to_vec()),
        ),
        ("deeply nested", Box::new(|_| format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes())),
        ("not UTF-8", Box::new(|b| [b"\xff\xfe\x00".as_slice(), b].concat())),
        ("NaN and Infinity", Box::new(|_| br#"{"score": NaN, "cost_usd": Infinity, "exit_code": -Infinity}"#.to_vec())),
    ]
}

const JSON_FILES: [&str; 9] = [
    "agent/result.json",
    "agent/timing.json",
    "agent/command_log.json",
    "judge/result.json",
    "judge/timing.json",
    "judge/judge_01/judgment.json",
    "judge/judge_01/timing.json",
    "run_result.json",
    "report.json",
];

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for file in JSON_FILES {
        for (kind, damage) in json_damage() {
            let damage = std::rc::Rc::new(damage);
            out.push(case(format!("{file}: {kind}"), Expect::Handled, move |exp, _| {
                let rel = format!("{RUN}/{file}");
                let bytes = damage(&exp.read(&rel));
                exp.write(&rel, bytes);
            }));
        }
    }
    // Logs and text.
    for (file, bytes) in [
        ("agent/stdout.log", b"\xff\xfe not utf-8 \x00\x01".to_vec()),
        ("agent/stdout.log", b"{\"type\":\"result\",\"usage\":{\"input_tok".to_vec()),
        ("agent/stderr.log", vec![b'x'; 3 << 20]),
        ("judge/judge_02/response.txt", b"no json here at all".to_vec()),
        (
            "judge/judge_02/response.txt",
            b"{\"score\": 2.5, \"passed\": true, \"reasoning\": \"out of range\"}".to_vec(),
        ),
        ("judge_prompt.md", Vec::new()),
    ] {
        out.push(case(format!("{file}: {} bytes of bad text", bytes.len()), Expect::Handled, move |exp, _| {
            exp.write(&format!("{RUN}/{file}"), &bytes);
        }));
    }
    // The experiment's configuration.
    let config = "config/experiment.json";
    for (kind, bytes) in [
        ("empty", b"".as_slice()),
        ("truncated", b"{\"experiment_id\": \"x\", \"task_re".as_slice()),
        ("not an object", b"[\"T0\"]".as_slice()),
        ("not UTF-8", b"\xff{\"experiment_id\": 1}".as_slice()),
        ("missing keys", b"{\"experiment_id\": \"x\"}".as_slice()),
    ] {
        out.push(case(format!("{config}: {kind}"), Expect::Error(config), move |exp, _| exp.write(config, bytes)));
    }
    for (key, value) in [
        ("runs_per_subtest", serde_json::json!("ten")),
        ("runs_per_subtest", serde_json::json!(4_000_000_000u64)),
        ("runs_per_subtest", serde_json::json!(1_000_000_000)),
        ("judge_models", serde_json::json!({"a": 1})),
        ("models", serde_json::json!([])),
    ] {
        out.push(case(format!("{config}: {key} = {value}"), Expect::Error(config), move |exp, _| {
            exp.edit_json(config, |v| v[key] = value.clone());
        }));
    }
    // darn.toml.
    for (kind, toml) in [
        ("unknown key", "[agent]\ncomand = [\"claude\"]\n"),
        ("not TOML", "[agent\n"),
        ("bad duration", "[agent]\ntimeout = \"soon\"\n"),
        ("unknown era", "[experiment]\nera = \"1999\"\n"),
        ("not UTF-8", "\u{fffd}[agent]\n"),
    ] {
        out.push(case(format!("darn.toml: {kind}"), Expect::Error("darn.toml"), move |exp, _| {
            exp.write("darn.toml", toml);
        }));
    }
    // Paths.
    out.push(case("a directory in a file's place", Expect::Error("agent/result.json"), |exp, _| {
        exp.remove(&format!("{RUN}/agent/result.json"));
        exp.write(&format!("{RUN}/agent/result.json/inner"), "x");
    }));
    out.push(case("a file in a judge directory's place", Expect::Error("judge/judge_02"), |exp, _| {
        let dir = exp.path(&format!("{RUN}/judge/judge_02"));
        std::fs::remove_dir_all(&dir).expect("remove");
        std::fs::write(&dir, "x").expect("write");
    }));
    #[cfg(unix)]
    {
        out.push(case("a symlink loop in a file's place", Expect::Error("agent/result.json"), |exp, _| {
            let p = exp.path(&format!("{RUN}/agent/result.json"));
            std::fs::remove_file(&p).expect("remove");
            std::os::unix::fs::symlink(&p, &p).expect("loop");
        }));
        out.push(case("a run directory linked out of the experiment", Expect::Handled, |exp, outside| {
            let target = outside.join("run_01");
            std::fs::rename(exp.path(RUN), &target).expect("move out");
            std::os::unix::fs::symlink(&target, exp.path(RUN)).expect("link");
            std::fs::remove_file(target.join("run_result.json")).expect("remove");
        }));
        out.push(case("a file linked to one outside", Expect::Handled, |exp, outside| {
            let target = outside.join("report.json");
            std::fs::write(&target, "{}").expect("write");
            let p = exp.path(&format!("{RUN}/report.json"));
            std::fs::remove_file(&p).expect("remove");
            std::os::unix::fs::symlink(&target, &p).expect("link");
        }));
        out.push(case("a named pipe in a file's place", Expect::Error("agent/result.json"), |exp, _| {
            let p = exp.path(&format!("{RUN}/agent/result.json"));
            std::fs::remove_file(&p).expect("remove");
            let c = std::ffi::CString::new(p.display().to_string()).expect("path");
            // SAFETY: mkfifo reads a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        }));
    }
    // Shell metacharacters in what darn writes into scripts.
    out.push(case("shell metacharacters in a judge model", Expect::Handled, |exp, _| {
        exp.edit_json("config/experiment.json", |v| v["judge_models"][1] = "m$(touch PWNED)`id`".into());
    }));
    out.push(case("shell metacharacters in the experiment id", Expect::Handled, |exp, _| {
        exp.edit_json("config/experiment.json", |v| v["experiment_id"] = "x'; rm -rf / #".into());
    }));
    out
}

/// The experiment's executions' outputs and records, by path: what must never be lost.
fn precious(exp: &Exp) -> BTreeMap<String, Vec<u8>> {
    let root = exp.root().display().to_string();
    snapshot(exp.root())
        .into_keys()
        .filter_map(|f| f.strip_prefix(&format!("{root}/")).map(str::to_string))
        .filter(|f| {
            (f.contains("/agent/") && (f.ends_with(".log") || f.ends_with("prompt.md")))
                || (f.contains("/judge_0") && (f.ends_with("response.txt") || f.ends_with("stdout.log")))
        })
        .filter(|f| std::fs::symlink_metadata(exp.path(f)).is_ok_and(|m| m.is_file()))
        .filter_map(|f| std::fs::read(exp.path(&f)).ok().map(|b| (f, b)))
        .collect()
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            // Not following links, and reading regular files only (a pipe would block).
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file()
                && let Ok(b) = std::fs::read(&p)
            {
                out.insert(p.display().to_string(), b);
            }
        }
    }
    out
}

#[test]
fn every_bad_input_is_handled_or_named() {
    let all = cases();
    assert!(all.len() >= 60, "{} cases", all.len());
    let mut failures = Vec::new();
    for c in &all {
        let exp = Exp::fixture();
        let outside = tempfile::tempdir().expect("tempdir");
        let before = precious(&exp);
        assert!(before.len() > 20, "the fixture's outputs are watched: {}", before.len());
        (c.setup)(&exp, outside.path());
        let outside_before = snapshot(outside.path());
        let mut problems = Vec::new();
        for args in [&["status"][..], &["reconcile", "--regenerate-only"]] {
            let out = exp.darn(args);
            assert_no_panic(&out);
            let stderr = text(&out.stderr);
            match c.expect {
                Expect::Handled => {
                    let ok = if args[0] == "status" { [0, 0] } else { [0, 1] };
                    if !out.status.code().is_some_and(|code| ok.contains(&code)) {
                        problems.push(format!("{args:?}: exit {:?}: {stderr}", out.status.code()));
                    }
                }
                Expect::Error(path) => {
                    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("darn: error:")).collect();
                    if out.status.code() != Some(2) || lines.len() != 1 || !lines[0].contains(path) {
                        problems.push(format!(
                            "{args:?}: exit {:?}, expected 2 naming {path}: {stderr}",
                            out.status.code()
                        ));
                    }
                }
            }
        }
        // Nothing the executions left is gone: in place, or moved aside.
        let after = precious(&exp);
        let archived: Vec<Vec<u8>> = after.values().cloned().collect();
        for (f, bytes) in &before {
            // Read through links: a run directory linked elsewhere still holds its outputs.
            let now = std::fs::metadata(exp.path(f))
                .ok()
                .filter(|m| m.is_file())
                .and_then(|_| std::fs::read(exp.path(f)).ok());
            if now.as_ref() != Some(bytes) && !archived.contains(bytes) && exp.path(f).exists() {
                problems.push(format!("{f} changed"));
            }
        }
        if snapshot(outside.path()) != outside_before {
            problems.push("something outside the experiment was written".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", c.name, problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), all.len(), failures.join("\n"));
    eprintln!("{} bad-input cases handled", all.len());
}

/// Runs darn as an unprivileged user when the tests run as root (root reads everything).
#[cfg(unix)]
fn darn_unprivileged(exp: &Exp, args: &[&str]) -> std::process::Output {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", crate::util::DARN]);
        c
    } else {
        std::process::Command::new(crate::util::DARN)
    };
    cmd.current_dir(exp.root()).env_remove("NO_COLOR").args(args).output().expect("run darn")
}

#[cfg(unix)]
#[test]
fn an_unreadable_directory_is_an_error_not_an_execution() {
    use std::os::unix::fs::PermissionsExt;
    let exp = Exp::fixture();
    let open = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    // The unprivileged user may read and write everything but the one directory.
    let mut stack = vec![exp.root().to_path_buf()];
    if let Some(parent) = exp.root().parent() {
        open(parent, 0o777);
    }
    while let Some(d) = stack.pop() {
        open(&d, 0o777);
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                open(&e.path(), 0o666);
            }
        }
    }
    let before = precious(&exp);
    let agent = exp.path(&format!("{RUN}/agent"));
    open(&agent, 0o000);
    for args in [&["status"][..], &["plan"], &["reconcile", "--regenerate-only"]] {
        let out = darn_unprivileged(&exp, args);
        assert_no_panic(&out);
        let stderr = text(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("darn: error:")).collect();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(errors.len() == 1 && errors[0].contains(&format!("{RUN}/agent")), "{args:?}: {stderr}");
        assert!(errors[0].contains("permission"), "{args:?}: {stderr}");
    }
    open(&agent, 0o777);
    assert_eq!(precious(&exp), before, "nothing was lost or rewritten");
}

/// A transcript larger than darn holds in memory (a stream of events ending in its result) is
/// scanned and copied, and its copies are checked by hash: the files are the same as for a
/// small one, and the next reconcile finds them right.
#[test]
fn a_large_transcript_is_scanned_not_held() {
    let exp = Exp::fixture();
    let stdout = format!("{RUN}/agent/stdout.log");
    let result_line = text(&exp.read(&stdout));
    let event = "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"caf\u{e9} \\\"quoted\\\" \u{1F600}\"}]}}\n";
    let mut big = event.repeat((12 << 20) / event.len());
    big.push_str(result_line.trim());
    big.push('\n');
    exp.write(&stdout, &big);
    exp.remove(&format!("{RUN}/agent/output.txt"));
    exp.remove(&format!("{RUN}/agent/result.json"));
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&exp.read(&format!("{RUN}/agent/output.txt"))), big);
    let result = exp.read_json(&format!("{RUN}/agent/result.json"));
    assert_eq!(result["stdout"].as_str(), Some(big.as_str()));
    assert_eq!(result["api_calls"], 6, "the result event's num_turns");
    // A first look (no .darn) finds everything right, without rewriting anything.
    std::fs::remove_dir_all(exp.path(".darn")).expect("remove .darn");
    let listing = exp.listing();
    let out = exp.darn(&["--json", "plan"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a plan");
    assert_eq!(plan["actions"].as_array().map(Vec::len), Some(0), "{plan}");
    assert_eq!(
        exp.listing().into_iter().filter(|(p, ..)| !p.starts_with(".darn")).collect::<Vec<_>>(),
        listing.into_iter().filter(|(p, ..)| !p.starts_with(".darn")).collect::<Vec<_>>()
    );
    // A copy that differs from the transcript by one byte is found and rebuilt.
    let output = format!("{RUN}/agent/output.txt");
    let mut changed = exp.read(&output);
    changed[100] = b'X';
    exp.write(&output, &changed);
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&exp.read(&output)), big);
}

/// A disk that fills up mid-reconcile stops it with an error; once space is freed, one
/// reconcile converges. Needs a small filesystem of its own: a tmpfs, which only root mounts.
#[cfg(target_os = "linux")]
#[test]
fn after_a_full_disk_one_reconcile_converges() {
    let mnt = tempfile::tempdir().expect("tempdir");
    let mount =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(mnt.path()).output();
    if !mount.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root), so no disk can be filled");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path());
    let exp_dir = mnt.path().join("exp");
    // Free space left when the reconcile starts: nothing, a page, a few files' worth, more.
    for free_kb in [0u64, 4, 16, 64, 256] {
        let _ = std::fs::remove_dir_all(&exp_dir);
        crate::util::copy_tree(&crate::util::fixture_dir(), &exp_dir);
        let darn = |args: &[&str]| crate::util::darn_cmd(&exp_dir, args);
        assert_eq!(darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
        for run in ["T0/00/run_01", "T1/01/run_01", "T2/01/run_01"] {
            for f in ["run_result.json", "report.json", "report.md", "agent/result.json"] {
                let _ = std::fs::remove_file(exp_dir.join(run).join(f));
            }
        }
        let _ = std::fs::remove_file(exp_dir.join("result.json"));
        // Fill the disk, then give back `free_kb`.
        let filler = mnt.path().join("filler");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).expect("filler");
            let block = vec![b'x'; 4096];
            while f.write_all(&block).is_ok() {}
            let _ = f.sync_all();
        }
        let len = std::fs::metadata(&filler).expect("filler").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .and_then(|f| f.set_len(len.saturating_sub(free_kb * 1024)))
            .expect("shrink the filler");
        let full = darn(&["reconcile", "--regenerate-only"]);
        assert_no_panic(&full);
        assert!(matches!(full.status.code(), Some(0..=2)), "{free_kb} KB free: {}", text(&full.stderr));
        if free_kb == 0 {
            assert_ne!(full.status.code(), Some(0), "the disk was full: {}", text(&full.stderr));
        }
        std::fs::remove_file(&filler).expect("free the space");
        let out = darn(&["reconcile", "--regenerate-only"]);
        assert_eq!(out.status.code(), Some(0), "{free_kb} KB free, then freed: {}", text(&out.stderr));
        let again = darn(&["--json", "plan"]);
        let plan: serde_json::Value = serde_json::from_slice(&again.stdout).expect("a plan");
        assert_eq!(plan["actions"].as_array().map(Vec::len), Some(0), "{free_kb} KB free: not converged: {plan}");
        for (path, bytes) in snapshot(&exp_dir) {
            assert!(!path.contains(".darn-tmp-"), "{free_kb} KB free: {path} left");
            if path.ends_with(".json") {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()
                        || bytes.windows(3).any(|w| w == b"NaN" || w == b"Inf"),
                    "{path} is torn"
                );
            }
        }
    }
}

/// A run whose state darn cannot compute (a damaged input) keeps what the checkpoint records:
/// `passed` never becomes `agent_complete` from a guess.
#[test]
fn a_damaged_run_keeps_its_checkpoint_entry() {
    let exp = Exp::fixture();
    assert_eq!(exp.darn(&["reconcile", "--regenerate-only"]).status.code(), Some(0));
    let before = exp.read("checkpoint.json");
    exp.write(&format!("{RUN}/agent/command_log.json"), "garbage");
    exp.remove(&format!("{RUN}/agent/timing.json"));
    let out = exp.darn(&["reconcile", "--regenerate-only"]);
    assert_eq!(out.status.code(), Some(1), "blocked work is left: {}", text(&out.stderr));
    assert_eq!(text(&exp.read("checkpoint.json")), text(&before));
}
