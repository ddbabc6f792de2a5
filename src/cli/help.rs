//! What `--help`, the man pages and the completions teach: the examples of every subcommand
//! (the workflows of docs/guide.md#coming-from-the-old-scripts), exit statuses and environment,
//! written once and shown in both `--help` and `darn man`.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// One example: the command line and what it does.
pub type Example = (&'static str, &'static str);

pub const STATUS: &[Example] = &[
    ("darn status", "every run's agent and judge status, counted per tier"),
    ("darn status -v --status failed,partial", "the failed and partial runs, each with its problems"),
    ("darn -C ~/exp/run-42 status --tier T0 --json", "the T0 runs of another experiment, as JSON"),
];

pub const PLAN: &[Example] = &[
    ("darn plan", "everything reconcile would do, with causes, cost and time"),
    ("darn plan --tier T0 --runs 1,3,5", "only runs 1, 3 and 5 of T0"),
    ("darn plan --stage agent --status missing,failed -j 8", "what re-running those agents costs, at 8 in parallel"),
    ("darn plan --regenerate-only", "what can be fixed without running an agent or a judge"),
];

pub const RECONCILE: &[Example] = &[
    ("darn reconcile", "bring everything up to date: regenerate, re-run what must be"),
    ("darn reconcile --regenerate-only", "rebuild derived files only (regenerate_agent_results.py)"),
    ("darn reconcile --stage agent --status failed -j 4", "re-run the failed agents, 4 at a time (rerun_agents.py)"),
    ("darn reconcile --tier T0 --runs 1,3,5 --dry-run", "what would be done for T0 runs 1, 3 and 5"),
    (
        "darn reconcile --judge-status failed --judge-model claude-opus-4-6",
        "re-judge the failed slots with another model",
    ),
    ("darn reconcile --max-cost 20 --keep-going", "stop launching past $20; a failure skips only what needs it"),
];

pub const WHY: &[Example] = &[
    ("darn why T1/00/run_15/run_result.json", "why that file is stale, down to the root cause"),
    ("darn -C ~/exp why completed/T1/00/run_15/agent/result.json", "a path, relative to the -C directory"),
    ("darn why --tier T1 --status failed", "every stale node of T1's failed runs, with a summary"),
    ("darn why -v T0/00/run_01", "every node of a run, up-to-date ones included"),
];

pub const GRAPH: &[Example] = &[
    ("darn graph T0/00/run_01 | dot -Tsvg > run.svg", "one run's graph, drawn by Graphviz"),
    ("darn graph --no-upstream 'T0/*/run_01/run_result.json'", "only the named nodes and the edges between them"),
    ("darn graph --depth 1 T0/result.json", "a tier result and the nodes it reads directly"),
    ("darn graph --json --tier T0 --runs 1", "one run and the aggregates above it, as JSON"),
];

pub const DEMO: &[Example] = &[
    ("darn demo /tmp/darn-demo && darn -C /tmp/darn-demo reconcile", "a broken experiment, and its repair"),
    ("darn demo --clean --layout flat /tmp/flat", "an intact experiment in the January-2026 layout"),
    ("darn demo --tiers 1 --subtests 1 --runs-per-subtest 5 /tmp/tiny", "a five-run experiment"),
];

pub const COMPLETIONS: &[Example] = &[
    ("darn completions bash > ~/.local/share/bash-completion/completions/darn", "bash"),
    ("darn completions zsh > ~/.zfunc/_darn", "zsh (with ~/.zfunc in fpath)"),
    ("darn completions fish > ~/.config/fish/completions/darn.fish", "fish"),
];

pub const MAN: &[Example] = &[
    ("darn man | man -l -", "read darn(1)"),
    ("darn man --dir /usr/local/share/man/man1", "write darn.1 and a page per subcommand"),
];

pub const TOP: &[Example] = &[
    ("darn demo /tmp/darn-demo", "write a partly broken experiment to try darn on"),
    ("darn -C /tmp/darn-demo status", "what state every run is in"),
    ("darn -C /tmp/darn-demo plan", "what reconcile would do, and what it would cost"),
    ("darn -C /tmp/darn-demo reconcile", "do it"),
];

/// The examples of a subcommand, by name (`None` for the top level).
pub fn examples_of(name: Option<&str>) -> &'static [Example] {
    match name {
        None => TOP,
        Some("status") => STATUS,
        Some("plan") => PLAN,
        Some("reconcile") => RECONCILE,
        Some("why") => WHY,
        Some("graph") => GRAPH,
        Some("demo") => DEMO,
        Some("completions") => COMPLETIONS,
        Some("man") => MAN,
        Some(_) => &[],
    }
}

pub const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "success, or nothing to do (also a selection that exists but needs no work)"),
    ("1", "plan: work is pending; reconcile: work was left undone (a failure, a held or blocked node)"),
    ("2", "a usage error: an unknown flag, filter value or target, an unreadable experiment or darn.toml"),
    ("3", "another darn holds the experiment's lock"),
    ("130", "interrupted (Ctrl-C); what finished is recorded and the next reconcile resumes"),
];

pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("NO_COLOR", "when set and not empty, no colours unless --color always"),
    ("DARN_TRACE", "1 prints each phase's time and resident memory on stderr"),
    (
        "DARN_CACHE_DIR",
        "where read-only commands keep the caches of trees without .darn/ (default $XDG_CACHE_HOME/darn or ~/.cache/darn; empty: nowhere)",
    ),
    ("TZ", "the time zone of the rate-limit resume time the progress bar shows"),
];

/// The examples as `--help` shows them after the options.
fn help_text(examples: &[Example]) -> String {
    let mut out = String::from("Examples:\n");
    for (cmd, what) in examples {
        out.push_str(&format!("  {cmd}\n      {what}\n"));
    }
    out.push_str("\nExit status: 0 ok or nothing to do, 1 work pending or left, 2 usage, 3 locked, 130 interrupted");
    out
}

/// The clap command with every subcommand's examples after its help.
pub fn command() -> clap::Command {
    let cmd = <super::Cli as clap::CommandFactory>::command();
    let cmd = cmd.after_help(help_text(TOP));
    cmd.mut_subcommands(|sub| {
        let examples = examples_of(Some(sub.get_name()));
        if examples.is_empty() { sub } else { sub.after_help(help_text(examples)) }
    })
}

/// roff text with its special characters escaped.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') { format!("\\&{s}") } else { s }
}

fn roff_list(out: &mut String, heading: &str, items: &[(&str, &str)], literal: bool) {
    out.push_str(&format!(".SH \"{heading}\"\n"));
    for (term, what) in items {
        let term = if literal { format!("\\fB{}\\fR", roff_text(term)) } else { roff_text(term) };
        out.push_str(&format!(".TP\n{term}\n{}\n", roff_text(what)));
    }
}

/// One man page: clap's sections, then EXAMPLES, EXIT STATUS, ENVIRONMENT and SEE ALSO.
fn page(cmd: &clap::Command, name: Option<&str>, others: &[String]) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    let io = |e| Error::io(Path::new("<man page>"), e);
    man.render_title(&mut buf).map_err(io)?;
    man.render_name_section(&mut buf).map_err(io)?;
    man.render_synopsis_section(&mut buf).map_err(io)?;
    man.render_description_section(&mut buf).map_err(io)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf).map_err(io)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut buf).map_err(io)?;
    }
    let mut extra = String::new();
    roff_list(&mut extra, "EXAMPLES", examples_of(name), true);
    roff_list(&mut extra, "EXIT STATUS", EXIT_STATUS, false);
    roff_list(&mut extra, "ENVIRONMENT", ENVIRONMENT, true);
    extra.push_str(".SH \"SEE ALSO\"\n");
    extra.push_str(&roff_text(&others.iter().map(|o| format!("{o}(1)")).collect::<Vec<_>>().join(", ")));
    extra.push_str("\n.PP\nThe user guide and the contract: docs/guide.md and docs/contract.md in darn's sources.\n");
    buf.extend_from_slice(extra.as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(&mut buf).map_err(io)?;
    }
    Ok(buf)
}

/// Every man page: `darn.1` and `darn-SUBCOMMAND.1` for each visible subcommand, with contents.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = command();
    cmd.build();
    let subs: Vec<clap::Command> =
        cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help").cloned().collect();
    let names: Vec<String> =
        std::iter::once("darn".to_string()).chain(subs.iter().map(|s| format!("darn-{}", s.get_name()))).collect();
    let mut out = vec![("darn.1".to_string(), page(&cmd, None, &names[1..])?)];
    for sub in &subs {
        let own = format!("darn-{}", sub.get_name());
        let others: Vec<String> = names.iter().filter(|n| **n != own).cloned().collect();
        out.push((format!("{own}.1"), page(sub, Some(sub.get_name()), &others)?));
    }
    Ok(out)
}

/// `darn man`: one page on stdout (the top level, or a subcommand's), or every page into a
/// directory.
pub fn man(subcommand: Option<&str>, dir: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    let pages = man_pages()?;
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (name, text) in &pages {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        return Ok(());
    }
    let want = subcommand.map_or_else(|| "darn.1".to_string(), |s| format!("darn-{s}.1"));
    let Some((_, text)) = pages.iter().find(|(n, _)| *n == want) else {
        let valid: Vec<String> = pages.iter().skip(1).map(|(n, _)| n["darn-".len()..n.len() - 2].to_string()).collect();
        let typed = subcommand.unwrap_or_default();
        let hint = crate::util::suggest::closest(typed, valid.iter().map(String::as_str))
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        return Err(Error::Usage(format!("no man page for `{typed}`{hint}; pages: {}", valid.join(", "))));
    };
    out.write_all(text).map_err(|e| Error::io(Path::new("<stdout>"), e))
}
