//! `netlab impair NODE:IF ... [--both] | --clear`: replaces what the frames leaving one
//! end of a link (or both) meet, in a lab that is up, at once and touching nothing else.
//! The file is not changed: `diff` shows the difference and `up` puts the file's back.
//!
//! A link impaired in userspace is told through its relay's control socket (the reply
//! comes once the change is in force). Any other link gets the kernel's smallest
//! machinery for it, as `up` would have made it (see `impair::kernel`); what only a relay
//! can do (a seed; a delay on a kernel without netem) needs the link's relay, which only
//! the file can give it (`impair = {}`), and netlab says so.

use std::io::Write;
use std::time::Instant;

use super::{links, Report};
use crate::apply::{self, Printer};
use crate::cli::{ImpairArgs, OutputFormat};
use crate::error::Refusal;
use crate::kernel::probe;
use crate::plan::text::plural;
use crate::state::Record;
use crate::topology::Netns;
use crate::{Error, Result};

pub fn exec(state: &crate::state::StateDir, args: &ImpairArgs, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let (lab, endpoint) = args.lab_and_end().map_err(Error::Usage)?;
    let imp = args.impairment().map_err(Error::Usage)?;
    let lab = super::lab_name(&lab)?;
    let record = super::record_of(state, &lab)?;
    let link = find_link(&record, &lab, endpoint)?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let _lock = state.lock(&lab)?;
    // The record as it is now that no other netlab changes the lab.
    let mut record = super::record_of(state, &lab)?;
    let mut kernel = super::kernel(state, &lab)?;

    let new = [Some(imp.clone()), args.both.then(|| imp.clone())];
    let ops = match &link.relay {
        Some(_) => link.set(&links::Now::unknown(), new),
        None => {
            if imp.seed.is_some() {
                return Err(no_relay(endpoint, "a seed needs the userspace relay"));
            }
            let now = links::now(&mut kernel, &record, &link)?;
            let ops = link.set(&now, new);
            // What the lab already made, this kernel can make: only the rest is tried.
            let made: Vec<_> = record.entries.iter().filter(|e| !e.pending).filter_map(|e| e.op.feature()).collect();
            let untried: Vec<crate::plan::Op> =
                ops.iter().filter(|op| op.feature().is_some_and(|f| !made.contains(&f))).cloned().collect();
            let missing = probe::missing_kinds(&untried)?;
            if !missing.is_empty() {
                let what: Vec<String> =
                    missing.iter().map(|f| format!("{} ({})", f.name(), f.config_option())).collect();
                return Err(no_relay(endpoint, &format!("this kernel has no {}", what.join(" nor "))));
            }
            ops
        }
    };

    let json = args.format == OutputFormat::Json;
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    writeln!(
        text,
        "# lab {lab}: impairing {}, {} op{}",
        ends_named(&record, &link, args.both),
        ops.len(),
        plural(ops.len())
    )?;
    let result = apply::apply(&mut kernel, &mut record, &ops, &mut Printer::new(text, &ops));
    if result.is_ok() {
        super::keep_latest(&mut record);
        record.save()?;
    }
    let ms = started.elapsed().as_millis();
    if json {
        let (ok, error) = (result.is_ok(), result.as_ref().err().map(|f| f.to_string()));
        let report = Report {
            version: 1,
            lab: &lab,
            action: "impair",
            ok,
            changed: ok,
            ops: &ops,
            elapsed_ms: ms,
            warnings: &[],
            error,
        };
        super::print_json(out, &report)?;
    }
    result?;
    if !json {
        for (i, end) in link.ends.iter().enumerate().take(if args.both { 2 } else { 1 }) {
            let to = &link.ends[1 - i];
            writeln!(out, "{} -> {}: {imp}", name_of(&record, end), name_of(&record, to))?;
        }
        writeln!(out, "in force after {ms} ms")?;
    }
    Ok(())
}

/// The link whose end is NODE:IF, from the record.
fn find_link(record: &Record, lab: &str, endpoint: &str) -> Result<links::Link> {
    let (node, ifname) = endpoint
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("`{endpoint}`: name the link by one end, as NODE:INTERFACE")))?;
    let netns = super::recorded_node_netns(record, node)?;
    links::find(record, &netns, ifname).ok_or_else(|| {
        Error::Usage(format!(
            "lab {lab} has no link {endpoint}: {node} has no veth {ifname} made by netlab (netlab impair works on \
             [[links]] and bridge-mode nodes' eth0)"
        ))
    })
}

/// The refusal for what only a relay can do, on a link without one.
fn no_relay(endpoint: &str, why: &str) -> Error {
    Error::Usage(format!(
        "the link of {endpoint} has no relay (the file does not impair it in userspace), and {why}; to impair it in \
         any way at run time, give it one in the file (`impair = {{}}` on its [[links]] entry, or on the node) and \
         run netlab up"
    ))
}

/// A device as people name it: NODE:IF for a node's, else NAMESPACE:IF.
pub(crate) fn name_of(record: &Record, (netns, dev): &(Netns, String)) -> String {
    let node = record.nodes.iter().find(|(_, n)| *n == netns).map(|(name, _)| name.clone());
    match (node, netns) {
        (Some(node), _) => format!("{node}:{dev}"),
        (None, Netns::Host) => format!("host:{dev}"),
        (None, Netns::Named(n)) => format!("{n}:{dev}"),
    }
}

fn ends_named(record: &Record, link: &links::Link, both: bool) -> String {
    let first = name_of(record, &link.ends[0]);
    if both {
        format!("both directions of {first} <-> {}", name_of(record, &link.ends[1]))
    } else {
        format!("the frames {first} sends")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::keep_latest;
    use crate::impairment::Impairment;
    use crate::plan::Op;
    use crate::state::{Entry, StateDir};

    #[test]
    fn a_replaced_qdisc_or_drop_is_recorded_once() {
        let mut record = StateDir::new("/nonexistent").new_record("x");
        let qdisc = |rate: &str| Op::QdiscReplace {
            netns: Netns::Host,
            dev: "v".into(),
            kind: crate::impair::kernel::QdiscKind::Tbf,
            impairment: format!("rate={rate}").parse::<Impairment>().unwrap(),
        };
        let up = Op::LinkUp { netns: Netns::Host, name: "v".into() };
        record.entries =
            vec![Entry::pending(qdisc("1mbit")), Entry::pending(up.clone()), Entry::pending(qdisc("2mbit"))];
        keep_latest(&mut record);
        let ops: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
        assert_eq!(ops, [up, qdisc("2mbit")]);
    }
}
