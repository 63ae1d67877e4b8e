//! Everything the kernel and the file system show of one lab, gathered in one go: which
//! of its namespaces exist (and whose they are), their links, addresses and routes, the
//! host's, its sysctls and its /etc/netns files. `diff`, `up` and `status` all start here.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::forwarder::{self, Running};
use super::live::LiveNetns;
use super::netns::{self, Named, NsId};
use super::{files, Kernel, OpError};
use crate::plan::Op;
use crate::topology::{EtcFileKind, Netns};

/// One named namespace of the lab, as found.
#[derive(Debug, Clone)]
pub enum NsLive {
    Absent,
    /// A file under /run/netns with no namespace mounted on it.
    Unmounted,
    Mounted {
        id: NsId,
        live: Option<Box<LiveNetns>>,
    },
}

impl NsLive {
    pub fn id(&self) -> Option<NsId> {
        match self {
            NsLive::Mounted { id, .. } => Some(*id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LiveLab {
    pub host: LiveNetns,
    pub namespaces: BTreeMap<String, NsLive>,
    pub sysctls: HashMap<(Netns, String), String>,
    pub files: HashMap<(String, EtcFileKind), Option<String>>,
    /// The forwarder of each tunnel end that has one, if it runs.
    pub forwarders: HashMap<(Netns, String), Option<Running>>,
}

impl LiveLab {
    /// The links, addresses and routes of a namespace that exists and was read.
    pub fn netns(&self, netns: &Netns) -> Option<&LiveNetns> {
        match netns {
            Netns::Host => Some(&self.host),
            Netns::Named(n) => match self.namespaces.get(n) {
                Some(NsLive::Mounted { live, .. }) => live.as_deref(),
                _ => None,
            },
        }
    }
}

impl Kernel {
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
                        .or_insert_with(|| forwarder::find(&self.lab, netns, dev));
                }
                _ => {}
            }
        }
        Ok(lab)
    }
}
