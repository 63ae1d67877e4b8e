//! Address management for one bridge network, like CNI's `host-local`: the gateway and
//! static addresses are reserved first, then nodes get the next free address in file
//! order. Works on offsets from the network address so IPv4 and IPv6 share one path.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

pub struct Pool {
    net: IpNet,
    taken: HashSet<u128>,
    /// Offset of the next candidate for `next_free`.
    cursor: u128,
    /// One past the last usable offset.
    end: u128,
}

impl Pool {
    /// A pool over `net`, which must already be its own network address (`trunc()`).
    /// Fails for subnets with no room for a gateway and one node.
    pub fn new(net: IpNet) -> Result<Pool, String> {
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        if host_bits < 2 {
            return Err(format!("{net} is too small for a bridge network: it has no room for a gateway and a node"));
        }
        let size: u128 = if host_bits >= 128 { u128::MAX } else { 1u128 << host_bits };
        // IPv4 keeps its last address for broadcast; IPv6 has no broadcast.
        let end = if net.addr().is_ipv4() { size - 1 } else { size };
        Ok(Pool { net, taken: HashSet::new(), cursor: 1, end })
    }

    /// The first host address, the default gateway.
    pub fn first_host(&self) -> IpAddr {
        self.at(1)
    }

    /// Why `ip` cannot be handed out in this network, if it cannot.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if !self.net.contains(&ip) {
            return Err(format!("{ip} is outside the network's subnet {}", self.net));
        }
        let offset = self.offset(ip);
        if offset == 0 {
            return Err(format!("{ip} is the network address of {}", self.net));
        }
        if offset >= self.end {
            return Err(format!("{ip} is the broadcast address of {}", self.net));
        }
        Ok(())
    }

    /// Reserves `ip`; false if it was already taken.
    pub fn take(&mut self, ip: IpAddr) -> bool {
        self.taken.insert(self.offset(ip))
    }

    /// The lowest free address, now reserved; `None` when the subnet is full.
    pub fn next_free(&mut self) -> Option<IpAddr> {
        while self.cursor < self.end {
            let candidate = self.cursor;
            self.cursor += 1;
            if self.taken.insert(candidate) {
                return Some(self.at(candidate));
            }
        }
        None
    }

    fn offset(&self, ip: IpAddr) -> u128 {
        to_u128(ip) - to_u128(self.net.network())
    }

    fn at(&self, offset: u128) -> IpAddr {
        let n = to_u128(self.net.network()) + offset;
        match self.net {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hands_out_in_order_skipping_reserved() {
        let mut pool = Pool::new("192.168.2.0/29".parse().unwrap()).unwrap();
        assert_eq!(pool.first_host(), ip("192.168.2.1"));
        assert!(pool.take(ip("192.168.2.1")));
        assert!(pool.take(ip("192.168.2.3")));
        assert!(!pool.take(ip("192.168.2.3")));
        let got: Vec<_> = std::iter::from_fn(|| pool.next_free()).collect();
        assert_eq!(got, ["192.168.2.2", "192.168.2.4", "192.168.2.5", "192.168.2.6"].map(ip));
    }

    #[test]
    fn rejects_network_broadcast_and_outside() {
        let pool = Pool::new("10.0.0.0/24".parse().unwrap()).unwrap();
        assert!(pool.check(ip("10.0.0.0")).is_err());
        assert!(pool.check(ip("10.0.0.255")).is_err());
        assert!(pool.check(ip("10.0.1.1")).is_err());
        assert!(pool.check(ip("10.0.0.254")).is_ok());
        assert!(Pool::new("10.0.0.0/31".parse().unwrap()).is_err());
    }

    #[test]
    fn ipv6() {
        let mut pool = Pool::new("fd00::/64".parse().unwrap()).unwrap();
        assert_eq!(pool.next_free(), Some(ip("fd00::1")));
        assert!(pool.check(ip("fd00::ffff:ffff:ffff:ffff")).is_ok());
    }
}
