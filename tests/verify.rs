//! `up --verify` reads back what it applied, in a throwaway host. A real case where the
//! kernel undoes an op that succeeded: a node whose file sets
//! `net.ipv4.conf.default.forwarding = 0` and then `net.ipv4.ip_forward = 1`; writing
//! ip_forward writes every forwarding setting of the namespace, conf.default's too. `up`
//! applies both, in the file's order; with `--verify` it then reads the node back, finds
//! conf.default.forwarding at 1, says so and exits 1, with the lab up and its record kept;
//! a second `up` applies the difference, and this time it holds. Without `--verify`, `up`
//! reads nothing back and exits 0 (`diff` finds the difference).

mod common;

use common::{skip_unless_root, TempTopology, Throwaway};

const FORWARDING: &str = r#"
[lab]
name = "fwd"

[nodes.r]
sysctl = { "net.ipv4.conf.default.forwarding" = 0, "net.ipv4.ip_forward" = 1 }

[nodes.s]

[[links]]
endpoints = ["r:p0", "s:p0"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]
"#;

#[test]
fn what_the_kernel_undid_after_up_applied_it_is_reported_and_the_lab_stays_up() {
    if skip_unless_root("read back") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("fwd", FORWARDING);
    let (out, err) = host.netlab_exits(1, &["up", "--verify", &file.path]);
    assert!(out.contains("lab fwd is up: 11 ops"), "{out}");
    assert!(
        err.contains("lab fwd is up, but reading it back shows the kernel does not hold everything this run applied"),
        "{err}"
    );
    assert!(
        err.contains(
            "~ sysctl set  fwd-r  net.ipv4.conf.default.forwarding = 0    \
             (net.ipv4.conf.default.forwarding: file 0, kernel 1)"
        ),
        "{err}"
    );
    assert_eq!(err.matches("\n  ").count(), 1, "only what is missing is listed:\n{err}");
    // Up, with its record: usable, and `diff` says the same.
    assert!(host.pings("fwd-r", "10.0.0.2"));
    assert!(host.sh_ok("ls /run/netlab").contains("fwd.json"));
    assert_eq!(host.netlab(&["diff", &file.path]).status.code(), Some(1));

    // Again: the one difference is applied, and this time it holds.
    let out = host.netlab_ok(&["up", "--verify", &file.path]);
    assert!(out.contains("read back: the kernel holds what this run applied"), "{out}");
    assert!(out.contains("1  sysctl set  fwd-r  net.ipv4.conf.default.forwarding = 0"), "{out}");
    host.netlab_exits(0, &["diff", &file.path]);
    host.down_and_check(&file.path);
}

#[test]
fn without_verify_up_reads_nothing_back() {
    if skip_unless_root("no read back") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("fwdplain", FORWARDING);
    let out = host.netlab_ok(&["up", &file.path]);
    assert!(!out.contains("read back"), "{out}");
    assert_eq!(host.netlab(&["diff", &file.path]).status.code(), Some(1));
    host.down_and_check(&file.path);
}

#[test]
fn json_says_the_run_was_not_verified() {
    if skip_unless_root("read back, json") {
        return;
    }
    let host = Throwaway::new();
    let file = TempTopology::new("fwdjson", FORWARDING);
    let out = host.netlab(&["up", "--verify", &file.path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["ok"].as_bool(), json["changed"].as_bool()), (Some(false), Some(true)), "{json}");
    assert_eq!(json["ops"].as_array().map(Vec::len), Some(11));
    assert!(json["error"].as_str().unwrap().contains("conf.default.forwarding"), "{json}");
    host.netlab_ok(&["down", &file.path]);
    host.assert_empty();
}
