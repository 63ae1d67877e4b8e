//! Reading back after `up`, against the in-memory kernel (which models what the kernel
//! changes by itself: a bridge's mtu, IPv4 forwarding written everywhere at once, what a
//! link loses when it goes down).

use super::*;
use crate::apply::{apply, Printer};
use crate::kernel::fake::FakeKernel;
use crate::state::StateDir;
use crate::testing::{shipped_plans, topology, TempDir};

/// One `up` of `plan` on `kernel` as the command runs it: observe, diff, apply, settle,
/// read back. The ops it applied, the namespaces it read back, and what it found.
fn up(kernel: &mut FakeKernel, plan: &Plan, state: &StateDir) -> (Vec<Op>, HashSet<Netns>, Diff) {
    let mut record = state.load(&plan.lab).unwrap().unwrap_or_else(|| state.new_record(&plan.lab));
    let previous: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
    let known: Vec<&Op> = plan.ops.iter().chain(&previous).collect();
    let live = kernel.observe(&known, Scope::All).unwrap();
    let ops = diff(plan, Some(&record), &live, &HostShares::default()).ops();
    let mut out = Vec::new();
    apply(kernel, &mut record, &ops, &mut Printer::new(&mut out, &ops)).unwrap_or_else(|f| panic!("{f}"));
    record.settle(plan).unwrap();
    let scope = touched(&ops, &known);
    let observed = kernel.observed;
    let left = read_back(kernel, plan, &record, &previous, live, &ops, &HostShares::default()).unwrap();
    assert_eq!(kernel.observed, observed + 1, "read back in one look");
    (ops, scope, left)
}

#[test]
fn every_shipped_lab_reads_back_as_its_file_says() {
    for (name, plan) in shipped_plans() {
        let mut kernel = FakeKernel::new(&plan.lab);
        let dir = TempDir::new();
        let (ops, scope, left) = up(&mut kernel, &plan, &StateDir::new(dir.path()));
        assert!(left.in_sync(), "{name}: {}", crate::diff::text::render(&plan.lab, &left));
        // A lab that was not up: every namespace it has was touched, and read back.
        let made = ops.iter().filter(|op| matches!(op, Op::NetnsAdd { .. } | Op::NetnsAlias { .. })).count();
        assert!(scope.len() >= made, "{name}: {scope:?}");
    }
}

const STAR: &str = r#"
[lab]
name = "star"

[networks.net]
subnet = "10.0.0.0/24"
mtu = 9000

[nodes.a]
network = "net"

[nodes.b]
network = "net"

[nodes.c]
network = "net"
"#;

/// What a converge did not touch is not read again: a namespace whose link was set down
/// by hand is read back with the other end of its veth pair (the host), and no other.
#[test]
fn only_what_the_run_touched_is_read_back() {
    let plan = crate::plan::compile(&topology(STAR));
    let mut kernel = FakeKernel::new(&plan.lab);
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    up(&mut kernel, &plan, &state);
    let a = Netns::Named("star-a".into());
    // Set down by hand: its default route goes with it.
    kernel.apply(&[Op::LinkDown { netns: a.clone(), name: "eth0".into() }], &|_, _| None);
    let (ops, scope, left) = up(&mut kernel, &plan, &state);
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(matches!(&ops[..], [Op::LinkUp { .. }, Op::RouteAdd { .. }]), "{ops:?}");
    assert_eq!(scope, HashSet::from([a, Netns::Host]));
    assert!(left.in_sync(), "{}", crate::diff::text::render(&plan.lab, &left));
}

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

/// A real case: the file asks for `conf.default.forwarding = 0` and then `ip_forward = 1`,
/// and writing ip_forward writes every forwarding setting: both writes succeed, and the
/// first is undone. Read back, it is reported; a second `up` puts it back.
#[test]
fn what_the_kernel_undid_after_the_op_succeeded_is_reported() {
    let plan = crate::plan::compile(&topology(FORWARDING));
    let mut kernel = FakeKernel::new(&plan.lab);
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let (_, _, left) = up(&mut kernel, &plan, &state);
    assert_eq!(
        crate::diff::text::render(&plan.lab, &left),
        "# lab fwd: 1 change\n~ sysctl set  fwd-r  net.ipv4.conf.default.forwarding = 0    \
         (net.ipv4.conf.default.forwarding: file 0, kernel 1)\n"
    );
    let (ops, _, left) = up(&mut kernel, &plan, &state);
    assert_eq!(ops.len(), 1);
    assert!(left.in_sync());
}

/// A converge of `before` into `after` on the fake kernel, read back: the changes it
/// applied, and what reading back found.
fn converge(before: &str, after: &str) -> (Vec<Op>, Diff) {
    let (before, after) = (crate::plan::compile(&topology(before)), crate::plan::compile(&topology(after)));
    let mut kernel = FakeKernel::new(&before.lab);
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let (_, _, left) = up(&mut kernel, &before, &state);
    assert!(left.in_sync());
    let (ops, _, left) = up(&mut kernel, &after, &state);
    (ops, left)
}

const PAIR: &str = r#"
[lab]
name = "pair"

[nodes.a]
routes = [{ to = "10.9.0.0/16", via = "10.0.0.2" }, { to = "fd00:9::/64", via = "fd00::2" }]

[nodes.b]

[[links]]
endpoints = ["a:p0", "b:p0"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]

[[links]]
endpoints = ["a:q0", "b:q0"]
addresses = ["fd00::1/64", "fd00::2/64"]
"#;

/// The kernel renames only a link that is down: netlab sets it down and up around the
/// rename, and the link loses its routes and its IPv6 addresses. A converge that renames
/// an interface puts them back.
#[test]
fn a_converge_that_renames_an_interface_puts_back_what_the_rename_took() {
    let (ops, left) = converge(PAIR, &PAIR.replace("a:p0", "a:p1").replace("a:q0", "a:q1"));
    assert!(left.in_sync(), "{}", crate::diff::text::render("pair", &left));
    let summaries: Vec<String> = ops.iter().map(crate::plan::text::summary).collect();
    assert!(summaries.iter().any(|s| s == "route add pair-a 10.9.0.0/16 via 10.0.0.2"), "{summaries:#?}");
    assert!(summaries.iter().any(|s| s == "addr add pair-a fd00::1/64 dev q1"), "{summaries:#?}");
}

/// A device that loses its last IPv4 address loses every IPv4 route through it: a
/// converge that changes an address (the old one goes first) puts the routes back.
#[test]
fn a_converge_that_changes_an_address_puts_back_the_routes_through_its_device() {
    let (ops, left) = converge(PAIR, &PAIR.replace("\"10.0.0.1/24\"", "\"10.0.0.5/24\""));
    assert!(left.in_sync(), "{}", crate::diff::text::render("pair", &left));
    assert!(ops.iter().any(|op| matches!(op, Op::RouteAdd { .. })), "{ops:#?}");
}

/// A bridge made with an mtu takes its smallest port's when a port joins, until its mtu
/// is set again: a converge that adds a port of another mtu sets it again after.
#[test]
fn a_converge_that_adds_a_port_of_another_mtu_keeps_the_bridges_mtu() {
    let after = format!("{STAR}\n[nodes.d]\nnetwork = \"net\"\nmtu = 1500\n");
    let (ops, left) = converge(STAR, &after);
    assert!(left.in_sync(), "{}", crate::diff::text::render("star", &left));
    let mtu = ops.iter().position(|op| matches!(op, Op::LinkSetMtu { mtu: 9000, .. })).expect("the bridge's mtu set");
    let port = ops.iter().position(|op| matches!(op, Op::LinkSetMaster { .. })).unwrap();
    assert!(port < mtu, "{ops:#?}");
}

/// ... and when the last of its ports leaves (the kernel gives a bridge without ports 1500).
#[test]
fn a_converge_that_takes_a_bridges_last_port_keeps_its_mtu() {
    let empty = STAR[..STAR.find("[nodes.a]").unwrap()].to_string();
    let (ops, left) = converge(STAR, &empty);
    assert!(left.in_sync(), "{}", crate::diff::text::render("star", &left));
    assert!(ops.iter().any(|op| matches!(op, Op::LinkSetMtu { mtu: 9000, .. })), "{ops:#?}");
}
