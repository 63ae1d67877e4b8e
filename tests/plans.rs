//! Snapshot tests of the plans of every shipped topology, and the JSON and iproute2 forms.

use std::path::{Path, PathBuf};

use netlab::plan::{self, compile, Plan};

fn topologies() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("topologies/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the six scenarios are shipped: {files:?}");
    files
}

fn up_plan(path: &Path) -> Plan {
    match netlab::load(path) {
        Ok(t) => compile(&t),
        Err(e) => panic!("{} does not validate:\n{e}", path.display()),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().expect("file name").to_string_lossy().into_owned()
}

#[test]
fn text_plans_of_every_topology_match_their_snapshots() {
    for path in topologies() {
        let up = up_plan(&path);
        insta::assert_snapshot!(format!("{}.up", stem(&path)), plan::text::render(&up));
        insta::assert_snapshot!(format!("{}.down", stem(&path)), plan::text::render(&up.teardown()));
    }
}

/// insta fails on a missing snapshot too, but this says plainly what to do.
#[test]
fn every_topology_has_checked_in_snapshots() {
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    for path in topologies() {
        for direction in ["up", "down"] {
            let snap = snapshots.join(format!("plans__{}.{direction}.snap", stem(&path)));
            assert!(
                snap.exists(),
                "{} has no {direction} plan snapshot ({}); run `cargo insta test --accept` and review it",
                path.display(),
                snap.display()
            );
        }
    }
}

#[test]
fn json_plans_have_the_documented_shape() {
    let known_ops = [
        "netns_add",
        "netns_alias",
        "netns_del",
        "sysctl_set",
        "sysctl_restore",
        "file_write",
        "file_remove",
        "bridge_add",
        "veth_add",
        "vxlan_add",
        "ipip_add",
        "tun_add",
        "link_del",
        "link_set_master",
        "link_set_nomaster",
        "link_up",
        "link_down",
        "addr_add",
        "addr_del",
        "route_add",
        "route_del",
        "forwarder_start",
        "forwarder_stop",
        "conntrack_flush",
        "nft_table_add",
        "nft_table_del",
        "nft_rule_add",
        "nft_rule_del",
        "link_set_hairpin",
        "link_set_class",
        "qdisc_replace",
        "qdisc_del",
        "drop_set",
        "drop_del",
        "relay_start",
        "relay_stop",
        "relay_set",
        "supervisor_start",
        "supervisor_stop",
        "process_start",
        "process_stop",
        "exec",
    ];
    for path in topologies() {
        let up = up_plan(&path);
        for plan in [&up, &up.teardown()] {
            let json: serde_json::Value = serde_json::to_value(plan).expect("a plan serialises");
            assert_eq!(json["version"], 1);
            assert_eq!(json["lab"], up.lab.as_str());
            assert!(json["direction"] == "up" || json["direction"] == "down");
            let ops = json["ops"].as_array().expect("ops is an array");
            assert_eq!(ops.len(), plan.ops.len());
            for op in ops {
                let name = op["op"].as_str().expect("every op has a string `op`");
                assert!(known_ops.contains(&name), "undocumented op {name}");
                let netns = &op["netns"];
                assert!(netns.is_null() || netns.is_string(), "netns is null (root) or a name: {op}");
            }
        }
    }
    let ipip = up_plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ipip.toml"));
    insta::assert_json_snapshot!("ipip.json", ipip);
}

#[test]
fn the_cli_prints_json_that_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/docker-modes.toml");
    let out = assert_cmd::Command::cargo_bin("netlab")
        .unwrap()
        .args(["plan", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["lab"], "docker");
    assert_eq!(json["ops"][0], serde_json::json!({"op": "netns_add", "netns": "docker-web"}));
    let alias = json["ops"].as_array().unwrap().iter().find(|op| op["op"] == "netns_alias").expect("sidecar alias");
    assert_eq!(alias["target"], "docker-web");
}

/// Rewrites the forms the article uses into the forms netlab prints, so the two can be
/// compared command by command: `ip netns exec NS ip X` is `ip -n NS X`, `route add -net`
/// is `ip route add`, `echo 1 > /proc/sys/...` is `sysctl -qw`.
fn normalise_article(cmd: &str) -> String {
    let cmd = cmd.trim();
    if let Some(rest) = cmd.strip_prefix("echo 1 > /proc/sys/") {
        return format!("sysctl -qw {}=1", rest.replace('/', "."));
    }
    let (ns, cmd) = match cmd.strip_prefix("ip netns exec ") {
        Some(rest) => {
            let (ns, inner) = rest.split_once(' ').expect("a command after the namespace");
            (Some(ns), inner.to_string())
        }
        None => (None, cmd.to_string()),
    };
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let cmd = match words.as_slice() {
        ["route", "add", "-net", net, "netmask", mask, "gw", gw] => {
            let prefix = mask.split('.').map(|o| o.parse::<u8>().unwrap().count_ones()).sum::<u32>();
            format!("ip route add {net}/{prefix} via {gw}")
        }
        ["ip", "link", "set", dev, "up"] => format!("ip link set dev {dev} up"),
        _ => cmd,
    };
    match ns {
        Some(ns) => cmd.replacen("ip ", &format!("ip -n {ns} "), 1),
        None => cmd,
    }
}

#[test]
fn the_ip_script_of_ipip_is_the_articles_commands() {
    // SCENARIOS.md, scenario 3, as run by hand.
    let article = "\
ip netns add ns1
ip netns add ns2
ip link add v1 netns ns1 type veth peer name v1-P
ip link add v2 netns ns2 type veth peer name v2-P
ip addr add 10.10.10.1/24 dev v1-P
ip link set v1-P up
ip addr add 10.10.20.1/24 dev v2-P
ip link set v2-P up
ip netns exec ns1 ip addr add 10.10.10.2/24 dev v1
ip netns exec ns1 ip link set v1 up
ip netns exec ns2 ip addr add 10.10.20.2/24 dev v2
ip netns exec ns2 ip link set v2 up
echo 1 > /proc/sys/net/ipv4/ip_forward
ip netns exec ns1 route add -net 10.10.20.0 netmask 255.255.255.0 gw 10.10.10.1
ip netns exec ns2 route add -net 10.10.10.0 netmask 255.255.255.0 gw 10.10.20.1
ip netns exec ns1 ip tunnel add tunl mode ipip remote 10.10.20.2 local 10.10.10.2
ip netns exec ns1 ip link set tunl up
ip netns exec ns1 ip addr add 10.10.100.10 peer 10.10.200.10 dev tunl
ip netns exec ns2 ip tunnel add tunr mode ipip remote 10.10.10.2 local 10.10.20.2
ip netns exec ns2 ip link set tunr up
ip netns exec ns2 ip addr add 10.10.200.10 peer 10.10.100.10 dev tunr";
    let mut expected: Vec<String> = article.lines().map(normalise_article).collect();
    let plan = up_plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ipip.toml"));
    let script = plan::ip::render(&plan);
    let mut ours: Vec<String> =
        script.lines().filter(|l| !l.starts_with('#') && *l != "set -e").map(String::from).collect();
    // netlab brings up lo in every namespace it makes; the article's lab never needed it.
    // And the lab's [host] forwards: its host-side links are in the routing class, which a
    // nat lab's forwarding guard lets through (the article's host had no such guard).
    let extra: Vec<String> = ours.iter().filter(|l| !expected.contains(l)).cloned().collect();
    assert_eq!(
        extra,
        [
            "ip link set dev v1-P group 0x24bb11c7",
            "ip link set dev v2-P group 0x24bb11c7",
            "ip -n ns1 link set dev lo up",
            "ip -n ns2 link set dev lo up"
        ],
        "commands the article does not have"
    );
    ours.retain(|l| !extra.contains(l));
    expected.sort();
    ours.sort();
    assert_eq!(ours, expected, "the ip script differs from the article's commands");
}

/// On a kernel without ipip, `auto` ipip tunnels become TUN devices (mtu: the underlay's
/// less the outer header) and netlab's forwarders; `plan` says so in a note.
#[test]
fn ipip_on_a_kernel_without_it_is_userspace() {
    let t = netlab::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ipip.toml")).unwrap();
    let up = plan::compile_for(&t, plan::Capabilities { ipip: false, ..plan::Capabilities::FULL });
    insta::assert_snapshot!("ipip.userspace.up", plan::text::render(&up));
    insta::assert_snapshot!("ipip.userspace.down", plan::text::render(&up.teardown()));
    // mode = "kernel" stays the kernel's whatever the machine: `up` refuses it there.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ipip.toml")).unwrap();
    let kernel =
        netlab::load_str("ipip-kernel.toml", &text.replace("kind = \"ipip\"", "kind = \"ipip\"\nmode = \"kernel\""))
            .unwrap();
    let up = plan::compile_for(&kernel, plan::Capabilities { ipip: false, ..plan::Capabilities::FULL });
    assert!(up.ops.iter().any(|op| matches!(op, plan::Op::IpipAdd { .. })) && up.notes.is_empty());
}

/// Impaired links: on a kernel with everything, the mobile node's delay is netem's and the
/// backup line's rate tbf's with an nftables drop; without netem (this machine) the delay
/// is the relay's too, and `plan` says why. A seed is always the relay's.
#[test]
fn impairments_in_the_kernel_or_in_userspace() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/wan.toml");
    let t = netlab::load(&path).unwrap();
    let full = plan::compile(&t);
    let relays = |p: &Plan| p.ops.iter().filter(|op| matches!(op, plan::Op::RelayStart { .. })).count();
    assert_eq!(relays(&full), 1, "only the seeded WAN link is in userspace on a full kernel");
    let without = plan::compile_for(&t, plan::Capabilities { netem: false, ..plan::Capabilities::FULL });
    assert_eq!(relays(&without), 2);
    insta::assert_snapshot!("wan.no-netem.up", plan::text::render(&without));
    insta::assert_snapshot!("wan.ip", plan::ip::render(&full));
    insta::assert_json_snapshot!("wan.json", full);
    // mode = "kernel" stays the kernel's: `up` refuses it on a kernel without netem.
    let text = std::fs::read_to_string(&path).unwrap();
    let kernel = text.replace("distribution = \"normal\", loss = \"2%\" }", "loss = \"2%\", mode = \"kernel\" }");
    let kernel = netlab::load_str("wan-kernel.toml", &kernel).unwrap();
    let up = plan::compile_for(&kernel, plan::Capabilities { netem: false, ..plan::Capabilities::FULL });
    assert_eq!(relays(&up), 1);
    assert!(up
        .ops
        .iter()
        .any(|op| matches!(op, plan::Op::QdiscReplace { kind: netlab::impair::kernel::QdiscKind::Netem, .. })));
    assert!(up.notes.iter().all(|n| !n.contains("mobile")), "{:?}", up.notes);
}

/// A lab's programs are not network state: the iproute2 script names them in comments
/// (the oracle runs the script and compares networks only), after every command that
/// builds the network, and in the plan's order; down stops them first.
#[test]
fn the_ip_script_shows_programs_as_comments_after_the_network() {
    let plan = up_plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/redis-cluster.toml"));
    let script = plan::ip::render(&plan);
    let lines: Vec<&str> = script.lines().collect();
    let programs: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i].starts_with("# not network state: netlab ")).collect();
    let kinds: Vec<&str> = programs
        .iter()
        .map(|&i| lines[i]["# not network state: netlab ".len()..].split(" in ").next().unwrap())
        .collect();
    assert_eq!(kinds, [&["supervisor start"][..], &["process start"; 6], &["exec"; 2]].concat());
    let last_command = lines.iter().rposition(|l| !l.starts_with('#')).unwrap();
    assert!(last_command < programs[0], "a command after the programs: {}", lines[last_command]);
    assert!(
        !lines.iter().any(|l| !l.starts_with('#') && (l.contains("redis-server") || l.contains("redis-cli"))),
        "a program in a command"
    );
    let down = plan::ip::render(&plan.teardown());
    let first_command = down.lines().position(|l| !l.starts_with('#') && l != "set -e").unwrap();
    assert!(
        down.lines().take(first_command).filter(|l| l.contains("process stop")).count() == 6,
        "the processes stop before the network goes:\n{down}"
    );
}
