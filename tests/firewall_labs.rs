//! The firewall of several labs together and across runs (issue 13), in throwaway hosts
//! with an outside (`common::outside`): two nat labs side by side, a lab after another on
//! the same addresses (no stale NAT), a lab whose record is lost, two labs coming up at
//! the same moment.
mod common;

use common::outside::{Host, DOCKER};
use common::{skip_unless_root, TempTopology};

/// Two nat labs at once: each one's isolation holds against the other, a node reaches the
/// other lab's published port through the host and nothing else of it, a port one lab
/// publishes is refused to the other, and one lab going down leaves the other working. A
/// lab that comes up later on the same addresses does not inherit the first one's NAT.
#[test]
fn two_nat_labs() {
    if skip_unless_root("two_nat_labs") {
        return;
    }
    let mut h = Host::new();
    let docker = TempTopology::new("fw-two-a", DOCKER);
    let second =
        "[lab]\nname = \"second\"\n[networks.nat1]\nsubnet = \"172.18.0.0/16\"\ndevice = \"nat1\"\nnat = true\n\
                  [nodes.n1]\nnetwork = \"nat1\"\nports = [\"PORT\"]\n";
    let two = TempTopology::new("fw-two-b", &second.replace("PORT", "8080:80"));
    h.up(&docker.path);
    // 8080 is docker's: refused, naming the lab, and nothing was changed.
    let (_, err) = h.t.netlab_exits(1, &["up", &two.path]);
    assert!(err.contains("lab second cannot publish `8080:80` of node n1 (0.0.0.0:8080/tcp): lab docker publishes it already (node web)"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!h.t.sh_ok("ls /run/netns").contains("second-n1"));
    two.rewrite(&second.replace("PORT", "8090:80"));
    h.up(&two.path);
    h.serve("docker-web", "web", &[80]);
    h.serve("second-n1", "n1", &[80, 81]);
    let both_work = |h: &Host| {
        assert_eq!(h.tcp("wan", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 203.0.113.2"));
        assert_eq!(h.tcp("docker-web", "203.0.113.2", 80).as_deref(), Some("wan tcp sees 203.0.113.1"));
    };
    both_work(&h);
    assert_eq!(h.tcp("wan", "203.0.113.1", 8090).as_deref(), Some("n1 tcp sees 203.0.113.2"));
    assert_eq!(h.udp("second-n1", "203.0.113.2", 81).as_deref(), Some("wan udp sees 203.0.113.1"));
    // Isolation across labs, both ways; the other lab's published port is reachable.
    assert!(!h.pings("docker-web", "172.18.0.2"));
    assert!(!h.pings("second-n1", "172.17.0.2"));
    assert_eq!(h.tcp("docker-web", "203.0.113.1", 8090).as_deref(), Some("n1 tcp sees 172.18.0.1"));
    assert_eq!(h.tcp("second-n1", "203.0.113.1", 8080).as_deref(), Some("web tcp sees 172.17.0.1"));

    // Its UDP flow out stays in conntrack (30 s and more) ...
    assert!(h.t.sh_ok("conntrack -L 2>/dev/null").contains("src=172.18.0.2"));
    // ... until the second lab goes down: its table only, its conntrack entries with it.
    h.t.netlab_ok(&["down", &two.path]);
    both_work(&h);
    assert_eq!(h.t.sh_ok("nft list tables").trim(), "table inet netlab-docker");
    let entries = h.t.sh_ok("conntrack -L 2>/dev/null; true");
    assert!(!entries.contains("172.18."), "the second lab's conntrack entries stayed:\n{entries}");
    h.t.netlab_ok(&["down", &docker.path]);
    h.assert_clean(&["172.17.0.0/16", "172.18.0.0/16"]);
}

/// A lab that comes up where an earlier lab's UDP flow is still in conntrack gets its own
/// NAT, not the stale entry: the flush at down (and at up) is what CNI portmap lacked.
#[test]
fn a_new_lab_on_the_same_addresses_does_not_inherit_stale_nat() {
    if skip_unless_root("a_new_lab_on_the_same_addresses_does_not_inherit_stale_nat") {
        return;
    }
    let mut h = Host::new();
    // The same subnet and host port; the second lab's node has another address, where a
    // stale entry would not send the flow.
    let lab = |name: &str, ip: &str| {
        format!(
            "[lab]\nname = \"{name}\"\n[networks.n]\nsubnet = \"172.20.0.0/24\"\nnat = true\n\
             [nodes.n1]\nnetwork = \"n\"\nip = \"{ip}\"\nports = [\"5353:81/udp\"]\n"
        )
    };
    let first = TempTopology::new("fw-stale-a", &lab("first", "172.20.0.2"));
    let second = TempTopology::new("fw-stale-b", &lab("second", "172.20.0.5"));
    h.up(&first.path);
    h.serve("first-n1", "first", &[81]);
    // The same source port every time, as a DNS resolver's flow: one conntrack entry.
    let ask = |h: &Host| h.client("wan", "echo q | nc -u -w1 -p 40404 203.0.113.1 5353");
    assert_eq!(ask(&h).as_deref(), Some("first udp sees 203.0.113.2"));
    h.t.netlab_ok(&["down", &first.path]);
    h.stop_servers();
    h.serve("wan", "wan", &[80, 81]);
    h.up(&second.path);
    h.serve("second-n1", "second", &[81]);
    assert_eq!(ask(&h).as_deref(), Some("second udp sees 203.0.113.2"));
    h.t.netlab_ok(&["down", &second.path]);
    h.assert_clean(&["172.20.0.0/24"]);
}

/// A lab whose record cannot be read at all still goes down whole: its table is found by
/// its mark (the comment `netlab:<lab>`), as its links and namespaces are.
#[test]
fn a_lab_whose_record_is_lost_takes_its_table_down_by_its_mark() {
    if skip_unless_root("a_lab_whose_record_is_lost_takes_its_table_down_by_its_mark") {
        return;
    }
    let h = Host::new();
    let lab = TempTopology::new("fw-lost", DOCKER);
    h.up(&lab.path);
    h.t.sh_ok("nft add table inet netlab-other '{ comment \"netlab:other\"; }'");
    // A connection of a node's, as NAT would have tracked it: the record that would have
    // named its subnet is lost, so the lab's nat bridge names it.
    h.t.sh_ok("conntrack -I -p udp -s 172.17.0.2 -d 10.99.0.1 --sport 4000 --dport 53 -t 300");
    h.t.sh_ok("printf '{\"version\": 1, \"lab\": \"docker\", \"entries\": [' > /run/netlab/docker.json");
    let out = h.t.netlab_ok(&["down", "--lab", "docker"]);
    assert!(out.contains("nft table del") && out.contains("inet netlab-docker"), "{out}");
    assert!(out.contains("conntrack flush") && out.contains("172.17.0.0/16"), "{out}");
    assert_eq!(h.t.sh_ok("nft list tables"), "table inet netlab-other\n", "another lab's table stays");
    h.t.sh_ok("nft delete table inet netlab-other && sysctl -qw net.ipv4.ip_forward=0");
    h.assert_clean(&["172.17.0.0/16"]);
}

/// Two labs that come up at the same moment, each publishing a port that `up` picks, get
/// two ports, each leading to its own node: `up` plans under the host lock, with the other
/// lab's record (both picked 32768 when the lock came after the plan).
#[test]
fn two_labs_coming_up_at_once_pick_different_ports() {
    if skip_unless_root("two_labs_coming_up_at_once_pick_different_ports") {
        return;
    }
    let mut h = Host::new();
    let lab = |name: &str, n: u8| {
        TempTopology::new(
            &format!("fw-race-{name}"),
            &format!(
                "[lab]\nname = \"{name}\"\n[networks.n]\nsubnet = \"172.{n}.0.0/24\"\nnat = true\n\
                 [nodes.w]\nnetwork = \"n\"\nports = [\"80\"]\n"
            ),
        )
    };
    let (a, b) = (lab("ra", 44), lab("rb", 45));
    let netlab = common::NETLAB;
    let picked = |h: &Host, name: &str| -> u16 {
        let line = h.t.netlab_ok(&["port", "--lab", name, "w", "80/tcp"]);
        line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).expect(&line)
    };
    for round in 0..3 {
        h.t.sh_ok(&format!(
            "{netlab} up {} >/dev/null & first=$!; {netlab} up {} >/dev/null; wait $first",
            a.path, b.path
        ));
        let (pa, pb) = (picked(&h, "ra"), picked(&h, "rb"));
        assert_ne!(pa, pb, "round {round}: both labs picked host port {pa}");
        if round == 0 {
            h.serve("ra-w", "ra", &[80]);
            h.serve("rb-w", "rb", &[80]);
            assert_eq!(h.tcp("wan", "203.0.113.1", pa).as_deref(), Some("ra tcp sees 203.0.113.2"));
            assert_eq!(h.tcp("wan", "203.0.113.1", pb).as_deref(), Some("rb tcp sees 203.0.113.2"));
        }
        h.t.netlab_ok(&["down", &a.path]);
        h.t.netlab_ok(&["down", &b.path]);
    }
    h.assert_clean(&["172.44.0.0/24", "172.45.0.0/24"]);
}
