//! netlab: a declarative TOML topology in, Linux network namespaces and devices out.
//!
//! The pipeline, one module per stage:
//! `spec` (parse, with spans) -> `topology` (resolve and validate) -> `plan` (ordered ops,
//! rendered as text, JSON or an iproute2 script) -> `diff` (the plan against what the
//! kernel shows, `live`, and what the lab's record in `state` says it made, by the rules
//! of `ownership`) -> `apply` (batches of ops sent through the `kernel` seam, recorded in
//! `state`), then `verify` (what the run touched, read back and compared again). `places`
//! opens netlab's own directories and files so that nothing planted there redirects them.
//! `graph` draws a topology; `commands` holds one file per CLI command; `tunnel`
//! is the userspace forwarder. ARCHITECTURE.md has the map and the layering rules.

pub(crate) mod apply;
pub mod cli;
pub mod commands;
pub mod diagnostics;
pub(crate) mod diff;
pub mod error;
pub mod firewall;
pub mod graph;
pub mod impair;
pub mod impairment;
pub(crate) mod kernel;
pub(crate) mod live;
pub(crate) mod ownership;
pub(crate) mod places;
pub mod plan;
pub mod process;
pub mod run;
pub(crate) mod sharing;
pub mod spec;
pub(crate) mod state;
#[cfg(test)]
mod testing;
pub(crate) mod timing;
pub mod topology;
pub mod tunnel;
pub(crate) mod verify;

use std::path::Path;

pub use error::{Error, Result};
pub use topology::{load_str, Topology};

/// Reads and resolves a topology file. A file that is too large or not UTF-8 is invalid
/// (see [`topology::source`]), like one that does not parse or resolve.
pub fn load(path: &Path) -> Result<Topology> {
    let text = topology::source::read(path).map_err(|e| match e {
        topology::source::Unreadable::Io(source) => Error::Read { path: path.to_path_buf(), source },
        topology::source::Unreadable::Invalid(invalid) => Error::Invalid(invalid),
    })?;
    load_str(&path.display().to_string(), &text).map_err(Error::Invalid)
}
