//! What carries a lab's marks, found without its record: the way down for a lab whose
//! record cannot be read or trusted (see `state::salvage`). Only what is provably the
//! lab's is named: the links in the host with its alias, the namespaces whose `lo`
//! carries it, the forwarders and relays whose pid files are in its directory (each is
//! signalled only once its identity is checked, as always), its supervisor, found the
//! same way, with every process of the lab in its PID namespace, its nftables tables in
//! the host (the alias as their comment) and drops there (tables of its name with its
//! mark), and the conntrack entries of the subnets on its nat bridges in the host (what a
//! record's `conntrack_flush` would have named). Files under /etc/netns and host sysctls
//! carry no mark: only the part of the record that could be read knows them.

use ipnet::IpNet;

use crate::firewall::groups::Class;
use crate::firewall::ruleset::{table_name, Family};
use crate::kernel::{forwarder, netns, Families, Linux};
use crate::live::Named;
use crate::plan::Op;
use crate::state::StateDir;
use crate::topology::Netns;

/// The removals of what carries lab `lab`'s marks, for `down`: the lab's processes (its
/// supervisor), forwarders and relays first, then the host's tables, drops and links, then
/// the namespaces.
pub(crate) fn removals(kernel: &mut Linux, state: &StateDir, lab: &str) -> std::io::Result<Vec<Op>> {
    let marks = crate::ownership::Marks::of(lab);
    // A relay's files are in the lab's relay namespace, a forwarder's elsewhere.
    let relays = Netns::Named(crate::topology::names::relay_netns(lab));
    let mut ops: Vec<Op> = forwarder::recorded(&state.lab_dir(lab))?
        .into_iter()
        .map(
            |(netns, dev)| {
                if netns == relays {
                    Op::RelayStop { netns, a: dev }
                } else {
                    Op::ForwarderStop { netns, dev }
                }
            },
        )
        .collect();
    if crate::process::Supervisor::find(&state.lab_dir(lab)).is_some() {
        ops.insert(0, Op::SupervisorStop);
    }

    // The lab's tables in the host, by their comment (those in its namespaces go with them;
    // without nft there are none netlab could have made).
    let name = table_name(lab);
    let tables: Vec<(Netns, Family, String)> =
        [Family::Inet, Family::Bridge].map(|f| (Netns::Host, f, name.clone())).to_vec();
    for ((netns, family, name), found) in tables.iter().zip(kernel.tables(&tables)) {
        if found.ok().flatten().is_some_and(|t| t.mark.as_deref() == Some(marks.alias.as_str())) {
            ops.push(Op::NftTableDel { netns: netns.clone(), family: *family, name: name.clone() });
        }
    }

    ops.extend(kernel.host_drops().into_iter().map(|dev| Op::DropDel { netns: Netns::Host, dev }));
    let host = kernel.dump(&[(Netns::Host, Families::BOTH)]).pop().and_then(Result::ok).unwrap_or_default();
    ops.extend(
        host.links.iter().filter(|l| marks.on(l)).map(|l| Op::LinkDel { netns: Netns::Host, name: l.name.clone() }),
    );
    // The subnets of the lab's nat bridges in the host (their group says so): their
    // conntrack entries go after the bridges, as a record's down flushes them last, so that
    // nothing the bridges sent while they went is left for the next lab on those addresses.
    let nat_bridge = marks.class_group(Class::NatBridge);
    let mut subnets: Vec<IpNet> = host
        .links
        .iter()
        .filter(|l| marks.on(l) && l.group == nat_bridge)
        .flat_map(|l| host.addrs.iter().filter(move |a| a.index == l.index && !a.kernel_made()))
        .map(|a| a.address.trunc())
        .collect();
    subnets.sort();
    subnets.dedup();
    if !subnets.is_empty() {
        ops.push(Op::ConntrackFlush { netns: Netns::Host, subnets });
    }

    // Every named namespace, by its lo's mark (a name that is no namespace's, or that
    // cannot be entered, is not known to be the lab's).
    let names: Vec<String> =
        netns::names()?.into_iter().filter(|n| matches!(netns::lookup(n), Ok(Named::Mounted(_)))).collect();
    kernel.connect(&names);
    let los: Vec<(Netns, String)> = names
        .iter()
        .map(|n| (Netns::Named(n.clone()), "lo".to_string()))
        .filter(|(n, _)| kernel.is_connected(n))
        .collect();
    for ((netns, _), lo) in los.iter().zip(kernel.link_aliases(&los)) {
        if lo.ok().flatten().is_some_and(|lo| marks.on(&lo)) {
            if let Netns::Named(name) = netns {
                ops.push(Op::NetnsDel { netns: name.clone() });
            }
        }
    }
    Ok(ops)
}
