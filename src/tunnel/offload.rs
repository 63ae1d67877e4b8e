//! TCP segmentation and coalescing, the userspace half of the TUN offloads.
//!
//! With TSO on, the TUN device hands over TCP super-packets of up to 64 KiB (one header,
//! the payload of many segments, checksum not yet computed). [`prepare`] turns what was
//! read into packets fit for the wire: it splits a super-packet into MSS-sized segments,
//! each with its own IP header (length, id, checksum) and TCP header (sequence number,
//! flags, full checksum), exactly as the kernel's own segmentation would (`tcp_gso_segment`),
//! or completes the checksum of a single packet.
//!
//! On the way in, [`Coalescer`] merges consecutive segments of one TCP flow back into a
//! super-packet and writes it with a virtio header that tells the kernel it is a GSO
//! packet (as GRO would have built it), so the TCP stack behind the TUN device processes
//! one 64 KiB packet instead of forty-five. Segments are merged only under the conditions
//! the kernel's GRO uses: same addresses, ports, header fields and options, consecutive
//! sequence numbers, plain ACK flags (PSH only on the last), all but the last of the same
//! size, at most 64 KiB in all.

use super::checksum;
use super::packet::{self, PROTO_TCP, PROTO_UDP};
use super::stats::Reason;
use super::tun::{VnetHdr, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, VNET_F_NEEDS_CSUM};

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;

/// The largest IP packet: the IPv4 total length and IPv6 payload length are 16 bits.
const MAX_PACKET: usize = 65535;

/// The segments [`prepare`] cut a super-packet into, each a whole packet (its own
/// headers, then its part of the payload), back to back: ready to go out as one buffer
/// that UDP GSO cuts into datagrams. Each can have room before it for an outer header
/// (ipip's), which the caller writes.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    out: Vec<u8>,
    /// Bytes left before each segment.
    headroom: usize,
    /// From one segment's start (its headroom) to the next's.
    stride: usize,
    n: usize,
}

impl Segments {
    /// Segments with `headroom` bytes before each.
    pub(crate) fn with_headroom(headroom: usize) -> Segments {
        Segments { headroom, ..Segments::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Where segment `i` is in [`bytes`](Self::bytes), its headroom first.
    pub(crate) fn range(&self, i: usize) -> std::ops::Range<usize> {
        i * self.stride..((i + 1) * self.stride).min(self.out.len())
    }

    /// Every segment, back to back.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.out
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.out
    }

    #[cfg(test)]
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        &self.out[self.range(i)][self.headroom..]
    }
}

/// What one read from the TUN device became.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Prepared {
    /// One whole packet: the first `n` bytes of what was read (after the virtio header).
    One(usize),
    /// A super-packet, cut into the segments given to [`prepare`].
    Segmented,
}

/// Makes the packet read from the TUN device (`pkt`, after its virtio header `hdr`) ready
/// for the wire: completes a pending checksum, or segments a TCP super-packet into `segs`.
pub(crate) fn prepare(hdr: &VnetHdr, pkt: &mut [u8], segs: &mut Segments) -> Result<Prepared, Reason> {
    match hdr.gso_type & !GSO_ECN {
        GSO_NONE => {
            if hdr.flags & VNET_F_NEEDS_CSUM != 0 {
                complete_checksum(pkt, usize::from(hdr.csum_start), usize::from(hdr.csum_offset))?;
            }
            let n = packet::validate(pkt).map_err(|_| Reason::BadPacket)?.len();
            Ok(Prepared::One(n))
        }
        GSO_TCPV4 | GSO_TCPV6 => {
            segment(pkt, usize::from(hdr.gso_size), usize::from(hdr.csum_start), segs)?;
            Ok(Prepared::Segmented)
        }
        _ => Err(Reason::Unsupported),
    }
}

/// Computes the checksum the kernel left to the device: over `pkt[start..]`, whose
/// field at `start + offset` already holds the pseudo-header sum.
fn complete_checksum(pkt: &mut [u8], start: usize, offset: usize) -> Result<(), Reason> {
    let field = start.checked_add(offset).filter(|&f| f + 2 <= pkt.len()).ok_or(Reason::BadPacket)?;
    let mut c = checksum::finish(checksum::sum(&pkt[start..], 0));
    // UDP sends a computed zero as all ones: zero means "no checksum" (RFC 768).
    if c == [0, 0] && offset == 6 && transport_protocol(pkt) == Some(PROTO_UDP) {
        c = [0xff, 0xff];
    }
    pkt[field..field + 2].copy_from_slice(&c);
    Ok(())
}

fn transport_protocol(pkt: &[u8]) -> Option<u8> {
    match pkt.first()? >> 4 {
        4 => pkt.get(9).copied(),
        6 => pkt.get(6).copied(),
        _ => None,
    }
}

/// Byte offsets of the source and destination addresses, by IP version.
fn addresses(pkt: &[u8]) -> (&[u8], &[u8]) {
    if pkt[0] >> 4 == 4 {
        (&pkt[12..16], &pkt[16..20])
    } else {
        (&pkt[8..24], &pkt[24..40])
    }
}

/// Splits a TCP super-packet into segments of at most `mss` payload bytes each.
fn segment(pkt: &[u8], mss: usize, csum_start: usize, out: &mut Segments) -> Result<(), Reason> {
    let pkt = packet::validate(pkt).map_err(|_| Reason::BadPacket)?;
    let v4 = pkt[0] >> 4 == 4;
    let (ip_hlen, proto) = if v4 { (usize::from(pkt[0] & 0x0f) * 4, pkt[9]) } else { (40, pkt[6]) };
    // TCP right after the IP header (IPv6 extension headers are not something the kernel's
    // own TCP sends); the kernel says where TCP starts, and it must agree.
    if proto != PROTO_TCP || csum_start != ip_hlen {
        return Err(Reason::Unsupported);
    }
    let t = ip_hlen;
    if pkt.len() < t + 20 {
        return Err(Reason::BadPacket);
    }
    let thl = usize::from(pkt[t + 12] >> 4) * 4;
    let hlen = t + thl;
    if thl < 20 || hlen > pkt.len() || mss == 0 {
        return Err(Reason::BadPacket);
    }
    let payload = pkt.len() - hlen;
    let n = payload.div_ceil(mss).max(1);
    let seq0 = u32::from_be_bytes([pkt[t + 4], pkt[t + 5], pkt[t + 6], pkt[t + 7]]);
    let id0 = u16::from_be_bytes([pkt[4], pkt[5]]);
    let flags0 = pkt[t + 13];
    let (src, dst) = addresses(pkt);
    let addr_sum = checksum::sum(src, checksum::sum(dst, 0));

    let room = out.headroom;
    out.n = n;
    out.stride = room + hlen + mss.min(payload);
    // Every byte but the headroom is written below; resizing a buffer that was as long
    // before writes nothing.
    out.out.resize(n * (room + hlen) + payload, 0);
    for i in 0..n {
        let start = hlen + i * mss;
        let end = (start + mss).min(pkt.len());
        let seglen = end - start;
        let at = i * out.stride + room;
        let (h, body) = out.out[at..at + hlen + seglen].split_at_mut(hlen);
        h.copy_from_slice(&pkt[..hlen]);
        if v4 {
            h[2..4].copy_from_slice(&((hlen + seglen) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            h[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::finish(checksum::sum(&h[..ip_hlen], 0));
            h[10..12].copy_from_slice(&c);
        } else {
            h[4..6].copy_from_slice(&((thl + seglen) as u16).to_be_bytes());
        }
        let seq = seq0.wrapping_add((i * mss) as u32);
        h[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 != n {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i != 0 {
            flags &= !TCP_CWR;
        }
        h[t + 13] = flags;
        h[t + 16..t + 18].copy_from_slice(&[0, 0]);
        let pseudo =
            addr_sum + checksum::sum(&[0, PROTO_TCP], 0) + checksum::sum(&((thl + seglen) as u32).to_be_bytes(), 0);
        let s = checksum::copy_sum(body, &pkt[start..end], checksum::sum(&h[t..], pseudo));
        h[t + 16..t + 18].copy_from_slice(&checksum::finish(s));
    }
    Ok(())
}

/// Where a coalescible TCP segment's parts are.
#[derive(Debug, Clone, Copy)]
struct Tcp {
    ip_hlen: usize,
    hlen: usize,
    seq: u32,
    flags: u8,
    payload: usize,
}

/// The TCP facts of a validated packet if it could take part in coalescing: IPv4 without
/// options and not a fragment, or IPv6 without extension headers; a whole TCP header.
fn tcp_of(pkt: &[u8]) -> Option<Tcp> {
    let ip_hlen = match pkt[0] >> 4 {
        4 if pkt[0] == 0x45 && pkt[9] == PROTO_TCP && u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff == 0 => 20,
        6 if pkt[6] == PROTO_TCP => 40,
        _ => return None,
    };
    let t = ip_hlen;
    if pkt.len() < t + 20 {
        return None;
    }
    let hlen = t + usize::from(pkt[t + 12] >> 4) * 4;
    if hlen < t + 20 || hlen > pkt.len() {
        return None;
    }
    Some(Tcp {
        ip_hlen,
        hlen,
        seq: u32::from_be_bytes([pkt[t + 4], pkt[t + 5], pkt[t + 6], pkt[t + 7]]),
        flags: pkt[t + 13],
        payload: pkt.len() - hlen,
    })
}

/// Same version, addresses and ports.
fn same_flow(a: &[u8], b: &[u8], ip_hlen: usize) -> bool {
    let key = if ip_hlen == 20 { 12..24 } else { 8..44 };
    a[0] >> 4 == b[0] >> 4 && a.get(key.clone()) == b.get(key)
}

/// Every header byte equal but those that differ between consecutive segments: IP
/// length, id and checksum, TCP sequence number, flags and checksum.
fn same_headers(a: &[u8], b: &[u8], ip_hlen: usize, hlen: usize) -> bool {
    let t = ip_hlen;
    let ip_same =
        if ip_hlen == 20 { a[..2] == b[..2] && a[6..10] == b[6..10] } else { a[..4] == b[..4] && a[6..8] == b[6..8] };
    ip_same
        && a[t + 8..t + 13] == b[t + 8..t + 13]
        && a[t + 14..t + 16] == b[t + 14..t + 16]
        && a[t + 18..hlen] == b[t + 18..hlen]
}

/// A run of segments of one flow waiting to be written as one packet.
struct Flow<'a> {
    first: &'a [u8],
    tcp: Tcp,
    payloads: Vec<&'a [u8]>,
    next_seq: u32,
    total: usize,
    psh: bool,
}

/// At most this many flows are held at once (the kernel's GRO keeps 8 per bucket).
const MAX_FLOWS: usize = 8;

/// Merges consecutive TCP segments of a batch of received packets; see the module docs.
/// Live for one batch: the packets it holds borrow the receive buffers.
pub(crate) struct Coalescer<'a> {
    flows: Vec<Flow<'a>>,
    /// Check each segment's TCP checksum before merging: a merged packet is written with
    /// its checksum marked as not yet computed, which the receiving stack trusts. Needed
    /// where nothing else covered the payload on the way (ipip has no checksum over it;
    /// a UDP datagram's checksum, checked by the kernel, does cover it).
    verify: bool,
}

/// Where a [`Coalescer`] writes: a virtio header, the packet's head, then payload pieces.
pub(crate) trait Sink {
    fn write(&mut self, vnet: &VnetHdr, head: &[u8], payloads: &[&[u8]]);
}

impl<'a> Coalescer<'a> {
    pub(crate) fn new(verify: bool) -> Coalescer<'a> {
        Coalescer { flows: Vec::with_capacity(MAX_FLOWS), verify }
    }

    /// Takes one validated packet: merges it into a waiting flow, holds it as the start of
    /// one, or writes it (and first whatever of its flow was waiting) at once.
    pub(crate) fn push(&mut self, pkt: &'a [u8], sink: &mut impl Sink) {
        let Some(tcp) = tcp_of(pkt) else {
            sink.write(&VnetHdr::default(), pkt, &[]);
            return;
        };
        if let Some(i) = self.flows.iter().position(|f| same_flow(f.first, pkt, tcp.ip_hlen)) {
            if self.fits(&self.flows[i], pkt, &tcp) {
                let flow = &mut self.flows[i];
                flow.payloads.push(&pkt[tcp.hlen..]);
                flow.next_seq = tcp.seq.wrapping_add(tcp.payload as u32);
                flow.total += tcp.payload;
                flow.psh = tcp.flags & TCP_PSH != 0;
                // A short segment or a PSH ends the run, as the sender's segmentation did.
                if flow.psh || tcp.payload < flow.tcp.payload {
                    let flow = self.flows.swap_remove(i);
                    write_flow(flow, sink);
                }
                return;
            }
            // Not a continuation: what was waiting goes first, in order.
            let flow = self.flows.swap_remove(i);
            write_flow(flow, sink);
        }
        if tcp.flags == TCP_ACK && tcp.payload > 0 && (!self.verify || tcp_checksum_ok(pkt, &tcp)) {
            if self.flows.len() == MAX_FLOWS {
                let oldest = self.flows.remove(0);
                write_flow(oldest, sink);
            }
            let mut payloads = Vec::with_capacity(48);
            payloads.push(&pkt[tcp.hlen..]);
            self.flows.push(Flow {
                first: pkt,
                tcp,
                payloads,
                next_seq: tcp.seq.wrapping_add(tcp.payload as u32),
                total: pkt.len(),
                psh: false,
            });
        } else {
            sink.write(&VnetHdr::default(), pkt, &[]);
        }
    }

    /// Writes every flow still waiting; the end of a batch.
    pub(crate) fn flush(&mut self, sink: &mut impl Sink) {
        for flow in self.flows.drain(..) {
            write_flow(flow, sink);
        }
    }

    fn fits(&self, flow: &Flow<'a>, pkt: &[u8], tcp: &Tcp) -> bool {
        tcp.hlen == flow.tcp.hlen
            && tcp.seq == flow.next_seq
            && (tcp.flags == TCP_ACK || tcp.flags == TCP_ACK | TCP_PSH)
            && tcp.payload > 0
            && tcp.payload <= flow.tcp.payload
            && flow.total + tcp.payload <= MAX_PACKET
            && same_headers(flow.first, pkt, tcp.ip_hlen, tcp.hlen)
            && (!self.verify || tcp_checksum_ok(pkt, tcp))
    }
}

fn tcp_checksum_ok(pkt: &[u8], tcp: &Tcp) -> bool {
    let (src, dst) = addresses(pkt);
    let len = pkt.len() - tcp.ip_hlen;
    checksum::fold(checksum::sum(&pkt[tcp.ip_hlen..], checksum::pseudo_header(src, dst, PROTO_TCP, len))) == 0xffff
}

/// Writes a flow: a lone segment as it came, a run as one GSO packet whose headers say
/// the merged length, with the TCP checksum left to the kernel (CHECKSUM_PARTIAL: the
/// field holds the pseudo-header sum, as the kernel's own TSO packets do).
fn write_flow(flow: Flow<'_>, sink: &mut impl Sink) {
    if flow.payloads.len() == 1 {
        sink.write(&VnetHdr::default(), flow.first, &[]);
        return;
    }
    let Tcp { ip_hlen, hlen, .. } = flow.tcp;
    let t = ip_hlen;
    let mut head = [0u8; 100];
    let head = &mut head[..hlen];
    head.copy_from_slice(&flow.first[..hlen]);
    if ip_hlen == 20 {
        head[2..4].copy_from_slice(&(flow.total as u16).to_be_bytes());
        head[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(&head[..20], 0));
        head[10..12].copy_from_slice(&c);
    } else {
        head[4..6].copy_from_slice(&((flow.total - 40) as u16).to_be_bytes());
    }
    if flow.psh {
        head[t + 13] |= TCP_PSH;
    }
    let (src, dst) = addresses(flow.first);
    let pseudo = checksum::fold(checksum::pseudo_header(src, dst, PROTO_TCP, flow.total - ip_hlen));
    head[t + 16..t + 18].copy_from_slice(&pseudo.to_ne_bytes());
    let vnet = VnetHdr {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: if ip_hlen == 20 { GSO_TCPV4 } else { GSO_TCPV6 },
        hdr_len: hlen as u16,
        gso_size: flow.tcp.payload as u16,
        csum_start: ip_hlen as u16,
        csum_offset: 16,
    };
    sink.write(&vnet, head, &flow.payloads);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::packet::tests::{v4, v6};

    /// A TCP super-packet as the TUN device hands it over with TSO: a valid IP header,
    /// the TCP checksum field holding the pseudo-header sum, `payload` bytes after.
    fn super_packet(v6_: bool, payload: usize, flags: u8) -> (VnetHdr, Vec<u8>) {
        let mut tcp = vec![0u8; 32]; // 20 bytes + 12 bytes of options (NOP NOP timestamps)
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes()); // wraps within the run
        tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        tcp.extend((0..payload).map(|i| (i * 31 % 251) as u8));
        let pkt = if v6_ {
            v6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), PROTO_TCP, &tcp)
        } else {
            let mut p = v4([10, 244, 1, 2], [10, 244, 2, 5], PROTO_TCP, &tcp);
            p[4..6].copy_from_slice(&0xfffeu16.to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::finish(checksum::sum(&p[..20], 0));
            p[10..12].copy_from_slice(&c);
            p
        };
        let ip_hlen = if v6_ { 40 } else { 20 };
        let mut pkt = pkt;
        let (src, dst) = addresses(&pkt);
        let pseudo = checksum::fold(checksum::pseudo_header(src, dst, PROTO_TCP, pkt.len() - ip_hlen));
        pkt[ip_hlen + 16..ip_hlen + 18].copy_from_slice(&pseudo.to_ne_bytes());
        let hdr = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: if v6_ { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: (ip_hlen + 32) as u16,
            gso_size: 1000,
            csum_start: ip_hlen as u16,
            csum_offset: 16,
        };
        (hdr, pkt)
    }

    fn segments_of(hdr: &VnetHdr, pkt: &mut [u8]) -> Vec<Vec<u8>> {
        let mut segs = Segments::default();
        assert_eq!(prepare(hdr, pkt, &mut segs), Ok(Prepared::Segmented));
        assert_eq!(segs.bytes().len(), (0..segs.len()).map(|i| segs.range(i).len()).sum::<usize>());
        let all: Vec<Vec<u8>> = (0..segs.len()).map(|i| segs.get(i).to_vec()).collect();
        // The same with room for an outer header before each.
        let mut roomy = Segments::with_headroom(20);
        assert_eq!(prepare(hdr, pkt, &mut roomy), Ok(Prepared::Segmented));
        assert_eq!(roomy.bytes().len(), segs.bytes().len() + 20 * segs.len());
        for (i, s) in all.iter().enumerate() {
            assert_eq!(roomy.range(i).len(), 20 + s.len());
            assert_eq!(roomy.get(i), &s[..]);
        }
        all
    }

    #[derive(Default)]
    struct Written(Vec<(VnetHdr, Vec<u8>)>);

    impl Sink for Written {
        fn write(&mut self, vnet: &VnetHdr, head: &[u8], payloads: &[&[u8]]) {
            let mut all = head.to_vec();
            for p in payloads {
                all.extend_from_slice(p);
            }
            self.0.push((*vnet, all));
        }
    }

    fn coalesce(pkts: &[Vec<u8>], verify: bool) -> Vec<(VnetHdr, Vec<u8>)> {
        let mut out = Written::default();
        let mut c = Coalescer::new(verify);
        for p in pkts {
            c.push(p, &mut out);
        }
        c.flush(&mut out);
        out.0
    }

    #[test]
    fn a_super_packet_becomes_valid_segments_like_the_kernels() {
        for v6_ in [false, true] {
            let (hdr, mut pkt) = super_packet(v6_, 4500, TCP_ACK | TCP_PSH | TCP_CWR);
            let ip_hlen = if v6_ { 40 } else { 20 };
            let t = ip_hlen;
            let original = pkt.clone();
            let segs = segments_of(&hdr, &mut pkt);
            assert_eq!(segs.len(), 5, "4500 bytes at 1000 per segment");
            let mut payload = Vec::new();
            for (i, s) in segs.iter().enumerate() {
                assert_eq!(packet::validate(s), Ok(&s[..]), "segment {i} is a valid IP packet");
                let tcp = tcp_of(s).unwrap();
                assert!(tcp_checksum_ok(s, &tcp), "segment {i}'s TCP checksum");
                assert_eq!(tcp.payload, if i < 4 { 1000 } else { 500 });
                assert_eq!(tcp.seq, 0xffff_f000u32.wrapping_add(i as u32 * 1000), "sequence numbers wrap");
                let want_flags = match i {
                    0 => TCP_ACK | TCP_CWR,
                    4 => TCP_ACK | TCP_PSH,
                    _ => TCP_ACK,
                };
                assert_eq!(tcp.flags, want_flags, "segment {i}: CWR on the first only, PSH on the last only");
                if !v6_ {
                    assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0xfffeu16.wrapping_add(i as u16), "IP ids count up");
                }
                // Everything else in the headers is the original's.
                assert_eq!(s[t + 8..t + 13], original[t + 8..t + 13]);
                assert_eq!(s[t + 18..t + 32], original[t + 18..t + 32]);
                payload.extend_from_slice(&s[tcp.hlen..]);
            }
            assert_eq!(payload, original[ip_hlen + 32..], "payloads in order, nothing lost");
        }
    }

    #[test]
    fn segments_merge_back_into_the_super_packet() {
        for v6_ in [false, true] {
            let (hdr, mut pkt) = super_packet(v6_, 4500, TCP_ACK | TCP_PSH);
            let original = pkt.clone();
            let segs = segments_of(&hdr, &mut pkt);
            for verify in [false, true] {
                let out = coalesce(&segs, verify);
                assert_eq!(out.len(), 1, "one write for the whole run");
                let (vnet, merged) = &out[0];
                // The merged packet is the super-packet the sender's TUN read: same
                // virtio header, same headers (the pseudo-header sum in the checksum
                // field), same payload.
                assert_eq!(*vnet, hdr);
                assert_eq!(merged.len(), original.len());
                assert_eq!(packet::validate(merged), Ok(&merged[..]));
                assert_eq!(merged, &original);
            }
        }
    }

    #[test]
    fn only_true_continuations_are_merged() {
        let (hdr, mut pkt) = super_packet(false, 3000, TCP_ACK);
        let segs = segments_of(&hdr, &mut pkt);
        assert_eq!(segs.len(), 3);
        let count = |pkts: &[Vec<u8>]| coalesce(pkts, false).len();
        assert_eq!(count(&segs), 1);
        // Out of order: nothing merges across the gap.
        assert_eq!(count(&[segs[0].clone(), segs[2].clone(), segs[1].clone()]), 3);
        // A different window, TTL, or option value stops a run.
        let mut other = segs.clone();
        other[2][20 + 15] ^= 1;
        assert_eq!(count(&other), 2, "window");
        let mut other = segs.clone();
        other[2][8] -= 1;
        let c = checksum::finish(checksum::sum(
            &{
                let mut h = other[2][..20].to_vec();
                h[10..12].copy_from_slice(&[0, 0]);
                h
            },
            0,
        ));
        other[2][10..12].copy_from_slice(&c);
        assert_eq!(count(&other), 2, "TTL");
        let mut other = segs.clone();
        other[2][20 + 31] ^= 1;
        assert_eq!(count(&other), 2, "timestamp option");
        // Another flow's segment in between does not break either run.
        let (hdr2, mut pkt2) = super_packet(true, 2000, TCP_ACK);
        let segs2 = segments_of(&hdr2, &mut pkt2);
        let interleaved = vec![segs[0].clone(), segs2[0].clone(), segs[1].clone(), segs2[1].clone(), segs[2].clone()];
        let out = coalesce(&interleaved, false);
        assert_eq!(out.len(), 2);
        // A pure ACK (no payload) and a non-TCP packet go through as they are.
        let ack = [segs[0][..52].to_vec()];
        let mut ack = ack.to_vec();
        ack[0][2..4].copy_from_slice(&52u16.to_be_bytes());
        assert_eq!(coalesce(&ack, false)[0].0, VnetHdr::default());
        let udp = v4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP, b"12345678");
        assert_eq!(coalesce(&[udp.clone(), udp], false).len(), 2);
    }

    #[test]
    fn a_bad_tcp_checksum_is_not_merged_when_verifying() {
        let (hdr, mut pkt) = super_packet(false, 3000, TCP_ACK);
        let mut segs = segments_of(&hdr, &mut pkt);
        segs[1][100] ^= 0xff;
        assert_eq!(coalesce(&segs, false).len(), 1, "not verifying: trusted");
        let out = coalesce(&segs, true);
        assert_eq!(out.len(), 3, "the bad one is written alone for the kernel to drop");
        assert!(out.iter().all(|(v, _)| *v == VnetHdr::default()));
    }

    #[test]
    fn a_pending_checksum_is_completed() {
        let mut udp = v4([10, 0, 0, 1], [10, 0, 0, 2], PROTO_UDP, &[0u8; 16]);
        udp[20..22].copy_from_slice(&1000u16.to_be_bytes());
        udp[22..24].copy_from_slice(&2000u16.to_be_bytes());
        udp[24..26].copy_from_slice(&16u16.to_be_bytes());
        udp[28..36].copy_from_slice(b"payload!");
        let pseudo = checksum::fold(checksum::pseudo_header(&[10, 0, 0, 1], &[10, 0, 0, 2], PROTO_UDP, 16));
        udp[26..28].copy_from_slice(&pseudo.to_ne_bytes());
        let hdr = VnetHdr { flags: VNET_F_NEEDS_CSUM, csum_start: 20, csum_offset: 6, ..VnetHdr::default() };
        let mut segs = Segments::default();
        assert_eq!(prepare(&hdr, &mut udp, &mut segs), Ok(Prepared::One(36)));
        let ps = checksum::pseudo_header(&[10, 0, 0, 1], &[10, 0, 0, 2], PROTO_UDP, 16);
        assert_eq!(checksum::fold(checksum::sum(&udp[20..], ps)), 0xffff, "valid UDP checksum");

        let bad = VnetHdr { flags: VNET_F_NEEDS_CSUM, csum_start: 30, csum_offset: 6, ..VnetHdr::default() };
        assert_eq!(prepare(&bad, &mut udp, &mut segs), Err(Reason::BadPacket), "field beyond the packet");
        let unknown = VnetHdr { gso_type: 5, ..VnetHdr::default() };
        assert_eq!(prepare(&unknown, &mut udp, &mut segs), Err(Reason::Unsupported));
        let (mut hdr, mut pkt) = super_packet(false, 3000, TCP_ACK);
        hdr.gso_size = 0;
        assert_eq!(prepare(&hdr, &mut pkt, &mut segs), Err(Reason::BadPacket));
        assert_eq!(prepare(&VnetHdr::default(), &mut [0x45, 0, 0], &mut segs), Err(Reason::BadPacket));
    }

    #[test]
    fn a_super_packet_smaller_than_one_segment_is_one_segment() {
        let (mut hdr, mut pkt) = super_packet(false, 700, TCP_ACK);
        hdr.gso_size = 1000;
        let segs = segments_of(&hdr, &mut pkt);
        assert_eq!(segs.len(), 1);
        let tcp = tcp_of(&segs[0]).unwrap();
        assert!(tcp_checksum_ok(&segs[0], &tcp));
    }
}
