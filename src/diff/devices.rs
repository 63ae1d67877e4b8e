//! The second pass: devices, made where missing, fixed in place (mtu, MAC) or made anew
//! (a vxlan's vni, a veth's peer) where different, and a veth end renamed in the file
//! renamed in the kernel rather than made anew; and the lab's nftables tables, which are
//! made whole the same way.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{Conflict, Differ};
use crate::firewall::ruleset::{Chain, Family};
use crate::live::LiveLink;
use crate::plan::{DeviceKind, Op};
use crate::topology::Netns;

impl Differ<'_> {
    pub(super) fn device(&mut self, op: &Op, wanted_links: &HashSet<(Netns, String)>) {
        use Op::*;
        match op {
            VethAdd { netns, name, mac, peer_netns, peer_name, peer_mac, mtu } => {
                self.veth(op, (netns, name, mac), (peer_netns, peer_name, peer_mac), *mtu, wanted_links)
            }
            BridgeAdd { netns, name, mtu }
            | TunAdd { netns, name, mtu }
            | IpipAdd { netns, name, mtu, .. }
            | VxlanAdd { netns, name, mtu, .. } => {
                let Some(l) = self.link(netns, name) else { return self.add(op) };
                if !self.owns_link(&l) {
                    return self.link_conflict(netns, name);
                }
                let pinned =
                    self.wanted.contains(&LinkSetMtu { netns: netns.clone(), name: name.clone(), mtu: 0 }.key());
                if let Some((field, want, have)) = device_difference(op, &l) {
                    self.remake(op, netns, name, field, want, have);
                } else if let Some(m) = mtu.filter(|m| l.mtu != Some(*m) && !pinned) {
                    self.set_mtu(netns, &l, m);
                }
            }
            // A table is made whole, like a device: its rules hang off it.
            NftTableAdd { netns, family, name, chains } => self.table(op, netns, *family, name, chains),
            // Not devices: the passes before and after.
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | SysctlSet { .. }
            | FileWrite { .. }
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

    /// The lab's table: made where missing, made anew (with every rule) where its chains
    /// differ, in the way where it is not the lab's.
    fn table(&mut self, op: &Op, netns: &Netns, family: Family, name: &str, chains: &[Chain]) {
        let found = self
            .kept(netns)
            .and_then(|_| self.live.tables.get(&(netns.clone(), family, name.to_string())))
            .cloned()
            .flatten();
        let Some(t) = found else {
            self.fresh_tables.insert(op.key());
            return self.add(op);
        };
        if let Err(why) = self.claims.owns_table(&t) {
            let conflict = Conflict::NftTable { netns: netns.clone(), family, name: name.to_string(), why };
            return self.conflicts.push(conflict);
        }
        let names = |c: &[Chain]| {
            let mut v: Vec<String> = c.iter().map(|c| format!("{c:?}")).collect();
            v.sort();
            v
        };
        let have = t.chain_specs();
        if names(&have) != names(chains) {
            // A base chain's hook cannot be changed in place: the table is made anew.
            self.remove(Op::NftTableDel { netns: netns.clone(), family, name: name.to_string() });
            self.fresh_tables.insert(op.key());
            let show = |c: &[Chain]| c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
            self.modify(op.clone(), "chains", show(chains), show(&have));
        }
    }

    fn veth(
        &mut self,
        op: &Op,
        (netns, name, mac): (&Netns, &String, &Option<String>),
        (peer_netns, peer_name, peer_mac): (&Netns, &String, &Option<String>),
        mtu: Option<u32>,
        wanted_links: &HashSet<(Netns, String)>,
    ) {
        // One end renamed in the file: the other still pairs with it.
        match (self.link(netns, name), self.link(peer_netns, peer_name)) {
            (None, Some(b)) => {
                if let Some(x) = self.renamed_end(netns, &b, wanted_links) {
                    self.rename(netns, x, name);
                }
            }
            (Some(a), None) => {
                if let Some(x) = self.renamed_end(peer_netns, &a, wanted_links) {
                    self.rename(peer_netns, x, peer_name);
                }
            }
            (None, None) | (Some(_), Some(_)) => {}
        }
        let (a, b) = (self.link(netns, name), self.link(peer_netns, peer_name));
        // An end without its peer: deleted (when it is the lab's) and made again.
        let stale = |this: &mut Self, netns: &Netns, l: &LiveLink| {
            if this.owns_link(l) {
                this.drop_link(netns, &l.name);
                true
            } else {
                this.link_conflict(netns, &l.name);
                false
            }
        };
        match (&a, &b) {
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
                if !(self.owns_link(a) || self.owns_link(b)) {
                    return self.link_conflict(netns, name);
                }
                let veth = |l: &LiveLink| DeviceKind::Veth.is(l.kind.as_deref());
                let paired = veth(a) && veth(b) && a.peer_index == Some(b.index) && b.peer_index == Some(a.index);
                if !paired {
                    self.remake(op, netns, name, "peer", format!("{peer_netns}:{peer_name}"), "another");
                    return self.drop_link(peer_netns, peer_name);
                }
                let mac_differs = |want: &Option<String>, l: &LiveLink| {
                    want.as_ref().is_some_and(|m| l.mac.as_deref() != Some(m.to_lowercase().as_str()))
                };
                for (ns, l, want) in [(netns, a, mac), (peer_netns, b, peer_mac)] {
                    if mac_differs(want, l) {
                        let want = want.clone().unwrap_or_default().to_lowercase();
                        let op = Op::LinkSetMac { netns: ns.clone(), name: l.name.clone(), mac: want.clone() };
                        self.modify(op, "mac", want, l.mac.clone().unwrap_or_default());
                    }
                    if let Some(m) = mtu.filter(|m| l.mtu != Some(*m)) {
                        self.set_mtu(ns, l, m);
                    }
                }
            }
        }
    }

    /// A veth end of the lab's in `netns` that the file no longer names, whose peer is
    /// `peer`: the same link under an old name, to be renamed rather than made anew.
    fn renamed_end(&self, netns: &Netns, peer: &LiveLink, wanted: &HashSet<(Netns, String)>) -> Option<LiveLink> {
        let ns = self.kept(netns)?;
        ns.links
            .iter()
            .find(|x| {
                self.owns_link(x)
                    && DeviceKind::Veth.is(x.kind.as_deref())
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

    pub(super) fn set_mtu(&mut self, netns: &Netns, l: &LiveLink, mtu: u32) {
        let op = Op::LinkSetMtu { netns: netns.clone(), name: l.name.clone(), mtu };
        let have = l.mtu.map_or("none".into(), |m| m.to_string());
        self.modify(op, "mtu", mtu, have);
    }

    pub(super) fn drop_link(&mut self, netns: &Netns, name: &str) {
        self.remove(Op::LinkDel { netns: netns.clone(), name: name.to_string() });
        self.dropped.insert((netns.clone(), name.to_string()));
        // A veth's other end goes with it: it is not there to delete, nor to keep (a
        // link moved onto or off a relay makes both of its ends anew).
        let peer = self.entries.iter().find_map(|e| e.op.veth_peer(netns, name));
        self.dropped.extend(peer);
    }

    fn remake(&mut self, op: &Op, netns: &Netns, name: &str, field: &str, want: impl ToString, have: impl ToString) {
        self.drop_link(netns, name);
        self.modify(op.clone(), field, want, have);
    }
}

/// The first field in which a live device differs from its op in a way only making it
/// anew can fix: its kind, or a vxlan's or ipip's parameters.
fn device_difference(op: &Op, l: &LiveLink) -> Option<(&'static str, String, String)> {
    let want_kind = op.device_kind()?;
    if !want_kind.is(l.kind.as_deref()) {
        return Some(("kind", want_kind.kernel_name().into(), l.kind.clone().unwrap_or_default()));
    }
    let show = |a: Option<IpAddr>| a.map_or("none".to_string(), |a| a.to_string());
    let show_n = |n: Option<u32>| n.map_or("none".to_string(), |n| n.to_string());
    match op {
        Op::VxlanAdd { vni, local, remote, port, .. } => {
            let v = l.vxlan.clone().unwrap_or_default();
            if v.vni != Some(*vni) {
                return Some(("vni", vni.to_string(), show_n(v.vni)));
            }
            if v.local != Some(*local) {
                return Some(("local", local.to_string(), show(v.local)));
            }
            if v.remote != Some(*remote) {
                return Some(("remote", remote.to_string(), show(v.remote)));
            }
            if v.port != Some(*port) {
                return Some(("port", port.to_string(), show_n(v.port.map(u32::from))));
            }
            None
        }
        Op::IpipAdd { local, remote, .. } => {
            let (l_local, l_remote) = l.ipip.unwrap_or((None, None));
            if l_local != Some(*local) {
                return Some(("local", local.to_string(), show(l_local)));
            }
            if l_remote != Some(*remote) {
                return Some(("remote", remote.to_string(), show(l_remote)));
            }
            None
        }
        // Nothing but the kind to compare: the rest is fixed in place.
        Op::BridgeAdd { .. } | Op::TunAdd { .. } | Op::VethAdd { .. } => None,
        Op::NetnsAdd { .. }
        | Op::NetnsAlias { .. }
        | Op::NetnsDel { .. }
        | Op::SysctlSet { .. }
        | Op::SysctlRestore { .. }
        | Op::FileWrite { .. }
        | Op::FileRemove { .. }
        | Op::LinkDel { .. }
        | Op::LinkSetMaster { .. }
        | Op::LinkSetNomaster { .. }
        | Op::LinkSetMtu { .. }
        | Op::LinkSetMac { .. }
        | Op::LinkRename { .. }
        | Op::LinkUp { .. }
        | Op::LinkDown { .. }
        | Op::AddrAdd { .. }
        | Op::AddrDel { .. }
        | Op::RouteAdd { .. }
        | Op::RouteDel { .. }
        | Op::ForwarderStart { .. }
        | Op::ForwarderStop { .. }
        | Op::ConntrackFlush { .. }
        | Op::NftTableAdd { .. }
        | Op::NftTableDel { .. }
        | Op::NftRuleAdd { .. }
        | Op::NftRuleDel { .. }
        | Op::LinkSetHairpin { .. }
        | Op::LinkSetClass { .. }
        | Op::SupervisorStart
        | Op::SupervisorStop
        | Op::ProcessStart { .. }
        | Op::ProcessStop { .. }
        | Op::Exec { .. }
        | Op::QdiscReplace { .. }
        | Op::QdiscDel { .. }
        | Op::DropSet { .. }
        | Op::DropDel { .. }
        | Op::RelayStart { .. }
        | Op::RelayStop { .. }
        | Op::RelaySet { .. } => None,
    }
}
