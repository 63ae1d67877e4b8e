//! The bytes of netlab's requests, against what iproute2 sends for the same command.
//!
//! The iproute2 bytes were captured with `strace -e trace=sendmsg -e write=3 ip ...` in a
//! throwaway network namespace (iproute2 6.1), with the sequence number zeroed (rtnetlink
//! numbers netlab's own requests when it sends them; `request_bytes` leaves it 0).

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn bytes(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn link_request(bytes: &[u8]) -> LinkMessage {
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).expect("a netlink message");
    match msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => l,
        other => panic!("not RTM_NEWLINK: {other:?}"),
    }
}

const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;

#[test]
fn an_address_with_a_peer_is_what_ip_addr_add_peer_sends() {
    // ip addr add 10.10.100.10 peer 10.10.200.10 dev v1    (v1: index 2)
    let iproute2 = bytes(
        "28 00 00 00 14 00 05 06  00 00 00 00 00 00 00 00
         02 20 00 00 02 00 00 00  08 00 02 00 0a 0a 64 0a
         08 00 01 00 0a 0a c8 0a",
    );
    let ours = addr(2, &"10.10.100.10/32".parse().unwrap(), &Some("10.10.200.10".parse().unwrap()));
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::NewAddress(ours), CREATE)), hex(&iproute2));

    // ip addr add fd00::1 peer fd00::2 dev v1
    let iproute2 = bytes(
        "40 00 00 00 14 00 05 06  00 00 00 00 00 00 00 00
         0a 80 00 00 02 00 00 00  14 00 02 00 fd 00 00 00
         00 00 00 00 00 00 00 00  00 00 00 01 14 00 01 00
         fd 00 00 00 00 00 00 00  00 00 00 00 00 00 00 02",
    );
    let ours = addr(2, &"fd00::1/128".parse().unwrap(), &Some("fd00::2".parse().unwrap()));
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::NewAddress(ours), CREATE)), hex(&iproute2));
}

#[test]
fn an_ipv6_address_is_added_as_ip_addr_add_nodad_adds_it() {
    // ip addr add fd00::3 peer fd00::2 dev v1 nodad    (v1: index 3): IFA_F_NODAD (2) in
    // the header's flags, the rest as without it.
    let iproute2 = bytes(
        "40 00 00 00 14 00 05 06  00 00 00 00 00 00 00 00
         0a 80 02 00 03 00 00 00  14 00 02 00 fd 00 00 00
         00 00 00 00 00 00 00 00  00 00 00 03 14 00 01 00
         fd 00 00 00 00 00 00 00  00 00 00 00 00 00 00 02",
    );
    let ours = new_addr(3, &"fd00::3/128".parse().unwrap(), &Some("fd00::2".parse().unwrap()));
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::NewAddress(ours), CREATE)), hex(&iproute2));
    // IPv4 has no duplicate address detection: no flag.
    let v4 = new_addr(2, &"10.0.0.1/24".parse().unwrap(), &None);
    assert_eq!(v4, addr(2, &"10.0.0.1/24".parse().unwrap(), &None));
    let v6 = new_addr(2, &"fd00::1/64".parse().unwrap(), &None);
    assert_eq!(v6.header.flags, AddressHeaderFlags::Nodad);
}

#[test]
fn an_address_without_a_peer_names_itself_twice_in_ipv4_once_in_ipv6() {
    // ip addr add 10.0.0.1/24 dev v1: IFA_LOCAL and IFA_ADDRESS both 10.0.0.1.
    let ours = addr(2, &"10.0.0.1/24".parse().unwrap(), &None);
    assert_eq!(
        hex(&request_bytes(RouteNetlinkMessage::NewAddress(ours), CREATE)),
        hex(&bytes(
            "28 00 00 00 14 00 05 06  00 00 00 00 00 00 00 00
             02 18 00 00 02 00 00 00  08 00 02 00 0a 00 00 01
             08 00 01 00 0a 00 00 01"
        ))
    );
    let ours = addr(2, &"fd00::1/64".parse().unwrap(), &None);
    let sent = request_bytes(RouteNetlinkMessage::DelAddress(ours), 0);
    // RTM_DELADDR, REQUEST|ACK; family 10, /64; IFA_ADDRESS only.
    assert_eq!(
        hex(&sent),
        hex(&bytes(
            "2c 00 00 00 15 00 05 00  00 00 00 00 00 00 00 00
             0a 40 00 00 02 00 00 00  14 00 01 00 fd 00 00 00
             00 00 00 00 00 00 00 00  00 00 00 01"
        ))
    );
}

#[test]
fn a_route_via_a_gateway_is_what_ip_route_add_sends() {
    // ip route add 10.10.20.0/24 via 10.0.0.2
    let iproute2 = bytes(
        "2c 00 00 00 18 00 05 06  00 00 00 00 00 00 00 00
         02 18 00 00 fe 03 00 01  00 00 00 00 08 00 01 00
         0a 0a 14 00 08 00 05 00  0a 00 00 02",
    );
    let ours = route(&"10.10.20.0/24".parse().unwrap(), &Some("10.0.0.2".parse().unwrap()), None, false);
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::NewRoute(ours), CREATE)), hex(&iproute2));

    // ip route add 10.10.30.0/24 via 10.0.0.2 dev v1
    let iproute2 = bytes(
        "34 00 00 00 18 00 05 06  00 00 00 00 00 00 00 00
         02 18 00 00 fe 03 00 01  00 00 00 00 08 00 01 00
         0a 0a 1e 00 08 00 05 00  0a 00 00 02 08 00 04 00
         02 00 00 00",
    );
    let ours = route(&"10.10.30.0/24".parse().unwrap(), &Some("10.0.0.2".parse().unwrap()), Some(2), false);
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::NewRoute(ours), CREATE)), hex(&iproute2));

    // ip route del 10.10.20.0/24 via 10.0.0.2: any protocol, scope and type.
    let iproute2 = bytes(
        "2c 00 00 00 19 00 05 00  00 00 00 00 00 00 00 00
         02 18 00 00 fe 00 ff 00  00 00 00 00 08 00 01 00
         0a 0a 14 00 08 00 05 00  0a 00 00 02",
    );
    let ours = route(&"10.10.20.0/24".parse().unwrap(), &Some("10.0.0.2".parse().unwrap()), None, true);
    assert_eq!(hex(&request_bytes(RouteNetlinkMessage::DelRoute(ours), 0)), hex(&iproute2));
}

#[test]
fn a_default_route_on_a_device_has_no_destination_and_link_scope() {
    let ours = route(&"0.0.0.0/0".parse().unwrap(), &None, Some(7), false);
    assert_eq!(
        hex(&request_bytes(RouteNetlinkMessage::NewRoute(ours), CREATE)),
        hex(&bytes(
            "24 00 00 00 18 00 05 06  00 00 00 00 00 00 00 00
             02 00 00 00 fe 03 fd 01  00 00 00 00 08 00 04 00
             07 00 00 00"
        ))
    );
}

/// `ip link add v1 mtu 1400 type veth peer name v1-P netns peer mtu 1400`, the peer's
/// namespace open as fd 4.
const IP_VETH: &str = "70 00 00 00 10 00 05 06  00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
    08 00 04 00 78 05 00 00  07 00 03 00 76 31 00 00
    40 00 12 00 08 00 01 00  76 65 74 68 34 00 02 00
    30 00 01 00 00 00 00 00  00 00 00 00 00 00 00 00
    00 00 00 00 08 00 1c 00  04 00 00 00 08 00 04 00
    78 05 00 00 09 00 03 00  76 31 2d 50 00 00 00 00";

/// A link request's attributes, in any order, without IFLA_GROUP (netlab's, not ip's),
/// the veth peer's too.
fn attributes(msg: &LinkMessage) -> Vec<String> {
    let mut out = Vec::new();
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Group(_) => {}
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))) => {
                            out.push(format!("peer header {:?}", peer.header));
                            out.extend(attributes(peer).into_iter().map(|a| format!("peer {a}")));
                        }
                        other => out.push(format!("{other:?}")),
                    }
                }
            }
            other => out.push(format!("{other:?}")),
        }
    }
    out.sort();
    out
}

#[test]
fn a_veth_with_its_peer_in_another_namespace_asks_what_ip_link_add_asks() {
    let end = VethEnd { name: "v1", mac: None };
    let peer = VethEnd { name: "v1-P", mac: None };
    let ours = veth(end, peer, 4, Some(1400), 0x1234_5678);
    let sent = request_bytes(RouteNetlinkMessage::NewLink(ours), CREATE);
    // The same header, kind, names, mtus and peer namespace as iproute2's, in another
    // order, plus the lab's group on each end.
    let (ip, ours) = (link_request(&bytes(IP_VETH)), link_request(&sent));
    assert_eq!(ours.header, ip.header);
    assert_eq!(attributes(&ours), attributes(&ip));
    assert!(ours.attributes.contains(&LinkAttribute::Group(0x1234_5678)));
    let Some(LinkAttribute::LinkInfo(info)) = ours.attributes.iter().find(|a| matches!(a, LinkAttribute::LinkInfo(_)))
    else {
        panic!("no IFLA_LINKINFO in {ours:?}")
    };
    assert!(info.contains(&LinkInfo::Kind(InfoKind::Veth)));
    // And the bytes as netlab sends them: the end (name, group, mtu, linkinfo), then in
    // VETH_INFO_PEER the peer (name, IFLA_NET_NS_FD 4, group, mtu). One difference in
    // bytes that is none in meaning: the kind is "veth\0" (iproute2 sends "veth" without
    // its NUL; the kernel compares either the same, nla_strcmp).
    assert_eq!(
        hex(&sent),
        hex(&bytes(
            "84 00 00 00 10 00 05 06  00 00 00 00 00 00 00 00
             00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
             07 00 03 00 76 31 00 00  08 00 1b 00 78 56 34 12
             08 00 04 00 78 05 00 00  4c 00 12 00 09 00 01 00
             76 65 74 68 00 00 00 00  3c 00 02 00 38 00 01 00
             00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
             09 00 03 00 76 31 2d 50  00 00 00 00 08 00 1c 00
             04 00 00 00 08 00 1b 00  78 56 34 12 08 00 04 00
             78 05 00 00"
        ))
    );
}

#[test]
fn macs_are_parsed_and_given_to_each_end() {
    assert_eq!(mac("02:00:00:00:01:0A"), Some(vec![2, 0, 0, 0, 1, 10]));
    assert_eq!(mac("02:00:00:00:01"), None);
    assert_eq!(mac("02:00:00:00:01:zz"), None);
    let end = VethEnd { name: "a", mac: mac("02:00:00:00:00:01") };
    let peer = VethEnd { name: "b", mac: mac("02:00:00:00:00:02") };
    let msg = veth(end, peer, 9, None, 1);
    assert!(msg.attributes.contains(&LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1])));
    let peer = attributes(&msg).into_iter().filter(|a| a.starts_with("peer Address")).collect::<Vec<_>>();
    assert_eq!(peer, ["peer Address([2, 0, 0, 0, 0, 2])"]);
}

#[test]
fn tunnels_refuse_what_they_cannot_carry() {
    let v4 = "10.0.0.1".parse().unwrap();
    let v6 = "fd00::1".parse().unwrap();
    assert_eq!(vxlan("vx0", 42, (v4, v6), 4789, None, 1).unwrap_err(), TunnelError::MixedFamilies);
    assert_eq!(ipip("t0", (v6, v6), None, 1).unwrap_err(), TunnelError::Ipv4Only);
    assert!(vxlan("vx0", 42, (v6, v6), 4789, Some(1450), 1).is_ok());
    assert!(ipip("t0", (v4, "10.0.0.2".parse().unwrap()), None, 1).is_ok());
}

#[test]
fn hairpin_mode_is_the_bridge_port_data_ip_link_set_type_bridge_slave_sends() {
    // ip link set dev v9 type bridge_slave hairpin on (v9: index 4), as strace showed it:
    // RTM_NEWLINK without CREATE, IFLA_LINKINFO { IFLA_INFO_KIND "bridge_slave",
    // IFLA_INFO_SLAVE_DATA { IFLA_BRPORT_MODE 1 } }.
    let iproute2 = bytes(
        "40 00 00 00 10 00 05 00  00 00 00 00 00 00 00 00
         00 00 00 00 04 00 00 00  00 00 00 00 00 00 00 00
         20 00 12 00 10 00 01 00  62 72 69 64 67 65 5f 73
         6c 61 76 65 0c 00 05 00  05 00 04 00 01 00 00 00",
    );
    let sent = request_bytes(RouteNetlinkMessage::NewLink(set_hairpin("v9", true)), 0);
    // The same slave data, byte for byte; the port is named rather than indexed, and its
    // kind is given as the slave kind the kernel reports ("bridge"), which it ignores on
    // a request as it ignores iproute2's "bridge_slave": the master's ops take the data.
    let slave_data = "0c 00 05 00 05 00 04 00 01 00 00 00";
    assert!(hex(&iproute2).contains(slave_data));
    assert!(hex(&sent).contains(slave_data), "{}", hex(&sent));
    let ours = link_request(&sent);
    assert!(ours.attributes.contains(&LinkAttribute::IfName("v9".into())));
    let off = request_bytes(RouteNetlinkMessage::NewLink(set_hairpin("v9", false)), 0);
    assert!(hex(&off).contains("0c 00 05 00 05 00 04 00 00 00 00 00"), "{}", hex(&off));
}
