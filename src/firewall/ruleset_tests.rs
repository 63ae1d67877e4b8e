use super::*;
use crate::firewall::ports;

/// Every rule drops, or rewrites on conditions of its own: none accepts (an accept would
/// make the rules after it matter, and the order of a chain's rules must not).
#[test]
fn no_rule_depends_on_the_rules_before_it() {
    let mut lab = docker_lab();
    lab.networks[1].icc = false;
    for t in compute(&lab).tables {
        for r in &t.rules {
            assert!(!r.text.contains("accept") && !r.text.contains("return"), "{}", r.text);
            // nft compares a bitmask with `!=` as a whole value: `ct status != dnat` is
            // true of every DNATed connection (it has other bits too).
            assert!(!r.text.contains("ct status !="), "{}", r.text);
        }
    }
}

/// docker-modes.toml with `nat = true` on docker0 and br0 and `ports = ["8080:80"]` on web.
pub(crate) fn docker_lab() -> LabFirewall {
    let net = |name: &str, bridge: &str, v4: &str, ports: &[&str]| Network {
        name: name.into(),
        bridge: bridge.into(),
        v4: Some(v4.parse().unwrap()),
        v6: None,
        nat: true,
        icc: true,
        place: Place::Host,
        ports: ports.iter().map(|p| p.to_string()).collect(),
    };
    LabFirewall {
        lab: "docker".into(),
        networks: vec![
            net("docker0", "docker0", "172.17.0.0/16", &["vethweb", "vethdb"]),
            net("br0", "br0", "192.168.2.0/24", &["vethapp"]),
        ],
        published: vec![Published {
            node: "web".into(),
            network: "docker0".into(),
            binding: ports::parse("8080:80").unwrap().bindings()[0],
            node_v4: Some("172.17.0.2".parse().unwrap()),
            node_v6: None,
            bridge_port: "vethweb".into(),
        }],
        guards: vec![(Place::Host, Guard { v4: true, v6: true })],
        plain_bridges: vec![],
    }
}

fn script(rs: &Ruleset) -> String {
    rs.tables.iter().map(|t| t.script("netlab:docker")).collect()
}

#[test]
fn docker_modes_ruleset() {
    let rs = compute(&docker_lab());
    assert_eq!(rs.tables.len(), 1, "icc is on everywhere: no bridge table");
    insta::assert_snapshot!(script(&rs));
    assert_eq!(
        rs.requirements,
        [
            Requirement::Sysctl {
                place: Place::Host,
                key: "net.ipv4.conf.docker0.route_localnet".into(),
                value: "1".into()
            },
            Requirement::Hairpin { place: Place::Host, port: "vethweb".into() },
        ]
    );
}

#[test]
fn comments_are_unique_and_change_with_the_rule() {
    let rs = compute(&docker_lab());
    let mut comments: Vec<&str> = rs.tables.iter().flat_map(|t| &t.rules).map(|r| r.comment.as_str()).collect();
    let n = comments.len();
    comments.sort();
    comments.dedup();
    assert_eq!(comments.len(), n, "two rules share an identity");

    let mut moved = docker_lab();
    moved.published[0].node_v4 = Some("172.17.0.9".parse().unwrap());
    let a = dnat_rules(&docker_lab().published[0]);
    let b = dnat_rules(&moved.published[0]);
    assert_ne!(a[0].comment, b[0].comment, "a rule whose text changed keeps its identity");
    assert!(a[0].comment.starts_with("web: *:8080->80/tcp (ipv4) #"), "{}", a[0].comment);
    assert!(rs.tables.iter().flat_map(|t| &t.rules).all(|r| r.comment.len() <= COMMENT_MAX), "comments fit nft's");
}

#[test]
fn a_port_bound_to_one_address_matches_only_it() {
    let mut lab = docker_lab();
    lab.published[0].binding = ports::parse("192.168.249.131:8080:80/udp").unwrap().bindings()[0];
    let rules = dnat_rules(&lab.published[0]);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].text, "ip daddr 192.168.249.131 udp dport 8080 dnat ip to 172.17.0.2:80");
    // No localhost: no route_localnet, no CVE guard, no localhost masquerade.
    let rs = compute(&lab);
    assert!(!rs.requirements.iter().any(|r| matches!(r, Requirement::Sysctl { .. })));
    assert!(!script(&rs).contains("127.0.0.0/8"));
}

#[test]
fn ipv6_bindings_use_the_nodes_ipv6_address() {
    let mut lab = docker_lab();
    lab.networks[0].v6 = Some("fd00:17::/64".parse().unwrap());
    lab.published[0].node_v6 = Some("fd00:17::2".parse().unwrap());
    let both = dnat_rules(&lab.published[0]);
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].text, "meta nfproto ipv6 tcp dport 8080 dnat ip6 to [fd00:17::2]:80");
    lab.published[0].binding = ports::parse("[2001:db8::1]:8443:443").unwrap().bindings()[0];
    let one = dnat_rules(&lab.published[0]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].text, "ip6 daddr 2001:db8::1 tcp dport 8443 dnat ip6 to [fd00:17::2]:443");
    let s = script(&compute(&lab));
    assert!(s.contains("ip6 saddr fd00:17::/64 oifname != \"docker0\" masquerade"), "{s}");
}

#[test]
fn icc_false_is_a_bridge_table_with_a_rule_per_port() {
    let mut lab = docker_lab();
    lab.networks[0].icc = false;
    let rs = compute(&lab);
    let bridge = rs.tables.iter().find(|t| t.family == Family::Bridge).expect("a bridge table");
    let texts: Vec<&str> = bridge.rules.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["iifname \"vethweb\" drop", "iifname \"vethdb\" drop"]);
    assert_eq!(bridge.id(), "bridge netlab-docker");
    assert_eq!(bridge.chains, bridge_chains());
    // Also on a network without nat: a bridge table alone.
    lab.networks[0].nat = false;
    lab.networks.truncate(1);
    let rs = compute(&lab);
    assert_eq!(rs.tables.len(), 1);
    assert_eq!(rs.tables[0].family, Family::Bridge);
}

#[test]
fn the_chains_are_the_same_whatever_the_rules() {
    let mut lab = docker_lab();
    let with = compute(&lab).tables.remove(0);
    lab.published.clear();
    let without = compute(&lab).tables.remove(0);
    assert_eq!(with.chains, without.chains);
    assert_eq!(with.chains, inet_chains());
    assert!(without.rules.iter().all(|r| r.chain != "published" && r.chain != "prerouting"));
    assert!(without.rules.iter().any(|r| r.text.contains("masquerade")));
}

#[test]
fn guard_follows_what_was_off_before() {
    let mut lab = docker_lab();
    lab.guards = vec![];
    assert!(!script(&compute(&lab)).contains("guard"));
    lab.guards = vec![(Place::Host, Guard { v4: true, v6: false })];
    let s = script(&compute(&lab));
    assert!(s.contains("meta nfproto ipv4 meta iifgroup & 0xf0000000 != { 0x20000000, 0x30000000 }"), "{s}");
}

#[test]
fn a_nat_bridge_in_a_node_isolates_by_name() {
    let mut lab = docker_lab();
    for n in &mut lab.networks {
        n.place = Place::Netns("k8s-node1".into());
    }
    lab.guards = vec![(Place::Netns("k8s-node1".into()), Guard { v4: true, v6: false })];
    lab.plain_bridges = vec![(Place::Netns("k8s-node1".into()), "mgmt".into())];
    let rs = compute(&lab);
    assert_eq!(rs.tables[0].place, Place::Netns("k8s-node1".into()));
    let s = script(&rs);
    assert!(s.contains("iifname \"docker0\" oifname \"mgmt\" ct state != { established, related } drop"), "{s}");
    assert!(!s.contains("oifgroup & 0xf0000000 == 0x10000000"), "a node's uplinks are the lab's plain links: {s}");
}
