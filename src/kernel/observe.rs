//! Everything the kernel and the file system show of one lab, gathered in one go into a
//! [`LiveLab`]: which of its namespaces exist (and whose they are), their links, addresses
//! and routes, the host's, its sysctls, its /etc/netns files and its forwarders.

use std::collections::hash_map::Entry;
use std::collections::HashSet;

use super::forwarder;
use super::netns;
use super::{files, Kernel, Linux, OpError};
use crate::live::{LiveLab, Named, NsLive};
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
    /// A process of the lab's, by `NODE:NAME`: its record and whether it runs.
    Process {
        key: String,
    },
    /// The lab's supervisor.
    Supervisor,
    /// Nothing: what a one-shot command did is not looked at.
    Nothing,
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
            ProcessStart { .. } => Look::Process { key: op.process_key().expect("a process op has a key") },
            SupervisorStart => Look::Supervisor,
            Exec { .. } => Look::Nothing,
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
            | RouteAdd { .. } => Look::InNamespace,
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
            | SupervisorStop
            | ProcessStop { .. } => Look::InNamespace,
        }
    }
}

impl Linux {
    /// Looks at everything `ops` (a desired plan and the record's ops together) touch.
    /// Container-mode names are looked up but not read: they are another node's stack.
    pub fn observe_lab(&mut self, ops: &[&Op]) -> Result<LiveLab, OpError> {
        let host_id = std::fs::metadata("/proc/thread-self/ns/net").ok().map(|m| crate::live::NsId {
            dev: std::os::unix::fs::MetadataExt::dev(&m),
            ino: std::os::unix::fs::MetadataExt::ino(&m),
        });
        let mut lab = LiveLab { host_id, ..LiveLab::default() };
        let mut owned: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let looks: Vec<Look> = ops.iter().map(|op| Look::of(op)).collect();
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
        let read: Vec<Netns> = std::iter::once(Netns::Host)
            .chain(owned.iter().filter(|n| self.is_connected(&Netns::Named((*n).clone()))).cloned().map(Netns::Named))
            .collect();
        let t = std::time::Instant::now();
        let dumps = self.observe(&read);
        crate::timing::timing("dump", read.len(), t);
        for (netns, live) in read.iter().zip(dumps) {
            match netns {
                Netns::Host => lab.host = live?,
                Netns::Named(n) => {
                    if let Some(NsLive::Mounted { live: slot, .. }) = lab.namespaces.get_mut(n) {
                        *slot = Some(Box::new(live?));
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
                    if let Some(record) = crate::process::files::ProcessRecord::load(self.dir(), key)? {
                        lab.processes.insert(key.clone(), record.live());
                    }
                }
                Look::Supervisor => {
                    lab.supervisor = crate::process::Supervisor::find(self.dir()).map(|s| s.identity().pid)
                }
                Look::Namespace { .. } | Look::Sysctl { .. } | Look::InNamespace | Look::Nothing => {}
            }
        }
        Ok(lab)
    }
}
