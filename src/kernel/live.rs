//! What the kernel shows of one namespace: its links, addresses and routes, parsed out of
//! netlink dumps into the few fields netlab compares. Kernel-made state (link-local IPv6,
//! connected-subnet routes, loopback addresses, the local table) is marked as such, since
//! it is never drift.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoIpTunnel, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType};

/// The main routing table, the only one netlab writes.
pub const MAIN_TABLE: u32 = 254;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveLink {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, `vxlan`, `ipip`, `tun`...; `None` for devices without a kind (lo).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    pub up: bool,
    /// The bridge this link is a port of, by index.
    pub master: Option<u32>,
    /// The ifalias: netlab's ownership mark lives here.
    pub alias: Option<String>,
    /// The device group (netlab puts a lab's links in one, to delete them at once).
    pub group: u32,
    /// A veth's peer index, in the peer's namespace.
    pub peer_index: Option<u32>,
    pub vxlan: Option<VxlanInfo>,
    /// An ipip tunnel's (local, remote).
    pub ipip: Option<(Option<IpAddr>, Option<IpAddr>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VxlanInfo {
    pub vni: Option<u32>,
    pub local: Option<IpAddr>,
    pub remote: Option<IpAddr>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAddr {
    pub index: u32,
    pub address: IpNet,
    /// The other end of a point-to-point address.
    pub peer: Option<IpAddr>,
}

impl LiveAddr {
    /// Addresses the kernel makes by itself: IPv6 link-local, and loopback's.
    pub fn kernel_made(&self) -> bool {
        match self.address.addr() {
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_loopback(),
            IpAddr::V4(a) => a.is_loopback(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoute {
    pub table: u32,
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub protocol: RouteProtocol,
    pub kind: RouteType,
}

impl LiveRoute {
    /// Routes the kernel adds for addresses and links (connected subnets, the local table,
    /// IPv6 link-local and multicast), and routes learned from router advertisements.
    pub fn kernel_made(&self) -> bool {
        self.table != MAIN_TABLE
            || matches!(self.protocol, RouteProtocol::Kernel | RouteProtocol::Ra)
            || self.kind != RouteType::Unicast
            || matches!(self.dst.addr(), IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_multicast())
    }
}

/// One namespace as the kernel shows it. Built with [`LiveNetns::new`], which indexes
/// links by name and index and addresses by link: the host of a big lab has thousands.
#[derive(Debug, Clone, Default)]
pub struct LiveNetns {
    pub links: Vec<LiveLink>,
    pub addrs: Vec<LiveAddr>,
    pub routes: Vec<LiveRoute>,
    by_name: HashMap<String, usize>,
    by_index: HashMap<u32, usize>,
    /// Addresses sorted by link index, and where each link's start.
    addrs_at: HashMap<u32, (usize, usize)>,
}

impl LiveNetns {
    pub fn new(links: Vec<LiveLink>, mut addrs: Vec<LiveAddr>, routes: Vec<LiveRoute>) -> LiveNetns {
        addrs.sort_by_key(|a| a.index);
        let mut addrs_at: HashMap<u32, (usize, usize)> = HashMap::new();
        for (i, a) in addrs.iter().enumerate() {
            addrs_at.entry(a.index).and_modify(|r| r.1 = i + 1).or_insert((i, i + 1));
        }
        LiveNetns {
            by_name: links.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect(),
            by_index: links.iter().enumerate().map(|(i, l)| (l.index, i)).collect(),
            links,
            addrs,
            routes,
            addrs_at,
        }
    }

    pub fn link(&self, name: &str) -> Option<&LiveLink> {
        self.by_name.get(name).map(|i| &self.links[*i])
    }

    pub fn link_by_index(&self, index: u32) -> Option<&LiveLink> {
        self.by_index.get(&index).map(|i| &self.links[*i])
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = &LiveAddr> {
        let (start, end) = self.addrs_at.get(&index).copied().unwrap_or((0, 0));
        self.addrs[start..end].iter()
    }
}

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
    Some(LiveRoute { table, dst, via, oif, protocol: msg.header.protocol, kind: msg.header.kind })
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
