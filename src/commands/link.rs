//! `netlab link NODE:IF down|cut|up`: cut a link, or restore it, as a CI job does to test
//! how the programs in a lab cope. `down` sets every end of the link down (both ends of
//! the veth pair, and a relay's two ends when it is impaired in userspace): the routes
//! through it go, and its static IPv6 addresses (keep_addr_on_down is 0), and `down` says
//! what the kernel took, read before and after. `cut` pulls the cable instead: every frame
//! is dropped both ways (the relay's `carrier = false`, or the kernel's drops) while both
//! ends stay up with their addresses and routes. `up` undoes either: every end up, then
//! what the lab's record has on them that the kernel does not (their addresses, then the
//! routes with `dev IF` or a gateway inside one of their prefixes; a bridge-mode node's
//! default route via its gateway too), then the cable. The record, not the file: `link
//! --lab` works without it. The file is not changed, so `diff` reports the cut and `up`
//! restores it.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use super::{links, Report};
use crate::apply::{self, Printer};
use crate::cli::{LinkAction, LinkArgs, OutputFormat};
use crate::error::Refusal;
use crate::impairment::Impairment;
use crate::kernel::{probe, Families, Kernel, Scope};
use crate::live::{LiveLab, LiveNetns};
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
    // What the kernel has on the link's namespaces now: what `up` puts back is measured
    // against it, what `down` takes is what it shows after less what it shows now.
    let recorded: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
    let known: Vec<&Op> = recorded.iter().collect();
    let scope = scope_of(&devices);
    let before = match action {
        LinkAction::Cut => LiveLab::default(),
        LinkAction::Up | LinkAction::Down => kernel.observe(&known, Scope::Only(&scope)).map_err(Refusal::Observe)?,
    };
    let states: Vec<Op> = match action {
        LinkAction::Cut => Vec::new(),
        LinkAction::Up => {
            let back = restoring(&record, &devices, &before);
            devices
                .iter()
                .map(|(netns, name)| Op::LinkUp { netns: netns.clone(), name: name.clone() })
                .chain(back)
                .collect()
        }
        LinkAction::Down => {
            devices.iter().map(|(netns, name)| Op::LinkDown { netns: netns.clone(), name: name.clone() }).collect()
        }
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
    let taken = match action {
        LinkAction::Down => {
            let after = kernel.observe(&known, Scope::Only(&scope)).map_err(Refusal::Observe)?;
            taken(&devices, &before, &after)
        }
        LinkAction::Up | LinkAction::Cut => Vec::new(),
    };
    let up = action != LinkAction::Down;
    let error = (!errors.is_empty()).then(|| Error::Link { endpoint: endpoint.to_string(), up, failed: errors });
    if json {
        let (ok, elapsed_ms) = (error.is_none(), started.elapsed().as_millis());
        let report = Report {
            warnings: &[],
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
            LinkAction::Up => format!("restored: every end is up, its cable in{}", restored(&states)),
            LinkAction::Down => "cut: every end is down (netlab link ... up, or netlab up, restores it)".to_string(),
            LinkAction::Cut => "cut: every frame is dropped, both ends stay up (netlab link ... up restores it)".into(),
        };
        writeln!(out, "link {endpoint} {what}")?;
        if !taken.is_empty() {
            writeln!(out, "the kernel took with it (link ... up puts them back):")?;
        }
        let columns = crate::plan::text::Columns::of(&taken);
        for op in &taken {
            writeln!(out, "{}", columns.line("-", op, ""))?;
        }
    }
    error.map_or(Ok(()), Err)
}

/// The namespaces the ends are in, every family.
fn scope_of(ends: &[(Netns, String)]) -> HashMap<Netns, Families> {
    ends.iter().map(|(netns, _)| (netns.clone(), Families::BOTH)).collect()
}

/// What the kernel took from the namespaces of `devices` between `before` and `after`:
/// the routes and addresses (not the kernel's own) that were there and are not, as the
/// ops that would remove them.
fn taken(devices: &[(Netns, String)], before: &LiveLab, after: &LiveLab) -> Vec<Op> {
    let namespaces: BTreeSet<&Netns> = devices.iter().map(|(n, _)| n).collect();
    let mut out = Vec::new();
    for netns in namespaces {
        if let (Some(was), Some(is)) = (before.netns(netns), after.netns(netns)) {
            out.extend(gone(netns, was, is));
        }
    }
    out
}

/// What `was` had that `is` has not, as the ops that remove it: addresses, then routes
/// (not the kernel's own: link-local addresses, connected routes).
fn gone(netns: &Netns, was: &LiveNetns, is: &LiveNetns) -> Vec<Op> {
    let name = |index: u32| was.link_by_index(index).map(|l| l.name.clone());
    let mut out = Vec::new();
    for a in was.addrs.iter().filter(|a| !a.kernel_made()) {
        let Some(dev) = name(a.index) else { continue };
        if !is.has_addr(&dev, a.address, a.peer) {
            out.push(Op::AddrDel { netns: netns.clone(), dev, address: a.address, peer: a.peer });
        }
    }
    for r in was.routes.iter().filter(|r| !r.kernel_made()) {
        if !is.routes.iter().any(|x| x.table == r.table && x.dst == r.dst && x.via == r.via) {
            out.push(Op::RouteDel { netns: netns.clone(), to: r.dst, via: r.via, dev: r.oif.and_then(name) });
        }
    }
    out
}

/// What the lab's record has on the interfaces `ends` that `live` lacks, in the order
/// to put it back: their addresses, then the routes in their namespaces that leave
/// through them (`dev IF`) or through a gateway inside one of their prefixes.
pub(crate) fn restoring(record: &Record, ends: &[(Netns, String)], live: &LiveLab) -> Vec<Op> {
    let recorded = || record.entries.iter().map(|e| &e.op);
    let mut addrs = Vec::new();
    let mut routes = Vec::new();
    for (netns, name) in ends {
        let on_it: Vec<&Op> = recorded()
            .filter(|op| matches!(op, Op::AddrAdd { netns: n, dev, .. } if n == netns && dev == name))
            .collect();
        // A gateway is reached through the interface when it is in one of its subnets, or
        // is the other end of one of its point-to-point addresses.
        let reaches = |gateway: &std::net::IpAddr| {
            on_it.iter().any(|op| {
                let Op::AddrAdd { address, peer, .. } = op else { return false };
                match peer {
                    Some(p) => p == gateway,
                    None => address.trunc().contains(gateway),
                }
            })
        };
        let kernel = live.netns(netns);
        for op in &on_it {
            let Op::AddrAdd { address, peer, .. } = op else { continue };
            if !kernel.is_some_and(|k| k.has_addr(name, *address, *peer)) {
                addrs.push((*op).clone());
            }
        }
        for op in recorded() {
            let Op::RouteAdd { netns: n, to, via, dev } = op else { continue };
            let through = match dev {
                Some(d) => d == name,
                None => via.as_ref().is_some_and(reaches),
            };
            let present = kernel.and_then(|k| k.route_to(*to)).is_some_and(|r| r.via == *via);
            if n == netns && through && !present {
                routes.push(op.clone());
            }
        }
    }
    addrs.extend(routes);
    addrs
}

/// The end of the sentence that says what `link ... up` put back besides the state.
fn restored(ops: &[Op]) -> String {
    let addrs = ops.iter().filter(|op| matches!(op, Op::AddrAdd { .. })).count();
    let routes = ops.iter().filter(|op| matches!(op, Op::RouteAdd { .. })).count();
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let what = match (addrs, routes) {
        (0, 0) => return String::new(),
        (a, 0) => count(a, "address", "addresses"),
        (0, r) => count(r, "route", "routes"),
        (a, r) => format!("{} and {}", count(a, "address", "addresses"), count(r, "route", "routes")),
    };
    format!(", and the {what} the kernel had dropped with it back")
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
    use crate::kernel::fake::FakeKernel;
    use crate::plan::text::summary;
    use crate::state::{Entry, StateDir};
    use crate::testing::{changes, topology, up_on, TempDir};

    /// A node on a bridge network (its default route leaves through its gateway) and a
    /// node with an IPv6 link and a route over it.
    const LAB: &str = r#"
[lab]
name = "cut"

[host]
sysctl = { "net.ipv4.ip_forward" = 1 }
routes = [{ to = "10.9.0.0/16", via = "10.2.0.2" }]

[networks.front]
subnet = "10.2.0.0/24"

[nodes.web]
network = "front"

[nodes.a]
routes = [{ to = "fd00:99::/64", via = "fd00:10::2" }, { to = "10.8.0.0/16", dev = "p0" }]

[nodes.b]

[[links]]
endpoints = ["a:p0", "b:p0"]
addresses = ["fd00:10::1/64", "fd00:10::2/64"]
"#;

    fn ends(netns: &str, name: &str, peer: (Netns, &str)) -> Vec<(Netns, String)> {
        vec![(Netns::Named(netns.into()), name.into()), (peer.0, peer.1.into())]
    }

    /// `link down` then `link up` leaves the lab as its file says, and each says what the
    /// kernel took and what was put back: the routes through the link (a bridge-mode
    /// node's default route via its gateway, a host route via the node) and its IPv6
    /// addresses.
    #[test]
    fn a_cut_link_restored_is_as_the_lab_says_with_its_routes_and_ipv6_addresses() {
        let plan = crate::plan::compile(&topology(LAB));
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let mut kernel = FakeKernel::new(&plan.lab);
        let record = up_on(&mut kernel, &plan, &state);
        let host_end = plan
            .ops
            .iter()
            .find_map(|op| {
                let Op::VethAdd { netns: Netns::Named(n), peer_name, .. } = op else { return None };
                (n == "cut-web").then(|| peer_name.clone())
            })
            .unwrap();
        for (end, cut_takes) in [
            (
                ends("cut-web", "eth0", (Netns::Host, &host_end)),
                vec!["route del cut-web default via 10.2.0.1 dev eth0"],
            ),
            (
                ends("cut-a", "p0", (Netns::Named("cut-b".into()), "p0")),
                vec![
                    "addr del cut-a fd00:10::1/64 dev p0",
                    "route del cut-a 10.8.0.0/16 dev p0",
                    "route del cut-a fd00:99::/64 via fd00:10::2 dev p0",
                    "addr del cut-b fd00:10::2/64 dev p0",
                ],
            ),
        ] {
            // `link ... down`, as exec does it: read, set every end down, read again.
            let known: Vec<&Op> = record.entries.iter().map(|e| &e.op).collect();
            let scope = scope_of(&end);
            let before = kernel.observe(&known, Scope::Only(&scope)).unwrap();
            let down: Vec<Op> =
                end.iter().map(|(netns, name)| Op::LinkDown { netns: netns.clone(), name: name.clone() }).collect();
            assert!(kernel.apply(&down, &|_, _| None).iter().all(Result::is_ok));
            let after = kernel.observe(&known, Scope::Only(&scope)).unwrap();
            let took: Vec<String> = taken(&end, &before, &after).iter().map(summary).collect();
            assert_eq!(took, cut_takes, "what the cut of {end:?} took");
            assert!(!changes(&mut kernel, &plan, Some(&record)).is_empty());

            // `link ... up`: every end up, then what the record has on them and the
            // kernel does not, addresses before routes.
            let up: Vec<Op> =
                end.iter().map(|(netns, name)| Op::LinkUp { netns: netns.clone(), name: name.clone() }).collect();
            let back = restoring(&record, &end, &after);
            let mut want: Vec<String> =
                cut_takes.iter().map(|t| t.replace(" del ", " add ").replace(" dev p0", "")).collect();
            want.sort_by_key(|l| !l.starts_with("addr"));
            let mut got: Vec<String> = back.iter().map(summary).collect();
            got.sort_by_key(|l| !l.starts_with("addr"));
            assert_eq!(got.len(), want.len(), "{got:?}");
            assert!(back
                .windows(2)
                .all(|w| !(matches!(w[0], Op::RouteAdd { .. }) && matches!(w[1], Op::AddrAdd { .. }))));
            let ops: Vec<Op> = up.into_iter().chain(back).collect();
            let mut out = Vec::new();
            let errors = apply::best_effort(&mut kernel, &ops, &|_, _| None, &mut Printer::new(&mut out, &ops), None);
            assert!(errors.is_empty(), "{errors:?}");
            let restored = changes(&mut kernel, &plan, Some(&record));
            assert!(restored.is_empty(), "after link up, the lab is not as its file says: {restored:?}");
            assert!(super::restored(&ops).starts_with(", and the "), "{}", super::restored(&ops));
        }
    }

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
