//! Spec -> Topology: follow every reference, check every rule, hand out addresses.
//!
//! The resolver keeps going after a mistake so that one run reports everything wrong with
//! a file. A value in error is simply left out of the result; since the result is thrown
//! away when there is any problem, that never reaches the kernel.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use super::ipam::Pool;
use super::names::{self, check_ifname, check_netns_name};
use super::{
    Alias, Bridge, EtcFile, EtcFileKind, HostConfig, Mode, Namespace, Netns, Node, Route, Sysctl, Topology, Tunnel,
    TunnelEnd, TunnelKind, Veth, VethEnd,
};
use crate::diagnostics::Problem;
use crate::spec::{self, NodeSpec, RouteSpec, Sp, Spec};

/// Resolves a parsed file; on failure, every problem found, in file order.
pub fn resolve(spec: &Spec) -> Result<Topology, Vec<Problem>> {
    let mut r = Resolver::new(spec);
    let topology = r.run();
    if r.problems.is_empty() {
        Ok(topology)
    } else {
        let mut problems = r.problems;
        problems.sort_by_key(|p| (p.span.start, p.span.end));
        problems.dedup();
        Err(problems)
    }
}

/// How a node's `network` field reads, before references are followed.
#[derive(Clone)]
enum RawMode<'a> {
    None,
    Host,
    Network(&'a Sp<String>),
    Container { target: &'a str, span: Range<usize> },
}

struct NetworkInfo {
    pool: Option<Pool>,
    subnet: Option<IpNet>,
    gateway: Option<IpAddr>,
    netns: Option<Netns>,
    device: String,
    mtu: Option<u32>,
}

struct Resolver<'a> {
    spec: &'a Spec,
    problems: Vec<Problem>,
    lab: String,
    prefix: String,
    /// False when the namespace prefix is itself invalid (and reported).
    prefix_ok: bool,
    modes: Vec<(&'a str, Range<usize>, RawMode<'a>)>,
    /// Where each node's network stack lives; `None` when that could not be worked out.
    node_netns: HashMap<&'a str, Option<Netns>>,
    networks: HashMap<&'a str, NetworkInfo>,
    /// Interfaces per namespace, with who declared them (for "already used by" messages).
    ifaces: HashMap<(Netns, String), String>,
    /// Every address in the lab, with who has it.
    addresses: HashMap<IpAddr, String>,
    /// Addresses per namespace, in the order they were assigned.
    netns_addrs: HashMap<Netns, Vec<IpAddr>>,
}

impl<'a> Resolver<'a> {
    fn new(spec: &'a Spec) -> Self {
        Resolver {
            spec,
            problems: Vec::new(),
            lab: String::new(),
            prefix: String::new(),
            prefix_ok: true,
            modes: Vec::new(),
            node_netns: HashMap::new(),
            networks: HashMap::new(),
            ifaces: HashMap::new(),
            addresses: HashMap::new(),
            netns_addrs: HashMap::new(),
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push(Problem::new(span, message));
    }

    fn run(&mut self) -> Topology {
        self.lab_names();
        self.node_modes();
        let (namespaces, aliases) = self.namespaces();
        let bridges = self.networks();
        let mut nodes = Vec::new();
        let mut veths = Vec::new();
        let mut bridge_routes = HashMap::new();
        self.bridge_ports(&mut nodes, &mut veths, &mut bridge_routes);
        self.links(&mut veths);
        let tunnels = self.tunnels();
        let mut namespaces = namespaces;
        for ns in &mut namespaces {
            let node = &self.spec.nodes[ns.node.as_str()];
            let netns = Netns::Named(ns.name.clone());
            ns.sysctls = self.sysctls(&node.get_ref().sysctl, true);
            if let Some(default) = bridge_routes.remove(ns.node.as_str()) {
                ns.routes.push(default);
            }
            let routes = self.routes(&netns, &node.get_ref().routes, &ns.routes);
            ns.routes.extend(routes);
        }
        let host = HostConfig {
            sysctls: self.sysctls(&self.spec.host.sysctl, false),
            routes: self.routes(&Netns::Host, &self.spec.host.routes, &[]),
        };
        let files = self.etc_files(&nodes, &aliases);
        Topology { lab: self.lab.clone(), nodes, namespaces, aliases, host, bridges, veths, tunnels, files }
    }

    fn lab_names(&mut self) {
        let lab = self.spec.lab.get_ref();
        let name = lab.name.get_ref();
        let name_ok = names::check_lab_name(name).map_err(|e| {
            self.problem(
                Problem::new(lab.name.span(), e).help(format!("for example: name = \"{}\"", lab_name_like(name))),
            );
        });
        self.lab = name.clone();
        self.prefix = match &lab.prefix {
            Some(p) => {
                let prefix = p.get_ref();
                if !prefix.is_empty() && check_netns_name(prefix).is_err() {
                    self.problem(
                        Problem::new(p.span(), format!("prefix `{prefix}` cannot start a namespace name"))
                            .help("namespace names are files under /run/netns: use A-Z, a-z, 0-9, _, . and -, without `..`; \"\" gives bare node names"),
                    );
                    self.prefix_ok = false;
                }
                prefix.clone()
            }
            None => {
                self.prefix_ok = name_ok.is_ok();
                format!("{name}-")
            }
        };
    }

    /// Every node with a namespace name of its own (bridge, none and container mode) gets
    /// `<prefix><node>` under /run/netns, so that must be a safe file name.
    fn check_node_netns(&mut self, name: &str, span: Range<usize>) {
        // A bad prefix is already reported; checking names built on it would repeat that
        // once per node, so the node name is checked on its own.
        let prefix = if self.prefix_ok { self.prefix.as_str() } else { "" };
        if let Err(e) = check_netns_name(&format!("{prefix}{name}")) {
            let mut problem = Problem::new(span, e);
            if !prefix.is_empty() {
                problem = problem.help(format!(
                    "the namespace name is the prefix `{prefix}` followed by the node name `{name}`; rename the node"
                ));
            }
            self.problem(problem);
        }
    }

    /// Reads each node's `network` field and works out where its stack lives.
    fn node_modes(&mut self) {
        for (key, node) in &self.spec.nodes {
            let name = key.get_ref().as_str();
            if name == "host" {
                self
                    .problem(Problem::new(key.span(), "`host` cannot be a node name: it means the root namespace").help(
                    "for a node that uses the host's namespace, write network = \"host\" on a node with another name",
                ));
            }
            let mode = match &node.get_ref().network {
                None => RawMode::None,
                Some(n) => match n.get_ref().as_str() {
                    "none" => RawMode::None,
                    "host" => RawMode::Host,
                    other => match other.strip_prefix("container:") {
                        Some(target) => RawMode::Container { target, span: n.span() },
                        None => RawMode::Network(n),
                    },
                },
            };
            // Container-mode nodes count too: their second name is a file under /run/netns
            // and a directory under /etc/netns.
            if !matches!(mode, RawMode::Host) {
                self.check_node_netns(name, key.span());
            }
            self.modes.push((name, key.span(), mode));
        }
        for i in 0..self.modes.len() {
            let (name, span) = (self.modes[i].0, self.modes[i].1.clone());
            let netns = match &self.modes[i].2 {
                RawMode::None | RawMode::Network(_) => Some(Netns::Named(format!("{}{name}", self.prefix))),
                RawMode::Host => Some(Netns::Host),
                RawMode::Container { .. } => self.follow_container(i),
            };
            let _ = span;
            self.node_netns.insert(name, netns);
        }
    }

    /// Follows a `container:` chain to the node that owns a namespace.
    fn follow_container(&mut self, start: usize) -> Option<Netns> {
        let mut chain = vec![self.modes[start].0];
        let mut i = start;
        loop {
            let RawMode::Container { target, span } = &self.modes[i].2 else {
                let name = self.modes[i].0;
                return Some(match self.modes[i].2 {
                    RawMode::Host => Netns::Host,
                    _ => Netns::Named(format!("{}{name}", self.prefix)),
                });
            };
            let (target, span) = (*target, span.clone());
            if target.is_empty() {
                if i == start {
                    self.problem(
                        Problem::new(span, "`container:` names no node")
                            .help("write the node whose namespace to share after the colon, like \"container:web\""),
                    );
                }
                return None;
            }
            let Some(next) = self.modes.iter().position(|m| m.0 == target) else {
                if i == start {
                    let known: Vec<&str> = self.modes.iter().map(|m| m.0).filter(|n| *n != chain[0]).collect();
                    self.problem(
                        Problem::new(span, format!("container mode names unknown node `{target}`"))
                            .label("no such node")
                            .suggest(target, known),
                    );
                }
                return None;
            };
            if chain.contains(&target) {
                // A cycle is one mistake: report it once, at the member that comes first in
                // the file, not once per member.
                let first_member = chain
                    .iter()
                    .skip_while(|n| **n != target)
                    .all(|n| self.modes.iter().position(|m| m.0 == *n) >= Some(start));
                if target == chain[0] && first_member {
                    chain.push(target);
                    let start_span = match &self.modes[start].2 {
                        RawMode::Container { span, .. } => span.clone(),
                        _ => unreachable!("the chain starts at a container-mode node"),
                    };
                    self.problem(
                        Problem::new(start_span, format!("container mode goes round in a circle: {}", chain.join(" -> ")))
                            .help("one node in the chain must have a namespace of its own (network = \"none\" or a bridge network)"),
                    );
                }
                return None;
            }
            chain.push(target);
            i = next;
        }
    }

    fn namespaces(&mut self) -> (Vec<Namespace>, Vec<Alias>) {
        let mut namespaces = Vec::new();
        let mut aliases = Vec::new();
        for (name, _, mode) in &self.modes {
            match mode {
                RawMode::None | RawMode::Network(_) => {
                    let ns = format!("{}{name}", self.prefix);
                    self.ifaces.insert((Netns::Named(ns.clone()), "lo".into()), "the loopback device".into());
                    namespaces.push(Namespace { node: name.to_string(), name: ns, sysctls: vec![], routes: vec![] });
                }
                RawMode::Container { .. } => {
                    if let Some(Some(Netns::Named(target))) = self.node_netns.get(name) {
                        aliases.push(Alias {
                            node: name.to_string(),
                            name: format!("{}{name}", self.prefix),
                            target: target.clone(),
                        });
                    }
                }
                RawMode::Host => {}
            }
        }
        (namespaces, aliases)
    }

    fn networks(&mut self) -> Vec<Bridge> {
        let mut bridges = Vec::new();
        for (key, net) in &self.spec.networks {
            let name = key.get_ref().as_str();
            let net = net.get_ref();
            if matches!(name, "none" | "host") || name.starts_with("container:") {
                self.error(key.span(), format!("`{name}` cannot be a network name: it is a network mode"));
            }
            let subnet = self.cidr(&net.subnet).and_then(|subnet| {
                let trunc = subnet.trunc();
                if trunc != subnet {
                    self.problem(
                        Problem::new(net.subnet.span(), format!("subnet {subnet} has host bits set"))
                            .help(format!("did you mean {trunc}?")),
                    );
                    return None;
                }
                Some(subnet)
            });
            let mut pool = subnet.and_then(|s| match Pool::new(s) {
                Ok(pool) => Some(pool),
                Err(e) => {
                    self.error(net.subnet.span(), e);
                    None
                }
            });
            let gateway = match (&net.gateway, &mut pool) {
                (Some(g), pool) => self.addr(g).and_then(|ip| {
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
            let device = match &net.device {
                Some(d) => {
                    if let Err(e) = check_ifname(d.get_ref()) {
                        self.error(d.span(), e);
                    }
                    d.get_ref().clone()
                }
                None => names::invented_bridge(&self.lab, name),
            };
            let device_span = net.device.as_ref().map_or(key.span(), |d| d.span());
            let netns = match &net.in_node {
                None => Some(Netns::Host),
                Some(n) => self.node_ref(n.get_ref(), n.span()),
            };
            let mtu = self.mtu(net.mtu.as_ref());
            if let Some(netns) = &netns {
                self.claim_iface(netns, &device, device_span, &format!("the bridge of network {name}"));
                if let (Some(gw), Some(subnet)) = (gateway, subnet) {
                    let span = net.gateway.as_ref().map_or(key.span(), |g| g.span());
                    self.claim_addr(netns, gw, span, &format!("the gateway of network {name}"));
                    bridges.push(Bridge {
                        network: name.to_string(),
                        netns: netns.clone(),
                        device: device.clone(),
                        gateway: IpNet::new(gw, subnet.prefix_len()).expect("prefix from a parsed subnet"),
                        mtu,
                    });
                }
            }
            self.networks.insert(name, NetworkInfo { pool, subnet, gateway, netns, device, mtu });
        }
        bridges
    }

    /// Bridge-mode nodes: addresses (static ones first, then the rest in file order),
    /// the veth to the bridge, the default route. Also checks fields that the node's
    /// mode makes meaningless.
    fn bridge_ports(&mut self, nodes: &mut Vec<Node>, veths: &mut Vec<Veth>, defaults: &mut HashMap<String, Route>) {
        let spec = self.spec;
        let mut assigned: HashMap<&str, IpAddr> = HashMap::new();
        let mut static_owner: HashMap<IpAddr, &str> = HashMap::new();
        // Static addresses first, so a dynamic one never takes an address named later.
        for (key, node) in &spec.nodes {
            let node = node.get_ref();
            let (Some(ip), Some(net_name)) = (&node.ip, node_network(node)) else { continue };
            let Some(addr) = self.addr(ip) else { continue };
            let Some(info) = self.networks.get_mut(net_name.get_ref().as_str()) else { continue };
            let Some(pool) = &mut info.pool else { continue };
            let gateway = info.gateway;
            let checked = pool.check(addr);
            let problem = if let Err(e) = checked {
                Some(Problem::new(ip.span(), format!("ip {e}")).help(format!(
                    "pick a usable address of {}, or leave `ip` out to get the next free one",
                    info.subnet.map(|s| s.to_string()).unwrap_or_default()
                )))
            } else if Some(addr) == gateway {
                Some(
                    Problem::new(ip.span(), format!("{addr} is the gateway of network {}", net_name.get_ref()))
                        .help("pick another address, or leave `ip` out to get the next free one"),
                )
            } else if !pool.take(addr) {
                let owner = static_owner.get(&addr).copied().unwrap_or("another node");
                Some(
                    Problem::new(ip.span(), format!("{addr} is already the address of node {owner}"))
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
        for (i, (key, node_spec)) in spec.nodes.iter().enumerate() {
            let name = key.get_ref().as_str();
            let node = node_spec.get_ref();
            let netns = self.node_netns.get(name).cloned().flatten();
            let raw = self.modes[i].2.clone();
            let mode = match &raw {
                RawMode::None => Some(Mode::None),
                RawMode::Host => Some(Mode::Host),
                RawMode::Container { target, .. } => Some(Mode::Container { target: target.to_string() }),
                RawMode::Network(net) => self.bridge_port(name, key.span(), node, net, &mut assigned, veths, defaults),
            };
            self.mode_fields(name, node, &raw);
            if let (Some(mode), Some(netns)) = (mode, netns) {
                nodes.push(Node { name: name.to_string(), mode, netns });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bridge_port(
        &mut self,
        name: &str,
        span: Range<usize>,
        node: &NodeSpec,
        net: &Sp<String>,
        assigned: &mut HashMap<&str, IpAddr>,
        veths: &mut Vec<Veth>,
        defaults: &mut HashMap<String, Route>,
    ) -> Option<Mode> {
        let net_name = net.get_ref().as_str();
        let netns = Netns::Named(format!("{}{name}", self.prefix));
        // eth0 is claimed whatever else goes wrong below, so that a route with dev = "eth0"
        // is not reported as well: one mistake, one message.
        self.claim_iface(&netns, "eth0", span.clone(), &format!("node {name}'s port on network {net_name}"));
        if net_name.is_empty() {
            self.problem(
                Problem::new(net.span(), "`network` is empty")
                    .help("none, host, container:NODE, or the name of a [networks.X] of this file"),
            );
            return None;
        }
        if !self.networks.contains_key(net_name) {
            let mut known: Vec<&str> = self.spec.networks.keys().map(|k| k.get_ref().as_str()).collect();
            known.extend(["none", "host"]);
            self.problem(
                Problem::new(net.span(), format!("unknown network `{net_name}`"))
                    .label("not a [networks.X] of this file, nor none, host or container:NODE")
                    .suggest(net_name, known),
            );
            return None;
        }
        let network_mtu = self.networks[net_name].mtu;
        let mtu = self.mtu(node.mtu.as_ref()).or(network_mtu);
        // The default route is known as soon as the gateway is, even if this node's own
        // address is in error: a second default route in `routes` is reported either way.
        if let Some(gateway) = self.networks[net_name].gateway {
            let dst = if gateway.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
            defaults
                .insert(name.to_string(), Route { dst: dst.parse().expect("literal"), via: Some(gateway), dev: None });
        }
        let info = self.networks.get_mut(net_name).expect("checked above");
        let address = match assigned.get(name) {
            Some(a) => Ok(*a),
            None if node.ip.is_some() => return None, // its problem is already reported
            None => {
                info.pool.as_mut()?.next_free().ok_or_else(|| info.subnet.map(|s| s.to_string()).unwrap_or_default())
            }
        };
        let address = match address {
            Ok(a) => a,
            Err(subnet) => {
                let help = self.room_for(net_name).map_or("use a larger subnet".to_string(), |(prefix, n)| {
                    format!("use a larger subnet: a /{prefix} has room for the gateway and all {n} nodes on {net_name}")
                });
                self.problem(
                    Problem::new(
                        net.span(),
                        format!("network {net_name} ({subnet}) has no free address left for node {name}"),
                    )
                    .help(help),
                );
                return None;
            }
        };
        let info = &self.networks[net_name];
        let subnet = info.subnet?;
        let bridge_netns = info.netns.clone()?;
        let device = info.device.clone();
        let address = IpNet::new(address, subnet.prefix_len()).expect("prefix from a parsed subnet");
        let host_end = names::invented_veth(&self.lab, name);
        self.claim_iface(&bridge_netns, &host_end, span.clone(), &format!("the bridge side of node {name}'s eth0"));
        self.claim_addr(&netns, address.addr(), node.ip.as_ref().map_or(span, |ip| ip.span()), &format!("node {name}"));
        veths.push(Veth {
            ends: [
                VethEnd { netns, name: "eth0".into(), address: Some(address), mac: None, master: None },
                VethEnd { netns: bridge_netns, name: host_end, address: None, mac: None, master: Some(device) },
            ],
            mtu,
        });
        Some(Mode::Bridge { network: net_name.to_string(), address })
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

    /// Fields a node's mode makes meaningless are errors, not silently ignored.
    fn mode_fields(&mut self, name: &str, node: &NodeSpec, mode: &RawMode) {
        let set: Vec<(&str, Range<usize>)> = [
            node.ip.as_ref().map(|v| ("ip", v.span())),
            node.mtu.as_ref().map(|v| ("mtu", v.span())),
            node.routes.first().map(|v| ("routes", v.span())),
            node.sysctl.first().map(|(k, _)| ("sysctl", k.span())),
            node.hostname.as_ref().map(|v| ("hostname", v.span())),
            node.dns.first().map(|v| ("dns", v.span())),
            node.hosts.first().map(|(k, _)| ("hosts", k.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (field, span) in set {
            let problem = match mode {
                RawMode::Host => Problem::new(span, format!("node {name} uses the host's own namespace (network = \"host\"); `{field}` would change the host"))
                    .help("host sysctls and routes go under [host]; netlab does not change the host's /etc files"),
                RawMode::Container { target, .. } => Problem::new(span, format!("node {name} shares node {target}'s network namespace (container mode), so it cannot have its own `{field}`"))
                    .help(format!("set `{field}` on node {target}")),
                RawMode::None if matches!(field, "ip" | "mtu") => Problem::new(span, format!("`{field}` applies to a node's eth0 on a bridge network, and node {name} has none"))
                    .help("add network = \"NAME\" with a [networks.NAME] section, or give the address on a [[links]] entry"),
                _ => continue,
            };
            self.problem(problem);
        }
    }

    fn links(&mut self, veths: &mut Vec<Veth>) {
        for link in &self.spec.links {
            let link = link.get_ref();
            let endpoints = link.endpoints.get_ref();
            if endpoints.len() != 2 {
                self.problem(
                    Problem::new(
                        link.endpoints.span(),
                        format!("a link has exactly two endpoints, this one has {}", endpoints.len()),
                    )
                    .help("endpoints = [\"node1:eth1\", \"node2:eth1\"]"),
                );
                continue;
            }
            let addresses = self.per_endpoint(link.addresses.as_ref(), 2, "addresses", |r, s| r.cidr(s));
            let macs = self.per_endpoint(link.mac.as_ref(), 2, "mac", |r, s| r.mac(s));
            let mtu = self.mtu(link.mtu.as_ref());
            let mut ends = Vec::new();
            for (i, endpoint) in endpoints.iter().enumerate() {
                let Some((netns, ifname)) = self.endpoint(endpoint) else { continue };
                self.claim_iface(&netns, &ifname, endpoint.span(), &format!("link endpoint {}", endpoint.get_ref()));
                let address = addresses.get(i).cloned().flatten();
                if let Some(a) = address {
                    let span =
                        link.addresses.as_ref().map(|v| v.get_ref()[i].span()).expect("address came from the list");
                    self.claim_addr(&netns, a.addr(), span, endpoint.get_ref());
                }
                ends.push(VethEnd { netns, name: ifname, address, mac: macs.get(i).cloned().flatten(), master: None });
            }
            if let Ok(ends) = <[VethEnd; 2]>::try_from(ends) {
                veths.push(Veth { ends, mtu });
            }
        }
    }

    fn tunnels(&mut self) -> Vec<Tunnel> {
        let mut tunnels = Vec::new();
        for spec in &self.spec.tunnels {
            let span = spec.span();
            let t = spec.get_ref();
            let kind = *t.kind.get_ref();
            let endpoints = t.endpoints.get_ref();
            let n = endpoints.len();
            let two_only = matches!(kind, spec::TunnelKind::Ipip | spec::TunnelKind::Vxlan);
            if n < 2 || (two_only && n != 2) {
                let want = if two_only { "exactly two endpoints" } else { "two or more endpoints" };
                self.problem(
                    Problem::new(t.endpoints.span(), format!("{} tunnel has {want}, this one has {n}", a_kind(kind)))
                        .help("endpoints = [\"node1:tun0\", \"node2:tun0\"]"),
                );
                continue;
            }
            let underlay = self.per_endpoint(Some(&t.underlay), n, "underlay", |r, s| r.addr(s));
            let addresses = self.per_endpoint(t.addresses.as_ref(), n, "addresses", |r, s| r.addr_or_cidr(s));
            let subnets = self.per_endpoint(t.subnets.as_ref(), n, "subnets", |r, s| r.cidr(s));
            if kind != spec::TunnelKind::Udp {
                if let Some(s) = &t.subnets {
                    self.problem(Problem::new(s.span(), "`subnets` only applies to udp tunnels").help("remove it"));
                }
            } else if n > 2 && t.subnets.is_none() {
                self.problem(
                    Problem::new(t.endpoints.span(), "a udp tunnel with more than two endpoints needs `subnets`").help(
                        "subnets = [...] names the inner subnet each endpoint owns, so the forwarder can pick the peer",
                    ),
                );
            }
            let kind = match kind {
                spec::TunnelKind::Vxlan => {
                    let port = t.port.as_ref().map_or(4789, |p| *p.get_ref());
                    match &t.vni {
                        None => {
                            self.problem(
                                Problem::new(t.kind.span(), "a vxlan tunnel needs `vni`")
                                    .help("add vni = 1 (any number up to 16777215)"),
                            );
                            None
                        }
                        Some(v) if *v.get_ref() > 0x00ff_ffff => {
                            self.error(
                                v.span(),
                                format!("vni {} does not fit in 24 bits (at most 16777215)", v.get_ref()),
                            );
                            None
                        }
                        Some(v) => Some(TunnelKind::Vxlan { vni: *v.get_ref(), port }),
                    }
                }
                other => {
                    if let Some(v) = &t.vni {
                        self.problem(
                            Problem::new(
                                v.span(),
                                format!("`vni` only applies to vxlan tunnels, this one is {}", kind_name(other)),
                            )
                            .help("remove it"),
                        );
                    }
                    match other {
                        spec::TunnelKind::Udp => {
                            Some(TunnelKind::Udp { port: t.port.as_ref().map_or(8285, |p| *p.get_ref()) })
                        }
                        _ => {
                            if let Some(p) = &t.port {
                                self.problem(
                                    Problem::new(
                                        p.span(),
                                        "`port` does not apply to ipip tunnels: ipip is IP protocol 4, it has no ports",
                                    )
                                    .help("remove it"),
                                );
                            }
                            let mode = t.mode.as_ref().map_or(spec::IpipMode::Auto, |m| *m.get_ref());
                            Some(TunnelKind::Ipip { mode })
                        }
                    }
                }
            };
            if let Some(p) = &t.port {
                if *p.get_ref() == 0 {
                    self.error(p.span(), "port 0 is not a usable port");
                }
            }
            if let (Some(m), false) = (&t.mode, *t.kind.get_ref() == spec::TunnelKind::Ipip) {
                self.problem(
                    Problem::new(
                        m.span(),
                        format!("`mode` only applies to ipip tunnels, this one is {}", kind_name(*t.kind.get_ref())),
                    )
                    .help("remove it"),
                );
            }
            let mtu = self.mtu(t.mtu.as_ref());
            let mut ends = Vec::new();
            for (i, endpoint) in endpoints.iter().enumerate() {
                let Some((netns, name)) = self.endpoint(endpoint) else { continue };
                self.claim_iface(&netns, &name, endpoint.span(), &format!("tunnel endpoint {}", endpoint.get_ref()));
                let Some(Some(underlay)) = underlay.get(i).copied() else { continue };
                let underlay_span = t.underlay.get_ref()[i].span();
                self.check_underlay(&netns, underlay, underlay_span);
                let (address, peer) = match addresses.get(i).copied().flatten() {
                    None => (None, None),
                    Some((ip, Some(prefix))) => (Some(IpNet::new(ip, prefix).expect("checked prefix")), None),
                    Some((ip, None)) if n == 2 => {
                        let peer = addresses.get(1 - i).copied().flatten().map(|(p, _)| p);
                        let host = if ip.is_ipv4() { 32 } else { 128 };
                        (Some(IpNet::new(ip, host).expect("host prefix")), peer)
                    }
                    Some((_, None)) => {
                        let span = t.addresses.as_ref().expect("address came from the list").get_ref()[i].span();
                        self.problem(
                            Problem::new(
                                span,
                                "with more than two endpoints, each tunnel address needs a prefix length",
                            )
                            .help("like 10.244.1.0/16"),
                        );
                        (None, None)
                    }
                };
                if let Some(a) = address {
                    let span = t.addresses.as_ref().expect("address came from the list").get_ref()[i].span();
                    self.claim_addr(&netns, a.addr(), span, endpoint.get_ref());
                }
                ends.push(TunnelEnd {
                    netns,
                    name,
                    underlay,
                    address,
                    peer,
                    subnet: subnets.get(i).copied().flatten(),
                });
            }
            if let Some(first) = ends.first() {
                if ends.iter().any(|e| e.underlay.is_ipv4() != first.underlay.is_ipv4()) {
                    self.error(t.underlay.span(), "underlay addresses mix IPv4 and IPv6");
                }
            }
            if let Some(kind) = kind {
                if ends.len() == n {
                    tunnels.push(Tunnel { kind, ends, mtu });
                }
            }
            let _ = span;
        }
        tunnels
    }

    /// The underlay address is the tunnel's outer source: some interface of that
    /// namespace must have it, or the tunnel could never send.
    fn check_underlay(&mut self, netns: &Netns, ip: IpAddr, span: Range<usize>) {
        if *netns == Netns::Host {
            return; // The host's own interfaces are not in the file.
        }
        let has = self.netns_addrs.get(netns).map(Vec::as_slice).unwrap_or_default();
        if !has.contains(&ip) {
            let help = if has.is_empty() {
                format!("{netns} has no addresses in this file; give one of its links that address")
            } else {
                let list: Vec<String> = has.iter().map(ToString::to_string).collect();
                format!("addresses in {netns}: {}", list.join(", "))
            };
            self.problem(
                Problem::new(span, format!("underlay address {ip} is not an address of any interface in {netns}"))
                    .label("the tunnel's outer source address")
                    .help(help),
            );
        }
    }

    fn sysctls(&mut self, table: &indexmap::IndexMap<Sp<String>, Sp<toml::Value>>, per_netns: bool) -> Vec<Sysctl> {
        let mut out = Vec::new();
        for (key, value) in table {
            let k = key.get_ref();
            if let Err(e) = names::check_sysctl_key(k) {
                self.error(key.span(), e);
                continue;
            }
            if per_netns && !k.starts_with("net.") {
                self.problem(
                    Problem::new(key.span(), format!("sysctl {k} is not per network namespace: setting it in a node would change the whole machine"))
                        .help("only net.* sysctls belong to a node; others go under [host]"),
                );
                continue;
            }
            let value = match value.get_ref() {
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::String(s) if !s.contains('\n') => s.clone(),
                toml::Value::Boolean(b) => u8::from(*b).to_string(),
                other => {
                    self.error(
                        value.span(),
                        format!("a sysctl value is a number or a string, not {}", other.type_str()),
                    );
                    continue;
                }
            };
            out.push(Sysctl { key: k.clone(), value });
        }
        out
    }

    /// `implied` are the routes the namespace already gets (the default route of a bridge
    /// network). A destination can only be given once per namespace: the kernel refuses a
    /// second route to it (EEXIST) halfway through `up`.
    fn routes(&mut self, netns: &Netns, routes: &[Sp<RouteSpec>], implied: &[Route]) -> Vec<Route> {
        let mut out: Vec<Route> = Vec::new();
        let mut seen: HashSet<IpNet> = HashSet::new();
        for route in routes {
            let r = route.get_ref();
            let via = r.via.as_ref().and_then(|v| self.addr(v));
            let dst = if r.to.get_ref() == "default" {
                Some(if via.is_some_and(|v| v.is_ipv6()) { "::/0" } else { "0.0.0.0/0" }.parse().expect("literal"))
            } else {
                self.cidr(&r.to).and_then(|dst| {
                    if dst.trunc() != dst {
                        self.problem(
                            Problem::new(r.to.span(), format!("route destination {dst} has host bits set"))
                                .help(format!("did you mean {}?", dst.trunc())),
                        );
                        return None;
                    }
                    Some(dst)
                })
            };
            if let (Some(d), Some(v)) = (dst, via) {
                if d.addr().is_ipv4() != v.is_ipv4() {
                    self.problem(
                        Problem::new(
                            r.via.as_ref().expect("via parsed").span(),
                            format!("gateway {v} and destination {d} are of different IP versions"),
                        )
                        .help("an IPv4 destination needs an IPv4 gateway, an IPv6 one an IPv6 gateway"),
                    );
                }
            }
            if r.via.is_none() && r.dev.is_none() {
                self.problem(
                    Problem::new(route.span(), "a route needs `via` (a gateway) or `dev` (an interface), or both")
                        .help("{ to = \"10.0.0.0/24\", via = \"10.0.1.1\" }"),
                );
            }
            if let Some(dev) = &r.dev {
                let known = self.ifaces.contains_key(&(netns.clone(), dev.get_ref().clone()));
                // The host's own interfaces are not in the file, so any name is allowed there.
                if !known && *netns != Netns::Host {
                    let in_ns: Vec<&str> =
                        self.ifaces.keys().filter(|(n, _)| n == netns).map(|(_, i)| i.as_str()).collect();
                    let p = Problem::new(
                        dev.span(),
                        format!("route device `{}` is not an interface of {netns}", dev.get_ref()),
                    )
                    .suggest(dev.get_ref(), in_ns);
                    self.problem(p);
                }
            }
            if let Some(dst) = dst {
                if implied.iter().any(|i| i.dst == dst) {
                    self.problem(
                        Problem::new(r.to.span(), "this node already gets a default route via its network's gateway")
                            .help("remove this route, or put the node on no network"),
                    );
                    continue;
                }
                if !seen.insert(dst) {
                    let what =
                        if dst.prefix_len() == 0 { "a default route".to_string() } else { format!("a route to {dst}") };
                    self.problem(
                        Problem::new(r.to.span(), format!("{what} is already in this `routes` list"))
                            .help("the kernel keeps one route per destination: remove one of them"),
                    );
                    continue;
                }
                out.push(Route { dst, via, dev: r.dev.as_ref().map(|d| d.get_ref().clone()) });
            }
        }
        out
    }

    /// hostname / hosts / dns, written for every name of the namespace (its own and the
    /// aliases of container-mode nodes) because `ip netns exec NAME` reads /etc/netns/NAME.
    fn etc_files(&mut self, nodes: &[Node], aliases: &[Alias]) -> Vec<EtcFile> {
        let mut files = Vec::new();
        let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        for (i, (key, node)) in self.spec.nodes.iter().enumerate() {
            let name = key.get_ref().as_str();
            let node_spec = node.get_ref();
            // Host and container mode have no /etc/netns files of their own; `mode_fields`
            // reports these fields there.
            if matches!(self.modes[i].2, RawMode::Host | RawMode::Container { .. }) {
                continue;
            }
            // The values are checked even for a node that did not resolve (say its network
            // is unknown), so that they are reported in the same run.
            let hostname = node_spec.hostname.as_ref().filter(|h| match names::check_hostname(h.get_ref()) {
                Err(e) => {
                    self.error(h.span(), e);
                    false
                }
                Ok(()) => true,
            });
            let mut extra = String::new();
            for (host, ip) in &node_spec.hosts {
                if let Err(e) = names::check_hostname(host.get_ref()) {
                    self.error(host.span(), e);
                }
                if let Some(ip) = self.addr(ip) {
                    extra.push_str(&format!("{ip}\t{}\n", host.get_ref()));
                }
            }
            let mut resolv = String::new();
            for server in &node_spec.dns {
                if let Some(ip) = self.addr(server) {
                    resolv.push_str(&format!("nameserver {ip}\n"));
                }
            }
            let Some(node) = by_name.get(name) else { continue };
            let Netns::Named(netns) = &node.netns else { continue };
            let mut hosts = String::new();
            if node_spec.hostname.is_some() || !node_spec.hosts.is_empty() {
                hosts.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
            }
            if let Some(h) = hostname {
                let ip = match &node.mode {
                    Mode::Bridge { address, .. } => address.addr(),
                    _ => self
                        .netns_addrs
                        .get(&node.netns)
                        .and_then(|a| a.first().copied())
                        .unwrap_or(IpAddr::from([127, 0, 1, 1])),
                };
                hosts.push_str(&format!("{ip}\t{}\n", h.get_ref()));
            }
            hosts.push_str(&extra);
            let names = std::iter::once(netns.as_str())
                .chain(aliases.iter().filter(|a| a.target == *netns).map(|a| a.name.as_str()));
            for ns in names {
                for (kind, content) in [(EtcFileKind::Hosts, &hosts), (EtcFileKind::ResolvConf, &resolv)] {
                    if !content.is_empty() {
                        files.push(EtcFile { netns: ns.to_string(), kind, content: content.clone() });
                    }
                }
            }
        }
        files
    }

    // ---- references and claims ----

    /// `NODE:IFNAME` -> (namespace, interface name).
    fn endpoint(&mut self, endpoint: &Sp<String>) -> Option<(Netns, String)> {
        let text = endpoint.get_ref();
        let Some((node, ifname)) = text.split_once(':').filter(|(node, _)| !node.is_empty()) else {
            self.problem(
                Problem::new(endpoint.span(), format!("endpoint `{text}` is not NODE:INTERFACE"))
                    .help("like \"ns1:veth0\"; `host` names the root namespace, as in \"host:veth1\""),
            );
            return None;
        };
        // Point at the part that is wrong, not at the whole "node:interface".
        if let Err(e) = check_ifname(ifname) {
            self.error(part_span(endpoint, node.len() + 1..text.len()), e);
            return None;
        }
        let netns = self.node_ref(node, part_span(endpoint, 0..node.len()))?;
        Some((netns, ifname.to_string()))
    }

    /// A node named in a reference; `host` is the root namespace.
    fn node_ref(&mut self, node: &str, span: Range<usize>) -> Option<Netns> {
        if node == "host" {
            return Some(Netns::Host);
        }
        match self.node_netns.get(node) {
            Some(netns) => netns.clone(),
            None => {
                let mut known: Vec<&str> = self.spec.nodes.keys().map(|k| k.get_ref().as_str()).collect();
                known.push("host");
                self.problem(
                    Problem::new(span, format!("unknown node `{node}`"))
                        .label("no [nodes.X] of this name")
                        .suggest(node, known),
                );
                None
            }
        }
    }

    fn claim_iface(&mut self, netns: &Netns, name: &str, span: Range<usize>, what: &str) {
        let key = (netns.clone(), name.to_string());
        if let Some(first) = self.ifaces.get(&key) {
            let message = format!("interface {name} appears twice in namespace {netns}: it is already {first}");
            self.problem(
                Problem::new(span, message).help("interface names are unique within one namespace; rename one of them"),
            );
        } else {
            self.ifaces.insert(key, what.to_string());
        }
    }

    fn claim_addr(&mut self, netns: &Netns, ip: IpAddr, span: Range<usize>, who: &str) {
        if let Some(first) = self.addresses.get(&ip) {
            let message = format!("address {ip} is assigned twice: it already belongs to {first}");
            self.problem(
                Problem::new(span, message)
                    .label("duplicate address")
                    .help("an address belongs to one interface in the whole lab: pick another one"),
            );
        } else {
            self.addresses.insert(ip, who.to_string());
            self.netns_addrs.entry(netns.clone()).or_default().push(ip);
        }
    }

    /// For fields with one entry per endpoint: checks the count and parses each entry;
    /// `""` means "none for this endpoint". A missing field gives an empty list.
    fn per_endpoint<T>(
        &mut self,
        list: Option<&Sp<Vec<Sp<String>>>>,
        n: usize,
        field: &str,
        mut parse: impl FnMut(&mut Self, &Sp<String>) -> Option<T>,
    ) -> Vec<Option<T>> {
        let Some(list) = list else { return Vec::new() };
        let len = list.get_ref().len();
        if len != n {
            let entries = if len == 1 { "entry" } else { "entries" };
            self.problem(Problem::new(list.span(), format!("`{field}` has {len} {entries} for {n} endpoints")).help(
                format!(
                    "give one per endpoint, in the same order{}",
                    if field == "underlay" { "" } else { "; \"\" for none" }
                ),
            ));
            return Vec::new();
        }
        list.get_ref()
            .iter()
            .map(|s| if s.get_ref().is_empty() && field != "underlay" { None } else { parse(self, s) })
            .collect()
    }

    // ---- values ----

    fn cidr(&mut self, s: &Sp<String>) -> Option<IpNet> {
        let text = s.get_ref();
        if !text.contains('/') {
            if let Ok(ip) = text.parse::<IpAddr>() {
                let example = if ip.is_ipv4() { "/24" } else { "/64" };
                self.problem(
                    Problem::new(s.span(), format!("`{text}` needs a prefix length"))
                        .help(format!("like {text}{example}")),
                );
                return None;
            }
        }
        match text.parse::<IpNet>() {
            Ok(net) => Some(net),
            Err(_) if prefix_too_long(text).is_some() => {
                let (ip, max) = prefix_too_long(text).expect("checked in the guard");
                let v = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                self.problem(
                    Problem::new(s.span(), format!("`{text}` has a prefix length longer than {v}'s {max} bits"))
                        .help(format!("a prefix length from 0 to {max}")),
                );
                None
            }
            Err(_) => {
                self.problem(
                    Problem::new(s.span(), format!("`{text}` is not a CIDR address"))
                        .help("like 10.0.0.1/24 or fd00::1/64"),
                );
                None
            }
        }
    }

    fn addr(&mut self, s: &Sp<String>) -> Option<IpAddr> {
        let text = s.get_ref();
        match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                let help = if text.contains('/') {
                    "an address here has no prefix length, like 10.0.0.1"
                } else {
                    "like 10.0.0.1 or fd00::1"
                };
                self.problem(Problem::new(s.span(), format!("`{text}` is not an IP address")).help(help));
                None
            }
        }
    }

    /// A bare address (point-to-point) or a CIDR.
    fn addr_or_cidr(&mut self, s: &Sp<String>) -> Option<(IpAddr, Option<u8>)> {
        if s.get_ref().contains('/') {
            self.cidr(s).map(|n| (n.addr(), Some(n.prefix_len())))
        } else {
            self.addr(s).map(|a| (a, None))
        }
    }

    fn mac(&mut self, s: &Sp<String>) -> Option<String> {
        let text = s.get_ref();
        let octets: Vec<Option<u8>> =
            text.split(':').map(|o| if o.len() == 2 { u8::from_str_radix(o, 16).ok() } else { None }).collect();
        if octets.len() != 6 || octets.iter().any(Option::is_none) {
            self.problem(
                Problem::new(s.span(), format!("`{text}` is not a MAC address"))
                    .help("six hex octets, like 02:42:ac:11:00:02"),
            );
            return None;
        }
        if octets[0].is_some_and(|o| o & 1 == 1) {
            self.problem(
                Problem::new(s.span(), format!("{text} is a multicast MAC address; an interface needs a unicast one"))
                    .help("clear the lowest bit of the first octet, like 02:..."),
            );
            return None;
        }
        Some(text.to_ascii_lowercase())
    }

    fn mtu(&mut self, mtu: Option<&Sp<u32>>) -> Option<u32> {
        let mtu = mtu?;
        let value = *mtu.get_ref();
        if !(68..=65535).contains(&value) {
            self.problem(
                Problem::new(mtu.span(), format!("mtu {value} is out of range")).help("an MTU is between 68 and 65535"),
            );
            return None;
        }
        Some(value)
    }
}

/// The span of `part` (byte offsets into the string's value) within the file. Only a plain
/// `"..."` or `'...'` maps offsets one to one; a string with escapes keeps its whole span.
fn part_span(s: &Sp<String>, part: Range<usize>) -> Range<usize> {
    let span = s.span();
    if span.len() == s.get_ref().len() + 2 && !part.is_empty() {
        span.start + 1 + part.start..span.start + 1 + part.end
    } else {
        span
    }
}

fn node_network(node: &NodeSpec) -> Option<&Sp<String>> {
    node.network
        .as_ref()
        .filter(|n| !matches!(n.get_ref().as_str(), "none" | "host") && !n.get_ref().starts_with("container:"))
}

/// A lab name like the one given, made valid: "My_Lab" gives "my-lab".
fn lab_name_like(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' })
        .collect();
    let cleaned: String = cleaned.trim_matches('-').chars().take(names::LAB_MAX).collect();
    let cleaned = cleaned.trim_end_matches('-');
    if cleaned.is_empty() {
        "my-lab".into()
    } else {
        cleaned.into()
    }
}

/// For `10.0.0.0/33`: the address and the longest prefix its version allows, when the
/// address is fine and only the prefix length is too long.
fn prefix_too_long(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len > u32::from(max)).then_some((ip, max))
}

/// "an ipip", "a vxlan", "a udp".
fn a_kind(kind: spec::TunnelKind) -> &'static str {
    match kind {
        spec::TunnelKind::Ipip => "an ipip",
        spec::TunnelKind::Vxlan => "a vxlan",
        spec::TunnelKind::Udp => "a udp",
    }
}

fn kind_name(kind: spec::TunnelKind) -> &'static str {
    match kind {
        spec::TunnelKind::Ipip => "ipip",
        spec::TunnelKind::Vxlan => "vxlan",
        spec::TunnelKind::Udp => "udp",
    }
}
