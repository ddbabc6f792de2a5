//! The messages of a user's first minutes, as snapshots: mistyped filters and targets, relative
//! targets under `-C`, selections with nothing to do, plans and `why` a person can read.

use crate::util::{DARN, Exp, shared_demo, text};

/// Runs darn in `cwd` and renders the exchange as a transcript: the command, what it printed
/// (stdout, then stderr) and the exit code, with the experiment's path masked.
pub fn transcript(exp: &Exp, cwd: &std::path::Path, args: &[&str]) -> String {
    let out = assert_cmd::Command::new(DARN)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env("COLUMNS", "100")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run darn {args:?}: {e}"));
    crate::util::assert_no_panic(&out);
    let shown: Vec<String> =
        args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.to_string() }).collect();
    let mut s = format!("$ darn {}\n{}{}", shown.join(" "), text(&out.stdout), text(&out.stderr));
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&format!("[exit {}]\n", out.status.code().map_or("signal".into(), |c| c.to_string())));
    s.replace(&exp.root().display().to_string(), "[EXP]")
}

/// Several exchanges, one after the other.
fn transcripts(exp: &Exp, cwd: &std::path::Path, commands: &[&[&str]]) -> String {
    commands.iter().map(|args| transcript(exp, cwd, args)).collect::<Vec<_>>().join("\n")
}

#[test]
fn unknown_filter_values_name_the_valid_ones() {
    let exp = &shared_demo(true).exp;
    let got = transcripts(
        exp,
        exp.root(),
        &[
            &["status", "--tier", "t0"],
            &["status", "--tier", "T0,T9"],
            &["status", "--subtest", "0"],
            &["status", "--runs", "30"],
            &["status", "--runs", "1-3,5-x"],
            &["status", "--status", "faild"],
            &["status", "--judge-status", "partial,done"],
            &["plan", "--stage", "judges"],
        ],
    );
    insta::assert_snapshot!("unknown_filter_values", got);
}

#[test]
fn unknown_targets_get_the_closest_node_or_the_valid_runs() {
    let exp = &shared_demo(true).exp;
    let got = transcripts(
        exp,
        exp.root(),
        &[
            &["why", "T0/00/run_4"],
            &["why", "T0/00/run_01/judge/judge_9"],
            &["why", "T0/00/run_01/agent/resul.json"],
            &["why", "completed/T0/00/run_01/agent/reslt.json"],
            &["why", "T0/00/run_30"],
            &["why", "T7/00"],
            &["why", "/etc/passwd"],
        ],
    );
    insta::assert_snapshot!("unknown_targets", got);
}

/// A relative target resolves against the `-C` directory first, then the current directory,
/// like git and make.
#[test]
fn relative_targets_resolve_against_the_c_directory() {
    let exp = &shared_demo(true).exp;
    let elsewhere = Exp::empty();
    let root = exp.root().display().to_string();
    let target = "completed/T0/00/run_01/agent/result.json";
    let from_c = transcript(exp, elsewhere.root(), &["-C", &root, "why", target]);
    let inside = transcript(exp, exp.root(), &["why", target]);
    assert_eq!(from_c.lines().skip(1).collect::<Vec<_>>(), inside.lines().skip(1).collect::<Vec<_>>());
    assert!(from_c.contains("[exit 0]"), "{from_c}");
    assert!(!from_c.contains("outside"), "{from_c}");
    // From a subdirectory given with -C, a path relative to it.
    let sub = exp.path("completed/T0").display().to_string();
    let from_sub = transcript(exp, elsewhere.root(), &["-C", &sub, "why", "00/run_01/agent/result.json"]);
    assert!(from_sub.contains("T0/00/run_01/agent/result.json"), "{from_sub}");
    assert!(from_sub.contains("[exit 0]"), "{from_sub}");
}

/// A selection that exists but needs no work is "nothing to do" and exit 0, in every command.
#[test]
fn an_existing_selection_with_no_work_is_nothing_to_do() {
    let exp = Exp::fixture();
    let got = transcripts(
        &exp,
        exp.root(),
        &[
            &["plan", "--tier", "T0", "--runs", "1", "--status", "failed"],
            &["plan", "--status", "partial,missing"],
            &["reconcile", "--tier", "T0", "--status", "failed"],
            &["why", "--tier", "T0", "--status", "failed"],
            &["status", "--status", "failed", "--judge-status", "failed,partial"],
        ],
    );
    insta::assert_snapshot!("nothing_to_do", got);
}

/// `plan` of a damaged demo: totals at the top and the bottom with serial and wall-clock time at
/// `-j`, cascades collapsed, cost per tier and per stage.
#[test]
fn a_plan_a_person_can_read() {
    let exp = &shared_demo(true).exp;
    let got = transcript(exp, exp.root(), &["--color", "never", "plan", "-j", "2"]);
    for needle in ["one after the other", "on the clock at -j 2", "estimated cost", "tier T0", "stage judge", "total:"]
    {
        assert!(got.contains(needle), "{needle}:\n{got}");
    }
    assert!(!got.contains("upstream_stale (T0/00/run_01/run_result.json); upstream_stale"), "{got}");
    insta::assert_snapshot!("plan_of_a_damaged_demo", got);
}

/// The wall-clock estimate follows `-j`: serial time at one job, less with more.
#[test]
fn the_wall_clock_estimate_follows_jobs() {
    let exp = &shared_demo(true).exp;
    let estimate = |jobs: &str| {
        let out = exp.darn(&["--json", "plan", "-j", jobs]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
        let e = &doc["estimate"];
        (e["seconds"].as_f64().unwrap_or(-1.0), e["wall_seconds"].as_f64().unwrap_or(-1.0), e["jobs"].clone())
    };
    let (serial, one, jobs) = estimate("1");
    assert!(serial > 0.0 && (serial - one).abs() < 1e-6, "at -j 1 the clock is the serial time: {serial} {one}");
    assert_eq!(jobs, 1);
    let (_, four, _) = estimate("4");
    assert!(four < one && four >= one / 4.0 - 1e-6, "{four} vs {one}");
    let out = exp.darn(&["--json", "plan"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let tiers: f64 = doc["by_tier"].as_array().expect("by_tier").iter().filter_map(|t| t["cost_usd"].as_f64()).sum();
    let stages: f64 = doc["by_stage"].as_array().expect("by_stage").iter().filter_map(|t| t["cost_usd"].as_f64()).sum();
    let total = doc["estimate"]["cost_usd"].as_f64().expect("cost");
    assert!((tiers - total).abs() < 1e-6 && (stages - total).abs() < 1e-6, "{tiers} {stages} {total}");
}

/// Held nodes sharing a reason and a cause are one entry, not one line each.
#[test]
fn held_nodes_with_the_same_cause_are_one_entry() {
    let (exp, _) =
        Exp::demo(darn::DemoSpec { tiers: 1, subtests: 1, runs_per_subtest: 8, damage: false, ..Default::default() });
    exp.edit_json("config/experiment.json", |v| v["models"] = serde_json::json!(["claude-sonnet-9"]));
    let got = transcript(&exp, exp.root(), &["--color", "never", "plan"]);
    insta::assert_snapshot!("held_with_one_cause", got);
}

/// `why` shows what is stale; what is up to date (and never_stamped) only with -v.
#[test]
fn why_shows_what_is_stale_unless_verbose() {
    let exp = &shared_demo(true).exp;
    let quiet = transcript(exp, exp.root(), &["--color", "never", "why", "T0/00/run_01", "T0/00/run_02/agent"]);
    assert!(!quiet.contains("never_stamped"), "{quiet}");
    let verbose = transcript(exp, exp.root(), &["--color", "never", "why", "-v", "T0/00/run_01"]);
    assert!(verbose.contains("up to date"), "{verbose}");
    insta::assert_snapshot!("why_stale_only", quiet);
}

/// A failed execution is reported with the log to read and the command that explains it.
#[test]
fn a_failure_names_its_log_and_the_why_command() {
    let (exp, _) =
        Exp::demo(darn::DemoSpec { tiers: 1, subtests: 1, runs_per_subtest: 1, damage: false, ..Default::default() });
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    exp.write(
        "darn.toml",
        toml.replacen(
            "\"stand-in\", \"agent\",",
            &format!(
                "\"stand-in\", \"agent\", \"--fail-rate\", \"1\", \"--state\", \"{}\",",
                exp.path(".standin-state").display()
            ),
            1,
        ),
    );
    let got = transcript(&exp, exp.root(), &["--color", "never", "reconcile", "--force", "T0/00/run_01/agent"]);
    assert!(got.contains("log: in_progress/T0/00/run_01/agent/stdout.log"), "{got}");
    assert!(got.contains("explain: darn why T0/00/run_01/agent"), "{got}");
    // What a failed stand-in costs depends on the temporary path in its prompt: masked.
    let got = regex::Regex::new(r"\$[0-9]+\.[0-9]+ spent").expect("regex").replace_all(&got, "$$X spent").into_owned();
    insta::assert_snapshot!("failure_with_log", got);
}

/// `graph` draws a legend, and `--no-upstream` / `--depth N` keep a picture small.
#[test]
fn graph_has_a_legend_and_can_leave_out_the_upstream() {
    let exp = &shared_demo(true).exp;
    let nodes = |args: &[&str]| {
        let mut all = vec!["--json", "graph"];
        all.extend_from_slice(args);
        let out = exp.darn(&all);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
        doc["nodes"].as_array().map_or(0, Vec::len)
    };
    let targets = ["T0/00/run_01/run_result.json", "T0/00/run_02/run_result.json", "T0/result.json"];
    let all = nodes(&targets);
    assert_eq!(nodes(&[&["--no-upstream"][..], &targets].concat()), 3);
    assert_eq!(nodes(&[&["--depth", "0"][..], &targets].concat()), 3);
    let one = nodes(&[&["--depth", "1"][..], &targets].concat());
    assert!(3 < one && one < all, "{one} of {all}");
    let dot = transcript(exp, exp.root(), &["graph", "--no-upstream", "T0/00/run_01/run_result.json"]);
    assert!(dot.contains("cluster_legend") && dot.contains("\"execution\" [shape=ellipse]"), "{dot}");
    insta::assert_snapshot!("graph_no_upstream", dot);
    let both = exp.darn(&["graph", "--no-upstream", "--depth", "2"]);
    assert_eq!(both.status.code(), Some(2));
}
