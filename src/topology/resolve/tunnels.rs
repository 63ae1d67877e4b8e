//! `[[tunnels]]`: ipip, vxlan and udp tunnels. Checks the fields each kind takes, resolves
//! every endpoint, and checks that each end's underlay (outer) address is an address of
//! its namespace, handed out by an earlier stage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;

use ipnet::IpNet;

use super::{values, Resolver};
use crate::diagnostics::{shown, Problem};
use crate::spec::{self, Sp, TunnelSpec};
use crate::topology::{Netns, Tunnel, TunnelEnd, TunnelKind};

/// What the tunnels resolved so far hold in their namespaces, with who holds it.
#[derive(Default)]
struct Sockets {
    /// (namespace, vni, port, over IPv6).
    vnis: HashMap<(Netns, u32, u16, bool), String>,
    /// (namespace, port, IPv6, address): a udp forwarder's address, or `None` for the
    /// wildcard a vxlan device listens on.
    udp: HashMap<(Netns, u16, bool, Option<IpAddr>), String>,
    /// (namespace, local, remote) of ipip devices.
    ipip: HashMap<(Netns, IpAddr, IpAddr), String>,
}

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
        let mut sockets = Sockets::default();
        let mut tunnels = Vec::new();
        for t in &spec.tunnels {
            let t = t.get_ref();
            if let Some(tunnel) = self.tunnel(t) {
                self.tunnel_limits(t, &tunnel);
                self.tunnel_sockets(t, &tunnel, &mut sockets);
                tunnels.push(tunnel);
            }
        }
        tunnels
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
        self.claim_iface(&netns, &name, endpoint.span(), &format!("tunnel endpoint {}", shown(endpoint.get_ref())));
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

    /// What the kernel (or netlab's forwarder) can make of a tunnel that resolved: ipip
    /// runs over IPv4 and carries IPv4; the mtu leaves room for the outer headers in a
    /// 64 KiB packet; IPv6 inside needs an mtu of 1280.
    fn tunnel_limits(&mut self, t: &TunnelSpec, tunnel: &Tunnel) {
        let address_span = |i: usize| t.addresses.as_ref().map(|a| a.get_ref()[i].span());
        let over_ipv6 = tunnel.ends[0].underlay.is_ipv6();
        if matches!(tunnel.kind, TunnelKind::Ipip { .. }) {
            if over_ipv6 {
                self.problem(
                    Problem::new(t.underlay.span(), "ipip runs over IPv4, and these underlay addresses are IPv6").help(
                        "over IPv6, use a udp or vxlan tunnel (IPv4 in IPv6 is ip6tnl, which netlab does not make)",
                    ),
                );
            }
            for (i, end) in tunnel.ends.iter().enumerate() {
                if let (Some(a), Some(span)) = (end.address, address_span(i)) {
                    if a.addr().is_ipv6() {
                        self.problem(Problem::new(span, format!("ipip carries IPv4 only, and {} is IPv6", a.addr())).help(
                            "for IPv6 inside, use a udp or vxlan tunnel (IPv6 in IPv4 is protocol 41, sit, not ipip)",
                        ));
                    }
                }
            }
        }
        let (Some(mtu), Some(mtu_spec)) = (tunnel.mtu, &t.mtu) else { return };
        let (what, overhead) = match tunnel.kind {
            // The kernel's VXLAN_HEADROOM and VXLAN6_HEADROOM: outer IP, UDP, VXLAN, Ethernet.
            TunnelKind::Vxlan { .. } => ("a vxlan", if over_ipv6 { 70 } else { 50 }),
            TunnelKind::Ipip { .. } => ("an ipip", 20),
            // IPv6's 65535 is its payload length, which leaves out its 40-byte header.
            TunnelKind::Udp { .. } => ("a udp", if over_ipv6 { 8 } else { 28 }),
        };
        let max = 65535 - overhead;
        if mtu > max {
            let v = if over_ipv6 { "IPv6" } else { "IPv4" };
            self.problem(
                Problem::new(
                    mtu_spec.span(),
                    format!(
                        "mtu {mtu} is too large for {what} tunnel over {v}: with its {overhead} bytes of outer headers, \
                         a packet would not fit in the largest {v} packet"
                    ),
                )
                .help(format!("at most {max}")),
            );
        } else if let Some(a) = tunnel.ends.iter().filter_map(|e| e.address).find(|a| a.addr().is_ipv6()) {
            if mtu < values::IPV6_MIN_MTU {
                self.problem(values::ipv6_mtu(mtu_spec.span(), &format!("this tunnel (address {})", a.addr()), mtu));
            }
        }
    }

    /// What a tunnel's ends hold in their namespace that another tunnel end cannot have
    /// too: a vxlan device's (vni, port), a UDP port (a vxlan device listens on its port for
    /// every address of its IP version; a udp forwarder on its underlay address), an ipip
    /// device's (local, remote) pair. The kernel refuses the second one in `up` (EEXIST,
    /// EADDRINUSE).
    fn tunnel_sockets(&mut self, t: &TunnelSpec, tunnel: &Tunnel, sockets: &mut Sockets) {
        let endpoints = t.endpoints.get_ref();
        // One message per tunnel: its other ends usually clash the same way.
        let mut found = Vec::new();
        for (end, endpoint) in tunnel.ends.iter().zip(endpoints) {
            let who = format!("tunnel endpoint {}", shown(endpoint.get_ref()));
            let v6 = end.underlay.is_ipv6();
            let taken = match tunnel.kind {
                TunnelKind::Vxlan { vni, port } => {
                    let key = (end.netns.clone(), vni, port, v6);
                    if let Some(first) = sockets.vnis.get(&key) {
                        let span = t.vni.as_ref().map_or(endpoint.span(), |v| v.span());
                        found.push(
                            Problem::new(
                                span,
                                format!(
                                    "vni {vni} on port {port} is taken in namespace {} by {first}: the kernel \
                                     keeps one vxlan device per vni and port in a namespace",
                                    end.netns
                                ),
                            )
                            .help("give this tunnel another `vni` or `port`"),
                        );
                        continue;
                    }
                    sockets.vnis.insert(key, who.clone());
                    // vxlan devices share their port's socket; a udp forwarder cannot.
                    let udp = sockets
                        .udp
                        .iter()
                        .find(|((n, p, six, addr), _)| *n == end.netns && *p == port && *six == v6 && addr.is_some());
                    let taken = udp.map(|(_, first)| (port, first.clone(), "every address".to_string()));
                    sockets.udp.entry((end.netns.clone(), port, v6, None)).or_insert(who);
                    taken
                }
                TunnelKind::Udp { port } => {
                    let own = (end.netns.clone(), port, v6, Some(end.underlay));
                    let wildcard = (end.netns.clone(), port, v6, None);
                    let first = sockets.udp.get(&own).or_else(|| sockets.udp.get(&wildcard)).cloned();
                    sockets.udp.entry(own).or_insert(who);
                    first.map(|first| (port, first, end.underlay.to_string()))
                }
                TunnelKind::Ipip { .. } => {
                    let remote = tunnel.ends.iter().map(|e| e.underlay).find(|u| *u != end.underlay);
                    let key = (end.netns.clone(), end.underlay, remote.unwrap_or(end.underlay));
                    if let Some(first) = sockets.ipip.get(&key) {
                        let message = format!(
                            "namespace {} already has an ipip tunnel from {} to {}: {first}",
                            end.netns, key.1, key.2
                        );
                        found.push(
                            Problem::new(endpoint.span(), message)
                                .help("the kernel keeps one ipip device per local and remote address"),
                        );
                    } else {
                        sockets.ipip.insert(key, who);
                    }
                    None
                }
            };
            if let Some((port, first, on)) = taken {
                found.push(
                    Problem::new(
                        endpoint.span(),
                        format!("udp port {port} on {on} in namespace {} is taken by {first}", end.netns),
                    )
                    .help("give one of the tunnels another `port`"),
                );
            }
        }
        if let Some(first) = found.into_iter().next() {
            self.problem(first);
        }
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
