//! `netlab link NODE:IF down|up`: cut a link, or restore it, as a CI job does to test how
//! the programs in a lab cope. Both ends of a veth pair go down (or up) together; the
//! file is not changed, so `diff` reports the cut and `up` restores it.

use std::io::Write;

use super::Report;
use crate::apply::{self, Printer};
use crate::cli::{LinkArgs, OutputFormat};
use crate::error::Refusal;
use crate::kernel::probe;
use crate::plan::Op;
use crate::state::{Record, StateDir};
use crate::topology::Netns;
use crate::{Error, Result};

pub fn exec(state: &StateDir, args: &LinkArgs, out: &mut dyn Write) -> Result<()> {
    let (lab, endpoint, up) = args.parse().map_err(Error::Usage)?;
    let lab = super::lab_name(&lab)?;
    let record = super::record_of(state, &lab)?;
    let (node, ifname) = endpoint
        .split_once(':')
        .ok_or_else(|| Error::Usage(format!("`{endpoint}`: name the link by one end, as NODE:INTERFACE")))?;
    let netns = super::recorded_node_netns(&record, node)?;
    let ends = ends_of(&record, &netns, ifname).ok_or_else(|| {
        Error::Usage(format!("lab {lab} has no link {endpoint}: {node} has no interface {ifname} made by netlab"))
    })?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let ops: Vec<Op> = ends
        .into_iter()
        .map(|(netns, name)| if up { Op::LinkUp { netns, name } } else { Op::LinkDown { netns, name } })
        .collect();

    let started = std::time::Instant::now();
    let mut kernel = super::kernel(state, &lab)?;
    let names: Vec<String> = ops.iter().filter_map(|op| op.netns().name().map(str::to_string)).collect();
    for (name, r) in names.iter().zip(kernel.connect(&names)) {
        r.map_err(|source| Refusal::Enter { netns: name.clone(), source })?;
    }
    let json = args.format == OutputFormat::Json;
    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    let errors = apply::best_effort(&mut kernel, &ops, &|_, _| None, &mut Printer::new(text, &ops), None);
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
        let what = if up { "restored: both ends are up" } else { "cut: both ends are down (netlab up restores it)" };
        writeln!(out, "link {endpoint} {what}")?;
    }
    error.map_or(Ok(()), Err)
}

/// Both ends of the veth pair that has `name` in `netns`, or the device alone when it is
/// not a veth (a tunnel end, a bridge).
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
