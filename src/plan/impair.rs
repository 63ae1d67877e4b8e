//! Impaired links in a plan: which engine makes each (the kernel's qdiscs and drops, or
//! netlab's userspace relay), why (the plan's note line), and the ops of each.
//!
//! `mode = "auto"` picks the kernel where it can do everything the file asks, with the
//! smallest machinery that does it (see `impair::kernel`), and never for a seed; else the
//! relay. A link with `impair = {}` (nothing asked yet) gets the relay: it declares a link
//! that `netlab impair` may degrade later in any way, and only the relay must be built
//! with the link.
//!
//! In userspace a link `A <-> B` is two veth pairs through the lab's relay namespace W,
//! `A <-> W:relay[0]` and `W:relay[1] <-> B`, with the relay carrying frames between
//! W's two ends. A and B see a veth as before (their names, MACs, addresses and routes
//! are the file's); W's ends carry no address and no IPv6, so W itself sends nothing.

use super::{Capabilities, Op};
use crate::impair::kernel::{self, QdiscKind};
use crate::topology::{Impair, ImpairMode, Netns, Topology, Veth, VethEnd};

/// How an impaired link is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    Kernel,
    Userspace,
}

/// The engine for each veth (`None`: not impaired), and a note for each link whose mode
/// left the choice to this kernel.
pub(super) fn engines(t: &Topology, caps: Capabilities) -> (Vec<Option<Engine>>, Vec<String>) {
    let mut notes = Vec::new();
    let engines = t
        .veths
        .iter()
        .map(|v| {
            let imp = v.impair.as_ref()?;
            let (engine, why) = choose(imp, caps);
            if imp.mode == ImpairMode::Auto {
                let how = match engine {
                    Engine::Kernel => "kernel",
                    Engine::Userspace => "userspace",
                };
                notes.push(format!("impaired link {} (mode auto): {how}, {why}", link_name(t, v)));
            }
            Some(engine)
        })
        .collect();
    (engines, notes)
}

/// The engine for one link's impairment, and why, in words.
fn choose(imp: &Impair, caps: Capabilities) -> (Engine, String) {
    match imp.mode {
        ImpairMode::Kernel => return (Engine::Kernel, "as the file says".into()),
        ImpairMode::Userspace => return (Engine::Userspace, "as the file says".into()),
        ImpairMode::Auto => {}
    }
    if imp.declared_only() {
        return (Engine::Userspace, "as impair = {} prepares its relay for netlab impair".into());
    }
    if imp.ends.iter().any(|e| e.seed.is_some()) {
        return (Engine::Userspace, "for its seed (reproducible fates)".into());
    }
    let mut missing = Vec::new();
    let mut used = Vec::new();
    for end in &imp.ends {
        let parts = kernel::parts(end);
        if let Some((kind, _)) = parts.qdisc {
            let has = match kind {
                QdiscKind::Netem => caps.netem,
                QdiscKind::Tbf => caps.tbf,
            };
            let what = match kind {
                QdiscKind::Netem => {
                    format!("{} ({}) for {}", kind, kind.config_option(), kernel::netem_only(end).join(", "))
                }
                QdiscKind::Tbf => format!("{} ({}) for its rate", kind, kind.config_option()),
            };
            if has {
                used.push(kind.name().to_string())
            } else {
                missing.push(what)
            }
        }
        if parts.drop.is_some() {
            if caps.nft {
                used.push("nftables".into());
            } else {
                missing.push("nftables netdev drops (CONFIG_NF_TABLES_NETDEV, and nft) for its loss".into());
            }
        }
    }
    missing.dedup();
    used.sort();
    used.dedup();
    if missing.is_empty() {
        (Engine::Kernel, format!("with {}", used.join(" and ")))
    } else {
        (Engine::Userspace, format!("as this kernel has no {}", missing.join(", nor ")))
    }
}

/// `a:e0 <-> b:e0`, or for a bridge-mode node's link, `web:eth0 <-> network front`.
fn link_name(t: &Topology, v: &Veth) -> String {
    let end = |e: &VethEnd| match &e.master {
        Some(bridge) => {
            let net = t.bridges.iter().find(|b| &b.device == bridge && b.netns == e.netns);
            format!("network {}", net.map_or(bridge.as_str(), |b| b.network.as_str()))
        }
        None => {
            let node = t.nodes.iter().find(|n| n.netns == e.netns && e.netns != Netns::Host);
            format!("{}:{}", node.map_or("host", |n| n.name.as_str()), e.name)
        }
    };
    format!("{} <-> {}", end(&v.ends[0]), end(&v.ends[1]))
}

/// The veth pairs of a link: the file's one, or in userspace the two through the relay
/// namespace (each node end keeps its name and MAC; W's ends get the kernel's).
pub(super) fn veth_pairs(v: &Veth, engine: Option<Engine>, relay_netns: &str) -> Vec<Op> {
    let [a, b] = &v.ends;
    let pair = |end: &VethEnd, peer_netns: &Netns, peer_name: &str, peer_mac: &Option<String>| Op::VethAdd {
        netns: end.netns.clone(),
        name: end.name.clone(),
        mac: end.mac.clone(),
        peer_netns: peer_netns.clone(),
        peer_name: peer_name.to_string(),
        peer_mac: peer_mac.clone(),
        mtu: v.mtu,
    };
    match (engine, &v.impair) {
        (Some(Engine::Userspace), Some(imp)) => {
            let w = Netns::Named(relay_netns.to_string());
            vec![pair(a, &w, &imp.relay[0], &None), pair(b, &w, &imp.relay[1], &None)]
        }
        _ => vec![pair(a, &b.netns, &b.name, &b.mac)],
    }
}

/// The relay's ends of a userspace link, in W, to bring up.
pub(super) fn relay_ends(v: &Veth, engine: Option<Engine>) -> &[String] {
    match (engine, &v.impair) {
        (Some(Engine::Userspace), Some(imp)) => &imp.relay,
        _ => &[],
    }
}

/// The kernel's ops for a link: each end's qdisc, then the drops at each end's peer.
pub(super) fn kernel_ops(v: &Veth) -> (Vec<Op>, Vec<Op>) {
    let (mut qdiscs, mut drops) = (Vec::new(), Vec::new());
    let Some(imp) = &v.impair else { return (qdiscs, drops) };
    for (i, end) in v.ends.iter().enumerate() {
        let peer = &v.ends[1 - i];
        let parts = kernel::parts(&imp.ends[i]);
        if let Some((kind, impairment)) = parts.qdisc {
            qdiscs.push(Op::QdiscReplace { netns: end.netns.clone(), dev: end.name.clone(), kind, impairment });
        }
        if let Some((loss, carrier)) = parts.drop {
            drops.push(Op::DropSet { netns: peer.netns.clone(), dev: peer.name.clone(), loss, carrier });
        }
    }
    (qdiscs, drops)
}

/// The relay of a userspace link: end 0's frames go from relay[0] to relay[1].
pub(super) fn relay_start(v: &Veth, relay_netns: &str) -> Option<Op> {
    let imp = v.impair.as_ref()?;
    Some(Op::RelayStart {
        netns: Netns::Named(relay_netns.to_string()),
        a: imp.relay[0].clone(),
        b: imp.relay[1].clone(),
        a_to_b: imp.ends[0].clone(),
        b_to_a: imp.ends[1].clone(),
    })
}

/// The sysctls of the relay namespace: no IPv6 (no link-local address, DAD, MLD or
/// router solicitation from W's ends into the links), set before its devices are made.
pub(super) fn relay_netns_sysctls(relay_netns: &str) -> Vec<Op> {
    ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"]
        .into_iter()
        .map(|key| Op::SysctlSet { netns: Netns::Named(relay_netns.to_string()), key: key.into(), value: "1".into() })
        .collect()
}
