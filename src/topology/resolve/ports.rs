//! What `nat = true` and `ports` add to a lab: the forwarding a nat network needs in the
//! namespace of its bridge, and each node's published ports (Docker's `-p` syntax), checked
//! for everything that can be known from the file alone: the syntax, the node's mode (host
//! and none have nothing to publish, a container-mode node publishes its target's), a nat
//! network to publish from, an address family the network has, `[::1]`, and two entries of
//! the lab that would catch the same packets.

use std::collections::HashMap;

use super::Resolver;
use crate::diagnostics::Problem;
use crate::firewall::ports::{self, Binding, HostAddr, Refusal};
use crate::spec::Sp;
use crate::topology::{names, Bridge, HostConfig, Mode, Namespace, Netns, Node, Publish, Sysctl, Veth};

/// The sysctls that turn forwarding on, per family: what a nat network needs, and what a
/// file that asks for routing sets.
pub(super) const FORWARDING_V4: &str = "net.ipv4.ip_forward";
pub(super) const FORWARDING_V6: &str = "net.ipv6.conf.all.forwarding";

/// Whether a file's own sysctls turn forwarding on (it asked to route).
pub(super) fn routes_traffic(sysctls: &[Sysctl]) -> bool {
    sysctls.iter().any(|s| matches!(names::sysctl_setting(&s.key), FORWARDING_V4 | FORWARDING_V6) && s.value == "1")
}

impl Resolver<'_> {
    /// Turns forwarding on where a nat network's bridge lives, unless the file already does;
    /// a file that turns it off there is wrong.
    pub(super) fn nat_forwarding(&mut self, bridges: &[Bridge], host: &mut HostConfig, namespaces: &mut [Namespace]) {
        for netns in nat_places(bridges) {
            let families = [(false, FORWARDING_V4), (true, FORWARDING_V6)];
            for (v6, key) in families {
                let Some(net) = bridges.iter().find(|b| b.nat && b.netns == netns && b.subnet().addr().is_ipv6() == v6)
                else {
                    continue;
                };
                let (sysctls, table) = match &netns {
                    Netns::Host => (&mut host.sysctls, &self.spec.host.sysctl),
                    Netns::Named(name) => {
                        let Some(ns) = namespaces.iter_mut().find(|ns| &ns.name == name) else { continue };
                        (&mut ns.sysctls, &self.spec.nodes[ns.node.as_str()].get_ref().sysctl)
                    }
                };
                // Either name of the setting (ip_forward is conf.all.forwarding to the kernel).
                match sysctls.iter().find(|s| names::sysctl_setting(&s.key) == key) {
                    Some(s) if s.value == "1" => {}
                    Some(s) => {
                        let span = table.iter().find(|(k, _)| *k.get_ref() == s.key).map_or(0..0, |(k, _)| k.span());
                        let message = format!(
                            "network {} has nat = true, which needs forwarding, and this sets {} = {}",
                            net.network, s.key, s.value
                        );
                        self.problems.push(
                            Problem::new(span, message)
                                .help("remove it: netlab turns forwarding on for a nat network, and back at down"),
                        );
                    }
                    None => sysctls.push(Sysctl { key: key.to_string(), value: "1".into() }),
                }
            }
        }
    }

    /// The bridges the firewall names in its rules (`nat = true`, `icc = false`) must have
    /// names nftables can quote.
    pub(super) fn firewall_names(&mut self, bridges: &[Bridge]) {
        for b in bridges.iter().filter(|b| b.nat || !b.icc) {
            if let Some(c) = b.device.chars().find(|c| matches!(c, '"' | '\\' | '\'' | '$' | '`')) {
                let net = &self.spec.networks[b.network.as_str()];
                let span = net.get_ref().device.as_ref().map_or(net.span(), |d| d.span());
                self.problems.push(
                    Problem::new(
                        span,
                        format!("bridge name `{}` has `{c}`, which its firewall rules cannot quote", b.device),
                    )
                    .help("name the bridge with letters, digits, `-`, `_` and `.`"),
                );
            }
        }
    }

    /// Every entry of every node's `ports`, resolved; every mistake reported at its entry.
    pub(super) fn published(&mut self, nodes: &[Node], bridges: &[Bridge], veths: &[Veth]) -> Vec<Publish> {
        let spec = self.spec;
        let mut out: Vec<Publish> = Vec::new();
        for (key, node_spec) in &spec.nodes {
            let entries = &node_spec.get_ref().ports;
            let name = key.get_ref().as_str();
            let Some(first) = entries.first() else { continue };
            let Some(node) = nodes.iter().find(|n| n.name == name) else { continue };
            let Some(owner) = namespace_owner(nodes, node) else { continue };
            let (network, address) = match &owner.mode {
                Mode::Bridge { network, address } => (network, address),
                Mode::Host => {
                    let problem = Problem::new(first.span(), format!("node {name}: {}", Refusal::HostMode))
                        .help("remove `ports`: a program on a host-mode node listens on the host's ports itself");
                    self.problem(problem);
                    continue;
                }
                Mode::None => {
                    let problem = Problem::new(first.span(), format!("node {name}: {}", Refusal::NoneMode))
                        .help("put the node on a network with `nat = true` (network = \"NAME\")");
                    self.problem(problem);
                    continue;
                }
                Mode::Container { .. } => continue, // a chain in error: reported already
            };
            let Some(bridge) = bridges.iter().find(|b| &b.network == network) else { continue };
            if !bridge.nat {
                let whose = if owner.name == name { String::new() } else { format!(" (through node {})", owner.name) };
                let problem = Problem::new(
                    first.span(),
                    format!("node {name} is on network {network}{whose}, which has no `nat = true`: only nat networks publish ports"),
                )
                .help(format!("add `nat = true` under [networks.{network}]"));
                self.problem(problem);
                continue;
            }
            let Some(bridge_port) = veths.iter().find_map(|v| {
                let [inner, outer] = &v.ends;
                (inner.netns == owner.netns && inner.name == "eth0" && outer.master.as_deref() == Some(&bridge.device))
                    .then(|| outer.name.clone())
            }) else {
                continue;
            };
            for entry in entries {
                if let Some(bindings) = self.bindings(entry, bridge) {
                    out.push(Publish {
                        node: name.to_string(),
                        spec: entry.get_ref().clone(),
                        network: network.clone(),
                        netns: bridge.netns.clone(),
                        bridge_port: bridge_port.clone(),
                        node_addr: address.addr(),
                        bindings,
                    });
                    self.overlaps(&out, entry);
                }
            }
        }
        out
    }

    /// One entry's bindings, on `bridge`'s network: the syntax, then what the binding
    /// itself and the network's family rule out.
    fn bindings(&mut self, entry: &Sp<String>, bridge: &Bridge) -> Option<Vec<Binding>> {
        let text = entry.get_ref();
        let parsed = match ports::parse(text) {
            Ok(p) => p,
            Err(e) => {
                let problem = Problem::new(entry.span(), format!("`{text}`: {e}")).help(
                    "Docker's -p syntax: \"8080:80\", \"127.0.0.1:5353:53/udp\", \"9000-9002:9000-9002\", \
                     \"[2001:db8::1]:8443:443/tcp\", \"80\" (a free host port)",
                );
                self.problem(problem);
                return None;
            }
        };
        let v6 = bridge.subnet().addr().is_ipv6();
        let mut bindings = Vec::new();
        for mut b in parsed.bindings() {
            if let Some(r) = ports::intrinsic_refusal(&b) {
                self.problem(Problem::new(entry.span(), format!("`{text}`: {r}")));
                return None;
            }
            if !b.host_addr.covers(v6) {
                let r = if v6 {
                    Refusal::NoV4Subnet { addr: b.host_addr, network: bridge.network.clone() }
                } else {
                    Refusal::NoV6Subnet { addr: b.host_addr, network: bridge.network.clone() }
                };
                let like = if v6 { "[::]" } else { "0.0.0.0" };
                self.problem(
                    Problem::new(entry.span(), format!("`{text}`: {r}"))
                        .help(format!("publish on an address of the network's family, like {like}, or leave it out")),
                );
                return None;
            }
            // No address given: every address of the network's family, as `docker port`
            // shows it (`0.0.0.0` or `[::]`).
            if b.host_addr == HostAddr::Any {
                b.host_addr = if v6 { HostAddr::AnyV6 } else { HostAddr::AnyV4 };
            }
            bindings.push(b);
        }
        Some(bindings)
    }

    /// The last entry of `published` against the others: two bindings that catch the same
    /// packets (same namespace, protocol and host port, overlapping addresses) cannot both be.
    fn overlaps(&mut self, published: &[Publish], entry: &Sp<String>) {
        let Some((last, before)) = published.split_last() else { return };
        let mut seen: HashMap<(u16, ports::Proto), Vec<(&Publish, HostAddr)>> = HashMap::new();
        for p in before.iter().filter(|p| p.netns == last.netns) {
            for b in &p.bindings {
                if let Some(port) = b.host_port {
                    seen.entry((port, b.proto)).or_default().push((p, b.host_addr));
                }
            }
        }
        for b in &last.bindings {
            let Some(port) = b.host_port else { continue };
            let clash = seen.get(&(port, b.proto)).and_then(|v| v.iter().find(|(_, a)| a.overlaps(b.host_addr)));
            if let Some((p, addr)) = clash {
                self.problem(
                    Problem::new(
                        entry.span(),
                        format!(
                            "{}:{port}/{} is already published by node {} (`{}`, on {addr})",
                            b.host_addr, b.proto, p.node, p.spec
                        ),
                    )
                    .help("a host port takes one node per address and protocol: pick another host port"),
                );
                return;
            }
        }
    }
}

/// The namespaces that hold a nat network's bridge, in the order of the networks.
fn nat_places(bridges: &[Bridge]) -> Vec<Netns> {
    let mut out: Vec<Netns> = Vec::new();
    for b in bridges.iter().filter(|b| b.nat) {
        if !out.contains(&b.netns) {
            out.push(b.netns.clone());
        }
    }
    out
}

/// The node whose namespace a node uses: itself, or the end of its `container:` chain.
fn namespace_owner<'n>(nodes: &'n [Node], node: &'n Node) -> Option<&'n Node> {
    let mut at = node;
    for _ in 0..=nodes.len() {
        match &at.mode {
            Mode::Container { target } => at = nodes.iter().find(|n| &n.name == target)?,
            Mode::None | Mode::Host | Mode::Bridge { .. } => return Some(at),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::testing::topology;

    fn host_sysctls(text: &str) -> Vec<(String, String)> {
        topology(text).host.sysctls.iter().map(|s| (s.key.clone(), s.value.clone())).collect()
    }

    /// A nat network turns forwarding on in the host for each family it has, as a host
    /// sysctl (shared between labs like any); a file that turns it on itself, under either
    /// name, keeps its own and asked for routing.
    #[test]
    fn a_nat_network_turns_forwarding_on_once_per_family() {
        let nat = "[lab]\nname = \"n\"\n[networks.a]\nsubnet = \"10.1.0.0/24\"\nnat = true\n\
                   [networks.b]\nsubnet = \"fd00:1::/64\"\nnat = true\n";
        let t = topology(nat);
        assert_eq!(
            host_sysctls(nat),
            [("net.ipv4.ip_forward".into(), "1".into()), ("net.ipv6.conf.all.forwarding".into(), "1".into())]
        );
        assert!(!t.host.routes_traffic, "forwarding for nat is not a request to route");

        let asked =
            nat.replace("[networks.a]", "[host]\nsysctl = { \"net.ipv4.conf.all.forwarding\" = 1 }\n[networks.a]");
        let t = topology(&asked);
        assert_eq!(
            host_sysctls(&asked),
            [("net.ipv4.conf.all.forwarding".into(), "1".into()), ("net.ipv6.conf.all.forwarding".into(), "1".into())]
        );
        assert!(t.host.routes_traffic);
    }

    /// A nat network inside a node turns forwarding on in that node's namespace: nothing in
    /// the host, nothing shared.
    #[test]
    fn a_nat_network_inside_a_node_forwards_there() {
        let text = "[lab]\nname = \"n\"\n[nodes.k]\n[networks.a]\nsubnet = \"10.1.0.0/24\"\nnat = true\nin = \"k\"\n";
        let t = topology(text);
        assert!(t.host.sysctls.is_empty());
        let k = t.namespaces.iter().find(|ns| ns.node == "k").unwrap();
        assert_eq!(k.sysctls.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["net.ipv4.ip_forward"]);
    }
}
