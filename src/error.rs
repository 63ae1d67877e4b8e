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
}

impl Error {
    /// 2 for an invalid topology (as for a usage error), 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => 2,
            Error::Read { .. } | Error::Io(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
