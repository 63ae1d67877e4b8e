//! The teardown of a plan: what `down` applies to a lab's record, and what a failed run
//! applies to undo its own work.

use std::collections::HashSet;

use super::{Direction, Op, OpKey, Plan};
use crate::topology::Netns;

impl Plan {
    /// The plan that removes what `self` (an `up` plan) creates: inverses in reverse order,
    /// leaving out what dies anyway with a namespace, a link or a table that is being
    /// deleted. That keeps `down` short: deleting a namespace takes its devices with it.
    ///
    /// Three kinds go first, in this order, wherever they were in the plan: processes (the
    /// lab's programs and their supervisor, then forwarders and relays: they hold
    /// namespaces, and the programs use the network), sysctls (a host stops forwarding before its
    /// firewall goes, so nothing is routed unguarded meanwhile) and nftables tables (the
    /// firewall before the interfaces it names: netavark's leaks came from the other order).
    pub fn teardown(&self) -> Plan {
        let deleted_netns: HashSet<&str> = self
            .ops
            .iter()
            .filter_map(|op| if let Op::NetnsAdd { netns } = op { Some(netns.as_str()) } else { None })
            .collect();
        let dies_with_netns = |netns: &Netns| netns.name().is_some_and(|n| deleted_netns.contains(n));
        // Links outside the deleted namespaces are deleted explicitly, and with them go
        // their addresses, routes, ports and up state. A veth goes with either end, so
        // both of its ends count.
        let mut deleted_links: HashSet<(Netns, String)> = HashSet::new();
        for op in &self.ops {
            let made = op.made_links();
            if made.iter().any(|(netns, _)| !dies_with_netns(netns)) {
                deleted_links.extend(made);
            }
        }
        let on_deleted_link = |op: &Op| {
            op.on_link().is_some_and(|(netns, name)| deleted_links.contains(&(netns.clone(), name.to_string())))
        };
        let deleted_tables: HashSet<OpKey> = self
            .ops
            .iter()
            .filter(|op| matches!(op, Op::NftTableAdd { .. }) && !dies_with_netns(&op.netns()))
            .map(Op::key)
            .collect();
        let in_deleted_table = |op: &Op| {
            op.in_table().is_some_and(|(netns, family, name)| {
                let table = Op::NftTableDel { netns: netns.clone(), family, name: name.to_string() };
                deleted_tables.contains(&table.key())
            })
        };
        let mut ops = Vec::new();
        for op in self.ops.iter().rev() {
            use Op::*;
            let undo = match op {
                // What outlives the namespace it names: the name itself (and second
                // names), its /etc/netns files, and processes (a forwarder, a relay, the
                // lab's processes and their supervisor), which keep a namespace alive until
                // they are stopped.
                NetnsAdd { .. }
                | NetnsAlias { .. }
                | FileWrite { .. }
                | ForwarderStart { .. }
                | RelayStart { .. }
                | SupervisorStart
                | ProcessStart { .. } => op.inverse(),
                // A command that ran has nothing to take back.
                Exec { .. } => None,
                // Delete a veth from the end that outlives the namespaces.
                VethAdd { netns, name, peer_netns, peer_name, .. } => {
                    if !dies_with_netns(netns) {
                        Some(LinkDel { netns: netns.clone(), name: name.clone() })
                    } else if !dies_with_netns(peer_netns) {
                        Some(LinkDel { netns: peer_netns.clone(), name: peer_name.clone() })
                    } else {
                        None
                    }
                }
                // Everything else lives in its namespace, and what hangs off a link dies
                // with the link.
                SysctlSet { .. }
                | BridgeAdd { .. }
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
                | AddrDel { .. }
                | RouteAdd { .. }
                | RouteDel { .. }
                | NetnsDel { .. }
                | SysctlRestore { .. }
                | FileRemove { .. }
                | LinkDel { .. }
                | LinkSetNomaster { .. }
                | ForwarderStop { .. }
                | ConntrackFlush { .. }
                | NftTableAdd { .. }
                | NftTableDel { .. }
                | NftRuleAdd { .. }
                | NftRuleDel { .. }
                | LinkSetHairpin { .. }
                | LinkSetClass { .. }
                | SupervisorStop
                | ProcessStop { .. }
                | QdiscReplace { .. }
                | QdiscDel { .. }
                | DropSet { .. }
                | DropDel { .. }
                | RelayStop { .. }
                | RelaySet { .. } => {
                    if dies_with_netns(&op.netns()) || on_deleted_link(op) || in_deleted_table(op) {
                        None
                    } else {
                        op.inverse()
                    }
                }
            };
            ops.extend(undo);
        }
        // Stable: within each kind, the reverse order stays.
        ops.sort_by_key(goes_first);
        Plan::new(&self.lab, Direction::Down, ops)
    }
}

/// Where an op of a teardown goes: the three kinds that go first (see [`Plan::teardown`]),
/// then everything else.
fn goes_first(op: &Op) -> u8 {
    use Op::*;
    match op {
        ProcessStop { .. } | SupervisorStop | ForwarderStop { .. } | RelayStop { .. } => 0,
        SysctlRestore { .. } => 1,
        NftTableDel { .. } | NftRuleDel { .. } => 2,
        NetnsAdd { .. }
        | NetnsAlias { .. }
        | NetnsDel { .. }
        | SysctlSet { .. }
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
        | ConntrackFlush { .. }
        | NftTableAdd { .. }
        | NftRuleAdd { .. }
        | LinkSetHairpin { .. }
        | LinkSetClass { .. }
        | QdiscReplace { .. }
        | QdiscDel { .. }
        | DropSet { .. }
        | DropDel { .. }
        | RelayStart { .. }
        | RelaySet { .. }
        | SupervisorStart
        | ProcessStart { .. }
        | Exec { .. } => 3,
    }
}
