//! `apply` and `best_effort` against the in-memory kernel: no root needed. The sweep
//! fails every op of every shipped lab in turn and checks that the run undoes itself.

use nix::errno::Errno;

use super::*;
use crate::diff::{diff, Sign};
use crate::kernel::fake::FakeKernel;
use crate::plan::text::summary;
use crate::sharing::HostShares;
use crate::state::StateDir;
use crate::testing::{shipped_plans, topology, TempDir};

/// The ops `up` applies to bring `plan` up on `kernel`: the diff against what it shows.
fn up_ops(plan: &Plan, record: Option<&Record>, kernel: &FakeKernel) -> Vec<Op> {
    let known: Vec<&Op> = plan.ops.iter().chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op))).collect();
    let d = diff(plan, record, &kernel.live(&known), &HostShares::default());
    assert!(d.conflicts.is_empty(), "{}: conflicts {:?}", plan.lab, d.conflicts);
    d.ops()
}

/// Takes the lab down from its record, as `down` does (less the ownership checks, which
/// read the real kernel).
fn down(kernel: &mut FakeKernel, record: &Record) -> Vec<(Op, OpError)> {
    let ops: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
    let teardown = Plan::new(&record.lab, Direction::Down, ops).teardown();
    let mut out = Vec::new();
    best_effort(kernel, &teardown.ops, &|n, k| record.previous(n, k), &mut Printer::new(&mut out, &teardown.ops), None)
}

fn run(kernel: &mut FakeKernel, record: &mut Record, ops: &[Op]) -> (Result<(), Box<Failure>>, String) {
    let mut out = Vec::new();
    let result = apply(kernel, record, ops, &mut Printer::new(&mut out, ops));
    (result, String::from_utf8(out).unwrap())
}

#[test]
fn a_failure_at_any_op_of_any_shipped_lab_leaves_the_kernel_and_the_record_as_they_were() {
    let mut swept = 0;
    for (name, plan) in shipped_plans() {
        let ops = up_ops(&plan, None, &FakeKernel::new(&plan.lab));
        assert_eq!(ops.len(), plan.ops.len(), "{name}: a lab that is not up is all additions");
        for n in 1..=ops.len() {
            let mut kernel = FakeKernel::new(&plan.lab);
            let before = kernel.world.clone();
            kernel.fail_at(n, Errno::EIO);
            let dir = TempDir::new();
            let state = StateDir::new(dir.path());
            let mut record = state.new_record(&plan.lab);
            let (result, out) = run(&mut kernel, &mut record, &ops);
            let failure = result.expect_err("the run must fail");
            let at = format!("{name}: failing op {n} ({})", summary(&ops[n - 1]));
            assert_eq!(failure.number, n, "{at}: the error names another op\n{out}");
            assert!(matches!(failure.cause, Cause::Kernel(OpError::Errno(Errno::EIO))), "{at}: {failure}");
            assert!(failure.undo_errors.is_empty(), "{at}: {failure}\n{out}");
            assert!(failure.to_string().starts_with(&format!("op {n} failed: ")), "{at}: {failure}");
            assert_eq!(kernel.world, before, "{at} left the kernel changed\n{out}");
            assert!(state.load(&plan.lab).unwrap().is_none(), "{at} left a record");
            assert_eq!(dir.contents(), Vec::<String>::new(), "{at} left files");
            swept += 1;
        }
    }
    assert!(swept > 200, "only {swept} failures swept");
}

#[test]
fn every_shipped_lab_comes_up_in_sync_and_goes_down_to_nothing() {
    for (name, plan) in shipped_plans() {
        let mut kernel = FakeKernel::new(&plan.lab);
        let before = kernel.world.clone();
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let mut record = state.new_record(&plan.lab);
        let ops = up_ops(&plan, None, &kernel);
        let (result, out) = run(&mut kernel, &mut record, &ops);
        result.unwrap_or_else(|f| panic!("{name}: {f}\n{out}"));
        assert_eq!(out.lines().count(), ops.len(), "{name}: one line per op\n{out}");
        record.settle(&plan).unwrap();
        assert!(up_ops(&plan, Some(&record), &kernel).is_empty(), "{name}: not in sync right after up");

        let errors = down(&mut kernel, &record);
        assert!(errors.is_empty(), "{name}: down failed: {errors:?}");
        assert_eq!(kernel.world, before, "{name}: down left something");
    }
}

/// `up` of a lab that is not up does what `plan` lists, op by op, in its order, and prints
/// each op as `plan` prints it; only host ops the kernel already satisfies (a host sysctl
/// already at its value) are left out.
#[test]
fn up_does_what_plan_lists_op_by_op_for_every_shipped_lab() {
    for (name, plan) in shipped_plans() {
        let mut kernel = FakeKernel::new(&plan.lab);
        let dir = TempDir::new();
        let mut record = StateDir::new(dir.path()).new_record(&plan.lab);
        let ops = up_ops(&plan, None, &kernel);
        let (result, out) = run(&mut kernel, &mut record, &ops);
        result.unwrap_or_else(|f| panic!("{name}: {f}\n{out}"));
        let planned: Vec<String> =
            crate::plan::text::render(&plan).lines().filter(|l| !l.starts_with('#')).map(str::to_string).collect();
        let done: Vec<String> = out.lines().map(str::to_string).collect();
        assert_eq!(done, planned, "{name}: up did not do what plan lists");

        // A host that already has every host sysctl the lab sets: those, and only those,
        // are left out. (Not one of a device the lab makes, such as a nat bridge's
        // route_localnet: a new device starts from conf.default.)
        let mut kernel = FakeKernel::new(&plan.lab);
        let host = kernel.world.stacks.get_mut(&crate::kernel::fake::HOST).unwrap();
        let mut satisfied = Vec::new();
        for op in &plan.ops {
            let Op::SysctlSet { key, .. } = op else { continue };
            if crate::plan::sysctl_device(key).is_some() {
                continue;
            }
            if let Op::SysctlSet { netns: Netns::Host, key, value } = op {
                host.sysctls.insert(key.clone(), value.clone());
                satisfied.push(op.clone());
            }
        }
        let want: Vec<Op> = plan.ops.iter().filter(|op| !satisfied.contains(op)).cloned().collect();
        assert_eq!(up_ops(&plan, None, &kernel), want, "{name}: up left out more than what the host has");
    }
}

const DEFAULT_OFF: &str = r#"
[lab]
name = "v6off"

[nodes.a]
sysctl = { "net.ipv6.conf.default.disable_ipv6" = 1 }

[nodes.b]

[[links]]
endpoints = ["a:v0", "b:v0"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]
"#;

/// The plan sets a node's `conf.default` sysctls before it makes the node's devices, so
/// that they are born with them: `up` must too (issue 12: it made the veth first, and the
/// veth kept IPv6).
#[test]
fn a_nodes_default_sysctls_reach_the_devices_made_after_them() {
    let plan = crate::plan::compile(&topology(DEFAULT_OFF));
    let mut kernel = FakeKernel::new(&plan.lab);
    let dir = TempDir::new();
    let mut record = StateDir::new(dir.path()).new_record(&plan.lab);
    let ops = up_ops(&plan, None, &kernel);
    let (result, out) = run(&mut kernel, &mut record, &ops);
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));
    let read =
        |netns: &str, key: &str| kernel.read_sysctls(&[(Netns::Named(netns.into()), key.into())]).remove(0).unwrap();
    assert_eq!(read("v6off-a", "net.ipv6.conf.v0.disable_ipv6"), "1", "{out}");
    assert_eq!(read("v6off-b", "net.ipv6.conf.v0.disable_ipv6"), "0");
}

#[test]
fn batches_are_runs_of_one_kind_and_each_is_sent_whole() {
    let plan = crate::plan::compile(&topology(VETH));
    let ranges = batches(&plan.ops);
    assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), plan.ops.len());
    for r in &ranges {
        let kind = std::mem::discriminant(&plan.ops[r.start]);
        assert!(plan.ops[r.clone()].iter().all(|op| std::mem::discriminant(op) == kind));
    }
    let mut kernel = FakeKernel::new(&plan.lab);
    let dir = TempDir::new();
    let mut record = StateDir::new(dir.path()).new_record(&plan.lab);
    run(&mut kernel, &mut record, &plan.ops).0.unwrap();
    let sent: Vec<usize> = kernel.batches.iter().map(Vec::len).collect();
    assert_eq!(sent, ranges.iter().map(|r| r.len()).collect::<Vec<_>>());
}

const VETH: &str = r#"
[lab]
name = "pair"
prefix = ""

[host]
sysctl = { "net.ipv4.ip_forward" = 1 }

[nodes.ns0]
[nodes.ns1]
sysctl = { "net.ipv4.ip_forward" = 1 }

[[links]]
endpoints = ["ns0:veth0", "ns1:veth1"]
addresses = ["10.0.0.1/24", "10.0.0.2/24"]
"#;

#[test]
fn the_record_is_written_before_each_batch_and_keeps_what_the_sysctls_were() {
    let plan = crate::plan::compile(&topology(VETH));
    let mut kernel = FakeKernel::new(&plan.lab);
    kernel
        .world
        .stacks
        .get_mut(&crate::kernel::fake::HOST)
        .unwrap()
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    // Fail the first address: everything before it was recorded, pending or not.
    let at = plan.ops.iter().position(|op| matches!(op, Op::AddrAdd { .. })).unwrap() + 1;
    kernel.fail_at(at, Errno::EEXIST);
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let mut record = state.new_record(&plan.lab);
    let (result, out) = run(&mut kernel, &mut record, &plan.ops);
    let failure = result.unwrap_err();
    assert_eq!(
        failure.to_string(),
        format!(
            "op {at} failed: addr add ns0 10.0.0.1/24 dev veth0: File exists (EEXIST); undid the {} ops this run had applied",
            failure.undone
        )
    );
    assert!(out.contains("FAILED: File exists (EEXIST)"), "{out}");
    assert!(out.contains("# undoing the"), "{out}");
    // The host's ip_forward was 1 before: put back to 1, not to the default.
    assert_eq!(kernel.world.stacks[&crate::kernel::fake::HOST].sysctls.get("net.ipv4.ip_forward"), Some(&"1".into()));
    assert!(kernel.world.names.is_empty());
}

#[test]
fn a_removal_of_what_is_gone_is_done_and_other_failures_are_all_reported() {
    let mut kernel = FakeKernel::new("x");
    let ops = vec![
        Op::LinkDel { netns: Netns::Host, name: "nothing".into() },
        Op::LinkDel { netns: Netns::Host, name: "eth0".into() },
        Op::AddrDel { netns: Netns::Host, dev: "lo".into(), address: "10.9.9.9/32".parse().unwrap(), peer: None },
        Op::NetnsDel { netns: "nowhere".into() },
        Op::LinkUp { netns: Netns::Named("nowhere".into()), name: "lo".into() },
    ];
    let mut out = Vec::new();
    let errors = best_effort(&mut kernel, &ops, &|_, _| None, &mut Printer::new(&mut out, &ops), None);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("(already gone)").count(), 3, "{out}");
    // The one that is not a removal of something gone: its namespace is not there.
    assert_eq!(errors, vec![(ops[4].clone(), OpError::NotOpen(Netns::Named("nowhere".into())))]);
    assert!(!kernel.world.stacks[&crate::kernel::fake::HOST].links.contains_key("eth0"));
}

#[test]
fn an_interrupt_stops_before_the_next_batch_and_undoes_the_run() {
    let plan = crate::plan::compile(&topology(VETH));
    let mut kernel = FakeKernel::new(&plan.lab);
    let before = kernel.world.clone();
    let dir = TempDir::new();
    let mut record = StateDir::new(dir.path()).new_record(&plan.lab);
    let mut out = Vec::new();
    let stop = AtomicBool::new(true);
    let result = apply_until(&stop, &mut kernel, &mut record, &plan.ops, &mut Printer::new(&mut out, &plan.ops));
    let failure = result.unwrap_err();
    assert!(matches!(failure.cause, Cause::Interrupted));
    assert_eq!((failure.number, failure.undone), (1, 0));
    assert_eq!(
        failure.to_string(),
        "op 1 failed: netns add ns0 : interrupted (SIGINT or SIGTERM); undid the 0 ops this run had applied"
    );
    assert_eq!(kernel.world, before);
    assert!(kernel.batches.is_empty());
}

#[test]
fn a_record_that_cannot_be_written_stops_the_run_before_anything_is_sent() {
    let plan = crate::plan::compile(&topology(VETH));
    let mut kernel = FakeKernel::new(&plan.lab);
    let dir = TempDir::new();
    // The state directory is a file: nothing can be written under it.
    let blocked = dir.path().join("state");
    std::fs::write(&blocked, "").unwrap();
    let mut record = StateDir::new(&blocked).new_record(&plan.lab);
    let (result, _) = run(&mut kernel, &mut record, &plan.ops);
    let failure = result.unwrap_err();
    assert!(matches!(failure.cause, Cause::Record(_)), "{failure}");
    assert!(failure.to_string().contains("cannot write the lab record"), "{failure}");
    assert!(kernel.batches.is_empty());
}

const BEFORE: &str = r#"
[lab]
name = "conv"

[host]
sysctl = { "net.ipv4.ip_forward" = 1 }

[networks.net]
subnet = "10.20.0.0/24"

[nodes.a]
network = "net"
hostname = "a"

[nodes.b]
network = "net"

[nodes.r]
sysctl = { "net.ipv4.ip_forward" = 1 }
routes = [{ to = "10.70.0.0/16", via = "10.30.0.1" }]

[[links]]
endpoints = ["a:p1", "r:p1"]
addresses = ["10.30.0.1/30", "10.30.0.2/30"]

[[tunnels]]
kind = "vxlan"
endpoints = ["a:vx0", "r:vx0"]
underlay = ["10.30.0.1", "10.30.0.2"]
addresses = ["10.40.0.1/24", "10.40.0.2/24"]
vni = 7
"#;

/// BEFORE changed every way a converge can: a node gone and one new, an interface
/// renamed, an mtu, a tunnel made anew (vni), a sysctl dropped, a hostname changed.
fn after() -> String {
    BEFORE
        .replace("[nodes.b]\nnetwork = \"net\"\n", "[nodes.c]\nnetwork = \"net\"\n")
        .replace("\"a:p1\", \"r:p1\"]", "\"a:p2\", \"r:p1\"]\nmtu = 1400")
        .replace("vni = 7", "vni = 8")
        .replace("sysctl = { \"net.ipv4.ip_forward\" = 1 }\nroutes", "routes")
        .replace("hostname = \"a\"", "hostname = \"alpha\"")
}

#[test]
fn a_converge_applies_the_difference_and_a_failure_in_it_leaves_what_down_clears() {
    let (before, after) = (crate::plan::compile(&topology(BEFORE)), crate::plan::compile(&topology(&after())));
    let up = |kernel: &mut FakeKernel, state: &StateDir| {
        let mut record = state.new_record(&before.lab);
        let ops = up_ops(&before, None, kernel);
        run(kernel, &mut record, &ops).0.unwrap();
        record.settle(&before).unwrap();
        record
    };
    let empty = FakeKernel::new(&before.lab).world;
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let mut kernel = FakeKernel::new(&before.lab);
    let record = up(&mut kernel, &state);
    let changes = up_ops(&after, Some(&record), &kernel);
    let renamed = changes.iter().any(|op| matches!(op, Op::LinkRename { .. }));
    assert!(renamed && changes.len() > 10, "{changes:#?}");
    // Removals first, then additions and fixes in the plan's relative order.
    let known: Vec<&Op> = after.ops.iter().chain(record.entries.iter().map(|e| &e.op)).collect();
    let d = diff(&after, Some(&record), &kernel.live(&known), &HostShares::default());
    let removals = d.changes.iter().take_while(|c| c.change == Sign::Remove).count();
    assert!(removals > 0 && d.changes[removals..].iter().all(|c| c.change != Sign::Remove), "{:#?}", d.changes);
    let order: Vec<usize> = d.changes[removals..].iter().map(|c| c.plan_index.expect("from a plan op")).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "not in the plan's order: {order:?}\n{:#?}", d.changes);

    // Applied whole: in sync with the new file, and down leaves nothing.
    let (mut done, mut done_record) = (kernel.clone(), record.clone());
    let (result, out) = run(&mut done, &mut done_record, &changes);
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));
    done_record.settle(&after).unwrap();
    assert!(up_ops(&after, Some(&done_record), &done).is_empty(), "not in sync after the converge");
    assert!(down(&mut done, &done_record).is_empty());
    assert_eq!(done.world, empty);

    // Failed at each op: the run undoes its additions (what it removed stays removed),
    // the record says what is left, and down from it leaves nothing.
    for n in 1..=changes.len() {
        let (mut k, mut r) = (kernel.clone(), record.clone());
        k.fail_at(n, Errno::EIO);
        let (result, out) = run(&mut k, &mut r, &changes);
        let failure = result.expect_err("the converge must fail");
        let at = format!("failing op {n} ({})", summary(&changes[n - 1]));
        assert!(failure.undo_errors.is_empty(), "{at}: {failure}\n{out}");
        let saved = state.load(&before.lab).unwrap().expect("the lab is still up");
        assert_eq!(saved.entries, r.entries, "{at}: the record on disk is not the run's");
        let errors = down(&mut k, &saved);
        assert!(errors.is_empty(), "{at}: down failed: {errors:?}");
        assert_eq!(k.world, empty, "{at}: down after the failed converge left something\n{out}");
        // Put the lab back up for the next round.
        record.save().unwrap();
    }
}

const NAT: &str = r#"
[lab]
name = "nat"

[networks.n]
subnet = "10.8.0.0/24"
nat = true

[nodes.web]
network = "n"
ports = ["8080:80"]

[nodes.db]
network = "n"
"#;

/// Brings `plan` up on a fresh fake kernel; returns the kernel and the settled record.
fn brought_up(plan: &Plan, state: &StateDir) -> (FakeKernel, Record) {
    let mut kernel = FakeKernel::new(&plan.lab);
    let mut record = state.new_record(&plan.lab);
    let ops = up_ops(plan, None, &kernel);
    run(&mut kernel, &mut record, &ops).0.unwrap();
    record.settle(plan).unwrap();
    (kernel, record)
}

#[test]
fn a_port_added_or_removed_changes_only_its_rules() {
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let one = crate::plan::compile(&topology(NAT));
    let two = crate::plan::compile(&topology(&NAT.replace(r#"["8080:80"]"#, r#"["8080:80", "5353:53/udp"]"#)));
    let (mut kernel, mut record) = brought_up(&one, &state);

    let added = up_ops(&two, Some(&record), &kernel);
    assert!(
        matches!(&added[..], [Op::NftRuleAdd { chain, rule, .. }] if chain == "published" && rule.contains("udp dport 5353")),
        "{added:#?}"
    );
    run(&mut kernel, &mut record, &added).0.unwrap();
    record.settle(&two).unwrap();
    assert!(up_ops(&two, Some(&record), &kernel).is_empty());

    let removed = up_ops(&one, Some(&record), &kernel);
    assert!(
        matches!(&removed[..], [Op::NftRuleDel { chain, comment, .. }] if chain == "published" && comment.contains("5353")),
        "{removed:#?}"
    );
    run(&mut kernel, &mut record, &removed).0.unwrap();
    record.settle(&one).unwrap();
    assert!(up_ops(&one, Some(&record), &kernel).is_empty());

    // The last port gone: its rules, the jumps to them, localhost's and the node's hairpin.
    let none = crate::plan::compile(&topology(&NAT.replace(r#"ports = ["8080:80"]"#, "")));
    let gone = up_ops(&none, Some(&record), &kernel);
    let kinds: Vec<&str> = gone.iter().map(crate::plan::text::kind).collect();
    assert!(kinds.iter().all(|k| ["nft rule del", "link hairpin", "sysctl restore"].contains(k)), "{gone:#?}");
    assert!(gone.iter().any(|op| matches!(op, Op::LinkSetHairpin { on: false, .. })), "{gone:#?}");
    run(&mut kernel, &mut record, &gone).0.unwrap();
    record.settle(&none).unwrap();
    assert!(up_ops(&none, Some(&record), &kernel).is_empty());
    assert!(down(&mut kernel, &record).is_empty());
    assert_eq!(kernel.world, FakeKernel::new("nat").world);
}

#[test]
fn a_picked_host_port_is_kept_across_converges_and_recorded() {
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    let t = topology(&NAT.replace(r#"["8080:80"]"#, r#"["80", "10.8.8.8::81"]"#));
    let mut facts = crate::plan::HostFacts::assumed();
    facts.ephemeral = crate::firewall::ports::PortRange { start: 40000, end: 40010 };
    let plan = crate::plan::compile_with(&t, &facts);
    let picked: Vec<(u16, u16, bool)> = plan.ports.iter().map(|p| (p.node_port, p.host_port, p.picked)).collect();
    assert_eq!(picked, [(80, 40000, true), (81, 40001, true)]);
    let (kernel, record) = brought_up(&plan, &state);
    assert_eq!(record.ports, plan.ports, "the record keeps the picks");

    // Later, the host holds 40000 and 40001 (say, a program listens there): the lab keeps
    // its ports, and a new entry picks around them.
    let mut later = facts.clone();
    later.kept = record.ports.iter().filter(|p| p.picked).map(|p| (p.key(), p.host_port)).collect();
    later.taken = [40000, 40001, 40002]
        .map(|port| crate::firewall::hostports::Taken {
            addr: crate::firewall::ports::HostAddr::AnyV4,
            port,
            proto: crate::firewall::ports::Proto::Tcp,
            by: "lab other".into(),
        })
        .to_vec();
    let again = crate::plan::compile_with(&t, &later);
    assert_eq!(again.ports, plan.ports);
    assert!(up_ops(&again, Some(&record), &kernel).is_empty(), "a converge moved a picked port");
    let more = topology(&NAT.replace(r#"["8080:80"]"#, r#"["80", "10.8.8.8::81", "82"]"#));
    let grown = crate::plan::compile_with(&more, &later);
    assert_eq!(grown.ports[2].host_port, 40003);
    // A file that now names a picked port for another entry takes it; the pick moves.
    let named = topology(&NAT.replace(r#"["8080:80"]"#, r#"["80", "10.8.8.8::81", "40000:90"]"#));
    let moved = crate::plan::compile_with(&named, &later);
    let hosts: Vec<u16> = moved.ports.iter().map(|p| p.host_port).collect();
    assert_eq!(hosts, [40003, 40001, 40000]);
}

#[test]
fn a_table_of_the_labs_name_that_netlab_did_not_make_is_in_the_way() {
    let plan = crate::plan::compile(&topology(NAT));
    let mut kernel = FakeKernel::new(&plan.lab);
    let stranger = crate::kernel::fake::Table { mark: "mine".into(), chains: Vec::new(), rules: Default::default() };
    let host = kernel.world.stacks.get_mut(&crate::kernel::fake::HOST).unwrap();
    host.tables.insert((crate::firewall::ruleset::Family::Inet, "netlab-nat".into()), stranger);
    let known: Vec<&Op> = plan.ops.iter().collect();
    let d = diff(&plan, None, &kernel.live(&known), &crate::sharing::HostShares::default());
    assert_eq!(
        d.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["nftables table inet netlab-nat in the host is in the way: netlab did not make it (its comment is \
             \"mine\", not \"netlab:nat\", so it is not this lab's); netlab does not touch it: remove it (nft delete \
             table inet netlab-nat) or rename the lab"]
    );
}

#[test]
fn down_stops_forwarding_then_deletes_the_firewall_before_the_links_it_names() {
    let down = crate::plan::compile(&topology(NAT)).teardown();
    let kinds: Vec<&str> = down.ops.iter().map(crate::plan::text::kind).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
    assert!(at("sysctl restore") < at("nft table del"), "{kinds:?}");
    assert!(at("nft table del") < at("link del"), "{kinds:?}");
    assert!(at("link del") < at("conntrack flush"), "{kinds:?}");
    assert!(!kinds.contains(&"nft rule del"), "the rules go with their table: {kinds:?}");
}

/// The WAN lab (topologies/wan.toml), up on the fake kernel with `caps`: its record, and
/// the plan it was brought up from.
fn wan_up(kernel: &mut FakeKernel, state: &StateDir, caps: crate::plan::Capabilities) -> (Record, Plan) {
    let t = crate::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/wan.toml")).unwrap();
    let plan = crate::plan::compile_for(&t, caps);
    let mut record = state.new_record(&plan.lab);
    let ops = up_ops(&plan, None, kernel);
    run(kernel, &mut record, &ops).0.unwrap();
    record.settle(&plan).unwrap();
    (record, plan)
}

#[test]
fn an_impairment_changed_at_run_time_is_drift_that_up_puts_back_in_place() {
    let empty = FakeKernel::new("wan").world;
    let mut kernel = FakeKernel::new("wan");
    let dir = TempDir::new();
    let (mut record, plan) = wan_up(&mut kernel, &StateDir::new(dir.path()), crate::plan::Capabilities::FULL);
    let w = Netns::Named("netlab-wan-relay".into());
    let relay_a =
        plan.ops.iter().find_map(|op| if let Op::RelayStart { a, .. } = op { Some(a.clone()) } else { None }).unwrap();
    let gw = |n: &str| Netns::Named(format!("wan-gw-{n}"));
    // What `netlab impair` does: the relay told, a qdisc replaced, a drop removed; and a
    // drop on a link the file does not impair (as `link ... cut` leaves).
    let delay: crate::impairment::Impairment = "delay=100ms".parse().unwrap();
    let runtime = vec![
        Op::RelaySet { netns: w.clone(), a: relay_a.clone(), a_to_b: Some(delay.clone()), b_to_a: None },
        Op::QdiscReplace {
            netns: gw("a"),
            dev: "bak0".into(),
            kind: crate::impair::kernel::QdiscKind::Tbf,
            impairment: "rate=1mbit".parse().unwrap(),
        },
        Op::DropDel { netns: gw("a"), dev: "bak0".into() },
        Op::DropSet {
            netns: Netns::Named("wan-client".into()),
            dev: "eth0".into(),
            loss: Default::default(),
            carrier: false,
        },
    ];
    let (result, out) = run(&mut kernel, &mut record, &runtime);
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));
    let relay_set = record.entries.iter().any(|e| matches!(e.op, Op::RelaySet { .. }));
    assert!(!relay_set, "a relay's settings are not the record's: its relay_start is");

    let known: Vec<&Op> = plan.ops.iter().chain(record.entries.iter().map(|e| &e.op)).collect();
    let d = diff(&plan, Some(&record), &kernel.live(&known), &HostShares::default());
    let text = crate::diff::text::render(&plan.lab, &d);
    let lines: Vec<String> =
        text.lines().skip(1).map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines, ["- drop del", "~ qdisc replace", "+ drop set", "~ relay set"], "{text}");
    assert!(text.contains("(impairment: file a-b delay=20ms,jitter=5ms,loss=1%,rate=10mbit,seed=7"), "{text}");
    assert!(text.contains("kernel a-b delay=100ms"), "{text}");
    // The relay is told, not restarted: a program under test keeps its connections.
    assert!(d.ops().iter().all(|op| !matches!(op, Op::RelayStop { .. } | Op::RelayStart { .. })));
    let ops = d.ops();
    let (result, out) = run(&mut kernel, &mut record, &ops);
    result.unwrap_or_else(|f| panic!("{f}\n{out}"));
    record.settle(&plan).unwrap();
    assert!(up_ops(&plan, Some(&record), &kernel).is_empty(), "in sync once up put the file's back");
    assert!(down(&mut kernel, &record).is_empty());
    assert_eq!(kernel.world, empty);
}

#[test]
fn a_link_moved_between_the_kernel_and_the_relay_is_made_anew_and_down_clears_both() {
    let empty = FakeKernel::new("wan").world;
    let mut kernel = FakeKernel::new("wan");
    let dir = TempDir::new();
    let state = StateDir::new(dir.path());
    // Up on a kernel with netem (the mobile node's link is netem's), then the same file
    // on one without (its link goes through the relay), then back.
    let (mut record, full) = wan_up(&mut kernel, &state, crate::plan::Capabilities::FULL);
    let bare = crate::plan::compile_for(
        &crate::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/wan.toml")).unwrap(),
        crate::plan::Capabilities { netem: false, ..crate::plan::Capabilities::FULL },
    );
    for plan in [&bare, &full] {
        let ops = up_ops(plan, Some(&record), &kernel);
        assert!(ops.iter().any(|op| matches!(op, Op::VethAdd { .. })), "the mobile link is made anew: {ops:#?}");
        let (result, out) = run(&mut kernel, &mut record, &ops);
        result.unwrap_or_else(|f| panic!("{f}\n{out}"));
        record.settle(plan).unwrap();
        assert!(up_ops(plan, Some(&record), &kernel).is_empty(), "not in sync after the move");
    }
    assert_eq!(kernel.world.relays.len(), 1, "only the WAN's relay is left");
    assert!(down(&mut kernel, &record).is_empty());
    assert_eq!(kernel.world, empty);
}
