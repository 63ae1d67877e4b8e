//! The outside world for the firewall's live tests (issue 13): a throwaway host with a
//! namespace `wan` that stands for the internet, reached from the host through `wan0` and
//! the host's default route, and servers that answer each client with the address they saw
//! it come from, so a test sees masquerade, hairpin and DNAT for itself:
//! ```text
//!  wan: 203.0.113.2/24, 198.18.0.2/24 ── wan0: 203.0.113.1, 198.18.0.1 (host), default via 203.0.113.2
//! ```

use std::time::{Duration, Instant};

use super::Throwaway;

/// A TCP and a UDP server on each port, IPv4 and IPv6, answering each client with what it
/// saw as the client's address.
const SERVER: &str = r#"
import socket, sys, threading
name, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def bound(family, kind, port):
    s = socket.socket(family, kind); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port)); return s
def tcp(family, port):
    s = bound(family, socket.SOCK_STREAM, port); s.listen(64)
    while True:
        c, a = s.accept()
        try: c.recv(1024)
        except OSError: pass
        c.sendall(("%s tcp sees %s\n" % (name, a[0])).encode()); c.close()
def udp(family, port):
    s = bound(family, socket.SOCK_DGRAM, port)
    while True:
        d, a = s.recvfrom(100); s.sendto(("%s udp sees %s\n" % (name, a[0])).encode(), a)
for p in ports:
    for f in (socket.AF_INET, socket.AF_INET6):
        threading.Thread(target=tcp, args=(f, p), daemon=True).start()
        threading.Thread(target=udp, args=(f, p), daemon=True).start()
threading.Event().wait()
"#;

/// Where the server's script is: the throwaway's own /run (a tmpfs that goes with it, so
/// no run of the tests leaves it behind in the machine's /tmp).
const SERVER_FILE: &str = "/run/netlab-fw-server.py";

/// A throwaway host with the outside namespace, and the servers it started (by PID).
pub struct Host {
    pub t: Throwaway,
    servers: Vec<String>,
}

impl Host {
    pub fn new() -> Host {
        let t = Throwaway::new();
        t.sh_ok(
            "set -e; ip netns add wan && ip -n wan link set lo up \
             && ip link add wan0 type veth peer name eth0 netns wan \
             && ip addr add 203.0.113.1/24 dev wan0 && ip addr add 198.18.0.1/24 dev wan0 && ip link set wan0 up \
             && ip -n wan addr add 203.0.113.2/24 dev eth0 && ip -n wan addr add 198.18.0.2/24 dev eth0 \
             && ip -n wan link set eth0 up && ip route add default via 203.0.113.2 \
             && ip -n wan route add default via 203.0.113.1",
        );
        t.sh_ok(&format!("cat > {SERVER_FILE} <<'NETLAB_SERVER_EOF'\n{SERVER}\nNETLAB_SERVER_EOF"));
        let mut host = Host { t, servers: Vec::new() };
        host.serve("wan", "wan", &[80, 81]);
        host
    }

    /// Starts the server as `name` in namespace `ns` on `ports`, and waits for it.
    pub fn serve(&mut self, ns: &str, name: &str, ports: &[u16]) {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        let enter = if ns.is_empty() { String::new() } else { format!("ip netns exec {ns} ") };
        let pid =
            self.t.sh_ok(&format!("{enter}python3 {SERVER_FILE} {name} {} >/dev/null 2>&1 & echo $!", list.join(" ")));
        self.servers.push(pid.trim().to_string());
        let last = ports[ports.len() - 1];
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.t.sh(&format!("{enter}ss -Hlun 'sport = :{last}'")).stdout.is_empty() {
            assert!(Instant::now() < deadline, "the server in {ns} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the servers, and takes the outside away: what is left is the labs'.
    pub fn stop_servers(&mut self) {
        for pid in self.servers.drain(..) {
            self.t.sh(&format!("kill {pid}"));
        }
    }

    pub fn up(&self, file: &str) -> String {
        self.t.netlab_ok(&["up", file])
    }

    /// After the labs went down: nothing of them in nftables, in conntrack (`subnets`: the
    /// nat networks', as `172.17.0.0/16` or `fd00:1::/64`) or anywhere else, and forwarding
    /// as it was (off) before.
    pub fn assert_clean(mut self, subnets: &[&str]) {
        self.stop_servers();
        assert_eq!(self.t.sh_ok("nft list tables"), "", "a table was left");
        let entries = self.t.sh_ok("conntrack -L -f ipv4 2>/dev/null; conntrack -L -f ipv6 2>/dev/null; true");
        for s in subnets {
            // What every address of the subnet begins with, as conntrack prints it: the
            // IPv4 octets its prefix length covers (`172.17.` of a /16), an IPv6 /64's
            // address before `::`.
            let prefix = match s.split_once("::") {
                Some((v6, _)) => format!("{v6}:"),
                None => {
                    let (addr, len) = s.split_once('/').expect("a subnet");
                    let octets = (len.parse::<usize>().expect("a prefix length") / 8).max(1);
                    addr.split('.').take(octets).map(|o| format!("{o}.")).collect()
                }
            };
            let prefix = prefix.as_str();
            assert!(!entries.contains(prefix), "conntrack entries of {s} were left:\n{entries}");
        }
        // The namespace's devices go in the kernel's own time: its end of wan0 with them.
        self.t.sh_ok(
            "ip netns del wan; for i in $(seq 100); do ip link show wan0 >/dev/null 2>&1 || exit 0; sleep 0.05; done",
        );
        self.t.assert_empty();
    }

    /// A TCP client (curl, HTTP/0.9: the server answers one line) from `ns` ("" for the
    /// host): the server's answer, or None.
    pub fn tcp(&self, ns: &str, addr: &str, port: u16) -> Option<String> {
        self.client(ns, &format!("curl -s --http0.9 --max-time 2 http://{addr}:{port}/"))
    }

    /// A UDP client (nc): the server's answer, or None.
    pub fn udp(&self, ns: &str, addr: &str, port: u16) -> Option<String> {
        self.client(ns, &format!("echo hello | nc -u -w1 {addr} {port}"))
    }

    pub fn client(&self, ns: &str, cmd: &str) -> Option<String> {
        let out = if ns.is_empty() { self.t.sh(cmd) } else { self.t.in_netns(ns, cmd) };
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    pub fn pings(&self, ns: &str, addr: &str) -> bool {
        self.t.in_netns(ns, &format!("ping -c1 -W1 -q {addr}")).status.success()
    }
}

/// docker-modes.toml's shape, with more ports on web: TCP and UDP on every address, TCP on
/// one address only, and one whose host port `up` picks.
pub const DOCKER: &str = r#"
[lab]
name = "docker"

[networks.docker0]
subnet = "172.17.0.0/16"
device = "docker0"
nat = true

[networks.br0]
subnet = "192.168.2.0/24"
device = "br0"
nat = true

[networks.plain]
subnet = "10.99.0.0/24"
device = "plain0"

[nodes.web]
network = "docker0"
ports = ["8080:80", "8081:81/udp", "198.18.0.1:9090:80", "80"]

[nodes.db]
network = "docker0"

[nodes.app]
network = "br0"

[nodes.p1]
network = "plain"

[nodes.p2]
network = "plain"
"#;
