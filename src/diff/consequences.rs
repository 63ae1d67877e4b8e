//! The last pass: what the kernel takes away by itself as a consequence of the changes
//! found, and which must be put back after them, though it is there now:
//!
//! - a link renamed in place is set down for the rename (the kernel renames only a link
//!   that is down) and up again, and a link set down loses every route through it and its
//!   IPv6 addresses (keep_addr_on_down is 0);
//! - a device that loses its last IPv4 address loses every IPv4 route through it (the
//!   address changes: the old one goes first);
//! - a bridge made with an mtu takes its smallest port's whenever a port joins or leaves,
//!   until its mtu is set again (which the kernel then keeps).
//!
//! Each is put back at the place of the plan op it comes from, so after what takes it.

use std::collections::HashSet;

use super::{Change, Differ, Field, Sign};
use crate::live::{LiveNetns, LiveRoute};
use crate::plan::{Op, OpKey};
use crate::topology::Netns;

impl Differ<'_> {
    pub(super) fn consequences(&mut self) {
        let changed: HashSet<OpKey> = self.additions.iter().map(|c| c.op.key()).collect();
        let mut again: Vec<Change> = Vec::new();
        let desired = self.desired;
        for (i, op) in desired.ops.iter().enumerate().filter(|(_, op)| !changed.contains(&op.key())) {
            let why = if let Op::RouteAdd { netns, to, via, .. } = op {
                self.route_goes(netns, to, *via)
            } else if let Op::AddrAdd { netns, dev, address, .. } = op {
                self.addr_goes(netns, dev, address)
            } else {
                None
            };
            if let Some(why) = why {
                let what = if matches!(op, Op::RouteAdd { .. }) { "route" } else { "address" };
                let field = Field { field: what.into(), desired: "there".into(), actual: why };
                again.push(Change { change: Sign::Modify, op: op.clone(), field: Some(field), plan_index: Some(i) });
            }
            let Op::BridgeAdd { netns, name, mtu: Some(mtu) } = op else { continue };
            let set = Op::LinkSetMtu { netns: netns.clone(), name: name.clone(), mtu: *mtu };
            // Not when the plan's own op sets it again anyway.
            if self.ports_change(netns, name) && !changed.contains(&set.key()) {
                let at = self.mtu_place(netns, name).unwrap_or(i);
                let actual = "its smallest port's once its ports change".to_string();
                let field = Field { field: "mtu".into(), desired: mtu.to_string(), actual };
                again.push(Change { change: Sign::Modify, op: set, field: Some(field), plan_index: Some(at) });
            }
        }
        self.additions.extend(again);
    }

    /// Why an IPv6 address that is there now goes with this run's changes, if it does:
    /// its link is renamed while up.
    fn addr_goes(&self, netns: &Netns, dev: &str, address: &ipnet::IpNet) -> Option<String> {
        let link = self.renamed.get(&(netns.clone(), dev.to_string()))?;
        (address.addr().is_ipv6() && link.up).then(|| format!("dropped when {} is renamed", self.old_name(netns, dev)))
    }

    /// Why a route that is there now goes with this run's changes, if it does.
    fn route_goes(&self, netns: &Netns, to: &ipnet::IpNet, via: Option<std::net::IpAddr>) -> Option<String> {
        let ns: &LiveNetns = self.kept(netns)?;
        let live: &LiveRoute = ns.route_to(*to).filter(|r| r.via == via)?;
        let dev = ns.link_by_index(live.oif?)?;
        if let Some(new) = self.renamed_from.get(&(netns.clone(), dev.name.clone())) {
            return dev.up.then(|| format!("dropped when {} is renamed {new}", dev.name));
        }
        let v4 = |a: &ipnet::IpNet| a.addr().is_ipv4();
        if to.addr().is_ipv4() {
            let removed: HashSet<ipnet::IpNet> = self
                .removals
                .iter()
                .filter_map(|c| {
                    let Op::AddrDel { netns: n, dev: d, address, .. } = &c.op else { return None };
                    (n == netns && *d == dev.name).then_some(*address)
                })
                .collect();
            let kept = ns.addrs_of(dev.index).any(|a| v4(&a.address) && !removed.contains(&a.address));
            if !removed.iter().any(v4) || kept {
                return None;
            }
            return Some(format!("dropped when {} loses its last IPv4 address", dev.name));
        }
        None
    }

    /// A renamed link's name before.
    fn old_name(&self, netns: &Netns, new: &str) -> String {
        self.renamed_from
            .iter()
            .find(|((n, _), to)| n == netns && to.as_str() == new)
            .map_or_else(|| new.to_string(), |((_, old), _)| old.clone())
    }

    /// Whether this run adds a port to the bridge `name`, or takes one of its ports away.
    fn ports_change(&self, netns: &Netns, name: &str) -> bool {
        let Some(bridge) = self.link(netns, name) else { return false };
        let joins = self
            .additions
            .iter()
            .any(|c| matches!(&c.op, Op::LinkSetMaster { netns: n, master, .. } if n == netns && master == name));
        let ports: HashSet<&str> = self
            .kept(netns)
            .map(|ns| ns.links.iter().filter(|l| l.master == Some(bridge.index)).map(|l| l.name.as_str()).collect())
            .unwrap_or_default();
        let leaves = self.removals.iter().any(|c| {
            let (Op::LinkDel { netns: n, name } | Op::LinkSetNomaster { netns: n, name }) = &c.op else {
                return false;
            };
            n == netns && ports.contains(name.as_str())
        });
        joins || leaves
    }

    /// Where in the plan a bridge's mtu is set again: at the plan's own op for it, or
    /// after the last of its ports joins.
    fn mtu_place(&self, netns: &Netns, name: &str) -> Option<usize> {
        let ops = &self.desired.ops;
        let own = |op: &Op| matches!(op, Op::LinkSetMtu { netns: n, name: b, .. } if n == netns && b == name);
        let port = |op: &Op| matches!(op, Op::LinkSetMaster { netns: n, master, .. } if n == netns && master == name);
        ops.iter().position(own).or_else(|| ops.iter().rposition(port))
    }
}
