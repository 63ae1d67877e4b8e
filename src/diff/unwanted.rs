//! The last pass: what the lab has that the file no longer wants, removed. Its marked
//! links, addresses on its links, routes in its namespaces (in the host, only the ones it
//! added), ports, sysctls (their values put back), files (unless someone changed them),
//! forwarders, nftables tables and rules, hairpin modes and link classes, impairments
//! (qdiscs, drops, relays), processes and the supervisor.

use std::collections::HashSet;

use super::Differ;
use crate::firewall::groups::Class;
use crate::firewall::ruleset::Family;
use crate::live::{LiveTable, NsLive, ProcessState, MAIN_TABLE};
use crate::plan::Op;
use crate::sharing::Release;
use crate::topology::Netns;

impl Differ<'_> {
    pub(super) fn unwanted(&mut self) {
        let mut wanted_links = self.wanted_links();
        // A renamed link is wanted under its old name until it is renamed.
        wanted_links.extend(self.renamed_from.keys().cloned());
        let mut scopes: Vec<Netns> = vec![Netns::Host];
        // The namespaces searched are the lab's by their identity or mark, not by their
        // name: one the lab made, replaced by someone else's under the same name, is theirs.
        for (name, ns) in &self.live.namespaces {
            let NsLive::Mounted { id, live: Some(live) } = ns else { continue };
            if self.claims.owns_namespace(*id, live.link("lo")).is_ok() {
                scopes.push(Netns::Named(name.clone()));
            }
        }
        // A veth pair goes with either end: delete it once, from the end that is kept.
        let mut handled: HashSet<(Netns, String)> = HashSet::new();
        for op in self.entries.iter().map(|e| &e.op) {
            let Op::VethAdd { netns, name, peer_netns, peer_name, .. } = op else { continue };
            if wanted_links.contains(&(netns.clone(), name.clone())) {
                continue;
            }
            handled.insert((netns.clone(), name.clone()));
            handled.insert((peer_netns.clone(), peer_name.clone()));
            let end = [(netns, name), (peer_netns, peer_name)]
                .into_iter()
                .find(|(n, l)| self.link(n, l).is_some_and(|l| self.owns_link(&l)));
            if let Some((n, l)) = end {
                self.drop_link(n, l);
            }
        }
        for netns in &scopes {
            let Some(ns) = self.kept(netns) else { continue };
            for l in &ns.links {
                let key = (netns.clone(), l.name.clone());
                // lo carries the namespace's mark; it is never the lab's to delete.
                let lo = l.name == "lo" && *netns != Netns::Host;
                let going = self.dropped.contains(&key);
                if self.owns_link(l) && !lo && !going && !wanted_links.contains(&key) && !handled.contains(&key) {
                    self.drop_link(netns, &l.name);
                }
            }
        }

        let wanted_masters: HashSet<(Netns, String)> = self
            .desired
            .ops
            .iter()
            .filter_map(|op| {
                if let Op::LinkSetMaster { netns, name, .. } = op {
                    Some((netns.clone(), name.clone()))
                } else {
                    None
                }
            })
            .collect();
        for netns in &scopes {
            let Some(ns) = self.kept(netns) else { continue };
            for l in &ns.links {
                if self.dropped.contains(&(netns.clone(), l.name.clone())) {
                    continue;
                }
                // The lab's links, and lo of the lab's own namespaces.
                let managed = self.owns_link(l) || (*netns != Netns::Host && l.name == "lo");
                if !managed {
                    continue;
                }
                // A link being renamed is judged by its new name, and changed under its old.
                let name = self.renamed_from.get(&(netns.clone(), l.name.clone())).unwrap_or(&l.name).clone();
                for a in ns.addrs_of(l.index).filter(|a| !a.kernel_made()) {
                    let op = Op::AddrAdd { netns: netns.clone(), dev: name.clone(), address: a.address, peer: a.peer };
                    if !self.wanted.contains(&op.key()) {
                        let (dev, address, peer) = (l.name.clone(), a.address, a.peer);
                        self.remove(Op::AddrDel { netns: netns.clone(), dev, address, peer });
                    }
                }
                if l.master.is_some() && !wanted_masters.contains(&(netns.clone(), name.clone())) {
                    self.remove(Op::LinkSetNomaster { netns: netns.clone(), name: l.name.clone() });
                }
            }
            self.unwanted_qdiscs(netns);
        }

        // Routes: anything the kernel did not make, in the lab's own namespaces; in the
        // host, only routes the lab added (below).
        for netns in scopes.iter().filter(|n| **n != Netns::Host) {
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
            if !self.wanted.contains(&op.key()) {
                self.unwanted_entry(op);
            }
        }
        self.unwanted_tables();
    }

    /// The lab's nftables tables the file no longer has, and the rules of the others that
    /// it no longer has (a rule without an identity is left: netlab cannot name it).
    fn unwanted_tables(&mut self) {
        let mut tables: Vec<(&(Netns, Family, String), &LiveTable)> =
            self.live.tables.iter().filter_map(|(k, t)| Some((k, t.as_ref()?))).collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        for ((netns, family, name), t) in tables {
            if self.kept(netns).is_none() || self.claims.owns_table(t).is_err() {
                continue;
            }
            let table = Op::NftTableDel { netns: netns.clone(), family: *family, name: name.clone() };
            if !self.wanted.contains(&table.key()) {
                self.remove(table);
                continue;
            }
            if self.fresh_tables.contains(&table.key()) {
                continue;
            }
            for (chain, comment) in t.rules() {
                let Some(comment) = comment else { continue };
                let rule = Op::NftRuleDel {
                    netns: netns.clone(),
                    family: *family,
                    table: name.clone(),
                    chain: chain.to_string(),
                    comment: comment.to_string(),
                };
                if !self.wanted.contains(&rule.key()) {
                    self.remove(rule);
                }
            }
        }
    }

    /// One op of the record that the file no longer has, beyond what the live scans above
    /// find: host routes, sysctls, forwarders, files.
    fn unwanted_entry(&mut self, op: &Op) {
        use Op::*;
        match op {
            RouteAdd { netns: Netns::Host, to, via, dev } => {
                let present = self
                    .kept(&Netns::Host)
                    .is_some_and(|ns| ns.routes.iter().any(|r| r.table == MAIN_TABLE && r.dst == *to && r.via == *via));
                if present {
                    self.remove(RouteDel { netns: Netns::Host, to: *to, via: *via, dev: dev.clone() });
                }
            }
            SysctlSet { netns, key, .. } => {
                let going = matches!(netns, Netns::Named(n) if self.gone.contains(n) || self.fresh.contains(n));
                // A host sysctl other labs that are up have stays as it is (see
                // `crate::sharing`); the last of them puts it back.
                let shared = *netns == Netns::Host && !matches!(self.shares.release(key), Release::Restore);
                if !going && !shared {
                    self.remove(SysctlRestore { netns: netns.clone(), key: key.clone() });
                }
            }
            // A process the file no longer has, or a supervisor for none: stopped.
            ProcessStart { .. } => {
                let key = op.process_key().expect("a process op has a key");
                if self.live.processes.get(&key).is_some_and(|p| p.state == ProcessState::Running) {
                    let Some(stop) = op.inverse() else { return };
                    self.remove(stop);
                }
            }
            SupervisorStart => {
                if self.live.supervisor.is_some() {
                    self.remove(SupervisorStop);
                }
            }
            // What a command did is not netlab's to take back.
            Exec { .. } => {}
            DropSet { netns, dev, .. } => self.unwanted_drop(netns, dev),
            RelayStart { netns, a, .. } => self.unwanted_relay(netns, a),
            // A forwarder keeps its namespace alive even after the name goes: it is always
            // stopped.
            ForwarderStart { netns, dev, .. } => {
                if self.live.forwarders.get(&(netns.clone(), dev.clone())).is_some_and(Option::is_some) {
                    self.remove(ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                }
            }
            FileWrite { netns, file, .. } => {
                let live = self.live.files.get(&(netns.clone(), *file)).cloned().flatten();
                // A file someone changed since is theirs now: left alone.
                if live.is_some() && self.claims.may_remove_file(netns, *file, live.as_deref()).is_ok() {
                    self.remove(FileRemove { netns: netns.clone(), file: *file });
                }
            }
            // Hairpin mode and a class stay with a link that stays: put back.
            LinkSetHairpin { netns, name, on: true } => {
                if self.link(netns, name).is_some_and(|l| l.hairpin == Some(true)) {
                    self.remove(LinkSetHairpin { netns: netns.clone(), name: name.clone(), on: false });
                }
            }
            LinkSetClass { netns, name, class } if *class != Class::Plain => {
                let plain = self.claims.marks().class_group(Class::Plain);
                if self.link(netns, name).is_some_and(|l| l.group != plain) {
                    self.remove(LinkSetClass { netns: netns.clone(), name: name.clone(), class: Class::Plain });
                }
            }
            // Found by the scan of the lab's tables; a flush has nothing to take back.
            NftTableAdd { .. } | NftRuleAdd { .. } | ConntrackFlush { .. } => {}
            // Found by the scans of what is live: routes in the lab's namespaces, links,
            // ports, addresses.
            RouteAdd { netns: Netns::Named(_), .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkSetMaster { .. }
            | AddrAdd { .. }
            | QdiscReplace { .. } => {}
            // Namespaces: the first pass.
            NetnsAdd { .. } | NetnsAlias { .. } => {}
            // Nothing to take back: a link's mtu, MAC, name or up state goes with it, or
            // stays as it is.
            LinkSetMtu { .. } | LinkSetMac { .. } | LinkRename { .. } | LinkUp { .. } | LinkDown { .. } => {}
            // Never recorded: a record keeps what was made, not what was taken away.
            NetnsDel { .. }
            | SysctlRestore { .. }
            | FileRemove { .. }
            | LinkDel { .. }
            | LinkSetNomaster { .. }
            | AddrDel { .. }
            | RouteDel { .. }
            | ForwarderStop { .. }
            | NftTableDel { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { on: false, .. }
            | LinkSetClass { .. }
            | SupervisorStop
            | ProcessStop { .. }
            | QdiscDel { .. }
            | DropDel { .. }
            | RelayStop { .. }
            | RelaySet { .. } => {}
        }
    }
}
