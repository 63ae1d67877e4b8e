//! [`Op`]: one change to the kernel, and everything the stages need to know about each
//! kind of change. Every `match` over `Op` in netlab is exhaustive, so a new variant makes
//! the compiler name each place that must decide what to do with it; the decisions that
//! are the op's own are made here, once: its inverse and its key here, its device kind,
//! kernel feature, the links it makes and what it hangs off in `links`, where it goes in
//! a removal and whether the record keeps it in `removal`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::Encap;
use crate::firewall::groups::Class;
use crate::firewall::ruleset::{Chain, Family};
use crate::impair::kernel::QdiscKind;
use crate::impairment::{Impairment, Percent};
use crate::topology::{EtcFileKind, Netns, Ready};
use crate::tunnel::{ForwarderConfig, Peer};

mod links;
mod removal;

/// One change to the kernel (or to /etc/netns, or a process), small enough to apply,
/// print and undo on its own. The JSON form is `{"op": "<snake_case name>", ...fields}`;
/// `netns` is `null` for the root namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A named namespace, like `ip netns add`, with nothing in it but `lo`.
    NetnsAdd {
        netns: String,
    },
    /// A second name for an existing namespace (Docker's container mode).
    NetnsAlias {
        netns: String,
        target: String,
    },
    /// Removes a name from /run/netns; the namespace dies with its last name.
    NetnsDel {
        netns: String,
    },
    SysctlSet {
        netns: Netns,
        key: String,
        value: String,
    },
    /// Puts back the value a `sysctl_set` found (netlab records it when applying).
    SysctlRestore {
        netns: Netns,
        key: String,
    },
    /// `/etc/netns/<netns>/<file>`, which `ip netns exec` mounts over `/etc/<file>`.
    FileWrite {
        netns: String,
        file: EtcFileKind,
        content: String,
    },
    FileRemove {
        netns: String,
        file: EtcFileKind,
    },
    BridgeAdd {
        netns: Netns,
        name: String,
        mtu: Option<u32>,
    },
    /// A veth pair, each end born in its own namespace.
    VethAdd {
        netns: Netns,
        name: String,
        mac: Option<String>,
        peer_netns: Netns,
        peer_name: String,
        peer_mac: Option<String>,
        mtu: Option<u32>,
    },
    VxlanAdd {
        netns: Netns,
        name: String,
        vni: u32,
        local: IpAddr,
        remote: IpAddr,
        port: u16,
        mtu: Option<u32>,
    },
    IpipAdd {
        netns: Netns,
        name: String,
        local: IpAddr,
        remote: IpAddr,
        mtu: Option<u32>,
    },
    /// A persistent TUN device, read and written by a forwarder.
    TunAdd {
        netns: Netns,
        name: String,
        mtu: Option<u32>,
    },
    LinkDel {
        netns: Netns,
        name: String,
    },
    LinkSetMaster {
        netns: Netns,
        name: String,
        master: String,
    },
    LinkSetNomaster {
        netns: Netns,
        name: String,
    },
    /// Changes a link's mtu in place (a converge, when only the mtu changed).
    LinkSetMtu {
        netns: Netns,
        name: String,
        mtu: u32,
    },
    /// Changes a link's MAC address in place.
    LinkSetMac {
        netns: Netns,
        name: String,
        mac: String,
    },
    /// Renames a link, keeping its index, addresses and routes (the kernel wants it down
    /// for that; it is brought back up if it was up).
    LinkRename {
        netns: Netns,
        name: String,
        new_name: String,
    },
    LinkUp {
        netns: Netns,
        name: String,
    },
    LinkDown {
        netns: Netns,
        name: String,
    },
    /// `peer` makes it point-to-point, like `ip addr add A peer B`.
    AddrAdd {
        netns: Netns,
        dev: String,
        address: IpNet,
        peer: Option<IpAddr>,
    },
    AddrDel {
        netns: Netns,
        dev: String,
        address: IpNet,
        peer: Option<IpAddr>,
    },
    RouteAdd {
        netns: Netns,
        to: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
    },
    RouteDel {
        netns: Netns,
        to: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
    },
    /// The userspace half of a udp tunnel (or of ipip on a kernel without it): a netlab
    /// process in `netns` that carries packets between `dev` (a TUN device) and the
    /// underlay, from `local` (and `port`, for udp), to the peer that owns each destination.
    ForwarderStart {
        netns: Netns,
        dev: String,
        encap: Encap,
        local: IpAddr,
        /// udp only.
        port: Option<u16>,
        peers: Vec<Peer>,
    },
    ForwarderStop {
        netns: Netns,
        dev: String,
    },
    /// The lab's supervisor: netlab itself (`netlab supervise`) as PID 1 of a PID
    /// namespace of the lab's own, the parent of every process of the lab, so that none
    /// outlives the lab (see src/process).
    SupervisorStart,
    /// Ends the supervisor, and with it everything left in its PID namespace.
    SupervisorStop,
    /// A long-running process in a node, `sh -c CMD` started by the supervisor inside the
    /// node's namespace (`netns`), ready once `ready` passes (within `ready_timeout_ms`).
    ProcessStart {
        node: String,
        name: String,
        netns: Netns,
        cmd: String,
        ready: Option<Ready>,
        ready_timeout_ms: u64,
        user: Option<String>,
        env: BTreeMap<String, String>,
    },
    /// SIGTERM to a process (and its process group), SIGKILL after a grace period.
    ProcessStop {
        node: String,
        name: String,
        netns: Netns,
    },
    /// A node's `n`-th one-shot command, run to its end: anything but exit 0 fails.
    Exec {
        node: String,
        netns: Netns,
        n: usize,
        cmd: String,
    },
    /// Deletes the conntrack entries that have an address in one of `subnets` (a lab's nat
    /// networks), so that no stale NAT outlives the lab or greets the next one on the same
    /// addresses. Done at up and again at down: its own undo.
    ConntrackFlush {
        netns: Netns,
        subnets: Vec<IpNet>,
    },
    /// `create table FAMILY NAME` with its chains, its comment the lab's mark: the lab's
    /// own nftables table (it never writes in anyone else's).
    NftTableAdd {
        netns: Netns,
        family: Family,
        name: String,
        chains: Vec<Chain>,
    },
    /// Deletes a table of the lab's, with its chains and rules.
    NftTableDel {
        netns: Netns,
        family: Family,
        name: String,
    },
    /// One rule in a chain of a table of the lab's; `comment` is its identity.
    NftRuleAdd {
        netns: Netns,
        family: Family,
        table: String,
        chain: String,
        rule: String,
        comment: String,
    },
    /// Deletes the rule with identity `comment`.
    NftRuleDel {
        netns: Netns,
        family: Family,
        table: String,
        chain: String,
        comment: String,
    },
    /// Hairpin mode of a bridge port: frames may leave through the port they came in by
    /// (a node reaching its own published port through the host).
    LinkSetHairpin {
        netns: Netns,
        name: String,
        on: bool,
    },
    /// Puts a link of the lab's in the device group of its class (see
    /// `firewall::groups`): what every lab's forwarding guard reads.
    LinkSetClass {
        netns: Netns,
        name: String,
        class: Class,
    },
    /// Makes netlab's qdisc a link's root qdisc, replacing the one it has: an impairment
    /// in the kernel (netem; tbf for a rate alone; see `impair::kernel`).
    QdiscReplace {
        netns: Netns,
        dev: String,
        kind: QdiscKind,
        impairment: Impairment,
    },
    /// Puts a link's default root qdisc back.
    QdiscDel {
        netns: Netns,
        dev: String,
    },
    /// Drops frames as they arrive at `dev`: each with probability `loss`, or every one
    /// when `carrier` is false (the other end's cable pulled). An nftables netdev table
    /// of the lab's, `netlab-<lab>.<dev>`, made or replaced whole.
    DropSet {
        netns: Netns,
        dev: String,
        loss: Percent,
        carrier: bool,
    },
    DropDel {
        netns: Netns,
        dev: String,
    },
    /// The userspace impairment of a link: a netlab process in `netns` (the lab's relay
    /// namespace) that carries frames between its devices `a` and `b`, each direction
    /// through its own delay line.
    RelayStart {
        netns: Netns,
        a: String,
        b: String,
        a_to_b: Impairment,
        b_to_a: Impairment,
    },
    RelayStop {
        netns: Netns,
        a: String,
    },
    /// Changes what a running relay does, at once (`None`: that direction is left as it is).
    RelaySet {
        netns: Netns,
        a: String,
        a_to_b: Option<Impairment>,
        b_to_a: Option<Impairment>,
    },
}

/// What a forwarder with the fields of a `forwarder_start` is told (udp's port defaults
/// to flannel's), writing its counters to `stats`.
pub(crate) fn forwarder_config(
    dev: &str,
    encap: Encap,
    local: IpAddr,
    port: Option<u16>,
    peers: &[Peer],
    stats: Option<PathBuf>,
) -> ForwarderConfig {
    let port = port.unwrap_or(crate::tunnel::DEFAULT_UDP_PORT);
    ForwarderConfig { dev: dev.to_string(), encap, local, port, peers: peers.to_vec(), stats }
}

/// What kind of object or setting an op is about; with a namespace and a name, an op's
/// [`OpKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Netns,
    Sysctl,
    File,
    Link,
    Master,
    Mtu,
    Mac,
    /// A link's name, by the name it is given.
    Rename,
    /// A link's administrative state.
    Up,
    Addr,
    Route,
    Forwarder,
    Supervisor,
    Process,
    Exec,
    Conntrack,
    NftTable,
    NftRule,
    Hairpin,
    Class,
    /// A link's root qdisc.
    Qdisc,
    /// The drop at a device's ingress.
    Drop,
    /// A relay process, by its `a` device.
    Relay,
    /// What a running relay does.
    RelayImpairment,
}

/// The identity of what an op acts on; see [`Op::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpKey {
    pub what: Subject,
    pub netns: Netns,
    pub name: String,
}

impl Op {
    /// The namespace the op acts in, as a column of the text plan.
    pub fn netns(&self) -> Netns {
        use Op::*;
        match self {
            NetnsAdd { netns } | NetnsAlias { netns, .. } | NetnsDel { netns } => Netns::Named(netns.clone()),
            FileWrite { .. } | FileRemove { .. } | SupervisorStart | SupervisorStop => Netns::Host,
            SysctlSet { netns, .. }
            | SysctlRestore { netns, .. }
            | BridgeAdd { netns, .. }
            | VethAdd { netns, .. }
            | VxlanAdd { netns, .. }
            | IpipAdd { netns, .. }
            | TunAdd { netns, .. }
            | LinkDel { netns, .. }
            | LinkSetMaster { netns, .. }
            | LinkSetNomaster { netns, .. }
            | LinkSetMtu { netns, .. }
            | LinkSetMac { netns, .. }
            | LinkRename { netns, .. }
            | LinkUp { netns, .. }
            | LinkDown { netns, .. }
            | AddrAdd { netns, .. }
            | AddrDel { netns, .. }
            | RouteAdd { netns, .. }
            | RouteDel { netns, .. }
            | ForwarderStart { netns, .. }
            | ForwarderStop { netns, .. }
            | QdiscReplace { netns, .. }
            | QdiscDel { netns, .. }
            | DropSet { netns, .. }
            | DropDel { netns, .. }
            | RelayStart { netns, .. }
            | RelayStop { netns, .. }
            | RelaySet { netns, .. }
            | ProcessStart { netns, .. }
            | ProcessStop { netns, .. }
            | Exec { netns, .. }
            | ConntrackFlush { netns, .. }
            | NftTableAdd { netns, .. }
            | NftTableDel { netns, .. }
            | NftRuleAdd { netns, .. }
            | NftRuleDel { netns, .. }
            | LinkSetHairpin { netns, .. }
            | LinkSetClass { netns, .. } => netns.clone(),
        }
    }

    /// `NODE:NAME`, the key of a process's files and the way people name it; for an
    /// `exec`, `NODE:exec.N`. `None` for other ops.
    pub fn process_key(&self) -> Option<String> {
        use Op::*;
        match self {
            ProcessStart { node, name, .. } | ProcessStop { node, name, .. } => Some(format!("{node}:{name}")),
            Exec { node, n, .. } => Some(format!("{node}:exec.{n}")),
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | NetnsDel { .. }
            | SysctlSet { .. }
            | SysctlRestore { .. }
            | FileWrite { .. }
            | FileRemove { .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkDel { .. }
            | LinkSetMaster { .. }
            | LinkSetNomaster { .. }
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | LinkRename { .. }
            | LinkUp { .. }
            | LinkDown { .. }
            | AddrAdd { .. }
            | AddrDel { .. }
            | RouteAdd { .. }
            | RouteDel { .. }
            | ForwarderStart { .. }
            | ForwarderStop { .. }
            | SupervisorStart
            | SupervisorStop
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | QdiscReplace { .. }
            | QdiscDel { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | RelaySet { .. } => None,
        }
    }

    /// The op that undoes this one, for ops whose undo is known from the op alone.
    /// Deleting ops have none: what they remove is not in the op.
    pub fn inverse(&self) -> Option<Op> {
        use Op::*;
        let link_del = |netns: &Netns, name: &String| LinkDel { netns: netns.clone(), name: name.clone() };
        Some(match self.clone() {
            NetnsAdd { netns } | NetnsAlias { netns, .. } => NetnsDel { netns },
            SysctlSet { netns, key, .. } => SysctlRestore { netns, key },
            FileWrite { netns, file, .. } => FileRemove { netns, file },
            BridgeAdd { netns, name, .. }
            | VethAdd { netns, name, .. }
            | VxlanAdd { netns, name, .. }
            | IpipAdd { netns, name, .. }
            | TunAdd { netns, name, .. } => link_del(&netns, &name),
            LinkSetMaster { netns, name, .. } => LinkSetNomaster { netns, name },
            LinkRename { netns, name, new_name } => LinkRename { netns, name: new_name, new_name: name },
            LinkUp { netns, name } => LinkDown { netns, name },
            LinkDown { netns, name } => LinkUp { netns, name },
            AddrAdd { netns, dev, address, peer } => AddrDel { netns, dev, address, peer },
            AddrDel { netns, dev, address, peer } => AddrAdd { netns, dev, address, peer },
            RouteAdd { netns, to, via, dev } => RouteDel { netns, to, via, dev },
            RouteDel { netns, to, via, dev } => RouteAdd { netns, to, via, dev },
            ForwarderStart { netns, dev, .. } => ForwarderStop { netns, dev },
            SupervisorStart => SupervisorStop,
            ProcessStart { node, name, netns, .. } => ProcessStop { node, name, netns },
            // What a command did is not netlab's to take back.
            Exec { .. } => return None,
            // Flushing cannot be undone; what down does about the lab's entries is flush them.
            flush @ ConntrackFlush { .. } => flush,
            NftTableAdd { netns, family, name, .. } => NftTableDel { netns, family, name },
            NftRuleAdd { netns, family, table, chain, comment, .. } => NftRuleDel { netns, family, table, chain, comment },
            LinkSetHairpin { netns, name, on } => LinkSetHairpin { netns, name, on: !on },
            // A link is made in the plain class: that is what undoing a class puts back.
            LinkSetClass { netns, name, .. } => LinkSetClass { netns, name, class: Class::Plain },
            QdiscReplace { netns, dev, .. } => QdiscDel { netns, dev },
            DropSet { netns, dev, .. } => DropDel { netns, dev },
            RelayStart { netns, a, .. } => RelayStop { netns, a },
            NetnsDel { .. }
            | SysctlRestore { .. }
            | FileRemove { .. }
            | LinkDel { .. }
            | LinkSetNomaster { .. }
            // The mtu before is not in the op; the link's own op says what it was made with.
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | ForwarderStop { .. }
            | SupervisorStop
            | ProcessStop { .. }
            | NftTableDel { .. }
            // The rule's text is not in the op.
            | NftRuleDel { .. }
            | QdiscDel { .. }
            | DropDel { .. }
            | RelayStop { .. }
            // What the relay did before is not in the op; the relay's own op says what
            // it was started with.
            | RelaySet { .. } => return None,
        })
    }

    /// What the op is about: two ops with one key act on the same object or setting (an
    /// op and its inverse, or two values of one setting). Diffs and records match on it.
    pub fn key(&self) -> OpKey {
        use Op::*;
        let key = |what, netns: &Netns, name: String| OpKey { what, netns: netns.clone(), name };
        match self {
            NetnsAdd { netns } | NetnsAlias { netns, .. } | NetnsDel { netns } => {
                key(Subject::Netns, &Netns::Named(netns.clone()), String::new())
            }
            SysctlSet { netns, key: k, .. } | SysctlRestore { netns, key: k } => key(Subject::Sysctl, netns, k.clone()),
            FileWrite { netns, file, .. } | FileRemove { netns, file } => {
                key(Subject::File, &Netns::Named(netns.clone()), file.file_name().to_string())
            }
            BridgeAdd { netns, name, .. }
            | VethAdd { netns, name, .. }
            | VxlanAdd { netns, name, .. }
            | IpipAdd { netns, name, .. }
            | TunAdd { netns, name, .. }
            | LinkDel { netns, name } => key(Subject::Link, netns, name.clone()),
            LinkSetMaster { netns, name, .. } | LinkSetNomaster { netns, name } => {
                key(Subject::Master, netns, name.clone())
            }
            LinkSetMtu { netns, name, .. } => key(Subject::Mtu, netns, name.clone()),
            LinkSetMac { netns, name, .. } => key(Subject::Mac, netns, name.clone()),
            LinkRename { netns, new_name, .. } => key(Subject::Rename, netns, new_name.clone()),
            LinkUp { netns, name } | LinkDown { netns, name } => key(Subject::Up, netns, name.clone()),
            AddrAdd { netns, dev, address, .. } | AddrDel { netns, dev, address, .. } => {
                key(Subject::Addr, netns, format!("{dev} {address}"))
            }
            RouteAdd { netns, to, .. } | RouteDel { netns, to, .. } => key(Subject::Route, netns, to.to_string()),
            ForwarderStart { netns, dev, .. } | ForwarderStop { netns, dev } => {
                key(Subject::Forwarder, netns, dev.clone())
            }
            SupervisorStart | SupervisorStop => key(Subject::Supervisor, &Netns::Host, String::new()),
            ProcessStart { node, name, netns, .. } | ProcessStop { node, name, netns } => {
                key(Subject::Process, netns, format!("{node}:{name}"))
            }
            Exec { node, netns, n, .. } => key(Subject::Exec, netns, format!("{node}:exec.{n}")),
            ConntrackFlush { netns, subnets } => {
                let subnets: Vec<String> = subnets.iter().map(IpNet::to_string).collect();
                key(Subject::Conntrack, netns, subnets.join(" "))
            }
            NftTableAdd { netns, family, name, .. } | NftTableDel { netns, family, name } => {
                key(Subject::NftTable, netns, format!("{} {name}", family.as_str()))
            }
            NftRuleAdd { netns, family, table, chain, comment, .. }
            | NftRuleDel { netns, family, table, chain, comment } => {
                key(Subject::NftRule, netns, format!("{} {table} {chain} {comment}", family.as_str()))
            }
            LinkSetHairpin { netns, name, .. } => key(Subject::Hairpin, netns, name.clone()),
            LinkSetClass { netns, name, .. } => key(Subject::Class, netns, name.clone()),
            QdiscReplace { netns, dev, .. } | QdiscDel { netns, dev } => key(Subject::Qdisc, netns, dev.clone()),
            DropSet { netns, dev, .. } | DropDel { netns, dev } => key(Subject::Drop, netns, dev.clone()),
            RelayStart { netns, a, .. } | RelayStop { netns, a } => key(Subject::Relay, netns, a.clone()),
            RelaySet { netns, a, .. } => key(Subject::RelayImpairment, netns, a.clone()),
        }
    }

    /// What the forwarder a `forwarder_start` runs is told, writing its counters to
    /// `stats`; `None` for any other op.
    pub fn forwarder(&self, stats: Option<PathBuf>) -> Option<ForwarderConfig> {
        let Op::ForwarderStart { dev, encap, local, port, peers, .. } = self else { return None };
        Some(forwarder_config(dev, *encap, *local, *port, peers, stats))
    }
}
