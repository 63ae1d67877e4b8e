//! The first pass: the lab's namespaces, wanted (made, or checked to be the lab's) and
//! no longer wanted (removed). What is decided here (a namespace made anew, or going)
//! decides about everything in it.

use super::{Conflict, Differ};
use crate::live::NsLive;
use crate::ownership::NotOurs;
use crate::plan::Op;

impl Differ<'_> {
    pub(super) fn namespace(&mut self, op: &Op) {
        use Op::*;
        match op {
            NetnsAdd { netns } => match self.live.namespaces.get(netns) {
                None | Some(NsLive::Absent) => {
                    self.fresh.insert(netns.clone());
                    self.add(op);
                }
                Some(NsLive::Unmounted) => match self.claims.owns_placeholder(netns) {
                    // Left by a run that was killed between making the file and mounting.
                    Ok(()) => {
                        self.remove(NetnsDel { netns: netns.clone() });
                        self.fresh.insert(netns.clone());
                        self.add(op);
                    }
                    Err(_) => self.conflicts.push(Conflict::Placeholder { netns: netns.clone() }),
                },
                Some(NsLive::Mounted { id, live }) => {
                    let lo = live.as_ref().and_then(|l| l.link("lo"));
                    if let Err(why) = self.claims.owns_namespace(*id, lo) {
                        let (lab, alias) = (self.desired.lab.clone(), self.claims.marks().alias.clone());
                        let owner = other_lab(why);
                        self.conflicts.push(Conflict::Namespace { netns: netns.clone(), lab, alias, owner });
                    }
                }
            },
            NetnsAlias { netns, target } => {
                let target_id = if self.fresh.contains(target) {
                    None
                } else {
                    self.live.namespaces.get(target).and_then(NsLive::id)
                };
                // What the name holds now: the lab's (a namespace or placeholder of its
                // own), or someone else's.
                let ours = match self.live.namespaces.get(netns) {
                    None | Some(NsLive::Absent) => return self.add(op),
                    Some(NsLive::Mounted { id, .. }) if Some(*id) == target_id => return,
                    Some(NsLive::Mounted { id, live }) => {
                        let lo = live.as_deref().or_else(|| self.live.read_namespace(*id)).and_then(|l| l.link("lo"));
                        self.claims.owns_namespace(*id, lo)
                    }
                    Some(NsLive::Unmounted) => self.claims.owns_placeholder(netns),
                };
                match ours {
                    // The lab's own second name, now naming another namespace of the lab's
                    // (or a placeholder it was making): named again.
                    Ok(()) => {
                        self.remove(NetnsDel { netns: netns.clone() });
                        self.modify(op.clone(), "target", target, "another namespace");
                    }
                    Err(why) => {
                        self.conflicts.push(Conflict::AliasName { netns: netns.clone(), owner: other_lab(why) })
                    }
                }
            }
            // Not namespaces: the later passes.
            SysctlSet { .. }
            | FileWrite { .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkSetMaster { .. }
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | LinkRename { .. }
            | LinkUp { .. }
            | LinkDown { .. }
            | AddrAdd { .. }
            | RouteAdd { .. }
            | ForwarderStart { .. }
            | NetnsDel { .. }
            | SysctlRestore { .. }
            | FileRemove { .. }
            | LinkDel { .. }
            | LinkSetNomaster { .. }
            | AddrDel { .. }
            | RouteDel { .. }
            | ForwarderStop { .. }
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | SupervisorStart
            | SupervisorStop
            | ProcessStart { .. }
            | ProcessStop { .. }
            | Exec { .. }
            | QdiscReplace { .. }
            | QdiscDel { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | RelaySet { .. } => {}
        }
    }

    /// Namespaces of the lab's that the file no longer has: removed, when they are still
    /// the lab's (see [`crate::ownership::Claims::owns_namespace`]).
    pub(super) fn unwanted_namespaces(&mut self) {
        for op in self.entries.iter().map(|e| &e.op) {
            let (Op::NetnsAdd { netns } | Op::NetnsAlias { netns, .. }) = op else { continue };
            if self.wanted.contains(&op.key()) {
                continue;
            }
            let ours = match self.live.namespaces.get(netns) {
                Some(NsLive::Mounted { id, live }) => {
                    // A second name is not read: its namespace is read under its first.
                    let lo = live.as_deref().or_else(|| self.live.read_namespace(*id)).and_then(|l| l.link("lo"));
                    self.claims.owns_namespace(*id, lo).is_ok()
                }
                Some(NsLive::Unmounted) => self.claims.owns_placeholder(netns).is_ok(),
                Some(NsLive::Absent) | None => false,
            };
            if ours {
                self.gone.insert(netns.clone());
                self.remove(Op::NetnsDel { netns: netns.clone() });
            }
        }
    }
}

/// The lab something belongs to, when it is another lab's.
fn other_lab(why: NotOurs) -> Option<String> {
    match why {
        NotOurs::OtherLab { lab } => Some(lab),
        NotOurs::Unmarked { .. }
        | NotOurs::Placeholder
        | NotOurs::OtherNamespace { .. }
        | NotOurs::Changed
        | NotOurs::MaybeShared { .. }
        | NotOurs::OtherTable { .. }
        | NotOurs::UnmarkedTable { .. }
        | NotOurs::Unreadable { .. } => None,
    }
}
