//! One error type for the whole crate. Variants carry data; every message is written here, in
//! one `Display`, and `main` prints it.
//!
//! Messages are lowercase, name the file or the argument at fault, and say what to do when that
//! is not obvious. Damaged files inside runs are not errors: they are findings.

use std::fmt;
use std::path::PathBuf;

/// Everything that stops a darn command.
#[derive(Debug)]
pub enum Error {
    Usage(String),
    NotAnExperiment(PathBuf),
    BadFile {
        path: PathBuf,
        problem: String,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file darn must read exists but cannot be read.
    Unreadable {
        path: PathBuf,
        problem: crate::util::problem::IoProblem,
    },
    UnknownTarget {
        target: String,
        suggestion: Option<String>,
        /// What the experiment has where the target points past it (`T1/00 has run_01 to run_25`).
        valid: Option<String>,
    },
    OutsideExperiment {
        path: PathBuf,
        root: PathBuf,
    },
    /// A filter value that names nothing in the experiment.
    UnknownValue {
        flag: &'static str,
        value: String,
        valid: Vec<String>,
        suggestion: Option<String>,
    },
    /// Another process holds the experiment's lock.
    Locked {
        path: PathBuf,
        pid: Option<u32>,
    },
    Interrupted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m),
            Error::NotAnExperiment(p) => write!(
                f,
                "not inside an experiment: no config/experiment.json in {} or any parent directory (use -C DIR)",
                p.display()
            ),
            Error::BadFile { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Unreadable { path, problem } => {
                write!(
                    f,
                    "{}: {}; darn changes nothing on top of a file it cannot read",
                    path.display(),
                    io_words(*problem)
                )
            }
            Error::UnknownTarget { target, suggestion, valid } => {
                write!(
                    f,
                    "unknown target `{target}`: no node has this id and no file of the experiment has this path"
                )?;
                match (valid, suggestion) {
                    (Some(v), _) => write!(f, " ({v})"),
                    (None, Some(s)) => write!(f, " (did you mean `{s}`?)"),
                    (None, None) => f.write_str(" (`darn graph --format json` lists the node ids)"),
                }
            }
            Error::OutsideExperiment { path, root } => {
                write!(f, "{} is outside the experiment {}", path.display(), root.display())
            }
            Error::UnknownValue { flag, value, valid, suggestion } => {
                write!(f, "{flag} {value}: no such value in this experiment")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean {s}?)")?;
                }
                if !valid.is_empty() {
                    write!(f, "; valid: {}", list(valid))?;
                }
                Ok(())
            }
            Error::Locked { path, pid } => {
                let who = pid.map_or_else(|| "another process".to_string(), |p| format!("another process (pid {p})"));
                write!(
                    f,
                    "{who} is working on this experiment (it holds the lock on {}); wait for it to finish",
                    path.display()
                )
            }
            Error::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// At most a dozen values, then how many more.
fn list(values: &[String]) -> String {
    if values.len() <= 12 {
        values.join(", ")
    } else {
        format!("{}, … ({} in all)", values[..12].join(", "), values.len())
    }
}

/// How an unreadable file is described.
pub fn io_words(p: crate::util::problem::IoProblem) -> &'static str {
    use crate::util::problem::IoProblem as P;
    match p {
        P::PermissionDenied => "permission denied",
        P::IsADirectory => "a directory where a file belongs",
        P::NotADirectory => "a file where a directory belongs",
        P::Unresolvable => "a symbolic link loop or a name too long",
        P::NotAFile => "a pipe, socket or device where a file belongs",
        P::Other => "cannot be read",
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The process exit code docs/contract.md#exit-codes assigns to this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Locked { .. } => 3,
            Error::Interrupted => 130,
            _ => 2,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn bad_file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BadFile { path: path.into(), problem: problem.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
