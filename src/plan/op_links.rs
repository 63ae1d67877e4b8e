//! What an [`Op`] makes and what it hangs off: the links it makes, the link it acts on and
//! the table a rule is in (what `down` can leave to the deletion of that link or table,
//! and what the diff decides about with it).

use super::Op;
use crate::firewall::ruleset::Family;
use crate::topology::Netns;

impl Op {
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
            | Op::RelaySet { .. } => None,
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
            | LinkSetHairpin { netns, name, .. }
            | LinkSetClass { netns, name, .. }
            | QdiscReplace { netns, dev: name, .. }
            | QdiscDel { netns, dev: name } => Some((netns, name)),
            RouteAdd { dev: None, .. } | RouteDel { dev: None, .. } => None,
            // A sysctl that names a device dies with it too, but restoring it is harmless
            // (the kernel says it is gone); a forwarder or a relay is a process and must be
            // stopped; a drop's table outlives its device (a netdev chain stays when the
            // device goes).
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
            // Flushing and tables are not about a link (a rule dies with its table).
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftTableDel { .. }
            | NftRuleAdd { .. }
            | NftRuleDel { .. }
            | DropSet { .. }
            | DropDel { .. }
            | RelayStart { .. }
            | RelayStop { .. }
            | RelaySet { .. } => None,
        }
    }
}
