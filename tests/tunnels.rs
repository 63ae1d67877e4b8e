//! Userspace tunnels run by `netlab up`: Flannel's udp backend (SCENARIOS.md 4), ipip on a
//! kernel without the ipip module (SCENARIOS.md 3), a three-node udp mesh, and what
//! happens when a forwarder dies. The wire formats are checked with tcpdump on the
//! underlay; after `down`, no forwarder, TUN device or pid file is left.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};

use common::{skip_unless_root, test_lab, topology, TempTopology, Throwaway};

/// tcpdump in `netns` ("" for the host) on `dev`, printing each packet and its bytes in
/// hex; returns once it is capturing.
fn capture(host: &Throwaway, netns: &str, dev: &str, filter: &str, count: usize) -> (Child, BufReader<ChildStdout>) {
    let prefix = if netns.is_empty() { String::new() } else { format!("ip netns exec {netns} ") };
    let mut child = host
        .command("sh")
        .args(["-c", &format!("exec {prefix}timeout 10 tcpdump -l -nn -x -i {dev} -c {count} {filter} 2>&1")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tcpdump");
    // tcpdump says "listening on ..." once the capture is open.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "tcpdump did not start");
    }
    (child, out)
}

fn captured((mut child, mut out): (Child, BufReader<ChildStdout>)) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).unwrap();
    let _ = child.wait();
    text
}

/// The hex tcpdump prints, without offsets and spaces: to look for bytes in payloads.
fn hex_of(dump: &str) -> String {
    dump.lines()
        .filter_map(|l| l.trim().strip_prefix("0x").map(|rest| rest.split_once(':').map_or("", |(_, h)| h).to_string()))
        .collect::<Vec<_>>()
        .join("")
        .replace(' ', "")
}

#[test]
fn flannel_udp_carries_pod_traffic_between_nodes_in_udp() {
    if skip_unless_root("flannel-udp") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("flannel-udp.toml");
    let out = host.up(&file);
    assert!(out.contains("forwarder start") && out.contains("flannel.1 mtu 1472"), "{out}");

    let dump = capture(&host, "flannel-node1", "enp0s3", "udp port 8285", 2);
    assert!(host.pings("flannel-pod-a", "10.244.2.5"), "pod-a cannot reach pod-b across the udp tunnel");
    let dump = captured(dump);
    // Node IP to node IP on flannel's port, and the pod addresses inside the payload
    // (10.244.1.2 = 0af40102, 10.244.2.5 = 0af40205).
    assert!(dump.contains("192.168.1.2.8285 > 192.168.1.3.8285: UDP"), "{dump}");
    assert!(dump.contains("192.168.1.3.8285 > 192.168.1.2.8285: UDP"), "{dump}");
    assert!(hex_of(&dump).contains("0af401020af40205"), "the pod addresses are not in the payload:\n{dump}");

    let status = host.netlab_ok(&["status", &file]);
    assert!(status.contains("forwarder udp flannel-node1:flannel.1: running (pid"), "{status}");
    host.down_and_check(&file);
    assert!(host.sh_ok("ls /run/netlab 2>/dev/null; true").trim().is_empty());
}

#[test]
fn ipip_runs_in_userspace_where_the_kernel_has_none() {
    if skip_unless_root("ipip") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("ipip.toml");
    let kernel_has_ipip = host.sh("ip link add probe0 type ipip && ip link del probe0").status.success();
    let out = host.up(&file);
    if kernel_has_ipip {
        assert!(out.contains("ipip add"), "{out}");
    } else {
        assert!(out.contains("tun add") && out.contains("tunl ipip 10.10.10.2 -> 10.10.20.2"), "{out}");
    }
    assert!(host.pings("ns1", "10.10.20.2"), "ns1 cannot reach ns2 through the host");
    // Through the tunnel: IP in IP between the underlay addresses, as in the article.
    let dump = capture(&host, "", "v1-P", "ip proto 4", 2);
    assert!(host.pings("ns1", "10.10.200.10"), "ns1 cannot reach ns2 through the tunnel");
    let dump = captured(dump);
    assert!(dump.contains("10.10.10.2 > 10.10.20.2: IP 10.10.100.10 > 10.10.200.10"), "{dump}");
    assert!(dump.contains("10.10.20.2 > 10.10.10.2: IP 10.10.200.10 > 10.10.100.10"), "{dump}");
    host.down_and_check(&file);

    // mode = "kernel" on a kernel without ipip: refused before anything is made.
    if !kernel_has_ipip {
        let text =
            std::fs::read_to_string(&file).unwrap().replace("kind = \"ipip\"", "kind = \"ipip\"\nmode = \"kernel\"");
        let kernel_only = TempTopology::new("ipip-kernel", &text);
        let (_, err) = host.netlab_exits(1, &["up", &kernel_only.path]);
        assert!(
            err.contains("cannot make ipip devices (CONFIG_NET_IPIP)") && err.contains("nothing was changed"),
            "{err}"
        );
        host.assert_empty();
    }
}

#[test]
fn a_three_node_udp_mesh_routes_by_subnet() {
    if skip_unless_root("udp mesh") {
        return;
    }
    let host = Throwaway::new();
    let file = test_lab("mesh.toml");
    host.up(&file);
    let mut failed = Vec::new();
    for from in ["a", "b", "c"] {
        for (to, addr) in [("a", "10.200.1.1"), ("b", "10.200.2.1"), ("c", "10.200.3.1")] {
            if from != to && !host.pings(&format!("mesh-{from}"), addr) {
                failed.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(failed.is_empty(), "these pairs cannot reach each other over the mesh: {failed:?}");
    // The packets went through the forwarders: a's counted its echo requests (its stats
    // file is written every second).
    let mut sent = 0;
    for _ in 0..30 {
        let stats: serde_json::Value =
            serde_json::from_str(&host.sh_ok("cat /run/netlab/mesh/mesh-a:fl0.stats")).unwrap();
        sent = stats["tx"]["packets"].as_u64().unwrap();
        if sent >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(sent >= 2, "a's forwarder sent {sent} packets");
    host.down_and_check(&file);
}

#[test]
fn a_dead_forwarder_is_reported_and_restarted() {
    if skip_unless_root("dead forwarder") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("flannel-udp.toml");
    host.up(&file);
    assert!(host.pings("flannel-pod-a", "10.244.2.5"));

    // The forwarder netlab started for node2 (by the PID it recorded) dies.
    let pid = host.sh_ok("head -n1 /run/netlab/flannel/flannel-node2:flannel.1.pid");
    host.sh_ok(&format!("kill -9 {}", pid.trim()));
    assert!(!host.pings("flannel-pod-a", "10.244.2.5"), "traffic crossed a tunnel without its forwarder");
    let (text, _) = host.netlab_exits(1, &["diff", &file]);
    assert!(
        text.contains("~ forwarder start  flannel-node2")
            && text.contains("(forwarder: file running, kernel not running)"),
        "{text}"
    );
    let status = host.netlab_ok(&["status", &file]);
    assert!(status.contains("flannel-node2:flannel.1: NOT RUNNING"), "{status}");

    let out = host.up(&file);
    assert!(out.contains("forwarder start") && out.contains("1 op"), "{out}");
    assert!(host.pings("flannel-pod-a", "10.244.2.5"), "traffic does not flow after the restart");
    host.netlab_exits(0, &["diff", &file]);
    host.down_and_check(&file);
}
