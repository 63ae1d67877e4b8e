//! How the kernel engine makes what one end of a link asks: the smallest kernel machinery
//! that does it, so that a plan is the same on every kernel that can run it.
//!
//! - a root qdisc on the end: **netem** for what only netem does (delay, jitter,
//!   duplicate, corrupt, reorder; the end's rate, limit and loss then go into the same
//!   netem, as containerlab and mininet do), else **tbf** for a rate alone;
//! - an **nftables drop** at the peer's ingress (a netdev table, see [`super::nft`]) for
//!   a loss netem does not carry, and for `carrier = false`: every frame the end sends is
//!   dropped as the peer receives it, and both ends stay up. A pulled cable is always a
//!   drop, never netem's 100% loss, so cutting a link and restoring it never touches
//!   the qdisc, and the loss it had comes back.
//!
//! Lost frames are dropped after tbf's queue, not before it as netem drops them: on the
//! wire they took their share of the rate, as on a lossy line.
//!
//! `seed` is never the kernel's: its random draws do not give a frame the same fate on
//! every run (see [`super::fate`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Impairment, Percent};

/// The qdiscs netlab makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QdiscKind {
    Netem,
    Tbf,
}

impl QdiscKind {
    pub fn name(self) -> &'static str {
        match self {
            QdiscKind::Netem => "netem",
            QdiscKind::Tbf => "tbf",
        }
    }

    /// The kernel build option that provides it.
    pub fn config_option(self) -> &'static str {
        match self {
            QdiscKind::Netem => "CONFIG_NET_SCH_NETEM",
            QdiscKind::Tbf => "CONFIG_NET_SCH_TBF",
        }
    }
}

impl fmt::Display for QdiscKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the kernel is asked for one end's impairment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    /// The end's root qdisc, with what it carries of the impairment.
    pub qdisc: Option<(QdiscKind, Impairment)>,
    /// A drop at the peer's ingress: (loss, carrier).
    pub drop: Option<(Percent, bool)>,
}

/// The parts of netem's own (beyond a rate, a loss and a pulled cable), by key: what
/// makes an end need netem.
pub fn netem_only(imp: &Impairment) -> Vec<&'static str> {
    let checks = [
        ("delay", !imp.delay.is_zero()),
        ("jitter", !imp.jitter.is_zero()),
        ("duplicate", !imp.duplicate.is_zero()),
        ("corrupt", !imp.corrupt.is_zero()),
        ("reorder", !imp.reorder.is_zero()),
    ];
    checks.into_iter().filter(|(_, set)| *set).map(|(key, _)| key).collect()
}

/// Splits an end's impairment into what the kernel makes of it. Its seed is left out (a
/// plan never asks the kernel for one; see the module doc).
pub fn parts(imp: &Impairment) -> Parts {
    let netem = !netem_only(imp).is_empty();
    let qdisc = if netem {
        let carried = Impairment { seed: None, carrier: true, ..imp.clone() };
        Some((QdiscKind::Netem, carried))
    } else {
        imp.rate.map(|rate| {
            let carried = Impairment { rate: Some(rate), limit: imp.limit, ..Impairment::default() };
            (QdiscKind::Tbf, carried)
        })
    };
    let loss = if netem { Percent::ZERO } else { imp.loss };
    let drop = (!loss.is_zero() || !imp.carrier).then_some((loss, imp.carrier));
    Parts { qdisc, drop }
}

/// The impairment of an end as the kernel shows it: its root qdisc's (if netlab's kind),
/// and the drop at its peer's ingress. The inverse of [`parts`].
pub fn combine(qdisc: Option<&Impairment>, drop: Option<(Percent, bool)>) -> Impairment {
    let mut imp = qdisc.cloned().unwrap_or_default();
    if let Some((loss, carrier)) = drop {
        if !loss.is_zero() {
            imp.loss = loss;
        }
        imp.carrier = carrier;
    }
    imp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(s: &str) -> Impairment {
        s.parse().unwrap()
    }

    #[test]
    fn each_end_gets_the_smallest_machinery_that_does_it() {
        assert_eq!(parts(&imp("none")), Parts::default());
        assert_eq!(parts(&imp("seed=3")), Parts::default(), "a seed alone asks nothing of the kernel");
        assert_eq!(
            parts(&imp("rate=10mbit,limit=20")),
            Parts { qdisc: Some((QdiscKind::Tbf, imp("rate=10mbit,limit=20"))), drop: None }
        );
        assert_eq!(parts(&imp("loss=1%")), Parts { qdisc: None, drop: Some(("1%".parse().unwrap(), true)) });
        assert_eq!(
            parts(&imp("rate=1mbit,loss=2%,carrier=false")),
            Parts { qdisc: Some((QdiscKind::Tbf, imp("rate=1mbit"))), drop: Some(("2%".parse().unwrap(), false)) }
        );
        // netem takes the loss and the rate with its delay; a pulled cable stays a drop.
        assert_eq!(
            parts(&imp("delay=20ms,loss=1%,rate=10mbit,carrier=false")),
            Parts {
                qdisc: Some((QdiscKind::Netem, imp("delay=20ms,loss=1%,rate=10mbit"))),
                drop: Some((Percent::ZERO, false))
            }
        );
        assert_eq!(netem_only(&imp("delay=1ms,jitter=1ms,loss=1%,corrupt=1%")), ["delay", "jitter", "corrupt"]);
    }

    #[test]
    fn what_the_kernel_shows_combines_back() {
        for s in [
            "none",
            "rate=10mbit,limit=20",
            "loss=1%",
            "rate=1mbit,loss=2%,carrier=false",
            "delay=20ms,loss=1%,rate=10mbit,carrier=false",
            "delay=20ms,jitter=5ms,distribution=normal,duplicate=1%,reorder=5%",
        ] {
            let p = parts(&imp(s));
            let q = p.qdisc.as_ref().map(|(_, i)| i);
            assert_eq!(combine(q, p.drop), imp(s), "{s}");
        }
    }
}
