//! One error type for the whole crate, rendered for humans in one place (`main`).
//!
//! Messages are lowercase, name the file or the argument at fault, and say what to do when
//! that is not obvious. Corrupt files *inside runs* are not errors: they are classified.

use std::path::PathBuf;

/// Everything that stops a darn command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error(
        "not inside an experiment: no config/experiment.json in {} or any parent directory (use -C DIR)",
        .0.display()
    )]
    NotAnExperiment(PathBuf),

    #[error("{}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("unknown target `{0}`: not a node id, a glob matching nodes, or a path to something in the experiment")]
    UnknownTarget(String),

    #[error("{} is outside the experiment {}", path.display(), root.display())]
    OutsideExperiment { path: PathBuf, root: PathBuf },

    #[error("no run matches {0}")]
    NoMatch(String),

    #[error("another darn (pid {pid}) is working on this experiment; lock {} (wait for it, or remove the lock if that process is gone)", path.display())]
    Locked { path: PathBuf, pid: String },

    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code CONTRACT.md assigns to this error.
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
