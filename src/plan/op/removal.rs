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
            | Op::SupervisorStart
            | Op::SupervisorStop
            | Op::ProcessStart { .. }
            | Op::ProcessStop { .. }
            | Op::ConntrackFlush { .. }
            | Op::NftTableAdd { .. }
            | Op::NftTableDel { .. }
            | Op::NftRuleAdd { .. }
            | Op::NftRuleDel { .. }
            | Op::LinkSetHairpin { .. }
            | Op::LinkSetClass { .. }
            // Kept, though never undone: `logs` finds a node's commands by it.
            | Op::Exec { .. } => !self.removes(),
        }
    }

    /// For an op that takes something away, its place among removals applied together:
    /// what hangs off a thing goes before the thing (the lab's processes before the
    /// network they use, a forwarder before its device, a route before the link it leaves
    /// through, a port before its bridge...). `None` for an op that adds or changes
    /// something.
    pub fn removal_rank(&self) -> Option<u8> {
        use Op::*;
        match self {
            ProcessStop { .. } => Some(0),
            SupervisorStop => Some(1),
            ForwarderStop { .. } | RelayStop { .. } => Some(2),
            // The firewall before the interfaces it names (netavark's lesson: its leaks
            // came from the other order).
            NftRuleDel { .. } => Some(3),
            NftTableDel { .. } => Some(4),
            // An impairment of a link that may be deleted next.
            QdiscDel { .. } | DropDel { .. } => Some(5),
            RouteDel { .. } => Some(6),
            AddrDel { .. } => Some(7),
            LinkSetNomaster { .. } => Some(8),
            // Down, hairpin off and the plain class are states kept with the link, but
            // what `up` did they take away.
            LinkDown { .. } | LinkSetHairpin { on: false, .. } | LinkSetClass { class: Class::Plain, .. } => Some(9),
            LinkDel { .. } => Some(10),
            FileRemove { .. } => Some(11),
            SysctlRestore { .. } => Some(12),
            NetnsDel { .. } => Some(13),
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
            | SupervisorStart
            | ProcessStart { .. }
            | Exec { .. }
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
