//! The third pass: everything in the lab's namespaces that is not a device (ports, mtus,
//! up states, addresses, routes, sysctls, files, forwarders), fixed in place.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::{Change, Conflict, Differ, Field, Sign};
use crate::live::{normalise_sysctl, MAIN_TABLE};
use crate::plan::Op;
use crate::topology::Netns;

impl Differ<'_> {
    pub(super) fn setting(&mut self, op: &Op) {
        use Op::*;
        match op {
            LinkSetMaster { netns, name, master } => {
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
            LinkSetMtu { netns, name, mtu } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if l.mtu != Some(*mtu) => self.set_mtu(netns, &l, *mtu),
                Some(_) => {}
            },
            LinkUp { netns, name } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if !l.up => self.modify(op.clone(), "state", "up", "down"),
                Some(_) => {}
            },
            AddrAdd { netns, dev, address, peer } => {
                let present = self.link(netns, dev).is_some_and(|l| {
                    self.kept(netns)
                        .is_some_and(|n| n.addrs_of(l.index).any(|a| a.address == *address && a.peer == *peer))
                });
                if !present {
                    self.add(op);
                }
            }
            RouteAdd { netns, to, via, dev } => self.route(op, netns, to, via, dev),
            ForwarderStart { netns, dev, .. } => {
                let running = self.live.forwarders.get(&(netns.clone(), dev.clone())).cloned().flatten();
                // A forwarder stays attached to the device it started with: a TUN device
                // made anew needs a new forwarder.
                let device_new = self.link(netns, dev).is_none();
                match running {
                    None if device_new => self.add(op),
                    None => self.modify(op.clone(), "forwarder", "running", "not running"),
                    Some(_) if device_new => {
                        self.remove(ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                        self.add(op);
                    }
                    Some(r) => {
                        // It was found by its stats file: the rest of its command line is
                        // its configuration.
                        let want = op.forwarder(r.stats().map(PathBuf::from)).map(|c| c.args()).unwrap_or_default();
                        if r.args != want {
                            self.remove(ForwarderStop { netns: netns.clone(), dev: dev.clone() });
                            self.modify(op.clone(), "forwarder", want.join(" "), r.args.join(" "));
                        }
                    }
                }
            }
            SysctlSet { netns, key, value } => {
                let fresh = matches!(netns, Netns::Named(n) if self.fresh.contains(n));
                match self.live.sysctls.get(&(netns.clone(), key.clone())) {
                    Some(have) if !fresh && *have != normalise_sysctl(value) => {
                        if self.claims.recorded(&op.key()) {
                            self.modify(op.clone(), key, value, have);
                        } else {
                            // Never set by the lab: an addition, with the value it replaces.
                            let field = Field { field: key.clone(), desired: value.clone(), actual: have.clone() };
                            let plan_index = self.at;
                            self.additions.push(Change {
                                change: Sign::Add,
                                op: op.clone(),
                                field: Some(field),
                                plan_index,
                            });
                        }
                    }
                    Some(_) if !fresh => {}
                    Some(_) | None => self.add(op),
                }
            }
            FileWrite { netns, file, content } => match self.live.files.get(&(netns.clone(), *file)) {
                Some(Some(have)) if have == content => {}
                // A file the lab wrote and someone changed is drift, put back like a sysctl;
                // one the lab never wrote is in the way.
                Some(Some(_)) if !self.claims.recorded(&op.key()) => {
                    self.conflicts.push(Conflict::File { netns: netns.clone(), file: *file })
                }
                Some(Some(_)) => self.modify(op.clone(), file.file_name(), "the file's entries", "other content"),
                Some(None) | None => self.add(op),
            },
            // Namespaces and devices: the passes before. The rest a plan never wants: it
            // only adds and sets (removals and renames are what a diff makes of it).
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkSetMac { .. }
            | LinkRename { .. }
            | LinkDown { .. }
            | NetnsDel { .. }
            | SysctlRestore { .. }
            | FileRemove { .. }
            | LinkDel { .. }
            | LinkSetNomaster { .. }
            | AddrDel { .. }
            | RouteDel { .. }
            | ForwarderStop { .. } => {}
        }
    }

    fn route(&mut self, op: &Op, netns: &Netns, to: &IpNet, via: &Option<IpAddr>, dev: &Option<String>) {
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
}
