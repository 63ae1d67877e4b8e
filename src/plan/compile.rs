//! Topology -> Plan: puts the resolved lab in the order the kernel needs.
//!
//! Order: namespaces; sysctls that do not name a device (so `conf.default.*` applies to
//! devices made later); /etc/netns files; bridges; veth pairs (each end born in its
//! namespace); tunnel devices; sysctls that name a device; bridge ports; bridge mtus that
//! their ports would change; addresses; links up; routes (every device and address they
//! need exists by then); forwarders.

use super::{Direction, ForwarderPeer, Op, Plan, PLAN_FORMAT_VERSION};
use crate::topology::{Netns, Sysctl, Topology, TunnelKind};

pub fn compile(t: &Topology) -> Plan {
    let mut ops = Vec::new();

    for ns in &t.namespaces {
        ops.push(Op::NetnsAdd { netns: ns.name.clone() });
    }
    for alias in &t.aliases {
        ops.push(Op::NetnsAlias { netns: alias.name.clone(), target: alias.target.clone() });
    }

    let sysctls = || {
        let host = t.host.sysctls.iter().map(|s| (Netns::Host, s));
        let nodes = t.namespaces.iter().flat_map(|ns| ns.sysctls.iter().map(|s| (Netns::Named(ns.name.clone()), s)));
        host.chain(nodes)
    };
    let sysctl_op = |(netns, s): (Netns, &Sysctl)| Op::SysctlSet { netns, key: s.key.clone(), value: s.value.clone() };
    ops.extend(sysctls().filter(|(_, s)| !names_device(&s.key)).map(sysctl_op));

    for file in &t.files {
        ops.push(Op::FileWrite { netns: file.netns.clone(), file: file.kind, content: file.content.clone() });
    }

    for bridge in &t.bridges {
        ops.push(Op::BridgeAdd { netns: bridge.netns.clone(), name: bridge.device.clone(), mtu: bridge.mtu });
    }
    for veth in &t.veths {
        let [a, b] = &veth.ends;
        ops.push(Op::VethAdd {
            netns: a.netns.clone(),
            name: a.name.clone(),
            mac: a.mac.clone(),
            peer_netns: b.netns.clone(),
            peer_name: b.name.clone(),
            peer_mac: b.mac.clone(),
            mtu: veth.mtu,
        });
    }
    for tunnel in &t.tunnels {
        for (i, end) in tunnel.ends.iter().enumerate() {
            let (netns, name, mtu) = (end.netns.clone(), end.name.clone(), tunnel.mtu);
            // Two-ended kinds: the remote is the other end's underlay address.
            let remote = tunnel.ends[1 - i.min(1)].underlay;
            ops.push(match tunnel.kind {
                TunnelKind::Ipip => Op::IpipAdd { netns, name, local: end.underlay, remote, mtu },
                TunnelKind::Vxlan { vni, port } => {
                    Op::VxlanAdd { netns, name, vni, local: end.underlay, remote, port, mtu }
                }
                TunnelKind::Udp { .. } => Op::TunAdd { netns, name, mtu },
            });
        }
    }

    ops.extend(sysctls().filter(|(_, s)| names_device(&s.key)).map(sysctl_op));

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

    for ns in &t.namespaces {
        ops.push(Op::LinkUp { netns: Netns::Named(ns.name.clone()), name: "lo".into() });
    }
    for bridge in &t.bridges {
        ops.push(Op::LinkUp { netns: bridge.netns.clone(), name: bridge.device.clone() });
    }
    for veth in &t.veths {
        for end in &veth.ends {
            ops.push(Op::LinkUp { netns: end.netns.clone(), name: end.name.clone() });
        }
    }
    for tunnel in &t.tunnels {
        for end in &tunnel.ends {
            ops.push(Op::LinkUp { netns: end.netns.clone(), name: end.name.clone() });
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

    for tunnel in &t.tunnels {
        let TunnelKind::Udp { port } = tunnel.kind else { continue };
        for (i, end) in tunnel.ends.iter().enumerate() {
            let peers = tunnel
                .ends
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, peer)| ForwarderPeer { underlay: peer.underlay, subnet: peer.subnet })
                .collect();
            ops.push(Op::ForwarderStart {
                netns: end.netns.clone(),
                dev: end.name.clone(),
                local: end.underlay,
                port,
                peers,
            });
        }
    }

    Plan { version: PLAN_FORMAT_VERSION, lab: t.lab.clone(), direction: Direction::Up, ops }
}

/// Whether a sysctl key belongs to one device (`net.ipv4.conf.eth0.rp_filter`), and so
/// can only be set once that device exists.
fn names_device(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    matches!(parts.as_slice(), ["net", "ipv4" | "ipv6", "conf" | "neigh", dev, _, ..] if !matches!(*dev, "all" | "default"))
}

#[cfg(test)]
mod tests {
    use super::names_device;

    #[test]
    fn device_sysctls() {
        assert!(names_device("net.ipv4.conf.eth0.rp_filter"));
        assert!(names_device("net.ipv6.neigh.v1.base_reachable_time_ms"));
        assert!(!names_device("net.ipv4.conf.all.rp_filter"));
        assert!(!names_device("net.ipv4.conf.default.forwarding"));
        assert!(!names_device("net.ipv4.ip_forward"));
    }
}
