//! Docker's `-p` syntax for `[nodes.X] ports`: parsing, expansion into one binding per
//! port, and the reasons a binding is refused, as data.
//!
//! `[host_ip:][host_port[-end]]:node_port[-end][/tcp|/udp|/sctp]`, plus the bare `"80"` and
//! `"9000-9002"` forms. A missing host port (`"80"`, `"192.168.249.131::80"`) is picked by
//! `up` (see [`super::hostports`]); a host range with one node port (`"8000-8010:80"`)
//! publishes on the first free port of the range, as Docker does. Errors are plain
//! sentences here; the topology resolver turns them into located errors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which host addresses a port is published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostAddr {
    /// No address given: every local address of both families (Docker's default).
    Any,
    /// `0.0.0.0`: every local IPv4 address.
    AnyV4,
    /// `[::]`: every local IPv6 address.
    AnyV6,
    /// One address of the host.
    Addr(IpAddr),
}

impl HostAddr {
    /// Whether packets of this family can match the binding.
    pub fn covers(self, v6: bool) -> bool {
        match self {
            HostAddr::Any => true,
            HostAddr::AnyV4 => !v6,
            HostAddr::AnyV6 => v6,
            HostAddr::Addr(a) => a.is_ipv6() == v6,
        }
    }

    /// Whether two bindings on the same port and protocol would catch the same packets.
    pub fn overlaps(self, other: HostAddr) -> bool {
        match (self, other) {
            (HostAddr::Addr(a), HostAddr::Addr(b)) => a == b,
            (HostAddr::Addr(a), any) | (any, HostAddr::Addr(a)) => any.covers(a.is_ipv6()),
            (a, b) => a.covers(false) && b.covers(false) || a.covers(true) && b.covers(true),
        }
    }
}

impl fmt::Display for HostAddr {
    /// As `docker port` prints it: `0.0.0.0` and `[::]` for the wildcards.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddr::Any => f.write_str("*"),
            HostAddr::AnyV4 => f.write_str("0.0.0.0"),
            HostAddr::AnyV6 => f.write_str("[::]"),
            HostAddr::Addr(IpAddr::V6(a)) => write!(f, "[{a}]"),
            HostAddr::Addr(IpAddr::V4(a)) => write!(f, "{a}"),
        }
    }
}

impl std::str::FromStr for HostAddr {
    type Err = String;

    /// What [`fmt::Display`] writes.
    fn from_str(s: &str) -> Result<HostAddr, String> {
        match s {
            "*" => Ok(HostAddr::Any),
            "0.0.0.0" => Ok(HostAddr::AnyV4),
            "[::]" => Ok(HostAddr::AnyV6),
            _ => {
                let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(s);
                bare.parse().map(HostAddr::Addr).map_err(|_| format!("`{s}` is not a host address"))
            }
        }
    }
}

/// In JSON (a plan's ports, a lab's record): as `docker port` writes it.
impl serde::Serialize for HostAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for HostAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of ports; a single port is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange { start: port, end: port }
    }

    pub fn count(self) -> u32 {
        u32::from(self.end - self.start) + 1
    }

    pub fn is_single(self) -> bool {
        self.start == self.end
    }

    pub fn contains(self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    pub fn iter(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// The host side of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPorts {
    /// Each node port gets a free port that `up` picks from the ephemeral range.
    Pick,
    /// One node port, published on the first free port of this range.
    PickFrom(PortRange),
    /// Port for port: same length as the node range.
    Exact(PortRange),
}

/// One entry of `ports`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host_addr: HostAddr,
    pub host_ports: HostPorts,
    pub node_ports: PortRange,
    pub proto: Proto,
}

/// One published port: the unit that gets a DNAT rule, a line in `netlab port`, and an
/// entry in the lab's record when its host port was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Binding {
    pub host_addr: HostAddr,
    /// `None` until `up` picks it.
    pub host_port: Option<u16>,
    /// The range to pick from when the host port is not fixed (`None`: the ephemeral range).
    pub pick_from: Option<PortRange>,
    pub node_port: u16,
    pub proto: Proto,
}

impl fmt::Display for Binding {
    /// `docker port`'s form: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}:", self.node_port, self.proto, self.host_addr)?;
        match self.host_port {
            Some(p) => write!(f, "{p}"),
            None => f.write_str("(picked at up)"),
        }
    }
}

impl PortSpec {
    /// One binding per node port (Docker expands ranges the same way).
    pub fn bindings(&self) -> Vec<Binding> {
        let mk = |node_port, host_port, pick_from| Binding {
            host_addr: self.host_addr,
            host_port,
            pick_from,
            node_port,
            proto: self.proto,
        };
        match self.host_ports {
            HostPorts::Pick => self.node_ports.iter().map(|p| mk(p, None, None)).collect(),
            HostPorts::PickFrom(range) => vec![mk(self.node_ports.start, None, Some(range))],
            HostPorts::Exact(range) => {
                range.iter().zip(self.node_ports.iter()).map(|(h, n)| mk(n, Some(h), None)).collect()
            }
        }
    }
}

/// Why an entry of `ports` cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a port mapping is `[host_ip:][host_port]:node_port[/tcp|/udp|/sctp]`, not an empty string")]
    Empty,
    #[error("`{0}` is not a protocol: use tcp, udp or sctp")]
    Proto(String),
    #[error("`{0}` is not a port: use a number from 1 to 65535")]
    Port(String),
    #[error("`{0}` is not a port range: use START-END with START <= END")]
    Range(String),
    #[error("`{0}` is not an IP address of the host")]
    Addr(String),
    #[error("an IPv6 host address goes in brackets: `[{0}]:HOST_PORT:NODE_PORT`")]
    Unbracketed(String),
    #[error("`{spec}` has too many `:`: the form is `[host_ip:][host_port]:node_port`")]
    TooManyParts { spec: String },
    #[error(
        "host ports {host} ({host_len}) and node ports {node} ({node_len}) differ in length: \
         give ranges of the same length, or one node port to publish on the first free port of the host range"
    )]
    Lengths { host: PortRange, host_len: u32, node: PortRange, node_len: u32 },
    #[error(
        "`{addr}:{port}` names an address and one port: write `{addr}::{port}` to let `up` pick the host port, \
         or `{addr}:HOST_PORT:{port}`"
    )]
    AddrWithoutHostPort { addr: String, port: String },
}

/// Parses one entry of `ports` (Docker's `-p`).
pub fn parse(spec: &str) -> Result<PortSpec, ParseError> {
    if spec.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((rest, p)) => (rest, parse_proto(p)?),
        None => (spec, Proto::Tcp),
    };
    let (host_addr, rest) = split_host_addr(rest)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (host, node) = match (host_addr, parts.as_slice()) {
        (None, [node]) => (None, *node),
        (None, [addr, port]) if addr.parse::<IpAddr>().is_ok() => {
            return Err(ParseError::AddrWithoutHostPort { addr: addr.to_string(), port: port.to_string() })
        }
        (Some(a), [port]) => {
            return Err(ParseError::AddrWithoutHostPort { addr: a.to_string(), port: port.to_string() })
        }
        (_, [host, node]) => (Some(*host), *node),
        _ => return Err(ParseError::TooManyParts { spec: spec.to_string() }),
    };
    let node_ports = parse_range(node)?;
    let host_ports = match host.filter(|h| !h.is_empty()) {
        None => HostPorts::Pick,
        Some(h) => {
            let host = parse_range(h)?;
            if host.count() == node_ports.count() {
                HostPorts::Exact(host)
            } else if node_ports.is_single() {
                HostPorts::PickFrom(host)
            } else {
                return Err(ParseError::Lengths {
                    host,
                    host_len: host.count(),
                    node: node_ports,
                    node_len: node_ports.count(),
                });
            }
        }
    };
    Ok(PortSpec { host_addr: host_addr.unwrap_or(HostAddr::Any), host_ports, node_ports, proto })
}

fn parse_proto(p: &str) -> Result<Proto, ParseError> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "sctp" => Ok(Proto::Sctp),
        _ => Err(ParseError::Proto(p.to_string())),
    }
}

/// Takes the host address off the front: `[v6]:...`, or the first of three `:` parts.
fn split_host_addr(s: &str) -> Result<(Option<HostAddr>, &str), ParseError> {
    if let Some(inner) = s.strip_prefix('[') {
        let (addr, rest) = inner.split_once(']').ok_or_else(|| ParseError::Addr(s.to_string()))?;
        let rest = rest.strip_prefix(':').ok_or_else(|| ParseError::TooManyParts { spec: s.to_string() })?;
        let a: Ipv6Addr = addr.parse().map_err(|_| ParseError::Addr(addr.to_string()))?;
        let host = if a.is_unspecified() { HostAddr::AnyV6 } else { HostAddr::Addr(IpAddr::V6(a)) };
        return Ok((Some(host), rest));
    }
    let colons = s.matches(':').count();
    if colons > 2 {
        // Either an IPv6 address without brackets or a typo; say which is likely.
        let addr = s.rsplitn(3, ':').nth(2).unwrap_or(s);
        return Err(if addr.parse::<Ipv6Addr>().is_ok() {
            ParseError::Unbracketed(addr.to_string())
        } else {
            ParseError::TooManyParts { spec: s.to_string() }
        });
    }
    if colons < 2 {
        return Ok((None, s));
    }
    let (addr, rest) = s.split_once(':').expect("two colons");
    let a: Ipv4Addr = addr.parse().map_err(|_| ParseError::Addr(addr.to_string()))?;
    let host = if a.is_unspecified() { HostAddr::AnyV4 } else { HostAddr::Addr(IpAddr::V4(a)) };
    Ok((Some(host), rest))
}

fn parse_port(s: &str) -> Result<u16, ParseError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && !s.starts_with('+') => Ok(p),
        _ => Err(ParseError::Port(s.to_string())),
    }
}

fn parse_range(s: &str) -> Result<PortRange, ParseError> {
    match s.split_once('-') {
        None => parse_port(s).map(PortRange::single),
        Some((a, b)) => {
            let (start, end) = (parse_port(a)?, parse_port(b)?);
            if start > end {
                return Err(ParseError::Range(s.to_string()));
            }
            Ok(PortRange { start, end })
        }
    }
}

/// Why a binding cannot be published, found with what the topology and the host say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "[::1] cannot be published: netlab publishes by DNAT, and IPv6 has no route_localnet \
         to let a packet to ::1 leave the host; publish on 127.0.0.1 or on another address"
    )]
    Ipv6Loopback,
    #[error("a host-mode node uses the host's own ports: there is nothing to publish (Docker ignores -p there)")]
    HostMode,
    #[error("a node with network = \"none\" has no address to publish a port on")]
    NoneMode,
    #[error("node `{node}` is not on a network with `nat = true`: only nat networks publish ports")]
    NotNat { node: String },
    #[error("{addr} is an IPv6 address, and network `{network}` has no IPv6 subnet")]
    NoV6Subnet { addr: HostAddr, network: String },
    #[error("{addr} is an IPv4 address, and network `{network}` has no IPv4 subnet")]
    NoV4Subnet { addr: HostAddr, network: String },
    #[error("{addr}:{port}/{proto} is already published by {by}")]
    Published { addr: HostAddr, port: u16, proto: Proto, by: String },
    #[error("{addr}:{port}/{proto} is already listened on by a program on the host{}", program.as_ref().map(|p| format!(" ({p})")).unwrap_or_default())]
    Listening { addr: HostAddr, port: u16, proto: Proto, program: Option<String> },
    #[error("no free host port in {range} for {node_port}/{proto}")]
    NoFreePort { range: PortRange, node_port: u16, proto: Proto },
    #[error("this kernel has no SCTP (CONFIG_IP_SCTP): {proto} ports cannot be published here")]
    NoSctp { proto: Proto },
}

/// The refusals that need nothing but the binding itself.
pub fn intrinsic_refusal(b: &Binding) -> Option<Refusal> {
    match b.host_addr {
        HostAddr::Addr(IpAddr::V6(a)) if a.is_loopback() => Some(Refusal::Ipv6Loopback),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortSpec {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        parse(s).expect_err(s).to_string()
    }

    #[test]
    fn host_and_node_port() {
        let s = p("8080:80");
        assert_eq!(s.host_addr, HostAddr::Any);
        assert_eq!(s.host_ports, HostPorts::Exact(PortRange::single(8080)));
        assert_eq!(s.node_ports, PortRange::single(80));
        assert_eq!(s.proto, Proto::Tcp);
    }

    #[test]
    fn address_and_protocol() {
        let s = p("127.0.0.1:5353:53/udp");
        assert_eq!(s.host_addr, HostAddr::Addr("127.0.0.1".parse().unwrap()));
        assert_eq!(s.proto, Proto::Udp);
        assert_eq!(p("1.2.3.4:1:2/SCTP").proto, Proto::Sctp);
    }

    #[test]
    fn node_port_alone_is_picked() {
        let s = p("80");
        assert_eq!((s.host_addr, s.host_ports), (HostAddr::Any, HostPorts::Pick));
        let b = s.bindings();
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].host_port, b[0].node_port), (None, 80));
        let s = p("192.168.249.131::80");
        assert_eq!(s.host_addr, HostAddr::Addr("192.168.249.131".parse().unwrap()));
        assert_eq!(s.host_ports, HostPorts::Pick);
    }

    #[test]
    fn ranges_expand_port_for_port() {
        let b = p("9000-9002:9100-9102").bindings();
        let pairs: Vec<_> = b.iter().map(|b| (b.host_port.unwrap(), b.node_port)).collect();
        assert_eq!(pairs, [(9000, 9100), (9001, 9101), (9002, 9102)]);
        assert_eq!(p("9000-9002").bindings().len(), 3);
    }

    #[test]
    fn host_range_with_one_node_port_picks_from_it() {
        let s = p("8000-8010:80");
        assert_eq!(s.host_ports, HostPorts::PickFrom(PortRange { start: 8000, end: 8010 }));
        let b = s.bindings();
        assert_eq!((b.len(), b[0].pick_from, b[0].host_port), (1, Some(PortRange { start: 8000, end: 8010 }), None));
    }

    #[test]
    fn ipv6_in_brackets() {
        let s = p("[2001:db8::1]:8443:443/tcp");
        assert_eq!(s.host_addr, HostAddr::Addr("2001:db8::1".parse().unwrap()));
        assert_eq!(s.host_ports, HostPorts::Exact(PortRange::single(8443)));
        assert_eq!(p("[::]:80:80").host_addr, HostAddr::AnyV6);
        assert_eq!(p("0.0.0.0:80:80").host_addr, HostAddr::AnyV4);
        assert_eq!(p("[2001:db8::1]::80").host_ports, HostPorts::Pick);
    }

    #[test]
    fn errors_say_what_would_be_right() {
        assert_eq!(err("8080:80/icmp"), "`icmp` is not a protocol: use tcp, udp or sctp");
        assert_eq!(err("0:80"), "`0` is not a port: use a number from 1 to 65535");
        assert_eq!(err("70000"), "`70000` is not a port: use a number from 1 to 65535");
        assert_eq!(err("abc:80"), "`abc` is not a port: use a number from 1 to 65535");
        assert_eq!(err("90-80:80"), "`90-80` is not a port range: use START-END with START <= END");
        assert_eq!(err("1.2.3:80:80"), "`1.2.3` is not an IP address of the host");
        assert_eq!(
            err("2001:db8::1:8443:443"),
            "an IPv6 host address goes in brackets: `[2001:db8::1]:HOST_PORT:NODE_PORT`"
        );
        assert!(err("9000-9002:80-81").contains("differ in length"), "{}", err("9000-9002:80-81"));
        assert!(err("").contains("not an empty string"));
        assert!(err("[::1]8080:80").contains("too many"), "{}", err("[::1]8080:80"));
        assert!(err("1.2.3.4:5:6:7").contains("too many"), "{}", err("1.2.3.4:5:6:7"));
        assert!(err("1.2.3.4:80").contains("1.2.3.4::80"), "{}", err("1.2.3.4:80"));
        assert!(err("[2001:db8::1]:80").contains("`[2001:db8::1]::80`"), "{}", err("[2001:db8::1]:80"));
    }

    #[test]
    fn ipv6_loopback_is_refused_with_the_reason() {
        let b = p("[::1]:8080:80").bindings()[0];
        let r = intrinsic_refusal(&b).unwrap();
        assert!(r.to_string().contains("route_localnet"), "{r}");
        assert_eq!(intrinsic_refusal(&p("127.0.0.1:8080:80").bindings()[0]), None);
    }

    #[test]
    fn overlapping_host_addresses() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(HostAddr::Any.overlaps(HostAddr::Addr(a)));
        assert!(HostAddr::AnyV4.overlaps(HostAddr::Addr(a)));
        assert!(!HostAddr::AnyV6.overlaps(HostAddr::Addr(a)));
        assert!(!HostAddr::AnyV4.overlaps(HostAddr::AnyV6));
        assert!(HostAddr::Any.overlaps(HostAddr::AnyV6));
        assert!(!HostAddr::Addr(a).overlaps(HostAddr::Addr(v6)));
    }

    #[test]
    fn host_addresses_read_back_what_they_write() {
        for a in ["*", "0.0.0.0", "[::]", "127.0.0.1", "[2001:db8::1]"] {
            let addr: HostAddr = a.parse().unwrap();
            assert_eq!(addr.to_string(), a);
            assert_eq!(serde_json::to_string(&addr).unwrap(), format!("\"{a}\""));
        }
        assert!("web".parse::<HostAddr>().is_err());
    }

    #[test]
    fn docker_port_form() {
        let mut b = p("8080:80").bindings()[0];
        assert_eq!(b.to_string(), "80/tcp -> *:8080");
        b.host_addr = HostAddr::AnyV4;
        assert_eq!(b.to_string(), "80/tcp -> 0.0.0.0:8080");
        let b = p("[2001:db8::1]:8443:443").bindings()[0];
        assert_eq!(b.to_string(), "443/tcp -> [2001:db8::1]:8443");
    }
}
