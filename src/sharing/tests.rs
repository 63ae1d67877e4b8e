//! The sharing rules with several labs on one in-memory kernel: `up` and `down` of each
//! lab run as the commands run them (the diff with the other labs' host sysctls, apply,
//! `settle`; the teardown less what other labs still have), in every order.

use super::*;
use crate::apply::{apply, best_effort, Printer};
use crate::diff::{diff, Conflict};
use crate::kernel::fake::FakeKernel;
use crate::kernel::Kernel;
use crate::plan::{compile, Direction};
use crate::testing::{topology, TempDir};

const FORWARD: &str = "net.ipv4.ip_forward";
const ALL_FORWARDING: &str = "net.ipv4.conf.all.forwarding";
/// The fake host has it at 2.
const RP_FILTER: &str = "net.ipv4.conf.all.rp_filter";

/// One machine: a kernel and a state directory that every lab uses.
struct Machine {
    kernel: FakeKernel,
    state: StateDir,
    _dir: TempDir,
}

/// A lab with one node and these host sysctls (`key = value`, TOML).
fn lab(name: &str, sysctls: &str) -> String {
    let host = if sysctls.is_empty() { String::new() } else { format!("[host]\nsysctl = {{ {sysctls} }}\n") };
    format!("[lab]\nname = \"{name}\"\n{host}[nodes.n]\n")
}

impl Machine {
    fn new() -> Machine {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path().join("netlab"));
        Machine { kernel: FakeKernel::new("nobody"), state, _dir: dir }
    }

    /// `netlab up` of a lab's file: the ops it applied, or the conflicts that refused it.
    fn up(&mut self, text: &str) -> Result<Vec<Op>, Vec<Conflict>> {
        let plan = compile(&topology(text));
        self.kernel.set_lab(&plan.lab);
        let mut record = self.state.load(&plan.lab).unwrap().unwrap_or_else(|| self.state.new_record(&plan.lab));
        let shares = HostShares::read(&self.state, Some(&plan.lab)).unwrap();
        let known: Vec<&Op> = plan.ops.iter().chain(record.entries.iter().map(|e| &e.op)).collect();
        let d = diff(&plan, Some(&record), &self.kernel.live(&known), &shares);
        if !d.conflicts.is_empty() {
            return Err(d.conflicts);
        }
        let ops = d.ops();
        let mut out = Vec::new();
        apply(&mut self.kernel, &mut record, &ops, &mut Printer::new(&mut out, &ops)).unwrap();
        settle(&mut record, &plan, &shares).unwrap();
        Ok(ops)
    }

    /// `netlab down --lab`: the host sysctl restores it left to other labs, with them.
    fn down(&mut self, lab: &str) -> Vec<(Op, Vec<String>)> {
        let record = self.state.load(lab).unwrap().expect("the lab is up");
        self.kernel.set_lab(lab);
        let shares = HostShares::read(&self.state, Some(lab)).unwrap();
        let teardown =
            Plan::new(lab, Direction::Down, record.entries.iter().map(|e| e.op.clone()).collect()).teardown();
        let released = shares.release_all(teardown.ops);
        assert!(released.unknown.is_empty(), "{:?}", released.unknown);
        let mut out = Vec::new();
        let printer = &mut Printer::new(&mut out, &released.ops);
        let errors = best_effort(&mut self.kernel, &released.ops, &|n, k| record.previous(n, k), printer, None);
        assert!(errors.is_empty(), "{errors:?}");
        record.remove().unwrap();
        released.kept
    }

    fn host(&self, key: &str) -> String {
        self.kernel.read_sysctls(&[(Netns::Host, key.to_string())]).remove(0).unwrap()
    }

    fn set_host(&mut self, key: &str, value: &str) {
        let op = Op::SysctlSet { netns: Netns::Host, key: key.into(), value: value.into() };
        assert!(self.kernel.apply(&[op], &|_, _| None)[0].is_ok());
    }

    /// The value from before that lab `lab`'s record has for host sysctl `key`.
    fn recorded_before(&self, lab: &str, key: &str) -> Option<String> {
        self.state.load(lab).unwrap().unwrap().previous(&Netns::Host, key)
    }
}

fn sets(ops: &[Op], key: &str) -> bool {
    ops.iter().any(|op| matches!(op, Op::SysctlSet { netns: Netns::Host, key: k, .. } if k == key))
}

/// Every order of `items`.
fn orders(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in orders(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

#[test]
fn ip_forward_set_by_several_labs_stays_until_the_last_goes_down_in_every_order() {
    // Each lab spells it one of the two ways the kernel has it.
    let spelling = |name: &str| if name == "b" { ALL_FORWARDING } else { FORWARD };
    let mut runs = 0;
    for ups in orders(&["a", "b", "c"]) {
        for downs in orders(&["a", "b", "c"]) {
            let mut m = Machine::new();
            let empty = m.kernel.world.clone();
            for (i, name) in ups.iter().enumerate() {
                let ops = m.up(&lab(name, &format!("\"{}\" = 1", spelling(name)))).unwrap();
                // Only the first sets it; the others share what it set.
                assert_eq!(sets(&ops, spelling(name)), i == 0, "up {ups:?}: {name} applied {ops:?}");
                assert_eq!(m.host(FORWARD), "1");
                assert_eq!(m.recorded_before(name, spelling(name)).as_deref(), Some("0"), "{name}'s before");
            }
            for (i, name) in downs.iter().enumerate() {
                let kept = m.down(name);
                let last = i == downs.len() - 1;
                assert_eq!(kept.is_empty(), last, "down {downs:?} after up {ups:?}: {name} kept {kept:?}");
                if let Some((_, labs)) = kept.first() {
                    let mut up: Vec<&str> = downs[i + 1..].to_vec();
                    up.sort();
                    assert_eq!(labs, &up, "{name} names the labs that still have it");
                }
                assert_eq!(m.host(FORWARD), if last { "0" } else { "1" }, "after down {name} of {downs:?}");
            }
            assert_eq!(m.kernel.world, empty, "up {ups:?}, down {downs:?} left something");
            runs += 1;
        }
    }
    assert_eq!(runs, 36);
}

#[test]
fn a_lab_that_wants_another_value_is_refused_naming_the_lab_and_the_host_gets_its_own_back() {
    let mut m = Machine::new();
    let empty = m.kernel.world.clone();
    m.up(&lab("a", "\"net.ipv4.conf.all.rp_filter\" = 1")).unwrap();
    let before_b = m.kernel.world.clone();
    let conflicts = m.up(&lab("b", "\"net.ipv4.conf.all.rp_filter\" = 0")).unwrap_err();
    let text: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["host sysctl net.ipv4.conf.all.rp_filter = 0 conflicts with lab a, which is up and set it to 1; labs that \
          are up share the host's sysctls: make the files agree, or take lab a down first"]
    );
    assert_eq!(m.kernel.world, before_b, "a refused lab changed the kernel");
    assert!(m.state.load("b").unwrap().is_none(), "a refused lab has a record");
    // Once a is down the host has its own value again, and b may set its own.
    assert!(m.down("a").is_empty());
    assert_eq!(m.host(RP_FILTER), "2");
    assert!(sets(&m.up(&lab("b", "\"net.ipv4.conf.all.rp_filter\" = 0")).unwrap(), RP_FILTER));
    assert_eq!(m.recorded_before("b", RP_FILTER).as_deref(), Some("2"));
    m.down("b");
    assert_eq!(m.kernel.world, empty);

    // The two spellings of forwarding are one setting, so one conflict.
    let mut m = Machine::new();
    m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    let conflicts = m.up(&lab("b", "\"net.ipv4.conf.all.forwarding\" = 0")).unwrap_err();
    assert_eq!(
        conflicts[0].to_string(),
        "host sysctl net.ipv4.conf.all.forwarding = 0 conflicts with lab a, which is up and set it to 1 (as \
         net.ipv4.ip_forward, the same setting); labs that are up share the host's sysctls: make the files agree, \
         or take lab a down first"
    );
}

#[test]
fn a_value_the_host_had_before_any_lab_is_relied_on_and_never_put_back() {
    let mut m = Machine::new();
    m.set_host(FORWARD, "1");
    let ops = m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    assert!(!sets(&ops, FORWARD), "the host has it: nothing to write");
    assert_eq!(m.recorded_before("a", FORWARD), None, "nothing to put back");
    // a relies on it: another value is refused while a is up.
    assert!(m.up(&lab("b", "\"net.ipv4.ip_forward\" = 0")).is_err());
    let ops = m.up(&lab("c", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    assert!(!sets(&ops, FORWARD));
    assert_eq!(m.recorded_before("c", FORWARD), None);
    m.down("a");
    m.down("c");
    assert_eq!(m.host(FORWARD), "1", "the host's own value stays");
}

#[test]
fn a_lab_that_joins_records_the_value_from_before_the_first_whatever_it_found() {
    let mut m = Machine::new();
    m.up(&lab("a", "\"net.ipv4.conf.all.rp_filter\" = 1")).unwrap();
    // Someone changes it by hand; b, which wants a's value, sets it back, and records the
    // host's value from before a (2), not the one it found (3).
    m.set_host(RP_FILTER, "3");
    assert!(sets(&m.up(&lab("b", "\"net.ipv4.conf.all.rp_filter\" = 1")).unwrap(), RP_FILTER));
    assert_eq!(m.recorded_before("b", RP_FILTER).as_deref(), Some("2"));
    m.down("a");
    assert_eq!(m.host(RP_FILTER), "1");
    m.down("b");
    assert_eq!(m.host(RP_FILTER), "2");
}

#[test]
fn a_lab_whose_file_drops_a_shared_sysctl_leaves_it_to_the_others_and_may_change_one_it_has_alone() {
    let mut m = Machine::new();
    m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    m.up(&lab("b", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    // a changes its value while b has it: refused.
    assert!(m.up(&lab("a", "\"net.ipv4.ip_forward\" = 0")).is_err());
    // a drops it from its file: nothing is put back, b still has it.
    let ops = m.up(&lab("a", "")).unwrap();
    assert!(ops.is_empty(), "{ops:?}");
    assert_eq!(m.host(FORWARD), "1");
    // b, alone with it now, may change it; its value from before stays the host's own.
    assert!(sets(&m.up(&lab("b", "\"net.ipv4.ip_forward\" = 2")).unwrap(), FORWARD));
    m.down("a");
    assert_eq!(m.host(FORWARD), "2");
    m.down("b");
    assert_eq!(m.host(FORWARD), "0");
}

#[test]
fn what_labs_share_is_read_from_their_records_and_a_record_that_cannot_be_read_is_not_guessed() {
    let mut m = Machine::new();
    m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    m.up(&lab("b", "\"net.ipv4.conf.all.forwarding\" = 1")).unwrap();
    let shares = HostShares::read(&m.state, None).unwrap();
    // For the NAT feature: whether netlab turned forwarding on, and what the host had.
    let forwarding = shares.setting(ALL_FORWARDING).unwrap();
    assert_eq!(forwarding, Shared { key: FORWARD, value: "1", labs: vec!["a", "b"], before: Some("0") });
    assert!(forwarding.changed_by_labs());
    assert_eq!(shares.release(FORWARD), Release::Keep { labs: vec!["a", "b"] });
    assert_eq!(HostShares::read(&m.state, Some("b")).unwrap().release(FORWARD), Release::Keep { labs: vec!["a"] });
    assert_eq!(shares.setting(RP_FILTER), None);
    assert_eq!(shares.release(RP_FILTER), Release::Restore);

    // A record cut short (a full disk, a hand edit): what its lab has is not known, so no
    // host sysctl is put back on a guess.
    std::fs::write(m.state.record_path("c"), "{\"version\": 1,").unwrap();
    let shares = HostShares::read(&m.state, Some("a")).unwrap();
    assert_eq!(shares.unreadable().len(), 1);
    assert_eq!(shares.unreadable()[0].0, "c");
    let Release::Unknown { why } = HostShares::read(&m.state, Some("b")).unwrap().release(RP_FILTER) else {
        panic!("a restore with an unreadable record")
    };
    assert!(why.starts_with("lab c's record: ") && why.contains("c.json"), "{why}");
}

#[test]
fn up_and_down_say_what_they_share() {
    let mut m = Machine::new();
    m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1")).unwrap();
    let shares = HostShares::read(&m.state, Some("b")).unwrap();
    let op = |key: &str| Op::SysctlSet { netns: Netns::Host, key: key.into(), value: "1".into() };
    assert_eq!(
        sharing_note(&op(ALL_FORWARDING), &shares).unwrap(),
        "# host sysctl net.ipv4.conf.all.forwarding = 1: shared with lab a, which is up (the last lab to go down \
         puts back 0)"
    );
    assert_eq!(sharing_note(&op(RP_FILTER), &shares), None);
    let restore = Op::SysctlRestore { netns: Netns::Host, key: FORWARD.into() };
    assert_eq!(
        kept_note(&restore, &["a".into(), "c".into()]),
        "# host sysctl net.ipv4.ip_forward left as it is: labs a and c are up and have it too"
    );
    m.set_host(RP_FILTER, "1");
    m.up(&lab("c", "\"net.ipv4.conf.all.rp_filter\" = 1")).unwrap();
    let shares = HostShares::read(&m.state, None).unwrap();
    assert_eq!(
        sharing_note(&op(RP_FILTER), &shares).unwrap(),
        "# host sysctl net.ipv4.conf.all.rp_filter = 1: shared with lab c, which is up (the host had it before \
         them: it stays)"
    );
}

#[test]
fn only_host_sysctls_are_shared() {
    let node = Op::SysctlSet { netns: Netns::Named("a".into()), key: FORWARD.into(), value: "1".into() };
    let host = Op::SysctlRestore { netns: Netns::Host, key: FORWARD.into() };
    assert_eq!(host_sysctl(&node), None);
    assert_eq!(host_sysctl(&host), Some(FORWARD));
    assert!(!touches_host([&node]) && touches_host([&node, &host]));
    assert_eq!(canonical(ALL_FORWARDING), FORWARD);
    assert_eq!(canonical("net.ipv6.conf.all.forwarding"), "net.ipv6.conf.all.forwarding");
    assert_eq!(lab_list(&["a", "b", "c"]), "labs a, b and c");
}

#[test]
fn status_shows_each_host_sysctl_with_the_labs_it_is_shared_with() {
    let mut m = Machine::new();
    m.set_host(RP_FILTER, "1");
    m.up(&lab("a", "\"net.ipv4.ip_forward\" = 1, \"net.ipv4.conf.all.rp_filter\" = 1")).unwrap();
    let alone = HostSysctl::of(&m.state.load("a").unwrap().unwrap(), &HostShares::read(&m.state, Some("a")).unwrap());
    let text: Vec<String> = alone.iter().map(HostSysctl::text).collect();
    assert_eq!(
        text,
        [
            "net.ipv4.ip_forward = 1 (down puts back 0)",
            "net.ipv4.conf.all.rp_filter = 1 (the host had it before: it stays)"
        ]
    );
    m.up(&lab("b", "\"net.ipv4.conf.all.forwarding\" = 1")).unwrap();
    let shared = HostSysctl::of(&m.state.load("b").unwrap().unwrap(), &HostShares::read(&m.state, Some("b")).unwrap());
    assert_eq!(
        shared,
        [HostSysctl {
            key: ALL_FORWARDING.into(),
            value: "1".into(),
            shared_with: vec!["a".into()],
            before: Some("0".into())
        }]
    );
    assert_eq!(
        shared[0].text(),
        "net.ipv4.conf.all.forwarding = 1 (shared with lab a; the last lab to go down puts back 0)"
    );
}

/// A kill -9 at any moment leaves records that say who relies on what: an `up` killed
/// after recording its host sysctl batch (pending, with the value from before) counts as
/// having set it, whether or not the write happened.
#[test]
fn a_lab_killed_while_setting_a_host_sysctl_still_counts() {
    for written in [true, false] {
        let mut m = Machine::new();
        let mut record = m.state.new_record("a");
        let set = Op::SysctlSet { netns: Netns::Host, key: FORWARD.into(), value: "1".into() };
        record.entries.push(Entry { previous: Some("0".into()), ..Entry::pending(set) });
        record.save().unwrap();
        if written {
            m.set_host(FORWARD, "1");
        }
        // b shares it (setting it if the kill came before the write), with a's before.
        let ops = m.up(&lab("b", "\"net.ipv4.ip_forward\" = 1")).unwrap();
        assert_eq!(sets(&ops, FORWARD), !written);
        assert_eq!(m.recorded_before("b", FORWARD).as_deref(), Some("0"));
        // a's down (from its pending record) leaves it to b; b's puts back 0.
        assert_eq!(m.down("a").len(), 1);
        assert_eq!(m.host(FORWARD), "1");
        m.down("b");
        assert_eq!(m.host(FORWARD), "0");
    }
}
