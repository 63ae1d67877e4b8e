//! The fate of a frame: every random choice the delay line makes about one frame (lost?
//! duplicated? which bit corrupted? how late?) comes from a stream of numbers determined
//! by (seed, direction, the frame's identity, its occurrence), and by nothing else.
//!
//! A plain PRNG draws in arrival order, so one ARP, ND, MLD or DAD frame sent on a kernel
//! timer shifts every later draw, and the same test loses different packets on every run.
//! Keying the draws by the frame instead makes a test's traffic meet the same fate on
//! every run, whatever else crosses the link. netlab impairs those control frames like
//! any other (a lossy link loses ARP too; a pulled cable must), without them changing the
//! fate of anything else.
//!
//! # Identity
//!
//! A frame's identity is a hash of the header fields its sender sets the same way on
//! every run, and none that vary: for IPv4 and IPv6 the addresses and the protocol, and
//! for ICMP and ICMPv6 echo the type and sequence number (so `icmp_seq` N meets the same
//! fate on every run); for ARP its operation and addresses; otherwise the EtherType.
//! Left out on purpose: MAC addresses (veth addresses are random per creation), the IPv4
//! id, TCP sequence numbers, ports (ephemeral ports are random per connection), the echo
//! identifier (random per ping), payloads (ping carries a timestamp), checksums.
//!
//! The occurrence counts frames of one identity in one direction, starting at 0 each time
//! an impairment is set: the n-th TCP segment from A to B meets the same fate on every
//! run, and a retransmission (same identity, next occurrence) meets a fate of its own
//! rather than its original's. So a sequence of frames is reproducible when its order is:
//! one ping, one TCP stream, one request after another. Two flows between the same hosts
//! and protocol racing each other share the count, and so their fates depend on the race.
//!
//! Without a seed the relay picks one at random when it starts: fates are then random
//! per run, made the same way.

use std::collections::HashMap;

/// How many identities are remembered before the counts start over (a few MiB): beyond
/// that a relay that has seen so many distinct frames is no longer reproducible anyway.
const MAX_IDENTITIES: usize = 1 << 18;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;

/// SplitMix64's finalizer: a bijection of u64 with good avalanche, used both to combine
/// the key and to step the stream.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over the pieces, then mixed: small, stable across builds and platforms (the
/// standard library's hashers are not promised to be).
fn hash(pieces: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for piece in pieces {
        for &b in *piece {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// The identity of an Ethernet frame (see the module docs).
pub fn identity(frame: &[u8]) -> u64 {
    let Some(mut ethertype) = frame.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return hash(&[frame]);
    };
    let mut l3 = 14;
    while matches!(ethertype, ETH_P_8021Q | ETH_P_8021AD) && frame.len() >= l3 + 4 {
        ethertype = u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]);
        l3 += 4;
    }
    let et = ethertype.to_be_bytes();
    let p = &frame[l3.min(frame.len())..];
    match ethertype {
        ETH_P_IP if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let proto = p[9];
            let echo = match (proto, p.get(ihl..ihl + 8)) {
                // ICMP echo reply (0) and request (8): type and sequence number.
                (1, Some(icmp)) if icmp[0] == 0 || icmp[0] == 8 => [icmp[0], icmp[6], icmp[7]],
                _ => [0xff; 3],
            };
            hash(&[&et, &p[12..20], &[proto], &echo])
        }
        ETH_P_IPV6 if p.len() >= 40 => {
            let next = p[6];
            let echo = match (next, p.get(40..48)) {
                // ICMPv6 echo request (128) and reply (129).
                (58, Some(icmp)) if icmp[0] == 128 || icmp[0] == 129 => [icmp[0], icmp[6], icmp[7]],
                _ => [0xff; 3],
            };
            hash(&[&et, &p[8..40], &[next], &echo])
        }
        // Operation, sender and target protocol addresses (IPv4 over Ethernet).
        ETH_P_ARP if p.len() >= 28 => hash(&[&et, &p[6..8], &p[14..18], &p[24..28]]),
        _ => hash(&[&et]),
    }
}

/// The numbers one frame's fate is drawn from, in a fixed order of use.
#[derive(Debug, Clone)]
pub struct Draws {
    state: u64,
}

impl Draws {
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// The stream for a copy made by duplication: its own, also determined by the key.
    pub fn for_copy(&self) -> Draws {
        Draws { state: mix(self.state ^ 0x6475_706c_6963_6174) }
    }
}

/// The fates of one direction's frames: the seed, and each identity's occurrence count.
#[derive(Debug, Clone)]
pub struct Fates {
    key: u64,
    seen: HashMap<u64, u64>,
}

impl Fates {
    /// `direction` tells apart the two directions of one link (0 and 1), so that the same
    /// seed on both does not make a request and its reply share a fate.
    pub fn new(seed: u64, direction: u8) -> Fates {
        Fates { key: mix(seed ^ mix(u64::from(direction) + 1)), seen: HashMap::new() }
    }

    /// The draws for the next frame, whose bytes (from its Ethernet header on) are `frame`.
    pub fn next(&mut self, frame: &[u8]) -> Draws {
        self.next_of(identity(frame))
    }

    /// The draws for the next occurrence of an identity.
    pub fn next_of(&mut self, id: u64) -> Draws {
        if self.seen.len() >= MAX_IDENTITIES && !self.seen.contains_key(&id) {
            self.seen.clear();
        }
        let n = self.seen.entry(id).or_insert(0);
        let occurrence = *n;
        *n += 1;
        Draws { state: mix(self.key ^ mix(id ^ mix(occurrence))) }
    }
}

/// A seed for a relay started without one, from the kernel's random source.
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == 8 {
        u64::from_ne_bytes(b)
    } else {
        // No getrandom (a very old kernel): the time and pid are random enough for this.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        mix(t as u64 ^ u64::from(std::process::id()) << 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame carrying an IPv4 ICMP echo request.
    pub(crate) fn ping(mac: u8, ip_id: u16, echo_id: u16, seq: u16, stamp: u8) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, mac, 0x02, 0, 0, 0, 0, mac + 1, 0x08, 0x00];
        let mut ip = vec![0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
        f.extend(ip);
        f.extend([8, 0, 0, 0]);
        f.extend(echo_id.to_be_bytes());
        f.extend(seq.to_be_bytes());
        f.extend([stamp; 56]);
        f
    }

    #[test]
    fn echo_frames_are_known_by_sequence_not_by_what_varies_per_run() {
        let a = identity(&ping(1, 100, 7, 5, 0));
        // Another run: other MACs, IPv4 id, echo identifier, timestamp.
        assert_eq!(a, identity(&ping(9, 4242, 31337, 5, 0xaa)));
        assert_ne!(a, identity(&ping(1, 100, 7, 6, 0)), "another sequence number");
        let mut reply = ping(1, 100, 7, 5, 0);
        reply[14 + 20] = 0;
        assert_ne!(a, identity(&reply), "a reply is not its request");
        let mut other_host = ping(1, 100, 7, 5, 0);
        other_host[14 + 19] = 3;
        assert_ne!(a, identity(&other_host));
    }

    #[test]
    fn tcp_frames_of_one_host_pair_share_an_identity_whatever_the_ports() {
        let mut t = ping(1, 1, 0, 0, 0);
        t[14 + 9] = 6;
        let id = identity(&t);
        t[14 + 20..14 + 24].copy_from_slice(&[0xc3, 0x50, 0x14, 0x51]);
        t[14 + 24..14 + 28].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(identity(&t), id);
    }

    #[test]
    fn the_same_key_gives_the_same_draws_and_any_other_key_others() {
        let frame = ping(1, 1, 1, 1, 0);
        let draws = |seed, dir, skip: usize| {
            let mut f = Fates::new(seed, dir);
            for _ in 0..skip {
                f.next(&frame);
            }
            f.next(&frame).next_u64()
        };
        assert_eq!(draws(7, 0, 0), draws(7, 0, 0), "reproducible");
        assert_ne!(draws(7, 0, 0), draws(8, 0, 0), "seed");
        assert_ne!(draws(7, 0, 0), draws(7, 1, 0), "direction");
        assert_ne!(draws(7, 0, 0), draws(7, 0, 1), "occurrence: a retransmission has its own fate");
        // Frames of other identities in between change nothing.
        let mut quiet = Fates::new(7, 0);
        let mut busy = Fates::new(7, 0);
        let arp = [&[0xffu8; 12][..], &[0x08, 0x06], &[0, 1, 8, 0, 6, 4, 0, 1], &[0; 20]].concat();
        for _ in 0..5 {
            busy.next(&arp);
        }
        assert_eq!(quiet.next(&frame).next_u64(), busy.next(&frame).next_u64());
        let mut d = Fates::new(7, 0).next(&frame);
        let copy = d.for_copy().next_u64();
        assert_ne!(d.next_u64(), copy);
    }

    #[test]
    fn draws_are_uniform_enough_for_probabilities() {
        let mut f = Fates::new(1, 0);
        let n = 100_000;
        let hits = (0..n).filter(|&i| f.next_of(i).next_u64() < u64::MAX / 10).count();
        // 10% of 100000: sd is about 95.
        assert!((9_600..10_400).contains(&hits), "{hits}");
    }

    #[test]
    fn odd_frames_have_identities_too() {
        for f in [&[][..], &[1, 2, 3], &[0u8; 14], &[0u8; 60]] {
            identity(f);
        }
        let vlan = [&[0u8; 12][..], &[0x81, 0x00, 0, 5], &ping(1, 1, 1, 3, 0)[12..]].concat();
        assert_eq!(identity(&vlan), identity(&ping(1, 1, 1, 3, 0)), "a VLAN tag is looked through");
        assert!(random_seed() != random_seed());
    }
}
