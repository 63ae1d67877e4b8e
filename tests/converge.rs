//! A lab is not built once: its file is edited, links are cut, people change things by
//! hand. `diff` shows exactly what differs and `up` applies exactly that, leaving the
//! rest alone (same namespace inodes, same ifindexes). In the spirit of containerlab's
//! apply tests.

mod common;

use common::{skip_unless_root, TempTopology, Throwaway};

const BASE: &str = r#"
[lab]
name = "conv"

[networks.lan]
subnet = "10.20.0.0/24"

[nodes.a]
network = "lan"

[nodes.b]
network = "lan"

[nodes.r]
sysctl = { "net.ipv4.ip_forward" = 1 }

[[links]]
endpoints = ["a:p1", "r:p1"]
addresses = ["10.30.0.1/30", "10.30.0.2/30"]
"#;

/// `diff` output and exit code.
fn diff(host: &Throwaway, file: &str) -> (i32, String) {
    let out = host.netlab(&["diff", file]);
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The change lines of `diff`, trimmed of alignment, sorted.
fn changes(host: &Throwaway, file: &str) -> Vec<String> {
    let (code, text) = diff(host, file);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lab "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    assert_eq!(code, if lines.is_empty() { 0 } else { 1 }, "diff's exit code: {text}");
    lines
}

/// Inode of a namespace and ifindex of one of its links: their identity.
fn identity(host: &Throwaway, netns: &str, link: &str) -> String {
    host.sh_ok(&format!("stat -c %i /run/netns/{netns}; ip -n {netns} -o link show {link} | cut -d: -f1"))
}

/// Applies the edit, checks `diff` shows exactly `expected`, `up` applies it and prints
/// those ops, and `diff` is clean afterwards.
fn step(host: &Throwaway, lab: &TempTopology, text: &str, expected: &[&str]) {
    lab.rewrite(text);
    let mut want: Vec<String> = expected.iter().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    want.sort();
    assert_eq!(changes(host, &lab.path), want, "diff after the edit");
    let out = host.up(&lab.path);
    assert!(out.contains(&format!("applying the {} change", expected.len())), "{out}");
    assert_eq!(changes(host, &lab.path), Vec::<String>::new(), "diff after up");
}

#[test]
fn edits_to_the_file_are_applied_and_nothing_else_moves() {
    if skip_unless_root("converge") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("conv", BASE);
    host.up(&lab.path);
    let a = identity(&host, "conv-a", "eth0");
    let r = identity(&host, "conv-r", "p1");

    // Add a link.
    let with_link = format!(
        "{BASE}\n[[links]]\nendpoints = [\"b:p1\", \"r:p2\"]\naddresses = [\"10.30.0.5/30\", \"10.30.0.6/30\"]\n"
    );
    step(
        &host,
        &lab,
        &with_link,
        &[
            "+ veth add conv-b p1 <-> conv-r:p2",
            "+ addr add conv-b 10.30.0.5/30 dev p1",
            "+ addr add conv-r 10.30.0.6/30 dev p2",
            "+ link up conv-b p1",
            "+ link up conv-r p2",
        ],
    );
    assert!(host.pings("conv-b", "10.30.0.6"));

    // Add a node on the bridge.
    let with_node = format!("{with_link}\n[nodes.c]\nnetwork = \"lan\"\n");
    lab.rewrite(&with_node);
    let (_, text) = diff(&host, &lab.path);
    for want in ["+ netns add", "conv-c", "+ veth add", "+ link master", "+ addr add", "10.20.0.4/24", "+ route add"] {
        assert!(text.contains(want), "adding node c, diff lacks {want:?}:\n{text}");
    }
    assert!(!text.contains("conv-a"), "adding c must not touch a:\n{text}");
    host.up(&lab.path);
    assert!(host.pings("conv-c", "10.20.0.2"), "new node c cannot reach a");
    assert_eq!(changes(&host, &lab.path), Vec::<String>::new());

    // Remove it again: its namespace goes, and the host end of its veth with it.
    lab.rewrite(&with_link);
    let lines = changes(&host, &lab.path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("- link del host veth") && lines[1] == "- netns del conv-c", "{lines:?}");
    host.up(&lab.path);
    assert!(!host.sh_ok("ls /run/netns").contains("conv-c"));
    assert_eq!(
        host.sh_ok("ip -o link show master $(ip -o link show type bridge | cut -d: -f2 | tr -d ' ') | wc -l").trim(),
        "2"
    );

    // Change an address: the old one goes, the new one comes, the link stays.
    let moved = with_link.replace("10.30.0.1/30", "10.30.0.9/30").replace("10.30.0.2/30", "10.30.0.10/30");
    step(
        &host,
        &lab,
        &moved,
        &[
            "- addr del conv-a 10.30.0.1/30 dev p1",
            "- addr del conv-r 10.30.0.2/30 dev p1",
            "+ addr add conv-a 10.30.0.9/30 dev p1",
            "+ addr add conv-r 10.30.0.10/30 dev p1",
        ],
    );
    assert!(host.pings("conv-a", "10.30.0.10"));

    // Change an mtu: fixed in place on both ends.
    let mtu = moved.replacen(
        "addresses = [\"10.30.0.9/30\", \"10.30.0.10/30\"]",
        "addresses = [\"10.30.0.9/30\", \"10.30.0.10/30\"]\nmtu = 1400",
        1,
    );
    step(
        &host,
        &lab,
        &mtu,
        &[
            "~ link mtu conv-a p1 1400 (mtu: file 1400, kernel 1500)",
            "~ link mtu conv-r p1 1400 (mtu: file 1400, kernel 1500)",
        ],
    );
    assert!(host.sh_ok("ip -n conv-a -o link show p1").contains("mtu 1400"));

    // Add a route.
    let routed = mtu.replacen(
        "[nodes.b]\nnetwork = \"lan\"",
        "[nodes.b]\nnetwork = \"lan\"\nroutes = [{ to = \"10.30.0.8/30\", via = \"10.30.0.6\" }]",
        1,
    );
    step(&host, &lab, &routed, &["+ route add conv-b 10.30.0.8/30 via 10.30.0.6"]);
    assert!(host.pings("conv-b", "10.30.0.10"), "b cannot reach r over the new route");

    // Change a sysctl: fixed in place; down still restores the value from before the lab.
    let sysctl = routed.replace("\"net.ipv4.ip_forward\" = 1", "\"net.ipv4.ip_forward\" = 0");
    step(
        &host,
        &lab,
        &sysctl,
        &["~ sysctl set conv-r net.ipv4.ip_forward = 0 (net.ipv4.ip_forward: file 0, kernel 1)"],
    );

    // Through all of it, a and r kept their namespaces and links.
    assert_eq!(identity(&host, "conv-a", "eth0"), a, "a was replaced");
    assert_eq!(identity(&host, "conv-r", "p1"), r, "r's p1 was replaced");
    host.down_and_check(&lab.path);
}

#[test]
fn drift_is_reported_and_repaired() {
    if skip_unless_root("drift") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("drift", BASE);
    host.up(&lab.path);
    let a = identity(&host, "conv-a", "eth0");

    // A veth deleted by hand: made again, with its addresses and state.
    host.sh_ok("ip -n conv-a link del p1");
    let lines = changes(&host, &lab.path);
    assert_eq!(
        lines,
        [
            "+ addr add conv-a 10.30.0.1/30 dev p1",
            "+ addr add conv-r 10.30.0.2/30 dev p1",
            "+ link up conv-a p1",
            "+ link up conv-r p1",
            "+ veth add conv-a p1 <-> conv-r:p1",
        ]
    );
    host.up(&lab.path);
    assert!(host.pings("conv-a", "10.30.0.2"), "the repaired link does not carry traffic");

    // An address added by hand: removed.
    host.sh_ok("ip -n conv-a addr add 10.30.0.99/24 dev eth0");
    assert_eq!(changes(&host, &lab.path), ["- addr del conv-a 10.30.0.99/24 dev eth0"]);
    host.up(&lab.path);
    assert!(!host.sh_ok("ip -n conv-a -o addr show dev eth0").contains("10.30.0.99"));

    // A link set down by hand (`netlab link` does the same to both ends): set up again.
    host.sh_ok("ip -n conv-r link set p1 down");
    assert_eq!(changes(&host, &lab.path), ["~ link up conv-r p1 (state: file up, kernel down)"]);
    host.up(&lab.path);
    assert!(host.pings("conv-a", "10.30.0.2"));

    // A route added by hand in the lab's namespace, and a sysctl changed by hand.
    host.sh_ok(
        "ip -n conv-a route add 10.88.0.0/16 via 10.30.0.2 && ip netns exec conv-r sysctl -qw net.ipv4.ip_forward=0",
    );
    assert_eq!(
        changes(&host, &lab.path),
        [
            "- route del conv-a 10.88.0.0/16 via 10.30.0.2 dev p1",
            "~ sysctl set conv-r net.ipv4.ip_forward = 1 (net.ipv4.ip_forward: file 1, kernel 0)"
        ]
    );
    host.up(&lab.path);

    // A namespace deleted by hand: made again with everything in it.
    host.sh_ok("ip netns del conv-b");
    let lines = changes(&host, &lab.path);
    for want in
        ["+ netns add conv-b", "+ addr add conv-b 10.20.0.3/24 dev eth0", "+ route add conv-b default via 10.20.0.1"]
    {
        assert!(lines.iter().any(|l| l == want), "{want:?} not in {lines:?}");
    }
    host.up(&lab.path);
    assert!(host.pings("conv-b", "10.20.0.2"));
    assert_eq!(changes(&host, &lab.path), Vec::<String>::new());

    assert_eq!(identity(&host, "conv-a", "eth0"), a, "repairs elsewhere replaced a's eth0");
    host.down_and_check(&lab.path);
}

#[test]
fn a_lab_that_is_not_up_is_all_additions_and_dry_run_changes_nothing() {
    if skip_unless_root("diff of a lab that is not up") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("notup", BASE);
    let lines = changes(&host, &lab.path);
    assert!(!lines.is_empty() && lines.iter().all(|l| l.starts_with('+')), "{lines:?}");
    let plan_ops = host.netlab_ok(&["plan", &lab.path]).lines().count() - 1;
    assert_eq!(lines.len(), plan_ops, "diff of a lab that is not up is its whole plan");

    let dry = host.netlab_ok(&["up", "--dry-run", &lab.path]);
    assert!(dry.contains("+ netns add"), "{dry}");
    host.assert_empty();

    // The JSON form, for scripts.
    let (out, _) = host.netlab_exits(1, &["diff", "--format", "json", &lab.path]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["in_sync"], false);
    assert_eq!(json["up"], false);
    assert_eq!(json["changes"][0]["change"], "add");
    assert_eq!(json["changes"][0]["op"]["op"], "netns_add");
    host.assert_empty();
}

/// A bridge follows its smallest port's mtu unless its own is set after they join: a
/// network with an mtu and a node with a smaller one must still be in sync after one up.
#[test]
fn a_bridge_keeps_the_mtu_its_file_gives_it() {
    if skip_unless_root("bridge mtu") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new(
        "mtu",
        "[lab]\nname = \"mtu\"\n[networks.web]\nsubnet = \"192.168.2.0/24\"\nmtu = 1500\n\
         [nodes.a]\nnetwork = \"web\"\nmtu = 1450\n[nodes.b]\nnetwork = \"web\"\n",
    );
    host.up(&lab.path);
    assert!(host.sh_ok("ip -o link show type bridge").contains("mtu 1500"));
    assert!(host.sh_ok("ip -n mtu-a -o link show eth0").contains("mtu 1450"));
    assert_eq!(changes(&host, &lab.path), Vec::<String>::new());
    host.down_and_check(&lab.path);
}

/// An interface renamed in the file is renamed in the kernel, keeping its index and its
/// addresses; a MAC set in the file is changed in place.
#[test]
fn a_renamed_interface_and_a_new_mac_are_changed_in_place() {
    if skip_unless_root("rename") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("rename", BASE);
    host.up(&lab.path);
    let index = host.sh_ok("ip -n conv-a -o link show p1 | cut -d: -f1");

    let renamed = BASE.replace("endpoints = [\"a:p1\", \"r:p1\"]", "endpoints = [\"a:up1\", \"r:p1\"]");
    step(&host, &lab, &renamed, &["~ link rename conv-a p1 -> up1 (name: file up1, kernel p1)"]);
    assert_eq!(host.sh_ok("ip -n conv-a -o link show up1 | cut -d: -f1"), index, "the renamed link is a new one");
    assert!(host.sh_ok("ip -n conv-a -o addr show up1").contains("10.30.0.1/30"));
    assert!(host.pings("conv-a", "10.30.0.2"), "the renamed link does not carry traffic");

    let with_mac = renamed.replace(
        "addresses = [\"10.30.0.1/30\", \"10.30.0.2/30\"]",
        "addresses = [\"10.30.0.1/30\", \"10.30.0.2/30\"]\nmac = [\"02:00:00:00:00:AA\", \"\"]",
    );
    lab.rewrite(&with_mac);
    let lines = changes(&host, &lab.path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("~ link mac conv-a up1 02:00:00:00:00:aa (mac: file 02:00:00:00:00:aa, kernel "),
        "{lines:?}"
    );
    host.up(&lab.path);
    assert!(host.sh_ok("ip -n conv-a -o link show up1").contains("02:00:00:00:00:aa"));
    assert_eq!(host.sh_ok("ip -n conv-a -o link show up1 | cut -d: -f1"), index);
    assert_eq!(changes(&host, &lab.path), Vec::<String>::new());
    host.down_and_check(&lab.path);
}

const CONSEQUENCES: &str = r#"
[lab]
name = "csq"

[networks.net]
subnet = "10.40.0.0/24"
mtu = 9000

[nodes.a]
network = "net"
routes = [{ to = "10.9.0.0/16", via = "10.30.0.2" }, { to = "fd00:9::/64", via = "fd00:30::2" }]

[nodes.r]

[[links]]
endpoints = ["a:p1", "r:p1"]
addresses = ["10.30.0.1/24", "10.30.0.2/24"]

[[links]]
endpoints = ["a:q1", "r:q1"]
addresses = ["fd00:30::1/64", "fd00:30::2/64"]
"#;

/// What the kernel takes away by itself with a converge's changes is put back in the same
/// run, so the lab is as its file says after one `up` (read back by `--verify`): a rename
/// (the kernel renames a link only while it is down; down, it loses its routes and IPv6
/// addresses), an address changed (a device that loses its last IPv4 address loses its
/// IPv4 routes), a port of another mtu joining a bridge made with an mtu (the kernel lowers
/// the bridge's to its smallest port's).
#[test]
fn what_the_kernel_takes_with_a_converge_is_put_back_in_the_same_run() {
    if skip_unless_root("consequences") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("csq", CONSEQUENCES);
    host.up(&lab.path);
    let routes =
        |host: &Throwaway| host.sh_ok("ip -n csq-a route show 10.9.0.0/16; ip -n csq-a -6 route show fd00:9::/64");
    assert_eq!(routes(&host).lines().count(), 2);

    let renamed = CONSEQUENCES.replace("\"a:p1\"", "\"a:p2\"").replace("\"a:q1\"", "\"a:q2\"");
    lab.rewrite(&renamed);
    let out = host.netlab_ok(&["up", "--verify", &lab.path]);
    assert!(out.contains("link rename") && out.contains("read back: the kernel holds"), "{out}");
    assert_eq!(routes(&host).lines().count(), 2, "the renamed links lost their routes:\n{out}");
    assert!(host.sh_ok("ip -n csq-a -6 -o addr show dev q2 scope global").contains("fd00:30::1/64"), "{out}");

    let readdressed = renamed.replace("\"10.30.0.1/24\"", "\"10.30.0.5/24\"");
    lab.rewrite(&readdressed);
    let out = host.netlab_ok(&["up", "--verify", &lab.path]);
    assert!(host.sh_ok("ip -n csq-a route show 10.9.0.0/16").contains("via 10.30.0.2"), "{out}");

    let ported = format!("{readdressed}\n[nodes.c]\nnetwork = \"net\"\nmtu = 1500\n");
    lab.rewrite(&ported);
    let out = host.netlab_ok(&["up", "--verify", &lab.path]);
    assert!(host.sh_ok("ip -o link show type bridge").contains("mtu 9000"), "{out}");
    assert_eq!(changes(&host, &lab.path), Vec::<String>::new());
    host.down_and_check(&lab.path);
}
