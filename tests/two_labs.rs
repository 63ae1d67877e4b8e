//! Two labs on one machine: what one does never breaks the other. A host sysctl both set
//! stays until the last of them goes down, and then gets the value from before the
//! first; a lab that wants another value than one that is up is refused, naming it; names
//! netlab invents do not collide; `down` never finishes a killed `up` on another lab's
//! object.

mod common;

use common::outside::Host;
use common::{skip_unless_root, TempTopology, Throwaway};

/// A lab named `name` whose node `x` has a veth to the host, `host:<host_if>`; its file is
/// named after the test too (`test`), as tests run at once.
fn lab_with_host_link(test: &str, name: &str, host_if: &str, subnet: u8) -> TempTopology {
    TempTopology::new(
        &format!("{test}-{name}"),
        &format!(
            "[lab]\nname = \"{name}\"\n\n[nodes.x]\n\n[[links]]\nendpoints = [\"x:e0\", \"host:{host_if}\"]\n\
             addresses = [\"10.{subnet}.0.2/24\", \"10.{subnet}.0.1/24\"]\n"
        ),
    )
}

/// A killed `up` of lab a left its host link pending in its record, not yet made; lab b
/// has since made a link of that name. `down` of a leaves b's link alone and says whose
/// it is.
#[test]
fn down_never_finishes_a_pending_link_on_another_labs_link() {
    if skip_unless_root("pending link of another lab") {
        return;
    }
    let host = Throwaway::new();
    let a = lab_with_host_link("pending", "a", "shared0", 71);
    let b = lab_with_host_link("pending", "b", "shared0", 72);
    host.up(&a.path);
    // As a kill -9 leaves it: the record ends with the veth, sent but not made.
    host.sh_ok(
        "jq '.entries |= (.[: (map(.op) | index(\"veth_add\")) + 1] | .[-1].pending = true)' /run/netlab/a.json \
         > /tmp/a.json && mv /tmp/a.json /run/netlab/a.json && ip link del shared0",
    );
    host.up(&b.path);
    let (_, err) = host.netlab_exits(1, &["down", "--lab", "a"]);
    assert!(err.contains("link del host shared0: left alone: it carries the `netlab:b` alias: it is lab b's"), "{err}");
    assert!(host.pings("b-x", "10.72.0.1"), "lab b's link was taken");
    host.netlab_ok(&["down", &b.path]);
    // With b's link gone, a's record finishes.
    host.netlab_ok(&["down", "--lab", "a"]);
    host.assert_empty();
}

/// A lab whose two nodes reach each other only through the host, which forwards for them
/// while `key` (ip_forward, or its other name) is 1.
fn routed_lab(name: &str, n: u8, key: &str) -> TempTopology {
    TempTopology::new(
        &format!("routed-{name}"),
        &format!(
            "[lab]\nname = \"{name}\"\n\n[host]\nsysctl = {{ \"{key}\" = 1 }}\n\n\
             [nodes.x]\nroutes = [{{ to = \"10.{n}.2.0/24\", via = \"10.{n}.1.1\" }}]\n\n\
             [nodes.y]\nroutes = [{{ to = \"10.{n}.1.0/24\", via = \"10.{n}.2.1\" }}]\n\n\
             [[links]]\nendpoints = [\"x:e0\", \"host:{name}-x\"]\naddresses = [\"10.{n}.1.2/24\", \"10.{n}.1.1/24\"]\n\n\
             [[links]]\nendpoints = [\"y:e0\", \"host:{name}-y\"]\naddresses = [\"10.{n}.2.2/24\", \"10.{n}.2.1/24\"]\n"
        ),
    )
}

fn sysctl(host: &Throwaway, path: &str) -> String {
    host.sh_ok(&format!("cat /proc/sys/net/{path}")).trim().to_string()
}

#[test]
fn ip_forward_two_labs_set_stays_on_until_the_last_of_them_goes_down() {
    if skip_unless_root("shared ip_forward") {
        return;
    }
    let host = Throwaway::new();
    assert_eq!(sysctl(&host, "ipv4/ip_forward"), "0");
    // The two names of one setting.
    let a = routed_lab("a", 81, "net.ipv4.ip_forward");
    let b = routed_lab("b", 82, "net.ipv4.conf.all.forwarding");
    host.up(&a.path);
    let out = host.up(&b.path);
    assert!(
        out.contains(
            "# host sysctl net.ipv4.conf.all.forwarding = 1: shared with lab a, which is up (the last lab to go down \
             puts back 0)"
        ),
        "{out}"
    );
    assert!(!out.contains("sysctl set"), "b set what a had set:\n{out}");
    assert!(host.pings("a-x", "10.81.2.2") && host.pings("b-x", "10.82.2.2"), "the host does not forward");
    let status = host.netlab_ok(&["status", &b.path]);
    assert!(
        status.contains(
            "host sysctl net.ipv4.conf.all.forwarding = 1 (shared with lab a; the last lab to go down puts back 0)"
        ),
        "{status}"
    );

    // a goes: b still forwards.
    let out = host.netlab_ok(&["down", &a.path]);
    assert!(out.contains("# host sysctl net.ipv4.ip_forward left as it is: lab b is up and has it too"), "{out}");
    assert_eq!(sysctl(&host, "ipv4/ip_forward"), "1");
    assert!(host.pings("b-x", "10.82.2.2"), "taking a down stopped b's forwarding");
    // The other order: a back, b goes, a still forwards; a goes last and puts back 0.
    host.up(&a.path);
    host.netlab_ok(&["down", &b.path]);
    assert_eq!(sysctl(&host, "ipv4/ip_forward"), "1");
    assert!(host.pings("a-x", "10.81.2.2"), "taking b down stopped a's forwarding");
    host.down_and_check(&a.path);
    assert_eq!(sysctl(&host, "ipv4/conf/all/forwarding"), "0");
}

#[test]
fn a_lab_that_wants_another_value_of_a_host_sysctl_is_refused_naming_the_lab_that_set_it() {
    if skip_unless_root("host sysctl conflict") {
        return;
    }
    let host = Throwaway::new();
    let original = sysctl(&host, "ipv4/conf/all/rp_filter");
    let mut values = ["0", "1", "2"].into_iter().filter(|v| *v != original);
    let (va, vb) = (values.next().unwrap(), values.next().unwrap());
    let lab = |name: &str, v: &str| {
        let text = format!(
            "[lab]\nname = \"{name}\"\n\n[host]\nsysctl = {{ \"net.ipv4.conf.all.rp_filter\" = {v} }}\n\n[nodes.n]\n"
        );
        TempTopology::new(&format!("conflict-{name}"), &text)
    };
    let (a, b) = (lab("a", va), lab("b", vb));
    host.up(&a.path);
    let before = host.state();
    let (_, err) = host.netlab_exits(1, &["up", &b.path]);
    assert!(
        err.contains(&format!(
            "host sysctl net.ipv4.conf.all.rp_filter = {vb} conflicts with lab a, which is up and set it to {va}"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(host.state(), before, "a refused up changed the host");
    assert_eq!(sysctl(&host, "ipv4/conf/all/rp_filter"), va);
    let (out, _) = host.netlab_exits(1, &["diff", &b.path]);
    assert!(out.contains("! host sysctl net.ipv4.conf.all.rp_filter"), "{out}");
    // With a down the host has its own value back, and b may set its own.
    host.netlab_ok(&["down", &a.path]);
    assert_eq!(sysctl(&host, "ipv4/conf/all/rp_filter"), original);
    host.up(&b.path);
    assert_eq!(sysctl(&host, "ipv4/conf/all/rp_filter"), vb);
    host.down_and_check(&b.path);
    assert_eq!(sysctl(&host, "ipv4/conf/all/rp_filter"), original);
}

/// The two labs of issue 12 whose node `web` got the same invented host veth
/// (`veth856310d4`) from the 32-bit hash: both come up now, side by side.
#[test]
fn labs_whose_invented_names_collided_come_up_side_by_side() {
    if skip_unless_root("invented names of two labs") {
        return;
    }
    let host = Throwaway::new();
    let lab = |name: &str, n: u8| {
        let text = format!(
            "[lab]\nname = \"{name}\"\n\n[networks.net]\nsubnet = \"10.{n}.0.0/24\"\n\n\
             [nodes.web]\nnetwork = \"net\"\n\n[nodes.db]\nnetwork = \"net\"\n"
        );
        TempTopology::new(&format!("names-{name}"), &text)
    };
    let (a, b) = (lab("lab67047", 91), lab("lab105530", 92));
    host.up(&a.path);
    host.up(&b.path);
    assert!(host.pings("lab67047-web", "10.91.0.3") && host.pings("lab105530-web", "10.92.0.3"));
    host.netlab_ok(&["down", &a.path]);
    host.down_and_check(&b.path);
}

/// A name in the way that another lab made is named with that lab.
#[test]
fn a_link_in_the_way_that_is_another_labs_is_named_with_it() {
    if skip_unless_root("another lab's link in the way") {
        return;
    }
    let host = Throwaway::new();
    let a = lab_with_host_link("taken", "a", "taken0", 73);
    let b = lab_with_host_link("taken", "b", "taken0", 74);
    host.up(&a.path);
    let (_, err) = host.netlab_exits(1, &["up", &b.path]);
    assert!(
        err.contains(
            "link taken0 in the host already exists and is lab a's (`netlab:a` alias); take that lab down \
             (netlab down --lab a) or rename the interface"
        ),
        "{err}"
    );
    host.down_and_check(&a.path);
}

/// What a lab whose record cannot be read shares is not known: a lab that sets host
/// sysctls is refused rather than guessing, and says which record is in the way.
#[test]
fn a_record_that_cannot_be_read_stops_a_lab_that_sets_host_sysctls() {
    if skip_unless_root("unreadable record and host sysctls") {
        return;
    }
    let host = Throwaway::new();
    let a = routed_lab("a", 83, "net.ipv4.ip_forward");
    let b = routed_lab("b", 84, "net.ipv4.ip_forward");
    host.up(&a.path);
    host.sh_ok("printf '{\"version\": 1,' > /run/netlab/a.json");
    let (_, err) = host.netlab_exits(1, &["up", &b.path]);
    assert!(
        err.contains("lab b sets host sysctls, which labs that are up may share, and what they share cannot be told"),
        "{err}"
    );
    assert!(err.contains("lab a: /run/netlab/a.json cannot be trusted"), "{err}");
    let made = host.sh_ok("ls /run/netns; ls /run/netlab; ip -o link show | grep -c ' b-' || true");
    assert_eq!(made.split_whitespace().collect::<Vec<_>>(), ["a-x", "a-y", "a.json", "a.lock", "0"], "{made}");
    // a's way out (its record says nothing more of its sysctl), then b comes up.
    host.netlab_ok(&["down", "--lab", "a"]);
    host.up(&b.path);
    host.netlab_ok(&["down", &b.path]);
    host.sh_ok("sysctl -qw net.ipv4.ip_forward=0");
    host.assert_empty();
}

/// A lab with a nat network (`nat = true`) of subnet `172.{n}.0.0/24` (node `w`), and with
/// `v6` an IPv6 one too (node `w6`): its forwarding is a host sysctl, shared like any.
fn nat_lab(name: &str, n: u8, v6: bool) -> TempTopology {
    let mut text = format!(
        "[lab]\nname = \"{name}\"\n\n[networks.n]\nsubnet = \"172.{n}.0.0/24\"\nnat = true\n\n[nodes.w]\nnetwork = \"n\"\n"
    );
    if v6 {
        text.push_str(&format!(
            "\n[networks.n6]\nsubnet = \"fd00:{n}::/64\"\nnat = true\n\n[nodes.w6]\nnetwork = \"n6\"\n"
        ));
    }
    TempTopology::new(&format!("nat-shared-{name}"), &text)
}

/// routed_lab's shape without `[host]`: a lab that never asked the host to route for it.
fn plain_lab(name: &str, n: u8) -> TempTopology {
    let routed = routed_lab(name, n, "net.ipv4.ip_forward");
    let text = std::fs::read_to_string(&routed.path).unwrap();
    let start = text.find("[host]").unwrap();
    let end = start + text[start..].find("[nodes.x]").unwrap();
    TempTopology::new(&format!("plain-{name}"), &format!("{}{}", &text[..start], &text[end..]))
}

/// The forwarding a nat network turns on is a host sysctl that labs share (issue 13 on
/// issue 12's sharing): a nat lab beside a lab that set `[host]
/// net.ipv4.conf.all.forwarding = 1` itself (ip_forward's other name), taken down in both
/// orders. ip_forward is 1 while either is up and 0 after the
/// last; the routing lab routes at every step (its links are routed through the nat lab's
/// guard); the nat lab reaches the outside at every step; a lab that never asked is not
/// routed while a nat lab is up. A lab that wants forwarding off is refused, naming the
/// nat lab.
#[test]
fn nat_forwarding_is_shared_with_a_lab_that_asked_for_routing() {
    if skip_unless_root("nat forwarding shared with a routing lab") {
        return;
    }
    let outside = Host::new();
    let host = &outside.t;
    let (nat, routing, plain) =
        (nat_lab("n", 30, false), routed_lab("a", 86, "net.ipv4.conf.all.forwarding"), plain_lab("p", 87));
    let forward = |host: &Throwaway| sysctl(host, "ipv4/ip_forward");
    let nat_out = |host: &Throwaway| host.pings("n-w", "203.0.113.2");
    let routes = |host: &Throwaway| host.pings("a-x", "10.86.2.2");
    host.up(&plain.path);

    // Routing lab first, nat lab second; the nat lab goes first, comes back, goes again.
    host.up(&routing.path);
    let out = host.up(&nat.path);
    assert!(
        out.contains(
            "# host sysctl net.ipv4.ip_forward = 1: shared with lab a, which is up (the last lab to go down puts back 0)"
        ),
        "{out}"
    );
    assert!(out.contains("nft rule add") && out.contains("guard"), "the nat lab has no guard:\n{out}");
    assert!(routes(host) && nat_out(host), "with both up");
    assert!(!host.pings("p-x", "10.87.2.2"), "a lab that never asked was routed beside a nat lab");
    let off = TempTopology::new(
        "nat-shared-off",
        "[lab]\nname = \"off\"\n\n[host]\nsysctl = { \"net.ipv4.conf.all.forwarding\" = 0 }\n\n[nodes.o]\n",
    );
    let (_, err) = host.netlab_exits(1, &["up", &off.path]);
    assert!(
        err.contains(
            "host sysctl net.ipv4.conf.all.forwarding = 0 conflicts with labs a and n, which are up and set it to"
        ),
        "{err}"
    );
    let out = host.netlab_ok(&["down", &nat.path]);
    assert!(out.contains("# host sysctl net.ipv4.ip_forward left as it is: lab a is up and has it too"), "{out}");
    assert_eq!(forward(host), "1");
    assert!(routes(host), "the nat lab's down took the routing lab's forwarding");
    host.up(&nat.path);
    assert!(routes(host) && nat_out(host), "the nat lab back up");
    host.netlab_ok(&["down", &nat.path]);
    assert!(routes(host));
    host.netlab_ok(&["down", &routing.path]);
    assert_eq!(forward(host), "0", "the last lab to go down put back 0");

    // The other order: the nat lab first, the routing lab goes down first.
    host.up(&nat.path);
    assert_eq!(forward(host), "1");
    let out = host.up(&routing.path);
    assert!(out.contains("shared with lab n"), "{out}");
    assert!(routes(host) && nat_out(host));
    host.netlab_ok(&["down", &routing.path]);
    assert_eq!(forward(host), "1", "the routing lab's down took the nat lab's forwarding");
    assert!(nat_out(host));
    assert!(!host.pings("p-x", "10.87.2.2"), "a lab that never asked was routed beside a nat lab");
    host.netlab_ok(&["down", &nat.path]);
    assert_eq!(forward(host), "0");
    host.netlab_ok(&["down", &plain.path]);
    // (The routing lab's own flows may stay in conntrack until they time out: tracked
    // while the nat lab's table was there, never NATed, and no lab's to flush.)
    assert_eq!(sysctl(host, "ipv6/conf/all/forwarding"), "0");
    outside.assert_clean(&["172.30.0.0/24"]);
}

/// Two nat labs share the host's forwarding, each family on its own: the second one's
/// IPv6 network turns IPv6 forwarding on, which goes back when that lab goes down even
/// while the first is up; IPv4 forwarding stays until the last of them goes, in both
/// orders, and the lab that stays reaches the outside.
#[test]
fn two_nat_labs_share_forwarding_whichever_goes_down_first() {
    if skip_unless_root("two nat labs share forwarding") {
        return;
    }
    let outside = Host::new();
    let host = &outside.t;
    let (one, two) = (nat_lab("n1", 28, false), nat_lab("n2", 29, true));
    let forward = |host: &Throwaway| (sysctl(host, "ipv4/ip_forward"), sysctl(host, "ipv6/conf/all/forwarding"));
    let on = |v4: &str, v6: &str| (v4.to_string(), v6.to_string());
    for first_down in [&one, &two] {
        host.up(&one.path);
        assert_eq!(forward(host), on("1", "0"));
        let out = host.up(&two.path);
        assert!(out.contains("# host sysctl net.ipv4.ip_forward = 1: shared with lab n1"), "{out}");
        let sets_v6 = out.lines().any(|l| l.contains("sysctl set") && l.contains("net.ipv6.conf.all.forwarding = 1"));
        assert!(sets_v6, "{out}");
        assert_eq!(forward(host), on("1", "1"));
        assert!(host.pings("n1-w", "203.0.113.2") && host.pings("n2-w", "203.0.113.2"));
        host.netlab_ok(&["down", &first_down.path]);
        let (stays, v6) = if std::ptr::eq(first_down, &one) { ("n2-w", "1") } else { ("n1-w", "0") };
        assert_eq!(forward(host), on("1", v6), "after the first down");
        assert!(host.pings(stays, "203.0.113.2"), "{stays} lost the outside when the other lab went down");
        let last = if std::ptr::eq(first_down, &one) { &two } else { &one };
        host.netlab_ok(&["down", &last.path]);
        assert_eq!(forward(host), on("0", "0"), "the last lab to go down put back both");
    }
    outside.assert_clean(&["172.28.0.0/24", "172.29.0.0/24", "fd00:29::/64"]);
}
