//! `netlab diff`: what `up` would change, read from the kernel.

use std::io::Write;

use serde::Serialize;

use crate::cli::{DiffArgs, DiffFormat};
use crate::diff::{self, Diff};
use crate::error::Refusal;
use crate::kernel::probe;
use crate::state::StateDir;
use crate::Result;

/// The answer of `diff`: whether the kernel matches the file.
pub enum Outcome {
    InSync,
    Different,
}

pub fn exec(state: &StateDir, args: &DiffArgs, out: &mut dyn Write) -> Result<Outcome> {
    let topology = crate::load(&args.file.topology)?;
    let plan = super::plan_here(state, &topology);
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let record = state.load(&plan.lab)?;
    let mut kernel = super::kernel(state, &plan.lab)?;
    let shares = super::host_shares(state, &plan.lab, super::touches_host(Some(&plan), record.as_ref()))?;
    let (d, _) = super::compare(&mut kernel, &plan, record.as_ref(), &shares)?;
    match args.format {
        DiffFormat::Text => out.write_all(diff::text::render(&plan.lab, &d).as_bytes())?,
        DiffFormat::Json => super::print_json(out, &Json::new(&plan.lab, record.is_some(), &d))?,
    }
    Ok(if d.in_sync() { Outcome::InSync } else { Outcome::Different })
}

/// `diff --format json`.
#[derive(Serialize)]
pub struct Json<'a> {
    pub version: u32,
    pub lab: &'a str,
    /// Whether the lab has a record (was brought up by netlab and not taken down).
    pub up: bool,
    pub in_sync: bool,
    pub changes: &'a [diff::Change],
    /// Objects in the way that are not the lab's.
    pub conflicts: &'a [diff::Conflict],
}

impl<'a> Json<'a> {
    pub fn new(lab: &'a str, up: bool, d: &'a Diff) -> Json<'a> {
        Json { version: 1, lab, up, in_sync: d.in_sync(), changes: &d.changes, conflicts: &d.conflicts }
    }
}
