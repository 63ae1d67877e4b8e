//! Two labs on one machine: what one does never breaks the other. A host sysctl both set
//! stays until the last of them goes down, and then gets the value from before the
//! first; a lab that wants another value than one that is up is refused, naming it; names
//! netlab invents do not collide; `down` never finishes a killed `up` on another lab's
//! object.

mod common;

use common::{skip_unless_root, TempTopology, Throwaway};

/// A lab named `name` whose node `x` has a veth to the host, `host:<host_if>`.
fn lab_with_host_link(name: &str, host_if: &str, subnet: u8) -> TempTopology {
    TempTopology::new(
        name,
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
    let a = lab_with_host_link("a", "shared0", 71);
    let b = lab_with_host_link("b", "shared0", 72);
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
