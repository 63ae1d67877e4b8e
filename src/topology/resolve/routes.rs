//! `routes` of nodes and of `[host]`: destinations, gateways and devices, checked against
//! the namespace's interfaces and against the routes it already gets.

use std::collections::HashSet;

use ipnet::IpNet;

use super::{values, Resolver};
use crate::diagnostics::Problem;
use crate::spec::{RouteSpec, Sp};
use crate::topology::{Netns, Route};

impl Resolver<'_> {
    /// `implied` are the routes the namespace already gets (the default route of a bridge
    /// network). A destination can only be given once per namespace: the kernel refuses a
    /// second route to it (EEXIST) halfway through `up`.
    pub(super) fn routes(&mut self, netns: &Netns, routes: &[Sp<RouteSpec>], implied: &[Route]) -> Vec<Route> {
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
            out.push(Route { dst, via, dev: r.dev.as_ref().map(|d| d.get_ref().clone()) });
        }
        out
    }

    /// A route's `dev` must be an interface of the namespace. The host's own interfaces are
    /// not in the file, so any name is allowed there.
    fn route_device(&mut self, netns: &Netns, dev: &Sp<String>) {
        if *netns == Netns::Host || self.ifaces.contains_key(&(netns.clone(), dev.get_ref().clone())) {
            return;
        }
        let in_ns: Vec<&str> = self.ifaces.keys().filter(|(n, _)| n == netns).map(|(_, i)| i.as_str()).collect();
        let p = Problem::new(dev.span(), format!("route device `{}` is not an interface of {netns}", dev.get_ref()))
            .suggest(dev.get_ref(), in_ns);
        self.problem(p);
    }
}
