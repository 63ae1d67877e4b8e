//! `netlab up` and `down` on every shipped topology this kernel can run, each in its own
//! throwaway host: the lab comes up, real traffic proves the scenario, a second `up`
//! changes nothing, and `down` leaves nothing behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{skip_unless_root, topology, Throwaway, NETLAB};

/// The inode of each name under /run/netns: a namespace's identity.
fn netns_inodes(host: &Throwaway) -> String {
    host.sh_ok("ls -i /run/netns | sort -k2")
}

/// Ifindex and name of every link in a namespace ("" is the host).
fn ifindexes(host: &Throwaway, netns: &str) -> String {
    let n = if netns.is_empty() { String::new() } else { format!("-n {netns}") };
    host.sh_ok(&format!("ip {n} -o link show | cut -d: -f1,2"))
}

/// A second `up` must change nothing and say so; namespaces and links keep their identity.
fn assert_second_up_changes_nothing(host: &Throwaway, file: &str, some_netns: &str) {
    let (inodes, links) = (netns_inodes(host), ifindexes(host, some_netns));
    let out = host.up(file);
    assert!(out.contains("is up to date: nothing to change"), "second up: {out}");
    assert_eq!(netns_inodes(host), inodes, "a second up replaced a namespace");
    assert_eq!(ifindexes(host, some_netns), links, "a second up replaced a link");
    host.netlab_exits(0, &["diff", file]);
}

#[test]
fn veth_pair_pings_and_leaves_nothing() {
    if skip_unless_root("veth-pair") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    let out = host.up(&file);
    assert!(out.contains("veth add") && out.contains("lab veth-pair is up"), "{out}");

    // Named like `ip netns add` makes them, usable by `ip netns exec`.
    assert_eq!(
        host.sh_ok("ip netns list | cut -d' ' -f1 | sort").split_whitespace().collect::<Vec<_>>(),
        ["ns0", "ns1"]
    );
    assert!(host.pings("ns1", "10.0.0.1"), "ns1 cannot ping ns0 over the veth pair");
    assert!(host.pings("ns0", "127.0.0.1"), "lo is not up in ns0");
    // Each end was born in its own namespace.
    assert!(host.sh_ok("ip -n ns0 -o link show veth0").contains("veth0"));
    assert!(host.sh_ok("ip -n ns1 -o addr show veth1").contains("10.0.0.2/24"));

    assert_second_up_changes_nothing(&host, &file, "ns0");
    host.down_and_check(&file);
}

#[test]
fn docker_modes_behave_like_docker() {
    if skip_unless_root("docker-modes") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.up(&file);

    // bridge mode: addresses in order, the gateway and each other reachable.
    assert!(host.sh_ok("ip -n docker-web -o -4 addr show dev eth0").contains("172.17.0.2/16"));
    assert!(host.sh_ok("ip -n docker-db -o -4 addr show dev eth0").contains("172.17.0.3/16"));
    assert!(host.sh_ok("ip -n docker-app -o -4 addr show dev eth0").contains("192.168.2.2/24"));
    assert!(host.pings("docker-web", "172.17.0.1"), "web cannot reach its gateway");
    assert!(host.pings("docker-web", "172.17.0.3"), "web cannot reach db");
    assert!(host.pings("docker-app", "192.168.2.1"), "app cannot reach br0's gateway");
    // br0 and the default bridge cannot reach each other: the host does not forward.
    assert!(!host.pings("docker-web", "192.168.2.2"), "web reached app across bridges");
    assert!(!host.pings("docker-app", "172.17.0.2"), "app reached web across bridges");

    // container mode: the same stack (same eth0 address), and 127.0.0.1 reaches web's server.
    assert_eq!(
        host.sh_ok("ip -n docker-sidecar -o -4 addr show dev eth0 | awk '{print $4}'"),
        host.sh_ok("ip -n docker-web -o -4 addr show dev eth0 | awk '{print $4}'")
    );
    let mut server = host
        .command("ip")
        .args(["netns", "exec", "docker-web", "sh", "-c", "echo hello-from-web | nc -l -N 127.0.0.1 8080"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = String::new();
    for _ in 0..50 {
        let out = host.in_netns("docker-sidecar", "nc -N -w 2 127.0.0.1 8080 </dev/null");
        got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got.contains("hello-from-web") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(got.contains("hello-from-web"), "sidecar did not reach web's server on 127.0.0.1: {got:?}");

    // none mode: only lo. host mode: the host's own links.
    let isolated = host.netlab_ok(&["exec", &file, "isolated", "--", "ls", "/sys/class/net"]);
    assert_eq!(isolated.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let hostnet = host.netlab_ok(&["exec", &file, "hostnet", "--", "ls", "/sys/class/net"]);
    assert!(hostnet.contains("docker0") && hostnet.contains("br0"), "{hostnet}");

    // --hostname, --dns, --add-host, through the node's /etc/netns files.
    let hosts = host.netlab_ok(&["exec", &file, "web", "--", "getent", "hosts", "web"]);
    assert!(hosts.starts_with("172.17.0.2"), "hostname does not resolve inside web: {hosts}");
    let extra = host.netlab_ok(&["exec", &file, "web", "--", "getent", "ahostsv4", "www.a.com"]);
    assert!(extra.starts_with("1.1.1.1"), "{extra}");
    let resolv = host.netlab_ok(&["exec", &file, "web", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv.trim(), "nameserver 114.114.114.114");

    assert_second_up_changes_nothing(&host, &file, "docker-web");
    host.down_and_check(&file);
}

#[test]
fn k8s_pods_reach_each_other_across_nodes() {
    if skip_unless_root("k8s-pods") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("k8s-pods.toml");
    host.up(&file);

    // The pod's eth0 has the CNI's mtu and an address from its node's CIDR.
    let eth0 = host.sh_ok("ip -n k8s-pod-1a -o addr show dev eth0; ip -n k8s-pod-1a -o link show dev eth0");
    assert!(eth0.contains("10.42.1.2/24") && eth0.contains("mtu 1450"), "{eth0}");
    // The bridge cni0 lives inside the node, not in the host.
    assert!(host.sh_ok("ip -n k8s-node1 -o link show cni0").contains("cni0"));
    assert!(!host.sh("ip -o link show cni0").status.success(), "cni0 must not be in the host");

    // Same node, and across nodes through the nodes' routes: ping and a TCP echo.
    assert!(host.pings("k8s-pod-1a", "10.42.1.3"), "pods on one node cannot talk");
    assert!(host.pings("k8s-pod-1a", "10.42.3.14"), "pod on node 1 cannot reach pod on node 3");
    let server = host
        .command("ip")
        .args(["netns", "exec", "k8s-pod-3a", "sh", "-c", "nc -l -N 10.42.3.14 7000 | tr a-z A-Z"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ok = false;
    for _ in 0..50 {
        if host.in_netns("k8s-pod-1a", "echo across-nodes | nc -N -w 2 10.42.3.14 7000").status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Before waiting: a server no one reached would never end.
    assert!(ok, "no TCP connection from pod-1a to pod-3a");
    let echoed = server.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&echoed.stdout).trim(), "ACROSS-NODES");

    assert_second_up_changes_nothing(&host, &file, "k8s-node1");
    host.down_and_check(&file);
}

#[test]
fn redis_cluster_nodes_all_reach_each_other() {
    if skip_unless_root("redis-cluster") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("redis-cluster.toml");
    host.up(&file);
    // Every node pings every other, all at once.
    let script = (1..=6)
        .flat_map(|a| (1..=6).filter(move |b| *b != a).map(move |b| (a, b)))
        .map(|(a, b)| {
            format!(
                "ip netns exec redis-redis{a} ping -c1 -W2 -q 10.77.0.{} >/dev/null || echo 'redis{a} -> redis{b}' &",
                b + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let failed = host.sh_ok(&format!("{script}\nwait"));
    assert!(failed.trim().is_empty(), "these pairs cannot reach each other:\n{failed}");
    let name = host.netlab_ok(&["exec", &file, "redis4", "--", "getent", "hosts", "redis4"]);
    assert!(name.starts_with("10.77.0.5"), "{name}");
    assert_second_up_changes_nothing(&host, &file, "redis-redis1");
    host.down_and_check(&file);
}

/// `up` prints each op as it is applied, so a person (or a test) sees progress; the first
/// lines arrive before the run is over.
#[test]
fn up_prints_ops_as_they_are_applied() {
    if skip_unless_root("up output") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("redis-cluster.toml");
    let mut child = host.command(NETLAB).args(["up", &file]).stdout(Stdio::piped()).spawn().unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap()).lines().map(Result::unwrap).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines[0], "# lab redis: applying 66 ops");
    assert!(lines[1].trim_start().starts_with("1  netns add"), "{}", lines[1]);
    assert!(lines.last().unwrap().starts_with("lab redis is up: 66 ops in"), "{lines:?}");
    host.down_and_check(&file);
}
