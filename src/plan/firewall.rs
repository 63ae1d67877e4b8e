//! The firewall part of a plan: from the topology's nat networks, `icc = false` networks
//! and published ports, and what is known of the host ([`HostFacts`]: the host ports taken,
//! the ones picked before, whether forwarding was on before netlab), the ops that make the
//! lab's nftables tables, rule by rule, flush its conntrack entries, and set what the rules
//! rely on (device classes, hairpin mode, route_localnet). `firewall::ruleset` holds what
//! the rules say; this module puts them in ops.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::Op;
use crate::firewall::groups::Class;
use crate::firewall::hostports::{self, Listener, Taken};
use crate::firewall::ports::{Binding, HostAddr, PortRange, Proto};
use crate::firewall::ruleset::{self, Guard, LabFirewall, Network, Place, Published, Requirement};
use crate::topology::{Netns, Topology};

/// What a plan needs to know of the host it is for, beyond what the kernel can make
/// ([`super::Capabilities`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub caps: super::Capabilities,
    /// Host ports this lab picked before (its record), kept while their entry stays.
    pub kept: BTreeMap<PickKey, u16>,
    /// Sockets listening in the host, which a picked port avoids.
    pub listeners: Vec<Listener>,
    /// What other labs that are up publish, which a picked port avoids.
    pub taken: Vec<Taken>,
    /// Where picked ports come from (the host's net.ipv4.ip_local_port_range).
    pub ephemeral: PortRange,
    /// Whether the host forwarded (IPv4, IPv6) before netlab turned forwarding on for a
    /// lab: then nothing needs guarding, the host routed everything already.
    pub forwarding_before: (bool, bool),
}

impl HostFacts {
    /// A host with every device kind, nothing listening, no other lab, the kernel's default
    /// ephemeral range and forwarding off: what `compile` assumes, so that a plan is the same
    /// on every machine (the snapshots, the README).
    pub fn assumed() -> HostFacts {
        HostFacts {
            caps: super::Capabilities::FULL,
            kept: BTreeMap::new(),
            listeners: Vec::new(),
            taken: Vec::new(),
            ephemeral: PortRange { start: 32768, end: 60999 },
            forwarding_before: (false, false),
        }
    }
}

/// What a picked host port is kept by: the node, its `ports` entry as written, the node
/// port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PickKey {
    pub node: String,
    pub spec: String,
    pub node_port: u16,
}

/// One published port as the plan makes it: what `netlab port` and `status` show, what a
/// lab's record keeps (with the ports `up` picked), and what other labs avoid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub node: String,
    /// The `ports` entry it comes from, as written.
    pub spec: String,
    /// Where it is published: the host (`null`), or the node that holds the network.
    pub netns: Netns,
    pub host_addr: HostAddr,
    pub host_port: u16,
    pub node_port: u16,
    pub proto: Proto,
    /// The host port was picked by `up` (the entry gave none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub picked: bool,
}

impl PublishedPort {
    pub fn key(&self) -> PickKey {
        PickKey { node: self.node.clone(), spec: self.spec.clone(), node_port: self.node_port }
    }
}

impl fmt::Display for PublishedPort {
    /// `docker port`'s line: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}:{}", self.node_port, self.proto, self.host_addr, self.host_port)
    }
}

/// The firewall's ops, by where each kind goes in the plan.
#[derive(Debug, Default)]
pub(super) struct FirewallOps {
    /// Conntrack flushes, then tables, then their rules: right after the namespaces, so
    /// the guard and the isolation are there before forwarding is turned on.
    pub(super) first: Vec<Op>,
    /// Link classes: once the devices exist.
    pub(super) classes: Vec<Op>,
    /// route_localnet on nat bridges: with the other sysctls that name a device.
    pub(super) device_sysctls: Vec<Op>,
    /// Hairpin mode: once the ports are on their bridges.
    pub(super) hairpins: Vec<Op>,
    pub(super) ports: Vec<PublishedPort>,
    /// What the plan says about picked ports.
    pub(super) notes: Vec<String>,
}

fn place(netns: &Netns) -> Place {
    match netns {
        Netns::Host => Place::Host,
        Netns::Named(n) => Place::Netns(n.clone()),
    }
}

fn netns(place: &Place) -> Netns {
    match place {
        Place::Host => Netns::Host,
        Place::Netns(n) => Netns::Named(n.clone()),
    }
}

pub(super) fn firewall(t: &Topology, facts: &HostFacts) -> FirewallOps {
    let mut out = FirewallOps::default();
    let ports = published(t, facts, &mut out);
    let fw = lab_firewall(t, facts, &ports);
    let rules = ruleset::compute(&fw);

    // Where the lab NATs, conntrack tracks all of its traffic: every network of the lab
    // there is flushed, with or without nat.
    let mut flushes: Vec<(Netns, Vec<IpNet>)> = Vec::new();
    for b in t.bridges.iter().filter(|b| t.bridges.iter().any(|n| n.nat && n.netns == b.netns)) {
        match flushes.iter_mut().find(|(n, _)| *n == b.netns) {
            Some((_, subnets)) => subnets.push(b.subnet()),
            None => flushes.push((b.netns.clone(), vec![b.subnet()])),
        }
    }
    out.first.extend(flushes.into_iter().map(|(netns, subnets)| Op::ConntrackFlush { netns, subnets }));
    for table in &rules.tables {
        out.first.push(Op::NftTableAdd {
            netns: netns(&table.place),
            family: table.family,
            name: table.name.clone(),
            chains: table.chains.clone(),
        });
    }
    for table in &rules.tables {
        for r in &table.rules {
            out.first.push(Op::NftRuleAdd {
                netns: netns(&table.place),
                family: table.family,
                table: table.name.clone(),
                chain: r.chain.clone(),
                rule: r.text.clone(),
                comment: r.comment.clone(),
            });
        }
    }
    for req in rules.requirements {
        match req {
            Requirement::Sysctl { place, key, value } => {
                out.device_sysctls.push(Op::SysctlSet { netns: netns(&place), key, value })
            }
            Requirement::Hairpin { place, port } => {
                out.hairpins.push(Op::LinkSetHairpin { netns: netns(&place), name: port, on: true })
            }
        }
    }

    for b in t.bridges.iter().filter(|b| b.nat) {
        out.classes.push(Op::LinkSetClass { netns: b.netns.clone(), name: b.device.clone(), class: Class::NatBridge });
    }
    // A lab whose [host] turns forwarding on asked for host routing: its links in the host
    // are routed even where another lab's guard stands.
    if t.host.routes_traffic {
        let host_links = t
            .bridges
            .iter()
            .filter(|b| b.netns == Netns::Host && !b.nat)
            .map(|b| b.device.clone())
            // A bridge's ports do not route: the bridge does.
            .chain(
                t.veths
                    .iter()
                    .flat_map(|v| v.ends.iter())
                    .filter(|e| e.netns == Netns::Host && e.master.is_none())
                    .map(|e| e.name.clone()),
            )
            .chain(
                t.tunnels
                    .iter()
                    .flat_map(|tn| tn.ends.iter())
                    .filter(|e| e.netns == Netns::Host)
                    .map(|e| e.name.clone()),
            );
        for name in host_links {
            out.classes.push(Op::LinkSetClass { netns: Netns::Host, name, class: Class::Routing });
        }
    }
    out.ports = ports.iter().map(|(p, _)| p.clone()).collect();
    out
}

/// Every binding of every `ports` entry with its host port: given, kept from before, or
/// picked now (the lowest free port of its range, avoiding what the host and other labs
/// hold and what this lab publishes).
fn published(t: &Topology, facts: &HostFacts, out: &mut FirewallOps) -> Vec<(PublishedPort, Published)> {
    // What this lab publishes itself, by namespace: fixed ports first, so a pick never
    // takes one that a later entry names.
    let mut own: BTreeMap<Netns, Vec<Taken>> = BTreeMap::new();
    for p in &t.published {
        for b in &p.bindings {
            if let Some(port) = b.host_port {
                let by = format!("node {} of this lab", p.node);
                own.entry(p.netns.clone()).or_default().push(Taken { addr: b.host_addr, port, proto: b.proto, by });
            }
        }
    }
    let mut result = Vec::new();
    for p in &t.published {
        for b in &p.bindings {
            let key = PickKey { node: p.node.clone(), spec: p.spec.clone(), node_port: b.node_port };
            let host_port = match b.host_port {
                Some(port) => port,
                None => {
                    let taken = own.entry(p.netns.clone()).or_default();
                    // A port picked before stays, unless the file now names it for another
                    // entry of the lab.
                    let kept = facts.kept.get(&key).copied().filter(|&k| hostports::check(b, k, &[], taken).is_none());
                    let picked = kept.or_else(|| {
                        // Other labs and the host's listeners are the host's: a node's own
                        // namespace (in = NODE) has only this lab in it.
                        let (listeners, others): (&[Listener], &[Taken]) = match p.netns {
                            Netns::Host => (&facts.listeners, &facts.taken),
                            Netns::Named(_) => (&[], &[]),
                        };
                        let all: Vec<Taken> = others.iter().chain(taken.iter()).cloned().collect();
                        hostports::pick(b, facts.ephemeral, listeners, &all).ok()
                    });
                    let Some(port) = picked else {
                        out.notes.push(format!(
                            "{} {}/{}: no free host port to publish it on",
                            p.node, b.node_port, b.proto
                        ));
                        continue;
                    };
                    let by = format!("node {} of this lab", p.node);
                    taken.push(Taken { addr: b.host_addr, port, proto: b.proto, by });
                    out.notes.push(format!(
                        "{}: {}/{} published on host port {port}, picked by up and kept while `{}` stays",
                        p.node, b.node_port, b.proto, p.spec
                    ));
                    port
                }
            };
            let binding = Binding { host_port: Some(host_port), ..*b };
            let port = PublishedPort {
                node: p.node.clone(),
                spec: p.spec.clone(),
                netns: p.netns.clone(),
                host_addr: b.host_addr,
                host_port,
                node_port: b.node_port,
                proto: b.proto,
                picked: b.host_port.is_none(),
            };
            let (node_v4, node_v6) = match p.node_addr {
                IpAddr::V4(a) => (Some(a), None),
                IpAddr::V6(a) => (None, Some(a)),
            };
            let network = p.network.clone();
            result.push((
                port,
                Published {
                    node: p.node.clone(),
                    network,
                    binding,
                    node_v4,
                    node_v6,
                    bridge_port: p.bridge_port.clone(),
                },
            ));
        }
    }
    result
}

/// The topology in the firewall's terms.
fn lab_firewall(t: &Topology, facts: &HostFacts, ports: &[(PublishedPort, Published)]) -> LabFirewall {
    let networks: Vec<Network> = t
        .bridges
        .iter()
        .filter(|b| b.nat || !b.icc)
        .map(|b| {
            let subnet = b.subnet();
            Network {
                name: b.network.clone(),
                bridge: b.device.clone(),
                v4: match subnet {
                    IpNet::V4(s) => Some(s),
                    IpNet::V6(_) => None,
                },
                v6: match subnet {
                    IpNet::V6(s) => Some(s),
                    IpNet::V4(_) => None,
                },
                nat: b.nat,
                icc: b.icc,
                place: place(&b.netns),
                ports: t
                    .veths
                    .iter()
                    .flat_map(|v| v.ends.iter())
                    .filter(|e| e.netns == b.netns && e.master.as_deref() == Some(b.device.as_str()))
                    .map(|e| e.name.clone())
                    .collect(),
            }
        })
        .collect();
    let mut guards = Vec::new();
    let mut plain_bridges = Vec::new();
    let mut places: Vec<&Netns> = t.bridges.iter().filter(|b| b.nat).map(|b| &b.netns).collect();
    places.sort();
    places.dedup();
    for at in places {
        let has = |v6: bool| t.bridges.iter().any(|b| b.nat && b.netns == *at && b.subnet().addr().is_ipv6() == v6);
        // Forwarding was off before in a node's new namespace, and in the host unless the
        // host already forwarded; a file that turns it on itself asked to route.
        let (asked, (before_v4, before_v6)) = match at {
            Netns::Host => (t.host.routes_traffic, facts.forwarding_before),
            Netns::Named(n) => (t.namespaces.iter().any(|ns| &ns.name == n && ns.routes_traffic), (false, false)),
        };
        let guard = Guard { v4: has(false) && !asked && !before_v4, v6: has(true) && !asked && !before_v6 };
        guards.push((place(at), guard));
        if let Netns::Named(_) = at {
            for b in t.bridges.iter().filter(|b| !b.nat && b.netns == *at) {
                plain_bridges.push((place(at), b.device.clone()));
            }
        }
    }
    LabFirewall {
        lab: t.lab.clone(),
        networks,
        published: ports.iter().map(|(_, p)| p.clone()).collect(),
        guards,
        plain_bridges,
    }
}
