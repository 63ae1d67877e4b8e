//! netlab never takes over, deletes or renames what it did not make, and refuses clearly,
//! before changing anything, when it cannot build a lab.

mod common;

use common::{skip_unless_root, topology, TempTopology, Throwaway};

#[test]
fn without_privileges_up_down_and_diff_refuse_in_one_sentence() {
    if skip_unless_root("no privileges") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    for cmd in ["up", "down", "diff"] {
        // As nobody, with no capabilities.
        let out = host
            .command("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", common::NETLAB, cmd, &file])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(if cmd == "diff" { 2 } else { 1 }), "{cmd}: {err}");
        assert!(err.contains("needs root") && err.lines().count() == 1, "{cmd}: {err}");
    }
    host.assert_empty();
}

#[test]
fn an_invalid_file_makes_nothing() {
    if skip_unless_root("invalid file") {
        return;
    }
    let host = Throwaway::new();
    let bad = TempTopology::new("bad", "[lab]\nname = \"bad\"\n[nodes.a]\n[[links]]\nendpoints = [\"a:x\", \"b:y\"]\n");
    let (_, err) = host.netlab_exits(2, &["up", &bad.path]);
    assert!(err.contains("unknown node `b`"), "{err}");
    host.assert_empty();
}

#[test]
fn a_namespace_netlab_did_not_make_is_never_adopted() {
    if skip_unless_root("foreign namespace") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    host.sh_ok("ip netns add ns0 && ip -n ns0 link set lo up");
    let before = host.state();
    let (_, err) = host.netlab_exits(1, &["up", &file]);
    assert!(err.contains("namespace ns0 already exists and is not lab veth-pair's"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(host.state(), before, "a refused up changed the host");
    host.sh_ok("ip netns del ns0");
    host.assert_empty();
}

#[test]
fn a_link_or_file_in_the_way_is_named_and_left_alone() {
    if skip_unless_root("foreign link") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.sh_ok(
        "ip link add docker0 type bridge && mkdir -p /etc/netns/docker-web && echo mine > /etc/netns/docker-web/hosts",
    );
    let before = host.state();
    let (_, err) = host.netlab_exits(1, &["up", &file]);
    assert!(err.contains("link docker0 in the host already exists and netlab did not make it"), "{err}");
    assert!(err.contains("/etc/netns/docker-web/hosts exists and netlab did not write it"), "{err}");
    assert!(err.contains("2 objects in the way"), "every conflict is reported at once: {err}");
    assert_eq!(host.state(), before);
    assert_eq!(host.sh_ok("cat /etc/netns/docker-web/hosts"), "mine\n");
    host.sh_ok("ip link del docker0 && rm -r /etc/netns/docker-web");
    host.assert_empty();
}

#[test]
fn a_directory_in_etc_netns_netlab_did_not_make_stays_after_down() {
    if skip_unless_root("someone's /etc/netns directory") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    // Someone's own (empty) directory for a namespace the lab makes, and a lab that writes
    // its hosts and resolv.conf there: down takes the files, not the directory.
    host.sh_ok("mkdir -p /etc/netns/docker-web");
    host.up(&file);
    assert!(host.sh_ok("cat /etc/netns/docker-web/hosts").contains("www.a.com"));
    host.netlab_ok(&["down", &file]);
    assert_eq!(host.sh_ok("ls -A /etc/netns"), "docker-web\n", "only the directory netlab did not make is left");
    assert_eq!(host.sh_ok("ls -A /etc/netns/docker-web"), "", "and netlab's files in it are gone");
    host.sh_ok("rmdir /etc/netns/docker-web");
    host.assert_empty();
}

#[test]
fn down_leaves_alone_what_was_replaced_behind_its_back() {
    if skip_unless_root("replaced objects") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.up(&file);
    // Someone replaces a namespace and a bridge of the lab with their own.
    host.sh_ok("ip netns del docker-db && ip netns add docker-db");
    host.sh_ok("ip link del br0 && ip link add br0 type bridge");
    let (_, err) = host.netlab_exits(1, &["down", &file]);
    assert!(err.contains("partly down"), "{err}");
    assert!(err.contains("docker-db") && err.contains("left alone"), "{err}");
    assert!(err.contains("br0") && err.contains("does not carry the `netlab:docker` alias"), "{err}");
    // Theirs are still there; everything else of the lab is gone.
    assert_eq!(host.sh_ok("ls /run/netns").split_whitespace().collect::<Vec<_>>(), ["docker-db"]);
    assert!(host.sh_ok("ip -o link show").contains("br0"));
    assert!(!host.sh_ok("ip -o link show").contains("docker0"));
    host.sh_ok("ip netns del docker-db && ip link del br0");
    // The record still names what was left; a later down finds nothing of the lab's.
    host.netlab_ok(&["down", &file]);
    host.assert_empty();
}

#[test]
fn down_by_lab_name_works_when_the_file_is_gone() {
    if skip_unless_root("down --lab") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("gone", &std::fs::read_to_string(topology("redis-cluster.toml")).unwrap());
    host.up(&lab.path);
    drop(lab);
    let out = host.netlab_ok(&["down", "--lab", "redis"]);
    assert!(out.contains("lab redis is down"), "{out}");
    host.assert_empty();
}
