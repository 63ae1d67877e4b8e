//! Live prototype of the lab firewall (issue 13): namespaces, bridges and veths made by hand
//! with `ip` inside a throwaway host, the ruleset that `netlab::firewall` computes applied
//! with its engine, and real clients proving what a published port, outbound NAT, isolation,
//! `icc = false`, the forwarding guard and the conntrack flush must do. The plan, diff and
//! executor do not know the firewall yet; these tests prove the rules they will apply.
//!
//! The scene (lab `docker`, as docker-modes.toml with nat on docker0 and br0):
//! ```text
//!  outside ns "wan": 203.0.113.2/24 (+198.18.0.2/24) ── wan0 ── host: 203.0.113.1, 198.18.0.1, default via .2
//!  docker0 172.17.0.1/16 (nat): web .2 (publishes), db .3
//!  br0 192.168.2.1/24 (nat):    app .2
//!  plain0 10.99.0.1/24 (the lab's network without nat): p1 .2, p2 .3
//! ```
mod common;

use std::time::{Duration, Instant};

use common::{skip_unless_root, Throwaway};
use netlab::firewall::conntrack;
use netlab::firewall::groups::{self, Class};
use netlab::firewall::hostports;
use netlab::firewall::live::{converge, script, Nft};
use netlab::firewall::ports;
use netlab::firewall::ruleset::{compute, Guard, LabFirewall, NatNetwork, Place, Published, Requirement, Ruleset};
use netlab::firewall::warnings;

/// A TCP and a UDP server, IPv4 and IPv6, answering each client with what it saw as the
/// client's address.
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

fn server_file() -> String {
    let path = std::env::temp_dir().join(format!("netlab-fw-server-{}.py", std::process::id()));
    std::fs::write(&path, SERVER).unwrap();
    path.to_string_lossy().into_owned()
}

struct Scene {
    t: Throwaway,
}

/// A bridge in the host with its address, in the group of `lab` and `class`.
fn bridge(lab: &str, class: Class, name: &str, addr: &str) -> String {
    format!(
        "ip link add {name} type bridge && ip link set {name} group {} && ip addr add {addr} dev {name} && ip link set {name} up\n",
        groups::group(lab, class)
    )
}

/// A node namespace with eth0 on `bridge_name`, its host end `port` in the lab's plain group.
fn node(lab: &str, name: &str, bridge_name: &str, port: &str, addr: &str, gw: &str) -> String {
    format!(
        "ip netns add {name} && ip -n {name} link set lo up \
         && ip link add {port} group {g} type veth peer name eth0 netns {name} \
         && ip link set {port} master {bridge_name} up && ip -n {name} addr add {addr} dev eth0 \
         && ip -n {name} link set eth0 up && ip -n {name} route add default via {gw}\n",
        g = groups::group(lab, Class::Plain)
    )
}

impl Scene {
    fn new() -> Scene {
        let t = Throwaway::new();
        let mut s = String::from("set -e\n");
        s += &bridge("docker", Class::NatBridge, "docker0", "172.17.0.1/16");
        s += &bridge("docker", Class::NatBridge, "br0", "192.168.2.1/24");
        s += &bridge("docker", Class::Plain, "plain0", "10.99.0.1/24");
        s += &node("docker", "web", "docker0", "vweb", "172.17.0.2/16", "172.17.0.1");
        s += &node("docker", "db", "docker0", "vdb", "172.17.0.3/16", "172.17.0.1");
        s += &node("docker", "app", "br0", "vapp", "192.168.2.2/24", "192.168.2.1");
        s += &node("docker", "p1", "plain0", "vp1", "10.99.0.2/24", "10.99.0.1");
        s += &node("docker", "p2", "plain0", "vp2", "10.99.0.3/24", "10.99.0.1");
        // The internet: a namespace reached through wan0 and the host's default route.
        s += "ip netns add wan && ip -n wan link set lo up \
              && ip link add wan0 type veth peer name eth0 netns wan \
              && ip addr add 203.0.113.1/24 dev wan0 && ip addr add 198.18.0.1/24 dev wan0 && ip link set wan0 up \
              && ip -n wan addr add 203.0.113.2/24 dev eth0 && ip -n wan addr add 198.18.0.2/24 dev eth0 \
              && ip -n wan link set eth0 up && ip route add default via 203.0.113.2 \
              && ip -n wan route add default via 203.0.113.1\n";
        // What `up` does for a nat network: forwarding on (a shared host sysctl).
        s += "sysctl -qw net.ipv4.ip_forward=1\n";
        let server = server_file();
        for (ns, name) in [("web", "web"), ("db", "db"), ("app", "app"), ("p1", "p1"), ("wan", "wan")] {
            s += &format!("ip netns exec {ns} python3 {server} {name} 80 81 >/dev/null 2>&1 &\n");
        }
        t.sh_ok(&s);
        let scene = Scene { t };
        for ns in ["web", "db", "app", "p1", "wan"] {
            scene.wait_listening(ns, 81);
        }
        scene
    }

    fn wait_listening(&self, ns: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.t.in_netns(ns, &format!("ss -Hlun 'sport = :{port}'"));
            if !out.stdout.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "the server in {ns} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn host_nft(&self) -> Nft {
        Nft::new(netlab::firewall::NetnsPath::at(format!("/proc/{}/ns/net", self.t.init_pid())))
    }

    /// Applies the ruleset with the engine (converging whatever is there) and its
    /// requirements the way `up` will: route_localnet and hairpin mode.
    fn apply(&self, rs: &Ruleset) {
        let nft = self.host_nft();
        for table in &rs.tables {
            let live = nft.read(table.family, &table.name).unwrap();
            let changes = converge(table, live.as_ref()).unwrap();
            nft.apply(&script(&changes)).unwrap_or_else(|e| panic!("{e}\n{}", script(&changes)));
            let back = nft.read(table.family, &table.name).unwrap();
            assert_eq!(converge(table, back.as_ref()).unwrap(), [], "read back, the table is not what was applied");
        }
        for r in &rs.requirements {
            match r {
                Requirement::Sysctl { key, value, .. } => self.t.sh_ok(&format!("sysctl -qw {key}={value}")),
                Requirement::Hairpin { port, .. } => {
                    self.t.sh_ok(&format!("ip link set {port} type bridge_slave hairpin on"))
                }
            };
        }
    }

    /// A TCP client (curl, HTTP/0.9 since the server only answers a line) from `ns` ("" for
    /// the host): the server's answer, or None.
    fn tcp(&self, ns: &str, addr: &str, port: u16) -> Option<String> {
        self.client(ns, &format!("curl -s --http0.9 --max-time 2 http://{addr}:{port}/"))
    }

    /// A UDP client (nc): the server's answer, or None.
    fn udp(&self, ns: &str, addr: &str, port: u16) -> Option<String> {
        self.client(ns, &format!("echo hello | nc -u -w1 {addr} {port}"))
    }

    fn client(&self, ns: &str, cmd: &str) -> Option<String> {
        let out = if ns.is_empty() { self.t.sh(cmd) } else { self.t.in_netns(ns, cmd) };
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    fn pings(&self, ns: &str, addr: &str) -> bool {
        self.t.in_netns(ns, &format!("ping -c1 -W1 -q {addr}")).status.success()
    }
}

fn net(name: &str, v4: &str, ports: &[&str]) -> NatNetwork {
    NatNetwork {
        name: name.into(),
        bridge: name.into(),
        v4: Some(v4.parse().unwrap()),
        v6: None,
        icc: true,
        place: Place::Host,
        ports: ports.iter().map(|p| p.to_string()).collect(),
    }
}

fn publish(node: &str, network: &str, spec: &str, node_v4: &str, bridge_port: &str) -> Vec<Published> {
    ports::parse(spec)
        .unwrap()
        .bindings()
        .into_iter()
        .map(|binding| Published {
            node: node.into(),
            network: network.into(),
            binding,
            node_v4: Some(node_v4.parse().unwrap()),
            node_v6: None,
            bridge_port: bridge_port.into(),
        })
        .collect()
}

/// The lab: docker0 and br0 with nat, web publishing TCP and UDP on every host address and
/// TCP on 198.18.0.1 only; forwarding was off before, so the guard is on.
fn docker_lab() -> LabFirewall {
    let mut published = publish("web", "docker0", "8080:80", "172.17.0.2", "vweb");
    published.extend(publish("web", "docker0", "8081:81/udp", "172.17.0.2", "vweb"));
    published.extend(publish("web", "docker0", "198.18.0.1:9090:80", "172.17.0.2", "vweb"));
    LabFirewall {
        lab: "docker".into(),
        networks: vec![net("docker0", "172.17.0.0/16", &["vweb", "vdb"]), net("br0", "192.168.2.0/24", &["vapp"])],
        published,
        guards: vec![(Place::Host, Guard { v4: true, v6: true })],
        plain_bridges: vec![],
    }
}

#[test]
fn published_ports_outbound_and_isolation() {
    if skip_unless_root("published_ports_outbound_and_isolation") {
        return;
    }
    let s = Scene::new();
    // Without the firewall, nothing is published.
    assert_eq!(s.tcp("wan", "203.0.113.1", 8080), None);
    s.apply(&compute(&docker_lab()));

    // From the host itself: 127.0.0.1 (route_localnet + masquerade: the node sees the
    // bridge's address) and each host address.
    assert_eq!(s.tcp("", "127.0.0.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(s.udp("", "127.0.0.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));
    for addr in ["203.0.113.1", "198.18.0.1", "172.17.0.1", "10.99.0.1"] {
        assert!(s.tcp("", addr, 8080).is_some_and(|a| a.starts_with("web tcp")), "host -> {addr}:8080");
        assert!(s.udp("", addr, 8081).is_some_and(|a| a.starts_with("web udp")), "host -> {addr}:8081/udp");
    }
    // From outside: the client's own address reaches the node (no masquerade inbound).
    assert_eq!(s.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    assert_eq!(s.udp("wan", "203.0.113.1", 8081).as_deref(), Some("web udp sees 203.0.113.2"));
    // A port bound to one host address is reached there and not on another.
    assert_eq!(s.tcp("wan", "198.18.0.1", 9090).as_deref(), Some("web tcp sees 198.18.0.2"));
    assert_eq!(s.tcp("wan", "203.0.113.1", 9090), None, "9090 is published on 198.18.0.1 only");
    assert_eq!(s.tcp("", "203.0.113.1", 9090), None, "9090 is published on 198.18.0.1 only (from the host)");
    // Hairpin: another node of the same network gets an answer through the host (the node
    // saw the bridge's address, not db's, so the reply went back through the host).
    assert_eq!(s.tcp("db", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(s.udp("db", "203.0.113.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));
    // ... from a node of another nat network, routed through the host both ways (br0's
    // subnet leaving through docker0 is masqueraded, as Docker's `-s SUBNET ! -o br0` does).
    assert_eq!(s.tcp("app", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    // ... from the publishing node itself (hairpin mode on its bridge port).
    assert_eq!(s.tcp("web", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(s.udp("web", "198.18.0.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));

    // Outbound: masqueraded to the host's address on the way out.
    assert_eq!(s.tcp("web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    assert_eq!(s.udp("app", "203.0.113.2", 81).as_deref(), Some("wan udp sees 203.0.113.1"));

    // Isolation: two nat networks, directly or through the host.
    assert!(!s.pings("web", "192.168.2.2"));
    assert!(!s.pings("app", "172.17.0.2"));
    assert_eq!(s.tcp("app", "172.17.0.2", 80), None);
    assert_eq!(s.tcp("web", "192.168.2.2", 80), None);
    // ... and the outside cannot reach a node but through a published port.
    assert_eq!(s.tcp("wan", "172.17.0.2", 80), None);
    // Within a network, nodes talk (icc) and the bridge's address answers.
    assert!(s.pings("web", "172.17.0.3"));
    assert_eq!(s.tcp("db", "172.17.0.2", 80).as_deref(), Some("web tcp sees 172.17.0.3"));

    // The CVE-2020-8558 guard: route_localnet is on for docker0, so without the guard a
    // node could reach a service the host keeps on 127.0.0.1 by sending to 127.0.0.1
    // through the host. Shown both ways: blocked with the rule, open without it.
    s.t.sh_ok("(python3 -m http.server 7777 --bind 127.0.0.1 >/dev/null 2>&1 &)");
    let code = |ns: &str| s.client(ns, "curl -s --max-time 2 -o /dev/null -w %{http_code} http://127.0.0.1:7777/");
    let deadline = Instant::now() + Duration::from_secs(10);
    while code("").as_deref() != Some("200") {
        assert!(Instant::now() < deadline, "the host's localhost service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.t.in_netns(
        "web",
        // The node sends to 127.0.0.1 through its gateway: its own local table second.
        "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1 \
         && ip rule add pref 100 lookup local && ip rule del pref 0 \
         && ip route add 127.0.0.1/32 via 172.17.0.1 dev eth0 table 100 && ip rule add to 127.0.0.1 lookup 100 pref 10",
    );
    assert!(s.t.in_netns("web", "ip route get 127.0.0.1").stdout.starts_with(b"127.0.0.1 via 172.17.0.1"));
    assert_eq!(code("web").as_deref(), Some("000"), "a node reached the host's 127.0.0.1");
    let nft = s.host_nft();
    let input = nft.read(netlab::firewall::ruleset::Family::Inet, "netlab-docker").unwrap().unwrap();
    let handle = input.chains.iter().find(|c| c.name == "input").unwrap().rules[0].handle;
    nft.apply(&format!("delete rule inet netlab-docker input handle {handle}\n")).unwrap();
    assert_eq!(code("web").as_deref(), Some("200"), "without the guard the attack works: the test proves nothing");
    s.apply(&compute(&docker_lab()));
    assert_eq!(code("web").as_deref(), Some("000"), "the converge did not put the guard back");
}

/// The three cases of the forwarding guard, with a plain network of this lab, another
/// lab's plain network, and a routing lab (ipip.toml's shape) up beside the nat lab.
#[test]
fn forwarding_guard() {
    if skip_unless_root("forwarding_guard") {
        return;
    }
    let s = Scene::new();
    let mut setup = String::from("set -e\n");
    // Another lab, no nat, no routing: one network with one node.
    setup += &bridge("other", Class::Plain, "oth0", "10.98.0.1/24");
    setup += &node("other", "o1", "oth0", "vo1", "10.98.0.2/24", "10.98.0.1");
    // A routing lab (its [host] turns ip_forward on): two links through the host.
    let r = groups::group("ipip", Class::Routing);
    for (i, net) in [(1, "10.10.10"), (2, "10.10.20")] {
        setup += &format!(
            "ip netns add ns{i} && ip -n ns{i} link set lo up && ip link add v{i}-P group {r} type veth peer name v{i} netns ns{i} \
             && ip addr add {net}.1/24 dev v{i}-P && ip link set v{i}-P up && ip -n ns{i} addr add {net}.2/24 dev v{i} \
             && ip -n ns{i} link set v{i} up && ip -n ns{i} route add default via {net}.1\n"
        );
    }
    s.t.sh_ok(&setup);
    let routed_without_guard = |s: &Scene| {
        (
            s.pings("p1", "203.0.113.2"),
            s.pings("o1", "203.0.113.2"),
            s.pings("p1", "10.98.0.2"),
            s.pings("ns1", "10.10.20.2"),
            s.pings("ns1", "203.0.113.2"),
        )
    };
    // Forwarding on and no firewall: everything routes (what the guard must prevent).
    assert_eq!(routed_without_guard(&s), (true, true, true, true, true), "the scene routes before the guard");

    let mut lab = docker_lab();
    lab.guards = vec![(Place::Host, Guard { v4: true, v6: true })];
    s.apply(&compute(&lab));
    // 1. The lab's other network (plain0) is not routed: not out, not to other labs.
    assert!(!s.pings("p1", "203.0.113.2"), "the lab's plain network became routable");
    // Bridged traffic inside it is not routed traffic (br_netfilter shows it to the
    // forward hook here): it must pass.
    assert!(s.pings("p1", "10.99.0.3"), "the guard broke traffic inside a plain bridge");
    // 2. Another lab's network is not routed either, nor between the two plain networks.
    assert!(!s.pings("o1", "203.0.113.2"), "another lab's network became routable");
    assert!(!s.pings("p1", "10.98.0.2"));
    assert!(!s.pings("o1", "10.99.0.2"));
    // The nat networks cannot reach plain networks (islands stay islands) ...
    assert!(!s.pings("web", "10.99.0.2"));
    assert!(!s.pings("web", "10.98.0.2"));
    // ... nor can the plain networks reach into the nat networks (but through a published port).
    assert!(!s.pings("p1", "172.17.0.2"));
    assert_eq!(s.tcp("p1", "10.99.0.1", 8080).as_deref(), Some("web tcp sees 10.99.0.2"));
    // 3. The routing lab keeps host routing: between its links and out.
    assert!(s.pings("ns1", "10.10.20.2"), "the guard broke a lab that asked for host routing");
    assert!(s.pings("ns1", "203.0.113.2"));
    // A nat node reaches the routing lab's nodes (masqueraded), as it reaches the outside.
    assert!(s.pings("web", "10.10.10.2"));
    // And the nat lab itself still works.
    assert_eq!(s.tcp("web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    assert_eq!(s.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));

    // When forwarding was on before the lab (guard off), plain networks route as before.
    lab.guards = vec![];
    s.apply(&compute(&lab));
    assert!(s.pings("p1", "203.0.113.2"), "without a guard the host routes as it did before the lab");
    assert!(!s.pings("web", "10.99.0.2"), "nat networks stay isolated from the lab's other networks");
}

/// Two nat labs at once: each one's guard and isolation leave the other working, a node
/// reaches the other lab's published port through the host and nothing else of it, and
/// taking one lab's table away leaves the other working.
#[test]
fn two_nat_labs() {
    if skip_unless_root("two_nat_labs") {
        return;
    }
    let s = Scene::new();
    let mut setup = String::from("set -e\n");
    setup += &bridge("docker2", Class::NatBridge, "nat1", "172.18.0.1/16");
    setup += &node("docker2", "n1", "nat1", "vn1", "172.18.0.2/16", "172.18.0.1");
    setup += &format!("ip netns exec n1 python3 {} n1 80 81 >/dev/null 2>&1 &\n", server_file());
    s.t.sh_ok(&setup);
    s.wait_listening("n1", 81);
    let lab2 = LabFirewall {
        lab: "docker2".into(),
        networks: vec![net("nat1", "172.18.0.0/16", &["vn1"])],
        published: publish("n1", "nat1", "8090:80", "172.18.0.2", "vn1"),
        guards: vec![(Place::Host, Guard { v4: true, v6: true })],
        plain_bridges: vec![],
    };
    s.apply(&compute(&docker_lab()));
    s.apply(&compute(&lab2));
    let both_work = |s: &Scene| {
        assert_eq!(s.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
        assert_eq!(s.tcp("web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    };
    both_work(&s);
    assert_eq!(s.tcp("wan", "203.0.113.1", 8090).as_deref(), Some("n1 tcp sees 203.0.113.2"));
    assert_eq!(s.udp("n1", "203.0.113.2", 81).as_deref(), Some("wan udp sees 203.0.113.1"));
    // Isolation across labs, both ways; the other lab's published port is reachable.
    assert!(!s.pings("web", "172.18.0.2"));
    assert!(!s.pings("n1", "172.17.0.2"));
    assert_eq!(s.tcp("web", "203.0.113.1", 8090).as_deref(), Some("n1 tcp sees 172.18.0.1"));
    assert_eq!(s.tcp("n1", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));

    // The second lab goes down: its table only; the first keeps working.
    let nft = s.host_nft();
    for t in compute(&lab2).tables {
        assert!(nft.delete(t.family, &t.name, &t.mark).unwrap());
    }
    both_work(&s);
    assert_eq!(s.tcp("wan", "203.0.113.1", 8090), None);
    let tables = s.t.sh_ok("nft list tables");
    assert_eq!(tables.trim(), "table inet netlab-docker");
}

#[test]
fn icc_false_holds_without_br_netfilter() {
    if skip_unless_root("icc_false_holds_without_br_netfilter") {
        return;
    }
    let s = Scene::new();
    let mut lab = docker_lab();
    lab.networks[0].icc = false;
    s.apply(&compute(&lab));
    for call_iptables in ["1", "0"] {
        s.t.sh_ok(&format!("sysctl -qw net.bridge.bridge-nf-call-iptables={call_iptables}"));
        assert!(!s.pings("web", "172.17.0.3"), "icc = false, bridge-nf-call-iptables = {call_iptables}");
        assert_eq!(s.tcp("db", "172.17.0.2", 80), None);
        // The nodes still reach the host, the outside, and are reached through their port.
        assert!(s.pings("web", "172.17.0.1"));
        assert_eq!(s.tcp("web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
        assert_eq!(s.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    }
    // icc on again: the bridge table goes, and the nodes talk.
    lab.networks[0].icc = true;
    let rs = compute(&lab);
    assert!(rs.tables.iter().all(|t| t.family != netlab::firewall::ruleset::Family::Bridge));
    assert!(s.host_nft().delete(netlab::firewall::ruleset::Family::Bridge, "netlab-docker", "netlab:docker").unwrap());
    s.apply(&rs);
    assert!(s.pings("web", "172.17.0.3"));
}

/// Down: the lab's conntrack entries go (no stale NAT for the next lab on the same
/// addresses), then its tables; nothing of the lab is left in nftables or conntrack.
#[test]
fn down_flushes_conntrack_and_removes_the_tables() {
    if skip_unless_root("down_flushes_conntrack_and_removes_the_tables") {
        return;
    }
    let s = Scene::new();
    let lab = docker_lab();
    let rs = compute(&lab);
    s.apply(&rs);
    // UDP flows that would stay for 30 s or more (120 s once "assured").
    for _ in 0..3 {
        assert!(s.udp("wan", "203.0.113.1", 8081).is_some());
    }
    assert!(s.udp("web", "203.0.113.2", 81).is_some());
    assert!(s.udp("", "127.0.0.1", 8081).is_some());
    let before = s.t.sh_ok("conntrack -L 2>/dev/null");
    assert!(before.contains("172.17.0.2"), "no entry for the lab: {before}");
    // An entry that is not the lab's stays.
    s.t.sh_ok("echo x | nc -u -w1 203.0.113.2 81");

    let subnets: Vec<ipnet::IpNet> = lab.networks.iter().filter_map(|n| n.v4).map(Into::into).collect();
    let host = netlab::firewall::NetnsPath::at(format!("/proc/{}/ns/net", s.t.init_pid()));
    let deleted = conntrack::flush(&host, &subnets).unwrap();
    assert!(deleted >= 3, "deleted {deleted}");
    let nft = s.host_nft();
    for t in &rs.tables {
        assert!(nft.delete(t.family, &t.name, &t.mark).unwrap());
    }
    assert_eq!(s.t.sh_ok("nft list tables"), "");
    let after = s.t.sh_ok("conntrack -L 2>/dev/null");
    assert!(
        !after.contains("172.17.") && !after.contains("192.168.2."),
        "stale entries for the lab's subnets:\n{after}"
    );
    assert!(after.contains("dst=203.0.113.2 sport="), "an entry that was not the lab's went too:\n{after}");
    // The published port is gone with the table.
    assert_eq!(s.udp("wan", "203.0.113.1", 8081), None);
}

/// A table of the lab's name that netlab did not make is in the way: neither converged
/// nor deleted.
#[test]
fn a_strangers_table_is_left_alone() {
    if skip_unless_root("a_strangers_table_is_left_alone") {
        return;
    }
    let s = Scene::new();
    s.t.sh_ok("nft add table inet netlab-docker '{ comment \"mine\"; }' && nft add chain inet netlab-docker c");
    let nft = s.host_nft();
    let rs = compute(&docker_lab());
    let live = nft.read(rs.tables[0].family, "netlab-docker").unwrap();
    let e = converge(&rs.tables[0], live.as_ref()).unwrap_err().to_string();
    assert!(e.contains("is in the way") && e.contains("\"mine\""), "{e}");
    let e = nft.delete(rs.tables[0].family, "netlab-docker", "netlab:docker").unwrap_err().to_string();
    assert!(e.contains("is in the way"), "{e}");
    assert!(s.t.sh_ok("nft list table inet netlab-docker").contains("chain c"));
}

/// Docker's iptables (FORWARD policy DROP): the warning names the chain and the rules to
/// add, the drop is real, and the rules it suggests let the lab through.
#[test]
fn another_firewall_is_named_with_the_fix() {
    if skip_unless_root("another_firewall_is_named_with_the_fix") {
        return;
    }
    let s = Scene::new();
    s.apply(&compute(&docker_lab()));
    // What iptables-nft makes for Docker's `iptables -P FORWARD DROP` (a table of its
    // own name here, so the fix is nft's: the machine has no iptables).
    s.t.sh_ok("nft add table ip dockerish && nft add chain ip dockerish FORWARD '{ type filter hook forward priority 0; policy drop; }'");
    assert_eq!(s.tcp("wan", "203.0.113.1", 8080), None, "the other firewall drops the lab's traffic");
    let nft = s.host_nft();
    let found = warnings::check(&nft.ruleset().unwrap(), &["docker0".into(), "br0".into()]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].chain, "ip dockerish FORWARD");
    assert_eq!(found[0].what, "policy drop");
    for fix in &found[0].fix {
        s.t.sh_ok(fix);
    }
    assert_eq!(s.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    assert_eq!(s.tcp("web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    assert!(warnings::check(&nft.ruleset().unwrap(), &["docker0".into()]).len() == 1, "policy drop is still there");
}

/// Host ports: a port a program listens on is refused, a picked port avoids it, in the
/// throwaway host's own namespace.
#[test]
fn host_ports_listened_on_and_picked() {
    if skip_unless_root("host_ports_listened_on_and_picked") {
        return;
    }
    let s = Scene::new();
    s.t.sh_ok(
        "(python3 -m http.server 2222 --bind 0.0.0.0 >/dev/null 2>&1 &) \
               && sysctl -qw net.ipv4.ip_local_port_range='2222 2224'",
    );
    let host = netlab::firewall::NetnsPath::at(format!("/proc/{}/ns/net", s.t.init_pid()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let listeners = loop {
        let l = hostports::listeners(&host).unwrap();
        if l.iter().any(|l| l.port == 2222) || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let b = ports::parse("2222:80").unwrap().bindings()[0];
    let r = hostports::check(&b, 2222, &listeners, &[]).expect("2222 is listened on");
    assert!(r.to_string().contains("already listened on"), "{r}");
    let range = hostports::ephemeral_range(&host).unwrap();
    assert_eq!((range.start, range.end), (2222, 2224));
    let pick = ports::parse("80").unwrap().bindings()[0];
    assert_eq!(hostports::pick(&pick, range, &listeners, &[]), Ok(2223));
}

/// SCTP is parsed and planned; this kernel has no CONFIG_IP_SCTP, so the live part is
/// skipped, saying so.
#[test]
fn sctp_is_planned_and_skipped_live_without_the_kernel_option() {
    let b = ports::parse("3868:3868/sctp").unwrap().bindings();
    let mut lab = docker_lab();
    lab.published = b
        .into_iter()
        .map(|binding| Published {
            node: "web".into(),
            network: "docker0".into(),
            binding,
            node_v4: Some("172.17.0.2".parse().unwrap()),
            node_v6: None,
            bridge_port: "vweb".into(),
        })
        .collect();
    let rs = compute(&lab);
    let text: String = rs.tables.iter().map(|t| t.block()).collect();
    assert!(text.contains("meta nfproto ipv4 sctp dport 3868 dnat ip to 172.17.0.2:3868"), "{text}");
    if hostports::sctp_available() {
        eprintln!("this kernel has SCTP: a live SCTP test belongs here");
    } else {
        eprintln!("sctp: live test skipped: this kernel has no SCTP (CONFIG_IP_SCTP); the rule is planned only");
    }
    if !skip_unless_root("sctp_rule_loads") {
        // The rule itself loads (nft matches the header without the SCTP module).
        let t = Throwaway::new();
        let nft = Nft::new(netlab::firewall::NetnsPath::at(format!("/proc/{}/ns/net", t.init_pid())));
        nft.apply(&text).unwrap();
        assert!(t.sh_ok("nft list chain inet netlab-docker published").contains("sctp dport 3868"));
    }
}

/// IPv6: a nat network with an IPv6 subnet publishes on every host address and on one,
/// and masquerades outbound; ::1 is not sent to a node (IPv6 has no route_localnet).
#[test]
fn ipv6_published_ports_and_outbound() {
    if skip_unless_root("ipv6_published_ports_and_outbound") {
        return;
    }
    let s = Scene::new();
    s.t.sh_ok(
        "set -e; sysctl -qw net.ipv6.conf.all.forwarding=1
         ip addr add fd00:17::1/64 dev docker0 nodad
         ip -n web addr add fd00:17::2/64 dev eth0 nodad && ip -n web route add default via fd00:17::1
         ip addr add 2001:db8:ff::1/64 dev wan0 nodad && ip -n wan addr add 2001:db8:ff::2/64 dev eth0 nodad
         ip -n wan route add default via 2001:db8:ff::1 && ip route add default via 2001:db8:ff::2",
    );
    let mut lab = docker_lab();
    lab.networks[0].v6 = Some("fd00:17::/64".parse().unwrap());
    lab.published.extend(publish("web", "docker0", "[2001:db8:ff::1]:8443:80", "172.17.0.2", "vweb"));
    for p in &mut lab.published {
        p.node_v6 = Some("fd00:17::2".parse().unwrap());
    }
    s.apply(&compute(&lab));
    assert_eq!(s.tcp("wan", "[2001:db8:ff::1]", 8080).as_deref(), Some("web tcp sees 2001:db8:ff::2"));
    assert_eq!(s.udp("wan", "2001:db8:ff::1", 8081).as_deref(), Some("web udp sees 2001:db8:ff::2"));
    assert_eq!(s.tcp("wan", "[2001:db8:ff::1]", 8443).as_deref(), Some("web tcp sees 2001:db8:ff::2"));
    assert_eq!(s.tcp("wan", "203.0.113.1", 8443), None, "8443 is published on 2001:db8:ff::1 only");
    // The host reaches its own IPv6 address; ::1 stays the host's (nothing listens: refused).
    assert!(s.tcp("", "[2001:db8:ff::1]", 8080).is_some_and(|a| a.starts_with("web tcp sees")));
    assert_eq!(s.tcp("", "[::1]", 8080), None);
    // Outbound IPv6 is masqueraded to the host's address on the way out.
    assert_eq!(s.tcp("web", "[2001:db8:ff::2]", 80).as_deref(), Some("wan tcp sees 2001:db8:ff::1"));
    // The outside cannot reach the node's IPv6 address directly.
    s.t.sh_ok("ip -n wan route add fd00:17::/64 via 2001:db8:ff::1");
    assert_eq!(s.tcp("wan", "[fd00:17::2]", 80), None);
}
