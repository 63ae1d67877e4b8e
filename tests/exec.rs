//! `netlab exec`: a command runs in the node's namespace with its /etc/netns files, and
//! its stdin, stdout, stderr and exit code are passed through. The lab is built here by
//! `netlab plan --format ip | sh`, so these tests do not depend on `up`.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{skip_unless_root, topology, Throwaway, NETLAB};

fn docker_lab() -> (Throwaway, String) {
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");
    host.sh_ok(&format!("{NETLAB} plan --format ip {file} | sh"));
    (host, file)
}

fn exec(host: &Throwaway, file: &str, node: &str, cmd: &[&str]) -> std::process::Output {
    host.command(NETLAB).args(["exec", file, node, "--"]).args(cmd).output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn exec_runs_in_the_node_with_its_etc_files_and_passes_the_exit_code() {
    if skip_unless_root("exec") {
        return;
    }
    let (host, file) = docker_lab();

    // web's own stack: eth0 with its bridge address; /sys shows the namespace's devices.
    let out = exec(&host, &file, "web", &["sh", "-c", "ip -o -4 addr show dev eth0; ls /sys/class/net"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("172.17.0.2/16"), "{}", stdout(&out));
    assert!(stdout(&out).split_whitespace().any(|w| w == "eth0"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("docker0"), "web must not see the host's bridge: {}", stdout(&out));

    // The container-mode node is in web's stack, so it has the same address.
    let out = exec(&host, &file, "sidecar", &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(stdout(&out).contains("172.17.0.2/16"), "{out:?}");

    // /etc/netns/<ns>/hosts and resolv.conf are mounted over /etc's.
    let out = exec(&host, &file, "web", &["getent", "ahostsv4", "www.a.com"]);
    assert!(stdout(&out).starts_with("1.1.1.1"), "{out:?}");
    let out = exec(&host, &file, "web", &["cat", "/etc/resolv.conf"]);
    assert_eq!(stdout(&out).trim(), "nameserver 114.114.114.114");

    // The none-mode node has only lo.
    let out = exec(&host, &file, "isolated", &["ls", "/sys/class/net"]);
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["lo"], "{out:?}");

    // The host-mode node is the host: it sees the bridges.
    let out = exec(&host, &file, "hostnet", &["ls", "/sys/class/net"]);
    assert!(stdout(&out).contains("docker0") && stdout(&out).contains("br0"), "{out:?}");

    // Exit code, stderr and stdin pass through.
    let out = exec(&host, &file, "db", &["sh", "-c", "echo oops >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "oops");
    let mut child = host
        .command(NETLAB)
        .args(["exec", &file, "db", "--", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through stdin\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "THROUGH STDIN\n");

    // The host's own /etc and /sys are untouched by all of this.
    assert!(!std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default().contains("114.114.114.114"));
}

#[test]
fn exec_errors_name_what_is_wrong() {
    if skip_unless_root("exec errors") {
        return;
    }
    let host = Throwaway::new();
    let file = topology("docker-modes.toml");

    let out = exec(&host, &file, "nosuch", &["true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no node nosuch") && err.contains("web"), "{err}");

    // The lab is not up: say so instead of running on the host.
    let out = exec(&host, &file, "web", &["true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist: is the lab up?"), "{out:?}");

    host.sh_ok(&format!("{NETLAB} plan --format ip {file} | sh"));
    let out = exec(&host, &file, "web", &["/no/such/program"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run /no/such/program"), "{out:?}");
}

#[test]
fn exec_binds_only_what_a_trusted_etc_netns_directory_holds_for_the_node() {
    if skip_unless_root("exec /etc/netns") {
        return;
    }
    let (host, file) = docker_lab();
    // A temporary file a killed write of netlab's left: not the node's, never bound (it
    // was, and its bind over the missing /etc/.hosts.netlab-tmp failed on stderr).
    host.sh_ok("echo half > /etc/netns/docker-web/.hosts.netlab-tmp");
    let out = exec(&host, &file, "web", &["getent", "ahostsv4", "www.a.com"]);
    assert!(stdout(&out).starts_with("1.1.1.1"), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "nothing else is bound");

    // A directory others may write to could hold anything by the time it is bound.
    host.sh_ok("chmod o+w /etc/netns/docker-web");
    let out = exec(&host, &file, "web", &["true"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/etc/netns/docker-web"), "the directory is named: {err}");
    host.sh_ok("chmod o-w /etc/netns/docker-web");
    assert!(exec(&host, &file, "web", &["true"]).status.success());
}
