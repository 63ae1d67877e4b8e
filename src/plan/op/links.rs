//! What an op does to devices and links: the kind of device it makes and the kernel
//! feature it needs (what `up` checks before it starts), the links it makes, the link it
//! hangs off (what goes with a link that is deleted or set down), and the nftables table
//! a rule is in (what goes with the table).

use super::super::{DeviceKind, Feature};
use super::Op;
use crate::firewall::ruleset::Family;
use crate::topology::Netns;

impl Op {
    /// The kind of device the op makes, if it makes one: what `up` checks the kernel for
    /// before it starts.
    pub fn device_kind(&self) -> Option<DeviceKind> {
        use Op::*;
        match self {
            BridgeAdd { .. } => Some(DeviceKind::Bridge),
            VethAdd { .. } => Some(DeviceKind::Veth),
            VxlanAdd { .. } => Some(DeviceKind::Vxlan),
            IpipAdd { .. } => Some(DeviceKind::Ipip),
            TunAdd { .. } => Some(DeviceKind::Tun),
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | NetnsDel { .. }
            | SysctlSet { .. }
            | SysctlRestore { .. }
            | FileWrite { .. }
            | FileRemove { .. }
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
            | ProcessStart { .. }
            | ProcessStop { .. }
            | Exec { .. }
            | QdiscReplace { .. }
            | QdiscDel { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | RelaySet { .. } => None,
        }
    }

    /// What the kernel must have for the op (a kind of device, of qdisc, nftables'
    /// netdev family): what `up` tries before it changes anything.
    pub fn feature(&self) -> Option<Feature> {
        use Op::*;
        match self {
            QdiscReplace { kind, .. } => Some(Feature::Qdisc(*kind)),
            DropSet { .. } => Some(Feature::NetdevDrop),
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
            | QdiscDel { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | RelaySet { .. }
            | SupervisorStart
            | SupervisorStop
            | ProcessStart { .. }
            | ProcessStop { .. }
            | Exec { .. } => self.device_kind().map(Feature::Device),
        }
    }

    /// The links this op makes, by namespace and name: both ends of a veth pair, or the
    /// one device; none when it makes no link.
    pub fn made_links(&self) -> Vec<(Netns, String)> {
        use Op::*;
        match self {
            VethAdd { netns, name, peer_netns, peer_name, .. } => {
                vec![(netns.clone(), name.clone()), (peer_netns.clone(), peer_name.clone())]
            }
            BridgeAdd { netns, name, .. }
            | VxlanAdd { netns, name, .. }
            | IpipAdd { netns, name, .. }
            | TunAdd { netns, name, .. } => vec![(netns.clone(), name.clone())],
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | NetnsDel { .. }
            | SysctlSet { .. }
            | SysctlRestore { .. }
            | FileWrite { .. }
            | FileRemove { .. }
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
            | ProcessStart { .. }
            | ProcessStop { .. }
            | Exec { .. }
            | QdiscReplace { .. }
            | QdiscDel { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | RelaySet { .. } => Vec::new(),
        }
    }

    /// The link whose deletion takes this op's effect with it: a port, an mtu, a MAC, a
    /// name, an up state, an address, a route through a device. Tearing down, an op on a
    /// link that is deleted anyway needs no undo of its own.
    pub fn on_link(&self) -> Option<(&Netns, &str)> {
        use Op::*;
        match self {
            LinkSetMaster { netns, name, .. }
            | LinkSetNomaster { netns, name }
            | LinkSetMtu { netns, name, .. }
            | LinkSetMac { netns, name, .. }
            | LinkRename { netns, new_name: name, .. }
            | LinkUp { netns, name }
            | LinkDown { netns, name }
            | AddrAdd { netns, dev: name, .. }
            | AddrDel { netns, dev: name, .. }
            | RouteAdd { netns, dev: Some(name), .. }
            | RouteDel { netns, dev: Some(name), .. }
            | QdiscReplace { netns, dev: name, .. }
            | QdiscDel { netns, dev: name }
            | LinkSetHairpin { netns, name, .. }
            | LinkSetClass { netns, name, .. } => Some((netns, name)),
            RouteAdd { dev: None, .. } | RouteDel { dev: None, .. } => None,
            // A sysctl that names a device dies with it too, but restoring it is harmless
            // (the kernel says it is gone); a forwarder, a relay or any other process must be
            // stopped; a command has run; a drop's table outlives its device (a netdev chain
            // stays when the device goes).
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
            | ForwarderStart { .. }
            | ForwarderStop { .. }
            | SupervisorStart
            | SupervisorStop
            | ProcessStart { .. }
            | ProcessStop { .. }
            | Exec { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | RelaySet { .. }
            // Flushing and tables are not about a link (a rule dies with its table).
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. } => None,
        }
    }

    /// The table a rule op acts in: deleting the table takes the rule with it.
    pub fn in_table(&self) -> Option<(&Netns, Family, &str)> {
        match self {
            Op::NftRuleAdd { netns, family, table, .. } | Op::NftRuleDel { netns, family, table, .. } => {
                Some((netns, *family, table))
            }
            Op::NetnsAdd { .. }
            | Op::NetnsAlias { .. }
            | Op::NetnsDel { .. }
            | Op::SysctlSet { .. }
            | Op::SysctlRestore { .. }
            | Op::FileWrite { .. }
            | Op::FileRemove { .. }
            | Op::BridgeAdd { .. }
            | Op::VethAdd { .. }
            | Op::VxlanAdd { .. }
            | Op::IpipAdd { .. }
            | Op::TunAdd { .. }
            | Op::LinkDel { .. }
            | Op::LinkSetMaster { .. }
            | Op::LinkSetNomaster { .. }
            | Op::LinkSetMtu { .. }
            | Op::LinkSetMac { .. }
            | Op::LinkRename { .. }
            | Op::LinkUp { .. }
            | Op::LinkDown { .. }
            | Op::AddrAdd { .. }
            | Op::AddrDel { .. }
            | Op::RouteAdd { .. }
            | Op::RouteDel { .. }
            | Op::ForwarderStart { .. }
            | Op::ForwarderStop { .. }
            | Op::ConntrackFlush { .. }
            | Op::NftTableAdd { .. }
            | Op::NftTableDel { .. }
            | Op::LinkSetHairpin { .. }
            | Op::LinkSetClass { .. }
            | Op::QdiscReplace { .. }
            | Op::QdiscDel { .. }
            | Op::DropSet { .. }
            | Op::DropDel { .. }
            | Op::RelayStart { .. }
            | Op::RelayStop { .. }
            | Op::RelaySet { .. }
            | Op::SupervisorStart
            | Op::SupervisorStop
            | Op::ProcessStart { .. }
            | Op::ProcessStop { .. }
            | Op::Exec { .. } => None,
        }
    }

    /// For a `veth_add`, the other end of the pair one of whose ends is `(netns, name)`;
    /// `None` for any other op, or a veth of other ends.
    pub fn veth_peer(&self, netns: &Netns, name: &str) -> Option<(Netns, String)> {
        let Op::VethAdd { netns: n, name: a, peer_netns, peer_name, .. } = self else { return None };
        if n == netns && a == name {
            Some((peer_netns.clone(), peer_name.clone()))
        } else if peer_netns == netns && peer_name == name {
            Some((n.clone(), a.clone()))
        } else {
            None
        }
    }
}
