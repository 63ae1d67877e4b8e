//! `netlab link NODE:IF down|up` in a throwaway host: a cut takes the link's routes and
//! IPv6 addresses with it (the kernel's doing) and says so; a restore puts back what the
//! lab's record says the interface has, so the lab works again as before the cut.

mod common;

use common::{skip_unless_root, TempTopology, Throwaway};

const LAB: &str = r#"
[lab]
name = "cut"

[host]
sysctl = { "net.ipv4.ip_forward" = 1 }

[networks.front]
subnet = "10.2.0.0/24"

[networks.back]
subnet = "10.3.0.0/24"

[nodes.web]
network = "front"

[nodes.db]
network = "back"

[nodes.a]
[nodes.b]

[[links]]
endpoints = ["a:p0", "b:p0"]
addresses = ["fd00:10::1/64", "fd00:10::2/64"]
"#;

#[test]
fn a_restored_link_has_its_routes_and_ipv6_addresses_back() {
    if skip_unless_root("link restore") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("cut", LAB);
    host.up(&file.path);
    // web reaches db's subnet through its default route, via the host.
    assert!(host.pings("cut-web", "10.3.0.2"), "web cannot reach db before the cut");

    let out = host.netlab_ok(&["link", &file.path, "web:eth0", "down"]);
    assert!(out.contains("link web:eth0 cut: every end is down"), "{out}");
    assert!(
        out.contains("route del  cut-web  default via 10.2.0.1 dev eth0"),
        "the cut does not say what it took:\n{out}"
    );
    assert!(!host.pings("cut-web", "10.3.0.2"), "web reaches db through a cut link");
    assert_eq!(host.netlab(&["diff", &file.path]).status.code(), Some(1));

    // By the lab's name: the record says what to restore, the file is not needed.
    let out = host.netlab_ok(&["link", "--lab", "cut", "web:eth0", "up"]);
    assert!(out.contains("route add"), "{out}");
    assert!(
        out.contains("link web:eth0 restored: every end is up, its cable in, and the 1 route the kernel had dropped"),
        "{out}"
    );
    assert!(host.pings("cut-web", "10.3.0.2"), "web cannot reach db after the link was restored");
    host.netlab_exits(0, &["diff", &file.path]);

    // IPv6: a link set down loses its static addresses (keep_addr_on_down = 0).
    let out = host.netlab_ok(&["link", &file.path, "a:p0", "down"]);
    assert!(out.contains("addr del  cut-a  fd00:10::1/64 dev p0"), "{out}");
    assert!(out.contains("addr del  cut-b  fd00:10::2/64 dev p0"), "{out}");
    assert_eq!(host.sh_ok("ip -n cut-a -6 -o addr show dev p0 scope global"), "");
    let out = host.netlab_ok(&["link", &file.path, "a:p0", "up"]);
    assert!(out.contains("and the 2 addresses the kernel had dropped"), "{out}");
    assert!(host.sh_ok("ip -n cut-a -6 -o addr show dev p0 scope global").contains("fd00:10::1/64"));
    // Usable at once, like after up.
    assert!(host.in_netns("cut-a", "ping -6 -c1 -W1 -q fd00:10::2").status.success(), "no IPv6 after the restore");
    host.netlab_exits(0, &["diff", &file.path]);
    host.down_and_check(&file.path);
}
