//! What `link` and `impair` share: a link of a lab that is up, found by one of its ends in
//! the lab's record, with every device it runs through and, when it is impaired in
//! userspace, its relay; and what its ends' impairments are now.

use crate::impair::kernel;
use crate::impairment::{Impairment, Percent};
use crate::kernel::Linux;
use crate::plan::Op;
use crate::state::Record;
use crate::topology::Netns;
use crate::Result;

/// A link of the lab's, by one of its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// The end named on the command line, then the other: the devices frames leave
    /// from in each direction (in userspace, the nodes' ends, not the relay's).
    pub ends: [(Netns, String); 2],
    /// Every device the link runs through: its two ends, and in userspace the relay's two.
    pub devices: Vec<(Netns, String)>,
    /// In userspace, the relay that carries it.
    pub relay: Option<Relay>,
}

/// The relay of a userspace link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relay {
    pub netns: Netns,
    /// The relay's `a` device (its name), and whether frames leaving `ends[0]` go from
    /// `a` to `b` (else from `b` to `a`).
    pub a: String,
    pub first_is_a: bool,
}

impl Relay {
    /// The op that sets what frames leaving end `i` of the link meet (`None`: as now).
    pub fn set(&self, imps: [Option<Impairment>; 2]) -> Op {
        let [first, second] = imps;
        let (a_to_b, b_to_a) = if self.first_is_a { (first, second) } else { (second, first) };
        Op::RelaySet { netns: self.netns.clone(), a: self.a.clone(), a_to_b, b_to_a }
    }
}

/// The veth pair that has `name` in `netns`, by the record: (this end, its peer).
fn pair(record: &Record, netns: &Netns, name: &str) -> Option<[(Netns, String); 2]> {
    let peer = record.entries.iter().find_map(|e| e.op.veth_peer(netns, name))?;
    Some([(netns.clone(), name.to_string()), peer])
}

/// The link whose end is `name` in `netns`, or `None` when the lab made no veth of that
/// name there.
pub(crate) fn find(record: &Record, netns: &Netns, name: &str) -> Option<Link> {
    let [end, peer] = pair(record, netns, name)?;
    // A peer that is a relay's end: the link goes on through the relay's other end.
    let relay = record.entries.iter().find_map(|e| {
        let Op::RelayStart { netns: w, a, b, .. } = &e.op else { return None };
        (*w == peer.0 && (*a == peer.1 || *b == peer.1)).then(|| (w.clone(), a.clone(), b.clone()))
    });
    let Some((w, a, b)) = relay else {
        return Some(Link { devices: vec![end.clone(), peer.clone()], ends: [end, peer], relay: None });
    };
    let first_is_a = peer.1 == a;
    let other_relay_end = if first_is_a { b } else { a.clone() };
    let [relay_end, far] = pair(record, &w, &other_relay_end)?;
    Some(Link {
        devices: vec![end.clone(), peer, relay_end, far.clone()],
        ends: [end, far],
        relay: Some(Relay { netns: w, a, first_is_a }),
    })
}

/// What frames leaving each end of a link meet now, and (in the kernel) which of netlab's
/// qdiscs and drops make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Now {
    pub imps: [Impairment; 2],
    /// Each end's root qdisc, when it is of netlab's kinds: what it does.
    pub qdisc: [Option<(String, Impairment)>; 2],
    /// The lab's drop at each end (of the frames the other end sends), if it has one
    /// (`None` inside: it is there, but what it does is not known).
    pub drop: [Option<Option<(Percent, bool)>>; 2],
}

impl Now {
    /// Nothing known: a relay's link, whose relay is told what to do whatever it did.
    pub fn unknown() -> Now {
        Now { imps: Default::default(), qdisc: [None, None], drop: [None, None] }
    }
}

impl Link {
    /// The ops that make frames leaving end `i` meet `new[i]` (`None`: as now), from what
    /// is `now`: a relay told, or each end's qdisc and the drop at its peer replaced,
    /// made or deleted (the kernel's smallest machinery, see `impair::kernel`).
    pub fn set(&self, now: &Now, new: [Option<Impairment>; 2]) -> Vec<Op> {
        if let Some(r) = &self.relay {
            return vec![r.set(new)];
        }
        let (mut qdiscs, mut drops) = (Vec::new(), Vec::new());
        for (i, imp) in new.iter().enumerate() {
            let Some(imp) = imp else { continue };
            let ((netns, dev), (peer_netns, peer)) = (self.ends[i].clone(), self.ends[1 - i].clone());
            let parts = kernel::parts(imp);
            // What is already so is left alone (a cut link keeps its qdiscs).
            match parts.qdisc {
                Some((kind, impairment)) => {
                    let same = now.qdisc[i].as_ref().is_some_and(|(k, live)| {
                        k == kind.name()
                            && *live == Impairment { distribution: Default::default(), ..impairment.clone() }
                    });
                    if !same {
                        qdiscs.push(Op::QdiscReplace { netns, dev, kind, impairment });
                    }
                }
                None if now.qdisc[i].is_some() => qdiscs.push(Op::QdiscDel { netns, dev }),
                None => {}
            }
            match parts.drop {
                Some(drop) if now.drop[1 - i] == Some(Some(drop)) => {}
                Some((loss, carrier)) => drops.push(Op::DropSet { netns: peer_netns, dev: peer, loss, carrier }),
                None if now.drop[1 - i].is_some() => drops.push(Op::DropDel { netns: peer_netns, dev: peer }),
                None => {}
            }
        }
        qdiscs.extend(drops);
        qdiscs
    }
}

/// What frames leaving each end of the link meet now: the relay's, or the kernel's (each
/// end's root qdisc as the kernel shows it, and the drop at its peer as the record has
/// it: reading nftables back costs an `nft` run per namespace, and only netlab makes the
/// lab's drops; `diff` reads them).
pub(crate) fn now(kernel: &mut Linux, record: &Record, link: &Link) -> Result<Now> {
    let [(n0, d0), (n1, d1)] = &link.ends;
    let looks = match &link.relay {
        Some(r) => vec![Op::RelayStop { netns: r.netns.clone(), a: r.a.clone() }],
        None => vec![
            Op::QdiscDel { netns: n0.clone(), dev: d0.clone() },
            Op::QdiscDel { netns: n1.clone(), dev: d1.clone() },
        ],
    };
    // Each namespace is read whole: its links, and the qdiscs on them.
    let mut looks = looks;
    for (netns, _) in &link.devices {
        if let Some(n) = netns.name() {
            looks.push(Op::NetnsAdd { netns: n.to_string() });
        }
    }
    let looks: Vec<&Op> = looks.iter().collect();
    let live = kernel.observe_lab(&looks, crate::kernel::Scope::All).map_err(crate::error::Refusal::Observe)?;
    if let Some(r) = &link.relay {
        let running = live.relays.get(&(r.netns.clone(), r.a.clone())).cloned().flatten();
        let Some([ab, ba]) = running.and_then(|r| r.impairments) else {
            return Err(crate::Error::Usage(
                "the relay of this link is not running or not answering (netlab diff says which; netlab up restarts it)"
                    .into(),
            ));
        };
        let imps = if r.first_is_a { [ab, ba] } else { [ba, ab] };
        return Ok(Now { imps, ..Now::unknown() });
    }
    let qdisc = |netns: &Netns, dev: &str| {
        let q = live.netns(netns).and_then(|ns| ns.qdisc_of(ns.link(dev)?.index))?;
        Some((q.kind.clone(), q.impairment.clone()?))
    };
    // The lab's drop at an end, as last recorded.
    let drop = |(netns, dev): &(Netns, String)| {
        record.entries.iter().rev().filter(|e| !e.pending).find_map(|e| {
            let Op::DropSet { netns: n, dev: d, loss, carrier } = &e.op else { return None };
            (n == netns && d == dev).then_some(Some((*loss, *carrier)))
        })
    };
    let qdisc = [qdisc(n0, d0), qdisc(n1, d1)];
    let drop = [drop(&link.ends[0]), drop(&link.ends[1])];
    // Frames leaving end i meet its qdisc and the drop at the other end.
    let imp = |i: usize| kernel::combine(qdisc[i].as_ref().map(|(_, imp)| imp), drop[1 - i].flatten());
    Ok(Now { imps: [imp(0), imp(1)], qdisc, drop })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Entry, StateDir};

    fn veth(a: (&str, &str), b: (&str, &str)) -> Op {
        let ns = |n: &str| if n == "host" { Netns::Host } else { Netns::Named(n.into()) };
        Op::VethAdd {
            netns: ns(a.0),
            name: a.1.into(),
            mac: None,
            peer_netns: ns(b.0),
            peer_name: b.1.into(),
            peer_mac: None,
            mtu: None,
        }
    }

    #[test]
    fn a_link_is_found_by_either_end_and_through_its_relay() {
        let mut record = StateDir::new("/nonexistent").new_record("x");
        let w = Netns::Named("netlab-x-relay".into());
        let none = Impairment::default();
        record.entries = [
            veth(("x-a", "e0"), ("netlab-x-relay", "ra")),
            veth(("x-b", "e0"), ("netlab-x-relay", "rb")),
            veth(("x-a", "e1"), ("x-b", "e1")),
            Op::RelayStart { netns: w.clone(), a: "ra".into(), b: "rb".into(), a_to_b: none.clone(), b_to_a: none },
        ]
        .into_iter()
        .map(Entry::pending)
        .collect();
        let a = |n: &str| (Netns::Named("x-a".into()), n.to_string());
        let b = |n: &str| (Netns::Named("x-b".into()), n.to_string());
        let plain = find(&record, &Netns::Named("x-b".into()), "e1").unwrap();
        assert_eq!((plain.ends, plain.relay), ([b("e1"), a("e1")], None));
        let through = find(&record, &Netns::Named("x-b".into()), "e0").unwrap();
        assert_eq!(through.ends, [b("e0"), a("e0")]);
        assert_eq!(
            through.devices,
            [b("e0"), (w.clone(), "rb".into()), (w.clone(), "ra".into()), a("e0")],
            "both veth pairs"
        );
        let relay = through.relay.unwrap();
        assert!(!relay.first_is_a, "frames from b's end go from rb to ra");
        let d: Impairment = "delay=5ms".parse().unwrap();
        assert_eq!(
            relay.set([Some(d.clone()), None]),
            Op::RelaySet { netns: w, a: "ra".into(), a_to_b: None, b_to_a: Some(d) }
        );
        assert_eq!(find(&record, &Netns::Named("x-a".into()), "lo"), None);
    }
}
