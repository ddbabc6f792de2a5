//! Command templates from `darn.toml` (docs/contract.md#configuration): an argv list whose elements may hold
//! `{placeholder}`s, and groups (nested lists) that vanish when one of their placeholders has no
//! value, so optional flags such as `["--max-turns", "{max_turns}"]` need no special syntax.
//!
//! Syntax, chosen so that JSON or shell text passed as an argument survives untouched:
//! - `{name}`, where `name` is an identifier (an ASCII letter or `_`, then letters, digits and
//!   `_`), is a placeholder. A known name is
//!   replaced; an unknown one is an error, because a typo (`{modle}`) would otherwise reach the
//!   agent as a literal argument and fail far from its cause.
//! - Any other `{` (`{}`, `{"a": 1}`, `{ model }`, a trailing `{`) is kept as it is.
//! - `{{` is an escaped `{`: `{{model}` is the literal text `{model}`. `}` is never special.
//!
//! The result is always an argv (`Vec<String>`), never a shell string: no quoting can go wrong.

use crate::experiment::settings::ArgTemplate;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The placeholders a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placeholder {
    /// The model id (agent model, or the judge model of the slot).
    Model,
    /// Absolute path of the prompt file (`agent/prompt.md`, or the run's `judge_prompt.md`).
    Prompt,
    /// Absolute path of the run directory.
    RunDir,
    /// Absolute path of the run's workspace.
    Workspace,
    /// The judge slot number, unpadded (`1`).
    Slot,
    /// The experiment's `max_turns`, absent when null.
    MaxTurns,
    /// The timeout in whole seconds.
    TimeoutS,
    /// The judge system prompt file (`[judge] system_prompt`).
    SystemPrompt,
}

impl Placeholder {
    /// Every placeholder, in the order docs/contract.md#command-templates lists them.
    pub const ALL: [Placeholder; 8] = [
        Placeholder::Model,
        Placeholder::Prompt,
        Placeholder::RunDir,
        Placeholder::Workspace,
        Placeholder::Slot,
        Placeholder::MaxTurns,
        Placeholder::TimeoutS,
        Placeholder::SystemPrompt,
    ];

    /// The name written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Model => "model",
            Placeholder::Prompt => "prompt",
            Placeholder::RunDir => "run_dir",
            Placeholder::Workspace => "workspace",
            Placeholder::Slot => "slot",
            Placeholder::MaxTurns => "max_turns",
            Placeholder::TimeoutS => "timeout_s",
            Placeholder::SystemPrompt => "system_prompt",
        }
    }

    /// The placeholder called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// The values available for one expansion; a placeholder without a value is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    values: [Option<String>; 8],
}

impl Values {
    /// No values at all.
    pub fn new() -> Self {
        Values::default()
    }

    /// Sets (or, with `None`, clears) one value.
    pub fn set(&mut self, p: Placeholder, value: Option<String>) -> &mut Self {
        self.values[p.index()] = value;
        self
    }

    /// Builder form of [`Values::set`] with a present value.
    pub fn with(mut self, p: Placeholder, value: impl Into<String>) -> Self {
        self.values[p.index()] = Some(value.into());
        self
    }

    /// Sets a path value. Arguments are strings, so a path that is not UTF-8 is refused rather
    /// than passed on mangled.
    pub fn with_path(self, p: Placeholder, path: &Path) -> Result<Self, TemplateError> {
        match path.to_str() {
            Some(s) => Ok(self.with(p, s)),
            None => Err(TemplateError::NonUtf8Path { placeholder: p, path: path.to_path_buf() }),
        }
    }

    /// Sets `{timeout_s}` from a duration, in whole seconds rounded up so that a sub-second
    /// remainder never turns into a shorter limit for the program.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        self.with(Placeholder::TimeoutS, secs.to_string())
    }

    /// The value of `p`, if it has one.
    pub fn get(&self, p: Placeholder) -> Option<&str> {
        self.values[p.index()].as_deref()
    }
}

/// Why a template could not be expanded. Every message names the config key (`[agent] command`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "{key}: unknown placeholder `{{{name}}}` (known: {known}; write `{{{{` for a literal `{{`)",
        known = known_list()
    )]
    Unknown { key: String, name: String },

    #[error(
        "{key}: placeholder `{placeholder}` has no value here; put it in a group, e.g. \
         [\"--flag\", \"{placeholder}\"], to leave the argument out when it has none"
    )]
    Missing { key: String, placeholder: Placeholder },

    #[error("{key}: placeholder `{placeholder}` has no value")]
    MissingPath { key: String, placeholder: Placeholder },

    #[error("{key}: the command is empty (no program to run)")]
    Empty { key: String },

    #[error("{key}: expands to an empty path")]
    EmptyPath { key: String },

    #[error("value of `{placeholder}` is not valid UTF-8: {}", path.display())]
    NonUtf8Path { placeholder: Placeholder, path: PathBuf },
}

impl TemplateError {
    /// The crate error for a broken template: a config error (exit 2), attributed to the config
    /// file when there is one.
    pub fn into_error(self, config: Option<&Path>) -> crate::error::Error {
        match config {
            Some(path) => crate::error::Error::bad_file(path, self.to_string()),
            None => crate::error::Error::Usage(self.to_string()),
        }
    }
}

fn known_list() -> String {
    Placeholder::ALL.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// One piece of a parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(Placeholder),
}

/// Splits a template string into literal text and placeholders.
fn parse<'a>(text: &'a str, key: &str) -> Result<Vec<Piece<'a>>, TemplateError> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            // `{{` → `{`: keep the first brace, drop the second.
            pieces.push(Piece::Text(&text[literal_start..=i]));
            i += 2;
            literal_start = i;
            continue;
        }
        let name_len = bytes[i + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
        let close = i + 1 + name_len;
        let starts_like_a_name = bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
        if !starts_like_a_name || bytes.get(close) != Some(&b'}') {
            i += 1;
            continue;
        }
        let name = &text[i + 1..close];
        let Some(p) = Placeholder::from_name(name) else {
            return Err(TemplateError::Unknown { key: key.to_string(), name: name.to_string() });
        };
        if literal_start < i {
            pieces.push(Piece::Text(&text[literal_start..i]));
        }
        pieces.push(Piece::Var(p));
        i = close + 1;
        literal_start = i;
    }
    if literal_start < text.len() {
        pieces.push(Piece::Text(&text[literal_start..]));
    }
    Ok(pieces)
}

/// Substitutes values; `Err(p)` names the first placeholder without one.
fn render(pieces: &[Piece<'_>], values: &Values) -> Result<String, Placeholder> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(p) => out.push_str(values.get(*p).ok_or(*p)?),
        }
    }
    Ok(out)
}

/// Expands a command template into an argv. `key` names the config entry in messages
/// (`[agent] command`). Groups with a placeholder lacking a value are dropped whole; a
/// placeholder lacking a value outside a group, an unknown placeholder anywhere (even in a
/// dropped group) and an empty result are errors.
pub fn expand_command(template: &[ArgTemplate], values: &Values, key: &str) -> Result<Vec<String>, TemplateError> {
    let mut argv = Vec::with_capacity(template.len());
    for element in template {
        match element {
            ArgTemplate::Arg(text) => {
                let pieces = parse(text, key)?;
                let arg = render(&pieces, values)
                    .map_err(|placeholder| TemplateError::Missing { key: key.to_string(), placeholder })?;
                argv.push(arg);
            }
            ArgTemplate::Group(items) => {
                // Parse every item before deciding, so a typo inside a dropped group is still
                // reported instead of hiding until the day the group is kept.
                let parsed = items.iter().map(|t| parse(t, key)).collect::<Result<Vec<_>, _>>()?;
                let rendered: Result<Vec<String>, Placeholder> = parsed.iter().map(|p| render(p, values)).collect();
                if let Ok(args) = rendered {
                    argv.extend(args);
                }
            }
        }
    }
    if argv.first().is_none_or(String::is_empty) {
        return Err(TemplateError::Empty { key: key.to_string() });
    }
    Ok(argv)
}

/// Expands the `stdin` template (a path, e.g. `{prompt}`). A missing value is an error: there
/// is no group to drop it from.
pub fn expand_path(template: &str, values: &Values, key: &str) -> Result<PathBuf, TemplateError> {
    let pieces = parse(template, key)?;
    let text = render(&pieces, values)
        .map_err(|placeholder| TemplateError::MissingPath { key: key.to_string(), placeholder })?;
    if text.is_empty() {
        return Err(TemplateError::EmptyPath { key: key.to_string() });
    }
    Ok(PathBuf::from(text))
}

/// Checks a command template without values: unknown placeholders are reported at config load
/// instead of at the first execution.
pub fn validate_command(template: &[ArgTemplate], key: &str) -> Result<(), TemplateError> {
    if template.is_empty() {
        return Err(TemplateError::Empty { key: key.to_string() });
    }
    for element in template {
        match element {
            ArgTemplate::Arg(text) => {
                parse(text, key)?;
            }
            ArgTemplate::Group(items) => {
                for text in items {
                    parse(text, key)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks a path template (`stdin`) without values.
pub fn validate_path(template: &str, key: &str) -> Result<(), TemplateError> {
    parse(template, key).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(s: &str) -> ArgTemplate {
        ArgTemplate::Arg(s.to_string())
    }

    fn group(items: &[&str]) -> ArgTemplate {
        ArgTemplate::Group(items.iter().map(|s| s.to_string()).collect())
    }

    fn agent_template() -> Vec<ArgTemplate> {
        vec![
            arg("claude"),
            arg("--model"),
            arg("{model}"),
            arg("--print"),
            group(&["--max-turns", "{max_turns}"]),
            arg("{prompt}"),
        ]
    }

    #[test]
    fn placeholders_are_substituted_and_groups_kept_when_complete() {
        let values = Values::new()
            .with(Placeholder::Model, "claude-opus-4-6")
            .with(Placeholder::Prompt, "/x/run_01/agent/prompt.md")
            .with(Placeholder::MaxTurns, "30");
        let argv = expand_command(&agent_template(), &values, "[agent] command").expect("expands");
        assert_eq!(
            argv,
            ["claude", "--model", "claude-opus-4-6", "--print", "--max-turns", "30", "/x/run_01/agent/prompt.md"]
        );
    }

    #[test]
    fn a_group_with_a_missing_value_is_dropped_whole() {
        let values = Values::new().with(Placeholder::Model, "m").with(Placeholder::Prompt, "/p");
        let argv = expand_command(&agent_template(), &values, "[agent] command").expect("expands");
        assert_eq!(argv, ["claude", "--model", "m", "--print", "/p"]);
        // A group without placeholders is always kept.
        let t = vec![arg("x"), group(&["--verbose"]), group(&[])];
        assert_eq!(expand_command(&t, &values, "k").expect("expands"), ["x", "--verbose"]);
    }

    #[test]
    fn a_missing_value_outside_a_group_is_an_error_naming_key_and_placeholder() {
        let values = Values::new().with(Placeholder::Model, "m");
        let err = expand_command(&agent_template(), &values, "[agent] command").expect_err("prompt missing");
        assert_eq!(err, TemplateError::Missing { key: "[agent] command".into(), placeholder: Placeholder::Prompt });
        let msg = err.to_string();
        assert!(msg.starts_with("[agent] command: placeholder `{prompt}` has no value"), "{msg}");
    }

    #[test]
    fn unknown_placeholders_are_errors_even_in_dropped_groups() {
        let values = Values::new().with(Placeholder::Model, "m");
        let err = expand_command(&[arg("run"), arg("--model={modle}")], &values, "[judge] command").expect_err("typo");
        assert_eq!(err, TemplateError::Unknown { key: "[judge] command".into(), name: "modle".into() });
        let msg = err.to_string();
        assert!(msg.contains("[judge] command: unknown placeholder `{modle}`"), "{msg}");
        assert!(msg.contains("{system_prompt}"), "lists the known names: {msg}");
        let dropped = [arg("run"), group(&["--turns", "{max_turns}", "{nope}"])];
        assert!(matches!(expand_command(&dropped, &values, "k"), Err(TemplateError::Unknown { .. })));
        assert!(validate_command(&dropped, "k").is_err());
        assert!(validate_command(&agent_template(), "k").is_ok());
    }

    #[test]
    fn braces_that_are_not_placeholders_are_literal_and_double_brace_escapes() {
        let values = Values::new().with(Placeholder::Model, "m").with(Placeholder::Slot, "2");
        let cases: &[(&str, &str)] = &[
            (r#"{"model": "{model}"}"#, r#"{"model": "m"}"#),
            ("{}", "{}"),
            ("{0}", "{0}"),
            ("{1:>8}", "{1:>8}"),
            ("{ model }", "{ model }"),
            ("a{", "a{"),
            ("{model", "{model"),
            ("{{model}", "{model}"),
            ("{{{model}", "{m"),
            ("{{", "{"),
            ("}}", "}}"),
            ("judge_{slot}.log", "judge_2.log"),
            ("{model}{slot}", "m2"),
            ("né{model}é", "némé"),
        ];
        for (template, expected) in cases {
            let argv = expand_command(&[arg("prog"), arg(template)], &values, "k").expect(template);
            assert_eq!(argv[1], *expected, "template {template:?}");
        }
    }

    #[test]
    fn empty_commands_are_errors() {
        let values = Values::new();
        assert_eq!(expand_command(&[], &values, "k"), Err(TemplateError::Empty { key: "k".into() }));
        // Everything dropped: still no program.
        let t = [group(&["{max_turns}"])];
        assert_eq!(expand_command(&t, &values, "k"), Err(TemplateError::Empty { key: "k".into() }));
        assert!(validate_command(&[], "k").is_err());
    }

    #[test]
    fn stdin_paths() {
        let values = Values::new().with(Placeholder::Prompt, "/r/judge_prompt.md");
        assert_eq!(
            expand_path("{prompt}", &values, "[judge] stdin").expect("path"),
            PathBuf::from("/r/judge_prompt.md")
        );
        let err = expand_path("{run_dir}/x", &values, "[judge] stdin").expect_err("no run_dir");
        assert_eq!(err.to_string(), "[judge] stdin: placeholder `{run_dir}` has no value");
        assert!(matches!(expand_path("{prompts}", &values, "[judge] stdin"), Err(TemplateError::Unknown { .. })));
        assert!(matches!(expand_path("", &values, "[judge] stdin"), Err(TemplateError::EmptyPath { .. })));
        assert!(validate_path("{prompt}", "k").is_ok());
    }

    #[test]
    fn values_helpers() {
        let v = Values::new().with_timeout(Duration::from_millis(1500));
        assert_eq!(v.get(Placeholder::TimeoutS), Some("2"));
        let v = Values::new().with_timeout(Duration::from_secs(1200));
        assert_eq!(v.get(Placeholder::TimeoutS), Some("1200"));
        let mut v = Values::new().with_path(Placeholder::RunDir, Path::new("/a/run_01")).expect("utf-8");
        assert_eq!(v.get(Placeholder::RunDir), Some("/a/run_01"));
        v.set(Placeholder::RunDir, None);
        assert_eq!(v.get(Placeholder::RunDir), None);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let bad = Path::new(std::ffi::OsStr::from_bytes(b"/a/\xff"));
            assert!(matches!(
                Values::new().with_path(Placeholder::Workspace, bad),
                Err(TemplateError::NonUtf8Path { placeholder: Placeholder::Workspace, .. })
            ));
        }
        for p in Placeholder::ALL {
            assert_eq!(Placeholder::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn config_errors_point_at_the_file() {
        let err = TemplateError::Empty { key: "[agent] command".into() };
        let e = err.clone().into_error(Some(Path::new("/e/darn.toml")));
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "/e/darn.toml: [agent] command: the command is empty (no program to run)");
        assert_eq!(err.into_error(None).to_string(), "[agent] command: the command is empty (no program to run)");
    }
}
