//! Bridge networks (`[networks.X]`) and the nodes on them: each network's subnet, gateway
//! and bridge device, then each bridge-mode node's address (IPAM: static addresses first,
//! then the next free one in file order), its veth to the bridge (with its `impair`) and
//! its default route.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::nodes::RawMode;
use super::{values, Resolver};
use crate::diagnostics::{shown, Problem};
use crate::spec::{NodeSpec, Sp};
use crate::topology::ipam::Pool;
use crate::topology::names::{self, check_ifname};
use crate::topology::{Bridge, Mode, Netns, Node, Route, Veth, VethEnd};

/// Ports a Linux bridge takes: BR_MAX_PORTS (1024) less port number 0, which is reserved.
pub(super) const BRIDGE_PORTS_MAX: usize = 1023;

/// What the nodes of a network need to know about it. Every field is `None` when it is in
/// error (and reported).
pub(super) struct NetworkInfo {
    pool: Option<Pool>,
    subnet: Option<IpNet>,
    gateway: Option<IpAddr>,
    /// Where the bridge lives.
    netns: Option<Netns>,
    device: String,
    mtu: Option<u32>,
}

/// Every node, resolved, with what bridge-mode nodes add to the lab.
pub(super) struct BridgePorts {
    pub(super) nodes: Vec<Node>,
    /// Each bridge-mode node's `eth0` and its bridge-side end.
    pub(super) veths: Vec<Veth>,
    /// Each node's default route via its network's gateway, by the node's index.
    pub(super) default_routes: Vec<Option<Route>>,
}

/// One bridge-mode node's share of [`BridgePorts`].
struct Port {
    mode: Option<Mode>,
    veth: Option<Veth>,
    default_route: Option<Route>,
}

impl<'a> Resolver<'a> {
    /// Each `[networks.X]`: its bridge, and what its nodes need to know.
    pub(super) fn networks(&mut self) -> Vec<Bridge> {
        let mut bridges = Vec::new();
        for (key, net) in &self.spec.networks {
            let name = key.get_ref().as_str();
            let net = net.get_ref();
            if matches!(name, "none" | "host") || name.starts_with("container:") {
                self.error(key.span(), format!("`{}` cannot be a network name: it is a network mode", shown(name)));
            } else if let Err(e) = names::check_name("network", name) {
                self.error(key.span(), e);
            }
            let subnet = self.report(values::network(&net.subnet, "subnet"));
            let mut pool = subnet.and_then(|s| Pool::new(s).map_err(|e| self.error(net.subnet.span(), e)).ok());
            let gateway = match (&net.gateway, &mut pool) {
                (Some(g), pool) => self.report(values::addr(g)).and_then(|ip| {
                    if let Some(pool) = pool {
                        if let Err(e) = pool.check(ip) {
                            let like = pool.first_host();
                            self.problem(Problem::new(g.span(), format!("gateway {e}")).help(format!(
                                "a usable address of the subnet, like {like}, or leave `gateway` out for that one"
                            )));
                            return None;
                        }
                        pool.take(ip);
                    }
                    Some(ip)
                }),
                (None, Some(pool)) => {
                    let ip = pool.first_host();
                    pool.take(ip);
                    Some(ip)
                }
                (None, None) => None,
            };
            let netns = match &net.in_node {
                None => Some(Netns::Host),
                Some(n) => self.node_ref(n.get_ref(), n.span()),
            };
            let device = match &net.device {
                Some(d) => {
                    if let Err(e) = check_ifname(d.get_ref()) {
                        self.problem(Problem::new(d.span(), e).help(names::IFNAME_HELP));
                    }
                    d.get_ref().clone()
                }
                None => self.invent(netns.as_ref(), |n| names::invented_bridge(&self.lab, name, n)),
            };
            let device_span = net.device.as_ref().map_or(key.span(), |d| d.span());
            let mtu = self.mtu(net.mtu.as_ref());
            if let (Some(m), Some(s), Some(mtu_spec)) = (mtu, subnet, &net.mtu) {
                if s.addr().is_ipv6() && m < values::IPV6_MIN_MTU {
                    self.problem(values::ipv6_mtu(mtu_spec.span(), &format!("network {}", shown(name)), m));
                }
            }
            if let Some(netns) = &netns {
                self.claim_iface(netns, &device, device_span, &format!("the bridge of network {}", shown(name)));
                if let (Some(gw), Some(subnet)) = (gateway, subnet) {
                    let span = net.gateway.as_ref().map_or(key.span(), |g| g.span());
                    self.claim_addr(netns, gw, span, &format!("the gateway of network {}", shown(name)));
                    bridges.push(Bridge {
                        network: name.to_string(),
                        netns: netns.clone(),
                        device: device.clone(),
                        gateway: IpNet::new(gw, subnet.prefix_len()).expect("prefix from a parsed subnet"),
                        mtu,
                        nat: net.nat.as_ref().is_some_and(|n| *n.get_ref()),
                        icc: net.icc.as_ref().is_none_or(|i| *i.get_ref()),
                    });
                }
            }
            self.networks.insert(name, NetworkInfo { pool, subnet, gateway, netns, device, mtu });
        }
        bridges
    }

    /// Every node in file order, with the addresses, veths and default routes of the
    /// bridge-mode ones. Also checks fields that a node's mode makes meaningless.
    pub(super) fn bridge_ports(&mut self) -> BridgePorts {
        let spec = self.spec;
        let static_ips = self.static_addresses();
        let on_bridges = self.modes.iter().filter(|m| matches!(m.mode, RawMode::Network(_))).count();
        let mut ports = BridgePorts {
            nodes: Vec::with_capacity(spec.nodes.len()),
            // The links' veths join these later.
            veths: Vec::with_capacity(on_bridges + spec.links.len()),
            default_routes: Vec::new(),
        };
        if on_bridges > 0 {
            ports.default_routes.resize(spec.nodes.len(), None);
        }
        for (i, (key, node_spec)) in spec.nodes.iter().enumerate() {
            let name = key.get_ref().as_str();
            let node = node_spec.get_ref();
            let netns = self.netns_at(i);
            let raw = self.modes[i].mode;
            let mode = match &raw {
                RawMode::None => Some(Mode::None),
                RawMode::Host => Some(Mode::Host),
                RawMode::Container(target) => Some(Mode::Container { target: target.to_string() }),
                RawMode::Network(net) => {
                    let port = self.bridge_port(key, node, net, static_ips.get(name).copied());
                    if let Some(route) = port.default_route {
                        ports.default_routes[i] = Some(route);
                    }
                    ports.veths.extend(port.veth);
                    port.mode
                }
            };
            self.mode_fields(name, node, &raw);
            if let (Some(mode), Some(netns)) = (mode, netns) {
                ports.nodes.push(Node { name: name.to_string(), mode, netns });
            }
        }
        ports
    }

    /// Reserves every static `ip` of a bridge-mode node, before any dynamic address is
    /// handed out, so that a dynamic one never takes an address named later in the file.
    fn static_addresses(&mut self) -> HashMap<&'a str, IpAddr> {
        let spec = self.spec;
        let mut assigned: HashMap<&str, IpAddr> = HashMap::new();
        let mut static_owner: HashMap<IpAddr, &str> = HashMap::new();
        for (key, node) in &spec.nodes {
            let node = node.get_ref();
            let (Some(ip), Some(net_name)) = (&node.ip, node_network(node)) else { continue };
            let Some(addr) = self.report(values::addr(ip)) else { continue };
            let Some(info) = self.networks.get_mut(net_name.get_ref().as_str()) else { continue };
            let Some(pool) = &mut info.pool else { continue };
            let gateway = info.gateway;
            let problem = if let Err(e) = pool.check(addr) {
                Some(Problem::new(ip.span(), format!("ip {e}")).help(format!(
                    "pick a usable address of {}, or leave `ip` out to get the next free one",
                    info.subnet.map(|s| s.to_string()).unwrap_or_default()
                )))
            } else if Some(addr) == gateway {
                Some(
                    Problem::new(ip.span(), format!("{addr} is the gateway of network {}", shown(net_name.get_ref())))
                        .help("pick another address, or leave `ip` out to get the next free one"),
                )
            } else if !pool.take(addr) {
                let owner = static_owner.get(&addr).copied().unwrap_or("another node");
                Some(
                    Problem::new(ip.span(), format!("{addr} is already the address of node {}", shown(owner)))
                        .help("pick another address, or leave `ip` out to get the next free one"),
                )
            } else {
                None
            };
            match problem {
                Some(p) => self.problem(p),
                None => {
                    static_owner.insert(addr, key.get_ref());
                    assigned.insert(key.get_ref(), addr);
                }
            }
        }
        assigned
    }

    /// A bridge-mode node `key` on network `net`: its address (`static_ip` if it has one,
    /// else the next free one), its `eth0` and the bridge side, its default route.
    fn bridge_port(&mut self, key: &Sp<String>, node: &NodeSpec, net: &Sp<String>, static_ip: Option<IpAddr>) -> Port {
        let (name, span) = (key.get_ref().as_str(), key.span());
        let mut port = Port { mode: None, veth: None, default_route: None };
        let net_name = net.get_ref().as_str();
        let netns = self.own_netns(name);
        // eth0 is claimed whatever else goes wrong below, so that a route with dev = "eth0"
        // is not reported as well: one mistake, one message.
        self.claim_iface(
            &netns,
            "eth0",
            span.clone(),
            &format!("node {}'s port on network {}", shown(name), shown(net_name)),
        );
        if net_name.is_empty() {
            self.problem(
                Problem::new(net.span(), "`network` is empty")
                    .help("none, host, container:NODE, or the name of a [networks.X] of this file"),
            );
            return port;
        }
        if !self.networks.contains_key(net_name) {
            let mut known: Vec<&str> = self.spec.networks.keys().map(|k| k.get_ref().as_str()).collect();
            known.extend(["none", "host"]);
            self.problem(
                Problem::new(net.span(), format!("unknown network `{}`", shown(net_name)))
                    .label("not a [networks.X] of this file, nor none, host or container:NODE")
                    .suggest(net_name, known),
            );
            return port;
        }
        let network_mtu = self.networks[net_name].mtu;
        let own_mtu = self.mtu(node.mtu.as_deref());
        if let (Some(m), Some(s), Some(mtu_spec)) = (own_mtu, self.networks[net_name].subnet, &node.mtu) {
            if s.addr().is_ipv6() && m < values::IPV6_MIN_MTU {
                self.problem(values::ipv6_mtu(mtu_spec.span(), &format!("node {}'s eth0", shown(name)), m));
            }
        }
        let mtu = own_mtu.or(network_mtu);
        // The default route is known as soon as the gateway is, even if this node's own
        // address is in error: a second default route in `routes` is reported either way.
        if let Some(gateway) = self.networks[net_name].gateway {
            let dst = if gateway.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
            port.default_route = Some(Route { dst: dst.parse().expect("literal"), via: Some(gateway), dev: None });
        }
        let info = self.networks.get_mut(net_name).expect("checked above");
        let address = match static_ip {
            Some(a) => a,
            None if node.ip.is_some() => return port, // its problem is already reported
            None => {
                let Some(pool) = info.pool.as_mut() else { return port };
                match pool.next_free() {
                    Some(a) => a,
                    None => {
                        let subnet = info.subnet.map(|s| s.to_string()).unwrap_or_default();
                        self.subnet_full(net, &subnet, name);
                        return port;
                    }
                }
            }
        };
        let info = &self.networks[net_name];
        let (Some(subnet), Some(bridge_netns)) = (info.subnet, info.netns.clone()) else { return port };
        let device = info.device.clone();
        let address = IpNet::new(address, subnet.prefix_len()).expect("prefix from a parsed subnet");
        let host_end = self.invent(Some(&bridge_netns), |n| names::invented_veth(&self.lab, name, n));
        self.claim_iface(
            &bridge_netns,
            &host_end,
            span.clone(),
            &format!("the bridge side of node {}'s eth0", shown(name)),
        );
        self.claim_addr(
            &netns,
            address.addr(),
            node.ip.as_ref().map_or(span, |ip| ip.span()),
            &format!("node {}", shown(name)),
        );
        let impair = node.impair.as_ref().and_then(|i| self.impair(i, (&netns, "eth0")));
        if let (Some(imp), Some(spec)) = (&impair, &node.impair) {
            self.claim_relay_ends(imp, spec.span());
        }
        port.veth = Some(Veth {
            ends: [
                VethEnd { netns, name: "eth0".into(), address: Some(address), mac: None, master: None },
                VethEnd { netns: bridge_netns, name: host_end, address: None, mac: None, master: Some(device) },
            ],
            mtu,
            impair,
        });
        port.mode = Some(Mode::Bridge { network: net_name.to_string(), address });
        port
    }

    /// A bridge takes at most [`BRIDGE_PORTS_MAX`] ports; `up` would fail with EXFULL at
    /// the next one, after thousands of ops. Every veth end whose master is the bridge counts
    /// (a container-mode node shares its target's port and adds none).
    pub(super) fn bridge_port_limit(&mut self, bridges: &[Bridge], veths: &[Veth]) {
        let mut ports: HashMap<(&Netns, &str), usize> = HashMap::new();
        for end in veths.iter().flat_map(|v| &v.ends) {
            if let Some(master) = &end.master {
                *ports.entry((&end.netns, master.as_str())).or_default() += 1;
            }
        }
        for bridge in bridges {
            let n = ports.get(&(&bridge.netns, bridge.device.as_str())).copied().unwrap_or(0);
            if n <= BRIDGE_PORTS_MAX {
                continue;
            }
            let Some(key) = self.spec.networks.keys().find(|k| k.get_ref() == &bridge.network) else { continue };
            let name = shown(&bridge.network);
            let parts = n.div_ceil(BRIDGE_PORTS_MAX);
            let message = format!(
                "network {name} has {n} ports, and a Linux bridge takes at most {BRIDGE_PORTS_MAX} (BR_MAX_PORTS): \
                 `up` would fail at the {}th",
                BRIDGE_PORTS_MAX + 1
            );
            let help = format!(
                "split its nodes over {parts} networks of at most {BRIDGE_PORTS_MAX} nodes, each with its own subnet \
                 (like [networks.{name}-2]); nodes of different networks reach each other through their gateways \
                 where the bridges forward (sysctl net.ipv4.ip_forward = 1)"
            );
            self.problem(Problem::new(key.span(), message).help(help));
        }
    }

    /// Network `net` (`subnet`) has no address left for node `name`.
    fn subnet_full(&mut self, net: &Sp<String>, subnet: &str, name: &str) {
        let net_name = shown(net.get_ref());
        let name = shown(name);
        let help = self.room_for(net.get_ref()).map_or("use a larger subnet".to_string(), |(prefix, n)| {
            format!("use a larger subnet: a /{prefix} has room for the gateway and all {n} nodes on {net_name}")
        });
        self.problem(
            Problem::new(net.span(), format!("network {net_name} ({subnet}) has no free address left for node {name}"))
                .help(help),
        );
    }

    /// The prefix length a network needs for its gateway and every node on it, and how many
    /// nodes that is.
    fn room_for(&self, net_name: &str) -> Option<(u8, usize)> {
        let subnet = self.networks.get(net_name)?.subnet?;
        let nodes = self
            .spec
            .nodes
            .values()
            .filter(|n| node_network(n.get_ref()).is_some_and(|x| x.get_ref() == net_name))
            .count();
        // IPv4 loses the network and broadcast addresses; IPv6 only the network address.
        let reserved = if subnet.addr().is_ipv4() { 2 } else { 1 };
        let needed = (nodes + 1 + reserved) as u128;
        let host_bits = u8::try_from(128 - (needed - 1).leading_zeros()).ok()?;
        Some((subnet.max_prefix_len().checked_sub(host_bits)?, nodes))
    }
}

/// The bridge network a node is on, if its `network` names one.
pub(super) fn node_network(node: &NodeSpec) -> Option<&Sp<String>> {
    node.network
        .as_ref()
        .filter(|n| !matches!(n.get_ref().as_str(), "none" | "host") && !n.get_ref().starts_with("container:"))
}
