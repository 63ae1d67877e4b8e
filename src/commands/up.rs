//! `netlab up`: build the lab, or bring a lab that is up in line with its file.
//!
//! Everything that can be checked is checked before the first change: the file, the
//! privileges, the lab lock, the kernel's device kinds, what the firewall needs of the host
//! (nft, free and unclaimed host ports, SCTP), and objects in the way that are not the
//! lab's. Another firewall that would drop the lab's forwarded traffic is warned about,
//! not refused: the lab is right, and the warning says what to add there. Then the
//! difference between the file and the kernel is applied, in the plan's order; on a lab
//! that is already as the file says, nothing at all. With `--verify`, what the run touched
//! is read back last (`verify`): what the kernel accepted and then undid by itself is
//! reported, and `up` exits 1 with the lab up and its record kept. (Not by default: on the
//! 1000-namespace star it costs about a sixth of the `up`, above the budget of issue 12;
//! see bench/verify-up.sh.)

use std::io::Write;
use std::time::Instant;

use super::{host_facts, Report};
use crate::apply::{self, Printer};
use crate::cli::{OutputFormat, UpArgs};
use crate::error::{Refusal, Unverified};
use crate::kernel::probe;
use crate::plan::text::plural;
use crate::plan::{Op, Plan};
use crate::process::node::Credentials;
use crate::sharing;
use crate::state::{Record, StateDir};
use crate::topology::{Netns, Topology};
use crate::verify;
use crate::{Error, Result};

pub fn exec(state: &StateDir, args: &UpArgs, out: &mut dyn Write) -> Result<()> {
    let t0 = Instant::now();
    let topology = crate::load(&args.file.topology)?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    // The lock before the plan: the ports a plan picks depend on the lab's record.
    let _lock = state.lock(&topology.lab)?;
    let mut record = state.load(&topology.lab)?.unwrap_or_else(|| state.new_record(&topology.lab));
    // What labs share on the host (crate::sharing): its sysctls, among them the forwarding
    // a nat network turns on, and its ports. Decided under the host lock, taken after the
    // lab's and held until the record says what this run did; before the plan when the
    // plan reads the other labs' records (whether the host forwarded before them, the
    // ports they publish), so two labs coming up at once cannot pick the same port.
    let reads_others = !topology.host.sysctls.is_empty() || topology.published.iter().any(|p| p.netns == Netns::Host);
    let mut host = None;
    if !args.dry_run && (reads_others || super::touches_host(None, Some(&record))) {
        host = Some(super::host_lock(state, &topology.lab)?);
    }
    let plan = super::plan_here(state, &topology);
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
    check_firewall(state, &topology, &plan, &record)?;
    crate::timing::timing("checks", plan.ops.len(), t0);
    record.topology = std::fs::canonicalize(&args.file.topology).ok();
    record.nodes = topology.nodes.iter().map(|n| (n.name.clone(), topology.entry_netns(n))).collect();
    let touches_host = super::touches_host(Some(&plan), Some(&record));
    if touches_host && !args.dry_run && host.is_none() {
        host = Some(super::host_lock(state, &plan.lab)?);
    }
    let _host = host;
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
    // Read once, after the lab is as its file says (its nat bridges exist to be named).
    let found = std::cell::OnceCell::new();
    let warnings = || found.get_or_init(|| host_facts::warnings(plan.ops.iter())).clone();
    // `stayed`: the ops applied stayed applied (not after a rollback; also when reading
    // back found that the kernel undid some of what they did).
    let report = |ops: &[Op], stayed: bool, error: Option<String>, out: &mut dyn Write| {
        let (ok, changed) = (error.is_none(), stayed && !ops.is_empty());
        let elapsed_ms = t0.elapsed().as_millis();
        super::print_json(
            out,
            &Report {
                version: 1,
                lab: &plan.lab,
                action: "up",
                ok,
                changed,
                ops,
                elapsed_ms,
                warnings: &warnings(),
                error,
            },
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
            print_warnings(out, &warnings())?;
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
            print_warnings(text, &warnings())?;
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

/// What `up` checks of the host before it changes anything, for a lab with a firewall:
/// `nft` to make it with, a free host port for every binding that needs one picked, and
/// every published port the host can give (see `host_facts::port_refusal`).
fn check_firewall(state: &StateDir, topology: &Topology, plan: &Plan, record: &Record) -> Result<()> {
    let firewall = plan.ops.iter().any(|op| matches!(op, Op::NftTableAdd { .. }));
    if firewall {
        if let Err(why) = probe::nft() {
            return Err(Refusal::MissingTool { lab: plan.lab.clone(), tool: "nft", package: "nftables", why }.into());
        }
    }
    for p in &topology.published {
        for b in &p.bindings {
            let published =
                plan.ports.iter().any(|q| q.node == p.node && q.spec == p.spec && q.node_port == b.node_port);
            if !published {
                let why = format!(
                    "no host port of {} is free for it",
                    b.pick_from.map_or("the ephemeral range".to_string(), |r| r.to_string())
                );
                return Err(Refusal::NoFreePort {
                    lab: plan.lab.clone(),
                    node: p.node.clone(),
                    spec: p.spec.clone(),
                    why,
                }
                .into());
            }
        }
    }
    let record = (!record.entries.is_empty()).then_some(record);
    match host_facts::port_refusal(state, plan, record) {
        Some(refusal) => Err(refusal.into()),
        None => Ok(()),
    }
}

/// `warning: ...` lines, one per other firewall that drops the lab's forwarded traffic.
fn print_warnings(out: &mut dyn Write, warnings: &[String]) -> std::io::Result<()> {
    for w in warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}
