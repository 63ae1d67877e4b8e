//! Spec -> Topology: follow every reference, check every rule, hand out addresses.
//!
//! The resolver keeps going after a mistake so that one run reports everything wrong with
//! a file. A value in error is simply left out of the result; since the result is thrown
//! away when there is any problem, that never reaches the kernel.
//!
//! One stage per concern, in the order [`Resolver::run`] calls them (later stages look up
//! what earlier ones recorded in the [`Resolver`]):
//! - `nodes`: the lab's names, each node's mode and where its network stack lives;
//! - `networks`: bridge networks, their addresses (IPAM) and the nodes on them;
//! - `links`: `[[links]]` veth pairs;
//! - `tunnels`: `[[tunnels]]`;
//! - `impair`: what a link's or a bridge-mode node's `impair` asks of its frames;
//! - `sysctls` and `routes`: per-namespace and host settings;
//! - `etc_files`: `/etc/netns/<ns>/hosts` and `resolv.conf`;
//! - `ports`: the forwarding a nat network needs, and each node's published ports;
//! - `processes`: each node's processes and one-shot `exec` commands;
//! - `values`: single values (addresses, MACs, MTUs) parsed on their own.
//!
//! This file holds what every stage shares: the problems found so far, the claims on
//! interface names and addresses, and references to nodes and endpoints.

mod etc_files;
mod impair;
mod links;
mod networks;
mod nodes;
mod ports;
mod processes;
mod routes;
mod sysctls;
mod tunnels;
mod values;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;

use nodes::NodeMode;

use super::{names, HostConfig, Netns, Topology};
use crate::diagnostics::{shown, Problem};
use crate::spec::{Sp, Spec};

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

struct Resolver<'a> {
    spec: &'a Spec,
    problems: Vec<Problem>,
    lab: String,
    prefix: String,
    /// False when the namespace prefix is itself invalid (and reported).
    prefix_ok: bool,
    /// Every node's `network` field as written, in file order.
    modes: Vec<NodeMode<'a>>,
    networks: HashMap<&'a str, networks::NetworkInfo>,
    /// Interfaces per namespace, with who declared them (for "already used by" messages).
    ifaces: HashMap<(Netns, String), String>,
    /// Every interface name the file writes (link and tunnel ends, bridge devices), in any
    /// namespace: names netlab invents keep clear of them.
    written_ifnames: HashSet<&'a str>,
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
            networks: HashMap::new(),
            ifaces: HashMap::new(),
            written_ifnames: written_ifnames(spec),
            addresses: HashMap::new(),
            netns_addrs: HashMap::new(),
        }
    }

    /// The whole pipeline. The order matters: a stage claims interface names and addresses
    /// that later stages check against (a link's `eth0` clashes with a bridge port's), and
    /// the tunnels' underlay must be an address handed out before them.
    fn run(&mut self) -> Topology {
        self.lab_names();
        self.node_modes();
        let (mut namespaces, aliases) = self.namespaces();
        let bridges = self.networks();
        let networks::BridgePorts { nodes, mut veths, mut default_routes } = self.bridge_ports();
        veths.extend(self.links());
        self.bridge_port_limit(&bridges, &veths);
        let tunnels = self.tunnels();
        // Only namespaces with a gateway route need their connected prefixes.
        let with_gateways: HashSet<Netns> = namespaces
            .iter()
            .filter(|ns| self.spec.nodes[ns.node.as_str()].get_ref().routes.iter().any(|r| r.get_ref().via.is_some()))
            .map(|ns| Netns::Named(ns.name.clone()))
            .collect();
        let mut connected = self.connected(&with_gateways);
        for ns in &mut namespaces {
            let node = self.spec.nodes[ns.node.as_str()].get_ref();
            let netns = Netns::Named(ns.name.clone());
            ns.sysctls = self.sysctls(&node.sysctl, &netns);
            let index = self.spec.nodes.get_index_of(ns.node.as_str()).expect("a namespace's node");
            if let Some(default) = default_routes.get_mut(index).and_then(Option::take) {
                ns.routes.push(default);
            }
            let connected = connected.remove(&netns).flatten();
            let routes = self.routes(&netns, &node.routes, &ns.routes, Some(connected));
            ns.routes.extend(routes);
        }
        let sysctls = self.sysctls(&self.spec.host.sysctl, &Netns::Host);
        let mut host = HostConfig {
            routes_traffic: ports::routes_traffic(&sysctls),
            sysctls,
            routes: self.routes(&Netns::Host, &self.spec.host.routes, &[], None),
        };
        for ns in &mut namespaces {
            ns.routes_traffic = ports::routes_traffic(&ns.sysctls);
        }
        self.nat_forwarding(&bridges, &mut host, &mut namespaces);
        self.firewall_names(&bridges);
        let published = self.published(&nodes, &bridges, &veths);
        let files = self.etc_files(&nodes, &aliases);
        let (processes, execs) = self.processes(&nodes, &aliases);
        let relay_netns = names::relay_netns(&self.lab);
        if veths.iter().any(|v| v.impair.is_some()) {
            self.check_relay_netns(&relay_netns);
        }
        Topology {
            lab: self.lab.clone(),
            nodes,
            namespaces,
            aliases,
            host,
            bridges,
            veths,
            tunnels,
            files,
            processes,
            execs,
            relay_netns,
            published,
        }
    }

    // ---- problems ----

    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push(Problem::new(span, message));
    }

    /// The value, or `None` with its problem recorded.
    fn report<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        result.map_err(|p| self.problem(p)).ok()
    }

    // ---- references and claims ----

    /// `NODE:IFNAME` -> (namespace, interface name).
    fn endpoint(&mut self, endpoint: &Sp<String>) -> Option<(Netns, String)> {
        let text = endpoint.get_ref();
        let Some((node, ifname)) = text.split_once(':').filter(|(node, _)| !node.is_empty()) else {
            self.problem(
                Problem::new(endpoint.span(), format!("endpoint `{}` is not NODE:INTERFACE", shown(text)))
                    .help("like \"ns1:veth0\"; `host` names the root namespace, as in \"host:veth1\""),
            );
            return None;
        };
        // Point at the part that is wrong, not at the whole "node:interface".
        if let Err(e) = super::names::check_ifname(ifname) {
            let span = values::part_span(endpoint, node.len() + 1..text.len());
            self.problem(Problem::new(span, e).help(super::names::IFNAME_HELP));
            return None;
        }
        let netns = self.node_ref(node, values::part_span(endpoint, 0..node.len()))?;
        Some((netns, ifname.to_string()))
    }

    /// A node named in a reference; `host` is the root namespace.
    fn node_ref(&mut self, node: &str, span: Range<usize>) -> Option<Netns> {
        if node == "host" {
            return Some(Netns::Host);
        }
        match self.spec.nodes.get_index_of(node) {
            Some(i) => self.netns_at(i),
            None => {
                let mut known: Vec<&str> = self.spec.nodes.keys().map(|k| k.get_ref().as_str()).collect();
                known.push("host");
                self.problem(
                    Problem::new(span, format!("unknown node `{}`", shown(node)))
                        .label("no [nodes.X] of this name")
                        .suggest(node, known),
                );
                None
            }
        }
    }

    /// A name netlab invents for an interface in `netns`: the first of the candidates
    /// `name(0)`, `name(1)`, ... that no interface of the lab has there (claimed before) and
    /// that the file does not write anywhere (claimed after, or elsewhere). Two invented
    /// names clash by chance only (a 65-bit hash), but inside one lab not even so.
    fn invent(&self, netns: Option<&Netns>, name: impl Fn(u32) -> String) -> String {
        super::names::first_free(name, |n| {
            self.written_ifnames.contains(n)
                || netns.is_some_and(|ns| self.ifaces.contains_key(&(ns.clone(), n.to_string())))
        })
    }

    /// Records that `netns` has an interface `name`; a second claim is a problem.
    fn claim_iface(&mut self, netns: &Netns, name: &str, span: Range<usize>, what: &str) {
        let key = (netns.clone(), name.to_string());
        let loopback = match netns {
            Netns::Host => "the host's loopback device",
            Netns::Named(_) => "the loopback device",
        };
        if let Some(first) = self.ifaces.get(&key).map(String::as_str).or((name == "lo").then_some(loopback)) {
            let message = format!("interface {name} appears twice in namespace {netns}: it is already {first}");
            self.problem(
                Problem::new(span, message).help("interface names are unique within one namespace; rename one of them"),
            );
        } else {
            self.ifaces.insert(key, what.to_string());
        }
    }

    /// Whether `netns` has an interface `name`: one claimed in the file, or its `lo` (every
    /// namespace has one; it is not recorded, which for a million namespaces is 200 MB).
    fn has_iface(&self, netns: &Netns, name: &str) -> bool {
        name == "lo" || self.ifaces.contains_key(&(netns.clone(), name.to_string()))
    }

    /// The interfaces of `netns`, sorted: for "did you mean" hints.
    fn ifaces_of(&self, netns: &Netns) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.ifaces.keys().filter(|(n, _)| n == netns).map(|(_, i)| i.as_str()).chain(["lo"]).collect();
        names.sort_unstable();
        names
    }

    /// Records that `who` in `netns` has address `ip`; an address is unique in the lab.
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
        parse: impl Fn(&Sp<String>) -> Result<T, Problem>,
    ) -> Vec<Option<T>> {
        let Some(list) = list else { return Vec::new() };
        let len = list.get_ref().len();
        if len != n {
            let entries = if len == 1 { "entry" } else { "entries" };
            let none = if field == "underlay" { "" } else { "; \"\" for none" };
            self.problem(
                Problem::new(list.span(), format!("`{field}` has {len} {entries} for {n} endpoints"))
                    .help(format!("give one per endpoint, in the same order{none}")),
            );
            return Vec::new();
        }
        list.get_ref()
            .iter()
            .map(|s| if s.get_ref().is_empty() && field != "underlay" { None } else { self.report(parse(s)) })
            .collect()
    }

    /// An optional MTU, checked.
    fn mtu(&mut self, mtu: Option<&Sp<u32>>) -> Option<u32> {
        mtu.and_then(|m| self.report(values::mtu(m)))
    }
}

/// Every interface name a file writes: the interface of each link and tunnel end, and
/// each network's `device`.
fn written_ifnames(spec: &Spec) -> HashSet<&str> {
    let ends = spec.links.iter().flat_map(|l| l.get_ref().endpoints.get_ref());
    let ends = ends.chain(spec.tunnels.iter().flat_map(|t| t.get_ref().endpoints.get_ref()));
    let ends = ends.filter_map(|e| e.get_ref().split_once(':').map(|(_, ifname)| ifname));
    let devices = spec.networks.values().filter_map(|n| n.get_ref().device.as_ref().map(|d| d.get_ref().as_str()));
    ends.chain(devices).collect()
}
