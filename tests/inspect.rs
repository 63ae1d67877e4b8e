//! Working with a lab that is up: `status` (text and JSON), `link` to cut and restore a
//! link, and `exec --lab` without the topology file.

mod common;

use common::{skip_unless_root, topology, TempTopology, Throwaway};

#[test]
fn status_lists_labs_and_shows_one() {
    if skip_unless_root("status") {
        return;
    }
    let host = Throwaway::new();
    assert_eq!(host.netlab_ok(&["status"]).trim(), "no lab is up");
    let docker = topology("docker-modes.toml");
    let pair = topology("veth-pair.toml");
    host.up(&docker);
    host.up(&pair);

    let list = host.netlab_ok(&["status"]);
    assert!(list.contains("docker") && list.contains("veth-pair") && list.contains("docker-modes.toml"), "{list}");
    let json = host.netlab_json(&["status", "--format", "json"]);
    let labs: Vec<&str> = json["labs"].as_array().unwrap().iter().map(|l| l["lab"].as_str().unwrap()).collect();
    assert_eq!(labs, ["docker", "veth-pair"]);

    let one = host.netlab_ok(&["status", &docker]);
    assert!(one.contains("lab docker: up, in sync with its file"), "{one}");
    assert!(one.contains("web") && one.contains("eth0 up 172.17.0.2/16"), "{one}");
    assert!(one.contains("sidecar") && one.contains("(the namespace of docker-web)"), "{one}");
    assert!(one.contains("isolated") && one.contains("lo only"), "{one}");
    assert!(one.contains("docker0 up 172.17.0.1/16"), "the host side: {one}");

    // After drift, status says the lab differs from its file.
    host.sh_ok("ip -n docker-db addr add 172.17.9.9/16 dev eth0");
    let json = host.netlab_json(&["status", "--lab", "docker", "--format", "json"]);
    assert_eq!(json["file"], "differs");
    assert_eq!(json["changes"], 1);
    let db = json["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "db").unwrap();
    let eth0 = db["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == "eth0").unwrap();
    assert_eq!(eth0["addresses"], serde_json::json!(["172.17.0.3/16", "172.17.9.9/16"]));
    assert_eq!(eth0["up"], true);

    host.netlab_ok(&["down", &docker]);
    host.down_and_check(&pair);
}

#[test]
fn link_cuts_and_restores_both_ends() {
    if skip_unless_root("link") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("veth-pair.toml");
    host.up(&file);
    assert!(host.pings("ns1", "10.0.0.1"));

    let out = host.netlab_ok(&["link", &file, "ns1:veth1", "down"]);
    assert!(out.contains("link ns1:veth1 cut"), "{out}");
    assert!(!host.pings("ns1", "10.0.0.1"), "traffic crosses a cut link");
    for (ns, dev) in [("ns0", "veth0"), ("ns1", "veth1")] {
        assert!(!host.sh_ok(&format!("ip -n {ns} -o link show {dev}")).contains(",UP"), "{ns}:{dev} still up");
    }
    host.netlab_exits(1, &["diff", &file]);

    // Restore by name of the other end, with --lab and JSON.
    let json = host.netlab_json(&["link", "--lab", "veth-pair", "ns0:veth0", "up", "--format", "json"]);
    assert_eq!(json["action"], "link");
    assert_eq!(json["ok"], true);
    assert_eq!(json["ops"].as_array().unwrap().len(), 2);
    assert!(host.pings("ns1", "10.0.0.1"));
    host.netlab_exits(0, &["diff", &file]);

    // Mistakes are named.
    let (_, err) = host.netlab_exits(2, &["link", &file, "ns1:nope", "down"]);
    assert!(err.contains("has no link ns1:nope"), "{err}");
    host.netlab_exits(2, &["link", &file, "ns1:veth1", "sideways"]);
    host.down_and_check(&file);
}

#[test]
fn exec_by_lab_name_needs_no_file() {
    if skip_unless_root("exec --lab") {
        return;
    }
    let host = Throwaway::new();
    let lab = TempTopology::new("execlab", &std::fs::read_to_string(topology("docker-modes.toml")).unwrap());
    host.up(&lab.path);
    let path = lab.path.clone();
    drop(lab);
    let out = host.netlab_ok(&["exec", "--lab", "docker", "web", "--", "getent", "hosts", "web"]);
    assert!(out.starts_with("172.17.0.2"), "{out}");
    let out = host.netlab_ok(&["exec", "--lab", "docker", "sidecar", "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(out.contains("172.17.0.2/16"), "{out}");
    let status = host.netlab_ok(&["status", "--lab", "docker"]);
    assert!(status.contains("its file is gone"), "{status}");
    let (_, err) = host.netlab_exits(1, &["exec", "--lab", "nosuch", "web", "--", "true"]);
    assert!(err.contains("lab nosuch is not up"), "{err}");
    assert!(!std::path::Path::new(&path).exists());
    host.netlab_ok(&["down", "--lab", "docker"]);
    host.assert_empty();
}
