//! Netlink dumps parsed into [`crate::live`]'s plain data: the few fields of links,
//! addresses, routes and root qdiscs that netlab compares.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoIpTunnel, InfoPortData, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType};

use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};

use crate::live::{LiveAddr, LiveLink, LiveQdisc, LiveRoute, VxlanInfo};

pub fn parse_link(msg: &LinkMessage) -> LiveLink {
    let mut link =
        LiveLink { index: msg.header.index, up: msg.header.flags.contains(LinkFlags::Up), ..Default::default() };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(m) => link.mtu = Some(*m),
            LinkAttribute::Address(a) if a.len() == 6 => link.mac = Some(format_mac(a)),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::Group(g) => link.group = *g,
            LinkAttribute::Link(p) => link.peer_index = Some(*p),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                        LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                            link.hairpin = attrs.iter().find_map(|a| match a {
                                InfoBridgePort::HairpinMode(on) => Some(*on),
                                _ => None,
                            });
                        }
                        LinkInfo::Data(InfoData::Vxlan(v)) => link.vxlan = Some(parse_vxlan(v)),
                        LinkInfo::Data(InfoData::IpTunnel(t)) => {
                            let mut local = None;
                            let mut remote = None;
                            for a in t {
                                match a {
                                    InfoIpTunnel::Local(l) => local = Some(*l),
                                    InfoIpTunnel::Remote(r) => remote = Some(*r),
                                    _ => {}
                                }
                            }
                            link.ipip = Some((local, remote));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn parse_vxlan(attrs: &[InfoVxlan]) -> VxlanInfo {
    let mut v = VxlanInfo::default();
    for a in attrs {
        match a {
            InfoVxlan::Id(id) => v.vni = Some(*id),
            InfoVxlan::Local(l) => v.local = Some(IpAddr::V4(*l)),
            InfoVxlan::Local6(l) => v.local = Some(IpAddr::V6(*l)),
            InfoVxlan::Group(g) => v.remote = Some(IpAddr::V4(*g)),
            InfoVxlan::Group6(g) => v.remote = Some(IpAddr::V6(*g)),
            InfoVxlan::Port(p) => v.port = Some(*p),
            _ => {}
        }
    }
    v
}

pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub fn parse_addr(msg: &AddressMessage) -> Option<LiveAddr> {
    let (mut local, mut address) = (None, None);
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    // IPv4 gives IFA_LOCAL (this end) and IFA_ADDRESS (the peer on point-to-point links,
    // else the same); IPv6 gives only IFA_ADDRESS unless it is point-to-point.
    let (mine, peer) = match (local, address) {
        (Some(l), Some(a)) if l != a => (l, Some(a)),
        (Some(l), _) => (l, None),
        (None, Some(a)) => (a, None),
        (None, None) => return None,
    };
    let address = IpNet::new(mine, msg.header.prefix_len).ok()?;
    Some(LiveAddr { index: msg.header.index, address, peer })
}

pub fn parse_route(msg: &RouteMessage) -> Option<LiveRoute> {
    let mut table = u32::from(msg.header.table);
    let (mut dst, mut via, mut oif) = (None, None, None);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = route_addr(a),
            RouteAttribute::Gateway(a) => via = route_addr(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let len = msg.header.destination_prefix_length;
    let dst = match dst {
        Some(d) => IpNet::new(d, len).ok()?,
        None => match msg.header.address_family {
            netlink_packet_route::AddressFamily::Inet => IpNet::new(IpAddr::from([0u8; 4]), 0).ok()?,
            netlink_packet_route::AddressFamily::Inet6 => IpNet::new(IpAddr::from([0u16; 8]), 0).ok()?,
            _ => return None,
        },
    };
    let by_kernel = matches!(msg.header.protocol, RouteProtocol::Kernel | RouteProtocol::Ra);
    let unicast = msg.header.kind == RouteType::Unicast;
    Some(LiveRoute { table, dst, via, oif, by_kernel, unicast })
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A root qdisc (a qdisc of another parent is `None`), with what it does when it is of a
/// kind netlab makes.
pub fn parse_qdisc(msg: &TcMessage) -> Option<LiveQdisc> {
    if msg.header.parent != TcHandle::ROOT {
        return None;
    }
    let mut kind = String::new();
    let mut options = Vec::new();
    for attr in &msg.attributes {
        match attr {
            TcAttribute::Kind(k) => kind = k.clone(),
            // netem's and tbf's options are not netlink-packet-route's to parse: it keeps
            // them whole, as one attribute.
            TcAttribute::Options(opts) => {
                if let [TcOption::Other(nla)] = opts.as_slice() {
                    use netlink_packet_core::Nla;
                    options = vec![0; nla.value_len()];
                    nla.emit_value(&mut options);
                }
            }
            _ => {}
        }
    }
    let impairment = crate::impair::netem::read(&kind, &options).map(|(_, imp)| imp);
    Some(LiveQdisc { index: u32::try_from(msg.header.index).ok()?, kind, impairment })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::build;

    #[test]
    fn addresses_read_back_as_they_were_asked_for() {
        for (address, peer) in [
            ("10.0.0.1/24", None),
            ("10.10.100.10/32", Some("10.10.200.10")),
            ("fd00::1/64", None),
            ("fd00::1/128", Some("fd00::2")),
        ] {
            let (address, peer) = (address.parse().unwrap(), peer.map(|p: &str| p.parse().unwrap()));
            let read = parse_addr(&build::addr(7, &address, &peer)).unwrap();
            assert_eq!(read, LiveAddr { index: 7, address, peer });
        }
        assert_eq!(parse_addr(&AddressMessage::default()), None);
    }

    #[test]
    fn routes_read_back_with_what_makes_them_the_kernels_or_ours() {
        let ours = build::route(&"0.0.0.0/0".parse().unwrap(), &Some("10.0.0.1".parse().unwrap()), Some(3), false);
        let read = parse_route(&ours).unwrap();
        assert_eq!(
            (read.dst, read.via, read.oif, read.table),
            ("0.0.0.0/0".parse().unwrap(), "10.0.0.1".parse().ok(), Some(3), 254)
        );
        assert!(!read.kernel_made());
        let mut connected = build::route(&"10.0.0.0/24".parse().unwrap(), &None, Some(3), false);
        connected.header.protocol = RouteProtocol::Kernel;
        assert!(parse_route(&connected).unwrap().kernel_made());
        let v6 = build::route(&"::/0".parse().unwrap(), &Some("fd00::1".parse().unwrap()), None, false);
        assert_eq!(parse_route(&v6).unwrap().dst, "::/0".parse().unwrap());
    }

    #[test]
    fn links_read_back_with_their_kind_mark_and_tunnel_ends() {
        let msg =
            build::vxlan("vx0", 42, ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()), 4789, Some(1450), 9)
                .unwrap();
        let link = parse_link(&msg);
        assert_eq!(
            (link.name.as_str(), link.kind.as_deref(), link.mtu, link.group),
            ("vx0", Some("vxlan"), Some(1450), 9)
        );
        assert_eq!(
            link.vxlan.unwrap(),
            VxlanInfo {
                vni: Some(42),
                local: "10.0.0.1".parse().ok(),
                remote: "10.0.0.2".parse().ok(),
                port: Some(4789)
            }
        );
        let marked = parse_link(&build::set_alias("v", "netlab:x"));
        assert_eq!(marked.alias.as_deref(), Some("netlab:x"));
        assert_eq!(format_mac(&[2, 0, 0, 0, 0, 0xab]), "02:00:00:00:00:ab");
    }
}
