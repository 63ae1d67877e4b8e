//! The plan: an ordered list of [`Op`]s, netlab's one vocabulary for kernel changes.
//!
//! `plan` prints ops, `up` applies them, `down` applies the inverses of what `up` did in
//! reverse order, and a failed run rolls back the same way. A new kind of kernel change is
//! a new `Op` variant with its inverse (here), its text and iproute2 forms (`text`, `ip`)
//! and its execution: nothing else.

mod compile;
pub mod ip;
pub mod text;

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use crate::tunnel::Encap;
pub use compile::{compile, compile_for, Capabilities};

use crate::topology::{EtcFileKind, Netns};

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
    /// `/etc/netns/<netns>/<file>`, which `ip netns exec` mounts over /etc/<file>.
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
        peers: Vec<crate::tunnel::Peer>,
    },
    ForwarderStop {
        netns: Netns,
        dev: String,
    },
}

impl Op {
    /// The namespace the op acts in, as a column of the text plan.
    pub fn netns(&self) -> Netns {
        use Op::*;
        match self {
            NetnsAdd { netns } | NetnsAlias { netns, .. } | NetnsDel { netns } => Netns::Named(netns.clone()),
            FileWrite { .. } | FileRemove { .. } => Netns::Host,
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
            | ForwarderStop { netns, .. } => netns.clone(),
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
            RouteAdd { netns, to, via, dev } => RouteAdd { netns, to, via, dev }.route_del(),
            RouteDel { netns, to, via, dev } => RouteAdd { netns, to, via, dev },
            ForwarderStart { netns, dev, .. } => ForwarderStop { netns, dev },
            NetnsDel { .. }
            | SysctlRestore { .. }
            | FileRemove { .. }
            | LinkDel { .. }
            | LinkSetNomaster { .. }
            // The mtu before is not in the op; the link's own op says what it was made with.
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | ForwarderStop { .. } => return None,
        })
    }

    /// What the op is about: two ops with one key act on the same object or setting (an
    /// op and its inverse, or two values of one setting). Diffs and records match on it.
    pub fn key(&self) -> OpKey {
        use Op::*;
        let key = |what, netns: &Netns, name: String| OpKey { what, netns: netns.clone(), name };
        match self {
            NetnsAdd { netns } | NetnsAlias { netns, .. } | NetnsDel { netns } => {
                key("netns", &Netns::Named(netns.clone()), String::new())
            }
            SysctlSet { netns, key: k, .. } | SysctlRestore { netns, key: k } => key("sysctl", netns, k.clone()),
            FileWrite { netns, file, .. } | FileRemove { netns, file } => {
                key("file", &Netns::Named(netns.clone()), file.file_name().to_string())
            }
            BridgeAdd { netns, name, .. }
            | VethAdd { netns, name, .. }
            | VxlanAdd { netns, name, .. }
            | IpipAdd { netns, name, .. }
            | TunAdd { netns, name, .. }
            | LinkDel { netns, name } => key("link", netns, name.clone()),
            LinkSetMaster { netns, name, .. } | LinkSetNomaster { netns, name } => key("master", netns, name.clone()),
            LinkSetMtu { netns, name, .. } => key("mtu", netns, name.clone()),
            LinkSetMac { netns, name, .. } => key("mac", netns, name.clone()),
            LinkRename { netns, new_name, .. } => key("rename", netns, new_name.clone()),
            LinkUp { netns, name } | LinkDown { netns, name } => key("up", netns, name.clone()),
            AddrAdd { netns, dev, address, .. } | AddrDel { netns, dev, address, .. } => {
                key("addr", netns, format!("{dev} {address}"))
            }
            RouteAdd { netns, to, .. } | RouteDel { netns, to, .. } => key("route", netns, to.to_string()),
            ForwarderStart { netns, dev, .. } | ForwarderStop { netns, dev } => key("forwarder", netns, dev.clone()),
        }
    }

    /// The links this op makes, by namespace and name: both ends of a veth pair, or the
    /// one device; none when it makes no link.
    pub fn made_links(&self) -> Vec<(Netns, String)> {
        match self {
            Op::VethAdd { netns, name, peer_netns, peer_name, .. } => {
                vec![(netns.clone(), name.clone()), (peer_netns.clone(), peer_name.clone())]
            }
            Op::BridgeAdd { netns, name, .. }
            | Op::VxlanAdd { netns, name, .. }
            | Op::IpipAdd { netns, name, .. }
            | Op::TunAdd { netns, name, .. } => vec![(netns.clone(), name.clone())],
            _ => Vec::new(),
        }
    }

    /// Whether the op takes something away (its record entry goes when it succeeds).
    pub fn removes(&self) -> bool {
        matches!(
            self,
            Op::NetnsDel { .. }
                | Op::SysctlRestore { .. }
                | Op::FileRemove { .. }
                | Op::LinkDel { .. }
                | Op::LinkSetNomaster { .. }
                | Op::LinkDown { .. }
                | Op::AddrDel { .. }
                | Op::RouteDel { .. }
                | Op::ForwarderStop { .. }
        )
    }

    fn route_del(self) -> Op {
        match self {
            Op::RouteAdd { netns, to, via, dev } => Op::RouteDel { netns, to, via, dev },
            other => other,
        }
    }
}

/// The identity of what an op acts on; see [`Op::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpKey {
    pub what: &'static str,
    pub netns: Netns,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

/// An ordered list of ops for one lab.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Version of the JSON shape; bumped on incompatible changes.
    pub version: u32,
    pub lab: String,
    pub direction: Direction,
    /// Choices made for this machine (such as userspace ipip), as sentences.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
    pub ops: Vec<Op>,
}

pub const PLAN_FORMAT_VERSION: u32 = 1;

impl Plan {
    pub fn new(lab: &str, direction: Direction, ops: Vec<Op>) -> Plan {
        Plan { version: PLAN_FORMAT_VERSION, lab: lab.to_string(), direction, notes: Vec::new(), ops }
    }

    /// The plan that removes what `self` (an `up` plan) creates: inverses in reverse order,
    /// leaving out what dies anyway with a namespace or a link that is being deleted.
    /// That keeps `down` short: deleting a namespace takes its devices with it.
    pub fn teardown(&self) -> Plan {
        let deleted_netns: HashSet<&str> = self
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::NetnsAdd { netns } => Some(netns.as_str()),
                _ => None,
            })
            .collect();
        let dies_with_netns = |netns: &Netns| netns.name().is_some_and(|n| deleted_netns.contains(n));
        // Links outside the deleted namespaces are deleted explicitly, and with them go
        // their addresses, routes, ports and up state. A veth goes with either end, so
        // both of its ends count.
        let mut deleted_links: HashSet<(&Netns, &str)> = HashSet::new();
        for op in &self.ops {
            match op {
                Op::VethAdd { netns, name, peer_netns, peer_name, .. }
                    if !(dies_with_netns(netns) && dies_with_netns(peer_netns)) =>
                {
                    deleted_links.insert((netns, name));
                    deleted_links.insert((peer_netns, peer_name));
                }
                Op::BridgeAdd { netns, name, .. }
                | Op::VxlanAdd { netns, name, .. }
                | Op::IpipAdd { netns, name, .. }
                | Op::TunAdd { netns, name, .. }
                    if !dies_with_netns(netns) =>
                {
                    deleted_links.insert((netns, name));
                }
                _ => {}
            }
        }
        let on_deleted_link = |netns: &Netns, name: &str| deleted_links.contains(&(netns, name));
        let mut ops = Vec::new();
        for op in self.ops.iter().rev() {
            let undo = match op {
                Op::NetnsAdd { .. } | Op::NetnsAlias { .. } | Op::FileWrite { .. } => op.inverse(),
                // A forwarder is a process: it must be stopped even in a dying namespace.
                Op::ForwarderStart { .. } => op.inverse(),
                // Delete a veth from the end that outlives the namespaces.
                Op::VethAdd { netns, name, peer_netns, peer_name, .. } => {
                    if !dies_with_netns(netns) {
                        Some(Op::LinkDel { netns: netns.clone(), name: name.clone() })
                    } else if !dies_with_netns(peer_netns) {
                        Some(Op::LinkDel { netns: peer_netns.clone(), name: peer_name.clone() })
                    } else {
                        None
                    }
                }
                _ if dies_with_netns(&op.netns()) => None,
                Op::LinkSetMaster { netns, name, .. }
                | Op::LinkUp { netns, name }
                | Op::AddrAdd { netns, dev: name, .. }
                    if on_deleted_link(netns, name) =>
                {
                    None
                }
                Op::RouteAdd { netns, dev: Some(dev), .. } if on_deleted_link(netns, dev) => None,
                _ => op.inverse(),
            };
            ops.extend(undo);
        }
        Plan::new(&self.lab, Direction::Down, ops)
    }
}
