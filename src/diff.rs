//! Desired versus live: the changes that bring the kernel to what the file says.
//!
//! The desired state is the compiled plan; the live state is what [`Kernel::observe_lab`]
//! found; the lab record says what netlab made before. Every desired op that the kernel
//! does not already satisfy becomes a change, every object of the lab's that the file no
//! longer wants becomes a removal, and anything in the way that netlab did not create is a
//! conflict: `up` then changes nothing. A changed object is fixed in place where the kernel
//! allows (mtu, master, up, a sysctl, a file) and made anew where it does not (a vxlan's
//! vni, a veth's peer); what hangs off a remade link (its addresses, routes, port) is made
//! again with it.
//!
//! What the kernel makes by itself (link-local IPv6, connected routes, loopback's
//! addresses) is never drift, and links without the lab's mark are never touched.
//!
//! [`Kernel::observe_lab`]: crate::kernel::Kernel::observe_lab

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::kernel::sysctl;
use crate::live::{LiveLab, LiveLink, LiveNetns, NsLive, MAIN_TABLE};
use crate::plan::{Op, OpKey, Plan};
use crate::state::Record;
use crate::topology::Netns;

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
}

#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// In the order they are applied: removals first, then additions in plan order.
    pub changes: Vec<Change>,
    /// Objects in the way that are not the lab's; while there are any, nothing is applied.
    pub conflicts: Vec<String>,
}

impl Diff {
    pub fn ops(&self) -> Vec<Op> {
        self.changes.iter().map(|c| c.op.clone()).collect()
    }
}

pub fn diff(desired: &Plan, record: Option<&Record>, live: &LiveLab, mark: &str) -> Diff {
    Differ::new(desired, record, live, mark).run()
}

struct Differ<'a> {
    desired: &'a Plan,
    live: &'a LiveLab,
    mark: &'a str,
    recorded: HashMap<OpKey, &'a crate::state::Entry>,
    /// The record's entries, in the order they were applied.
    entries: &'a [crate::state::Entry],
    wanted: HashSet<OpKey>,
    /// Namespaces that will be made (anew): everything in them is new too.
    fresh: HashSet<String>,
    /// Namespaces that will be removed.
    gone: HashSet<String>,
    /// Links that will be deleted (and perhaps made anew).
    dropped: HashSet<(Netns, String)>,
    /// Links that will be renamed, under their new name; and their old names.
    renamed: HashMap<(Netns, String), LiveLink>,
    renamed_from: HashMap<(Netns, String), String>,
    removals: Vec<Change>,
    /// The removal ops so far, to make each once.
    removing: HashSet<Op>,
    additions: Vec<Change>,
    conflicts: Vec<String>,
}

impl<'a> Differ<'a> {
    fn new(desired: &'a Plan, record: Option<&'a Record>, live: &'a LiveLab, mark: &'a str) -> Self {
        let entries: &[crate::state::Entry] = record.map_or(&[], |r| &r.entries);
        Differ {
            desired,
            live,
            mark,
            recorded: entries.iter().map(|e| (e.op.key(), e)).collect(),
            entries,
            wanted: desired.ops.iter().map(Op::key).collect(),
            fresh: HashSet::new(),
            gone: HashSet::new(),
            dropped: HashSet::new(),
            renamed: HashMap::new(),
            renamed_from: HashMap::new(),
            removals: Vec::new(),
            removing: HashSet::new(),
            additions: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    fn run(mut self) -> Diff {
        self.namespaces();
        self.links();
        for op in &self.desired.ops {
            self.setting(op);
        }
        self.unwanted();
        self.removals.sort_by_key(|c| c.op.removal_rank());
        let mut changes = self.removals;
        changes.extend(self.additions);
        Diff { changes, conflicts: self.conflicts }
    }

    fn add(&mut self, op: &Op) {
        self.additions.push(Change { change: Sign::Add, op: op.clone(), field: None });
    }

    fn modify(&mut self, op: Op, field: &str, desired: impl ToString, actual: impl ToString) {
        let field = Field { field: field.into(), desired: desired.to_string(), actual: actual.to_string() };
        self.additions.push(Change { change: Sign::Modify, op, field: Some(field) });
    }

    fn remove(&mut self, op: Op) {
        if self.removing.insert(op.clone()) {
            self.removals.push(Change { change: Sign::Remove, op, field: None });
        }
    }

    fn is_mine(&self, link: &LiveLink) -> bool {
        link.alias.as_deref() == Some(self.mark)
    }

    /// The live state of a namespace whose contents carry over (not new, not going).
    fn kept(&self, netns: &Netns) -> Option<&'a LiveNetns> {
        match netns {
            Netns::Named(n) if self.fresh.contains(n) || self.gone.contains(n) => None,
            _ => self.live.netns(netns),
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

    /// A veth end of the lab's in `netns` that the file no longer names, whose peer is
    /// `peer`: the same link under an old name, to be renamed rather than made anew.
    fn renamed_end(&self, netns: &Netns, peer: &LiveLink, wanted: &HashSet<(Netns, String)>) -> Option<LiveLink> {
        let ns = self.kept(netns)?;
        ns.links
            .iter()
            .find(|x| {
                self.is_mine(x)
                    && x.kind.as_deref() == Some("veth")
                    && x.peer_index == Some(peer.index)
                    && peer.peer_index == Some(x.index)
                    && !wanted.contains(&(netns.clone(), x.name.clone()))
            })
            .cloned()
    }

    fn rename(&mut self, netns: &Netns, from: LiveLink, to: &str) {
        let op = Op::LinkRename { netns: netns.clone(), name: from.name.clone(), new_name: to.to_string() };
        self.modify(op, "name", to, &from.name);
        self.renamed_from.insert((netns.clone(), from.name.clone()), to.to_string());
        self.renamed.insert((netns.clone(), to.to_string()), LiveLink { name: to.to_string(), ..from });
    }

    fn namespaces(&mut self) {
        for op in &self.desired.ops {
            match op {
                Op::NetnsAdd { netns } => match self.live.namespaces.get(netns) {
                    None | Some(NsLive::Absent) => {
                        self.fresh.insert(netns.clone());
                        self.add(op);
                    }
                    Some(NsLive::Unmounted) if self.recorded.contains_key(&op.key()) => {
                        // Left by a run that was killed between making the file and mounting.
                        self.remove(Op::NetnsDel { netns: netns.clone() });
                        self.fresh.insert(netns.clone());
                        self.add(op);
                    }
                    Some(NsLive::Unmounted) => self.conflicts.push(format!(
                        "/run/netns/{netns} exists but holds no namespace, and netlab did not make it; remove the file"
                    )),
                    Some(NsLive::Mounted { id, live }) => {
                        let recorded = self.recorded.get(&op.key()).and_then(|e| e.ns_id) == Some(*id);
                        let marked = live.as_ref().and_then(|l| l.link("lo")).is_some_and(|lo| self.is_mine(lo));
                        if !(recorded || marked) {
                            self.conflicts.push(format!(
                                "namespace {netns} already exists and is not lab {}'s (its lo has no `{}` mark); \
                                 remove it (ip netns del {netns}) or choose another [lab] prefix",
                                self.desired.lab, self.mark
                            ));
                        }
                    }
                },
                Op::NetnsAlias { netns, target } => {
                    let target_id = if self.fresh.contains(target) {
                        None
                    } else {
                        self.live.namespaces.get(target).and_then(NsLive::id)
                    };
                    let found = self.live.namespaces.get(netns);
                    match found.and_then(NsLive::id) {
                        Some(id) if Some(id) == target_id => {}
                        _ if matches!(found, None | Some(NsLive::Absent)) => self.add(op),
                        _ if self.recorded.contains_key(&op.key()) => {
                            self.remove(Op::NetnsDel { netns: netns.clone() });
                            self.modify(op.clone(), "target", target, "another namespace");
                        }
                        _ => self.conflicts.push(format!(
                            "namespace name {netns} is taken by another namespace that netlab did not make; \
                             remove it (ip netns del {netns})"
                        )),
                    }
                }
                _ => {}
            }
        }
        // Namespaces of the lab's that the file no longer has.
        for op in self.entries.iter().map(|e| &e.op) {
            let netns = match op {
                Op::NetnsAdd { netns } | Op::NetnsAlias { netns, .. } => netns,
                _ => continue,
            };
            if self.wanted.contains(&op.key()) {
                continue;
            }
            let ours = match self.live.namespaces.get(netns) {
                Some(NsLive::Mounted { id, live }) => {
                    matches!(op, Op::NetnsAlias { .. })
                        || self.recorded.get(&op.key()).and_then(|e| e.ns_id) == Some(*id)
                        || live.as_ref().and_then(|l| l.link("lo")).is_some_and(|lo| self.is_mine(lo))
                }
                Some(NsLive::Unmounted) => true,
                _ => false,
            };
            if ours {
                self.gone.insert(netns.clone());
                self.remove(Op::NetnsDel { netns: netns.clone() });
            }
        }
    }

    /// Devices: made where missing, fixed or made anew where different.
    fn links(&mut self) {
        let wanted_links = self.wanted_links();
        for op in &self.desired.ops {
            match op {
                Op::VethAdd { netns, name, mac, peer_netns, peer_name, peer_mac, mtu } => {
                    // One end renamed in the file: the other still pairs with it.
                    match (self.link(netns, name), self.link(peer_netns, peer_name)) {
                        (None, Some(b)) => {
                            if let Some(x) = self.renamed_end(netns, &b, &wanted_links) {
                                self.rename(netns, x, name);
                            }
                        }
                        (Some(a), None) => {
                            if let Some(x) = self.renamed_end(peer_netns, &a, &wanted_links) {
                                self.rename(peer_netns, x, peer_name);
                            }
                        }
                        _ => {}
                    }
                    let a = self.link(netns, name);
                    let b = self.link(peer_netns, peer_name);
                    let (a, b) = (a.as_ref(), b.as_ref());
                    let stale = |this: &mut Self, netns: &Netns, l: &LiveLink| {
                        if this.is_mine(l) {
                            this.drop_link(netns, &l.name);
                            true
                        } else {
                            this.conflicts.push(not_mine(netns, &l.name, this.mark));
                            false
                        }
                    };
                    match (a, b) {
                        (None, None) => self.add(op),
                        (Some(l), None) => {
                            if stale(self, netns, l) {
                                self.modify(op.clone(), "peer", format!("{peer_netns}:{peer_name}"), "none");
                            }
                        }
                        (None, Some(l)) => {
                            if stale(self, peer_netns, l) {
                                self.modify(op.clone(), "peer", format!("{netns}:{name}"), "none");
                            }
                        }
                        (Some(a), Some(b)) => {
                            if !(self.is_mine(a) || self.is_mine(b)) {
                                self.conflicts.push(not_mine(netns, name, self.mark));
                                continue;
                            }
                            let paired = a.kind.as_deref() == Some("veth")
                                && b.kind.as_deref() == Some("veth")
                                && a.peer_index == Some(b.index)
                                && b.peer_index == Some(a.index);
                            let mac_differs = |want: &Option<String>, l: &LiveLink| {
                                want.as_ref().is_some_and(|m| l.mac.as_deref() != Some(m.to_lowercase().as_str()))
                            };
                            if !paired {
                                self.remake(op, netns, name, "peer", format!("{peer_netns}:{peer_name}"), "another");
                                self.drop_link(peer_netns, peer_name);
                                continue;
                            }
                            for (ns, l, want) in [(netns, a, mac), (peer_netns, b, peer_mac)] {
                                if mac_differs(want, l) {
                                    let want = want.clone().unwrap_or_default().to_lowercase();
                                    let op =
                                        Op::LinkSetMac { netns: ns.clone(), name: l.name.clone(), mac: want.clone() };
                                    self.modify(op, "mac", want, l.mac.clone().unwrap_or_default());
                                }
                                if let Some(m) = mtu.filter(|m| l.mtu != Some(*m)) {
                                    self.set_mtu(ns, l, m);
                                }
                            }
                        }
                    }
                }
                Op::BridgeAdd { netns, name, mtu }
                | Op::TunAdd { netns, name, mtu }
                | Op::IpipAdd { netns, name, mtu, .. }
                | Op::VxlanAdd { netns, name, mtu, .. } => {
                    let Some(l) = self.link(netns, name) else {
                        self.add(op);
                        continue;
                    };
                    let l = &l;
                    if !self.is_mine(l) {
                        self.conflicts.push(not_mine(netns, name, self.mark));
                        continue;
                    }
                    let pinned = self
                        .wanted
                        .contains(&Op::LinkSetMtu { netns: netns.clone(), name: name.clone(), mtu: 0 }.key());
                    if let Some((field, want, have)) = device_difference(op, l) {
                        self.remake(op, netns, name, field, want, have);
                    } else if let Some(m) = mtu.filter(|m| l.mtu != Some(*m) && !pinned) {
                        self.set_mtu(netns, l, m);
                    }
                }
                _ => {}
            }
        }
    }

    fn set_mtu(&mut self, netns: &Netns, l: &LiveLink, mtu: u32) {
        let op = Op::LinkSetMtu { netns: netns.clone(), name: l.name.clone(), mtu };
        let have = l.mtu.map_or("none".into(), |m| m.to_string());
        self.modify(op, "mtu", mtu, have);
    }

    fn drop_link(&mut self, netns: &Netns, name: &str) {
        self.remove(Op::LinkDel { netns: netns.clone(), name: name.to_string() });
        self.dropped.insert((netns.clone(), name.to_string()));
    }

    fn remake(&mut self, op: &Op, netns: &Netns, name: &str, field: &str, want: impl ToString, have: impl ToString) {
        self.drop_link(netns, name);
        self.modify(op.clone(), field, want, have);
    }

    /// Everything that is not a namespace or a device: ports, up, addresses, routes,
    /// sysctls and files.
    fn setting(&mut self, op: &Op) {
        match op {
            Op::LinkSetMaster { netns, name, master } => {
                let (Some(l), Some(m)) = (self.link(netns, name), self.link(netns, master)) else {
                    return self.add(op);
                };
                if l.master != Some(m.index) {
                    let have = l
                        .master
                        .and_then(|i| self.kept(netns).and_then(|n| n.link_by_index(i)))
                        .map_or("none".to_string(), |b| b.name.clone());
                    self.modify(op.clone(), "master", master, have);
                }
            }
            Op::LinkSetMtu { netns, name, mtu } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if l.mtu != Some(*mtu) => self.set_mtu(netns, &l, *mtu),
                Some(_) => {}
            },
            Op::LinkUp { netns, name } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if !l.up => self.modify(op.clone(), "state", "up", "down"),
                Some(_) => {}
            },
            Op::AddrAdd { netns, dev, address, peer } => {
                let present = self.link(netns, dev).is_some_and(|l| {
                    self.kept(netns)
                        .is_some_and(|n| n.addrs_of(l.index).any(|a| a.address == *address && a.peer == *peer))
                });
                if !present {
                    self.add(op);
                }
            }
            Op::RouteAdd { netns, to, via, dev } => self.route(op, netns, to, via, dev),
            Op::ForwarderStart { netns, dev, .. } => {
                let running = self.live.forwarders.get(&(netns.clone(), dev.clone())).cloned().flatten();
                // A forwarder stays attached to the device it started with: a TUN device
                // made anew needs a new forwarder.
                let device_new = self.link(netns, dev).is_none();
                match running {
                    None if device_new => self.add(op),
                    None => self.modify(op.clone(), "forwarder", "running", "not running"),
                    Some(_) if device_new => {
                        self.remove(Op::ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                        self.add(op);
                    }
                    Some(r) => {
                        let want = crate::kernel::forwarder::args(&self.desired.lab, op).unwrap_or_default();
                        if r.args != want {
                            self.remove(Op::ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                            self.modify(op.clone(), "forwarder", want.join(" "), r.args.join(" "));
                        }
                    }
                }
            }
            Op::SysctlSet { netns, key, value } => {
                let fresh = matches!(netns, Netns::Named(n) if self.fresh.contains(n));
                match self.live.sysctls.get(&(netns.clone(), key.clone())) {
                    Some(have) if !fresh && *have != sysctl::normalise(value) => {
                        if self.recorded.contains_key(&op.key()) {
                            self.modify(op.clone(), key, value, have);
                        } else {
                            // Never set by the lab: an addition, with the value it replaces.
                            let field = Field { field: key.clone(), desired: value.clone(), actual: have.clone() };
                            self.additions.push(Change { change: Sign::Add, op: op.clone(), field: Some(field) });
                        }
                    }
                    Some(_) if !fresh => {}
                    _ => self.add(op),
                }
            }
            Op::FileWrite { netns, file, content } => match self.live.files.get(&(netns.clone(), *file)) {
                Some(Some(have)) if have == content => {}
                Some(Some(_)) if !self.recorded.contains_key(&op.key()) => self.conflicts.push(format!(
                    "/etc/netns/{netns}/{} exists and netlab did not write it; remove it or drop the node's \
                     hostname/hosts/dns",
                    file.file_name()
                )),
                Some(Some(_)) => self.modify(op.clone(), file.file_name(), "the file's entries", "other content"),
                _ => self.add(op),
            },
            _ => {}
        }
    }

    fn route(&mut self, op: &Op, netns: &Netns, to: &ipnet::IpNet, via: &Option<IpAddr>, dev: &Option<String>) {
        let Some(ns) = self.kept(netns) else { return self.add(op) };
        let dropped: HashSet<u32> = self
            .dropped
            .iter()
            .filter(|(n, _)| n == netns)
            .filter_map(|(_, name)| ns.link(name).map(|l| l.index))
            .collect();
        let want_oif = match dev {
            Some(d) => match self.link(netns, d) {
                Some(l) => Some(l.index),
                None => return self.add(op),
            },
            None => None,
        };
        let same_dst = ns.routes.iter().find(|r| {
            r.table == MAIN_TABLE && r.dst == *to && !r.kernel_made() && !r.oif.is_some_and(|i| dropped.contains(&i))
        });
        match same_dst {
            None => self.add(op),
            Some(r) if r.via == *via && (want_oif.is_none() || r.oif == want_oif) => {}
            Some(r) => {
                let name_of = |i: u32| ns.link_by_index(i).map(|l| l.name.clone());
                self.remove(Op::RouteDel { netns: netns.clone(), to: *to, via: r.via, dev: r.oif.and_then(name_of) });
                let show = |via: &Option<IpAddr>, dev: &Option<String>| {
                    let mut s = via.map_or(String::new(), |v| format!("via {v}"));
                    if let Some(d) = dev {
                        s = format!("{s} dev {d}").trim().to_string();
                    }
                    s
                };
                self.modify(op.clone(), "route", show(via, dev), show(&r.via, &r.oif.and_then(name_of)));
            }
        }
    }

    /// Every link the file wants, by namespace and name (both ends of a veth).
    fn wanted_links(&self) -> HashSet<(Netns, String)> {
        self.desired.ops.iter().flat_map(Op::made_links).collect()
    }

    /// What the lab has that the file no longer wants: its marked links, addresses on
    /// its links, routes in its namespaces, ports, sysctls and files.
    fn unwanted(&mut self) {
        let mut wanted_links = self.wanted_links();
        // A renamed link is wanted under its old name until it is renamed.
        wanted_links.extend(self.renamed_from.keys().cloned());
        let mut scopes: Vec<Netns> = vec![Netns::Host];
        for (name, ns) in &self.live.namespaces {
            let ours = self.recorded.contains_key(&Op::NetnsAdd { netns: name.clone() }.key())
                || self.wanted.contains(&Op::NetnsAdd { netns: name.clone() }.key());
            if ours && matches!(ns, NsLive::Mounted { live: Some(_), .. }) {
                scopes.push(Netns::Named(name.clone()));
            }
        }
        // A veth pair goes with either end: delete it once, from the end that is kept.
        let mut handled: HashSet<(Netns, String)> = HashSet::new();
        for op in self.entries.iter().map(|e| &e.op) {
            if let Op::VethAdd { netns, name, peer_netns, peer_name, .. } = op {
                if wanted_links.contains(&(netns.clone(), name.clone())) {
                    continue;
                }
                handled.insert((netns.clone(), name.clone()));
                handled.insert((peer_netns.clone(), peer_name.clone()));
                let end = [(netns, name), (peer_netns, peer_name)]
                    .into_iter()
                    .find(|(n, l)| self.link(n, l).is_some_and(|l| self.is_mine(&l)));
                if let Some((n, l)) = end {
                    self.drop_link(n, l);
                }
            }
        }
        for netns in &scopes {
            let Some(ns) = self.kept(netns) else { continue };
            for l in &ns.links {
                let key = (netns.clone(), l.name.clone());
                // lo carries the namespace's mark; it is never the lab's to delete.
                let lo = l.name == "lo" && matches!(netns, Netns::Named(_));
                if self.is_mine(l) && !lo && !wanted_links.contains(&key) && !handled.contains(&key) {
                    self.drop_link(netns, &l.name);
                }
            }
        }

        let wanted_masters: HashSet<(Netns, String)> = self
            .desired
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::LinkSetMaster { netns, name, .. } => Some((netns.clone(), name.clone())),
                _ => None,
            })
            .collect();
        for netns in &scopes {
            let Some(ns) = self.kept(netns) else { continue };
            for l in &ns.links {
                if self.dropped.contains(&(netns.clone(), l.name.clone())) {
                    continue;
                }
                // The lab's links, and lo of the lab's own namespaces.
                let managed = self.is_mine(l) || (matches!(netns, Netns::Named(_)) && l.name == "lo");
                if !managed {
                    continue;
                }
                // A link being renamed is judged by its new name, and changed under its old.
                let name = self.renamed_from.get(&(netns.clone(), l.name.clone())).unwrap_or(&l.name).clone();
                for a in ns.addrs_of(l.index).filter(|a| !a.kernel_made()) {
                    let op = Op::AddrAdd { netns: netns.clone(), dev: name.clone(), address: a.address, peer: a.peer };
                    if !self.wanted.contains(&op.key()) {
                        self.remove(Op::AddrDel {
                            netns: netns.clone(),
                            dev: l.name.clone(),
                            address: a.address,
                            peer: a.peer,
                        });
                    }
                }
                if l.master.is_some() && !wanted_masters.contains(&(netns.clone(), name.clone())) {
                    self.remove(Op::LinkSetNomaster { netns: netns.clone(), name: l.name.clone() });
                }
            }
        }

        // Routes: anything the kernel did not make, in the lab's own namespaces; in the
        // host, only routes the lab added.
        for netns in scopes.iter().filter(|n| matches!(n, Netns::Named(_))) {
            let Some(ns) = self.kept(netns) else { continue };
            for r in ns.routes.iter().filter(|r| !r.kernel_made()) {
                let dev = r.oif.and_then(|i| ns.link_by_index(i)).map(|l| l.name.clone());
                if dev.as_ref().is_some_and(|d| self.dropped.contains(&(netns.clone(), d.clone()))) {
                    continue;
                }
                let op = Op::RouteDel { netns: netns.clone(), to: r.dst, via: r.via, dev };
                if !self.wanted.contains(&op.key()) {
                    self.remove(op);
                }
            }
        }
        for op in self.entries.iter().map(|e| &e.op) {
            if self.wanted.contains(&op.key()) {
                continue;
            }
            match op {
                Op::RouteAdd { netns: Netns::Host, to, via, dev } => {
                    let present = self.kept(&Netns::Host).is_some_and(|ns| {
                        ns.routes.iter().any(|r| r.table == MAIN_TABLE && r.dst == *to && r.via == *via)
                    });
                    if present {
                        self.remove(Op::RouteDel { netns: Netns::Host, to: *to, via: *via, dev: dev.clone() });
                    }
                }
                Op::SysctlSet { netns, key, .. } => {
                    let going = matches!(netns, Netns::Named(n) if self.gone.contains(n) || self.fresh.contains(n));
                    if !going {
                        self.remove(Op::SysctlRestore { netns: netns.clone(), key: key.clone() });
                    }
                }
                // A forwarder keeps its namespace alive even after the name goes: it is
                // always stopped.
                Op::ForwarderStart { netns, dev, .. }
                    if self.live.forwarders.get(&(netns.clone(), dev.clone())).is_some_and(Option::is_some) =>
                {
                    self.remove(Op::ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                }
                Op::FileWrite { netns, file, content } => {
                    let live = self.live.files.get(&(netns.clone(), *file)).cloned().flatten();
                    // A file someone changed since is theirs now: left alone.
                    if live.as_ref() == Some(content) {
                        self.remove(Op::FileRemove { netns: netns.clone(), file: *file });
                    }
                }
                _ => {}
            }
        }
    }
}

fn not_mine(netns: &Netns, name: &str, mark: &str) -> String {
    format!(
        "link {name} in {} already exists and netlab did not make it (no `{mark}` alias); remove or rename it",
        match netns {
            Netns::Host => "the host".to_string(),
            Netns::Named(n) => format!("namespace {n}"),
        }
    )
}

/// The first field in which a live device differs from its op in a way only making it
/// anew can fix.
fn device_difference(op: &Op, l: &LiveLink) -> Option<(&'static str, String, String)> {
    let kind = l.kind.clone().unwrap_or_default();
    let want_kind = match op {
        Op::BridgeAdd { .. } => "bridge",
        Op::TunAdd { .. } => "tun",
        Op::IpipAdd { .. } => "ipip",
        Op::VxlanAdd { .. } => "vxlan",
        _ => return None,
    };
    if kind != want_kind {
        return Some(("kind", want_kind.into(), kind));
    }
    let show = |a: Option<IpAddr>| a.map_or("none".to_string(), |a| a.to_string());
    match op {
        Op::VxlanAdd { vni, local, remote, port, .. } => {
            let v = l.vxlan.clone().unwrap_or_default();
            if v.vni != Some(*vni) {
                return Some(("vni", vni.to_string(), v.vni.map_or("none".into(), |x| x.to_string())));
            }
            if v.local != Some(*local) {
                return Some(("local", local.to_string(), show(v.local)));
            }
            if v.remote != Some(*remote) {
                return Some(("remote", remote.to_string(), show(v.remote)));
            }
            if v.port != Some(*port) {
                return Some(("port", port.to_string(), v.port.map_or("none".into(), |x| x.to_string())));
            }
        }
        Op::IpipAdd { local, remote, .. } => {
            let (l_local, l_remote) = l.ipip.unwrap_or((None, None));
            if l_local != Some(*local) {
                return Some(("local", local.to_string(), show(l_local)));
            }
            if l_remote != Some(*remote) {
                return Some(("remote", remote.to_string(), show(l_remote)));
            }
        }
        _ => {}
    }
    None
}
