//! Docker's port publishing, outbound NAT and network isolation (issue 13), proved with
//! `netlab up` and `netlab down` of real topology files in throwaway hosts with an outside
//! (`common::outside`), with real clients (curl for TCP, nc for UDP) and a TCP and a UDP
//! server in the nodes and outside: one lab at a time (several labs together, and a lab's
//! life across runs, are in `firewall_labs.rs`).
mod common;

use std::time::{Duration, Instant};

use common::outside::{Host, DOCKER};
use common::{skip_unless_root, TempTopology};

#[test]
fn published_ports_outbound_masquerade_and_isolation() {
    if skip_unless_root("published_ports_outbound_masquerade_and_isolation") {
        return;
    }
    let mut h = Host::new();
    let lab = TempTopology::new("fw-docker", DOCKER);
    // Without the lab, nothing is published.
    assert_eq!(h.tcp("wan", "203.0.113.1", 8080), None);
    let out = h.up(&lab.path);
    assert!(!out.contains("warning:"), "{out}");
    for (ns, name) in [("docker-web", "web"), ("docker-db", "db"), ("docker-app", "app"), ("docker-p1", "p1")] {
        h.serve(ns, name, &[80, 81]);
    }

    // From the host itself: 127.0.0.1 (the node sees the bridge's address) and each host
    // address, TCP and UDP.
    assert_eq!(h.tcp("", "127.0.0.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(h.udp("", "127.0.0.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));
    for addr in ["203.0.113.1", "198.18.0.1", "172.17.0.1", "192.168.2.1"] {
        assert!(h.tcp("", addr, 8080).is_some_and(|a| a.starts_with("web tcp")), "host -> {addr}:8080");
        assert!(h.udp("", addr, 8081).is_some_and(|a| a.starts_with("web udp")), "host -> {addr}:8081/udp");
    }
    // From outside: the client's own address reaches the node (no masquerade inbound).
    assert_eq!(h.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    assert_eq!(h.udp("wan", "203.0.113.1", 8081).as_deref(), Some("web udp sees 203.0.113.2"));
    // A port bound to one host address is reached there and not on another.
    assert_eq!(h.tcp("wan", "198.18.0.1", 9090).as_deref(), Some("web tcp sees 198.18.0.2"));
    assert_eq!(h.tcp("wan", "203.0.113.1", 9090), None, "9090 is published on 198.18.0.1 only");
    assert_eq!(h.tcp("", "203.0.113.1", 9090), None, "9090 is published on 198.18.0.1 only (from the host)");
    // The port `up` picked: shown by `netlab port` as `docker port` does, and reachable.
    let ports = h.t.netlab_ok(&["port", &lab.path, "web"]);
    let picked_line = ports.lines().find(|l| l.starts_with("80/tcp -> 0.0.0.0:") && !l.ends_with(":8080"));
    let picked: u16 = picked_line.and_then(|l| l.rsplit(':').next()).and_then(|p| p.parse().ok()).expect(&ports);
    assert_eq!(
        ports,
        format!(
            "80/tcp -> 0.0.0.0:8080\n81/udp -> 0.0.0.0:8081\n80/tcp -> 198.18.0.1:9090\n80/tcp -> 0.0.0.0:{picked}\n"
        )
    );
    assert_eq!(h.tcp("wan", "203.0.113.1", picked).as_deref(), Some("web tcp sees 203.0.113.2"));
    assert_eq!(h.t.netlab_ok(&["port", "--lab", "docker", "web", "81/udp"]), "0.0.0.0:8081\n");

    // Hairpin: another node of the same network reaches the host's address, and the
    // reply comes back through the host (the node saw the bridge's address, not db's).
    assert_eq!(h.tcp("docker-db", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(h.udp("docker-db", "203.0.113.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));
    // ... a node of another nat network (masqueraded as it leaves br0 for docker0) ...
    assert_eq!(h.tcp("docker-app", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    // ... a node of a network without nat, through the host ...
    assert_eq!(h.tcp("docker-p1", "10.99.0.1", 8080).as_deref(), Some("web tcp sees 10.99.0.2"));
    // ... and the publishing node itself (hairpin mode on its bridge port).
    assert_eq!(h.tcp("docker-web", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));
    assert_eq!(h.udp("docker-web", "198.18.0.1", 8081).as_deref(), Some("web udp sees 172.17.0.1"));

    // Outbound: masqueraded to the host's address on the way out, as the outside sees it.
    assert_eq!(h.tcp("docker-web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    assert_eq!(h.udp("docker-app", "203.0.113.2", 81).as_deref(), Some("wan udp sees 203.0.113.1"));

    // Isolation: two nat networks cannot reach each other, directly or through the host.
    assert!(!h.pings("docker-web", "192.168.2.2"));
    assert!(!h.pings("docker-app", "172.17.0.2"));
    assert_eq!(h.tcp("docker-app", "172.17.0.2", 80), None);
    assert_eq!(h.tcp("docker-web", "192.168.2.2", 80), None);
    // ... nor the outside, even with a route to them, but through a published port ...
    h.t.sh_ok("ip -n wan route add 172.17.0.0/16 via 203.0.113.1");
    assert_eq!(h.tcp("wan", "172.17.0.2", 80), None);
    // ... nor the lab's network without nat, nor can it reach into them.
    assert_eq!(h.tcp("docker-web", "10.99.0.2", 80), None);
    assert_eq!(h.tcp("docker-p1", "172.17.0.2", 80), None);
    // Within a network, nodes talk (icc) and the bridge's address answers.
    assert!(h.pings("docker-web", "172.17.0.3"));
    assert_eq!(h.tcp("docker-db", "172.17.0.2", 80).as_deref(), Some("web tcp sees 172.17.0.3"));

    // status shows each node's ports; a second up changes nothing (the picked port stays).
    let status = h.t.netlab_ok(&["status", &lab.path]);
    assert!(status.contains(&format!("port web: 80/tcp -> 0.0.0.0:{picked}")), "{status}");
    assert!(h.up(&lab.path).contains("is up to date"));
    assert!(h.t.netlab_ok(&["port", &lab.path, "web"]).contains(&format!(":{picked}\n")));

    // The lab's flows are in conntrack; down takes them with the table.
    assert!(h.udp("wan", "203.0.113.1", 8081).is_some());
    assert!(h.t.sh_ok("conntrack -L 2>/dev/null").contains("172.17.0.2"));
    h.t.netlab_ok(&["down", &lab.path]);
    h.assert_clean(&["172.17.0.0/16", "192.168.2.0/24", "10.99.0.0/24"]);
}

/// kube-proxy's guard for CVE-2020-8558: route_localnet is on for a bridge whose port is
/// reached on 127.0.0.1, and without the guard a node could reach what the host keeps on
/// 127.0.0.1 by sending there through the host. Shown both ways: blocked with the lab's
/// rule, open without it (so the test proves something), and put back by `up`.
#[test]
fn localhost_publishing_does_not_open_the_hosts_localhost() {
    if skip_unless_root("localhost_publishing_does_not_open_the_hosts_localhost") {
        return;
    }
    let h = Host::new();
    let lab = TempTopology::new("fw-cve", DOCKER);
    h.up(&lab.path);
    let pid = h.t.sh_ok("python3 -m http.server 7777 --bind 127.0.0.1 >/dev/null 2>&1 & echo $!");
    let code = |ns: &str| h.client(ns, "curl -s --max-time 2 -o /dev/null -w %{http_code} http://127.0.0.1:7777/");
    let deadline = Instant::now() + Duration::from_secs(10);
    while code("").as_deref() != Some("200") {
        assert!(Instant::now() < deadline, "the host's localhost service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    h.t.in_netns(
        "docker-web",
        // The node sends to 127.0.0.1 through its gateway: its own local table second.
        "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1 \
         && ip rule add pref 100 lookup local && ip rule del pref 0 \
         && ip route add 127.0.0.1/32 via 172.17.0.1 dev eth0 table 100 && ip rule add to 127.0.0.1 lookup 100 pref 10",
    );
    assert!(h.t.in_netns("docker-web", "ip route get 127.0.0.1").stdout.starts_with(b"127.0.0.1 via 172.17.0.1"));
    assert_eq!(code("docker-web").as_deref(), Some("000"), "a node reached the host's 127.0.0.1");
    let handle = h.t.sh_ok(
        "nft -a list chain inet netlab-docker input | grep -o 'CVE-2020-8558) #[0-9a-f]*\" # handle [0-9]*' | grep -o '[0-9]*$'",
    );
    h.t.sh_ok(&format!("nft delete rule inet netlab-docker input handle {}", handle.trim()));
    assert_eq!(
        code("docker-web").as_deref(),
        Some("200"),
        "without the guard the attack works: the test proves nothing"
    );
    let (diff, _) = h.t.netlab_exits(1, &["diff", &lab.path]);
    assert!(diff.contains("+ nft rule add") && diff.contains("CVE-2020-8558"), "{diff}");
    h.up(&lab.path);
    assert_eq!(code("docker-web").as_deref(), Some("000"), "up did not put the guard back");
    h.t.sh_ok(&format!("kill {}", pid.trim()));
    h.t.netlab_ok(&["down", &lab.path]);
}

/// A plain network of the lab, another lab's network, and a lab that asked for host
/// routing, up beside a nat lab that turned forwarding on: the first two are not routed
/// (islands stay islands), the third keeps its routing. And when the host forwarded before
/// the first lab, nothing is guarded: every network routes as it did.
#[test]
fn the_forwarding_guard_routes_only_what_asked_for_it() {
    if skip_unless_root("the_forwarding_guard_routes_only_what_asked_for_it") {
        return;
    }
    let other = TempTopology::new(
        "fw-other",
        "[lab]\nname = \"other\"\n[networks.o]\nsubnet = \"10.98.0.0/24\"\ndevice = \"oth0\"\n[nodes.o1]\nnetwork = \"o\"\n",
    );
    // ipip.toml's shape without the tunnel: two links through the host, which it routes.
    let routing = TempTopology::new(
        "fw-routing",
        r#"[lab]
name = "routing"
prefix = ""
[host]
sysctl = { "net.ipv4.ip_forward" = 1 }
[nodes.ns1]
routes = [{ to = "default", via = "10.10.10.1" }]
[nodes.ns2]
routes = [{ to = "default", via = "10.10.20.1" }]
[[links]]
endpoints = ["ns1:v1", "host:v1-P"]
addresses = ["10.10.10.2/24", "10.10.10.1/24"]
[[links]]
endpoints = ["ns2:v2", "host:v2-P"]
addresses = ["10.10.20.2/24", "10.10.20.1/24"]
"#,
    );
    let docker = TempTopology::new("fw-guard", DOCKER);

    let mut h = Host::new();
    h.up(&routing.path);
    h.up(&other.path);
    // Before the nat lab: the routing lab routes, between its links and out; the others
    // have no default route through the host to take.
    assert!(h.pings("ns1", "10.10.20.2") && h.pings("ns1", "203.0.113.2"));
    h.up(&docker.path);
    h.serve("docker-web", "web", &[80]);
    // 1. The nat lab's own plain network is not routed: not out, not to other labs.
    assert!(!h.pings("docker-p1", "203.0.113.2"), "the lab's plain network became routable");
    assert!(!h.pings("docker-p1", "10.98.0.2"));
    // Traffic inside it, bridged (br_netfilter shows it to the forward hook here), passes.
    assert!(h.pings("docker-p1", "10.99.0.3"), "the guard broke traffic inside a plain bridge");
    // 2. Another lab's network is not routed either.
    assert!(!h.pings("other-o1", "203.0.113.2"), "another lab's network became routable");
    assert!(!h.pings("other-o1", "10.99.0.2"));
    // 3. The lab that asked for host routing keeps it: between its links and out.
    assert!(h.pings("ns1", "10.10.20.2"), "the guard broke a lab that asked for host routing");
    assert!(h.pings("ns1", "203.0.113.2"));
    // A nat node reaches the routing lab's nodes (masqueraded), as it reaches the outside,
    // and the nat lab works.
    assert!(h.pings("docker-web", "10.10.10.2"));
    assert_eq!(h.tcp("docker-web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    assert_eq!(h.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    for lab in [&docker, &other, &routing] {
        h.t.netlab_ok(&["down", &lab.path]);
    }
    h.stop_servers();

    // Forwarding on before any lab: no guard, the plain network routes as it would have.
    h.t.sh_ok("sysctl -qw net.ipv4.ip_forward=1");
    let out = h.t.netlab_ok(&["plan", &docker.path]);
    assert!(!out.contains("guard"), "{out}");
    h.up(&docker.path);
    assert!(h.pings("docker-p1", "203.0.113.2"), "without a guard the host routes as it did before the lab");
    assert!(!h.pings("docker-web", "10.99.0.2"), "nat networks stay isolated from the lab's other networks");
    h.t.netlab_ok(&["down", &docker.path]);
    assert_eq!(h.t.sh_ok("cat /proc/sys/net/ipv4/ip_forward"), "1\n", "down put back forwarding as it was");
    h.t.sh_ok("sysctl -qw net.ipv4.ip_forward=0");
    h.assert_clean(&["172.17.0.0/16", "10.99.0.0/24"]);
}

#[test]
fn icc_false_holds_with_and_without_br_netfilter() {
    if skip_unless_root("icc_false_holds_with_and_without_br_netfilter") {
        return;
    }
    let mut h = Host::new();
    let lab = TempTopology::new(
        "fw-icc",
        &DOCKER.replace("device = \"docker0\"\nnat = true", "device = \"docker0\"\nnat = true\nicc = false"),
    );
    h.up(&lab.path);
    h.serve("docker-web", "web", &[80]);
    h.serve("docker-db", "db", &[80]);
    for call_iptables in ["1", "0"] {
        h.t.sh_ok(&format!("sysctl -qw net.bridge.bridge-nf-call-iptables={call_iptables}"));
        assert!(!h.pings("docker-web", "172.17.0.3"), "icc = false, bridge-nf-call-iptables = {call_iptables}");
        assert_eq!(h.tcp("docker-db", "172.17.0.2", 80), None);
        // The nodes still reach the host, the outside, and are reached through their port.
        assert!(h.pings("docker-web", "172.17.0.1"));
        assert_eq!(h.tcp("docker-web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
        assert_eq!(h.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    }
    h.t.sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=1");
    // icc on again: a converge takes the bridge table away, and the nodes talk.
    lab.rewrite(DOCKER);
    let out = h.up(&lab.path);
    assert!(out.contains("nft table del") && out.contains("bridge netlab-docker"), "{out}");
    assert!(h.pings("docker-web", "172.17.0.3"));
    h.t.netlab_ok(&["down", &lab.path]);
    h.assert_clean(&["172.17.0.0/16"]);
}

/// A converge that adds a port adds its rule only (the port answers), one that takes it
/// away deletes that rule (it stops answering); the rest of the firewall is untouched.
#[test]
fn a_port_added_or_removed_live() {
    if skip_unless_root("a_port_added_or_removed_live") {
        return;
    }
    let mut h = Host::new();
    let lab = TempTopology::new("fw-converge", DOCKER);
    h.up(&lab.path);
    h.serve("docker-db", "db", &[80]);
    assert_eq!(h.tcp("wan", "203.0.113.1", 8082), None);
    lab.rewrite(
        &DOCKER
            .replace("[nodes.db]\nnetwork = \"docker0\"", "[nodes.db]\nnetwork = \"docker0\"\nports = [\"8082:80\"]"),
    );
    let out = h.up(&lab.path);
    let changes: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert!(changes.iter().all(|l| l.contains("nft rule add") || l.contains("link hairpin")), "{out}");
    assert!(changes.iter().any(|l| l.contains("dport 8082")), "{out}");
    assert_eq!(h.tcp("wan", "203.0.113.1", 8082).as_deref(), Some("db tcp sees 203.0.113.2"));
    lab.rewrite(DOCKER);
    let out = h.up(&lab.path);
    let changes: Vec<&str> = out.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert!(changes.iter().all(|l| l.contains("nft rule del") || l.contains("link hairpin")), "{out}");
    assert_eq!(h.tcp("wan", "203.0.113.1", 8082), None);
    h.t.netlab_ok(&["down", &lab.path]);
    h.assert_clean(&["172.17.0.0/16"]);
}

/// Host ports: one a program listens on is refused (publishing 22 must not take over
/// SSH), naming the program; a picked port goes around it; SCTP is refused on a kernel
/// without it, naming the option.
#[test]
fn host_ports_that_are_not_free_are_refused_and_picked_around() {
    if skip_unless_root("host_ports_that_are_not_free_are_refused_and_picked_around") {
        return;
    }
    let mut h = Host::new();
    h.t.sh_ok("sysctl -qw net.ipv4.ip_local_port_range='2222 2224'");
    h.serve("", "sshd-stand-in", &[2222]);
    let text = |ports: &str| {
        format!("[lab]\nname = \"hp\"\n[networks.n]\nsubnet = \"172.21.0.0/24\"\nnat = true\n[nodes.a]\nnetwork = \"n\"\nports = [{ports}]\n")
    };
    let lab = TempTopology::new("fw-hostports", &text("\"2222:22\""));
    let (_, err) = h.t.netlab_exits(1, &["up", &lab.path]);
    assert!(
        err.contains(
            "cannot publish `2222:22` of node a (0.0.0.0:2222/tcp): a program on the host listens on it (python"
        ),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    lab.rewrite(&text("\"22\""));
    h.up(&lab.path);
    assert_eq!(h.t.netlab_ok(&["port", &lab.path, "a"]), "22/tcp -> 0.0.0.0:2223\n", "the lowest free port");
    h.t.netlab_ok(&["down", &lab.path]);

    lab.rewrite(&text("\"3868:3868/sctp\""));
    let plan = h.t.netlab_ok(&["plan", &lab.path]);
    assert!(plan.contains("sctp dport 3868 dnat ip to 172.21.0.2:3868"), "SCTP is planned: {plan}");
    if std::path::Path::new("/proc/sys/net/sctp").exists() {
        eprintln!("sctp: this kernel has SCTP: up publishes it; the live SCTP test is not written yet, skipped");
        h.up(&lab.path);
        h.t.netlab_ok(&["down", &lab.path]);
    } else {
        let (_, err) = h.t.netlab_exits(1, &["up", &lab.path]);
        assert!(
            err.contains("this kernel has no SCTP (CONFIG_IP_SCTP)") && err.contains("nothing was changed"),
            "{err}"
        );
        eprintln!(
            "sctp: live traffic test skipped: this kernel has no SCTP (CONFIG_IP_SCTP); up refuses it, as tested"
        );
    }
    h.assert_clean(&["172.21.0.0/24"]);
}

/// Another firewall that drops forwarded traffic (Docker's iptables FORWARD policy DROP,
/// here as iptables-nft makes it): `up` warns, exit 0, naming the chain and what to add;
/// `status` says it too; the rules it suggests let the lab through. A lab that routes
/// through the host without nat (ipip.toml's shape) is warned too.
#[test]
fn another_firewall_that_drops_forwarded_traffic_is_named_with_the_fix() {
    if skip_unless_root("another_firewall_that_drops_forwarded_traffic_is_named_with_the_fix") {
        return;
    }
    let mut h = Host::new();
    h.t.sh_ok("nft add table ip dockerish && nft add chain ip dockerish FORWARD '{ type filter hook forward priority 0; policy drop; }'");
    let lab = TempTopology::new("fw-warn", DOCKER);
    let out = h.up(&lab.path);
    let warning =
        "warning: ip dockerish FORWARD drops forwarded packets (policy drop): the lab's traffic through docker0, br0 \
                   will be dropped; to let it through: nft insert rule ip dockerish FORWARD iifname \"docker0\" accept";
    assert!(out.contains(warning), "{out}");
    assert!(h.t.netlab_ok(&["status", "--lab", "docker"]).contains(warning));
    h.serve("docker-web", "web", &[80]);
    assert_eq!(h.tcp("wan", "203.0.113.1", 8080), None, "the other firewall drops the lab's traffic");
    let line = out.lines().find(|l| l.starts_with("warning:")).unwrap();
    let fixes = line.split_once("to let it through: ").unwrap().1;
    for fix in fixes.split("; ") {
        h.t.sh_ok(fix);
    }
    assert_eq!(h.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
    h.t.netlab_ok(&["down", &lab.path]);

    let routing = TempTopology::new(
        "fw-warn-routing",
        "[lab]\nname = \"r\"\nprefix = \"\"\n[host]\nsysctl = { \"net.ipv4.ip_forward\" = 1 }\n[nodes.ns1]\n\
         [[links]]\nendpoints = [\"ns1:v1\", \"host:v1-P\"]\naddresses = [\"10.10.10.2/24\", \"10.10.10.1/24\"]\n",
    );
    let out = h.up(&routing.path);
    assert!(
        out.contains(
            "warning: ip dockerish FORWARD drops forwarded packets (policy drop): the lab's traffic through v1-P"
        ),
        "{out}"
    );
    h.t.netlab_ok(&["down", &routing.path]);
    h.t.sh_ok("nft delete table ip dockerish");
    h.assert_clean(&["172.17.0.0/16"]);
}

/// A table of the lab's name that netlab did not make is in the way: `up` refuses,
/// nothing is changed, and the table is left as it was.
#[test]
fn a_strangers_table_is_left_alone() {
    if skip_unless_root("a_strangers_table_is_left_alone") {
        return;
    }
    let h = Host::new();
    h.t.sh_ok("nft add table inet netlab-docker '{ comment \"mine\"; }' && nft add chain inet netlab-docker c");
    let lab = TempTopology::new("fw-stranger", DOCKER);
    let (_, err) = h.t.netlab_exits(1, &["up", &lab.path]);
    assert!(err.contains("nftables table inet netlab-docker in the host is in the way"), "{err}");
    assert!(err.contains("\"mine\""), "{err}");
    assert!(h.t.sh_ok("nft list table inet netlab-docker").contains("chain c"));
    assert_eq!(h.t.sh_ok("ls /run/netns"), "wan\n", "nothing was made");
}

/// IPv6: a nat network with an IPv6 subnet publishes on every host address and on one,
/// and masquerades outbound; ::1 is not sent to a node (IPv6 has no route_localnet).
#[test]
fn ipv6_published_ports_and_outbound() {
    if skip_unless_root("ipv6_published_ports_and_outbound") {
        return;
    }
    let mut h = Host::new();
    h.t.sh_ok(
        "set -e; ip addr add 2001:db8:ff::1/64 dev wan0 nodad && ip -n wan addr add 2001:db8:ff::2/64 dev eth0 nodad
         ip -n wan route add default via 2001:db8:ff::1 && ip route add default via 2001:db8:ff::2",
    );
    let lab = TempTopology::new(
        "fw-v6",
        "[lab]\nname = \"six\"\n[networks.n6]\nsubnet = \"fd00:17::/64\"\nnat = true\n\
         [nodes.web]\nnetwork = \"n6\"\nports = [\"8080:80\", \"8081:81/udp\", \"[2001:db8:ff::1]:8443:80\"]\n",
    );
    h.up(&lab.path);
    // The node's and the bridge's addresses are there once DAD is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.t.in_netns("six-web", "ip -6 addr show tentative").stdout.is_empty()
        || !h.t.sh_ok("ip -6 addr show tentative").is_empty()
    {
        assert!(Instant::now() < deadline, "the node's IPv6 address stayed tentative");
        std::thread::sleep(Duration::from_millis(100));
    }
    h.serve("six-web", "web", &[80, 81]);
    assert_eq!(h.tcp("wan", "[2001:db8:ff::1]", 8080).as_deref(), Some("web tcp sees 2001:db8:ff::2"));
    assert_eq!(h.udp("wan", "2001:db8:ff::1", 8081).as_deref(), Some("web udp sees 2001:db8:ff::2"));
    assert_eq!(h.tcp("wan", "[2001:db8:ff::1]", 8443).as_deref(), Some("web tcp sees 2001:db8:ff::2"));
    assert_eq!(h.t.netlab_ok(&["port", &lab.path, "web", "80"]), "[::]:8080\n[2001:db8:ff::1]:8443\n");
    // The host reaches its own IPv6 address; ::1 stays the host's (nothing listens: refused).
    assert!(h.tcp("", "[2001:db8:ff::1]", 8080).is_some_and(|a| a.starts_with("web tcp sees")));
    assert_eq!(h.tcp("", "[::1]", 8080), None);
    // Outbound IPv6 is masqueraded to the host's address on the way out.
    assert_eq!(h.tcp("six-web", "[2001:db8:ff::2]", 80).as_deref(), Some("wan tcp sees 2001:db8:ff::1"));
    // The outside cannot reach the node's address directly, even with a route to it.
    h.t.sh_ok("ip -n wan route add fd00:17::/64 via 2001:db8:ff::1");
    assert_eq!(h.tcp("wan", "[fd00:17::2]", 80), None);
    h.t.netlab_ok(&["down", &lab.path]);
    assert_eq!(h.t.sh_ok("cat /proc/sys/net/ipv6/conf/all/forwarding"), "0\n");
    h.assert_clean(&["fd00:17::"]);
}

/// A nat network inside a node (`in = NODE`, like cni0 on a Kubernetes node): its table,
/// forwarding and NAT are in that node's namespace, and the host's firewall is untouched.
#[test]
fn a_nat_network_inside_a_node_has_its_firewall_there() {
    if skip_unless_root("a_nat_network_inside_a_node_has_its_firewall_there") {
        return;
    }
    let mut h = Host::new();
    let lab = TempTopology::new(
        "fw-in-node",
        r#"[lab]
name = "k8s"
[networks.nodes]
subnet = "10.0.0.0/24"
[networks.pods]
subnet = "10.42.1.0/24"
in = "node1"
nat = true
[nodes.node1]
network = "nodes"
[nodes.node2]
network = "nodes"
[nodes.pod]
network = "pods"
ports = ["30080:80"]
"#,
    );
    h.up(&lab.path);
    assert_eq!(h.t.sh_ok("nft list tables"), "", "the host has no table of the lab's");
    assert_eq!(h.t.in_netns("k8s-node1", "nft list tables").stdout, b"table inet netlab-k8s\n");
    assert_eq!(h.t.in_netns("k8s-node1", "cat /proc/sys/net/ipv4/ip_forward").stdout, b"1\n");
    // The node's forwarding is the node's: the host's is untouched and shared with nobody.
    assert_eq!(h.t.sh_ok("cat /proc/sys/net/ipv4/ip_forward"), "0\n");
    let status = h.t.netlab_ok(&["status", &lab.path]);
    assert!(!status.contains("host sysctl"), "{status}");
    h.serve("k8s-pod", "pod", &[80]);
    h.serve("k8s-node2", "node2", &[80]);
    // The pod reaches node2 masqueraded as node1; node2 reaches the pod's port on node1.
    assert_eq!(h.tcp("k8s-pod", "10.0.0.3", 80).as_deref(), Some("node2 tcp sees 10.0.0.2"));
    assert_eq!(h.tcp("k8s-node2", "10.0.0.2", 30080).as_deref(), Some("pod tcp sees 10.0.0.3"));
    // ... but not the pod itself.
    h.t.in_netns("k8s-node2", "ip route add 10.42.1.0/24 via 10.0.0.2");
    assert_eq!(h.tcp("k8s-node2", "10.42.1.2", 80), None);
    assert_eq!(h.t.netlab_ok(&["port", &lab.path, "pod"]), "80/tcp -> 0.0.0.0:30080    (in namespace k8s-node1)\n");
    h.t.netlab_ok(&["down", &lab.path]);
    h.assert_clean(&["10.42.1.0/24", "10.0.0.0/24"]);
}

/// A container-mode node publishes its target's ports, as `docker run --network
/// container:web -p 9090:90` does: the DNAT goes to the target's address, where the
/// sidecar's server listens in the namespace they share.
#[test]
fn a_container_mode_node_publishes_its_targets_ports() {
    if skip_unless_root("a_container_mode_node_publishes_its_targets_ports") {
        return;
    }
    let mut h = Host::new();
    let lab = TempTopology::new(
        "fw-sidecar",
        "[lab]\nname = \"sc\"\n[networks.n]\nsubnet = \"172.22.0.0/24\"\nnat = true\n\
         [nodes.web]\nnetwork = \"n\"\n[nodes.side]\nnetwork = \"container:web\"\nports = [\"9090:90\"]\n",
    );
    h.up(&lab.path);
    h.serve("sc-side", "side", &[90]);
    assert_eq!(h.tcp("wan", "203.0.113.1", 9090).as_deref(), Some("side tcp sees 203.0.113.2"));
    assert_eq!(h.tcp("", "127.0.0.1", 9090).as_deref(), Some("side tcp sees 172.22.0.1"));
    assert_eq!(h.t.netlab_ok(&["port", &lab.path, "side"]), "90/tcp -> 0.0.0.0:9090\n");
    h.t.netlab_ok(&["down", &lab.path]);
    h.assert_clean(&["172.22.0.0/24"]);
}
