//! `netlab diff`: what `up` would change, read from the kernel.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::cli::{DiffArgs, DiffFormat};
use crate::diff::{self, Diff};
use crate::kernel::{probe, Kernel};
use crate::state::Record;
use crate::{Error, Result};

/// The answer of `diff`: whether the kernel matches the file.
pub enum Outcome {
    InSync,
    Different,
}

pub fn exec(args: &DiffArgs, out: &mut dyn Write) -> Result<Outcome> {
    let topology = crate::load(&args.file.topology)?;
    let plan = probe::plan_here(&topology);
    if let Some(why) = probe::privileges() {
        return Err(Error::Refused(why));
    }
    let record = Record::load(&plan.lab)?;
    let mut kernel = Kernel::new(&plan.lab)?;
    let d = super::compare(&mut kernel, &plan, record.as_ref())?;
    match args.format {
        DiffFormat::Text => out.write_all(render_text(&plan.lab, &d).as_bytes())?,
        DiffFormat::Json => super::print_json(out, &Json::new(&plan.lab, record.is_some(), &d))?,
    }
    Ok(if d.changes.is_empty() && d.conflicts.is_empty() { Outcome::InSync } else { Outcome::Different })
}

/// `+` missing, `-` not wanted, `~` different (with the field: file, kernel), `!` in the
/// way, aligned like the text plan.
pub fn render_text(lab: &str, d: &Diff) -> String {
    if d.changes.is_empty() && d.conflicts.is_empty() {
        return format!("lab {lab}: in sync with its file\n");
    }
    let n = d.changes.len();
    let mut out = format!("# lab {lab}: {n} change{}\n", crate::apply::plural(n));
    let kind_w = d.changes.iter().map(|c| crate::plan::text::kind(&c.op).len()).max().unwrap_or(0);
    let ns_w = d.changes.iter().map(|c| c.op.netns().to_string().len()).max().unwrap_or(0);
    for c in &d.changes {
        let note = c
            .field
            .as_ref()
            .map_or(String::new(), |f| format!("    ({}: file {}, kernel {})", f.field, f.desired, f.actual));
        let line = format!(
            "{} {:<kind_w$}  {:<ns_w$}  {}{note}",
            c.change.symbol(),
            crate::plan::text::kind(&c.op),
            c.op.netns().to_string(),
            crate::plan::text::detail(&c.op)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for c in &d.conflicts {
        let _ = writeln!(out, "! {c}");
    }
    out
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
    pub conflicts: &'a [String],
}

impl<'a> Json<'a> {
    pub fn new(lab: &'a str, up: bool, d: &'a Diff) -> Json<'a> {
        Json {
            version: 1,
            lab,
            up,
            in_sync: d.changes.is_empty() && d.conflicts.is_empty(),
            changes: &d.changes,
            conflicts: &d.conflicts,
        }
    }
}
