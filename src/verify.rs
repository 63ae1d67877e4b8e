//! After `up` has applied its ops: read back what the run touched and compare it with the
//! file again, as nmstate verifies every apply. The kernel accepts an op and then changes
//! things by itself: it lowers a bridge's mtu to its smallest port's when a port joins,
//! drops the routes through a link that goes down (a rename takes it down) or through a
//! gateway whose address went, sets every device's `forwarding` when `ip_forward` is
//! written... An op that succeeded is not proof that its effect is there.
//!
//! Reading back costs little because it reads only the namespaces the run touched, over
//! the connections the run already holds, and compares in memory: the part of the lab
//! the run did not touch is taken as it was read before the run (nothing in it was
//! changed, so nothing in it can have been undone by the kernel).
//!
//! What is checked is the lab as its file says it, in those namespaces: what the run
//! added or fixed is there, what it removed there is gone. A namespace, a forwarder or a
//! file the run removed is not looked for again: the kernel does not bring them back.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

use std::collections::{HashMap, HashSet};

use crate::diff::{diff, Diff};
use crate::kernel::{Families, Kernel, OpError, Scope};
use crate::live::LiveLab;
use crate::plan::{Op, Plan};
use crate::sharing::HostShares;
use crate::state::Record;
use crate::topology::Netns;

/// The namespaces a run's ops touched: where each acts (a namespace made, named or
/// removed; a file's namespace; a link's, and the other end's of a veth pair it belongs
/// to, which a deletion takes too), and the other ends of the veth pairs of a namespace
/// removed. `known` are the ops (of the plan, and of the record before the run) that say
/// which links are pairs.
pub fn touched(run: &[Op], known: &[&Op]) -> HashSet<Netns> {
    // Each end of each veth pair, and the namespaces of the pair's two ends.
    let mut pairs: HashMap<(Netns, String), Vec<Netns>> = HashMap::new();
    let mut ends_in: HashMap<Netns, Vec<Netns>> = HashMap::new();
    for links in known.iter().copied().chain(run).map(Op::made_links).filter(|links| links.len() == 2) {
        let both: Vec<Netns> = links.iter().map(|(n, _)| n.clone()).collect();
        for (netns, name) in links {
            ends_in.entry(netns.clone()).or_default().extend(both.iter().cloned());
            pairs.insert((netns, name), both.clone());
        }
    }
    let mut out = HashSet::new();
    for op in run {
        use Op::*;
        match op {
            NetnsAdd { netns } | NetnsAlias { netns, .. } => {
                out.insert(Netns::Named(netns.clone()));
            }
            NetnsDel { netns } => {
                let gone = Netns::Named(netns.clone());
                out.extend(ends_in.get(&gone).into_iter().flatten().cloned());
                out.insert(gone);
            }
            FileWrite { netns, .. } | FileRemove { netns, .. } => {
                out.insert(Netns::Named(netns.clone()));
            }
            SysctlSet { netns, .. }
            | SysctlRestore { netns, .. }
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
            | ConntrackFlush { netns, .. }
            | NftTableAdd { netns, .. }
            | NftTableDel { netns, .. }
            | NftRuleAdd { netns, .. }
            | NftRuleDel { netns, .. } => {
                out.insert(netns.clone());
            }
            BridgeAdd { netns, name, .. }
            | VethAdd { netns, name, .. }
            | VxlanAdd { netns, name, .. }
            | IpipAdd { netns, name, .. }
            | TunAdd { netns, name, .. }
            | LinkDel { netns, name }
            | LinkSetMaster { netns, name, .. }
            | LinkSetNomaster { netns, name }
            | LinkSetMtu { netns, name, .. }
            | LinkSetMac { netns, name, .. }
            | LinkUp { netns, name }
            | LinkDown { netns, name }
            | LinkSetHairpin { netns, name, .. }
            | LinkSetClass { netns, name, .. }
            | LinkRename { netns, new_name: name, .. } => {
                out.insert(netns.clone());
                out.extend(pairs.get(&(netns.clone(), name.clone())).into_iter().flatten().cloned());
            }
            // The lab's programs change no namespace's network state; they are read back
            // whole at every look.
            SupervisorStart | SupervisorStop | ProcessStart { .. } | ProcessStop { .. } | Exec { .. } => {}
        }
    }
    out
}

/// Reads back the namespaces `run` touched (see [`touched`]) into `before` (the lab as
/// read before the run), and compares the result with `plan`, for the lab whose record
/// (settled after the run) is `record`, while other labs share the host sysctls `shares`.
/// `previous` is the record's ops before the run.
/// In sync: the kernel holds what the run applied.
pub fn read_back<K: Kernel>(
    kernel: &mut K,
    plan: &Plan,
    record: &Record,
    previous: &[Op],
    mut before: LiveLab,
    run: &[Op],
    shares: &HostShares,
) -> Result<Diff, OpError> {
    let known: Vec<&Op> = plan.ops.iter().chain(previous).collect();
    let touched = touched(run, &known);
    let lab_families = families(&known);
    let scope: HashMap<Netns, Families> = touched
        .iter()
        .map(|netns| {
            let lab = lab_families.get(netns).copied().unwrap_or_default();
            (netns.clone(), lab.with(foreign_families(before.netns(netns))))
        })
        .collect();
    // The record, settled after the run, is the plan: the plan's ops say what to look at.
    let looked: Vec<&Op> = plan.ops.iter().collect();
    let t = std::time::Instant::now();
    let now = kernel.observe(&looked, Scope::Only(&scope))?;
    crate::timing::timing("read back", scope.len(), t);
    before.update(now, &touched);
    let t = std::time::Instant::now();
    let left = diff(plan, Some(record), &before, shares);
    crate::timing::timing("read back diff", plan.ops.len(), t);
    Ok(left)
}

/// The address families of the lab's addresses and routes (in the file, or made before)
/// in each namespace. With those of the addresses and routes the kernel did not make
/// itself (which the lab may have to remove, see [`foreign_families`]), they are what the
/// comparison can find wrong in a namespace; the rest are the kernel's own (link-local
/// IPv6, connected routes), never compared: a lab without IPv6 has none of it read back.
fn families(known: &[&Op]) -> HashMap<Netns, Families> {
    let mut out: HashMap<Netns, Families> = HashMap::new();
    for op in known {
        let found = if let Op::AddrAdd { netns, address, .. } = op {
            Some((netns, address.addr()))
        } else if let Op::RouteAdd { netns, to, .. } = op {
            Some((netns, to.addr()))
        } else {
            None
        };
        if let Some((netns, addr)) = found {
            let slot = out.entry(netns.clone()).or_default();
            *slot = slot.with(Families::of(addr));
        }
    }
    out
}

/// The families of the addresses and routes in a namespace, as read before the run, that
/// the kernel did not make itself.
fn foreign_families(live: Option<&crate::live::LiveNetns>) -> Families {
    let Some(live) = live else { return Families::default() };
    let addrs = live.addrs.iter().filter(|a| !a.kernel_made()).map(|a| a.address.addr());
    let routes = live.routes.iter().filter(|r| !r.kernel_made()).map(|r| r.dst.addr());
    addrs.chain(routes).fold(Families::default(), |f, addr| f.with(Families::of(addr)))
}

#[cfg(test)]
mod tests;
