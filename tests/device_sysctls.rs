//! Sysctls of one device whose name has a dot, like flannel.1: the key may spell the dot
//! as it is (`net.ipv4.conf.flannel.1.rp_filter`) or as sysctl(8) does
//! (`net.ipv4.conf.flannel/1.rp_filter`); netlab prints sysctl(8)'s spelling and `up` writes
//! /proc/sys/net/ipv4/conf/flannel.1/rp_filter. Before, validate took the key and `up` failed
//! writing .../conf/flannel/1/rp_filter.

mod common;

use common::{skip_unless_root, topology, TempTopology, Throwaway};

/// Flannel's udp backend (topologies/flannel-udp.toml, whose TUN devices are flannel.1),
/// with rp_filter of flannel.1 set on both nodes, one key in each spelling.
fn flannel_with_device_sysctls() -> String {
    let text = std::fs::read_to_string(topology("flannel-udp.toml")).unwrap();
    let sysctl = "sysctl = { \"net.ipv4.ip_forward\" = 1 }";
    let node1 = format!("[nodes.node1]\n{sysctl}");
    let node2 = format!("[nodes.node2]\n{sysctl}");
    assert!(text.contains(&node1) && text.contains(&node2), "flannel-udp.toml changed: update this test");
    let with = |key: &str| format!("sysctl = {{ \"net.ipv4.ip_forward\" = 1, \"{key}\" = 2 }}");
    text.replace(&node1, &format!("[nodes.node1]\n{}", with("net.ipv4.conf.flannel.1.rp_filter")))
        .replace(&node2, &format!("[nodes.node2]\n{}", with("net.ipv4.conf.flannel/1.rp_filter")))
}

#[test]
fn plan_prints_sysctl8_spelling_for_both() {
    let file = TempTopology::new("device-sysctl-plan", &flannel_with_device_sysctls());
    let out = assert_cmd::Command::cargo_bin("netlab").unwrap().args(["plan", &file.path]).output().unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for node in ["flannel-node1", "flannel-node2"] {
        let line =
            plan.lines().find(|l| l.contains(node) && l.contains("rp_filter")).unwrap_or_else(|| panic!("{plan}"));
        assert!(line.contains("net.ipv4.conf.flannel/1.rp_filter = 2"), "{line}");
    }
    // And it comes after the device it names is made.
    let line_of = |words: &[&str]| plan.lines().position(|l| words.iter().all(|w| l.contains(w)));
    let made = line_of(&["tun add", "flannel-node1", "flannel.1"]).unwrap_or_else(|| panic!("{plan}"));
    let set = line_of(&["flannel-node1", "net.ipv4.conf.flannel/1.rp_filter"]).unwrap();
    assert!(made < set, "{plan}");
}

#[test]
fn up_sets_the_device_sysctl_of_a_name_with_a_dot() {
    if skip_unless_root("device-sysctl") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("device-sysctl", &flannel_with_device_sysctls());
    host.up(&file.path);
    for node in ["flannel-node1", "flannel-node2"] {
        let out = host.in_netns(node, "cat /proc/sys/net/ipv4/conf/flannel.1/rp_filter");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "{node}: {out:?}");
    }
    let diff = host.netlab(&["diff", &file.path]);
    assert!(diff.status.success(), "a lab just up differs from its file: {diff:?}");
    host.down_and_check(&file.path);
}

#[test]
fn a_device_sysctl_names_an_interface_of_the_node() {
    let text = flannel_with_device_sysctls().replace("flannel/1.rp_filter", "flannel/2.rp_filter");
    let file = TempTopology::new("device-sysctl-unknown", &text);
    let out = assert_cmd::Command::cargo_bin("netlab").unwrap().args(["validate", &file.path]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sysctl net.ipv4.conf.flannel/2.rp_filter is for device `flannel.2`, which is not an interface of flannel-node2"),
        "{err}"
    );
    assert!(err.contains("did you mean `flannel.1`?"), "{err}");
}
