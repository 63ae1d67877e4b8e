//! Deleting a lab's conntrack entries at down, over ctnetlink, so that a lab that comes up
//! later on the same addresses or host ports does not inherit stale NAT (CNI portmap's old
//! bug: a UDP flow kept going to a container that no longer existed).
//!
//! An entry is the lab's when one of its four addresses (original source and destination,
//! reply source and destination) is in one of the lab's subnets: that covers masqueraded
//! connections (original source), published ports (reply source, after DNAT, also from
//! 127.0.0.1), the host talking to a node, and traffic inside a bridge that br_netfilter
//! tracked. By subnets rather than by a conntrack mark: the mark is one 32-bit field that
//! other software (Cilium, Calico, OVS) uses too, and subnets also catch entries made
//! before the lab's table existed. The entries are dumped, filtered here, and each is
//! deleted by its original tuple and zone, as `conntrack -D` does.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::netns::NetnsPath;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One conntrack entry, as much of it as deleting it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub family: u8,
    /// Original source, original destination, reply source, reply destination.
    pub addrs: Vec<IpAddr>,
    /// The CTA_TUPLE_ORIG and CTA_ZONE attributes as the kernel sent them.
    key: Vec<u8>,
}

/// Deletes every entry of the namespace that has an address in `subnets`; returns how
/// many were deleted (an entry that expired meanwhile is not an error).
pub fn flush(netns: &NetnsPath, subnets: &[IpNet]) -> io::Result<usize> {
    let subnets = subnets.to_vec();
    netns.run(move || {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        let entries = dump(&sock)?;
        let mut deleted = 0;
        for e in entries.iter().filter(|e| e.addrs.iter().any(|a| subnets.iter().any(|s| s.contains(a)))) {
            if delete(&sock, e)? {
                deleted += 1;
            }
        }
        Ok(deleted)
    })
}

fn header(buf: &mut Vec<u8>, kind: u16, flags: u16, family: u8) {
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish()
    buf.extend_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | kind).to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    buf.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: family, version 0, res_id 0
}

fn finish(buf: &mut [u8]) {
    let len = buf.len() as u32;
    buf[..4].copy_from_slice(&len.to_ne_bytes());
}

/// Every entry of the namespace (both families).
fn dump(sock: &Socket) -> io::Result<Vec<Entry>> {
    let mut req = Vec::new();
    header(&mut req, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, libc::AF_UNSPEC as u8);
    finish(&mut req);
    sock.send(&req, 0)?;
    let mut out = Vec::new();
    loop {
        let (buf, _) = sock.recv_from_full()?;
        for (kind, payload) in messages(&buf) {
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => check_ack(payload)?,
                _ if payload.len() >= 4 => out.extend(parse_entry(payload[0], &payload[4..])),
                _ => {}
            }
        }
    }
}

/// Deletes one entry; false when it was already gone.
fn delete(sock: &Socket, e: &Entry) -> io::Result<bool> {
    let mut req = Vec::new();
    header(&mut req, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, e.family);
    req.extend_from_slice(&e.key);
    finish(&mut req);
    sock.send(&req, 0)?;
    let (buf, _) = sock.recv_from_full()?;
    for (kind, payload) in messages(&buf) {
        if kind == NLMSG_ERROR {
            return match check_ack(payload) {
                Ok(()) => Ok(true),
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(false),
                Err(err) => Err(err),
            };
        }
    }
    Err(io::Error::other("ctnetlink did not acknowledge a delete"))
}

fn check_ack(payload: &[u8]) -> io::Result<()> {
    let code = payload.get(..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).unwrap_or(0);
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-code))
    }
}

/// The netlink messages of a datagram: (type, payload after the 16-byte header).
fn messages(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        if len < 16 || len > rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
        let payload = &rest[16..len];
        rest = &rest[align(len).min(rest.len())..];
        Some((kind, payload))
    })
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Netlink attributes: (type without flags, whole attribute, payload).
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes(rest[..2].try_into().unwrap()) as usize;
        if len < 4 || len > rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(rest[2..4].try_into().unwrap()) & NLA_TYPE_MASK;
        let (whole, payload) = (&rest[..len], &rest[4..len]);
        rest = &rest[align(len).min(rest.len())..];
        Some((kind, whole, payload))
    })
}

fn parse_entry(family: u8, body: &[u8]) -> Option<Entry> {
    let mut addrs = Vec::new();
    let mut key = Vec::new();
    for (kind, whole, payload) in attrs(body) {
        match kind {
            CTA_TUPLE_ORIG | CTA_TUPLE_REPLY => {
                if kind == CTA_TUPLE_ORIG {
                    key.extend_from_slice(whole);
                    key.resize(align(key.len()), 0);
                }
                for (k, _, ip) in attrs(payload) {
                    if k == CTA_TUPLE_IP {
                        addrs.extend(attrs(ip).filter_map(|(_, _, a)| addr(a)));
                    }
                }
            }
            CTA_ZONE => {
                key.extend_from_slice(whole);
                key.resize(align(key.len()), 0);
            }
            _ => {}
        }
    }
    (!key.is_empty()).then_some(Entry { family, addrs, key })
}

fn addr(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 4) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align(v.len()), 0);
        v
    }

    #[test]
    fn an_entry_yields_its_four_addresses_and_its_key() {
        let ip = |a: [u8; 4], b: [u8; 4]| attr(CTA_TUPLE_IP | 0x8000, &[attr(1, &a), attr(2, &b)].concat());
        let orig = attr(CTA_TUPLE_ORIG | 0x8000, &ip([127, 0, 0, 1], [127, 0, 0, 1]));
        let reply = attr(CTA_TUPLE_REPLY | 0x8000, &ip([172, 17, 0, 2], [172, 17, 0, 1]));
        let zone = attr(CTA_ZONE, &[0, 0]);
        let e = parse_entry(2, &[orig.clone(), reply, zone.clone()].concat()).unwrap();
        let want: Vec<IpAddr> =
            ["127.0.0.1", "127.0.0.1", "172.17.0.2", "172.17.0.1"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(e.addrs, want);
        assert_eq!(e.key, [orig, zone].concat(), "the key is the original tuple and the zone, as sent");
    }
}
