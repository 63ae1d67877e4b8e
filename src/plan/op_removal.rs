//! Where an [`Op`] goes among removals applied together, and whether the lab's record
//! keeps it: what hangs off a thing goes before the thing.

use super::Op;
use crate::firewall::groups::Class;

impl Op {
    /// Whether the op takes something away (its record entry goes when it succeeds).
    pub fn removes(&self) -> bool {
        self.removal_rank().is_some()
    }

    /// Whether the lab's record keeps the op once it is applied: what it made or set, but
    /// not what it took away, nor a change to what a running relay does, which lives and
    /// dies with the relay (its `relay_start` is the record of it).
    pub fn recorded(&self) -> bool {
        match self {
            Op::RelaySet { .. } => false,
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
            | Op::QdiscReplace { .. }
            | Op::QdiscDel { .. }
            | Op::DropSet { .. }
            | Op::DropDel { .. }
            | Op::RelayStart { .. }
            | Op::RelayStop { .. }
            | Op::ConntrackFlush { .. }
            | Op::NftTableAdd { .. }
            | Op::NftTableDel { .. }
            | Op::NftRuleAdd { .. }
            | Op::NftRuleDel { .. }
            | Op::LinkSetHairpin { .. }
            | Op::LinkSetClass { .. } => !self.removes(),
        }
    }

    /// For an op that takes something away, its place among removals applied together:
    /// what hangs off a thing goes before the thing (a forwarder before its device, a
    /// route before the link it leaves through, a port before its bridge...). `None` for
    /// an op that adds or changes something.
    pub fn removal_rank(&self) -> Option<u8> {
        use Op::*;
        match self {
            ForwarderStop { .. } | RelayStop { .. } => Some(0),
            // The firewall before the interfaces it names (netavark's lesson: its leaks
            // came from the other order).
            NftRuleDel { .. } => Some(1),
            NftTableDel { .. } => Some(2),
            // An impairment of a link that may be deleted next.
            QdiscDel { .. } | DropDel { .. } => Some(3),
            RouteDel { .. } => Some(4),
            AddrDel { .. } => Some(5),
            LinkSetNomaster { .. } => Some(6),
            // Down, hairpin off and the plain class are states kept with the link, but
            // what `up` did they take away.
            LinkDown { .. } | LinkSetHairpin { on: false, .. } | LinkSetClass { class: Class::Plain, .. } => Some(7),
            LinkDel { .. } => Some(8),
            FileRemove { .. } => Some(9),
            SysctlRestore { .. } => Some(10),
            NetnsDel { .. } => Some(11),
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | SysctlSet { .. }
            | FileWrite { .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkSetMaster { .. }
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | LinkRename { .. }
            | LinkUp { .. }
            | AddrAdd { .. }
            | RouteAdd { .. }
            | ForwarderStart { .. }
            | ConntrackFlush { .. }
            | NftTableAdd { .. }
            | NftRuleAdd { .. }
            | LinkSetHairpin { on: true, .. }
            | LinkSetClass { class: Class::Routing | Class::NatBridge, .. }
            | QdiscReplace { .. }
            | DropSet { .. }
            | RelayStart { .. }
            | RelaySet { .. } => None,
        }
    }
}
