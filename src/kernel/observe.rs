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
use crate::topology::Netns;

impl Linux {
    /// Looks at everything `ops` (a desired plan and the record's ops together) touch.
    /// Container-mode names are looked up but not read: they are another node's stack.
    pub fn observe_lab(&mut self, ops: &[&Op]) -> Result<LiveLab, OpError> {
        let mut lab = LiveLab::default();
        let mut owned: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for op in ops {
            let (name, read) = match op {
                Op::NetnsAdd { netns } => (netns, true),
                Op::NetnsAlias { netns, .. } => (netns, false),
                _ => continue,
            };
            // The plan and the record name the same namespaces: each is looked up once.
            if !lab.namespaces.contains_key(name) {
                let found = match netns::lookup(name)? {
                    Named::Absent => NsLive::Absent,
                    Named::Unmounted => NsLive::Unmounted,
                    Named::Mounted(id) => NsLive::Mounted { id, live: None },
                };
                lab.namespaces.insert(name.clone(), found);
            }
            if read && matches!(lab.namespaces[name], NsLive::Mounted { .. }) && seen.insert(name) {
                owned.push(name.clone());
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
        for op in ops {
            if let Op::SysctlSet { netns, key, .. } = op {
                let readable = match netns {
                    Netns::Host => true,
                    Netns::Named(_) => self.is_connected(netns),
                };
                if readable && seen.insert((netns, key)) {
                    keys.push((netns.clone(), key.clone()));
                }
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
        for op in ops {
            match op {
                Op::FileWrite { netns, file, .. } => {
                    if let Entry::Vacant(slot) = lab.files.entry((netns.clone(), *file)) {
                        slot.insert(files::read(netns, *file)?);
                    }
                }
                Op::ForwarderStart { netns, dev, .. } => {
                    lab.forwarders
                        .entry((netns.clone(), dev.clone()))
                        .or_insert_with(|| forwarder::find(self.forwarders(), netns, dev));
                }
                _ => {}
            }
        }
        Ok(lab)
    }
}
