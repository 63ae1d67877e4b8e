//! `netlab up`: build the lab, or bring a lab that is up in line with its file.
//!
//! Everything that can be checked is checked before the first change: the file, the
//! privileges, the kernel's device kinds, the lab lock, and objects in the way that are
//! not the lab's. Then the difference between the file and the kernel is applied, in
//! the plan's order; on a lab that is already as the file says, nothing at all. With
//! `--verify`, what the run touched is read back last (`verify`): what the kernel accepted
//! and then undid by itself is reported, and `up` exits 1 with the lab up and its record
//! kept. (Not by default: on the 1000-namespace star it costs about a sixth of the `up`,
//! above the budget of issue 12; see bench/verify-up.sh.)

use std::io::Write;
use std::time::Instant;

use super::Report;
use crate::apply::{self, Printer};
use crate::cli::{OutputFormat, UpArgs};
use crate::error::{Refusal, Unverified};
use crate::kernel::probe;
use crate::plan::text::plural;
use crate::plan::Op;
use crate::process::node::Credentials;
use crate::sharing;
use crate::state::StateDir;
use crate::verify;
use crate::{Error, Result};

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
    // Host sysctls other labs may share (crate::sharing): decided under the host lock,
    // taken after the lab's, and held until the record says what this run did.
    let touches_host = super::touches_host(Some(&plan), Some(&record));
    let _host = if touches_host && !args.dry_run { Some(super::host_lock(state, &plan.lab)?) } else { None };
    let shares = super::host_shares(state, &plan.lab, touches_host)?;
    if !shares.unreadable().is_empty() && !args.dry_run {
        return Err(Refusal::UnknownShares { lab: plan.lab.clone(), unreadable: shares.unreadable().to_vec() }.into());
    }
    let mut kernel = super::kernel(state, &plan.lab)?;
    // Processes run in the topology file's directory, so a file can name scripts next to it.
    kernel.set_workdir(record.topology.as_ref().and_then(|t| t.parent()).map(std::path::Path::to_path_buf));
    let (d, live) = super::compare(&mut kernel, &plan, Some(&record), &shares)?;
    if !d.conflicts.is_empty() {
        return Err(Refusal::Conflicts { lab: plan.lab.clone(), conflicts: d.conflicts }.into());
    }

    if args.dry_run {
        out.write_all(crate::diff::text::render(&plan.lab, &d).as_bytes())?;
        return Ok(());
    }
    let json = args.format == OutputFormat::Json;
    // `stayed`: the ops applied stayed applied (not after a rollback; also when reading
    // back found that the kernel undid some of what they did).
    let report = |ops: &[Op], stayed: bool, error: Option<String>, out: &mut dyn Write| {
        let (ok, changed) = (error.is_none(), stayed && !ops.is_empty());
        let elapsed_ms = t0.elapsed().as_millis();
        super::print_json(
            out,
            &Report { version: 1, lab: &plan.lab, action: "up", ok, changed, ops, elapsed_ms, error },
        )
    };
    // The host sysctls this lab starts sharing with labs that are up, said once.
    let sharing: Vec<String> = plan
        .ops
        .iter()
        .filter_map(|op| Some((op, sharing::sharing_note(op, &shares)?)))
        .filter(|(op, _)| !record.entries.iter().any(|e| e.op == **op))
        .map(|(_, note)| note)
        .collect();
    if d.changes.is_empty() {
        if !json {
            sharing.iter().try_for_each(|note| writeln!(out, "{note}"))?;
        }
        sharing::settle(&mut record, &plan, &shares)?;
        if json {
            report(&[], false, None, out)?;
        } else {
            writeln!(out, "lab {} is up to date: nothing to change", plan.lab)?;
        }
        return Ok(());
    }

    let ops = d.ops();
    let previous: Vec<Op> =
        if args.verify { record.entries.iter().map(|e| e.op.clone()).collect() } else { Vec::new() };
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    if record.entries.is_empty() {
        writeln!(text, "# lab {}: applying {} op{}", plan.lab, ops.len(), plural(ops.len()))?;
    } else {
        writeln!(text, "# lab {} is up; applying the {} change{} to its file", plan.lab, ops.len(), plural(ops.len()))?;
    }
    sharing.iter().try_for_each(|note| writeln!(text, "{note}"))?;
    let started = Instant::now();
    apply::catch_interrupts();
    let result = apply::apply(&mut kernel, &mut record, &ops, &mut Printer::new(text, &ops));
    match result {
        Ok(()) => {
            let t = Instant::now();
            sharing::settle(&mut record, &plan, &shares)?;
            crate::timing::timing("settle", plan.ops.len(), t);
            let ms = started.elapsed().as_millis();
            writeln!(text, "lab {} is up: {} op{} in {ms} ms", plan.lab, ops.len(), plural(ops.len()))?;
            // What the kernel accepted may not be what it holds: read it back (--verify).
            let mut unverified = None;
            if args.verify {
                let t = Instant::now();
                let left = verify::read_back(&mut kernel, &plan, &record, &previous, live, &ops, &shares)
                    .map_err(Refusal::Observe)?;
                crate::timing::timing("verify", ops.len(), t);
                if left.in_sync() {
                    writeln!(text, "read back: the kernel holds what this run applied")?;
                } else {
                    unverified = Some(Error::Unverified(Unverified { lab: plan.lab.clone(), diff: left }));
                }
            }
            if json {
                report(&ops, true, unverified.as_ref().map(Error::to_string), out)?;
            }
            unverified.map_or(Ok(()), Err)
        }
        Err(failure) => {
            if json {
                report(&ops, false, Some(failure.to_string()), out)?;
            }
            Err(failure.into())
        }
    }
}
