//! Impairments, compared as part of the third pass (`settings`) and removed in the last
//! (`unwanted`): a link's root qdisc, the nftables drop at a device, a relay and what it
//! does. A relay that runs is changed in place (`relay set`), never restarted for that:
//! a program under test keeps its connections.

use super::{Conflict, Differ};
use crate::impairment::{Distribution, Impairment, Percent};
use crate::live::LiveDrop;
use crate::plan::Op;
use crate::topology::Netns;

/// An impairment as the kernel can show it back: netem does not dump its delay
/// distribution, so it is not compared.
fn as_dumped(imp: &Impairment) -> Impairment {
    Impairment { distribution: Distribution::Uniform, ..imp.clone() }
}

/// A drop in words, as an impairment's text form.
fn drop_text(loss: Percent, carrier: bool) -> String {
    Impairment { loss, carrier, ..Impairment::default() }.to_string()
}

impl Differ<'_> {
    /// A desired root qdisc of the lab's on one of its links.
    pub(super) fn qdisc(&mut self, op: &Op, netns: &Netns, dev: &str, kind: &str, want: &Impairment) {
        let Some(l) = self.link(netns, dev) else { return self.add(op) };
        let live = self.kept(netns).and_then(|ns| ns.qdisc_of(l.index));
        match live {
            None => self.add(op),
            Some(q) if q.kind == "noqueue" => self.add(op),
            Some(q) if q.kind == kind && q.impairment.as_ref().map(as_dumped) == Some(as_dumped(want)) => {}
            Some(q) => {
                let have = q.impairment.as_ref().map_or(q.kind.clone(), |i| format!("{} {i}", q.kind));
                self.modify(op.clone(), "qdisc", format!("{kind} {want}"), have);
            }
        }
    }

    /// A desired drop at a device's ingress.
    pub(super) fn drop(&mut self, op: &Op, netns: &Netns, dev: &str, loss: Percent, carrier: bool) {
        let fresh = matches!(netns, Netns::Named(n) if self.fresh.contains(n));
        let live = self.live.drops.get(&(netns.clone(), dev.to_string())).cloned().flatten();
        match live {
            _ if fresh => self.add(op),
            None => self.add(op),
            Some(LiveDrop::Ours { loss: l, carrier: c }) if (l, c) == (loss, carrier) => {}
            Some(LiveDrop::Ours { loss: l, carrier: c }) => {
                self.modify(op.clone(), "drop", drop_text(loss, carrier), drop_text(l, c))
            }
            Some(LiveDrop::Changed(how)) => self.modify(op.clone(), "drop", drop_text(loss, carrier), how),
            Some(LiveDrop::NotOurs { table }) => {
                let lab = self.desired.lab.clone();
                self.conflicts.push(Conflict::Table { netns: netns.clone(), table, lab });
            }
        }
    }

    /// A desired relay: started, restarted (its devices made anew, or it does not answer),
    /// or told what to do.
    pub(super) fn relay(&mut self, op: &Op) {
        let Op::RelayStart { netns, a, b, a_to_b, b_to_a } = op else { return };
        let running = self.live.relays.get(&(netns.clone(), a.clone())).cloned().flatten();
        // A relay holds its two devices: made anew, they need a new relay.
        let devices_new = self.link(netns, a).is_none() || self.link(netns, b).is_none();
        let stop = Op::RelayStop { netns: netns.clone(), a: a.clone() };
        let Some(r) = running else {
            if devices_new {
                return self.add(op);
            }
            return self.modify(op.clone(), "relay", "running", "not running");
        };
        let same_b = r.running.args.windows(2).any(|w| w[0] == "--b" && w[1] == *b);
        let Some([live_ab, live_ba]) = r.impairments.filter(|_| same_b && !devices_new) else {
            self.remove(stop);
            let why = if devices_new { "its devices are made anew" } else { "not answering" };
            return self.modify(op.clone(), "relay", "running", why);
        };
        if (&live_ab, &live_ba) != (a_to_b, b_to_a) {
            let set = Op::RelaySet {
                netns: netns.clone(),
                a: a.clone(),
                a_to_b: (live_ab != *a_to_b).then(|| a_to_b.clone()),
                b_to_a: (live_ba != *b_to_a).then(|| b_to_a.clone()),
            };
            let show = |x: &Impairment, y: &Impairment| format!("a-b {x}, b-a {y}");
            self.modify(set, "impairment", show(a_to_b, b_to_a), show(&live_ab, &live_ba));
        }
    }

    /// Qdiscs of netlab's kinds on the lab's links that the file no longer wants.
    pub(super) fn unwanted_qdiscs(&mut self, netns: &Netns) {
        let Some(ns) = self.kept(netns) else { return };
        for q in ns.qdiscs.iter().filter(|q| q.impairment.is_some()) {
            let Some(l) = ns.link_by_index(q.index) else { continue };
            if !self.owns_link(l) || self.dropped.contains(&(netns.clone(), l.name.clone())) {
                continue;
            }
            let del = Op::QdiscDel { netns: netns.clone(), dev: l.name.clone() };
            if !self.wanted.contains(&del.key()) {
                self.remove(del);
            }
        }
    }

    /// A drop the record has and the file no longer wants, if it is still there.
    pub(super) fn unwanted_drop(&mut self, netns: &Netns, dev: &str) {
        let going = matches!(netns, Netns::Named(n) if self.gone.contains(n) || self.fresh.contains(n));
        let live = self.live.drops.get(&(netns.clone(), dev.to_string())).cloned().flatten();
        if !going && matches!(live, Some(LiveDrop::Ours { .. } | LiveDrop::Changed(_))) {
            self.remove(Op::DropDel { netns: netns.clone(), dev: dev.to_string() });
        }
    }

    /// A relay the record has and the file no longer wants: always stopped if it runs
    /// (it keeps its namespace alive).
    pub(super) fn unwanted_relay(&mut self, netns: &Netns, a: &str) {
        if self.live.relays.get(&(netns.clone(), a.to_string())).is_some_and(Option::is_some) {
            self.remove(Op::RelayStop { netns: netns.clone(), a: a.to_string() });
        }
    }
}
