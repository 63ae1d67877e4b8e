//! Host ports: which are listened on in a namespace (/proc/net/{tcp,udp}{,6}), whether a
//! binding would take one over (publishing 22 must not take over SSH), and picking a free
//! one for `"80"` and `"ADDR::80"` as Docker does.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netns::NetnsPath;
use super::ports::{Binding, HostAddr, PortRange, Proto, Refusal};

/// A socket that receives on a port: a TCP listener or a bound UDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    /// The socket's inode, to find the program that holds it.
    pub inode: u64,
}

impl Listener {
    /// Whether a packet for `addr:port` of this protocol would reach this socket instead of
    /// being published. An IPv6 wildcard socket also takes IPv4 unless it is v6only,
    /// which /proc does not say: count it for both.
    pub fn takes(&self, proto: Proto, addr: HostAddr, port: u16) -> bool {
        if self.proto != proto || self.port != port {
            return false;
        }
        let wildcard = self.addr.is_unspecified();
        match addr {
            HostAddr::Any => true,
            HostAddr::AnyV4 => self.addr.is_ipv4() || wildcard,
            HostAddr::AnyV6 => self.addr.is_ipv6(),
            HostAddr::Addr(a) => self.addr == a || (wildcard && (self.addr.is_ipv6() || a.is_ipv4())),
        }
    }
}

/// The listeners of a namespace, read from /proc/thread-self/net on a thread inside it.
pub fn listeners(netns: &NetnsPath) -> io::Result<Vec<Listener>> {
    netns.run(|| {
        let mut out = Vec::new();
        for (file, proto, listen_state) in [
            ("tcp", Proto::Tcp, "0A"),
            ("tcp6", Proto::Tcp, "0A"),
            ("udp", Proto::Udp, "07"),
            ("udp6", Proto::Udp, "07"),
        ] {
            match std::fs::read_to_string(format!("/proc/thread-self/net/{file}")) {
                Ok(text) => out.extend(parse_proc_net(&text, proto, listen_state)),
                // A kernel without IPv6 has no tcp6/udp6.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
}

/// Parses /proc/net/{tcp,udp}{,6}: the sockets in `state` (0A: TCP LISTEN, 07: UDP bound).
pub fn parse_proc_net(text: &str, proto: Proto, state: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let local = f.nth(1)?;
            let st = f.nth(1)?;
            if st != state {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            // uid, timeout, then the inode.
            let inode = f.nth(5).and_then(|i| i.parse().ok()).unwrap_or(0);
            Some(Listener { proto, addr: parse_hex_addr(addr)?, port: u16::from_str_radix(port, 16).ok()?, inode })
        })
        .collect()
}

/// The kernel prints each 32-bit word of the address as a native-endian number.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(&hex[i * 8..i * 8 + 8])?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// The name of the program that holds the socket with this inode (its `comm`), found in
/// /proc/*/fd; `None` when it cannot be seen (another PID namespace, no privileges).
pub fn program_of(inode: u64) -> Option<String> {
    let target = format!("socket:[{inode}]");
    for proc in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                let comm = std::fs::read_to_string(proc.path().join("comm")).ok()?;
                return Some(comm.trim().to_string());
            }
        }
    }
    None
}

/// The namespace's ephemeral port range (net.ipv4.ip_local_port_range).
pub fn ephemeral_range(netns: &NetnsPath) -> io::Result<PortRange> {
    netns.run(|| {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
        let mut it = text.split_whitespace().map(str::parse::<u16>);
        match (it.next(), it.next()) {
            (Some(Ok(start)), Some(Ok(end))) if start <= end => Ok(PortRange { start, end }),
            _ => Err(io::Error::other(format!("cannot read ip_local_port_range: {text:?}"))),
        }
    })
}

/// A (host address, port, protocol) already published, and by whom (`lab web`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub addr: HostAddr,
    pub port: u16,
    pub proto: Proto,
    pub by: String,
}

impl Taken {
    /// Whether publishing `b` on `port` would collide with this one.
    fn takes(&self, b: &Binding, port: u16) -> bool {
        self.proto == b.proto && self.port == port && self.addr.overlaps(b.host_addr)
    }
}

/// Whether `port` is free for `b`: [`check`] without finding out who holds it (a walk
/// of every process's descriptors, which a pick would throw away for every busy port).
fn is_free(b: &Binding, port: u16, listeners: &[Listener], taken: &[Taken]) -> bool {
    !taken.iter().any(|t| t.takes(b, port)) && !listeners.iter().any(|l| l.takes(b.proto, b.host_addr, port))
}

/// Why a fixed host port cannot be published: another binding has it, or a program listens.
pub fn check(b: &Binding, port: u16, listeners: &[Listener], taken: &[Taken]) -> Option<Refusal> {
    if let Some(t) = taken.iter().find(|t| t.takes(b, port)) {
        return Some(Refusal::Published { addr: b.host_addr, port, proto: b.proto, by: t.by.clone() });
    }
    if let Some(l) = listeners.iter().find(|l| l.takes(b.proto, b.host_addr, port)) {
        let program = (l.inode != 0).then(|| program_of(l.inode)).flatten();
        return Some(Refusal::Listening { addr: b.host_addr, port, proto: b.proto, program });
    }
    None
}

/// Gives a binding without a host port the lowest free port of its range (its own
/// `PickFrom` range, else the ephemeral range). Lowest rather than random, so that a plan
/// is reproducible; `up` records the pick and keeps it across converges.
pub fn pick(b: &Binding, ephemeral: PortRange, listeners: &[Listener], taken: &[Taken]) -> Result<u16, Refusal> {
    let range = b.pick_from.unwrap_or(ephemeral);
    range.iter().find(|&p| is_free(b, p, listeners, taken)).ok_or(Refusal::NoFreePort {
        range,
        node_port: b.node_port,
        proto: b.proto,
    })
}

/// Whether the kernel has SCTP (CONFIG_IP_SCTP): can an SCTP socket be made?
pub fn sctp_available() -> bool {
    // SAFETY: plain syscalls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP);
        if fd < 0 {
            return false;
        }
        libc::close(fd);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::ports::parse;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1062 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1063 1 0 100 0 0 10 0
   2: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1064 1 0 100 0 0 10 0";
    const UDP6: &str = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000";

    #[test]
    fn proc_net_listeners() {
        let l = parse_proc_net(TCP, Proto::Tcp, "0A");
        assert_eq!(l.len(), 2, "an established socket is not a listener");
        assert_eq!(l[0], Listener { proto: Proto::Tcp, addr: "0.0.0.0".parse().unwrap(), port: 22, inode: 1062 });
        assert_eq!(l[1].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(l[1].port, 8080);
        let u = parse_proc_net(UDP6, Proto::Udp, "07");
        assert_eq!(u, [Listener { proto: Proto::Udp, addr: "::1".parse().unwrap(), port: 53, inode: 0 }]);
    }

    #[test]
    fn publishing_22_does_not_take_over_ssh() {
        let l = parse_proc_net(TCP, Proto::Tcp, "0A");
        let b = parse("22:22").unwrap().bindings()[0];
        let r = check(&b, 22, &l, &[]).unwrap();
        assert_eq!(r.to_string(), "*:22/tcp is already listened on by a program on the host");
        // 127.0.0.1:8080 is taken on 127.0.0.1 and for "any", not on another address.
        let any = parse("8080:80").unwrap().bindings()[0];
        assert!(check(&any, 8080, &l, &[]).is_some());
        let other = parse("10.1.1.1:8080:80").unwrap().bindings()[0];
        assert!(check(&other, 8080, &l, &[]).is_none());
        let udp = parse("22:22/udp").unwrap().bindings()[0];
        assert!(check(&udp, 22, &l, &[]).is_none(), "a TCP listener does not take a UDP port");
    }

    #[test]
    fn picks_the_lowest_free_port() {
        let l = parse_proc_net(TCP, Proto::Tcp, "0A");
        let b = parse("80").unwrap().bindings()[0];
        let eph = PortRange { start: 8079, end: 8085 };
        let taken = [Taken { addr: HostAddr::AnyV4, port: 8079, proto: Proto::Tcp, by: "lab other".into() }];
        assert_eq!(pick(&b, eph, &l, &taken), Ok(8081));
        let b = parse("8080-8080:80").unwrap().bindings()[0];
        assert_eq!(b.pick_from, None, "a range of one is a fixed port");
        let b = parse("8079-8080:80").unwrap().bindings()[0];
        let r = pick(&b, eph, &l, &taken).unwrap_err();
        assert_eq!(r.to_string(), "no free host port in 8079-8080 for 80/tcp");
        let r = check(&parse("8079:80").unwrap().bindings()[0], 8079, &[], &taken).unwrap();
        assert_eq!(r.to_string(), "*:8079/tcp is already published by lab other");
    }

    #[test]
    fn this_kernel_has_no_sctp() {
        // The development kernel lacks CONFIG_IP_SCTP; elsewhere the answer may differ,
        // so only check it agrees with /proc.
        assert_eq!(sctp_available(), std::path::Path::new("/proc/sys/net/sctp").exists());
    }
}
