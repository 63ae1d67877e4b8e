//! Frames as the relay's packet sockets hand them over: an Ethernet frame and the virtio
//! header the kernel puts before it (PACKET_VNET_HDR), turned into wire frames.
//!
//! Over a veth the kernel passes frames as its stack built them: a TCP super-packet of
//! up to 64 KiB (GSO) with its checksum not yet computed (CHECKSUM_PARTIAL). The virtio
//! header says so, and sending the frame on with the same header gives the next veth the
//! same packet, which is what lets the relay carry a plain link at veth speed. An
//! impairment acts on the frames the wire would carry, so a super-packet is cut into
//! them first (by the tunnel forwarder's segmentation, [`crate::tunnel::offload`]),
//! each with full checksums; a frame about to be corrupted gets its checksum completed
//! first, as netem does, so the damage shows.

use crate::tunnel::offload::{self, Segments};
use crate::tunnel::tun::{VnetHdr, GSO_NONE, VNET_F_NEEDS_CSUM, VNET_HDR_LEN};

/// The Ethernet header before every frame's payload.
pub const ETH_HLEN: usize = 14;

/// One frame on its way through a delay line: its bytes (Ethernet header first) and the
/// virtio header to send it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    pub vnet: VnetHdr,
}

impl Frame {
    /// A frame as the wire carries it, checksums complete.
    pub fn plain(bytes: Vec<u8>) -> Frame {
        Frame { bytes, vnet: VnetHdr::default() }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Computes the checksum the sender left to the device, if it did; afterwards the
    /// frame's bytes are exactly what a wire would carry. False if the header points
    /// outside the frame (the frame is then left as it was).
    pub fn finish_checksum(&mut self) -> bool {
        if self.vnet.flags & VNET_F_NEEDS_CSUM == 0 || self.vnet.gso_type != GSO_NONE {
            return true;
        }
        let Some(start) = usize::from(self.vnet.csum_start).checked_sub(ETH_HLEN) else { return false };
        let hdr = VnetHdr { csum_start: start as u16, ..self.vnet };
        let mut unused = Segments::default();
        match self.bytes.get_mut(ETH_HLEN..).map(|l3| offload::prepare(&hdr, l3, &mut unused)) {
            Some(Ok(_)) => {
                self.vnet = VnetHdr::default();
                true
            }
            _ => false,
        }
    }

    /// Flips bit `bit` (counted from the frame's first byte, modulo its length).
    pub fn flip_bit(&mut self, bit: u64) {
        if self.bytes.is_empty() {
            return;
        }
        let bit = bit % (self.bytes.len() as u64 * 8);
        self.bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
    }
}

/// Reusable frame buffers, so that a busy delay line does not allocate per frame.
#[derive(Debug, Default)]
pub struct Pool {
    free: Vec<Vec<u8>>,
}

impl Pool {
    /// Buffers kept at most; more are freed (a burst does not pin its memory for good).
    const KEEP: usize = 4096;

    pub fn copy_of(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut v = self.free.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(bytes);
        v
    }

    pub fn put(&mut self, v: Vec<u8>) {
        if self.free.len() < Self::KEEP {
            self.free.push(v);
        }
    }
}

/// What [`split`] made of a received frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    /// Wire frames, in order.
    Frames(usize),
    /// A super-packet of a kind the relay does not cut (UDP GSO, say): passed as one frame
    /// with its virtio header, so its fate is that of one frame.
    Whole,
    /// Not a frame that can be sent on: the header and the bytes disagree.
    Bad,
}

/// Turns what a packet socket read (virtio header, then the frame) into wire frames for
/// a delay line, pushed to `out`; `segs` is scratch space kept between calls.
pub fn split(read: &mut [u8], pool: &mut Pool, segs: &mut Segments, out: &mut Vec<Frame>) -> Split {
    let Some(hdr) = VnetHdr::parse(read) else { return Split::Bad };
    let frame = &mut read[VNET_HDR_LEN..];
    if frame.len() < ETH_HLEN {
        return Split::Bad;
    }
    if hdr.gso_type == GSO_NONE {
        out.push(Frame { bytes: pool.copy_of(frame), vnet: hdr });
        return Split::Frames(1);
    }
    let Some(csum_start) = usize::from(hdr.csum_start).checked_sub(ETH_HLEN) else { return Split::Bad };
    let l3 = VnetHdr { csum_start: csum_start as u16, ..hdr };
    let (eth, packet) = frame.split_at_mut(ETH_HLEN);
    match offload::prepare(&l3, packet, segs) {
        Ok(offload::Prepared::Segmented) => {
            for i in 0..segs.len() {
                let range = segs.range(i);
                let seg = &mut segs.bytes_mut()[range];
                seg[..ETH_HLEN].copy_from_slice(eth);
                out.push(Frame::plain(pool.copy_of(seg)));
            }
            Split::Frames(segs.len())
        }
        Ok(offload::Prepared::One(_)) => Split::Bad,
        Err(_) => {
            out.push(Frame { bytes: pool.copy_of(frame), vnet: hdr });
            Split::Whole
        }
    }
}

/// The segments' headroom: room for the Ethernet header before each.
pub fn segments() -> Segments {
    Segments::with_headroom(ETH_HLEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::checksum;
    use crate::tunnel::tun::GSO_TCPV4;

    const ETH: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];

    /// A TCP/IPv4 super-packet of `payload` bytes as a veth hands it over: checksum field
    /// holding the pseudo-header sum, virtio header saying GSO with MSS 1000.
    fn super_frame(payload: usize) -> Vec<u8> {
        let total = 20 + 20 + payload;
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let c = checksum::finish(checksum::sum(&ip, 0));
        ip[10..12].copy_from_slice(&c);
        let mut tcp = vec![0u8; 20];
        tcp[12] = 5 << 4;
        tcp[13] = 0x10;
        let pseudo = checksum::fold(checksum::pseudo_header(&ip[12..16], &ip[16..20], 6, 20 + payload));
        tcp[16..18].copy_from_slice(&pseudo.to_ne_bytes());
        let vnet = VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1000,
            csum_start: 34,
            csum_offset: 16,
        };
        let mut read = vnet.encode().to_vec();
        read.extend(ETH);
        read.extend(ip);
        read.extend(tcp);
        read.extend((0..payload).map(|i| i as u8));
        read
    }

    fn tcp_checksum_ok(frame: &[u8]) -> bool {
        let ip = &frame[ETH_HLEN..];
        let ps = checksum::pseudo_header(&ip[12..16], &ip[16..20], 6, ip.len() - 20);
        checksum::fold(checksum::sum(&ip[20..], ps)) == 0xffff
    }

    #[test]
    fn a_super_packet_becomes_wire_frames_with_their_ethernet_header() {
        let mut read = super_frame(2500);
        let (mut pool, mut segs, mut out) = (Pool::default(), segments(), Vec::new());
        assert_eq!(split(&mut read, &mut pool, &mut segs, &mut out), Split::Frames(3));
        let lens: Vec<usize> = out.iter().map(|f| f.len()).collect();
        assert_eq!(lens, [14 + 40 + 1000, 14 + 40 + 1000, 14 + 40 + 500]);
        for f in &out {
            assert_eq!(f.bytes[..14], ETH);
            assert_eq!(f.vnet, VnetHdr::default(), "sent as finished frames");
            assert!(tcp_checksum_ok(&f.bytes));
        }
    }

    #[test]
    fn a_plain_frame_keeps_its_header_until_corruption_needs_the_checksum() {
        let mut read = super_frame(500);
        let mut vnet = VnetHdr::parse(&read).unwrap();
        vnet.gso_type = GSO_NONE;
        read[..VNET_HDR_LEN].copy_from_slice(&vnet.encode());
        let (mut pool, mut segs, mut out) = (Pool::default(), segments(), Vec::new());
        assert_eq!(split(&mut read, &mut pool, &mut segs, &mut out), Split::Frames(1));
        let mut f = out.pop().unwrap();
        assert_eq!(f.vnet, vnet, "left for the next device to finish");
        assert!(!tcp_checksum_ok(&f.bytes));
        assert!(f.finish_checksum());
        assert_eq!(f.vnet, VnetHdr::default());
        assert!(tcp_checksum_ok(&f.bytes));
        let before = f.bytes.clone();
        f.flip_bit(8 * 60 + 3);
        assert_eq!(f.bytes[60], before[60] ^ 8);
        assert!(!tcp_checksum_ok(&f.bytes), "the damage shows");
    }

    #[test]
    fn what_cannot_be_cut_goes_whole_and_garbage_is_refused() {
        let mut read = super_frame(2500);
        read[1] = 5; // VIRTIO_NET_HDR_GSO_UDP_L4
        let (mut pool, mut segs, mut out) = (Pool::default(), segments(), Vec::new());
        assert_eq!(split(&mut read, &mut pool, &mut segs, &mut out), Split::Whole);
        assert_eq!(out.len(), 1);
        assert_eq!(split(&mut [0u8; 5], &mut pool, &mut segs, &mut out), Split::Bad);
        assert_eq!(split(&mut [0u8; 20], &mut pool, &mut segs, &mut out), Split::Bad);
    }
}
