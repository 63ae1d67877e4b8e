//! The userspace tunnel forwarder (`netlab forward`), live: namespaces joined by a veth
//! underlay (or a bridge, for three), a persistent TUN device in each made by netlab's own
//! `tun::create_persistent`, a forwarder in each, then real traffic, what the wire shows
//! (tcpdump), garbage aimed at a forwarder, and a peer that is down.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{skip_unless_root, Throwaway, NETLAB};
use netlab::tunnel::{read_stats, tun, Stats};

const PORT: u16 = 8285;

/// Runs `f` on a thread inside network namespace `ns` of the throwaway host.
fn in_netns<T: Send>(host: &Throwaway, ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = netns_path(host, ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(&path);
            f()
        })
        .join()
        .expect("thread in netns")
    })
}

/// The file of network namespace `ns` of the throwaway host, as this process sees it.
fn netns_path(host: &Throwaway, ns: &str) -> String {
    format!("/proc/{}/root/run/netns/{ns}", host.init_pid())
}

/// Moves the calling thread into the network namespace at `path`.
fn enter_netns(path: &str) {
    let fd = File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

fn underlay(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, 1 + node as u8)
}

/// The inner address of a node (on its TUN device); node i owns 10.244.i.0/24.
fn inner(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, node as u8, 1)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encap {
    Udp,
    Ipip,
}

/// Nodes n1..nN on an underlay 192.168.1.0/24 (a veth pair for two, a bridge in the host
/// for more), each with TUN device fl0 carrying 10.244.i.1 and a route to 10.244.0.0/16.
struct Lab {
    host: Throwaway,
    encap: Encap,
    dir: PathBuf,
    forwarders: Vec<Option<Child>>,
}

impl Lab {
    fn new(test: &str, nodes: usize, encap: Encap) -> Lab {
        let host = Throwaway::new();
        let dir = std::env::temp_dir().join(format!("netlab-tunnel-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut script = String::new();
        for i in 1..=nodes {
            script += &format!("ip netns add n{i} && ip -n n{i} link set lo up && ");
        }
        if nodes == 2 {
            script += "ip link add u0 netns n1 type veth peer name u0 netns n2 && ";
        } else {
            script += "ip link add br0 type bridge && ip link set br0 up && ";
            for i in 1..=nodes {
                script += &format!(
                    "ip link add u0 netns n{i} type veth peer name p{i} && ip link set p{i} master br0 up && "
                );
            }
        }
        for i in 1..=nodes {
            script += &format!("ip -n n{i} addr add {}/24 dev u0 && ip -n n{i} link set u0 up && ", underlay(i));
        }
        host.sh_ok(&format!("{script}true"));
        let mtu = if encap == Encap::Udp { 1472 } else { 1480 };
        for i in 1..=nodes {
            in_netns(&host, &format!("n{i}"), || tun::create_persistent("fl0")).expect("create the TUN device");
            // No IPv6 on the tunnel (router solicitations, MLD): the counters then show
            // only what a test sends.
            host.sh_ok(&format!(
                "ip netns exec n{i} sysctl -qw net.ipv6.conf.fl0.disable_ipv6=1 && ip -n n{i} link set fl0 mtu {mtu} up && ip -n n{i} addr add {}/32 dev fl0 \
                 && ip -n n{i} route add 10.244.0.0/16 dev fl0",
                inner(i)
            ));
        }
        Lab { host, encap, dir, forwarders: (0..=nodes).map(|_| None).collect() }
    }

    fn stats_path(&self, node: usize) -> PathBuf {
        self.dir.join(format!("n{node}.json"))
    }

    /// Starts node's forwarder with the given peers ("UNDERLAY[=SUBNET]") and waits for
    /// its first stats write.
    fn start(&mut self, node: usize, peers: &[String]) {
        self.start_from(node, &underlay(node).to_string(), peers);
    }

    /// [`Lab::start`] with another local underlay address than the node's IPv4 one.
    fn start_from(&mut self, node: usize, local: &str, peers: &[String]) {
        let mut cmd = self.host.command("ip");
        cmd.args(["netns", "exec", &format!("n{node}"), NETLAB, "forward", "--dev", "fl0", "--encap"]);
        cmd.arg(if self.encap == Encap::Udp { "udp" } else { "ipip" });
        cmd.args(["--local", local]);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let path = self.stats_path(node);
        cmd.arg("--stats").arg(&path).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("start netlab forward");
        self.forwarders[node] = Some(child);
        wait_for(&format!("forwarder of n{node} to start"), || read_stats(&path).is_ok());
    }

    /// Every other node as a peer owning its subnet.
    fn start_mesh(&mut self, node: usize, nodes: usize) {
        let peers: Vec<String> =
            (1..=nodes).filter(|&j| j != node).map(|j| format!("{}=10.244.{j}.0/24", underlay(j))).collect();
        self.start(node, &peers);
    }

    fn stats(&self, node: usize) -> Stats {
        read_stats(&self.stats_path(node)).expect("stats file")
    }

    /// Waits until node's stats satisfy `ok` (the file is rewritten every second).
    fn wait_stats(&self, node: usize, what: &str, ok: impl Fn(&Stats) -> bool) -> Stats {
        wait_for(what, || ok(&self.stats(node)));
        self.stats(node)
    }

    fn ping(&self, from: usize, to: Ipv4Addr) -> bool {
        self.host.sh(&format!("ip netns exec n{from} ping -c 2 -i 0.2 -W 2 {to}")).status.success()
    }

    fn running(&mut self, node: usize) -> bool {
        matches!(self.forwarders[node].as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Stops node's forwarder with SIGTERM (by the PID in its stats file: its PID inside
    /// the throwaway) and returns its exit status and last stats.
    fn stop(&mut self, node: usize) -> (std::process::ExitStatus, Stats, String) {
        let pid = self.stats(node).pid;
        self.host.sh_ok(&format!("kill -TERM {pid}"));
        let mut child = self.forwarders[node].take().expect("a running forwarder");
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (status, self.stats(node), stderr)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The throwaway host takes the forwarders with it; the stats files are ours.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// tcpdump on a node's underlay device, writing pcap to its stdout, which a thread reads
/// as it comes: unread, the pipe fills after a few large frames, tcpdump blocks, and the
/// kernel drops what follows (809 of 849 frames of a TCP transfer, once).
struct Capture {
    child: Child,
    pcap: std::thread::JoinHandle<Vec<u8>>,
}

impl Capture {
    fn start(host: &Throwaway, node: usize, filter: &str, count: usize) -> Capture {
        let mut child = host
            .command("ip")
            .args(["netns", "exec", &format!("n{node}"), "timeout", "10", "tcpdump", "-i", "u0", "-n", "-U"])
            .args(["-c", &count.to_string(), "-w", "-", filter])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tcpdump (apt install tcpdump)");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.contains("listening on u0"), "tcpdump did not start: {line}");
        let mut stdout = child.stdout.take().unwrap();
        let pcap = std::thread::spawn(move || {
            let mut pcap = Vec::new();
            stdout.read_to_end(&mut pcap).unwrap();
            pcap
        });
        Capture { child, pcap }
    }

    /// The captured frames, once tcpdump has its count (or its timeout).
    fn frames(mut self) -> Vec<Vec<u8>> {
        let pcap = self.pcap.join().expect("read tcpdump's output");
        self.child.wait().unwrap();
        parse_pcap(&pcap)
    }
}

/// Frames of a pcap file (microsecond or nanosecond, either byte order).
fn parse_pcap(data: &[u8]) -> Vec<Vec<u8>> {
    assert!(data.len() >= 24, "no pcap header");
    let le = match data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not pcap"),
    };
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(&data[20..24]), 1, "link type Ethernet");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32_at(&data[at + 8..at + 12]) as usize;
        at += 16;
        frames.push(data[at..(at + len).min(data.len())].to_vec());
        at += len;
    }
    frames
}

/// The IPv4 packet in an Ethernet frame.
fn ipv4(frame: &[u8]) -> Option<&[u8]> {
    (frame.len() > 34 && frame[12..14] == [0x08, 0x00]).then(|| &frame[14..])
}

fn addrs(ip: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]), Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]))
}

/// A TCP transfer through the tunnel: iperf3 moves `megabytes` from n1 to n2; true if all
/// arrived. It exercises the offload paths: super-packets cut into segments, merged back.
fn tcp_transfer(lab: &Lab, megabytes: usize) -> bool {
    lab.host.sh_ok("ip netns exec n2 iperf3 -s -1 -D");
    std::thread::sleep(Duration::from_millis(300));
    let out = lab.host.sh(&format!("ip netns exec n1 timeout 30 iperf3 -c {} -n {megabytes}M", inner(2)));
    out.status.success()
}

#[test]
fn udp_tunnel_carries_traffic_as_udp_between_the_underlay_addresses() {
    if skip_unless_root("udp tunnel") {
        return;
    }
    let mut lab = Lab::new("udp", 2, Encap::Udp);
    // Two-ended: each end's one peer takes everything.
    lab.start(1, &[underlay(2).to_string()]);
    lab.start(2, &[underlay(1).to_string()]);

    let capture = Capture::start(&lab.host, 1, &format!("udp port {PORT}"), 4);
    assert!(lab.ping(1, inner(2)), "ping across the udp tunnel");
    let frames = capture.frames();
    assert_eq!(frames.len(), 4, "two echo requests and two replies on the underlay");
    for frame in &frames {
        let ip = ipv4(frame).expect("IPv4 on the underlay");
        assert_eq!(ip[9], 17, "UDP");
        let (src, dst) = addrs(ip);
        assert!((src, dst) == (underlay(1), underlay(2)) || (src, dst) == (underlay(2), underlay(1)), "{src} -> {dst}");
        let udp = &ip[20..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), PORT, "source port");
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), PORT, "destination port");
        // The payload is the inner packet itself: ICMP between the inner addresses.
        let payload = &udp[8..];
        assert_eq!(payload[0], 0x45, "an IPv4 packet as the whole payload");
        assert_eq!(payload[9], 1, "ICMP inside");
        let (isrc, idst) = addrs(payload);
        let inner_pair = if src == underlay(1) { (inner(1), inner(2)) } else { (inner(2), inner(1)) };
        assert_eq!((isrc, idst), inner_pair);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, 8 + payload.len(), "UDP length");
    }

    // TCP through the tunnel: the TUN device hands over 64 KiB super-packets, the forwarder
    // cuts them into segments that each fit the underlay and carry a valid checksum (a
    // flannel peer writes them to its TUN device as they are).
    let capture = Capture::start(&lab.host, 1, &format!("udp dst port {PORT} and greater 1000"), 20);
    assert!(tcp_transfer(&lab, 50), "50 MB of TCP through the udp tunnel");
    let frames = capture.frames();
    assert_eq!(frames.len(), 20);
    // A veth shows a UDP GSO send as one frame: the datagrams' payloads back to back, to be
    // cut where each inner packet ends (a physical NIC would show them one by one).
    let mut segments = 0;
    for frame in &frames {
        let ip = ipv4(frame).unwrap();
        let mut rest = &ip[28..];
        while !rest.is_empty() {
            assert_eq!((rest[0], rest[9]), (0x45, 6), "IPv4 TCP inside");
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            assert!(len + 28 <= 1500, "each datagram fits the underlay: {len}");
            let (segment, next) = rest.split_at(len);
            assert_eq!(checksum(&segment[..20]), 0, "inner IPv4 header checksum");
            let tcp = &segment[20..];
            let mut pseudo = segment[12..20].to_vec();
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
            pseudo.extend_from_slice(tcp);
            assert_eq!(checksum(&pseudo), 0, "inner TCP checksum");
            segments += 1;
            rest = next;
        }
    }
    assert!(segments > 100, "super-packets were cut into segments: {segments} in {} sends", frames.len());
    let s1 = lab.wait_stats(1, "n1 stats", |s| s.tx.bytes >= 50_000_000);
    let s2 = lab.wait_stats(2, "n2 stats", |s| s.rx.bytes >= 50_000_000);
    assert!(s1.tx.packets >= 50_000_000 / 1500, "counted as segments: {:?}", s1.tx);
    assert_eq!(s1.drops.total() - s1.drops.no_route, 0, "{:?}", s1.drops);
    assert_eq!(s2.drops.total() - s2.drops.no_route, 0, "{:?}", s2.drops);

    for node in [1, 2] {
        let (status, stats, stderr) = lab.stop(node);
        assert!(status.success(), "SIGTERM ends the forwarder with 0: {status}\n{stderr}");
        assert!(!stats.running, "the last write says so");
        assert_eq!((stats.dev.as_str(), stats.encap.as_str()), ("fl0", "udp"));
    }
    // The TUN device stays for the next forwarder.
    lab.host.sh_ok("ip -n n1 link show fl0");
}

#[test]
fn userspace_ipip_carries_traffic_as_protocol_4_between_the_underlay_addresses() {
    if skip_unless_root("ipip tunnel") {
        return;
    }
    let mut lab = Lab::new("ipip", 2, Encap::Ipip);
    lab.start(1, &[format!("{}=10.244.2.0/24", underlay(2))]);
    lab.start(2, &[format!("{}=10.244.1.0/24", underlay(1))]);

    let capture = Capture::start(&lab.host, 1, "ip proto 4", 4);
    assert!(lab.ping(1, inner(2)), "ping across userspace ipip");
    let frames = capture.frames();
    assert_eq!(frames.len(), 4);
    for frame in &frames {
        let ip = ipv4(frame).expect("IPv4 on the underlay");
        // RFC 2003: an outer IPv4 header, protocol 4, then the inner packet whole.
        assert_eq!(ip[0], 0x45);
        assert_eq!(ip[9], 4, "protocol 4 (IP in IP)");
        let (src, dst) = addrs(ip);
        assert!((src, dst) == (underlay(1), underlay(2)) || (src, dst) == (underlay(2), underlay(1)), "{src} -> {dst}");
        let inner_packet = &ip[20..];
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, 20 + inner_packet.len());
        assert_eq!(inner_packet[0], 0x45);
        assert_eq!(inner_packet[9], 1, "ICMP inside");
        let (isrc, idst) = addrs(inner_packet);
        let inner_pair = if src == underlay(1) { (inner(1), inner(2)) } else { (inner(2), inner(1)) };
        assert_eq!((isrc, idst), inner_pair);
    }

    assert!(tcp_transfer(&lab, 20), "20 MB of TCP through userspace ipip");

    // What ipip cannot carry, and ipip garbage: counted, nothing else happens.
    lab.host.sh_ok(
        "ip netns exec n1 sysctl -qw net.ipv6.conf.fl0.disable_ipv6=0 && ip -n n1 -6 addr add fd00::1/64 dev fl0 nodad",
    );
    let _ = lab.host.sh("ip netns exec n1 ping -6 -c 1 -W 1 fd00::2");
    lab.host.sh_ok("ip -n n2 addr add 192.168.1.9/24 dev u0");
    in_netns(&lab.host, "n2", || {
        let raw = raw_ipip_socket(underlay(2));
        let good = icmp_echo(inner(2), inner(1));
        send_raw(&raw, &[0x45, 0, 0]); // shorter than an inner header
        send_raw(&raw, &good[..good.len() - 4]); // inner length says more than arrived
        let mut v6 = good.clone();
        v6[0] = 0x60;
        send_raw(&raw, &v6);
        let from_stranger = raw_ipip_socket(Ipv4Addr::new(192, 168, 1, 9));
        send_raw(&from_stranger, &good);
    });
    let s = lab.wait_stats(1, "ipip drops", |s| s.drops.not_a_peer >= 1 && s.drops.unsupported >= 1);
    assert_eq!(
        (s.drops.short, s.drops.truncated, s.drops.bad_version, s.drops.not_a_peer),
        (1, 1, 1, 1),
        "{:?}",
        s.drops
    );
    assert!(lab.ping(1, inner(2)), "still forwarding");
    assert!(lab.running(1));
}

/// Byte `i` of the stream `bytes_arrive_exactly_as_sent` sends: a pseudo-random sequence
/// whose period (a prime) no segment size divides, so bytes moved within or between
/// segments show.
fn stream(data: &[u8], i: usize) -> u8 {
    data[i % data.len()]
}

/// Sends `megabytes` over TCP from n1 to n2's inner address both ways at once and checks
/// every byte that arrived; iperf3 only counts them, and merged packets are written with
/// their checksum left to the kernel, so nothing else would notice a byte out of place.
fn bytes_arrive_exactly_as_sent(lab: &Lab, megabytes: usize) {
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let data: std::sync::Arc<Vec<u8>> = std::sync::Arc::new(
        (0..1_000_003)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 32) as u8
            })
            .collect(),
    );
    let total = megabytes << 20;
    let mut transfers = Vec::new();
    for (server, client) in [(2usize, 1usize), (1, 2)] {
        let addr = SocketAddr::from((inner(server), 5301));
        let listener = in_netns(&lab.host, &format!("n{server}"), || TcpListener::bind(addr).expect("listen"));
        let expected = data.clone();
        let receiver = std::thread::spawn(move || -> Result<usize, String> {
            let (mut conn, _) = listener.accept().map_err(|e| e.to_string())?;
            conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut at = 0;
            loop {
                let n = conn.read(&mut buf).map_err(|e| format!("receive after byte {at}: {e}"))?;
                if n == 0 {
                    return Ok(at);
                }
                if let Some(j) = (0..n).find(|&j| buf[j] != stream(&expected, at + j)) {
                    return Err(format!("byte {} differs", at + j));
                }
                at += n;
            }
        });
        let sent = data.clone();
        let ns = netns_path(&lab.host, &format!("n{client}"));
        let sender = std::thread::spawn(move || -> Result<(), String> {
            enter_netns(&ns);
            let mut conn =
                TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect: {e}"))?;
            conn.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut chunk = vec![0u8; 100_000];
            let mut at = 0;
            while at < total {
                let n = chunk.len().min(total - at);
                for (j, b) in chunk[..n].iter_mut().enumerate() {
                    *b = stream(&sent, at + j);
                }
                conn.write_all(&chunk[..n]).map_err(|e| format!("send after byte {at}: {e}"))?;
                at += n;
            }
            Ok(())
        });
        transfers.push((format!("n{client} -> n{server}"), sender, receiver));
    }
    // Each sender first: the receiver of one that never connected would wait forever.
    for (what, sender, receiver) in transfers {
        assert_eq!(sender.join().expect("sender thread"), Ok(()), "{what}");
        assert_eq!(receiver.join().expect("receiver thread"), Ok(total), "{what}");
    }
}

#[test]
fn tcp_through_udp_and_ipip_arrives_byte_for_byte() {
    if skip_unless_root("byte for byte") {
        return;
    }
    for encap in [Encap::Udp, Encap::Ipip] {
        let mut lab = Lab::new(if encap == Encap::Udp { "bytes-udp" } else { "bytes-ipip" }, 2, encap);
        lab.start(1, &[underlay(2).to_string()]);
        lab.start(2, &[underlay(1).to_string()]);
        bytes_arrive_exactly_as_sent(&lab, 32);
        let (status, stats, stderr) = lab.stop(1);
        assert!(status.success(), "{stderr}");
        assert_eq!(stats.drops.total(), 0, "{:?}", stats.drops);
    }
}

#[test]
fn udp_over_an_ipv6_underlay_carries_ipv4_and_ipv6() {
    if skip_unless_root("udp over IPv6") {
        return;
    }
    let mut lab = Lab::new("udp6", 2, Encap::Udp);
    lab.host.sh_ok(
        "ip -n n1 addr add fd01::1/64 dev u0 nodad && ip -n n2 addr add fd01::2/64 dev u0 nodad \
         && for n in n1 n2; do ip netns exec $n sysctl -qw net.ipv6.conf.fl0.disable_ipv6=0; done \
         && ip -n n1 addr add fd44::1/128 dev fl0 nodad && ip -n n1 route add fd44::/64 dev fl0 \
         && ip -n n2 addr add fd44::2/128 dev fl0 nodad && ip -n n2 route add fd44::/64 dev fl0",
    );
    lab.start_from(1, "fd01::1", &["fd01::2".into()]);
    lab.start_from(2, "fd01::2", &["fd01::1".into()]);
    let capture = Capture::start(&lab.host, 1, &format!("ip6 and udp port {PORT}"), 2);
    assert!(lab.ping(1, inner(2)), "IPv4 inside IPv6");
    assert_eq!(capture.frames().len(), 2, "an echo and its reply, as UDP over IPv6");
    assert!(lab.host.sh("ip netns exec n1 ping -6 -c 2 -i 0.2 -W 2 fd44::2").status.success(), "IPv6 inside IPv6");
    assert!(tcp_transfer(&lab, 20), "TCP through it");
    let (status, stats, _) = lab.stop(1);
    assert!(status.success());
    // IPv6 on the TUN devices sends router solicitations of its own, which may have
    // reached n2 before its forwarder ran (port unreachable); nothing else was dropped.
    assert_eq!(stats.drops.total() - stats.drops.peer_unreachable, 0, "{:?}", stats.drops);
}

#[test]
fn three_node_udp_mesh_each_node_owning_a_subnet() {
    if skip_unless_root("udp mesh") {
        return;
    }
    let mut lab = Lab::new("mesh", 3, Encap::Udp);
    for node in 1..=3 {
        lab.start_mesh(node, 3);
    }
    for from in 1..=3 {
        for to in 1..=3 {
            if from != to {
                assert!(lab.ping(from, inner(to)), "n{from} -> n{to}");
            }
        }
    }
    // Each node sent to each of its two peers: the other two saw its traffic.
    for node in 1..=3 {
        let s = lab.wait_stats(node, "mesh stats", |s| s.rx.packets >= 8);
        assert!(s.tx.packets >= 8, "n{node}: {:?}", s.tx);
    }
    // A destination no peer owns is dropped as such.
    assert!(!lab.ping(1, Ipv4Addr::new(10, 244, 9, 1)));
    lab.wait_stats(1, "no_route", |s| s.drops.no_route >= 2);
}

#[test]
fn garbage_at_a_forwarder_is_counted_and_traffic_still_flows() {
    if skip_unless_root("udp garbage") {
        return;
    }
    let mut lab = Lab::new("garbage", 2, Encap::Udp);
    lab.start_mesh(1, 2);
    lab.start_mesh(2, 2);
    assert!(lab.ping(1, inner(2)));
    let before = lab.stats(1).drops;
    assert_eq!(before.total() - before.no_route, 0);

    lab.host.sh_ok("ip -n n2 addr add 192.168.1.9/24 dev u0");
    let to = (underlay(1), PORT);
    in_netns(&lab.host, "n2", || {
        // From the peer's address (any port is the peer's), every kind of malformed packet.
        let peer = UdpSocket::bind((underlay(2), 0)).unwrap();
        let good = icmp_echo(inner(2), inner(1));
        peer.send_to(&[], to).unwrap(); // empty
        peer.send_to(&[0x45; 10], to).unwrap(); // short
        let mut random = [0u8; 200];
        for (i, b) in random.iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(2654435761).to_be_bytes()[0] | 0x10;
        }
        random[0] = 0x12; // version 1
        peer.send_to(&random, to).unwrap(); // bad version
        let mut bad = good.clone();
        bad[8] ^= 0xff; // TTL changed, header checksum not
        peer.send_to(&bad, to).unwrap(); // bad header
        peer.send_to(&good[..good.len() - 10], to).unwrap(); // truncated
        let mut v6 = vec![0x60u8; 39];
        v6[1] = 0;
        peer.send_to(&v6, to).unwrap(); // short IPv6
                                        // A well-formed packet, but not from a peer.
        let stranger = UdpSocket::bind((Ipv4Addr::new(192, 168, 1, 9), 0)).unwrap();
        stranger.send_to(&good, to).unwrap();
        stranger.send_to(&random, to).unwrap();
    });
    let s = lab.wait_stats(1, "garbage counted", |s| s.drops.not_a_peer >= 2 && s.drops.truncated >= 1);
    let d = s.drops;
    assert_eq!(
        (d.short, d.bad_version, d.bad_header, d.truncated, d.not_a_peer),
        (3, 1, 1, 1, 2),
        "empty, short and short IPv6; version 1; checksum; cut; two from a stranger: {d:?}"
    );
    assert!(lab.running(1), "the forwarder is still up");
    assert!(lab.ping(1, inner(2)), "and still forwarding");
    assert!(lab.ping(2, inner(1)));
    let (status, _, _) = lab.stop(1);
    assert!(status.success());
}

#[test]
fn a_peer_that_is_down_does_not_stop_the_forwarder() {
    if skip_unless_root("peer down") {
        return;
    }
    // n3 has its underlay address but runs no forwarder: what n1 sends it comes back as
    // ICMP port unreachable.
    let mut lab = Lab::new("down", 3, Encap::Udp);
    lab.start_mesh(1, 3);
    lab.start_mesh(2, 3);
    for _ in 0..3 {
        assert!(!lab.ping(1, inner(3)), "n3 is down");
    }
    let s = lab.wait_stats(1, "peer_unreachable", |s| s.drops.peer_unreachable >= 1);
    assert!(s.tx.packets >= 1, "{s:?}");
    assert!(lab.running(1), "the forwarder is still up");
    assert!(lab.ping(1, inner(2)), "the peer that is up is still reached");
    // The peer comes up: traffic to it flows without a restart.
    lab.start_mesh(3, 3);
    assert!(lab.ping(1, inner(3)), "n3 is up now");
    let (status, _, _) = lab.stop(1);
    assert!(status.success());
}

#[test]
fn tun_devices_are_made_with_the_forwarders_flags() {
    if skip_unless_root("tun flags") {
        return;
    }
    let host = Throwaway::new();
    host.sh_ok("ip netns add t && ip -n t link set lo up && ip -n t link add u0 type veth peer name u1 && ip -n t addr add 192.168.1.2/24 dev u0 && ip -n t link set u0 up");
    in_netns(&host, "t", || tun::create_persistent("fl0")).unwrap();
    let details = host.sh_ok("ip -n t -d link show fl0");
    for flag in ["tun type tun", "pi off", "vnet_hdr on", "multi_queue numqueues 0", "persist on"] {
        assert!(details.contains(flag), "{flag} in {details}");
    }
    // `ip tuntap ... multi_queue vnet_hdr` makes the same device.
    host.sh_ok("ip -n t tuntap add dev fl1 mode tun multi_queue vnet_hdr");
    let twin = host.sh_ok("ip -n t -d link show fl1");
    let tun_line = |s: &str| s.lines().find(|l| l.contains("tun type")).map(str::trim).map(String::from);
    assert_eq!(tun_line(&details), tun_line(&twin));
    let err = in_netns(&host, "t", || tun::create_persistent("fl0")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");

    let forward = |dev: &str| {
        host.sh(&format!(
            "ip netns exec t timeout --preserve-status 3 {NETLAB} forward --dev {dev} --encap udp --local 192.168.1.2 --peer 192.168.1.3"
        ))
    };
    // A device without multi_queue cannot take the forwarder's queues: a clear error.
    host.sh_ok("ip -n t tuntap add dev sq0 mode tun");
    let out = forward("sq0");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a TUN device made with netlab's flags"), "{stderr}");
    // Nor does a missing device get made by the forwarder.
    let out = forward("nope0");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no device nope0"), "{out:?}");
    assert!(!host.sh("ip -n t link show nope0").status.success());
    // A bad command line is a usage error.
    let out =
        host.sh(&format!("{NETLAB} forward --dev fl0 --encap ipip --local 192.168.1.2 --port 9 --peer 192.168.1.3"));
    assert_eq!(out.status.code(), Some(2));
    // The ip tuntap twin is taken, and runs until stopped (timeout's TERM: exit 0).
    let out = forward("fl1");
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Deleting the device under a running forwarder ends it with an error that says so.
    let child = host
        .command("ip")
        .args(["netns", "exec", "t", NETLAB, "forward", "--dev", "fl1", "--encap", "udp"])
        .args(["--local", "192.168.1.2", "--peer", "192.168.1.3"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    host.sh_ok("ip -n t link del fl1");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fl1: the TUN device was deleted"), "{out:?}");

    in_netns(&host, "t", || tun::delete_persistent("fl0")).unwrap();
    assert!(!host.sh("ip -n t link show fl0").status.success(), "deleted");
    let err = in_netns(&host, "t", || tun::delete_persistent("fl0")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

/// An ICMP echo request, as an IPv4 packet with valid checksums.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut icmp = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"netlab tunnel test payload");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45u8, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn checksum(data: &[u8]) -> u16 {
    let mut s: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A raw IP-in-IP socket bound to `local`, connected to n1's underlay address: what it
/// sends gets an outer header from `local` with protocol 4.
fn raw_ipip_socket(local: Ipv4Addr) -> OwnedFd {
    // SAFETY: plain socket calls with valid arguments; the descriptor is owned at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_IPIP);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        for (addr, f) in [(local, libc::bind as unsafe extern "C" fn(_, _, _) -> _), (underlay(1), libc::connect)] {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from(addr).to_be() },
                sin_zero: [0; 8],
            };
            let r = f(fd.as_raw_fd(), &sin as *const _ as *const libc::sockaddr, size_of_val(&sin) as u32);
            assert_eq!(r, 0, "{addr}: {}", std::io::Error::last_os_error());
        }
        fd
    }
}

fn send_raw(fd: &OwnedFd, payload: &[u8]) {
    // SAFETY: payload is valid for reads of its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), payload.as_ptr().cast(), payload.len(), 0) };
    assert_eq!(n, payload.len() as isize, "{}", std::io::Error::last_os_error());
}
