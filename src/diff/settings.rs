//! The third pass: everything in the lab's namespaces that is not a device (ports, mtus,
//! up states, addresses, routes, sysctls, files, forwarders, nftables rules, hairpin
//! modes, link classes, conntrack flushes), fixed in place.
//! up states, addresses, routes, sysctls, files, forwarders, impairments), fixed in place.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::{Change, Conflict, Differ, Field, Sign};
use crate::live::{normalise_sysctl, NsLive, ProcessState, MAIN_TABLE};
use crate::plan::Op;
use crate::sharing::Want;
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
                // A host sysctl other labs that are up set otherwise is theirs until they
                // go down; one they set alike is shared (compared like any other).
                if *netns == Netns::Host {
                    if let Want::Taken { labs } = self.shares.want(key, value) {
                        let labs = labs.into_iter().cloned().collect();
                        let conflict = Conflict::HostSysctl { key: key.clone(), value: value.clone(), labs };
                        return self.conflicts.push(conflict);
                    }
                }
                self.sysctl(op, netns, key, value)
            }
            SupervisorStart => match self.live.supervisor {
                Some(_) => {}
                None if self.claims.recorded(&op.key()) => {
                    self.modify(op.clone(), "supervisor", "running", "not running")
                }
                None => self.add(op),
            },
            ProcessStart { netns, .. } => self.process(op, netns),
            // Once, when the node's namespace is made; never on a converge.
            Exec { netns, .. } => {
                if self.made_now(netns) {
                    self.add(op);
                }
            }
            FileWrite { netns, file, content } => match self.live.files.get(&(netns.clone(), *file)) {
                Some(Some(have)) if have == content.as_bytes() => {}
                // A file the lab wrote and someone changed is drift, put back like a sysctl;
                // one the lab never wrote, or was about to write when it was stopped (whose
                // it is cannot be told), is in the way.
                Some(Some(_)) if !self.claims.applied(&op.key()) => {
                    self.conflicts.push(Conflict::File { netns: netns.clone(), file: *file })
                }
                Some(Some(_)) => self.modify(op.clone(), file.file_name(), "the file's entries", "other content"),
                Some(None) | None => self.add(op),
            },
            NftRuleAdd { netns, family, table, chain, comment, .. } => {
                let table_key = Op::NftTableDel { netns: netns.clone(), family: *family, name: table.clone() }.key();
                let present = !self.fresh_tables.contains(&table_key)
                    && self
                        .live
                        .tables
                        .get(&(netns.clone(), *family, table.clone()))
                        .and_then(Option::as_ref)
                        .is_some_and(|t| t.handle(chain, comment).is_some());
                if !present {
                    self.add(op);
                }
            }
            LinkSetHairpin { netns, name, on } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if l.hairpin != Some(*on) => {
                    let have = match l.hairpin {
                        Some(true) => "on",
                        Some(false) => "off",
                        None => "not a bridge port",
                    };
                    self.modify(op.clone(), "hairpin", if *on { "on" } else { "off" }, have);
                }
                Some(_) => {}
            },
            LinkSetClass { netns, name, class } => match self.link(netns, name) {
                None => self.add(op),
                Some(l) if l.group != self.claims.marks().class_group(*class) => {
                    self.modify(
                        op.clone(),
                        "group",
                        format!("{:#010x}", self.claims.marks().class_group(*class)),
                        format!("{:#010x}", l.group),
                    );
                }
                Some(_) => {}
            },
            // A flush leaves nothing to compare: done once per lab and set of subnets.
            ConntrackFlush { .. } => {
                if !self.claims.recorded(&op.key()) {
                    self.add(op);
                }
            }
            QdiscReplace { netns, dev, kind, impairment } => self.qdisc(op, netns, dev, kind.name(), impairment),
            DropSet { netns, dev, loss, carrier } => self.drop(op, netns, dev, *loss, *carrier),
            RelayStart { .. } => self.relay(op),
            // Namespaces and devices: the passes before. The rest a plan never wants: it
            // only adds and sets (removals and renames are what a diff makes of it).
            NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleDel { .. }
            | NetnsAdd { .. }
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
            | ForwarderStop { .. }
            | SupervisorStop
            | ProcessStop { .. }
            | QdiscDel { .. }
            | DropDel { .. }
            | RelayStop { .. }
            | RelaySet { .. } => {}
        }
    }

    /// A process: started if it never was; started again if it exited or is gone (with
    /// how it ended, for `diff`); stopped and started again if it runs with what the file
    /// no longer says (the record holds what it was started with) or in a namespace made
    /// anew.
    fn process(&mut self, op: &Op, netns: &Netns) {
        let key = op.process_key().expect("a process op has a key");
        let Some(live) = self.live.processes.get(&key) else { return self.add(op) };
        match live.state {
            ProcessState::Exited(exit) => self.modify(op.clone(), "process", "running", exit),
            ProcessState::Gone => self.modify(op.clone(), "process", "running", "gone (its supervisor ended)"),
            ProcessState::Running => {
                let here = match netns {
                    Netns::Host => self.live.host_id,
                    Netns::Named(n) if self.fresh.contains(n) => None,
                    Netns::Named(n) => self.live.namespaces.get(n).and_then(NsLive::id),
                };
                let started_as = self.entries.iter().map(|e| &e.op).find(|r| r.key() == op.key());
                let changed = match started_as {
                    None => Some(("process", "started by this lab".to_string(), "not in its record".to_string())),
                    Some(before) => process_difference(op, before),
                };
                let changed = changed.or_else(|| {
                    (here != Some(live.identity.netns))
                        .then(|| ("namespace", "the one the lab has".to_string(), "one made before".to_string()))
                });
                if let Some((field, want, have)) = changed {
                    let Some(stop) = op.inverse() else { return };
                    self.remove(stop);
                    self.modify(op.clone(), field, want, have);
                }
            }
        }
    }

    /// Whether the namespace `netns` is made by this run: a new namespace, a new second
    /// name of one; the host's, when the lab itself is new.
    fn made_now(&self, netns: &Netns) -> bool {
        match netns {
            Netns::Host => self.entries.is_empty(),
            Netns::Named(n) => {
                self.fresh.contains(n)
                    || self.desired.ops.iter().any(|op| {
                        let Op::NetnsAlias { netns: alias, target } = op else { return false };
                        alias == n
                            && (self.fresh.contains(target)
                                || matches!(self.live.namespaces.get(n), None | Some(NsLive::Absent)))
                    })
            }
        }
    }

    /// A sysctl the file wants. This is the one place that decides whether the kernel
    /// already satisfies it, and so whether `up` leaves it out: on a lab that is not up,
    /// the only ops `up` leaves out of the plan are host sysctls already at their value
    /// (a namespace of the lab's that is made anew has nothing to keep).
    fn sysctl(&mut self, op: &Op, netns: &Netns, key: &str, value: &str) {
        let fresh = matches!(netns, Netns::Named(n) if self.fresh.contains(n));
        match self.live.sysctls.get(&(netns.clone(), key.to_string())) {
            Some(have) if !fresh && *have != normalise_sysctl(value) => {
                if self.claims.recorded(&op.key()) {
                    self.modify(op.clone(), key, value, have);
                } else {
                    // Never set by the lab: an addition, with the value it replaces.
                    let field = Field { field: key.to_string(), desired: value.to_string(), actual: have.clone() };
                    let plan_index = self.at;
                    self.additions.push(Change { change: Sign::Add, op: op.clone(), field: Some(field), plan_index });
                }
            }
            Some(_) if !fresh => {}
            Some(_) | None => self.add(op),
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

/// The first thing the file says of a process that differs from what it was started with
/// (its `process_start` in the record): the field, the file's value and the old one. Its
/// readiness check is not one: it says when it started, not how it runs.
fn process_difference(want: &Op, was: &Op) -> Option<(&'static str, String, String)> {
    let (Op::ProcessStart { cmd, user, env, .. }, Op::ProcessStart { cmd: cmd0, user: user0, env: env0, .. }) =
        (want, was)
    else {
        return None;
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let show_env = |env: &std::collections::BTreeMap<String, String>| {
        env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    };
    if cmd != cmd0 {
        Some(("cmd", cmd.clone(), cmd0.clone()))
    } else if user != user0 {
        Some(("user", show(user), show(user0)))
    } else if env != env0 {
        Some(("env", show_env(env), show_env(env0)))
    } else {
        None
    }
}
