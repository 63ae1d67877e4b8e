//! Everything the kernel and the file system show of one lab, gathered in one go into a
//! [`LiveLab`]: which of its namespaces exist (and whose they are), their links, addresses
//! and routes (and root qdiscs, where the lab impairs), the host's, its sysctls, its
//! /etc/netns files, its nftables drops and tables, and its forwarders and relays; or only
//! the part of it in some namespaces (a [`Scope`]), which is how `up --verify` reads back
//! what it did.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::forwarder;
use super::netns;
use super::{files, nft, Families, Kernel, Linux, OpError, Scope};
use crate::firewall::live::{LiveTable, Nft};
use crate::firewall::ruleset::Family;
use crate::firewall::NetnsPath;
use crate::impair::relay::control;
use crate::impairment::Impairment;
use crate::live::{LiveDrop, LiveLab, LiveRelay, Named, NsLive};
use crate::plan::Op;
use crate::topology::{EtcFileKind, Netns};

/// What observing a lab looks at for one op of its plan or record.
pub enum Look<'a> {
    /// A name under /run/netns; `read`: its links, addresses and routes too (not for a
    /// second name of another node's namespace).
    Namespace {
        name: &'a str,
        read: bool,
    },
    Sysctl {
        netns: &'a Netns,
        key: &'a str,
    },
    File {
        netns: &'a str,
        file: EtcFileKind,
    },
    Forwarder {
        netns: &'a Netns,
        dev: &'a str,
    },
    /// An nftables table of the lab's (a table op, or a rule in it).
    Table {
        netns: &'a Netns,
        family: Family,
        name: &'a str,
    },
    /// A process of the lab's, by `NODE:NAME`: its record and whether it runs.
    Process {
        key: String,
    },
    /// The lab's supervisor.
    Supervisor,
    /// Nothing: what a one-shot command did is not looked at.
    Nothing,
    /// The root qdiscs of a namespace (read with the namespace).
    Qdiscs {
        netns: &'a Netns,
    },
    /// The lab's nftables drop at a device's ingress.
    Drop {
        netns: &'a Netns,
        dev: &'a str,
    },
    /// A relay, by its `a` device.
    Relay {
        netns: &'a Netns,
        a: &'a str,
    },
    /// Something in a namespace: read with the whole namespace (links, addresses, routes).
    InNamespace,
}

impl<'a> Look<'a> {
    pub fn of(op: &'a Op) -> Look<'a> {
        use Op::*;
        match op {
            NetnsAdd { netns } => Look::Namespace { name: netns, read: true },
            NetnsAlias { netns, .. } => Look::Namespace { name: netns, read: false },
            SysctlSet { netns, key, .. } => Look::Sysctl { netns, key },
            FileWrite { netns, file, .. } => Look::File { netns, file: *file },
            ForwarderStart { netns, dev, .. } => Look::Forwarder { netns, dev },
            NftTableAdd { netns, family, name, .. } | NftRuleAdd { netns, family, table: name, .. } => {
                Look::Table { netns, family: *family, name }
            }
            ProcessStart { .. } => Look::Process { key: op.process_key().expect("a process op has a key") },
            SupervisorStart => Look::Supervisor,
            Exec { .. } => Look::Nothing,
            QdiscReplace { netns, .. } | QdiscDel { netns, .. } => Look::Qdiscs { netns },
            DropSet { netns, dev, .. } | DropDel { netns, dev } => Look::Drop { netns, dev },
            RelayStart { netns, a, .. } | RelayStop { netns, a } | RelaySet { netns, a, .. } => {
                Look::Relay { netns, a }
            }
            BridgeAdd { .. }
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
            | LinkSetHairpin { .. }
            | LinkSetClass { .. } => Look::InNamespace,
            // Nothing to look at: a flush leaves no state to compare.
            ConntrackFlush { .. } => Look::InNamespace,
            // What a plan or a record never holds: a record keeps what was made, a plan
            // what is to be made.
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
            | SupervisorStop
            | ProcessStop { .. } => Look::InNamespace,
        }
    }
}

impl<'a> Look<'a> {
    /// Whether what this look reads is within `scope`.
    pub fn within(&self, scope: Scope) -> bool {
        match *self {
            Look::Namespace { name, .. } | Look::File { netns: name, .. } => scope.covers_name(name),
            Look::Sysctl { netns, .. }
            | Look::Forwarder { netns, .. }
            | Look::Qdiscs { netns }
            | Look::Table { netns, .. }
            | Look::Drop { netns, .. }
            | Look::Relay { netns, .. } => scope.covers(netns),
            // The lab's programs are read from the lab's directory, whole: cheap, and a
            // run that touched one namespace may have restarted processes of any.
            Look::InNamespace | Look::Process { .. } | Look::Supervisor | Look::Nothing => true,
        }
    }
}

impl Linux {
    /// Looks at everything `ops` (a desired plan and the record's ops together) touch,
    /// within `scope`. Container-mode names are looked up but not read: they are another
    /// node's stack. Namespaces already connected (made or read before by this netlab)
    /// reuse their connection.
    pub fn observe_lab(&mut self, ops: &[&Op], scope: Scope) -> Result<LiveLab, OpError> {
        let host_id = std::fs::metadata("/proc/thread-self/ns/net").ok().map(|m| crate::live::NsId {
            dev: std::os::unix::fs::MetadataExt::dev(&m),
            ino: std::os::unix::fs::MetadataExt::ino(&m),
        });
        let mut lab = LiveLab { host_id, ..LiveLab::default() };
        let mut owned: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let looks: Vec<Look> = ops.iter().map(|op| Look::of(op)).filter(|l| l.within(scope)).collect();
        for look in &looks {
            let Look::Namespace { name, read } = *look else { continue };
            // The plan and the record name the same namespaces: each is looked up once.
            if !lab.namespaces.contains_key(name) {
                let found = match netns::lookup(name)? {
                    Named::Absent => NsLive::Absent,
                    Named::Unmounted => NsLive::Unmounted,
                    Named::Mounted(id) => NsLive::Mounted { id, live: None },
                };
                lab.namespaces.insert(name.to_string(), found);
            }
            if read && matches!(lab.namespaces[name], NsLive::Mounted { .. }) && seen.insert(name) {
                owned.push(name.to_string());
            }
        }
        // A name can vanish between the lookup and the connection: then it is absent.
        let t = std::time::Instant::now();
        let connected = self.connect(&owned);
        crate::timing::timing("connect", owned.len(), t);
        for (name, r) in owned.iter().zip(connected) {
            if r.is_err() {
                lab.namespaces.insert(name.clone(), NsLive::Absent);
            }
        }
        let read: Vec<(Netns, Families)> = std::iter::once(Netns::Host)
            .filter(|host| scope.covers(host))
            .chain(owned.iter().filter(|n| self.is_connected(&Netns::Named((*n).clone()))).cloned().map(Netns::Named))
            .map(|netns| {
                let families = scope.families(&netns);
                (netns, families)
            })
            .collect();
        let t = std::time::Instant::now();
        let dumps = self.dump(&read);
        crate::timing::timing("dump", read.len(), t);
        for ((netns, _), live) in read.iter().zip(dumps) {
            match netns {
                Netns::Host => lab.host = live?,
                Netns::Named(n) => {
                    if let Some(NsLive::Mounted { live: slot, .. }) = lab.namespaces.get_mut(n) {
                        *slot = Some(Box::new(live?));
                    }
                }
            }
        }

        // Root qdiscs, only where the lab impairs (a dump more per namespace otherwise).
        let mut qdisc_netns: Vec<Netns> = Vec::new();
        for look in &looks {
            if let Look::Qdiscs { netns } = *look {
                if read.iter().any(|(n, _)| n == netns) && !qdisc_netns.contains(netns) {
                    qdisc_netns.push(netns.clone());
                }
            }
        }
        for (netns, qdiscs) in qdisc_netns.iter().zip(self.dump_qdiscs(&qdisc_netns)) {
            let qdiscs = qdiscs?;
            match netns {
                Netns::Host => lab.host.qdiscs = qdiscs,
                Netns::Named(n) => {
                    if let Some(NsLive::Mounted { live: Some(live), .. }) = lab.namespaces.get_mut(n) {
                        live.qdiscs = qdiscs;
                    }
                }
            }
        }

        let mut keys: Vec<(Netns, String)> = Vec::new();
        let mut seen: HashSet<(&Netns, &str)> = HashSet::new();
        for look in &looks {
            let Look::Sysctl { netns, key } = *look else { continue };
            let readable = match netns {
                Netns::Host => true,
                Netns::Named(_) => self.is_connected(netns),
            };
            if readable && seen.insert((netns, key)) {
                keys.push((netns.clone(), key.to_string()));
            }
        }
        for (k, v) in keys.iter().zip(self.read_sysctls(&keys)) {
            // A key this kernel lacks reads as absent; applying it will say so.
            if let Ok(v) = v {
                lab.sysctls.insert(k.clone(), v);
            }
        }

        // Each file is read, and each forwarder looked for, once: the plan and the record
        // name the same ones.
        for look in &looks {
            match look {
                Look::File { netns, file } => {
                    let (netns, file) = (*netns, *file);
                    if let Entry::Vacant(slot) = lab.files.entry((netns.to_string(), file)) {
                        slot.insert(files::read(netns, file)?);
                    }
                }
                Look::Forwarder { netns, dev } => {
                    lab.forwarders
                        .entry(((*netns).clone(), dev.to_string()))
                        .or_insert_with(|| forwarder::find(self.dir(), netns, dev));
                }
                Look::Process { key } => {
                    if let Some(live) = super::programs::observe_process(self.dir(), key)? {
                        lab.processes.insert(key.clone(), live);
                    }
                }
                Look::Supervisor => {
                    lab.supervisor = crate::process::Supervisor::find(self.dir()).map(|s| s.identity().pid)
                }
                Look::Table { netns, family, name } => {
                    let key = ((*netns).clone(), *family, name.to_string());
                    let readable = match netns {
                        Netns::Host => true,
                        Netns::Named(_) => self.is_connected(netns),
                    };
                    if readable && !lab.tables.contains_key(&key) {
                        let found = self.tables(std::slice::from_ref(&key)).remove(0)?;
                        lab.tables.insert(key, found);
                    }
                }
                Look::Relay { netns, a } => {
                    if let Entry::Vacant(slot) = lab.relays.entry(((*netns).clone(), a.to_string())) {
                        slot.insert(self.find_relay(netns, a));
                    }
                }
                Look::Drop { .. }
                | Look::Qdiscs { .. }
                | Look::Namespace { .. }
                | Look::Sysctl { .. }
                | Look::InNamespace
                | Look::Nothing => {}
            }
        }

        // Drops: one `nft list` per namespace that has (or had) one.
        let mut drops: Vec<(&Netns, &str)> = Vec::new();
        for look in &looks {
            if let Look::Drop { netns, dev } = *look {
                if !drops.contains(&(netns, dev)) {
                    drops.push((netns, dev));
                }
            }
        }
        for ((netns, dev), found) in drops.iter().zip(self.read_drops(&drops)?) {
            lab.drops.insert(((*netns).clone(), dev.to_string()), found);
        }
        Ok(lab)
    }

    /// Each named table as nft lists it (`None`: there is no such table), read by `nft`
    /// inside its namespace (which must be connected).
    pub fn tables(&self, which: &[(Netns, Family, String)]) -> Vec<Result<Option<LiveTable>, OpError>> {
        which
            .iter()
            .map(|(netns, family, name)| {
                let fd = self.netns_fd(netns)?;
                Ok(Nft::new(NetnsPath::fd(fd)).read(*family, name)?)
            })
            .collect()
    }

    /// The lab's drop at each device, as nftables shows it (`None`: no table for it, or its
    /// namespace is not there): one `nft list` per namespace.
    pub fn read_drops(&self, which: &[(&Netns, &str)]) -> Result<Vec<Option<LiveDrop>>, OpError> {
        let mut listings: HashMap<Netns, BTreeMap<String, crate::impair::nft::Listed>> = HashMap::new();
        let mut out = Vec::new();
        for (netns, dev) in which {
            let Ok(fd) = self.netns_fd(netns) else {
                out.push(None);
                continue;
            };
            if !listings.contains_key(*netns) {
                let text = nft::run(fd, &["list", "ruleset", "netdev"], None)?;
                listings.insert((*netns).clone(), crate::impair::nft::parse_listing(&text));
            }
            let table = crate::impair::nft::table(self.lab(), dev);
            out.push(listings[*netns].get(&table).map(|t| match crate::impair::nft::state(self.lab(), dev, t) {
                Ok((loss, carrier)) => LiveDrop::Ours { loss, carrier },
                Err(Some(how)) => LiveDrop::Changed(how),
                Err(None) => LiveDrop::NotOurs { table: table.clone() },
            }));
        }
        Ok(out)
    }

    /// The devices of the host at which the lab has a drop, found by its tables' names
    /// and marks, without its record (none when nft cannot be run: then there are none).
    pub fn host_drops(&self) -> Vec<String> {
        let Ok(fd) = self.netns_fd(&Netns::Host) else { return Vec::new() };
        let Ok(text) = nft::run(fd, &["list", "ruleset", "netdev"], None) else { return Vec::new() };
        let prefix = format!("netlab-{}.", self.lab());
        crate::impair::nft::parse_listing(&text)
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .filter_map(|(name, t)| {
                let dev = t.device.clone()?;
                let ours = crate::impair::nft::table(self.lab(), &dev) == name
                    && crate::impair::nft::state(self.lab(), &dev, &t) != Err(None);
                ours.then_some(dev)
            })
            .collect()
    }

    /// A relay, if it runs, and what it does now (asked over its control socket).
    fn find_relay(&self, netns: &Netns, a: &str) -> Option<LiveRelay> {
        let running = forwarder::find_relay(self.dir(), netns, a)?;
        let path = forwarder::control_socket(self.dir(), netns, a);
        let impairments = path.and_then(|p| control::request(&p, "get").ok()).filter(|r| r.ok).and_then(|r| {
            let a_to_b: Impairment = r.a_to_b.parse().ok()?;
            let b_to_a: Impairment = r.b_to_a.parse().ok()?;
            Some([a_to_b, b_to_a])
        });
        Some(LiveRelay { running, impairments })
    }
}
