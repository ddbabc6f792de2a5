//! Every human and JSON output of darn. The engine produces data; only this module formats it.

use crate::engine::status::{AgentStatus, JudgeStatus};

/// When to use colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Where and how to print.
#[derive(Debug, Clone)]
pub struct Printer {
    pub json: bool,
    pub verbose: u8,
    pub quiet: bool,
    pub color: bool,
    /// stderr is a terminal and not quiet: progress bars may be shown.
    pub progress: bool,
}

impl Printer {
    pub fn new(json: bool, verbose: u8, quiet: bool, color: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        let progress = !quiet && std::io::stderr().is_terminal();
        Printer { json, verbose, quiet, color, progress }
    }

    /// Writes a JSON document to stdout.
    pub fn json_out<T: Serialize>(&self, value: &T) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Writes human text to stdout.
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A warning on stderr (hidden with -q or when stderr is not a terminal, as docs/contract.md#invocation says).
    pub fn warn(&self, text: &str) {
        if !self.quiet && std::io::stderr().is_terminal() {
            eprintln!("{} {text}", self.paint("warning:", Style::Yellow));
        }
    }

    pub fn paint(&self, text: &str, style: Style) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Red => "31",
            Style::Green => "32",
            Style::Yellow => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
}

/// The style of a status word: green when done, yellow when regenerable, red when it needs
/// execution.
pub fn agent_style(s: AgentStatus) -> Style {
    match s {
        AgentStatus::Completed => Style::Green,
        AgentStatus::Results => Style::Yellow,
        _ => Style::Red,
    }
}

pub fn judge_style(s: JudgeStatus) -> Style {
    match s {
        JudgeStatus::Complete => Style::Green,
        JudgeStatus::Partial => Style::Yellow,
        _ => Style::Red,
    }
}

/// A plain table: left-aligned first column, right-aligned numbers.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// `1130` → `1,130` for human counts.
pub fn count(n: usize) -> String {
    crate::py::fmt::thousands(n as i64)
}

/// "1 run" / "2 runs".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

pub mod demo;
pub mod graph;
pub mod loading;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod status;
pub mod why;
pub mod words;
