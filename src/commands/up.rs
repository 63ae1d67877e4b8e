//! `netlab up`: build the lab, or bring a lab that is up in line with its file.
//!
//! Everything that can be checked is checked before the first change: the file, the
//! privileges, the kernel's device kinds, the lab lock, and objects in the way that are
//! not the lab's. Then the difference between the file and the kernel is applied; on a
//! lab that is already as the file says, nothing at all.

use std::io::Write;
use std::time::Instant;

use super::Report;
use crate::apply::{self, Printer};
use crate::cli::{OutputFormat, UpArgs};
use crate::error::Refusal;
use crate::kernel::probe;
use crate::plan::text::plural;
use crate::plan::Op;
use crate::process::node::Credentials;
use crate::state::StateDir;
use crate::Result;

pub fn exec(state: &StateDir, args: &UpArgs, out: &mut dyn Write) -> Result<()> {
    let t0 = Instant::now();
    let topology = crate::load(&args.file.topology)?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let plan = super::plan_here(&topology);
    // A process's user must exist before anything is changed, not half-way through.
    for p in &topology.processes {
        if let Some(user) = &p.user {
            Credentials::lookup(user).map_err(|why| Refusal::User {
                process: format!("{}:{}", p.node, p.name),
                user: user.clone(),
                why,
            })?;
        }
    }
    let missing = probe::missing_kinds(&plan.ops)?;
    if !missing.is_empty() {
        return Err(Refusal::MissingKinds { lab: plan.lab.clone(), kinds: missing }.into());
    }

    crate::timing::timing("checks", plan.ops.len(), t0);
    let _lock = state.lock(&plan.lab)?;
    let mut record = state.load(&plan.lab)?.unwrap_or_else(|| state.new_record(&plan.lab));
    record.topology = std::fs::canonicalize(&args.file.topology).ok();
    record.nodes = topology.nodes.iter().map(|n| (n.name.clone(), topology.entry_netns(n))).collect();
    let mut kernel = super::kernel(state, &plan.lab)?;
    // Processes run in the topology file's directory, so a file can name scripts next to it.
    kernel.set_workdir(record.topology.as_ref().and_then(|t| t.parent()).map(std::path::Path::to_path_buf));
    let d = super::compare(&mut kernel, &plan, Some(&record))?;
    if !d.conflicts.is_empty() {
        return Err(Refusal::Conflicts { lab: plan.lab.clone(), conflicts: d.conflicts }.into());
    }

    if args.dry_run {
        out.write_all(crate::diff::text::render(&plan.lab, &d).as_bytes())?;
        return Ok(());
    }
    let json = args.format == OutputFormat::Json;
    let report = |ops: &[Op], ok: bool, error: Option<String>, out: &mut dyn Write| {
        let changed = ok && !ops.is_empty();
        let elapsed_ms = t0.elapsed().as_millis();
        super::print_json(
            out,
            &Report { version: 1, lab: &plan.lab, action: "up", ok, changed, ops, elapsed_ms, error },
        )
    };
    if d.changes.is_empty() {
        record.settle(&plan)?;
        if json {
            report(&[], true, None, out)?;
        } else {
            writeln!(out, "lab {} is up to date: nothing to change", plan.lab)?;
        }
        return Ok(());
    }

    let ops = d.ops();
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    if record.entries.is_empty() {
        writeln!(text, "# lab {}: applying {} op{}", plan.lab, ops.len(), plural(ops.len()))?;
    } else {
        writeln!(text, "# lab {} is up; applying the {} change{} to its file", plan.lab, ops.len(), plural(ops.len()))?;
    }
    let started = Instant::now();
    apply::catch_interrupts();
    let result = apply::apply(&mut kernel, &mut record, &ops, &mut Printer::new(text, &ops));
    match result {
        Ok(()) => {
            let t = Instant::now();
            record.settle(&plan)?;
            crate::timing::timing("settle", plan.ops.len(), t);
            let ms = started.elapsed().as_millis();
            writeln!(text, "lab {} is up: {} op{} in {ms} ms", plan.lab, ops.len(), plural(ops.len()))?;
            if json {
                report(&ops, true, None, out)?;
            }
            Ok(())
        }
        Err(failure) => {
            if json {
                report(&ops, false, Some(failure.to_string()), out)?;
            }
            Err(failure.into())
        }
    }
}
