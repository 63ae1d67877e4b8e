//! What a plan needs to know of this host beyond its kernel's device kinds, read without
//! changing anything (so `plan` needs no privileges): for a lab that publishes ports, the
//! ports the host's programs listen on, the ones other labs that are up publish (their
//! records), the ones this lab picked before (its record), and the ephemeral range to pick
//! from; for a lab with nat networks, whether the host forwarded before netlab turned
//! forwarding on for any lab (what the labs that share the host's forwarding found). Also what `up` refuses about ports and what it warns about
//! other firewalls, which come from the same readings.

use crate::error::{PortRefusal, Refusal};
use crate::firewall::groups::Class;
use crate::firewall::hostports::Taken;
use crate::firewall::ports::Proto;
use crate::kernel::probe;
use crate::live::normalise_sysctl;
use crate::plan::{HostFacts, Op, Plan, PublishedPort};
use crate::sharing::{self, HostShares};
use crate::state::{Record, StateDir};
use crate::topology::{Netns, Topology};

/// The records of the other labs that are up (one that cannot be read is skipped: its
/// lab is not ours to judge here).
fn other_records(state: &StateDir, lab: &str) -> Vec<Record> {
    let labs = state.labs().unwrap_or_default();
    labs.iter().filter(|l| *l != lab).filter_map(|l| state.load(l).ok().flatten()).collect()
}

/// What this machine's kernel can make, for the plan of `topology`, and otherwise a fresh
/// host (nothing published, forwarding off: what a throwaway host of `netlab run` is).
/// The kernel is asked only when the topology leaves a choice to it: an ipip tunnel or an
/// impaired link in `auto` mode.
pub(crate) fn kernel(topology: &Topology) -> HostFacts {
    use crate::topology::{ImpairMode, IpipMode, TunnelKind};
    let mut facts = HostFacts::assumed();
    let ipip = topology.tunnels.iter().any(|t| matches!(t.kind, TunnelKind::Ipip { mode: IpipMode::Auto }));
    let impair = topology.veths.iter().any(|v| v.impair.as_ref().is_some_and(|i| i.mode == ImpairMode::Auto));
    if ipip || impair {
        facts.caps = probe::capabilities();
    }
    facts
}

/// What this host holds that the plan of `topology` depends on.
pub(crate) fn read(state: &StateDir, topology: &Topology) -> HostFacts {
    let mut facts = kernel(topology);
    let publishes = !topology.published.is_empty();
    let nat = topology.bridges.iter().any(|b| b.nat && b.netns == Netns::Host);
    if !publishes && !nat {
        return facts;
    }
    let own = state.load(&topology.lab).ok().flatten();
    let others = other_records(state, &topology.lab);
    if publishes {
        if let Some(own) = &own {
            facts.kept = own.ports.iter().filter(|p| p.picked).map(|p| (p.key(), p.host_port)).collect();
        }
        facts.taken = others.iter().flat_map(taken_by).collect();
        if let Ok((listeners, ephemeral)) = probe::host_ports() {
            facts.listeners = listeners;
            facts.ephemeral = ephemeral;
        }
    }
    if nat {
        // The records read above (one that cannot be read shares nothing here; `up`
        // refuses to run beside it).
        let shares = HostShares::of(&others);
        facts.forwarding_before = forwarding_before(own.as_ref(), &shares);
    }
    facts
}

/// What a lab that is up publishes in the host, as ports taken.
fn taken_by(record: &Record) -> Vec<Taken> {
    record
        .ports
        .iter()
        .filter(|p| p.netns == Netns::Host)
        .map(|p| Taken {
            addr: p.host_addr,
            port: p.host_port,
            proto: p.proto,
            by: format!("lab {} (node {})", record.lab, p.node),
        })
        .collect()
}

/// Whether the host forwarded, IPv4 and IPv6, before netlab turned forwarding on: what
/// this lab's record found before it set it (a converge), else what the labs that are up
/// and share the setting found before the first of them set it (`crate::sharing`; a value
/// the host had before any lab wanted it counts as the host's), else the value now. Either
/// name of a setting counts (a lab that set `net.ipv4.conf.all.forwarding` set ip_forward).
fn forwarding_before(own: Option<&Record>, shares: &HostShares) -> (bool, bool) {
    let (now_v4, now_v6) = probe::forwarding();
    let before = |key: &str, now: bool| {
        let own = own.into_iter().flat_map(|r| &r.entries).find_map(|e| {
            let Op::SysctlSet { netns: Netns::Host, key: k, .. } = &e.op else { return None };
            e.previous.as_deref().filter(|_| sharing::canonical(k) == key).map(|v| normalise_sysctl(v) == "1")
        });
        // On, and not by the labs' doing: the host forwarded before them.
        let shared = || shares.setting(key).map(|s| normalise_sysctl(s.value) == "1" && !s.changed_by_labs());
        own.or_else(shared).unwrap_or(now)
    };
    (before("net.ipv4.ip_forward", now_v4), before("net.ipv6.conf.all.forwarding", now_v6))
}

/// What `up` refuses about the plan's ports before it changes anything: a port of the host
/// that another lab publishes or a program listens on (for ports this lab does not already
/// hold), and SCTP on a kernel without it. Picked ports were chosen free.
pub(crate) fn port_refusal(state: &StateDir, plan: &Plan, record: Option<&Record>) -> Option<Refusal> {
    let refuse =
        |port: &PublishedPort, why| Some(Refusal::Port { lab: plan.lab.clone(), port: Box::new(port.clone()), why });
    if let Some(p) = plan.ports.iter().find(|p| p.proto == Proto::Sctp) {
        if !probe::sctp() {
            return refuse(p, PortRefusal::NoSctp);
        }
    }
    let held = |p: &PublishedPort| record.is_some_and(|r| r.ports.iter().any(|h| h == p));
    let new: Vec<&PublishedPort> =
        plan.ports.iter().filter(|p| p.netns == Netns::Host && !p.picked && !held(p)).collect();
    if new.is_empty() {
        return None;
    }
    let others = other_records(state, &plan.lab);
    let listeners = probe::host_ports().map(|(l, _)| l).unwrap_or_default();
    for p in new {
        for r in &others {
            let clash = r.ports.iter().find(|o| {
                o.netns == Netns::Host
                    && o.proto == p.proto
                    && o.host_port == p.host_port
                    && o.host_addr.overlaps(p.host_addr)
            });
            if let Some(o) = clash {
                return refuse(p, PortRefusal::Published { lab: r.lab.clone(), node: o.node.clone() });
            }
        }
        if let Some(l) = listeners.iter().find(|l| l.takes(p.proto, p.host_addr, p.host_port)) {
            let program = crate::firewall::hostports::program_of(l.inode);
            return refuse(p, PortRefusal::Listening { program });
        }
    }
    None
}

/// The interfaces through which the host forwards the lab's traffic, from its ops (a plan
/// or a record): its nat bridges there, and, for a lab whose [host] turns forwarding on,
/// its links there that are not bridge ports (the classes `up` gives them).
pub(crate) fn forwarded_interfaces<'a>(ops: impl Iterator<Item = &'a Op> + Clone) -> Vec<String> {
    let ports: Vec<&str> = ops
        .clone()
        .filter_map(|op| {
            let Op::LinkSetMaster { netns: Netns::Host, name, .. } = op else { return None };
            Some(name.as_str())
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for op in ops {
        if let Op::LinkSetClass { netns: Netns::Host, name, class: Class::NatBridge | Class::Routing } = op {
            if !ports.contains(&name.as_str()) && !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// Other firewalls of the host that would drop the forwarded traffic of a lab with these
/// ops, as warnings that name the chain and what to add there.
pub(crate) fn warnings<'a>(ops: impl Iterator<Item = &'a Op> + Clone) -> Vec<String> {
    probe::forward_drops(&forwarded_interfaces(ops)).iter().map(ToString::to_string).collect()
}
