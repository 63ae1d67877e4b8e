//! The live-test harness itself: what happens in a throwaway host stays there.

mod common;

use common::{skip_unless_root, Throwaway};

#[test]
fn a_throwaway_host_is_empty_and_private_and_gone_after_drop() {
    if skip_unless_root("throwaway") {
        return;
    }
    let marker = format!("tw{}", std::process::id());
    let host_links_before = std::process::Command::new("ip").args(["-o", "link"]).output().unwrap().stdout;
    {
        let host = Throwaway::new();
        host.assert_empty();
        host.sh_ok(&format!(
            "ip netns add {marker} && ip -n {marker} link set lo up && ip link add v0 type veth peer name v1"
        ));
        assert!(host.sh_ok("ls /run/netns").contains(&marker));
        let state = host.state();
        assert!(state.contains(&format!("== netns '{marker}'")) && state.contains("\"v1\""), "{state}");
        // Not visible outside.
        assert!(!std::path::Path::new(&format!("/run/netns/{marker}")).exists());
        let out = host.sh("true");
        assert!(out.status.success());
        let leftovers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| host.assert_empty()));
        assert!(leftovers.is_err(), "assert_empty must see the namespace and the veth");
    }
    let host_links_after = std::process::Command::new("ip").args(["-o", "link"]).output().unwrap().stdout;
    assert_eq!(host_links_before, host_links_after, "the real host's links changed");
}
