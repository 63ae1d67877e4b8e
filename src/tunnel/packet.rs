//! What the forwarder checks about a packet before it goes into the TUN device or out to a
//! peer: an IPv4 or IPv6 packet whose header and stated length fit what arrived, and for
//! userspace ipip the outer IPv4 header (RFC 2003) around it.
//!
//! Nothing here allocates or panics on any input: every function takes arbitrary bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::stats::Reason;

/// IP protocol numbers the forwarder looks at.
pub(crate) const PROTO_IPIP: u8 = 4;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;

/// Checks that `buf` starts with a whole IPv4 or IPv6 packet and returns exactly that
/// packet: bytes past its stated length (link padding) are cut off.
pub(crate) fn validate(buf: &[u8]) -> Result<&[u8], Reason> {
    match buf.first().map(|b| b >> 4) {
        None => Err(Reason::Short),
        Some(4) => validate_v4(buf),
        Some(6) => validate_v6(buf),
        Some(_) => Err(Reason::BadVersion),
    }
}

/// An IPv4 packet: a header of at least 20 bytes that fits, a valid header checksum, and
/// a total length between the header's and what arrived.
pub(crate) fn validate_v4(buf: &[u8]) -> Result<&[u8], Reason> {
    if buf.len() < 20 {
        return Err(Reason::Short);
    }
    if buf[0] >> 4 != 4 {
        return Err(Reason::BadVersion);
    }
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    if ihl < 20 || ihl > buf.len() || !checksum::verify(&buf[..ihl]) {
        return Err(Reason::BadHeader);
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < ihl {
        return Err(Reason::BadHeader);
    }
    if total > buf.len() {
        return Err(Reason::Truncated);
    }
    Ok(&buf[..total])
}

/// An IPv6 packet: the 40-byte header and the payload length it states.
pub(crate) fn validate_v6(buf: &[u8]) -> Result<&[u8], Reason> {
    if buf.len() < 40 {
        return Err(Reason::Short);
    }
    if buf[0] >> 4 != 6 {
        return Err(Reason::BadVersion);
    }
    // A zero payload length with a hop-by-hop header is a jumbogram (RFC 2675): more than
    // 64 KiB, which no datagram here can carry, so a zero length means no payload.
    let total = 40 + usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if total > buf.len() {
        return Err(Reason::Truncated);
    }
    Ok(&buf[..total])
}

/// The destination address of a packet that passed [`validate`].
pub(crate) fn destination(pkt: &[u8]) -> Option<IpAddr> {
    match pkt.first()? >> 4 {
        4 if pkt.len() >= 20 => Some(IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]))),
        6 if pkt.len() >= 40 => {
            let bytes: [u8; 16] = pkt[24..40].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// Strips the outer IPv4 header of an ipip packet as a raw socket hands it over (outer
/// header included) and returns the outer source and the inner packet, validated and
/// IPv4 (RFC 2003 carries IPv4 only; IPv6 in IPv4 is protocol 41, not 4).
pub(crate) fn strip_ipip(buf: &[u8]) -> Result<(Ipv4Addr, &[u8]), Reason> {
    let outer = validate_v4(buf)?;
    if outer[9] != PROTO_IPIP {
        return Err(Reason::BadHeader);
    }
    // The kernel reassembles fragments before a raw socket sees them; a fragment here is
    // not something to unwrap.
    if u16::from_be_bytes([outer[6], outer[7]]) & 0x3fff != 0 {
        return Err(Reason::BadHeader);
    }
    let source = Ipv4Addr::new(outer[12], outer[13], outer[14], outer[15]);
    let inner = &outer[usize::from(outer[0] & 0x0f) * 4..];
    match inner.first().map(|b| b >> 4) {
        None => Err(Reason::Short),
        Some(4) => Ok((source, validate_v4(inner)?)),
        Some(_) => Err(Reason::BadVersion),
    }
}

/// The outer IPv4 header that a kernel ipip tunnel puts before an inner packet: version 4,
/// no options, DF as given, TTL 64, protocol 4. The forwarder sends one per peer before
/// each packet (its raw socket has IP_HDRINCL, and the kernel fills in each packet's
/// total length, checksum and zero id); tests build what a peer sends with it.
pub(crate) fn ipip_outer_header(src: Ipv4Addr, dst: Ipv4Addr, inner_len: usize, id: u16, df: bool) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + inner_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    if df {
        h[6] = 0x40;
    }
    h[8] = 64;
    h[9] = PROTO_IPIP;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::finish(checksum::sum(&h, 0));
    h[10..12].copy_from_slice(&c);
    h
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal IPv4 packet: header with a valid checksum, then `payload`.
    pub(crate) fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        let c = checksum::finish(checksum::sum(&p, 0));
        p[10..12].copy_from_slice(&c);
        p.extend_from_slice(payload);
        p
    }

    pub(crate) fn v6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p.extend_from_slice(payload);
        p
    }

    fn reseal(p: &mut [u8]) {
        let ihl = usize::from(p[0] & 0x0f) * 4;
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(&p[..ihl], 0));
        p[10..12].copy_from_slice(&c);
    }

    #[test]
    fn whole_packets_pass_and_padding_is_cut() {
        let p = v4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP, b"12345678");
        assert_eq!(validate(&p), Ok(&p[..]));
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(validate(&padded), Ok(&p[..]));
        let q = v6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), PROTO_UDP, b"abc");
        assert_eq!(validate(&q), Ok(&q[..]));
        assert_eq!(validate(&q[..40 + 3]), Ok(&q[..]));
        assert_eq!(destination(&p), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(destination(&q), Some("fd00::2".parse().unwrap()));
    }

    #[test]
    fn every_malformed_case_is_dropped_with_its_reason() {
        let good = v4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP, &[7; 30]);
        assert_eq!(validate(&[]), Err(Reason::Short));
        assert_eq!(validate(&good[..19]), Err(Reason::Short), "shorter than an IPv4 header");
        assert_eq!(validate(&[0x45]), Err(Reason::Short));
        for version in [0u8, 1, 5, 7, 15] {
            let mut p = good.clone();
            p[0] = (version << 4) | 5;
            assert_eq!(validate(&p), Err(Reason::BadVersion), "version {version}");
        }
        let mut p = good.clone();
        p[0] = 0x44; // IHL 4: a header shorter than 20 bytes
        assert_eq!(validate(&p), Err(Reason::BadHeader));
        let mut p = good.clone();
        p[0] = 0x4f; // IHL 15: 60 bytes of header, more than the packet's 50
        assert_eq!(validate(&p[..40]), Err(Reason::BadHeader));
        let mut p = good.clone();
        p[8] ^= 0x10; // TTL changed without fixing the checksum
        assert_eq!(validate(&p), Err(Reason::BadHeader), "header checksum");
        let mut p = good.clone();
        p[2..4].copy_from_slice(&10u16.to_be_bytes()); // total length below the header
        reseal(&mut p);
        assert_eq!(validate(&p), Err(Reason::BadHeader));
        assert_eq!(validate(&good[..good.len() - 1]), Err(Reason::Truncated), "a byte cut off the end");
        let mut p = good.clone();
        p[2..4].copy_from_slice(&9000u16.to_be_bytes());
        reseal(&mut p);
        assert_eq!(validate(&p), Err(Reason::Truncated), "states more than arrived");

        let q = v6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), PROTO_UDP, &[1; 16]);
        assert_eq!(validate(&q[..39]), Err(Reason::Short));
        assert_eq!(validate(&q[..55]), Err(Reason::Truncated));
    }

    #[test]
    fn ipip_outer_header_is_stripped_and_checked() {
        let inner = v4([10, 244, 1, 0], [10, 244, 2, 0], PROTO_UDP, b"hello");
        let src = Ipv4Addr::new(192, 168, 1, 2);
        let dst = Ipv4Addr::new(192, 168, 1, 3);
        let outer = ipip_outer_header(src, dst, inner.len(), 7, true);
        // RFC 2003 3.1: version 4, IHL 5, protocol 4, total length covers the inner packet.
        assert_eq!(outer[0], 0x45);
        assert_eq!(outer[9], 4);
        assert_eq!(u16::from_be_bytes([outer[2], outer[3]]) as usize, 20 + inner.len());
        assert_eq!(&outer[12..16], &src.octets());
        assert_eq!(&outer[16..20], &dst.octets());
        assert!(checksum::verify(&outer));
        let wire = [&outer[..], &inner].concat();
        assert_eq!(strip_ipip(&wire), Ok((src, &inner[..])));

        // An outer header with options is stripped by its IHL.
        let mut with_options = wire.clone();
        with_options.splice(20..20, [1u8, 1, 1, 0]); // NOP NOP NOP EOL
        with_options[0] = 0x46;
        with_options[2..4].copy_from_slice(&((wire.len() + 4) as u16).to_be_bytes());
        reseal(&mut with_options);
        assert_eq!(strip_ipip(&with_options), Ok((src, &inner[..])));

        let mut not_ipip = wire.clone();
        not_ipip[9] = PROTO_UDP;
        reseal(&mut not_ipip);
        assert_eq!(strip_ipip(&not_ipip), Err(Reason::BadHeader));
        let mut fragment = wire.clone();
        fragment[6] = 0x20; // more fragments
        reseal(&mut fragment);
        assert_eq!(strip_ipip(&fragment), Err(Reason::BadHeader));
        assert_eq!(strip_ipip(&wire[..20]), Err(Reason::Truncated), "outer length says more");
        let bare = ipip_outer_header(src, dst, 0, 0, false);
        assert_eq!(strip_ipip(&bare), Err(Reason::Short), "no inner packet");
        let v6_inner = v6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), PROTO_UDP, b"x");
        let wrapped = [&ipip_outer_header(src, dst, v6_inner.len(), 0, false)[..], &v6_inner].concat();
        assert_eq!(strip_ipip(&wrapped), Err(Reason::BadVersion), "ipip carries IPv4 only");
        let mut bad_inner = wire.clone();
        bad_inner[20 + 8] ^= 1;
        assert_eq!(strip_ipip(&bad_inner), Err(Reason::BadHeader), "inner header checksum");
        assert_eq!(strip_ipip(&[0x45; 3]), Err(Reason::Short));
    }
}
