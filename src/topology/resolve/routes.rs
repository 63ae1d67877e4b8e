//! `routes` of nodes and of `[host]`: destinations, gateways and devices, checked against
//! the namespace's interfaces and against the routes it already gets.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use super::{values, Resolver};
use crate::diagnostics::{shown, Problem};
use crate::spec::{RouteSpec, Sp};
use crate::topology::{names, Netns, Route};

impl Resolver<'_> {
    /// `implied` are the routes the namespace already gets (the default route of a bridge
    /// network). A destination can only be given once per namespace: the kernel refuses a
    /// second route to it (EEXIST) halfway through `up`. `connected` are the prefixes the
    /// namespace reaches directly (see [`Resolver::connected`]); a gateway must be in one of
    /// them. `None` for the host, whose own interfaces are not in the file.
    pub(super) fn routes(
        &mut self,
        netns: &Netns,
        routes: &[Sp<RouteSpec>],
        implied: &[Route],
        mut connected: Option<Option<Vec<IpNet>>>,
    ) -> Vec<Route> {
        let mut out: Vec<Route> = Vec::new();
        let mut seen: HashSet<IpNet> = HashSet::new();
        for route in routes {
            let r = route.get_ref();
            let via = r.via.as_ref().and_then(|v| self.report(values::addr(v)));
            let dst = if r.to.get_ref() == "default" {
                Some(if via.is_some_and(|v| v.is_ipv6()) { "::/0" } else { "0.0.0.0/0" }.parse().expect("literal"))
            } else {
                self.report(values::network(&r.to, "route destination"))
            };
            if let (Some(d), Some(v), Some(via_spec)) = (dst, via, &r.via) {
                if d.addr().is_ipv4() != v.is_ipv4() {
                    self.problem(
                        Problem::new(
                            via_spec.span(),
                            format!("gateway {v} and destination {d} are of different IP versions"),
                        )
                        .help("an IPv4 destination needs an IPv4 gateway, an IPv6 one an IPv6 gateway"),
                    );
                }
            }
            if let (Some(d), Some(v), Some(via_spec), Some(Some(connected))) = (dst, via, &r.via, &connected) {
                let link_local = matches!(v, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
                if d.addr().is_ipv4() == v.is_ipv4() && !link_local && !connected.iter().any(|n| n.contains(&v)) {
                    self.problem(unreachable_gateway(via_spec.span(), netns, v, connected));
                } else if let Some(n) = connected.iter().find(|n| is_broadcast(n, v)) {
                    self.problem(
                        Problem::new(
                            via_spec.span(),
                            format!(
                                "gateway {v} is the broadcast address of {n}: the kernel would refuse the route \
                                 (Nexthop has invalid gateway)"
                            ),
                        )
                        .help(format!("a gateway is a host of {n}, between its network and broadcast addresses")),
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
                self.route_device(netns, dev);
            }
            let Some(dst) = dst else { continue };
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
            // A route with a device and no gateway is on-link: later routes may go through
            // an address it covers.
            if let (Some(Some(connected)), None, Some(_)) = (&mut connected, via, &r.dev) {
                connected.push(dst);
            }
            out.push(Route { dst, via, dev: r.dev.as_ref().map(|d| d.get_ref().clone()) });
        }
        out
    }

    /// A route's `dev` must be an interface of the namespace. The host's own interfaces are
    /// not in the file, so any name is allowed there.
    fn route_device(&mut self, netns: &Netns, dev: &Sp<String>) {
        if let Err(e) = names::check_ifname(dev.get_ref()) {
            self.problem(Problem::new(dev.span(), e).help(names::IFNAME_HELP));
            return;
        }
        if *netns == Netns::Host || self.has_iface(netns, dev.get_ref()) {
            return;
        }
        let in_ns = self.ifaces_of(netns);
        let p =
            Problem::new(dev.span(), format!("route device `{}` is not an interface of {netns}", shown(dev.get_ref())))
                .suggest(dev.get_ref(), in_ns);
        self.problem(p);
    }
}

impl Resolver<'_> {
    /// For each namespace of `wanted`, the prefixes it reaches without a gateway: the
    /// subnets of its addresses, the peers of its point-to-point addresses, and loopback.
    ///
    /// Read from the file as written, not from what resolved, and `None` for a namespace
    /// where something that would give it an address is itself in error (an unknown
    /// network, an address that does not parse): that mistake is reported where it is, and
    /// the namespace's gateways are not judged until it is fixed (one mistake, one message).
    pub(super) fn connected(&self, wanted: &HashSet<Netns>) -> HashMap<Netns, Option<Vec<IpNet>>> {
        let loopback = || ["127.0.0.0/8", "::1/128"].map(|n| n.parse::<IpNet>().expect("literal")).to_vec();
        let mut out: HashMap<Netns, Option<Vec<IpNet>>> =
            wanted.iter().map(|n| (n.clone(), Some(loopback()))).collect();
        let mut add = |netns: Option<Netns>, net: Option<IpNet>| {
            let Some(entry) = netns.and_then(|n| out.get_mut(&n)) else { return };
            match (entry.as_mut(), net) {
                (Some(list), Some(net)) => list.push(net.trunc()),
                (_, None) => *entry = None,
                (None, Some(_)) => {}
            }
        };
        let spec = self.spec;
        for net in spec.networks.values().map(Sp::get_ref) {
            let netns = match &net.in_node {
                None => Some(Netns::Host),
                Some(node) => self.netns_of(node.get_ref()),
            };
            add(netns, net.subnet.get_ref().parse().ok());
        }
        for (key, node) in &spec.nodes {
            if let Some(network) = super::networks::node_network(node.get_ref()) {
                let subnet = spec
                    .networks
                    .get(network.get_ref().as_str())
                    .and_then(|n| n.get_ref().subnet.get_ref().parse().ok());
                add(self.netns_of(key.get_ref()), subnet);
            }
        }
        let endpoint_netns = |e: &Sp<String>| e.get_ref().split_once(':').and_then(|(node, _)| self.netns_of(node));
        for link in spec.links.iter().map(Sp::get_ref) {
            let Some(addresses) = &link.addresses else { continue };
            for (i, endpoint) in link.endpoints.get_ref().iter().enumerate() {
                match addresses.get_ref().get(i).map(|a| a.get_ref().as_str()) {
                    Some("") => {}
                    a => add(endpoint_netns(endpoint), a.and_then(|a| a.parse().ok())),
                }
            }
        }
        for tunnel in spec.tunnels.iter().map(Sp::get_ref) {
            let Some(addresses) = &tunnel.addresses else { continue };
            let addresses = addresses.get_ref();
            let endpoints = tunnel.endpoints.get_ref();
            for (i, endpoint) in endpoints.iter().enumerate() {
                let Some(a) = addresses.get(i).map(|a| a.get_ref().as_str()) else {
                    add(endpoint_netns(endpoint), None);
                    continue;
                };
                if a.is_empty() {
                    continue;
                }
                // A bare address is point-to-point: the peer is the other end's.
                let peer = addresses.get(1 - i.min(1)).filter(|_| endpoints.len() == 2 && !a.contains('/'));
                add(endpoint_netns(endpoint), a.parse().ok().or_else(|| a.parse::<IpAddr>().ok().map(IpNet::from)));
                if let Some(peer) = peer.filter(|p| !p.get_ref().is_empty()) {
                    add(endpoint_netns(endpoint), peer.get_ref().parse::<IpAddr>().ok().map(IpNet::from));
                }
            }
        }
        out
    }
}

/// Whether `ip` is the broadcast address of the IPv4 network `net` (a /31 and a /32 have
/// none).
fn is_broadcast(net: &IpNet, ip: IpAddr) -> bool {
    matches!(net, IpNet::V4(v4) if v4.prefix_len() < 31 && IpAddr::V4(v4.broadcast()) == ip)
}

/// A gateway on none of the namespace's networks: the kernel refuses the route
/// (ENETUNREACH) halfway through `up`.
fn unreachable_gateway(span: Range<usize>, netns: &Netns, via: IpAddr, connected: &[IpNet]) -> Problem {
    let own: Vec<String> = connected.iter().filter(|n| !n.addr().is_loopback()).map(ToString::to_string).collect();
    let help = match own.len() {
        0 => format!("{netns} has no addresses in this file: give one of its links an address on the gateway's subnet"),
        1..=8 => format!(
            "a gateway is on one of {netns}'s networks ({}), or on the destination of a route with `dev` and no `via` \
             before this one",
            own.join(", ")
        ),
        n => {
            format!("a gateway is on one of {netns}'s {n} networks, or on the destination of an earlier on-link route")
        }
    };
    Problem::new(
        span,
        format!(
            "gateway {via} is on no network of {netns}: the kernel would refuse the route (Network is unreachable)"
        ),
    )
    .label("not reachable from here")
    .help(help)
}
