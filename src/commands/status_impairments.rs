//! The impairments in force in a lab, for `status`: each direction of each impaired link,
//! what it does now (the relay's, asked over its control socket; or the kernel's, its
//! qdisc and drop as read back), and a relay's counters.

use serde::Serialize;

use super::impair::name_of;
use crate::impair::kernel;
use crate::impair::Tally;
use crate::kernel::forwarder;
use crate::live::{LiveDrop, LiveLab};
use crate::plan::Op;
use crate::state::{Record, StateDir};
use crate::topology::Netns;

/// One direction of an impaired link.
#[derive(Debug, Serialize)]
pub(super) struct Impaired {
    /// The end the frames leave from, and the one they go to (NODE:IF).
    pub from: String,
    pub to: String,
    /// `userspace` (a relay) or `kernel` (qdiscs and nftables).
    pub engine: &'static str,
    /// What the frames meet, in the text form (`none` for a relay's direction that is
    /// not impaired now).
    pub impairment: String,
    /// The relay's process.
    pub pid: Option<u32>,
    /// What the relay did to this direction's frames so far.
    pub counters: Option<Tally>,
}

/// The veth end paired with `(netns, name)` in the record.
fn peer_of(record: &Record, netns: &Netns, name: &str) -> Option<(Netns, String)> {
    record.entries.iter().find_map(|e| e.op.veth_peer(netns, name))
}

/// Every impaired direction of the lab's links, relays first, in record order.
pub(super) fn read(state: &StateDir, record: &Record, live: &LiveLab) -> Vec<Impaired> {
    let mut out = Vec::new();
    let dir = state.lab_dir(&record.lab);
    for e in &record.entries {
        let Op::RelayStart { netns, a, b, .. } = &e.op else { continue };
        let (Some(from_a), Some(from_b)) = (peer_of(record, netns, a), peer_of(record, netns, b)) else { continue };
        let running = live.relays.get(&(netns.clone(), a.clone())).cloned().flatten();
        let stats = forwarder::relay_stats(&dir, netns, a);
        let imps = running.as_ref().and_then(|r| r.impairments.clone());
        for (d, (from, to)) in [(&from_a, &from_b), (&from_b, &from_a)].into_iter().enumerate() {
            let impairment = match &imps {
                Some(imps) => imps[d].to_string(),
                None => "unknown (the relay is not running or not answering)".to_string(),
            };
            let counters =
                stats.as_ref().filter(|_| running.is_some()).map(
                    |s| {
                        if d == 0 {
                            s.a_to_b.tally
                        } else {
                            s.b_to_a.tally
                        }
                    },
                );
            out.push(Impaired {
                from: name_of(record, from),
                to: name_of(record, to),
                engine: "userspace",
                impairment,
                pid: running.as_ref().map(|r| r.running.pid),
                counters,
            });
        }
    }
    // The kernel's: each veth with a qdisc of netlab's on an end, or a drop at one.
    let mut seen: Vec<(Netns, String)> = Vec::new();
    for e in &record.entries {
        let (Op::QdiscReplace { netns, dev, .. } | Op::DropSet { netns, dev, .. }) = &e.op else { continue };
        let Some(peer) = peer_of(record, netns, dev) else { continue };
        let end = (netns.clone(), dev.clone());
        if seen.contains(&end) || seen.contains(&peer) {
            continue;
        }
        seen.push(end.clone());
        for (from, to) in [(&end, &peer), (&peer, &end)] {
            let qdisc = live
                .netns(&from.0)
                .and_then(|ns| ns.qdisc_of(ns.link(&from.1)?.index))
                .and_then(|q| q.impairment.clone());
            let drop = match live.drops.get(to).cloned().flatten() {
                Some(LiveDrop::Ours { loss, carrier }) => Some((loss, carrier)),
                Some(LiveDrop::Changed(_) | LiveDrop::NotOurs { .. }) | None => None,
            };
            let imp = kernel::combine(qdisc.as_ref(), drop);
            if imp.is_none() {
                continue;
            }
            let (from, to) = (name_of(record, from), name_of(record, to));
            out.push(Impaired { from, to, engine: "kernel", impairment: imp.to_string(), pid: None, counters: None });
        }
    }
    out
}

/// The impairments as lines of `status`.
pub(super) fn text(list: &[Impaired]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        return out;
    }
    out.push_str("impairments (frames from -> to):\n");
    let from_w = list.iter().map(|i| i.from.len() + i.to.len() + 4).max().unwrap_or(0);
    for i in list {
        let ends = format!("{} -> {}", i.from, i.to);
        let how = match (i.pid, &i.counters) {
            (Some(pid), Some(c)) => {
                let mut s = format!("relay (pid {pid}): {} frames in, {} out", c.received, c.sent);
                for (n, what) in [
                    (c.lost, "lost"),
                    (c.duplicated, "duplicated"),
                    (c.corrupted, "corrupted"),
                    (c.reordered, "reordered"),
                    (c.no_carrier, "dropped with no carrier"),
                    (c.over_limit, "over the limit"),
                    (c.waiting, "waiting"),
                ] {
                    if n > 0 {
                        s.push_str(&format!(", {n} {what}"));
                    }
                }
                s
            }
            (Some(pid), None) => format!("relay (pid {pid})"),
            (None, _) if i.engine == "userspace" => "relay NOT RUNNING (netlab up restarts it)".to_string(),
            (None, _) => "kernel".to_string(),
        };
        out.push_str(&format!("  {ends:<from_w$}  {}  {how}\n", i.impairment));
    }
    out
}
