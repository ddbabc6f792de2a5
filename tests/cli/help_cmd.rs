//! Help that teaches: examples in every subcommand's `--help`, filters under their own heading,
//! defaults shown; completions that complete statuses and stages; a man page per subcommand with
//! EXAMPLES, EXIT STATUS and ENVIRONMENT, generated here.

use crate::util::{DARN, Exp, text};

const SUBCOMMANDS: [&str; 8] = ["status", "plan", "reconcile", "why", "graph", "demo", "completions", "man"];

fn darn(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(DARN).env("COLUMNS", "100").args(args).output().expect("run darn")
}

#[test]
fn every_subcommand_help_has_examples() {
    for sub in SUBCOMMANDS {
        let out = darn(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub} --help");
        let help = text(&out.stdout);
        assert!(help.contains("Examples:\n  darn "), "{sub} --help has examples:\n{help}");
        assert!(help.contains("Global options:"), "{sub} --help:\n{help}");
        if !matches!(sub, "demo" | "completions" | "man") {
            assert!(
                help.contains("Filters:\n      --tier <TIER>"),
                "{sub} --help: filters under their heading:\n{help}"
            );
        }
    }
    let top = text(&darn(&["--help"]).stdout);
    assert!(top.contains("Examples:"), "{top}");
}

#[test]
fn reconcile_help_shows_defaults() {
    let help = text(&darn(&["reconcile", "--help"]).stdout);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("[default: [execution] jobs in darn.toml, else 2; with Slurm, [slurm] max_jobs first]"),
        "{help}"
    );
    assert!(flat.contains("local (default) or slurm (default: [execution] backend in darn.toml)"), "{help}");
    assert!(flat.contains("[possible values: missing, failed, partial, results, completed]"), "{help}");
    insta::assert_snapshot!("reconcile_help", help);
}

#[test]
fn completions_complete_status_and_stage_values() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = darn(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = text(&out.stdout);
        if matches!(shell, "bash" | "zsh" | "fish") {
            for value in ["agent_failed", "completed", "aggregate"] {
                assert!(script.contains(value), "{shell} completes {value}");
            }
        }
    }
    let bash = text(&darn(&["completions", "bash"]).stdout);
    assert!(bash.contains("compgen -W \"missing failed partial results completed\""), "bash --status values");
    assert!(bash.contains("compgen -W \"agent judge aggregate\""), "bash --stage values");
    // --tier completes no file names.
    let tier = bash.find("--tier)").expect("a --tier case");
    let case = &bash[tier..tier + bash[tier..].find(";;").expect("the case ends")];
    assert!(!case.contains("compgen -f"), "{case}");
    let fish = text(&darn(&["completions", "fish"]).stdout);
    let tier_line = fish.lines().find(|l| l.contains("-l tier")).expect("fish --tier");
    assert!(tier_line.contains(" -f") || !tier_line.contains("-F"), "{tier_line}");
}

#[test]
fn man_pages_for_every_subcommand() {
    let dir = Exp::empty();
    let out = darn(&["man", "--dir", &dir.root().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(dir.root())
        .expect("list the pages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut want: Vec<String> = SUBCOMMANDS.iter().map(|s| format!("darn-{s}.1")).collect();
    want.push("darn.1".into());
    want.sort();
    assert_eq!(pages, want);
    for page in &pages {
        let roff = String::from_utf8(dir.read(page)).expect("utf-8");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH \"EXAMPLES\"",
            ".SH \"EXIT STATUS\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(roff.contains(section), "{page} has {section}");
        }
        assert!(roff.contains("NO_COLOR") && roff.contains("130"), "{page}");
    }
    // One page on stdout, by subcommand; an unknown one is a usage error naming the pages.
    let why = text(&darn(&["man", "why"]).stdout);
    assert!(why.contains("\n.TH darn-why 1"), "{}", &why[..why.len().min(200)]);
    assert!(why.contains("darn why T1/00/run_15/run_result.json"), "the examples are the --help ones");
    crate::util::assert_usage_error(&darn(&["man", "wy"]), &["did you mean why", "reconcile"]);
}
