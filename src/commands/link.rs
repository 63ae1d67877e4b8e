//! `netlab link NODE:IF down|cut|up`: cut a link, or restore it, as a CI job does to test
//! how the programs in a lab cope. `down` sets every end of the link down (both ends of
//! the veth pair, and a relay's two ends when it is impaired in userspace): the routes
//! through it go. `cut` pulls the cable instead: every frame is dropped both ways (the
//! relay's `carrier = false`, or the kernel's drops) while both ends stay up with their
//! addresses and routes. `up` undoes either. The file is not changed, so `diff` reports
//! the cut and `up` restores it.

use std::io::Write;

use super::{links, Report};
use crate::apply::{self, Printer};
use crate::cli::{LinkAction, LinkArgs, OutputFormat};
use crate::error::Refusal;
use crate::impairment::Impairment;
use crate::kernel::probe;
use crate::plan::Op;
use crate::state::{Record, StateDir};
use crate::topology::Netns;
use crate::{Error, Result};

pub fn exec(state: &StateDir, args: &LinkArgs, out: &mut dyn Write) -> Result<()> {
    let (lab, endpoint, action) = args.parse().map_err(Error::Usage)?;
    let lab = super::lab_name(&lab)?;
    let record = super::record_of(state, &lab)?;
    let (node, ifname) = endpoint
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("`{endpoint}`: name the link by one end, as NODE:INTERFACE")))?;
    let netns = super::recorded_node_netns(&record, node)?;
    let link = links::find(&record, &netns, ifname);
    let devices = match &link {
        Some(l) => l.devices.clone(),
        None => ends_of(&record, &netns, ifname).ok_or_else(|| {
            Error::Usage(format!("lab {lab} has no link {endpoint}: {node} has no interface {ifname} made by netlab"))
        })?,
    };
    if action == LinkAction::Cut && link.is_none() {
        return Err(Error::Usage(format!(
            "{endpoint} is not a veth link: netlab link ... cut pulls the cable of a [[links]] entry or a bridge-mode \
             node's eth0 (use `down` for a tunnel or a bridge)"
        )));
    }
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let _lock = state.lock(&lab)?;
    let mut record = super::record_of(state, &lab)?;

    let started = std::time::Instant::now();
    let mut kernel = super::kernel(state, &lab)?;
    let names: Vec<String> = devices.iter().filter_map(|(n, _)| n.name().map(str::to_string)).collect();
    for (name, r) in names.iter().zip(kernel.connect(&names)) {
        r.map_err(|source| Refusal::Enter { netns: name.clone(), source })?;
    }
    // The cable: pulled (`cut`), or put back (`up`, on a link that may have been cut).
    let cable = match (action, &link) {
        (LinkAction::Cut, Some(l)) => carrier_ops(&mut kernel, &record, l, false)?,
        (LinkAction::Up, Some(l)) if may_be_cut(&record, l) => carrier_ops(&mut kernel, &record, l, true)?,
        (LinkAction::Up | LinkAction::Down | LinkAction::Cut, _) => Vec::new(),
    };
    let states: Vec<Op> = match action {
        LinkAction::Cut => Vec::new(),
        LinkAction::Up => devices.into_iter().map(|(netns, name)| Op::LinkUp { netns, name }).collect(),
        LinkAction::Down => devices.into_iter().map(|(netns, name)| Op::LinkDown { netns, name }).collect(),
    };
    let ops: Vec<Op> = states.iter().chain(&cable).cloned().collect();

    let json = args.format == OutputFormat::Json;
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    let mut printer = Printer::new(text, &ops);
    // Up and down are states of the lab's links, not what it made: not recorded. A cable's
    // drops are (they are nftables tables of the lab's), so `down` removes them.
    let mut errors = apply::best_effort(&mut kernel, &states, &|_, _| None, &mut printer, None);
    if !cable.is_empty() {
        if let Err(failure) = apply::apply(&mut kernel, &mut record, &cable, &mut printer) {
            errors.push((failure.op.clone(), crate::kernel::OpError::Io(failure.to_string())));
        } else {
            super::keep_latest(&mut record);
            record.save()?;
        }
    }
    let up = action != LinkAction::Down;
    let error = (!errors.is_empty()).then(|| Error::Link { endpoint: endpoint.to_string(), up, failed: errors });
    if json {
        let (ok, elapsed_ms) = (error.is_none(), started.elapsed().as_millis());
        let report = Report {
            version: 1,
            lab: &lab,
            action: "link",
            ok,
            changed: ok,
            ops: &ops,
            elapsed_ms,
            error: error.as_ref().map(Error::to_string),
        };
        super::print_json(out, &report)?;
    } else if error.is_none() {
        let what = match action {
            LinkAction::Up => "restored: every end is up, its cable in",
            LinkAction::Down => "cut: every end is down (netlab up restores it)",
            LinkAction::Cut => "cut: every frame is dropped, both ends stay up (netlab link ... up restores it)",
        };
        writeln!(out, "link {endpoint} {what}")?;
    }
    error.map_or(Ok(()), Err)
}

/// The ops that pull a link's cable (`carrier`: false) or put it back, keeping what else
/// each direction meets.
fn carrier_ops(
    kernel: &mut crate::kernel::Linux,
    record: &Record,
    link: &links::Link,
    carrier: bool,
) -> Result<Vec<Op>> {
    let now = links::now(kernel, record, link)?;
    let new = now.imps.clone().map(|imp| (imp.carrier != carrier).then_some(Impairment { carrier, ..imp }));
    if new.iter().all(Option::is_none) {
        return Ok(Vec::new());
    }
    Ok(link.set(&now, new))
}

/// Whether a link may have its cable pulled: it has a relay, or the record has a drop at
/// one of its ends (`cut` records one).
fn may_be_cut(record: &Record, link: &links::Link) -> bool {
    link.relay.is_some()
        || record.entries.iter().any(|e| {
            matches!(&e.op, Op::DropSet { netns, dev, .. } if link.ends.iter().any(|(n, d)| n == netns && d == dev))
        })
}

/// The device alone when it is not a veth (a tunnel end, a bridge): what `down` and `up`
/// set; a veth's ends are the link's (see `links`).
fn ends_of(record: &Record, netns: &Netns, name: &str) -> Option<Vec<(Netns, String)>> {
    record.entries.iter().map(|e| e.op.made_links()).find(|links| links.iter().any(|(n, l)| n == netns && l == name))
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;
    use crate::state::{Entry, StateDir};

    #[test]
    fn a_link_is_named_by_either_end_and_cut_at_both() {
        let mut record = StateDir::new("/nonexistent").new_record("lab");
        let veth = Op::VethAdd {
            netns: Netns::Named("a".into()),
            name: "p1".into(),
            mac: None,
            peer_netns: Netns::Host,
            peer_name: "a-p1".into(),
            peer_mac: None,
            mtu: None,
        };
        let bridge = Op::BridgeAdd { netns: Netns::Host, name: "br0".into(), mtu: None };
        record.entries = vec![Entry::pending(bridge), Entry::pending(veth)];
        let both = Some(vec![(Netns::Named("a".into()), "p1".to_string()), (Netns::Host, "a-p1".to_string())]);
        assert_eq!(ends_of(&record, &Netns::Named("a".into()), "p1"), both);
        assert_eq!(ends_of(&record, &Netns::Host, "a-p1"), both);
        assert_eq!(ends_of(&record, &Netns::Host, "br0"), Some(vec![(Netns::Host, "br0".to_string())]));
        assert_eq!(ends_of(&record, &Netns::Named("a".into()), "lo"), None);
    }

    #[test]
    fn a_link_that_could_not_be_set_says_which_end_and_why() {
        let op = Op::LinkDown { netns: Netns::Named("a".into()), name: "p1".into() };
        let e = Error::Link { endpoint: "a:p1".into(), up: false, failed: vec![(op, Errno::EPERM.into())] };
        assert_eq!(e.to_string(), "could not set a:p1 down: a p1: Operation not permitted (EPERM)");
        assert_eq!(e.exit_code(), 1);
    }
}
