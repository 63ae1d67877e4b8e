//! The iproute2 oracle: for every shipped topology this kernel can run, the lab `netlab up`
//! builds (through rtnetlink) and the one `netlab plan --format ip | sh` builds (through
//! iproute2), each in its own throwaway host, look the same to `ip -j`: the same
//! namespaces under the same names, links, addresses, routes, sysctls and /etc/netns files
//! (see `common/netdump.rs` for exactly what is compared and what is left out, such as
//! netlab's ownership marks, which the ip script does not set).
//!
//! A topology `netlab up` refuses on this machine (a kernel without a device kind it needs,
//! such as CONFIG_NET_IPIP for an ipip tunnel in mode = "kernel") is skipped with its
//! reason, but only when it exits 1 with that sentence and changed nothing; any other
//! failure fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::netdump::{compare, dump, Dump, Fields, Wanted};
use common::{skip_unless_root, Throwaway};

enum Outcome {
    Same { objects: usize },
    Skipped(String),
}

/// Why `netlab up` refused a lab, when it is a limitation of this kernel that the oracle
/// cannot do anything about; `None` for any other failure.
fn unsupported(out: &Output) -> Option<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let kernel = err.contains("this kernel cannot make") && err.contains("(CONFIG_");
    (out.status.code() == Some(1) && kernel && err.contains("nothing was changed")).then(|| err.trim().to_string())
}

fn oracle(file: &Path) -> Outcome {
    let file = file.to_str().unwrap();
    let built = Throwaway::new();
    let out = built.netlab(&["up", file]);
    if !out.status.success() {
        if let Some(reason) = unsupported(&out) {
            built.assert_empty(); // it said nothing was changed: check
            return Outcome::Skipped(reason);
        }
        panic!(
            "netlab up {file} failed ({}):\n--- stdout\n{}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let scripted = Throwaway::new();
    scripted.sh_ok(&scripted.netlab_ok(&["plan", "--format", "ip", file]));

    let wanted = Wanted::from_plan(&built.netlab_ok(&["plan", "--format", "json", file]));
    let (netlab, ip) = (dump(&built, &wanted), dump(&scripted, &wanted));
    // Not vacuous: every device the plan makes is in the dump.
    for (netns, dev) in &wanted.devices {
        assert!(netlab.link(netns.as_deref(), dev).is_some(), "no link {dev} in {netns:?} after netlab up");
    }
    let diff = compare(("netlab", &netlab), ("ip", &ip));
    assert!(
        diff.is_empty(),
        "netlab up and its ip script built different labs ({} differences, netlab vs ip):\n  {}",
        diff.len(),
        diff.join("\n  ")
    );
    Outcome::Same { objects: netlab.objects.len() }
}

/// Runs the oracle on each file concurrently; panics with every failure at once.
fn run_all(files: &[PathBuf]) -> usize {
    let results: Vec<(String, std::thread::Result<Outcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = files.iter().map(|f| (f, s.spawn(move || oracle(f)))).collect();
        handles.into_iter().map(|(f, h)| (f.display().to_string(), h.join())).collect()
    });
    let (mut same, mut failures) = (0, Vec::new());
    for (file, result) in results {
        match result {
            Ok(Outcome::Same { objects }) => {
                same += 1;
                eprintln!("oracle: {file}: netlab up = ip script ({objects} objects compared)");
            }
            Ok(Outcome::Skipped(reason)) => eprintln!("oracle: skipping {file}: {reason}"),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{file}: {msg}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    same
}

#[test]
fn netlab_up_builds_what_the_ip_script_builds_for_every_shipped_topology() {
    if skip_unless_root("oracle") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let same = run_all(&files);
    assert!(same > 0, "every shipped topology was skipped: the oracle compared nothing");
}

/// The firewall's ops (nftables tables and rules, conntrack flushes, hairpin modes, link
/// classes) in every place they can be: tests/labs/firewall.toml.
#[test]
fn netlab_up_builds_what_the_ip_script_builds_for_the_firewall() {
    if skip_unless_root("oracle (firewall)") {
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labs/firewall.toml");
    assert_eq!(run_all(&[file]), 1, "the firewall lab must run here");
}

/// The README's reference example uses every field once (a vxlan tunnel, MACs, a link mtu,
/// dev routes, host routes and sysctls, a container-mode node) that the shipped topologies
/// leave out.
#[test]
fn netlab_up_builds_what_the_ip_script_builds_for_the_readme_example() {
    if skip_unless_root("oracle (README example)") {
        return;
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let example = readme.split("```toml\n").nth(1).and_then(|r| r.split("```").next()).expect("a toml block");
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle-readme-example.toml");
    std::fs::write(&file, example).unwrap();
    assert_eq!(run_all(&[file]), 1, "the README example must run here");
}

/// The IPv6 test lab: netlab adds IPv6 addresses as `ip addr add ... nodad` does (the dump
/// compares address flags), on links that are already up.
#[test]
fn netlab_up_builds_what_the_ip_script_builds_for_the_ipv6_lab() {
    if skip_unless_root("oracle (ipv6 lab)") {
        return;
    }
    assert_eq!(run_all(&[PathBuf::from(common::test_lab("ipv6.toml"))]), 1, "the ipv6 lab must run here");
}

fn exited(code: i32, stderr: &str) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output { status: std::process::ExitStatus::from_raw(code << 8), stdout: Vec::new(), stderr: stderr.into() }
}

#[test]
fn only_a_missing_kernel_feature_is_a_reason_to_skip() {
    let ipip =
        "netlab: this kernel cannot make ipip devices (CONFIG_NET_IPIP), which lab ipip needs; nothing was changed";
    assert!(unsupported(&exited(1, ipip)).is_some());
    // netlab runs udp tunnels now: a refusal like the old one must fail the oracle.
    let udp = "netlab: lab flannel has a udp tunnel (flannel-node1:flannel.1), and netlab cannot run udp tunnels yet: \
               they need its userspace forwarder; nothing was changed";
    assert!(unsupported(&exited(1, udp)).is_none());
    assert!(unsupported(&exited(2, ipip)).is_none(), "an invalid topology is a failure");
    assert!(unsupported(&exited(1, "netlab: veth add ns1 v1: File exists")).is_none());
    assert!(unsupported(&exited(1, &ipip.replace("nothing was changed", "rolled back 3 ops"))).is_none());
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_comparison_reports_each_difference() {
    let mut a = Dump::default();
    a.objects.insert("ns0 | link veth0".into(), fields(&[("mtu", "1500"), ("up", "true")]));
    a.objects.insert("ns0 | addr veth0 10.0.0.1/24".into(), fields(&[("scope", "global")]));
    assert!(compare(("netlab", &a), ("ip", &a)).is_empty());
    let mut b = a.clone();
    b.objects.get_mut("ns0 | link veth0").unwrap().insert("mtu".into(), "1400".into());
    b.objects.get_mut("ns0 | link veth0").unwrap().insert("master".into(), "br0".into());
    b.objects.remove("ns0 | addr veth0 10.0.0.1/24");
    b.objects.insert("ns0 | addr veth0 10.0.0.9/24".into(), fields(&[("scope", "global")]));
    assert_eq!(
        compare(("netlab", &a), ("ip", &b)),
        [
            r#"ns0 | addr veth0 10.0.0.1/24: only in netlab (scope="global")"#,
            r#"ns0 | addr veth0 10.0.0.9/24: only in ip (scope="global")"#,
            r#"ns0 | link veth0: master: netlab (none), ip "br0""#,
            r#"ns0 | link veth0: mtu: netlab "1500", ip "1400""#,
        ]
    );
}

/// The dump sees what the oracle relies on it to see: two builds of the same lab compare
/// equal, and each change made to one of them (an mtu, an address, a route, a link down,
/// a MAC, a sysctl, an /etc/netns file, an nftables table, a link's class, a namespace
/// name that stops being an alias) is reported, and nothing else.
#[test]
fn the_dump_and_comparison_see_a_changed_host() {
    if skip_unless_root("oracle self-check") {
        return;
    }
    let file = common::topology("veth-pair.toml");
    let (good, bad) = (Throwaway::new(), Throwaway::new());
    let script = good.netlab_ok(&["plan", "--format", "ip", &file]);
    let mut wanted = Wanted::from_plan(&good.netlab_ok(&["plan", "--format", "json", &file]));
    wanted.sysctls.insert((Some("ns0".into()), "net.ipv4.ip_forward".into()));
    wanted.sysctls.insert((None, "net.ipv4.ip_forward".into()));
    wanted.macs.insert((Some("ns1".into()), "veth1".into()));
    let common = "ip -n ns1 link set veth1 address 02:00:00:00:00:01 && touch /run/netns/ns2 \
                  && mount --bind /run/netns/ns1 /run/netns/ns2";
    good.sh_ok(&format!("{script}\n{common}"));
    bad.sh_ok(&format!("{script}\n{common}"));
    assert_eq!(compare(("good", &dump(&good, &wanted)), ("bad", &dump(&bad, &wanted))), Vec::<String>::new());

    bad.sh_ok(
        "ip -n ns0 link set veth0 mtu 1400 && ip -n ns1 addr add 10.0.0.9/24 dev veth1 \
         && ip -n ns0 route add 10.5.0.0/16 via 10.0.0.2 && ip -n ns1 link set veth1 down \
         && ip -n ns1 link set veth1 address 02:00:00:00:00:02 && ip netns exec ns0 sysctl -qw net.ipv4.ip_forward=1 \
         && mkdir -p /etc/netns/ns0 && echo '10.0.0.1 a' > /etc/netns/ns0/hosts \
         && ip netns exec ns0 nft add table inet x && ip -n ns0 link set veth0 group 0x30000001",
    );
    let diff = compare(("good", &dump(&good, &wanted)), ("bad", &dump(&bad, &wanted)));
    let expected = [
        r#"ns0 | link veth0: mtu: good "1500", bad "1400""#,
        "ns1 = ns2 | addr veth1 10.0.0.9/24: only in bad",
        "ns0 | ipv4 route 10.5.0.0/16 dev veth0: only in bad",
        r#"ns1 = ns2 | link veth1: up: good "true", bad "false""#,
        // (a link set down loses its connected route)
        "ns1 = ns2 | ipv4 route 10.0.0.0/24 dev veth1: only in good",
        r#"ns1 = ns2 | link veth1: mac: good "02:00:00:00:00:01", bad "02:00:00:00:00:02""#,
        r#"ns0 | sysctl net.ipv4.ip_forward: value: good "0", bad "1""#,
        "file /etc/netns/ns0: only in bad",
        "ns0 | nft ruleset: only in bad",
        r#"ns0 | link veth0: class: good (none), bad "3""#,
        r#"file /etc/netns/ns0/hosts: only in bad (content="10.0.0.1 a\n")"#,
    ];
    for e in expected {
        assert!(diff.iter().any(|d| d.starts_with(e)), "the comparison missed {e:?}; it said:\n{}", diff.join("\n"));
    }
    assert_eq!(diff.len(), expected.len(), "unexpected differences:\n{}", diff.join("\n"));

    // ns2 made a namespace of its own instead of a second name of ns1.
    let other = Throwaway::new();
    other.sh_ok(&format!("{script}\nip -n ns1 link set veth1 address 02:00:00:00:00:01 && ip netns add ns2"));
    let diff = compare(("good", &dump(&good, &wanted)), ("other", &dump(&other, &wanted)));
    assert!(
        diff.iter().any(|d| d == r#"netns name ns2: namespace: good "ns1 = ns2", other "ns2""#),
        "{}",
        diff.join("\n")
    );
}
