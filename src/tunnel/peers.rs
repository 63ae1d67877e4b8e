//! Which peer a packet goes to (by its inner destination) and whether a packet that
//! arrived comes from a peer at all (by its outer source).

use std::net::IpAddr;

use ipnet::IpNet;

use super::Peer;

/// The peers of one tunnel, ready for lookups.
#[derive(Debug, Clone)]
pub(crate) struct Peers {
    /// (subnet, peer index), longest prefix first, so the first match is the best one.
    routes: Vec<(IpNet, usize)>,
    /// The peer without a subnet, which takes whatever no subnet claims.
    default: Option<usize>,
    /// Underlay addresses, in peer order.
    underlays: Vec<IpAddr>,
}

impl Peers {
    /// Callers validate first: at most one peer without a subnet.
    pub(crate) fn new(peers: &[Peer]) -> Peers {
        let mut routes: Vec<(IpNet, usize)> =
            peers.iter().enumerate().filter_map(|(i, p)| p.subnet.map(|s| (s.trunc(), i))).collect();
        // Stable, so equal prefixes keep the order they were given in.
        routes.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        let default = peers.iter().position(|p| p.subnet.is_none());
        Peers { routes, default, underlays: peers.iter().map(|p| p.underlay).collect() }
    }

    /// The peer that owns `dst`: the longest subnet containing it, else the peer without
    /// a subnet, else none.
    #[inline]
    pub(crate) fn route(&self, dst: IpAddr) -> Option<usize> {
        self.routes.iter().find(|(net, _)| net.contains(&dst)).map(|&(_, i)| i).or(self.default)
    }

    /// The peer whose underlay address is `src`.
    #[inline]
    pub(crate) fn by_underlay(&self, src: IpAddr) -> Option<usize> {
        self.underlays.iter().position(|&u| u == src)
    }

    pub(crate) fn underlay(&self, peer: usize) -> IpAddr {
        self.underlays[peer]
    }

    pub(crate) fn len(&self) -> usize {
        self.underlays.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> Peer {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_longest_prefix_wins_whatever_the_order() {
        let peers = Peers::new(&[
            peer("192.168.1.2=10.244.0.0/16"),
            peer("192.168.1.3=10.244.2.0/24"),
            peer("192.168.1.4=10.244.2.128/25"),
            peer("192.168.1.5=fd00::/64"),
        ]);
        assert_eq!(peers.route(ip("10.244.2.200")), Some(2));
        assert_eq!(peers.route(ip("10.244.2.5")), Some(1));
        assert_eq!(peers.route(ip("10.244.9.9")), Some(0));
        assert_eq!(peers.route(ip("fd00::9")), Some(3));
        assert_eq!(peers.route(ip("10.245.0.1")), None, "no subnet claims it and there is no default");
        assert_eq!(peers.route(ip("fd01::1")), None);
        let reversed = Peers::new(&[
            peer("192.168.1.4=10.244.2.128/25"),
            peer("192.168.1.3=10.244.2.0/24"),
            peer("192.168.1.2=10.244.0.0/16"),
        ]);
        assert_eq!(reversed.route(ip("10.244.2.200")), Some(0));
        assert_eq!(reversed.route(ip("10.244.2.5")), Some(1));
    }

    #[test]
    fn a_peer_without_subnet_takes_what_no_subnet_claims() {
        let two_ended = Peers::new(&[peer("192.168.1.3")]);
        assert_eq!(two_ended.route(ip("10.0.0.1")), Some(0));
        assert_eq!(two_ended.route(ip("fd00::1")), Some(0));
        let mixed = Peers::new(&[peer("192.168.1.9"), peer("192.168.1.3=10.244.2.0/24")]);
        assert_eq!(mixed.route(ip("10.244.2.1")), Some(1));
        assert_eq!(mixed.route(ip("8.8.8.8")), Some(0));
    }

    #[test]
    fn host_bits_in_a_subnet_do_not_matter() {
        let peers = Peers::new(&[peer("192.168.1.3=10.244.2.7/24")]);
        assert_eq!(peers.route(ip("10.244.2.200")), Some(0));
    }

    #[test]
    fn sources_are_checked_against_underlay_addresses() {
        let peers = Peers::new(&[peer("192.168.1.3=10.244.2.0/24"), peer("192.168.1.4=10.244.3.0/24")]);
        assert_eq!(peers.by_underlay(ip("192.168.1.4")), Some(1));
        assert_eq!(peers.by_underlay(ip("192.168.1.9")), None);
        assert_eq!(peers.by_underlay(ip("10.244.2.1")), None, "an inner address is not a peer");
        assert_eq!(peers.underlay(0), ip("192.168.1.3"));
        assert_eq!(peers.len(), 2);
    }
}
