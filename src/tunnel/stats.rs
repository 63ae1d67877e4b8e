//! The forwarder's counters: kept per thread while it runs, added up into [`Stats`] and
//! written as JSON (the shape is in the `tunnel` module docs) every second and on exit.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// The current version of the stats file's shape; bumped on an incompatible change.
pub const STATS_VERSION: u32 = 1;

/// Why a packet was not forwarded. The first group is about what arrived from the
/// network, the second about what the TUN device handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    NotAPeer,
    Short,
    BadVersion,
    BadHeader,
    Truncated,
    Oversized,
    TunWriteError,
    NoRoute,
    Unsupported,
    BadPacket,
    PeerUnreachable,
    SendError,
}

const REASONS: usize = 12;

impl Reason {
    fn index(self) -> usize {
        self as usize
    }
}

/// One thread's counters. Each thread writes only its own (so the adds never contend),
/// the stats writer reads them all; the alignment keeps two threads' counters off one
/// cache line.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    drops: [AtomicU64; REASONS],
}

impl Counters {
    #[inline]
    pub(crate) fn rx(&self, packets: u64, bytes: u64) {
        self.rx_packets.fetch_add(packets, Relaxed);
        self.rx_bytes.fetch_add(bytes, Relaxed);
    }

    #[inline]
    pub(crate) fn tx(&self, packets: u64, bytes: u64) {
        self.tx_packets.fetch_add(packets, Relaxed);
        self.tx_bytes.fetch_add(bytes, Relaxed);
    }

    #[inline]
    pub(crate) fn dropped(&self, reason: Reason, packets: u64) {
        self.drops[reason.index()].fetch_add(packets, Relaxed);
    }

    fn add_to(&self, stats: &mut Stats) {
        stats.rx.packets += self.rx_packets.load(Relaxed);
        stats.rx.bytes += self.rx_bytes.load(Relaxed);
        stats.tx.packets += self.tx_packets.load(Relaxed);
        stats.tx.bytes += self.tx_bytes.load(Relaxed);
        let d = |r: Reason| self.drops[r.index()].load(Relaxed);
        let s = &mut stats.drops;
        s.not_a_peer += d(Reason::NotAPeer);
        s.short += d(Reason::Short);
        s.bad_version += d(Reason::BadVersion);
        s.bad_header += d(Reason::BadHeader);
        s.truncated += d(Reason::Truncated);
        s.oversized += d(Reason::Oversized);
        s.tun_write_error += d(Reason::TunWriteError);
        s.no_route += d(Reason::NoRoute);
        s.unsupported += d(Reason::Unsupported);
        s.bad_packet += d(Reason::BadPacket);
        s.peer_unreachable += d(Reason::PeerUnreachable);
        s.send_error += d(Reason::SendError);
    }
}

/// A forwarder's counters as written to its stats file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub version: u32,
    /// The TUN device.
    pub dev: String,
    /// `udp` or `ipip`.
    pub encap: String,
    /// The forwarder's process id (in its own PID namespace).
    pub pid: u32,
    /// False in the last write, made as the forwarder exits.
    pub running: bool,
    /// Seconds since the Unix epoch at this write.
    pub updated: u64,
    /// Inner packets read from the TUN device and sent to a peer.
    pub tx: Traffic,
    /// Inner packets received from a peer and written to the TUN device.
    pub rx: Traffic,
    pub drops: Drops,
}

/// Packets and their bytes, counted as inner IP packets (after splitting offloaded TCP
/// super-packets, before merging them back), headers included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

/// Packets dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drops {
    /// From the network: the source address is not a configured peer.
    pub not_a_peer: u64,
    /// From the network: shorter than an IP header (an empty datagram, too).
    pub short: u64,
    /// From the network: not IPv4 or IPv6 (for ipip: the inner packet is not IPv4).
    pub bad_version: u64,
    /// From the network: a malformed IP header (length, checksum; for ipip the outer one).
    pub bad_header: u64,
    /// From the network: the IP header states more bytes than arrived.
    pub truncated: u64,
    /// From the network: larger than the receive buffer (64 KiB).
    pub oversized: u64,
    /// From the network: the TUN device refused the packet (it is down, say).
    pub tun_write_error: u64,
    /// From the TUN device: no peer owns the destination.
    pub no_route: u64,
    /// From the TUN device: a packet this tunnel cannot carry (IPv6 over ipip).
    pub unsupported: u64,
    /// From the TUN device: malformed (should not happen; the kernel wrote it).
    pub bad_packet: u64,
    /// Toward a peer: the kernel reported it unreachable (an ICMP error came back, or
    /// there is no route to its underlay address). Counts reports, not packets.
    pub peer_unreachable: u64,
    /// Toward a peer: any other send failure (no buffer space, say).
    pub send_error: u64,
}

impl Drops {
    /// The sum over every reason.
    pub fn total(&self) -> u64 {
        let Drops {
            not_a_peer,
            short,
            bad_version,
            bad_header,
            truncated,
            oversized,
            tun_write_error,
            no_route,
            unsupported,
            bad_packet,
            peer_unreachable,
            send_error,
        } = *self;
        not_a_peer
            + short
            + bad_version
            + bad_header
            + truncated
            + oversized
            + tun_write_error
            + no_route
            + unsupported
            + bad_packet
            + peer_unreachable
            + send_error
    }
}

impl Stats {
    /// The sum of every thread's counters, stamped with who and when.
    pub(crate) fn collect(dev: &str, encap: &str, running: bool, threads: &[std::sync::Arc<Counters>]) -> Stats {
        let mut stats = Stats {
            version: STATS_VERSION,
            dev: dev.to_owned(),
            encap: encap.to_owned(),
            pid: std::process::id(),
            running,
            updated: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            ..Stats::default()
        };
        for c in threads {
            c.add_to(&mut stats);
        }
        stats
    }

    /// Writes the stats to `path` atomically: a reader sees the old file or the new one,
    /// never half of one.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        write_json(path, self)
    }
}

/// Writes `value` as JSON to `path` atomically (a temporary file renamed over it): a
/// reader sees the old file or the new one, never half of one.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    // A new file of its own, never through a link someone put in its place.
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(&tmp)?;
    io::Write::write_all(&mut file, &json)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Reads a forwarder's stats file.
pub fn read_stats(path: &Path) -> io::Result<Stats> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a stats file: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counters_add_up_across_threads_and_round_trip_through_the_file() {
        let a = Arc::new(Counters::default());
        let b = Arc::new(Counters::default());
        a.tx(3, 300);
        b.tx(1, 50);
        b.rx(2, 84);
        a.dropped(Reason::NotAPeer, 2);
        b.dropped(Reason::NotAPeer, 1);
        b.dropped(Reason::SendError, 4);
        a.dropped(Reason::Oversized, 1);
        let stats = Stats::collect("fl0", "udp", true, &[a, b]);
        assert_eq!(stats.tx, Traffic { packets: 4, bytes: 350 });
        assert_eq!(stats.rx, Traffic { packets: 2, bytes: 84 });
        assert_eq!(stats.drops.not_a_peer, 3);
        assert_eq!(stats.drops.send_error, 4);
        assert_eq!(stats.drops.oversized, 1);
        assert_eq!(stats.drops.total(), 8);

        let dir = std::env::temp_dir().join(format!("netlab-stats-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fl0.json");
        stats.write(&path).unwrap();
        assert_eq!(read_stats(&path).unwrap(), stats);
        // Only the file itself is left: the temporary was renamed over it.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["tx"]["bytes"], 350);
        assert_eq!(value["drops"]["not_a_peer"], 3);
        assert_eq!(value["drops"].as_object().unwrap().len(), REASONS, "every reason is always present");
        std::fs::write(&path, "{\"version\": 1}").unwrap();
        let err = read_stats(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let all = [
            Reason::NotAPeer,
            Reason::Short,
            Reason::BadVersion,
            Reason::BadHeader,
            Reason::Truncated,
            Reason::Oversized,
            Reason::TunWriteError,
            Reason::NoRoute,
            Reason::Unsupported,
            Reason::BadPacket,
            Reason::PeerUnreachable,
            Reason::SendError,
        ];
        assert_eq!(all.len(), REASONS);
        for (i, reason) in all.iter().enumerate() {
            let c = Arc::new(Counters::default());
            c.dropped(*reason, 1 << i);
            let s = Stats::collect("d", "udp", false, &[c]);
            let json = serde_json::to_value(s.drops).unwrap();
            let set: Vec<_> = json.as_object().unwrap().iter().filter(|(_, v)| v.as_u64() != Some(0)).collect();
            assert_eq!(set.len(), 1, "{reason:?} -> {json}");
            assert_eq!(set[0].1.as_u64(), Some(1 << i));
        }
    }
}
