//! The teardown of a plan: what `down` applies to a lab's record, and what a failed run
//! applies to undo its own work.

use std::collections::HashSet;

use super::{Direction, Op, Plan};
use crate::topology::Netns;

impl Plan {
    /// The plan that removes what `self` (an `up` plan) creates: inverses in reverse order,
    /// leaving out what dies anyway with a namespace or a link that is being deleted.
    /// That keeps `down` short: deleting a namespace takes its devices with it.
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
                | SupervisorStop
                | ProcessStop { .. }
                | QdiscReplace { .. }
                | QdiscDel { .. }
                | DropSet { .. }
                | DropDel { .. }
                | RelayStop { .. }
                | RelaySet { .. } => {
                    if dies_with_netns(&op.netns()) || on_deleted_link(op) {
                        None
                    } else {
                        op.inverse()
                    }
                }
            };
            ops.extend(undo);
        }
        Plan::new(&self.lab, Direction::Down, ops)
    }
}
