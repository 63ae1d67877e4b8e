//! What labs share on the host: its sysctls (`[host] sysctl`, and the forwarding a
//! `nat = true` network turns on, which is a host sysctl of its lab's like those). Each
//! lab's own objects are its alone, but the host has one `net.ipv4.ip_forward` for every
//! lab that is up. The rules, for one host sysctl:
//!
//! - The first lab to set it records the value from before ("before"), as any sysctl.
//! - A lab that wants the value labs that are up have set *shares* it: nothing is
//!   written, and its record gets the same "before" as theirs (see [`settle`]).
//! - A lab that wants another value than labs that are up have set is refused, naming
//!   them (a [`Want::Taken`], which the diff turns into a conflict).
//! - A lab that goes down (or drops the sysctl from its file) while other labs that are up
//!   share it leaves it alone; the last one puts "before" back.
//! - A value the host had before any lab wanted it is shared the same way, with no
//!   "before": the labs rely on it, and nobody puts anything back.
//!
//! `net.ipv4.ip_forward` and `net.ipv4.conf.all.forwarding` are one setting in the kernel
//! (writing one writes the other, and every device's `forwarding`): they are one key here
//! ([`canonical`]).
//!
//! Who shares what is read from the labs' records and nowhere else: a record lists the
//! host sysctls its lab set or shares, and is written before each batch of ops is sent,
//! so after a kill -9 at any moment the records still say who relies on what, and there
//! is no second account to repair. The host lock ([`HostLock`]) keeps two netlabs from
//! deciding at once: each holds it from reading the other labs' records until its own
//! record says what it did.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

mod lock;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;

pub use lock::HostLock;

use crate::live::normalise_sysctl;
use crate::plan::{Op, Plan};
use crate::state::{Entry, Record, StateDir};
use crate::topology::{names, Netns};

/// The key under which a host sysctl is shared: settings the kernel keeps as one are one
/// key (`net.ipv4.conf.all.forwarding` is `net.ipv4.ip_forward`; see
/// [`names::sysctl_setting`]).
pub fn canonical(key: &str) -> &str {
    names::sysctl_setting(key)
}

/// The host sysctl an op sets or puts back, if it is one.
pub fn host_sysctl(op: &Op) -> Option<&str> {
    if let Op::SysctlSet { netns: Netns::Host, key, .. } | Op::SysctlRestore { netns: Netns::Host, key } = op {
        Some(key)
    } else {
        None
    }
}

/// Whether any of `ops` sets or puts back a host sysctl: a run with such ops (in its plan
/// or its record) decides about what labs share, under the [`HostLock`].
pub fn touches_host<'a>(ops: impl IntoIterator<Item = &'a Op>) -> bool {
    ops.into_iter().any(|op| host_sysctl(op).is_some())
}

/// One lab's hold on a host sysctl, as its record has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharer {
    pub lab: String,
    /// The key as the lab's file spells it.
    pub key: String,
    pub value: String,
    /// The value from before the first lab set it (`None`: the host had the value).
    pub before: Option<String>,
}

/// The host sysctls of the labs that are up (usually all but the one a run is about), by
/// [`canonical`] key.
#[derive(Debug, Clone, Default)]
pub struct HostShares {
    by_key: BTreeMap<String, Vec<Sharer>>,
    /// Labs whose record could not be read, with why: what they share is not known.
    unreadable: Vec<(String, String)>,
}

/// A host sysctl that labs that are up have set or rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared<'a> {
    /// The [`canonical`] key.
    pub key: &'a str,
    /// The value they set (the first lab's, in name order, should they differ).
    pub value: &'a str,
    pub labs: Vec<&'a str>,
    /// The value the host had before the first of them set it: what the last of them to
    /// go down puts back. `None`: the host had the value before any lab wanted it (no lab
    /// changed it, and none puts anything back).
    pub before: Option<&'a str>,
}

impl Shared<'_> {
    /// Whether labs changed the host's value: then it is theirs until the last goes down.
    /// (The NAT feature asks this of the forwarding settings: whether netlab turned
    /// forwarding on, and so whether a nat lab guards what else would be routed; see
    /// `commands::host_facts`.)
    pub fn changed_by_labs(&self) -> bool {
        self.before.is_some_and(|b| normalise_sysctl(b) != normalise_sysctl(self.value))
    }
}

/// What `up` makes of a host sysctl its lab wants ([`HostShares::want`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want<'a> {
    /// No lab that is up has it: the lab's alone, like any sysctl (set when the kernel
    /// has another value, recorded with the value it replaces).
    Alone,
    /// Labs that are up have it at the same value: the lab shares it. Nothing to write
    /// when the kernel has the value; the lab's record gets `before`.
    Shared(Shared<'a>),
    /// Labs that are up set it to another value: the lab is refused.
    Taken {
        /// Each lab that set another value, with its key and value.
        labs: Vec<&'a Sharer>,
    },
}

/// What a lab that lets go of a host sysctl (`down`, or a file that no longer has it)
/// does about it ([`HostShares::release`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release<'a> {
    /// No other lab that is up has it: put back the value the lab's record has.
    Restore,
    /// Other labs that are up have it: left as it is.
    Keep { labs: Vec<&'a str> },
    /// A record could not be read, so whether another lab has it is not known: left as
    /// it is, and the lab's record keeps it for a later try.
    Unknown { why: String },
}

impl HostShares {
    /// The host sysctls of every lab with a record in `state` but `except`. A record that
    /// cannot be read is noted ([`HostShares::unreadable`]), not an error: what to do
    /// about not knowing is the caller's decision.
    pub fn read(state: &StateDir, except: Option<&str>) -> io::Result<HostShares> {
        let mut shares = HostShares::default();
        for lab in state.labs()?.into_iter().filter(|l| Some(l.as_str()) != except) {
            match state.load(&lab) {
                Ok(Some(record)) => shares.add(&record),
                Ok(None) => {}
                Err(e) => shares.unreadable.push((lab, e.to_string())),
            }
        }
        Ok(shares)
    }

    /// The host sysctls of the labs whose records are `records` (already read).
    pub fn of(records: &[Record]) -> HostShares {
        let mut shares = HostShares::default();
        records.iter().for_each(|r| shares.add(r));
        shares
    }

    fn add(&mut self, record: &Record) {
        for e in &record.entries {
            // A pending entry counts: the value may have been written.
            let Op::SysctlSet { netns: Netns::Host, key, value } = &e.op else { continue };
            let sharers = self.by_key.entry(canonical(key).to_string()).or_default();
            if sharers.iter().any(|s| s.lab == record.lab) {
                continue;
            }
            sharers.push(Sharer {
                lab: record.lab.clone(),
                key: key.clone(),
                value: normalise_sysctl(value),
                before: e.previous.clone(),
            });
        }
    }

    /// Labs whose record could not be read, with why.
    pub fn unreadable(&self) -> &[(String, String)] {
        &self.unreadable
    }

    /// The labs that have `key` (any spelling of it), in name order.
    pub fn sharers(&self, key: &str) -> &[Sharer] {
        self.by_key.get(canonical(key)).map_or(&[], Vec::as_slice)
    }

    /// `key` as the labs that have it share it, if any has it.
    pub fn setting(&self, key: &str) -> Option<Shared<'_>> {
        let (key, sharers) = self.by_key.get_key_value(canonical(key))?;
        let first = sharers.first()?;
        Some(Shared {
            key,
            value: &first.value,
            labs: sharers.iter().map(|s| s.lab.as_str()).collect(),
            // Every sharer's record has the first one's (see `settle`); should they
            // differ, a value that was changed wins over none.
            before: sharers.iter().find_map(|s| s.before.as_deref()),
        })
    }

    /// What a lab that wants host sysctl `key` = `value` does about the labs that are up:
    /// the one decision `up` (the diff) makes about a host sysctl before anything else.
    pub fn want(&self, key: &str, value: &str) -> Want<'_> {
        let want = normalise_sysctl(value);
        let other: Vec<&Sharer> = self.sharers(key).iter().filter(|s| s.value != want).collect();
        if !other.is_empty() {
            return Want::Taken { labs: other };
        }
        self.setting(key).map_or(Want::Alone, Want::Shared)
    }

    /// What a lab that lets go of host sysctl `key` does: put its value back only when no
    /// other lab that is up has it.
    pub fn release(&self, key: &str) -> Release<'_> {
        let labs: Vec<&str> = self.sharers(key).iter().map(|s| s.lab.as_str()).collect();
        if !labs.is_empty() {
            return Release::Keep { labs };
        }
        match self.unreadable.as_slice() {
            [] => Release::Restore,
            unreadable => {
                let why: Vec<String> = unreadable.iter().map(|(lab, e)| format!("lab {lab}'s record: {e}")).collect();
                Release::Unknown { why: why.join("; ") }
            }
        }
    }

    /// Splits a teardown's ops (`down`): the host sysctl restores other labs that are up
    /// still rely on are left out (with those labs), and so are the ones about which that
    /// cannot be told (with why); the rest is returned in order.
    pub fn release_all(&self, ops: Vec<Op>) -> Released {
        let mut released = Released::default();
        for op in ops {
            let Some(key) = host_sysctl(&op).filter(|_| matches!(op, Op::SysctlRestore { .. })) else {
                released.ops.push(op);
                continue;
            };
            match self.release(key) {
                Release::Restore => released.ops.push(op),
                Release::Keep { labs } => {
                    let labs = labs.into_iter().map(str::to_string).collect();
                    released.kept.push((op, labs));
                }
                Release::Unknown { why } => released.unknown.push((op, why)),
            }
        }
        released
    }
}

/// A teardown after [`HostShares::release_all`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// What to apply.
    pub ops: Vec<Op>,
    /// Host sysctl restores left out: other labs that are up have the sysctl.
    pub kept: Vec<(Op, Vec<String>)>,
    /// Host sysctl restores left out: whether another lab has it cannot be told.
    pub unknown: Vec<(Op, String)>,
}

/// `Record::settle` for a lab that may share host sysctls: each host sysctl that labs that
/// are up (`shares`) have too carries the value from before the first of them, whatever
/// this run found (the value they set, or what someone wrote since), so that every sharer's
/// record says the same and the last to go down, whichever it is, puts that back. Saved
/// once, so a kill leaves either the old record or this one.
pub fn settle(record: &mut Record, plan: &Plan, shares: &HostShares) -> io::Result<()> {
    let before_of = |op: &Op| {
        let Op::SysctlSet { netns: Netns::Host, key, .. } = op else { return None };
        shares.setting(key).map(|s| s.before.map(str::to_string))
    };
    // `settle` keeps, per key, the first value from before that an entry has: this run's
    // entries are given the shared one, and a sysctl this run did not write (the kernel
    // had the shared value) gets an entry to carry it.
    for e in &mut record.entries {
        if let Some(before) = before_of(&e.op) {
            e.previous = before;
        }
    }
    for op in &plan.ops {
        if let Some(Some(before)) = before_of(op) {
            if !record.entries.iter().any(|e| e.op.key() == op.key()) {
                let joined = Entry { op: op.clone(), pending: false, previous: Some(before), ns_id: None };
                record.entries.push(joined);
            }
        }
    }
    record.settle(plan)
}

/// A host sysctl of one lab, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostSysctl {
    pub key: String,
    pub value: String,
    /// The other labs that are up and have it.
    pub shared_with: Vec<String>,
    /// The value the host had before the first lab set it, which the last to go down puts
    /// back (`null`: the host had the value before any lab; it stays).
    pub before: Option<String>,
}

impl HostSysctl {
    /// The host sysctls lab `record` set or shares, with the other labs that have them.
    pub fn of(record: &Record, others: &HostShares) -> Vec<HostSysctl> {
        let mut out: Vec<HostSysctl> = Vec::new();
        for e in &record.entries {
            let Op::SysctlSet { netns: Netns::Host, key, value } = &e.op else { continue };
            if out.iter().any(|s| s.key == *key) {
                continue;
            }
            let shared_with = others.sharers(key).iter().map(|s| s.lab.clone()).collect();
            let before = e.previous.clone().filter(|b| normalise_sysctl(b) != normalise_sysctl(value));
            out.push(HostSysctl { key: key.clone(), value: value.clone(), shared_with, before });
        }
        out
    }

    /// `net.ipv4.ip_forward = 1 (shared with lab b; the last lab to go down puts back 0)`.
    pub fn text(&self) -> String {
        let after = match &self.before {
            Some(before) if self.shared_with.is_empty() => format!("down puts back {before}"),
            Some(before) => format!("the last lab to go down puts back {before}"),
            None => "the host had it before: it stays".to_string(),
        };
        let with: Vec<&str> = self.shared_with.iter().map(String::as_str).collect();
        let shared = if with.is_empty() { String::new() } else { format!("shared with {}; ", lab_list(&with)) };
        format!("{} = {} ({shared}{after})", self.key, self.value)
    }
}

/// What `up` says about a host sysctl it shares instead of setting: the labs that set it,
/// and what happens when the last goes down. `None` for an op that is not a host sysctl
/// labs that are up have.
pub fn sharing_note(op: &Op, shares: &HostShares) -> Option<String> {
    let Op::SysctlSet { netns: Netns::Host, key, value } = op else { return None };
    let Want::Shared(shared) = shares.want(key, value) else { return None };
    let labs = lab_list(&shared.labs);
    let after = match shared.before {
        Some(before) if shared.changed_by_labs() => format!("the last lab to go down puts back {before}"),
        Some(_) | None => "the host had it before them: it stays".to_string(),
    };
    Some(format!("# host sysctl {key} = {value}: shared with {labs}, which {} up ({after})", is_are(&shared.labs)))
}

/// What `down` says about a host sysctl it leaves to the labs that still have it.
pub fn kept_note(op: &Op, labs: &[String]) -> String {
    let key = host_sysctl(op).unwrap_or_default();
    let labs: Vec<&str> = labs.iter().map(String::as_str).collect();
    format!(
        "# host sysctl {key} left as it is: {} {} up and {} it too",
        lab_list(&labs),
        is_are(&labs),
        has_have(&labs)
    )
}

/// "lab a", "labs a and b", "labs a, b and c".
pub fn lab_list(labs: &[&str]) -> String {
    match labs {
        [] => "no lab".to_string(),
        [one] => format!("lab {one}"),
        [init @ .., last] => format!("labs {} and {last}", init.join(", ")),
    }
}

fn is_are(labs: &[&str]) -> &'static str {
    if labs.len() == 1 {
        "is"
    } else {
        "are"
    }
}

fn has_have(labs: &[&str]) -> &'static str {
    if labs.len() == 1 {
        "has"
    } else {
        "have"
    }
}
