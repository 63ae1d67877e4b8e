//! The kernel engine's requests: a netem qdisc for an [`Impairment`], or a tbf qdisc for a
//! rate alone, as the RTM_NEWQDISC / RTM_DELQDISC messages `tc` sends, byte for byte.
//!
//! netlink-packet-route has no typed netem or tbf options, so their `TCA_OPTIONS` payload
//! is encoded here and carried as a raw attribute. Both layouts are the kernel's UAPI
//! (linux/pkt_sched.h) as tc fills it (iproute2 6.19 `tc/q_netem.c`, `tc/q_tbf.c`):
//!
//! - netem: `TCA_OPTIONS` is not a list of attributes but a `struct tc_netem_qopt` (limit,
//!   loss, gap, duplicate; latency and jitter left 0) followed by attributes:
//!   `LATENCY64`/`JITTER64` (ns), `REORDER`, `CORRUPT`, `RATE64` and `RATE` (bytes/s),
//!   `PRNG_SEED`, `DELAY_DIST` (the [`dist`](super::dist) table), each only when set.
//! - tbf: a nested list: `PARMS` (`struct tc_tbf_qopt`, with times in psched ticks),
//!   `BURST`, `RATE64` when the rate is 2^32 bytes/s or more, and the 256-entry rate
//!   table `RTAB` that old kernels need.
//!
//! tests/fixtures/tc/ holds what tc sent for a set of commands (and the script that
//! captured them); the tests here compare every byte but the sequence number and port id.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::kernel::QdiscKind;
use super::{dist, value, Distribution, Impairment, Percent};

const TCA_OPTIONS: u16 = 2;

const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_DELAY_DIST: u16 = 2;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const TCA_NETEM_PRNG_SEED: u16 = 14;

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

/// `TC_LINKLAYER_ETHERNET`: no cell padding (tc's default).
const LINKLAYER_ETHERNET: u8 = 1;
/// psched ticks per microsecond, as tc computes it from /proc/net/psched, whose first
/// three fields every kernel since 2.6.25 prints as 1000, 64, 1000000 (NSEC_PER_USEC,
/// PSCHED_TICKS2NS(1), a fixed 1000000): 1000 / 64.
const TICKS_PER_USEC: f64 = 1000.0 / 64.0;
/// The largest Ethernet frame without FCS, the unit of tbf's burst and limit floors.
const FRAME: u32 = 1514;

/// What a qdisc request does, with tc's netlink flags for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `tc qdisc add`: fails if the device has a root qdisc of its own already.
    Add,
    /// `tc qdisc replace`: creates or replaces the root qdisc.
    Replace,
    /// `tc qdisc del ... root`: back to the device's default.
    Delete,
}

/// A root qdisc netlab makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qdisc {
    Netem(Impairment),
    Tbf(Tbf),
}

impl Qdisc {
    pub fn kind(&self) -> &'static str {
        match self {
            Qdisc::Netem(_) => "netem",
            Qdisc::Tbf(_) => "tbf",
        }
    }

    /// The `TCA_OPTIONS` payload.
    pub fn options(&self) -> Vec<u8> {
        match self {
            Qdisc::Netem(imp) => netem_options(imp),
            Qdisc::Tbf(tbf) => tbf.options(),
        }
    }
}

/// The request that does `verb` on the root qdisc of device `ifindex` (for `Delete`,
/// `qdisc` is not needed), and the netlink flags to send it with (REQUEST and ACK are
/// the sender's).
pub fn request(verb: Verb, ifindex: u32, qdisc: Option<&Qdisc>) -> (RouteNetlinkMessage, u16) {
    let mut msg = TcMessage::with_index(ifindex as i32);
    msg.header.parent = TcHandle::ROOT;
    if verb == Verb::Delete {
        return (RouteNetlinkMessage::DelQueueDiscipline(msg), 0);
    }
    if let Some(q) = qdisc {
        msg.attributes.push(TcAttribute::Kind(q.kind().to_owned()));
        msg.attributes.push(TcAttribute::Other(netlink_packet_core::DefaultNla::new(TCA_OPTIONS, q.options())));
    }
    let flags = match verb {
        Verb::Add => NLM_F_EXCL | NLM_F_CREATE,
        _ => NLM_F_CREATE | NLM_F_REPLACE,
    };
    (RouteNetlinkMessage::NewQueueDiscipline(msg), flags)
}

/// Appends one netlink attribute, padded to 4 bytes as NLA_ALIGN says.
fn push_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// netem's options for `imp`. `carrier = false` is a loss of 100%; the seed goes to
/// netem's own PRNG (which makes its draws, not the fate of given frames, repeatable).
pub fn netem_options(imp: &Impairment) -> Vec<u8> {
    let loss = if imp.carrier { imp.loss.netem_scaled() } else { u32::MAX };
    let gap = if !imp.reorder.is_zero() && imp.gap == 0 { 1 } else { imp.gap };
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter (the old 32-bit
    // tick fields latency and jitter stay 0: the 64-bit attributes replace them).
    let mut buf = u32s(&[0, imp.limit(), loss, gap, imp.duplicate.netem_scaled(), 0]);
    if !imp.delay.is_zero() {
        push_attr(&mut buf, TCA_NETEM_LATENCY64, &(imp.delay.as_nanos() as i64).to_ne_bytes());
    }
    if !imp.jitter.is_zero() {
        push_attr(&mut buf, TCA_NETEM_JITTER64, &(imp.jitter.as_nanos() as i64).to_ne_bytes());
    }
    if !imp.reorder.is_zero() {
        // struct tc_netem_reorder: probability, correlation.
        push_attr(&mut buf, TCA_NETEM_REORDER, &u32s(&[imp.reorder.netem_scaled(), 0]));
    }
    if !imp.corrupt.is_zero() {
        push_attr(&mut buf, TCA_NETEM_CORRUPT, &u32s(&[imp.corrupt.netem_scaled(), 0]));
    }
    if let Some(bits) = imp.rate {
        let bytes = bits / 8;
        if bytes >= 1 << 32 {
            push_attr(&mut buf, TCA_NETEM_RATE64, &bytes.to_ne_bytes());
        }
        // struct tc_netem_rate: rate (~0 when RATE64 carries it), packet_overhead,
        // cell_size, cell_overhead.
        push_attr(&mut buf, TCA_NETEM_RATE, &u32s(&[rate32(bytes), 0, 0, 0]));
    }
    if let Some(seed) = imp.seed {
        push_attr(&mut buf, TCA_NETEM_PRNG_SEED, &seed.to_ne_bytes());
    }
    if imp.distribution != Distribution::Uniform {
        if let Some(table) = dist::table(imp.distribution) {
            let bytes: Vec<u8> = table.iter().flat_map(|v| v.to_ne_bytes()).collect();
            push_attr(&mut buf, TCA_NETEM_DELAY_DIST, &bytes);
        }
    }
    buf
}

/// A rate in the 32-bit fields: `~0` says "see the 64-bit attribute".
fn rate32(bytes_per_sec: u64) -> u32 {
    u32::try_from(bytes_per_sec).unwrap_or(u32::MAX)
}

/// A token bucket: `rate` bits per second, `burst` bytes of tokens, at most `limit`
/// bytes waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    pub rate: u64,
    pub burst: u32,
    pub limit: u32,
}

impl Tbf {
    /// netlab's tbf for an impairment's rate (and limit, in frames): a burst of 5 ms at
    /// the rate but at least two full frames (a bucket smaller than a frame never lets
    /// it pass), and room for `limit` full frames, or without one 50 ms of queue, as
    /// `tc ... latency 50ms` computes it.
    pub fn for_rate(rate: u64, limit: Option<u32>) -> Tbf {
        let bytes = rate / 8;
        let burst = u32::try_from(bytes / 200).unwrap_or(u32::MAX).max(2 * FRAME);
        match limit {
            Some(frames) => Tbf { rate, burst, limit: frames.saturating_mul(FRAME) },
            None => Tbf::with_latency(rate, burst, 50_000),
        }
    }

    /// tc's `rate R burst B latency L` (L in microseconds): the limit is what the rate
    /// drains in L, plus the burst.
    pub fn with_latency(rate: u64, burst: u32, latency_us: u32) -> Tbf {
        let limit = (rate / 8) as f64 * f64::from(latency_us) / 1e6 + f64::from(burst);
        Tbf { rate, burst, limit: limit as u32 }
    }

    fn options(&self) -> Vec<u8> {
        let bytes = self.rate / 8;
        let rate = rate32(bytes);
        // tc_calc_rtable with no mtu given: 2047-byte frames at most, cells of 8 bytes.
        let cell_log = 3u8;
        let rtab: Vec<u32> = (0..256u64).map(|i| xmittime(u64::from(rate), (i + 1) << cell_log)).collect();
        // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate.
        let mut ratespec = vec![cell_log, LINKLAYER_ETHERNET];
        ratespec.extend_from_slice(&0u16.to_ne_bytes());
        ratespec.extend_from_slice(&(-1i16).to_ne_bytes());
        ratespec.extend_from_slice(&0u16.to_ne_bytes());
        ratespec.extend_from_slice(&rate.to_ne_bytes());
        // struct tc_tbf_qopt: rate, peakrate (none), limit, buffer (in ticks), mtu.
        let mut parms = ratespec;
        parms.extend_from_slice(&[0u8; 12]);
        parms.extend_from_slice(&u32s(&[self.limit, xmittime(u64::from(rate), u64::from(self.burst)), 0]));
        let mut buf = Vec::new();
        push_attr(&mut buf, TCA_TBF_PARMS, &parms);
        push_attr(&mut buf, TCA_TBF_BURST, &self.burst.to_ne_bytes());
        if bytes >= 1 << 32 {
            push_attr(&mut buf, TCA_TBF_RATE64, &bytes.to_ne_bytes());
        }
        push_attr(&mut buf, TCA_TBF_RTAB, &u32s(&rtab));
        buf
    }
}

/// tc_calc_xmittime: the psched ticks `size` bytes take at `rate` bytes per second,
/// rounded up, in the same floating-point steps as tc.
fn xmittime(rate: u64, size: u64) -> u32 {
    let usec = 1_000_000.0 * (size as f64 / rate as f64);
    let ticks = (usec * TICKS_PER_USEC).ceil();
    if ticks > f64::from(u32::MAX) {
        u32::MAX
    } else {
        ticks as u32
    }
}

impl Qdisc {
    /// The qdisc of `kind` that makes `imp` (for tbf, its rate and limit: see
    /// [`Tbf::for_rate`]; without a rate, the slowest the kernel knows).
    pub fn of(kind: QdiscKind, imp: &Impairment) -> Qdisc {
        match kind {
            QdiscKind::Netem => Qdisc::Netem(imp.clone()),
            QdiscKind::Tbf => Qdisc::Tbf(Tbf::for_rate(imp.rate.unwrap_or(8), imp.limit)),
        }
    }

    /// The words after `tc qdisc replace dev DEV root`: what iproute2 is told to make the
    /// same request (the tests check them against the commands the fixtures were captured
    /// with).
    pub fn tc_args(&self) -> String {
        match self {
            Qdisc::Netem(imp) => {
                let mut w = vec!["netem".to_string()];
                if !imp.delay.is_zero() {
                    w.push(format!("delay {}", value::format_duration(imp.delay)));
                    if !imp.jitter.is_zero() {
                        w.push(value::format_duration(imp.jitter));
                    }
                    if imp.distribution != Distribution::Uniform {
                        w.push(format!("distribution {}", imp.distribution));
                    }
                }
                let loss = if imp.carrier { imp.loss } else { Percent::HUNDRED };
                for (key, p) in [("loss", loss), ("duplicate", imp.duplicate), ("corrupt", imp.corrupt)] {
                    if !p.is_zero() {
                        w.push(format!("{key} {p}"));
                    }
                }
                if !imp.reorder.is_zero() {
                    w.push(format!("reorder {}", imp.reorder));
                    if imp.gap > 0 {
                        w.push(format!("gap {}", imp.gap));
                    }
                }
                if let Some(rate) = imp.rate {
                    w.push(format!("rate {}", value::format_rate(rate)));
                }
                if let Some(limit) = imp.limit {
                    w.push(format!("limit {limit}"));
                }
                if let Some(seed) = imp.seed {
                    w.push(format!("seed {seed}"));
                }
                w.join(" ")
            }
            Qdisc::Tbf(t) => format!("tbf rate {} burst {} limit {}", value::format_rate(t.rate), t.burst, t.limit),
        }
    }
}

/// What a root qdisc of the kernel's (its kind and its `TCA_OPTIONS`, as a dump shows
/// them) makes, as the impairment netlab would have asked for it; `None` for a kind
/// netlab does not make, or options it cannot read.
///
/// netem does not show its delay distribution (the table goes in, nothing comes out), so
/// what is read has `uniform`; nor its seed, unless the kernel dumps it. A tbf reads as
/// its rate and the limit in frames that gives its queue, if one does.
pub fn read(kind: &str, options: &[u8]) -> Option<(QdiscKind, Impairment)> {
    match kind {
        "netem" => read_netem(options).map(|imp| (QdiscKind::Netem, imp)),
        "tbf" => read_tbf(options).map(|imp| (QdiscKind::Tbf, imp)),
        _ => None,
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The attributes in `b`, as (kind, payload); stops at the first malformed one.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

fn read_netem(b: &[u8]) -> Option<Impairment> {
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter (ticks for the
    // times, which the 64-bit attributes below replace).
    let mut imp = Impairment {
        delay: std::time::Duration::from_nanos(u64::from(u32_at(b, 0)?) * 64),
        loss: Percent::from_netem_scaled(u32_at(b, 8)?),
        gap: u32_at(b, 12)?,
        duplicate: Percent::from_netem_scaled(u32_at(b, 16)?),
        jitter: std::time::Duration::from_nanos(u64::from(u32_at(b, 20)?) * 64),
        ..Impairment::default()
    };
    let limit = u32_at(b, 4)?;
    imp.limit = (limit != super::DEFAULT_LIMIT).then_some(limit);
    let mut rate32 = None;
    let mut rate64 = None;
    for (kind, v) in attrs(b.get(24..)?) {
        match kind {
            TCA_NETEM_LATENCY64 => imp.delay = std::time::Duration::from_nanos(u64_at(v, 0)?),
            TCA_NETEM_JITTER64 => imp.jitter = std::time::Duration::from_nanos(u64_at(v, 0)?),
            TCA_NETEM_REORDER => imp.reorder = Percent::from_netem_scaled(u32_at(v, 0)?),
            TCA_NETEM_CORRUPT => imp.corrupt = Percent::from_netem_scaled(u32_at(v, 0)?),
            TCA_NETEM_RATE => rate32 = u32_at(v, 0),
            TCA_NETEM_RATE64 => rate64 = u64_at(v, 0),
            _ => {}
        }
    }
    let bytes = rate64.or(rate32.map(u64::from)).filter(|r| *r > 0);
    imp.rate = bytes.map(|r| r * 8);
    // tc (and netlab) send a gap of 1 with a reorder that names none.
    if !imp.reorder.is_zero() && imp.gap == 1 {
        imp.gap = 0;
    }
    Some(imp)
}

fn read_tbf(b: &[u8]) -> Option<Impairment> {
    let mut rate = None;
    let mut rate64 = None;
    let mut limit = None;
    for (kind, v) in attrs(b) {
        match kind {
            // struct tc_tbf_qopt: rate (a 12-byte tc_ratespec, its rate last), peakrate,
            // limit, buffer, mtu.
            TCA_TBF_PARMS => {
                rate = u32_at(v, 8);
                limit = u32_at(v, 24);
            }
            TCA_TBF_RATE64 => rate64 = u64_at(v, 0),
            _ => {}
        }
    }
    let bits = rate64.or(rate.map(u64::from))? * 8;
    let limit = limit?;
    let frames = if Tbf::for_rate(bits, None).limit == limit { None } else { Some(limit.div_ceil(FRAME)) };
    Some(Impairment { rate: Some(bits), limit: frames, ..Impairment::default() })
}

#[cfg(test)]
mod tests;
