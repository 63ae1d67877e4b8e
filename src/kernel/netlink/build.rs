//! The rtnetlink messages netlab sends, built from plain values: one function per kind of
//! request, so the bytes of each can be checked here against what iproute2 sends for the
//! same command (see the tests), without a kernel.
//!
//! Every link netlab makes is put in the lab's device group at birth; its mark (ifalias)
//! follows in a second request (the kernel refuses IFLA_IFALIAS on RTM_NEWLINK for most
//! kinds), see `Linux::create_link`.

use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkBridge, LinkIpIp, LinkMessageBuilder, LinkUnspec, LinkVxlan};

use crate::live::MAIN_TABLE;

/// A MAC address as the kernel takes it, from `aa:bb:cc:dd:ee:ff`.
pub fn mac(text: &str) -> Option<Vec<u8>> {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16)).collect::<Result<_, _>>().ok()?;
    (bytes.len() == 6).then_some(bytes)
}

/// `ip link add NAME [mtu MTU] group GROUP type bridge`.
pub fn bridge(name: &str, mtu: Option<u32>, group: u32) -> LinkMessage {
    let mut b = LinkBridge::new(name).link_group(group);
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    b.build()
}

/// One end of a veth pair: its name, MAC and (for the peer) the namespace it is born in.
pub struct VethEnd<'a> {
    pub name: &'a str,
    pub mac: Option<Vec<u8>>,
}

/// `ip link add A [address MAC] [mtu MTU] group G type veth peer name B netns PEER_NS
/// [address MAC] [mtu MTU] group G`, sent in A's namespace: each end is born where it
/// belongs, so no crash can strand one in the wrong place.
pub fn veth(end: VethEnd, peer: VethEnd, peer_netns: RawFd, mtu: Option<u32>, group: u32) -> LinkMessage {
    let mut peer_msg = LinkUnspec::new_with_name(peer.name).setns_by_fd(peer_netns).link_group(group);
    let mut end_msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
        .name(end.name.to_string())
        .link_group(group);
    if let Some(m) = mtu {
        peer_msg = peer_msg.mtu(m);
        end_msg = end_msg.mtu(m);
    }
    if let Some(mac) = peer.mac {
        peer_msg = peer_msg.address(mac);
    }
    if let Some(mac) = end.mac {
        end_msg = end_msg.address(mac);
    }
    end_msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build()))).build()
}

/// Why a tunnel device cannot be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelError {
    /// A vxlan's two ends are of different IP versions.
    MixedFamilies,
    /// ipip carries IPv4 only.
    Ipv4Only,
}

/// `ip link add NAME type vxlan id VNI local L remote R dstport PORT` (+ mtu, group).
pub fn vxlan(
    name: &str,
    vni: u32,
    (local, remote): (IpAddr, IpAddr),
    port: u16,
    mtu: Option<u32>,
    group: u32,
) -> Result<LinkMessage, TunnelError> {
    let mut v = LinkVxlan::new(name, vni).port(port).link_group(group);
    v = match (local, remote) {
        (IpAddr::V4(l), IpAddr::V4(r)) => v.local(l).remote(r),
        (IpAddr::V6(l), IpAddr::V6(r)) => v.local6(l).remote6(r),
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => return Err(TunnelError::MixedFamilies),
    };
    if let Some(m) = mtu {
        v = v.mtu(m);
    }
    Ok(v.build())
}

/// `ip tunnel add NAME mode ipip local L remote R` (+ mtu, group).
pub fn ipip(
    name: &str,
    (local, remote): (IpAddr, IpAddr),
    mtu: Option<u32>,
    group: u32,
) -> Result<LinkMessage, TunnelError> {
    let (IpAddr::V4(l), IpAddr::V4(r)) = (local, remote) else { return Err(TunnelError::Ipv4Only) };
    let mut t = LinkIpIp::new(name).local(l).remote(r).link_group(group);
    if let Some(m) = mtu {
        t = t.mtu(m);
    }
    Ok(t.build())
}

/// A TUN device made by ioctl, given what netlab's other links get at birth: the lab's
/// mark and group, and its mtu.
pub fn tun_config(name: &str, alias: &str, mtu: Option<u32>, group: u32) -> LinkMessage {
    let mut msg = LinkUnspec::new_with_name(name).alias(alias.to_string()).link_group(group);
    if let Some(m) = mtu {
        msg = msg.mtu(m);
    }
    msg.build()
}

/// `ip link set dev NAME type bridge_slave hairpin on|off`: the port's own setting, which
/// the kernel takes in RTM_NEWLINK's slave data (not in RTM_SETLINK).
pub fn set_hairpin(name: &str, on: bool) -> LinkMessage {
    let mut msg = LinkUnspec::new_with_name(name).build();
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(on)])),
    ]));
    msg
}

/// `ip link set dev NAME group GROUP`.
pub fn set_group(name: &str, group: u32) -> LinkMessage {
    LinkUnspec::new_with_name(name).link_group(group).build()
}

/// `ip link set dev NAME alias ALIAS`: netlab's mark.
pub fn set_alias(name: &str, alias: &str) -> LinkMessage {
    LinkUnspec::new_with_name(name).alias(alias.to_string()).build()
}

/// `ip link del dev NAME`.
pub fn delete(name: &str) -> LinkMessage {
    LinkUnspec::new_with_name(name).build()
}

/// `ip link del group GROUP`: every link of the group in the namespace, with one RCU
/// grace period for all.
pub fn delete_group(group: u32) -> LinkMessage {
    LinkUnspec::new_with_index(0).link_group(group).build()
}

/// `ip link set dev NAME master INDEX`.
pub fn set_master(name: &str, master: u32) -> LinkMessage {
    LinkUnspec::new_with_name(name).controller(master).build()
}

/// `ip link set dev NAME nomaster`.
pub fn set_nomaster(name: &str) -> LinkMessage {
    LinkUnspec::new_with_name(name).nocontroller().build()
}

/// `ip link set dev NAME address MAC`.
pub fn set_mac(name: &str, mac: Vec<u8>) -> LinkMessage {
    LinkUnspec::new_with_name(name).address(mac).build()
}

/// `ip link set dev NAME mtu MTU`.
pub fn set_mtu(name: &str, mtu: u32) -> LinkMessage {
    LinkUnspec::new_with_name(name).mtu(mtu).build()
}

/// `ip link set dev NAME up|down`.
pub fn set_up(name: &str, up: bool) -> LinkMessage {
    let msg = LinkUnspec::new_with_name(name);
    if up { msg.up() } else { msg.down() }.build()
}

/// `ip link set dev INDEX up|down`, for a link about to change its name.
pub fn set_up_by_index(index: u32, up: bool) -> LinkMessage {
    let msg = LinkUnspec::new_with_index(index);
    if up { msg.up() } else { msg.down() }.build()
}

/// `ip link set dev INDEX name NEW`.
pub fn rename(index: u32, new_name: &str) -> LinkMessage {
    LinkUnspec::new_with_index(index).name(new_name.to_string()).build()
}

/// `ip link show dev NAME`: one link, by name.
pub fn get_link(name: &str) -> LinkMessage {
    LinkUnspec::new_with_name(name).build()
}

fn family(addr: &IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// `ip addr add|del ADDRESS [peer PEER] dev INDEX`.
/// An address of a device by its index, as `ip addr del` names it (`new_addr` adds one).
pub fn addr(index: u32, address: &IpNet, peer: &Option<IpAddr>) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(&address.addr());
    msg.header.prefix_len = address.prefix_len();
    msg.header.index = index;
    msg.header.scope = if address.addr().is_loopback() { AddressScope::Host } else { AddressScope::Universe };
    msg.header.flags = AddressHeaderFlags::empty();
    // IPv4 wants IFA_LOCAL (this end) and IFA_ADDRESS (the peer, or this end again); IPv6
    // takes IFA_ADDRESS alone, and IFA_LOCAL only with a peer.
    match (address.addr(), peer) {
        (a @ IpAddr::V4(_), p) => {
            msg.attributes.push(AddressAttribute::Local(a));
            msg.attributes.push(AddressAttribute::Address(p.unwrap_or(a)));
        }
        (a, Some(p)) => {
            msg.attributes.push(AddressAttribute::Local(a));
            msg.attributes.push(AddressAttribute::Address(*p));
        }
        (a, None) => msg.attributes.push(AddressAttribute::Address(a)),
    }
    msg
}

/// `ip addr add ADDRESS [peer PEER] dev INDEX`, and `nodad` for an IPv6 address: netlab
/// proves every address of a lab unique when it resolves the file, so duplicate address
/// detection protects nothing and would keep the address tentative (unusable) for a
/// second or more after `up` returns.
pub fn new_addr(index: u32, address: &IpNet, peer: &Option<IpAddr>) -> AddressMessage {
    let mut msg = addr(index, address, peer);
    if address.addr().is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
    }
    msg
}

/// `ip route add|del TO [via VIA] [dev INDEX]` in the main table.
pub fn route(to: &IpNet, via: &Option<IpAddr>, oif: Option<u32>, delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: family(&to.addr()),
        destination_prefix_length: to.prefix_len(),
        table: MAIN_TABLE as u8,
        // What `ip route add` uses; `del` matches any protocol and scope.
        protocol: if delete { RouteProtocol::Unspec } else { RouteProtocol::Boot },
        scope: match (delete, via) {
            (true, _) => RouteScope::NoWhere,
            (false, Some(_)) => RouteScope::Universe,
            (false, None) => RouteScope::Link,
        },
        kind: if delete { RouteType::Unspec } else { RouteType::Unicast },
        ..Default::default()
    };
    if to.prefix_len() > 0 {
        msg.attributes.push(RouteAttribute::Destination(route_address(to.network())));
    }
    if let Some(v) = via {
        msg.attributes.push(RouteAttribute::Gateway(route_address(*v)));
    }
    if let Some(i) = oif {
        msg.attributes.push(RouteAttribute::Oif(i));
    }
    msg
}

fn route_address(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

/// The bytes of `msg` as a request with `flags` (plus REQUEST and ACK) and sequence
/// number 0: what goes on the socket, less the number rtnetlink gives it.
#[cfg(test)]
pub fn request_bytes(msg: netlink_packet_route::RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    buf
}

#[cfg(test)]
mod tests;
