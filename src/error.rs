//! netlab's error type, and the exit code each kind of failure gets.

use std::path::PathBuf;

use crate::diagnostics::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is wrong; the rendering lists every problem.
    #[error("{}", .0.render())]
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
    /// `exec` entered the node but could not start the command.
    #[error("cannot run {}: {source}", program.display())]
    Exec { program: PathBuf, source: std::io::Error },
}

impl Error {
    /// 2 for an invalid topology or usage, 1 for anything else; `exec` that cannot start
    /// its command exits like env(1): 127 when it does not exist, 126 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Usage(_) => 2,
            Error::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Exec { .. } => 126,
            Error::Read { .. } | Error::Io(_) | Error::Enter(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
