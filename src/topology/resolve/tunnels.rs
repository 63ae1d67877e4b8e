//! `[[tunnels]]`: ipip, vxlan and udp tunnels. Checks the fields each kind takes, resolves
//! every endpoint, and checks that each end's underlay (outer) address is an address of
//! its namespace, handed out by an earlier stage.

use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use super::{values, Resolver};
use crate::diagnostics::Problem;
use crate::spec::{self, Sp, TunnelSpec};
use crate::topology::{Netns, Tunnel, TunnelEnd, TunnelKind};

/// The per-endpoint lists of one tunnel, parsed; each is empty when its length is wrong.
struct PerEnd {
    underlay: Vec<Option<IpAddr>>,
    /// The address and its prefix length; without one, the end is point-to-point.
    addresses: Vec<Option<(IpAddr, Option<u8>)>>,
    subnets: Vec<Option<IpNet>>,
}

impl Resolver<'_> {
    /// Every tunnel whose kind and every end resolve.
    pub(super) fn tunnels(&mut self) -> Vec<Tunnel> {
        let spec = self.spec;
        spec.tunnels.iter().filter_map(|t| self.tunnel(t.get_ref())).collect()
    }

    fn tunnel(&mut self, t: &TunnelSpec) -> Option<Tunnel> {
        let endpoints = t.endpoints.get_ref();
        let n = endpoints.len();
        if !self.endpoint_count(t) {
            return None;
        }
        let per_end = PerEnd {
            underlay: self.per_endpoint(Some(&t.underlay), n, "underlay", values::addr),
            addresses: self.per_endpoint(t.addresses.as_ref(), n, "addresses", values::addr_or_cidr),
            subnets: self.per_endpoint(t.subnets.as_ref(), n, "subnets", values::cidr),
        };
        self.subnets_field(t);
        let kind = self.tunnel_kind(t);
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
        let ends: Vec<TunnelEnd> = endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, endpoint)| self.tunnel_end(t, i, endpoint, &per_end))
            .collect();
        if let Some(first) = ends.first() {
            if ends.iter().any(|e| e.underlay.is_ipv4() != first.underlay.is_ipv4()) {
                self.error(t.underlay.span(), "underlay addresses mix IPv4 and IPv6");
            }
        }
        let kind = kind?;
        (ends.len() == n).then_some(Tunnel { kind, ends, mtu })
    }

    /// ipip and vxlan join two ends; udp two or more. False (and reported) otherwise.
    fn endpoint_count(&mut self, t: &TunnelSpec) -> bool {
        let kind = *t.kind.get_ref();
        let n = t.endpoints.get_ref().len();
        let two_only = matches!(kind, spec::TunnelKind::Ipip | spec::TunnelKind::Vxlan);
        if n >= 2 && (!two_only || n == 2) {
            return true;
        }
        let want = if two_only { "exactly two endpoints" } else { "two or more endpoints" };
        self.problem(
            Problem::new(t.endpoints.span(), format!("{} tunnel has {want}, this one has {n}", a_kind(kind)))
                .help("endpoints = [\"node1:tun0\", \"node2:tun0\"]"),
        );
        false
    }

    /// `subnets` is for udp tunnels only, and a udp tunnel of more than two ends needs it.
    fn subnets_field(&mut self, t: &TunnelSpec) {
        if *t.kind.get_ref() != spec::TunnelKind::Udp {
            if let Some(s) = &t.subnets {
                self.problem(Problem::new(s.span(), "`subnets` only applies to udp tunnels").help("remove it"));
            }
        } else if t.endpoints.get_ref().len() > 2 && t.subnets.is_none() {
            self.problem(
                Problem::new(t.endpoints.span(), "a udp tunnel with more than two endpoints needs `subnets`").help(
                    "subnets = [...] names the inner subnet each endpoint owns, so the forwarder can pick the peer",
                ),
            );
        }
    }

    /// The kind with its parameters (vni, port, ipip mode); fields another kind takes are
    /// reported.
    fn tunnel_kind(&mut self, t: &TunnelSpec) -> Option<TunnelKind> {
        let kind = *t.kind.get_ref();
        if kind != spec::TunnelKind::Vxlan {
            if let Some(v) = &t.vni {
                self.problem(
                    Problem::new(
                        v.span(),
                        format!("`vni` only applies to vxlan tunnels, this one is {}", kind_name(kind)),
                    )
                    .help("remove it"),
                );
            }
        }
        match kind {
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
                        self.error(v.span(), format!("vni {} does not fit in 24 bits (at most 16777215)", v.get_ref()));
                        None
                    }
                    Some(v) => Some(TunnelKind::Vxlan { vni: *v.get_ref(), port }),
                }
            }
            spec::TunnelKind::Udp => Some(TunnelKind::Udp { port: t.port.as_ref().map_or(8285, |p| *p.get_ref()) }),
            spec::TunnelKind::Ipip => {
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

    /// End `i` of tunnel `t`: its namespace and device, underlay, inner address and peer.
    fn tunnel_end(&mut self, t: &TunnelSpec, i: usize, endpoint: &Sp<String>, per_end: &PerEnd) -> Option<TunnelEnd> {
        let n = t.endpoints.get_ref().len();
        let (netns, name) = self.endpoint(endpoint)?;
        self.claim_iface(&netns, &name, endpoint.span(), &format!("tunnel endpoint {}", endpoint.get_ref()));
        let underlay = per_end.underlay.get(i).copied().flatten()?;
        self.check_underlay(&netns, underlay, t.underlay.get_ref()[i].span());
        let address_span = || t.addresses.as_ref().expect("address came from the list").get_ref()[i].span();
        let (address, peer) = match per_end.addresses.get(i).copied().flatten() {
            None => (None, None),
            Some((ip, Some(prefix))) => (Some(IpNet::new(ip, prefix).expect("checked prefix")), None),
            Some((ip, None)) if n == 2 => {
                let peer = per_end.addresses.get(1 - i).copied().flatten().map(|(p, _)| p);
                let host = if ip.is_ipv4() { 32 } else { 128 };
                (Some(IpNet::new(ip, host).expect("host prefix")), peer)
            }
            Some((_, None)) => {
                self.problem(
                    Problem::new(
                        address_span(),
                        "with more than two endpoints, each tunnel address needs a prefix length",
                    )
                    .help("like 10.244.1.0/16"),
                );
                (None, None)
            }
        };
        if let Some(a) = address {
            self.claim_addr(&netns, a.addr(), address_span(), endpoint.get_ref());
        }
        Some(TunnelEnd { netns, name, underlay, address, peer, subnet: per_end.subnets.get(i).copied().flatten() })
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
