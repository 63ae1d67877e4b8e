//! netlab: a declarative TOML topology in, Linux network namespaces and devices out.
//!
//! The pipeline, one module per stage:
//! `spec` (parse, with spans) -> `topology` (resolve and validate) -> `plan` (ordered ops,
//! rendered as text, JSON or an iproute2 script) -> `apply` (batches of ops sent to the
//! `kernel`, recorded in `state`). `diff` compares a plan with what the kernel shows;
//! `graph` draws a topology; `commands` holds one file per CLI command.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod diagnostics;
pub mod diff;
pub mod error;
pub mod graph;
pub mod kernel;
pub mod plan;
pub mod process;
pub mod run;
pub mod spec;
pub mod state;
pub mod topology;
pub mod tunnel;

use std::path::Path;

pub use error::{Error, Result};
pub use topology::{load_str, Topology};

/// Reads and resolves a topology file.
pub fn load(path: &Path) -> Result<Topology> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    load_str(&path.display().to_string(), &text).map_err(Error::Invalid)
}
