//! netlab's error type, and the exit code each kind of failure gets.

use std::path::PathBuf;

use crate::diagnostics::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is wrong; the rendering lists every problem.
    #[error("{0}")]
    Invalid(Invalid),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The command line names something that is not there (a node, a lab).
    #[error("{0}")]
    Usage(String),
    /// `exec` could not enter a node's namespace.
    #[error("{0}")]
    Enter(String),
    /// netlab will not start: no privileges, a kernel without a device kind, objects in
    /// the way, a lab that is busy. Nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Applying failed part-way; the message says what failed and what was undone.
    #[error("{0}")]
    Apply(String),
    /// `diff` found differences (already printed): exit 1, no message.
    #[error("")]
    Different,
    /// `diff` could not compare (exit 2, like diff(1)).
    #[error("{0}")]
    Compare(Box<Error>),
    /// `exec` entered the node but could not start the command.
    #[error("cannot run {}: {source}", program.display())]
    Exec { program: PathBuf, source: std::io::Error },
}

impl Error {
    /// 2 for an invalid topology or usage, 1 for anything else; `exec` that cannot start
    /// its command exits like env(1): 127 when it does not exist, 126 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Usage(_) | Error::Compare(_) => 2,
            Error::Different => 1,
            Error::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Exec { .. } => 126,
            Error::Read { .. } | Error::Io(_) | Error::Enter(_) | Error::Refused(_) | Error::Apply(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
