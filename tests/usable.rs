//! A lab that is up is usable at once: right after `netlab up` returns, every address
//! answers, IPv6 as well as IPv4. netlab proves the lab's addresses unique when it
//! resolves the file, so it adds IPv6 addresses without duplicate address detection
//! (`nodad`), and after their links are up: a tentative address (DAD) drops the first
//! packets for a second or more, and so does a `nodad` address added while its link is
//! still down (measured in issue 12).

mod common;

use common::{skip_unless_root, test_lab, Throwaway};

/// Pings, one packet each with a one-second deadline, run inside the throwaway host the
/// moment `up` has returned: (namespace, address, what it crosses).
const PINGS: &[(&str, &str, &str)] = &[
    ("ipv6-a", "fd00:10::2", "IPv6 over a veth pair"),
    ("ipv6-b", "fd00:10::1", "IPv6 over a veth pair, the other way"),
    ("ipv6-c", "fd00:20::3", "IPv6 across a bridge"),
    ("ipv6-d", "fd00:20::1", "IPv6 to the gateway on the bridge"),
    ("ipv6-a", "10.46.0.2", "IPv4 over a veth pair"),
    ("ipv6-e", "10.47.0.3", "IPv4 across a bridge"),
    ("ipv6-f", "10.47.0.1", "IPv4 to the gateway on the bridge"),
];

#[test]
fn every_address_answers_right_after_up_returns() {
    if skip_unless_root("usable at once") {
        return;
    }
    let host = Throwaway::new();
    let file = test_lab("ipv6.toml");
    // One script, so that nothing runs between `up` returning and the first ping.
    let mut script = format!("{} up {file} >/dev/null || exit 99\n", common::NETLAB);
    for (netns, addr, what) in PINGS {
        script.push_str(&format!(
            "if ip netns exec {netns} ping -c1 -W1 -q {addr} >/dev/null 2>&1; \
             then echo 'ok {what}'; else echo 'FAILED {what} ({netns} -> {addr})'; fi\n"
        ));
    }
    let out = host.sh(&script);
    assert_eq!(out.status.code(), Some(0), "up failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(!report.contains("FAILED"), "right after up:\n{report}");
    assert_eq!(report.lines().count(), PINGS.len(), "{report}");

    // Added without DAD: no address is tentative, now or ever.
    let flags = host.sh_ok("for ns in a b c d; do ip -n ipv6-$ns -6 -o addr show scope global; done");
    assert_eq!(flags.matches("nodad").count(), 4, "{flags}");
    assert!(!flags.contains("tentative"), "{flags}");
    host.down_and_check(&file);
}
