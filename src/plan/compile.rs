//! Topology -> Plan: puts the resolved lab in the order the kernel needs.
//!
//! Order: namespaces (the lab's relay namespace after the nodes'); the firewall (conntrack
//! flushes, nftables tables and their rules: the guard and the isolation stand before
//! forwarding is turned on); sysctls that do not name a device (so `conf.default.*`
//! applies to devices made later); /etc/netns files; bridges; veth pairs (each end born in
//! its namespace); tunnel devices; link classes; sysctls that name a device; bridge ports;
//! hairpin mode; bridge mtus that their ports would change; links up; addresses (on links
//! that are up, so that IPv6 ones, added without duplicate address detection, are usable
//! at once); routes (every device and address they need exists by then); impairments in
//! the kernel (qdiscs, then drops); forwarders; relays; then the lab's programs, once the
//! whole network (its firewall with it) is up: the supervisor, the processes (each waited
//! for until it is ready), and last the one-shot `exec` commands, which may use every
//! process.

use std::net::IpAddr;

use super::firewall::HostFacts;
use super::impair::{self, Engine};
use super::{Direction, Encap, Op, Plan};
use crate::topology::{IpipMode, Netns, Sysctl, Topology, TunnelKind};

/// What the kernel that will run the plan can do, where a topology leaves the choice to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The kernel can make ipip devices (CONFIG_NET_IPIP).
    pub ipip: bool,
    /// netem qdiscs (CONFIG_NET_SCH_NETEM).
    pub netem: bool,
    /// tbf qdiscs (CONFIG_NET_SCH_TBF).
    pub tbf: bool,
    /// nftables netdev drops (CONFIG_NF_TABLES_NETDEV, and the nft program).
    pub nft: bool,
}

impl Capabilities {
    /// A kernel with everything: what `compile` assumes, so a plan is the same on every
    /// machine (the snapshots, the README).
    pub const FULL: Capabilities = Capabilities { ipip: true, netem: true, tbf: true, nft: true };
}

/// The plan for a kernel with every device kind (see [`Capabilities::FULL`]).
pub fn compile(t: &Topology) -> Plan {
    compile_for(t, Capabilities::FULL)
}

/// The plan for a kernel that can do what `caps` says: an ipip tunnel in `auto` mode is
/// the kernel's where it can be, else a TUN device and netlab's forwarder; an impaired
/// link in `auto` mode likewise (see `impair`).
pub fn compile_for(t: &Topology, caps: Capabilities) -> Plan {
    compile_with(t, &HostFacts { caps, ..HostFacts::assumed() })
}

/// The plan for the host `facts` describes: its kernel, and for a lab that publishes
/// ports or has nat networks, its ports and forwarding (see [`HostFacts`]).
pub fn compile_with(t: &Topology, facts: &HostFacts) -> Plan {
    let caps = facts.caps;
    let mut ops = Vec::new();
    let mut notes = Vec::new();
    let firewall = super::firewall::firewall(t, facts);
    // How each tunnel is carried: by a kernel device, or by netlab's forwarder (encap).
    let carried: Vec<Option<Encap>> = t
        .tunnels
        .iter()
        .map(|tunnel| match tunnel.kind {
            TunnelKind::Udp { .. } => Some(Encap::Udp),
            TunnelKind::Ipip { mode: IpipMode::Userspace } => Some(Encap::Ipip),
            TunnelKind::Ipip { mode: IpipMode::Auto } if !caps.ipip => Some(Encap::Ipip),
            TunnelKind::Ipip { mode: IpipMode::Auto | IpipMode::Kernel } | TunnelKind::Vxlan { .. } => None,
        })
        .collect();
    if t.tunnels
        .iter()
        .zip(&carried)
        .any(|(tn, c)| matches!(tn.kind, TunnelKind::Ipip { mode: IpipMode::Auto }) && c.is_some())
    {
        notes.push("ipip tunnels (mode auto): userspace, as this kernel has no ipip (CONFIG_NET_IPIP)".to_string());
    }
    let (engines, impair_notes) = impair::engines(t, caps);
    notes.extend(impair_notes);
    let relays = engines.contains(&Some(Engine::Userspace));

    for ns in &t.namespaces {
        ops.push(Op::NetnsAdd { netns: ns.name.clone() });
    }
    if relays {
        ops.push(Op::NetnsAdd { netns: t.relay_netns.clone() });
    }
    for alias in &t.aliases {
        ops.push(Op::NetnsAlias { netns: alias.name.clone(), target: alias.target.clone() });
    }
    // The firewall before anything is forwarded (the forwarding sysctls come next).
    ops.extend(firewall.first);

    let sysctls = || {
        let host = t.host.sysctls.iter().map(|s| (Netns::Host, s));
        let nodes = t.namespaces.iter().flat_map(|ns| ns.sysctls.iter().map(|s| (Netns::Named(ns.name.clone()), s)));
        host.chain(nodes)
    };
    let sysctl_op = |(netns, s): (Netns, &Sysctl)| Op::SysctlSet { netns, key: s.key.clone(), value: s.value.clone() };
    ops.extend(sysctls().filter(|(_, s)| !names_device(&s.key)).map(sysctl_op));
    if relays {
        ops.extend(impair::relay_netns_sysctls(&t.relay_netns));
    }

    for file in &t.files {
        ops.push(Op::FileWrite { netns: file.netns.clone(), file: file.kind, content: file.content.clone() });
    }

    for bridge in &t.bridges {
        ops.push(Op::BridgeAdd { netns: bridge.netns.clone(), name: bridge.device.clone(), mtu: bridge.mtu });
    }
    for (veth, engine) in t.veths.iter().zip(&engines) {
        ops.extend(impair::veth_pairs(veth, *engine, &t.relay_netns));
    }
    for (tunnel, carried) in t.tunnels.iter().zip(&carried) {
        for (i, end) in tunnel.ends.iter().enumerate() {
            let (netns, name, mtu) = (end.netns.clone(), end.name.clone(), tunnel.mtu);
            // Two-ended kinds: the remote is the other end's underlay address.
            let remote = tunnel.ends[1 - i.min(1)].underlay;
            ops.push(match (carried, tunnel.kind) {
                // A TUN device leaves room for the outer headers in the underlay's mtu, as
                // flanneld does for flannel.1; the kernel's tunnels do that by themselves.
                (Some(encap), _) => {
                    let mtu = mtu.unwrap_or_else(|| {
                        underlay_mtu(t, &end.netns, end.underlay) - encap.overhead(end.underlay.is_ipv6())
                    });
                    Op::TunAdd { netns, name, mtu: Some(mtu) }
                }
                (None, TunnelKind::Vxlan { vni, port }) => {
                    Op::VxlanAdd { netns, name, vni, local: end.underlay, remote, port, mtu }
                }
                (None, _) => Op::IpipAdd { netns, name, local: end.underlay, remote, mtu },
            });
        }
    }

    ops.extend(firewall.classes);
    ops.extend(sysctls().filter(|(_, s)| names_device(&s.key)).map(sysctl_op));
    ops.extend(firewall.device_sysctls);

    for veth in &t.veths {
        for end in &veth.ends {
            if let Some(master) = &end.master {
                ops.push(Op::LinkSetMaster {
                    netns: end.netns.clone(),
                    name: end.name.clone(),
                    master: master.clone(),
                });
            }
        }
    }

    ops.extend(firewall.hairpins);

    // A bridge takes the smallest mtu of its ports unless its own was set after they
    // joined: where a port differs from the network's mtu, set the bridge's again.
    for bridge in &t.bridges {
        let Some(mtu) = bridge.mtu else { continue };
        let port_differs = t.veths.iter().any(|v| {
            v.mtu != Some(mtu)
                && v.ends.iter().any(|e| e.netns == bridge.netns && e.master.as_deref() == Some(bridge.device.as_str()))
        });
        if port_differs {
            ops.push(Op::LinkSetMtu { netns: bridge.netns.clone(), name: bridge.device.clone(), mtu });
        }
    }

    // Links up before their addresses: an IPv6 address added (nodad) to a link that is
    // not up yet stays unusable until the kernel finds the link ready, a second or so
    // after it comes up; added after, it answers at once.
    for ns in &t.namespaces {
        ops.push(Op::LinkUp { netns: Netns::Named(ns.name.clone()), name: "lo".into() });
    }
    for bridge in &t.bridges {
        ops.push(Op::LinkUp { netns: bridge.netns.clone(), name: bridge.device.clone() });
    }
    for (veth, engine) in t.veths.iter().zip(&engines) {
        for end in &veth.ends {
            ops.push(Op::LinkUp { netns: end.netns.clone(), name: end.name.clone() });
        }
        for relay_end in impair::relay_ends(veth, *engine) {
            ops.push(Op::LinkUp { netns: Netns::Named(t.relay_netns.clone()), name: relay_end.clone() });
        }
    }
    for tunnel in &t.tunnels {
        for end in &tunnel.ends {
            ops.push(Op::LinkUp { netns: end.netns.clone(), name: end.name.clone() });
        }
    }

    for bridge in &t.bridges {
        ops.push(Op::AddrAdd {
            netns: bridge.netns.clone(),
            dev: bridge.device.clone(),
            address: bridge.gateway,
            peer: None,
        });
    }
    for veth in &t.veths {
        for end in &veth.ends {
            if let Some(address) = end.address {
                ops.push(Op::AddrAdd { netns: end.netns.clone(), dev: end.name.clone(), address, peer: None });
            }
        }
    }
    for tunnel in &t.tunnels {
        for end in &tunnel.ends {
            if let Some(address) = end.address {
                ops.push(Op::AddrAdd { netns: end.netns.clone(), dev: end.name.clone(), address, peer: end.peer });
            }
        }
    }

    let routes = t
        .host
        .routes
        .iter()
        .map(|r| (Netns::Host, r))
        .chain(t.namespaces.iter().flat_map(|ns| ns.routes.iter().map(|r| (Netns::Named(ns.name.clone()), r))));
    for (netns, r) in routes {
        ops.push(Op::RouteAdd { netns, to: r.dst, via: r.via, dev: r.dev.clone() });
    }

    let mut drops = Vec::new();
    for (veth, engine) in t.veths.iter().zip(&engines) {
        if *engine == Some(Engine::Kernel) {
            let (qdiscs, d) = impair::kernel_ops(veth);
            ops.extend(qdiscs);
            drops.extend(d);
        }
    }
    ops.extend(drops);

    for (tunnel, carried) in t.tunnels.iter().zip(&carried) {
        let Some(encap) = *carried else { continue };
        let port = match tunnel.kind {
            TunnelKind::Udp { port } => Some(port),
            TunnelKind::Ipip { .. } | TunnelKind::Vxlan { .. } => None,
        };
        for (i, end) in tunnel.ends.iter().enumerate() {
            let peers = tunnel
                .ends
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, peer)| crate::tunnel::Peer { underlay: peer.underlay, subnet: peer.subnet })
                .collect();
            ops.push(Op::ForwarderStart {
                netns: end.netns.clone(),
                dev: end.name.clone(),
                encap,
                local: end.underlay,
                port,
                peers,
            });
        }
    }

    for (veth, engine) in t.veths.iter().zip(&engines) {
        if *engine == Some(Engine::Userspace) {
            ops.extend(impair::relay_start(veth, &t.relay_netns));
        }
    }

    notes.extend(firewall.notes);
    if !t.processes.is_empty() || !t.execs.is_empty() {
        ops.push(Op::SupervisorStart);
    }
    for p in &t.processes {
        ops.push(Op::ProcessStart {
            node: p.node.clone(),
            name: p.name.clone(),
            netns: p.netns.clone(),
            cmd: p.cmd.clone(),
            ready: p.ready.clone(),
            ready_timeout_ms: p.ready_timeout.as_millis() as u64,
            user: p.user.clone(),
            env: p.env.clone(),
        });
    }
    for e in &t.execs {
        ops.push(Op::Exec { node: e.node.clone(), netns: e.netns.clone(), n: e.n, cmd: e.cmd.clone() });
    }

    let mut plan = Plan::new(&t.lab, Direction::Up, ops);
    plan.notes = notes;
    plan.ports = firewall.ports;
    plan
}

/// The mtu of the link that holds a tunnel end's underlay address (1500 when the file
/// does not say, or the address is on a link outside the file).
fn underlay_mtu(t: &Topology, netns: &Netns, underlay: IpAddr) -> u32 {
    let on_veth = t.veths.iter().find_map(|v| {
        v.ends.iter().any(|e| e.netns == *netns && e.address.is_some_and(|a| a.addr() == underlay)).then_some(v.mtu)
    });
    let on_bridge = || t.bridges.iter().find(|b| b.netns == *netns && b.gateway.addr() == underlay).map(|b| b.mtu);
    on_veth.or_else(on_bridge).flatten().unwrap_or(1500)
}

/// Whether a sysctl key belongs to one device (`net.ipv4.conf.eth0.rp_filter`), and so
/// can only be set once that device exists.
fn names_device(key: &str) -> bool {
    sysctl_device(key).is_some()
}

/// The device a sysctl key belongs to (`eth0` in `net.ipv4.conf.eth0.rp_filter`), if any.
pub(crate) fn sysctl_device(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["net", "ipv4" | "ipv6", "conf" | "neigh", dev, _, ..] if !matches!(*dev, "all" | "default") => Some(dev),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::names_device;
    use crate::plan::Op;

    /// The TUN device of a udp tunnel leaves room for the outer headers of its underlay's
    /// IP version: 20 + 8 bytes over IPv4, 40 + 8 over IPv6 (it was 28 for both, so a
    /// full-size packet over IPv6 did not fit in the underlay's 1500).
    #[test]
    fn a_tun_device_leaves_room_for_its_underlays_headers() {
        let tun_mtus = |underlay: [&str; 2], subnet: &str| {
            let text = format!(
                "[lab]\nname = \"t\"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = [\"a:u0\", \"b:u0\"]\n\
                 addresses = [\"{}/{subnet}\", \"{}/{subnet}\"]\n[[tunnels]]\nkind = \"udp\"\n\
                 endpoints = [\"a:fl0\", \"b:fl0\"]\nunderlay = [\"{}\", \"{}\"]\naddresses = [\"10.9.0.1\", \"10.9.0.2\"]\n",
                underlay[0], underlay[1], underlay[0], underlay[1]
            );
            let plan = super::compile(&crate::testing::topology(&text));
            let mtus: Vec<Option<u32>> = plan
                .ops
                .iter()
                .filter_map(|op| if let Op::TunAdd { mtu, .. } = op { Some(*mtu) } else { None })
                .collect();
            mtus
        };
        assert_eq!(tun_mtus(["10.1.0.1", "10.1.0.2"], "24"), [Some(1472), Some(1472)]);
        assert_eq!(tun_mtus(["fd00::1", "fd00::2"], "64"), [Some(1452), Some(1452)]);
    }

    #[test]
    fn device_sysctls() {
        assert!(names_device("net.ipv4.conf.eth0.rp_filter"));
        assert!(names_device("net.ipv6.neigh.v1.base_reachable_time_ms"));
        assert!(names_device("net.ipv4.conf.flannel/1.rp_filter"), "a device with a dot, as sysctl(8) spells it");
        assert!(!names_device("net.ipv4.conf.all.rp_filter"));
        assert!(!names_device("net.ipv4.conf.default.forwarding"));
        assert!(!names_device("net.ipv4.ip_forward"));
    }
}
