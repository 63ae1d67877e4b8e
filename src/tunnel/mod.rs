//! The userspace tunnel forwarder: moves IP packets between a TUN device and peers on an
//! underlay network, for `kind = "udp"` tunnels (Flannel's udp backend) and for ipip on
//! kernels without the ipip module. `netlab up` starts one per tunnel end (as
//! `netlab forward ...`, inside the end's namespace); this module owns what happens from
//! then on, and the TUN device's creation flags ([`tun`]). It does not create namespaces,
//! addresses or routes, nor daemonize.
//!
//! # Wire formats
//!
//! - **udp** (what flanneld's udp backend sends): each inner IP packet read from the TUN
//!   device is the whole payload of one UDP datagram from `local:port` to the owning
//!   peer's `underlay:port`. No header of its own.
//! - **ipip** (RFC 2003, what a kernel ipip tunnel sends): each inner IPv4 packet goes out
//!   through a raw IPPROTO_IPIP socket behind an outer IPv4 header the forwarder writes
//!   (IP_HDRINCL): protocol 4, source `local`, destination the peer's underlay address,
//!   DF, TTL 64; the kernel fills in the total length, the id and the checksum.
//!
//! The owning peer of a packet is the one whose subnet holds its destination, the longest
//! prefix winning; a peer without a subnet takes what no subnet claims (the other end of a
//! two-ended tunnel). A packet from the network is accepted only from a peer's underlay
//! address, and only as a whole IPv4/IPv6 packet (see `packet`); everything else is
//! dropped and counted by reason, never a reason to stop.
//!
//! # Speed
//!
//! One thread per TUN queue (see [`tun`] for the flags) reads the queue and sends, and
//! receives and writes the TUN device, blocking only when both ran dry. With TUN offloads
//! the kernel hands over 64 KiB TCP super-packets; they are cut into segments in userspace
//! (`offload`), built back to back with their checksums taken in the same pass, and sent
//! as UDP GSO messages (the kernel makes the datagrams), several at once with `sendmmsg`,
//! or for ipip with one `sendmmsg` per batch of packets. Received datagrams come in batches
//! (`recvmmsg`, UDP GRO), consecutive TCP segments are merged back and written to the TUN
//! device as one GSO packet. Per 64 KiB a forwarder pair makes five copies the kernel's own
//! tunnels do not (TUN read, segmentation, socket send, socket receive, TUN write); with
//! the syscalls and wakeups around them, that is what bounds it.
//!
//! # Stats file
//!
//! With `stats` set, the counters are written there every second and on exit, atomically
//! (a temporary file renamed over it). [`read_stats`] reads it back. The shape (`version`
//! is bumped on an incompatible change):
//!
//! ```json
//! {
//!   "version": 1,
//!   "dev": "flannel.1",
//!   "encap": "udp",
//!   "pid": 4242,
//!   "running": true,
//!   "updated": 1767225600,
//!   "tx": { "packets": 1200, "bytes": 1690000 },
//!   "rx": { "packets": 1100, "bytes": 1550000 },
//!   "drops": {
//!     "not_a_peer": 0, "short": 0, "bad_version": 0, "bad_header": 0, "truncated": 0,
//!     "oversized": 0, "tun_write_error": 0, "no_route": 0, "unsupported": 0,
//!     "bad_packet": 0, "peer_unreachable": 0, "send_error": 0
//!   }
//! }
//! ```
//!
//! `tx` counts inner packets sent to peers, `rx` inner packets written to the TUN device,
//! both as segments (a super-packet counts as the segments it was cut into or merged
//! from) with their IP headers. `running` is false in the last write, made on exit;
//! `updated` is in seconds since the Unix epoch. [`Drops`] documents each reason.

pub(crate) mod checksum;
mod forwarder;
pub(crate) mod offload;
mod packet;
mod peers;
pub(crate) mod stats;
pub(crate) mod sys;
pub mod tun;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;

pub use forwarder::run;
pub use stats::{read_stats, Drops, Stats, Traffic, STATS_VERSION};

/// Flannel's udp backend port, the default for `kind = "udp"` tunnels.
pub const DEFAULT_UDP_PORT: u16 = 8285;

/// What one forwarder does: which TUN device, how packets are wrapped, from where to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwarderConfig {
    /// The TUN device, which must exist (made with [`tun::FLAGS`]).
    pub dev: String,
    pub encap: Encap,
    /// This end's underlay address: the source of what is sent, where it is received.
    pub local: IpAddr,
    /// udp: the port, here and at every peer. Not used by ipip, which has no ports.
    pub port: u16,
    pub peers: Vec<Peer>,
    /// Where to write the counters as JSON (every second and on exit).
    pub stats: Option<PathBuf>,
}

/// How inner packets travel between peers: in UDP datagrams (flannel's udp backend) or
/// behind an outer IPv4 header of protocol 4 (RFC 2003 IP in IP, IPv4 only). The one
/// definition of it: the plan's `forwarder_start` carries it (as `"udp"` or `"ipip"`), and
/// `netlab forward --encap` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    Udp,
    Ipip,
}

impl Encap {
    pub fn name(self) -> &'static str {
        match self {
            Encap::Udp => "udp",
            Encap::Ipip => "ipip",
        }
    }

    /// Bytes of outer headers per packet over an IPv4 or IPv6 (`over_ipv6`) underlay: the
    /// TUN device's mtu is the underlay's less this (an outer IPv6 header is 40 bytes, an
    /// IPv4 one 20; UDP adds 8; ipip runs over IPv4 only).
    pub fn overhead(self, over_ipv6: bool) -> u32 {
        let ip = if over_ipv6 { 40 } else { 20 };
        match self {
            Encap::Udp => ip + 8,
            Encap::Ipip => ip,
        }
    }
}

/// Another end of the tunnel. Also what the plan's `forwarder_start` carries, so the
/// `--peer` arguments `up` gives a forwarder are this type's Display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Peer {
    /// Its underlay address.
    pub underlay: IpAddr,
    /// The inner subnet behind it; `None`: everything no other peer's subnet holds.
    pub subnet: Option<IpNet>,
}

/// `UNDERLAY` or `UNDERLAY=SUBNET`, as `netlab forward --peer` takes it.
impl FromStr for Peer {
    type Err = String;

    fn from_str(s: &str) -> Result<Peer, String> {
        let (underlay, subnet) = match s.split_once('=') {
            Some((u, n)) => (u, Some(n)),
            None => (s, None),
        };
        let underlay =
            underlay.parse().map_err(|_| format!("`{underlay}` is not an IP address (expected UNDERLAY[=SUBNET])"))?;
        let subnet = subnet
            .map(|n| n.parse::<IpNet>().map_err(|_| format!("`{n}` is not a subnet like 10.244.2.0/24")))
            .transpose()?;
        Ok(Peer { underlay, subnet })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subnet {
            Some(net) => write!(f, "{}={net}", self.underlay),
            None => write!(f, "{}", self.underlay),
        }
    }
}

impl ForwarderConfig {
    /// Everything wrong with the configuration, as one message per problem; checked
    /// before anything is opened.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.peers.is_empty() {
            problems.push("a forwarder needs at least one peer".to_owned());
        }
        if self.encap == Encap::Udp && self.port == 0 {
            problems.push("the udp port cannot be 0".to_owned());
        }
        if self.encap == Encap::Ipip && !self.local.is_ipv4() {
            problems.push(format!("ipip runs over IPv4, but the local address {} is IPv6", self.local));
        }
        for (i, p) in self.peers.iter().enumerate() {
            if p.underlay.is_ipv4() != self.local.is_ipv4() {
                problems.push(format!(
                    "peer {p}: its underlay address is not of the local address's family ({})",
                    self.local
                ));
            }
            if p.underlay == self.local {
                problems.push(format!("peer {p}: its underlay address is the local address"));
            }
            if self.peers[..i].iter().any(|q| q.underlay == p.underlay) {
                problems.push(format!("peer {p}: underlay address {} given twice", p.underlay));
            }
            if let (Encap::Ipip, Some(IpNet::V6(_))) = (self.encap, p.subnet) {
                problems.push(format!("peer {p}: ipip carries IPv4 only"));
            }
        }
        if self.peers.iter().filter(|p| p.subnet.is_none()).count() > 1 {
            problems.push("at most one peer can go without a subnet (it takes every destination)".to_owned());
        }
        problems
    }

    /// The arguments of `netlab` that run this forwarder (`forward --dev ...`): how `up`
    /// starts it, and what a running forwarder's command line is compared with.
    pub fn args(&self) -> Vec<String> {
        let mut args =
            vec!["forward".into(), "--dev".into(), self.dev.clone(), "--encap".into(), self.encap.name().into()];
        args.extend(["--local".into(), self.local.to_string()]);
        if self.encap == Encap::Udp {
            args.extend(["--port".into(), self.port.to_string()]);
        }
        for peer in &self.peers {
            args.extend(["--peer".into(), peer.to_string()]);
        }
        if let Some(stats) = &self.stats {
            args.extend(["--stats".into(), stats.display().to_string()]);
        }
        args
    }

    /// [`problems`](Self::problems) as one error.
    pub fn validate(&self) -> io::Result<()> {
        match self.problems().as_slice() {
            [] => Ok(()),
            problems => Err(io::Error::new(io::ErrorKind::InvalidInput, problems.join("; "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config((encap, port): (Encap, u16), local: &str, peers: &[&str]) -> ForwarderConfig {
        ForwarderConfig {
            dev: "fl0".into(),
            encap,
            local: local.parse().unwrap(),
            port,
            peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
            stats: None,
        }
    }

    #[test]
    fn peers_parse_with_and_without_subnet() {
        assert_eq!(
            "192.168.1.3=10.244.2.0/24".parse::<Peer>(),
            Ok(Peer { underlay: "192.168.1.3".parse().unwrap(), subnet: Some("10.244.2.0/24".parse().unwrap()) })
        );
        assert_eq!("fd00::3".parse::<Peer>(), Ok(Peer { underlay: "fd00::3".parse().unwrap(), subnet: None }));
        assert!("192.168.1.3=10.244.2.0".parse::<Peer>().unwrap_err().contains("not a subnet"));
        assert!("node2".parse::<Peer>().unwrap_err().contains("not an IP address"));
        assert_eq!("192.168.1.3=10.244.2.0/24".parse::<Peer>().unwrap().to_string(), "192.168.1.3=10.244.2.0/24");
    }

    #[test]
    fn configurations_are_checked_before_anything_runs() {
        let udp = (Encap::Udp, DEFAULT_UDP_PORT);
        let ipip = (Encap::Ipip, 0);
        assert!(config(udp, "192.168.1.2", &["192.168.1.3"]).problems().is_empty());
        assert!(config(ipip, "192.168.1.2", &["192.168.1.3=10.0.2.0/24", "192.168.1.4=10.0.3.0/24"])
            .problems()
            .is_empty());
        let cases = [
            (config(udp, "192.168.1.2", &[]), "at least one peer"),
            (config((Encap::Udp, 0), "192.168.1.2", &["192.168.1.3"]), "port cannot be 0"),
            (config(ipip, "fd00::2", &["fd00::3"]), "ipip runs over IPv4"),
            (config(udp, "192.168.1.2", &["fd00::3"]), "family"),
            (config(udp, "192.168.1.2", &["192.168.1.2"]), "is the local address"),
            (config(udp, "192.168.1.2", &["192.168.1.3=10.0.0.0/8", "192.168.1.3=10.1.0.0/16"]), "given twice"),
            (config(udp, "192.168.1.2", &["192.168.1.3", "192.168.1.4"]), "at most one peer"),
            (config(ipip, "192.168.1.2", &["192.168.1.3=fd00::/64"]), "IPv4 only"),
        ];
        for (c, want) in cases {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{c:?}: {err}");
        }
    }
}
