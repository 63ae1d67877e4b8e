//! What the kernel (and the file system) show of a lab, as plain data: its namespaces and
//! their identities, links, addresses, routes, qdiscs, sysctls, /etc/netns files, nftables
//! drops and tables, forwarder and relay processes, and its processes and their
//! supervisor. `kernel` fills these in (see `kernel::observe`); `diff`, `ownership` and
//! `status` read them. Nothing here talks to the kernel, so tests build them by hand.
//!
//! Kernel-made state (link-local IPv6, connected-subnet routes, loopback addresses, the
//! local table) is marked as such, since it is never drift.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

pub use crate::firewall::live::LiveTable;
use crate::firewall::ruleset::Family;
use crate::impairment::{Impairment, Percent};
use crate::topology::{EtcFileKind, Netns};

/// The identity of a namespace: the device and inode of its nsfs file. Two names of one
/// namespace (container mode) have the same identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NsId {
    pub dev: u64,
    pub ino: u64,
}

/// What `/run/netns/<name>` holds: nothing, a placeholder file with no namespace mounted
/// on it (left by a crash between creating the file and mounting), or a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Absent,
    Unmounted,
    Mounted(NsId),
}

/// The main routing table, the only one netlab writes.
pub const MAIN_TABLE: u32 = 254;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveLink {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, `vxlan`, `ipip`, `tun`...; `None` for devices without a kind (lo).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    pub up: bool,
    /// The bridge this link is a port of, by index.
    pub master: Option<u32>,
    /// The ifalias: netlab's ownership mark lives here.
    pub alias: Option<String>,
    /// The device group (netlab puts a lab's links in one, to delete them at once).
    pub group: u32,
    /// A veth's peer index, in the peer's namespace.
    pub peer_index: Option<u32>,
    pub vxlan: Option<VxlanInfo>,
    /// An ipip tunnel's (local, remote).
    pub ipip: Option<(Option<IpAddr>, Option<IpAddr>)>,
    /// A bridge port's hairpin mode (`None`: not a bridge port).
    pub hairpin: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VxlanInfo {
    pub vni: Option<u32>,
    pub local: Option<IpAddr>,
    pub remote: Option<IpAddr>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAddr {
    pub index: u32,
    pub address: IpNet,
    /// The other end of a point-to-point address.
    pub peer: Option<IpAddr>,
}

impl LiveAddr {
    /// Addresses the kernel makes by itself: IPv6 link-local, and loopback's.
    pub fn kernel_made(&self) -> bool {
        match self.address.addr() {
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_loopback(),
            IpAddr::V4(a) => a.is_loopback(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRoute {
    pub table: u32,
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Added by the kernel itself (for an address or a link) or learnt from a router
    /// advertisement, rather than by a person or a program.
    pub by_kernel: bool,
    /// A unicast route (not local, broadcast, multicast, unreachable...).
    pub unicast: bool,
}

impl LiveRoute {
    /// Routes the kernel adds for addresses and links (connected subnets, the local table,
    /// IPv6 link-local and multicast), and routes learned from router advertisements.
    pub fn kernel_made(&self) -> bool {
        self.table != MAIN_TABLE
            || self.by_kernel
            || !self.unicast
            || matches!(self.dst.addr(), IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_multicast())
    }
}

/// A link's root qdisc, as the kernel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveQdisc {
    /// The link, by index.
    pub index: u32,
    /// `noqueue`, `netem`, `tbf`...
    pub kind: String,
    /// What it does, as the impairment netlab would have asked for it, when its kind is
    /// one netlab makes (netem, tbf) and its options could be read.
    pub impairment: Option<Impairment>,
}

/// The drop at a device's ingress, as nftables shows the table netlab would have made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveDrop {
    /// The lab's drop, doing what its table says.
    Ours { loss: Percent, carrier: bool },
    /// The lab's table, changed by hand (how).
    Changed(String),
    /// A table of the lab's name for it without the lab's mark: someone else's.
    NotOurs { table: String },
}

/// A relay that runs: its process, and what each direction does now (`None`: its
/// control socket did not answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRelay {
    pub running: Running,
    /// `[a to b, b to a]`.
    pub impairments: Option<[Impairment; 2]>,
}

/// One namespace as the kernel shows it. Built with [`LiveNetns::new`], which indexes
/// links by name and index and addresses by link: the host of a big lab has thousands.
#[derive(Debug, Clone, Default)]
pub struct LiveNetns {
    pub links: Vec<LiveLink>,
    pub addrs: Vec<LiveAddr>,
    pub routes: Vec<LiveRoute>,
    /// Root qdiscs, read where the lab has (or had) an impairment in the kernel.
    pub qdiscs: Vec<LiveQdisc>,
    by_name: HashMap<String, usize>,
    by_index: HashMap<u32, usize>,
    /// Addresses sorted by link index, and where each link's start.
    addrs_at: HashMap<u32, (usize, usize)>,
}

impl LiveNetns {
    pub fn new(links: Vec<LiveLink>, mut addrs: Vec<LiveAddr>, routes: Vec<LiveRoute>) -> LiveNetns {
        addrs.sort_by_key(|a| a.index);
        let mut addrs_at: HashMap<u32, (usize, usize)> = HashMap::new();
        for (i, a) in addrs.iter().enumerate() {
            addrs_at.entry(a.index).and_modify(|r| r.1 = i + 1).or_insert((i, i + 1));
        }
        LiveNetns {
            by_name: links.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect(),
            by_index: links.iter().enumerate().map(|(i, l)| (l.index, i)).collect(),
            links,
            addrs,
            routes,
            qdiscs: Vec::new(),
            addrs_at,
        }
    }

    /// The root qdisc of a link, when qdiscs were read.
    pub fn qdisc_of(&self, index: u32) -> Option<&LiveQdisc> {
        self.qdiscs.iter().find(|q| q.index == index)
    }

    pub fn link(&self, name: &str) -> Option<&LiveLink> {
        self.by_name.get(name).map(|i| &self.links[*i])
    }

    pub fn link_by_index(&self, index: u32) -> Option<&LiveLink> {
        self.by_index.get(&index).map(|i| &self.links[*i])
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = &LiveAddr> {
        let (start, end) = self.addrs_at.get(&index).copied().unwrap_or((0, 0));
        self.addrs[start..end].iter()
    }

    /// Whether the link named `dev` has `address` (with `peer`).
    pub fn has_addr(&self, dev: &str, address: IpNet, peer: Option<IpAddr>) -> bool {
        self.link(dev).is_some_and(|l| self.addrs_of(l.index).any(|a| a.address == address && a.peer == peer))
    }

    /// The route of the main table to `dst` that is not the kernel's own, if there is one.
    pub fn route_to(&self, dst: IpNet) -> Option<&LiveRoute> {
        self.routes.iter().find(|r| r.table == MAIN_TABLE && r.dst == dst && !r.kernel_made())
    }
}

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
            NsLive::Absent | NsLive::Unmounted => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LiveLab {
    pub host: LiveNetns,
    /// The identity of the host's own network namespace (where netlab runs).
    pub host_id: Option<NsId>,
    pub namespaces: BTreeMap<String, NsLive>,
    pub sysctls: HashMap<(Netns, String), String>,
    /// Each /etc/netns file's content, as bytes: what someone else wrote need not be text.
    pub files: HashMap<(String, EtcFileKind), Option<Vec<u8>>>,
    /// The forwarder of each tunnel end that has one, if it runs.
    pub forwarders: HashMap<(Netns, String), Option<Running>>,
    /// The nftables tables of the lab's name that were looked for (`None`: not there).
    pub tables: HashMap<(Netns, Family, String), Option<LiveTable>>,
    /// Each process of the lab's (by `NODE:NAME`) that was ever started, as its
    /// supervisor last recorded it.
    pub processes: HashMap<String, LiveProcess>,
    /// The lab's supervisor (PID 1 of its processes' PID namespace), by its pid, if it runs.
    pub supervisor: Option<u32>,
    /// The drop at each device the lab drops (or dropped) at, if there is a table for it.
    pub drops: HashMap<(Netns, String), Option<LiveDrop>>,
    /// Each relay of the lab's (by namespace and `a` device), if it runs.
    pub relays: HashMap<(Netns, String), Option<LiveRelay>>,
}

impl LiveLab {
    /// Takes what `newer` shows of the namespaces in `scope` (the host's links, addresses,
    /// routes, qdiscs and sysctls for `Netns::Host`; a named one's identity, contents,
    /// sysctls, files, forwarders, nftables tables, drops and relays), and keeps the rest:
    /// a lab read whole, then in part.
    pub fn update(&mut self, newer: LiveLab, scope: &HashSet<Netns>) {
        let named = |name: &str| scope.contains(&Netns::Named(name.to_string()));
        if scope.contains(&Netns::Host) {
            self.host = newer.host;
        }
        self.namespaces.retain(|name, _| !named(name));
        self.namespaces.extend(newer.namespaces);
        self.sysctls.retain(|(netns, _), _| !scope.contains(netns));
        self.sysctls.extend(newer.sysctls);
        self.files.retain(|(name, _), _| !named(name));
        self.files.extend(newer.files);
        self.forwarders.retain(|(netns, _), _| !scope.contains(netns));
        self.forwarders.extend(newer.forwarders);
        self.tables.retain(|(netns, _, _), _| !scope.contains(netns));
        self.tables.extend(newer.tables);
        self.drops.retain(|(netns, _), _| !scope.contains(netns));
        self.drops.extend(newer.drops);
        self.relays.retain(|(netns, _), _| !scope.contains(netns));
        self.relays.extend(newer.relays);
        // Read whole at every look (see `observe::Look::within`).
        self.processes = newer.processes;
        self.supervisor = newer.supervisor;
    }

    /// The contents of the namespace with identity `id`, if it was read under any name.
    pub fn read_namespace(&self, id: NsId) -> Option<&LiveNetns> {
        self.namespaces.values().find_map(|ns| match ns {
            NsLive::Mounted { id: i, live: Some(live) } if *i == id => Some(&**live),
            NsLive::Mounted { .. } | NsLive::Unmounted | NsLive::Absent => None,
        })
    }

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

/// A forwarder that is running: its pid and its arguments (its configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub pid: u32,
    pub args: Vec<String>,
}

impl Running {
    /// The stats file it was told to write (its `--stats`), which names its lab,
    /// namespace and device.
    pub fn stats(&self) -> Option<&str> {
        self.args.windows(2).find(|w| w[0] == "--stats").map(|w| w[1].as_str())
    }
}

/// Who a process is, in terms no other process can take over: its pid with its start
/// time (a pid is reused once its process is gone; the pair never is), its user and its
/// network namespace. Never its name or command line, which any process can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The pid as this machine's /proc shows it (the host's, or a throwaway host's).
    pub pid: u32,
    /// Clock ticks from boot to its start (/proc/PID/stat, field 22).
    pub start_time: u64,
    /// Its real user id.
    pub uid: u32,
    pub netns: NsId,
}

/// How a process ended: its exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }

    /// The exit code a shell gives a command that ended this way: its own, or 128 + n
    /// when signal n killed it.
    pub fn shell_code(&self) -> i32 {
        match *self {
            Exit::Code(code) => code,
            Exit::Signal(n) => 128 + n,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Exit::Code(code) => write!(f, "exit status {code}"),
            Exit::Signal(n) => match nix::sys::signal::Signal::try_from(n) {
                Ok(s) => write!(f, "killed by signal {n} ({})", s.as_str()),
                Err(_) => write!(f, "killed by signal {n}"),
            },
        }
    }
}

/// One of the lab's processes, as its supervisor last recorded it and /proc shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveProcess {
    /// The process of its latest start.
    pub identity: Identity,
    pub state: ProcessState,
    /// When its latest start was, in seconds since the Unix epoch.
    pub started_at: u64,
    /// How many times it was started.
    pub starts: u32,
    /// How its latest run that ended, ended, and when (kept across restarts).
    pub last_exit: Option<(Exit, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// It runs: the same pid and start time, alive.
    Running,
    /// It ended, and its supervisor recorded how.
    Exited(Exit),
    /// It is gone without a word: its supervisor died, and took it along.
    Gone,
}

/// A sysctl value as netlab compares it: the kernel's trailing newline (and tabs between
/// fields) normalised to single spaces, like a value written in a file.
pub fn normalise_sysctl(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
