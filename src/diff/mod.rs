//! Desired versus live: the changes that bring the kernel to what the file says.
//!
//! The desired state is the compiled plan; the live state is what the kernel showed (a
//! [`LiveLab`]); the lab record says what netlab made before. Every desired op that the
//! kernel does not already satisfy becomes a change, every object of the lab's that the
//! file no longer wants becomes a removal, and anything in the way that netlab did not
//! create is a conflict: `up` then changes nothing. A changed object is fixed in place
//! where the kernel allows (mtu, master, up, a sysctl, a file) and made anew where it does
//! not (a vxlan's vni, a veth's peer); what hangs off a remade link (its addresses, routes,
//! port) is made again with it.
//!
//! What the kernel makes by itself (link-local IPv6, connected routes, loopback's
//! addresses) is never drift, and what is not the lab's (see [`crate::ownership`]) is never
//! touched. This module only compares data: it reads nothing from the kernel itself.
//!
//! The comparison runs in passes over the desired ops, because what is decided about a
//! namespace (new, or going) decides about everything in it, and what is decided about a
//! device (made anew, renamed) decides about what hangs off it: `namespaces`, then
//! `devices` (and nftables tables, whose rules hang off them), then `settings` (with
//! `impairments`), then `unwanted` for what the file no longer has, then `consequences`
//! for what the kernel will take away by itself with those changes (the routes of a
//! renamed link, a bridge's mtu when its ports change...). Each of the first passes
//! matches every kind of op, so a new kind makes the compiler ask where it is compared.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

mod consequences;
mod devices;
mod impairments;
mod namespaces;
mod settings;
pub mod text;
mod unwanted;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::firewall::ruleset::Family;
use crate::live::{LiveLab, LiveLink, LiveNetns};
use crate::ownership::{lab_of, Claims, NotOurs};
use crate::plan::{Op, OpKey, Plan};
use crate::sharing::{lab_list, HostShares, Sharer};
use crate::state::{Entry, Record};
use crate::topology::{EtcFileKind, Netns};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    /// Missing: would be created.
    Add,
    /// Present and not wanted: would be removed.
    Remove,
    /// Present but different: would be fixed (or made anew).
    Modify,
}

impl Sign {
    pub fn symbol(self) -> char {
        match self {
            Sign::Add => '+',
            Sign::Remove => '-',
            Sign::Modify => '~',
        }
    }
}

/// One field that differs: what the file wants and what the kernel has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub field: String,
    pub desired: String,
    pub actual: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub change: Sign,
    /// The op that makes the change.
    pub op: Op,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub field: Option<Field>,
    /// The index in the desired plan of the op this change comes from (none for a
    /// removal): to apply changes in the plan's relative order.
    #[serde(skip)]
    pub plan_index: Option<usize>,
}

/// Something in the way that netlab did not make: while there is any, `up` changes
/// nothing. Shown (and serialized) as the sentence that says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A file under /run/netns, where a namespace of the lab's belongs, with no
    /// namespace mounted on it.
    Placeholder { netns: String },
    /// A namespace under a name of the lab's that is not the lab's (`owner`: the lab
    /// whose mark its lo carries, if another lab's).
    Namespace { netns: String, lab: String, alias: String, owner: Option<String> },
    /// A container-mode name that names another namespace than its target (`owner`: the
    /// lab whose namespace that is, if another lab's).
    AliasName { netns: String, owner: Option<String> },
    /// A link where the lab wants one, without the lab's mark (`owner`: the lab whose
    /// mark it carries, if another lab's).
    Link { netns: Netns, name: String, alias: String, owner: Option<String> },
    /// An /etc/netns file netlab did not write, where the lab wants one.
    File { netns: String, file: EtcFileKind },
    /// An nftables table of the lab's name that netlab did not make (no lab mark).
    NftTable { netns: Netns, family: Family, name: String, why: NotOurs },
    /// A host sysctl the lab wants at `value`, which labs that are up set otherwise: each
    /// with its spelling of the key and its value.
    HostSysctl { key: String, value: String, labs: Vec<Sharer> },
    /// An nftables table under the name of one of the lab's drops, without its mark.
    Table { netns: Netns, table: String, lab: String },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Placeholder { netns } => write!(
                f,
                "/run/netns/{netns} exists but holds no namespace, and netlab did not make it; remove the file"
            ),
            Conflict::Namespace { netns, owner: Some(owner), .. } => write!(
                f,
                "namespace {netns} already exists and is lab {owner}'s (its lo carries `netlab:{owner}`); \
                 take that lab down (netlab down --lab {owner}) or choose another [lab] prefix"
            ),
            Conflict::Namespace { netns, lab, alias, owner: None } => write!(
                f,
                "namespace {netns} already exists and is not lab {lab}'s (its lo has no `{alias}` mark); \
                 remove it (ip netns del {netns}) or choose another [lab] prefix"
            ),
            Conflict::AliasName { netns, owner: Some(owner) } => write!(
                f,
                "namespace name {netns} is taken by a namespace of lab {owner}; take that lab down \
                 (netlab down --lab {owner}) or choose another [lab] prefix"
            ),
            Conflict::AliasName { netns, owner: None } => write!(
                f,
                "namespace name {netns} is taken by another namespace that netlab did not make; \
                 remove it (ip netns del {netns})"
            ),
            Conflict::Link { netns, name, owner: Some(owner), .. } => write!(
                f,
                "link {name} in {} already exists and is lab {owner}'s (`netlab:{owner}` alias); \
                 take that lab down (netlab down --lab {owner}) or rename the interface",
                place(netns)
            ),
            Conflict::Link { netns, name, alias, owner: None } => write!(
                f,
                "link {name} in {} already exists and netlab did not make it (no `{alias}` alias); \
                 remove or rename it",
                place(netns)
            ),
            Conflict::HostSysctl { key, value, labs } => {
                let names: Vec<&str> = labs.iter().map(|s| s.lab.as_str()).collect();
                let set: Vec<String> = labs
                    .iter()
                    .map(|s| {
                        if s.key == *key {
                            s.value.clone()
                        } else {
                            format!("{} (as {}, the same setting)", s.value, s.key)
                        }
                    })
                    .collect();
                let (who, are) = (lab_list(&names), if names.len() == 1 { "is" } else { "are" });
                write!(
                    f,
                    "host sysctl {key} = {value} conflicts with {who}, which {are} up and set it to {}; labs that are up \
                     share the host's sysctls: make the files agree, or take {who} down first",
                    set.join(", ")
                )
            }
            Conflict::NftTable { netns, family, name, why } => {
                let (place, nft) = match netns {
                    Netns::Host => ("the host".to_string(), "nft".to_string()),
                    Netns::Named(n) => (format!("namespace {n}"), format!("ip netns exec {n} nft")),
                };
                write!(
                    f,
                    "nftables table {} {name} in {place} is in the way: netlab did not make it ({why}); \
                     netlab does not touch it: remove it ({nft} delete table {} {name}) or rename the lab",
                    family.as_str(),
                    family.as_str()
                )
            }
            Conflict::Table { netns, table, lab } => write!(
                f,
                "nftables table netdev {table} in {} already exists and is not lab {lab}'s (its comment does not \
                 start with `netlab:{lab}`); remove it (nft delete table netdev {table})",
                match netns {
                    Netns::Host => "the host".to_string(),
                    Netns::Named(n) => format!("namespace {n}"),
                }
            ),
            Conflict::File { netns, file } => write!(
                f,
                "/etc/netns/{netns}/{} exists and netlab did not write it; remove it or drop the node's \
                 hostname/hosts/dns",
                file.file_name()
            ),
        }
    }
}

/// A namespace as a place in a sentence.
fn place(netns: &Netns) -> String {
    match netns {
        Netns::Host => "the host".to_string(),
        Netns::Named(n) => format!("namespace {n}"),
    }
}

impl Serialize for Conflict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// In the order they are applied: removals first, then additions and fixes in the
    /// plan's order (see `in_order`).
    pub changes: Vec<Change>,
    /// Objects in the way that are not the lab's; while there are any, nothing is applied.
    pub conflicts: Vec<Conflict>,
}

impl Diff {
    pub fn ops(&self) -> Vec<Op> {
        self.changes.iter().map(|c| c.op.clone()).collect()
    }

    pub fn in_sync(&self) -> bool {
        self.changes.is_empty() && self.conflicts.is_empty()
    }
}

/// The order in which changes are applied (and listed): removals first, what hangs off a
/// thing before the thing (see [`Op::removal_rank`]); then additions and fixes in the
/// order of the plan ops they come from, so that a converge does what `plan` says in the
/// order it says it (a namespace's `conf.default` sysctls before its devices, links up
/// before their addresses...), and a lab that is not up gets exactly its plan.
///
/// Removals go first because what a converge removes is either not wanted at all (nothing
/// wanted depends on it) or in the way of what replaces it: a link made anew under its
/// name, a route or a forwarder with other parameters, an address moved to another device.
/// Both sorts are stable: within a rank, or within one plan op (a veth renamed, then its
/// mtu fixed), in the order the passes found them.
fn in_order(mut removals: Vec<Change>, mut additions: Vec<Change>) -> Vec<Change> {
    removals.sort_by_key(|c| c.op.removal_rank());
    additions.sort_by_key(|c| c.plan_index);
    removals.extend(additions);
    removals
}

/// The changes that bring `live` to `desired`, for a lab whose record is `record` (`None`:
/// the lab is not up), while the other labs that are up have the host sysctls `shares`
/// (see [`crate::sharing`]: a host sysctl they set is shared, not set again or put back,
/// and one they set otherwise is a conflict).
pub fn diff(desired: &Plan, record: Option<&Record>, live: &LiveLab, shares: &HostShares) -> Diff {
    Differ::new(desired, record, live, shares).run()
}

struct Differ<'a> {
    desired: &'a Plan,
    live: &'a LiveLab,
    claims: Claims<'a>,
    /// The host sysctls of the other labs that are up.
    shares: &'a HostShares,
    /// The record's entries, in the order they were applied.
    entries: &'a [Entry],
    wanted: HashSet<OpKey>,
    /// Namespaces that will be made (anew): everything in them is new too.
    fresh: HashSet<String>,
    /// Namespaces that will be removed.
    gone: HashSet<String>,
    /// Links that will be deleted (and perhaps made anew).
    dropped: HashSet<(Netns, String)>,
    /// nftables tables that will be made (anew), by key: every rule in them is new too.
    fresh_tables: HashSet<OpKey>,
    /// Links that will be renamed, under their new name; and their old names.
    renamed: HashMap<(Netns, String), LiveLink>,
    renamed_from: HashMap<(Netns, String), String>,
    removals: Vec<Change>,
    /// The removal ops so far, to make each once.
    removing: HashSet<Op>,
    additions: Vec<Change>,
    conflicts: Vec<Conflict>,
    /// The index of the desired op being compared.
    at: Option<usize>,
}

impl<'a> Differ<'a> {
    fn new(desired: &'a Plan, record: Option<&'a Record>, live: &'a LiveLab, shares: &'a HostShares) -> Self {
        let entries: &[Entry] = record.map_or(&[], |r| &r.entries);
        Differ {
            desired,
            live,
            claims: Claims::new(&desired.lab, entries),
            shares,
            entries,
            wanted: desired.ops.iter().map(Op::key).collect(),
            fresh: HashSet::new(),
            gone: HashSet::new(),
            dropped: HashSet::new(),
            fresh_tables: HashSet::new(),
            renamed: HashMap::new(),
            renamed_from: HashMap::new(),
            removals: Vec::new(),
            removing: HashSet::new(),
            additions: Vec::new(),
            conflicts: Vec::new(),
            at: None,
        }
    }

    fn run(mut self) -> Diff {
        let desired = self.desired;
        for (i, op) in desired.ops.iter().enumerate() {
            self.at = Some(i);
            self.namespace(op);
        }
        self.at = None;
        self.unwanted_namespaces();
        let wanted_links = self.wanted_links();
        for (i, op) in desired.ops.iter().enumerate() {
            self.at = Some(i);
            self.device(op, &wanted_links);
        }
        for (i, op) in desired.ops.iter().enumerate() {
            self.at = Some(i);
            self.setting(op);
        }
        self.at = None;
        self.unwanted();
        self.consequences();
        Diff { changes: in_order(self.removals, self.additions), conflicts: self.conflicts }
    }

    fn add(&mut self, op: &Op) {
        self.additions.push(Change { change: Sign::Add, op: op.clone(), field: None, plan_index: self.at });
    }

    fn modify(&mut self, op: Op, field: &str, desired: impl ToString, actual: impl ToString) {
        let field = Field { field: field.into(), desired: desired.to_string(), actual: actual.to_string() };
        self.additions.push(Change { change: Sign::Modify, op, field: Some(field), plan_index: self.at });
    }

    fn remove(&mut self, op: Op) {
        if self.removing.insert(op.clone()) {
            self.removals.push(Change { change: Sign::Remove, op, field: None, plan_index: None });
        }
    }

    fn owns_link(&self, link: &LiveLink) -> bool {
        self.claims.owns_link(link)
    }

    fn link_conflict(&mut self, netns: &Netns, name: &str) {
        let alias = self.claims.marks().alias.clone();
        let owner = self.link(netns, name).and_then(|l| lab_of(l.alias.as_deref()).map(str::to_string));
        self.conflicts.push(Conflict::Link { netns: netns.clone(), name: name.to_string(), alias, owner });
    }

    /// The live state of a namespace whose contents carry over (not new, not going).
    fn kept(&self, netns: &Netns) -> Option<&'a LiveNetns> {
        match netns {
            Netns::Named(n) if self.fresh.contains(n) || self.gone.contains(n) => None,
            Netns::Host | Netns::Named(_) => self.live.netns(netns),
        }
    }

    /// A link as it will be before the additions: absent if its namespace is new or it
    /// is being deleted.
    fn link(&self, netns: &Netns, name: &str) -> Option<LiveLink> {
        let key = (netns.clone(), name.to_string());
        if let Some(l) = self.renamed.get(&key) {
            return Some(l.clone());
        }
        if self.dropped.contains(&key) || self.renamed_from.contains_key(&key) {
            return None;
        }
        self.kept(netns)?.link(name).cloned()
    }

    /// Every link the file wants, by namespace and name (both ends of a veth).
    fn wanted_links(&self) -> HashSet<(Netns, String)> {
        self.desired.ops.iter().flat_map(Op::made_links).collect()
    }
}
