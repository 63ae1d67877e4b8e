//! A delay line: one direction of an impaired link, as a timed queue of frames. It
//! decides each frame's fate ([`super::fate`]) when the frame arrives and says when
//! each leaves; it does no I/O and reads no clock (the caller passes the time in
//! nanoseconds), so its behaviour is tested exactly.
//!
//! The order of decisions, and of draws from a frame's [`Draws`] (fixed, so that turning
//! one impairment on does not change the fate another deals the same frame), follows
//! netem's `netem_enqueue`: loss, duplication, the queue limit, corruption (the checksum completed first), then the
//! departure time: the frame waits for the link (`rate`), then travels `delay` +/-
//! `jitter`, unless reordered, when it skips the delay. Reordering follows netem's gap
//! rule: after a reordered frame, `gap - 1` frames pass in order before the next may be.
//! One difference: netem lets a frame that is both lost and duplicated through once; here
//! a lost frame is lost whatever else is set, so that with a seed the same frames are lost
//! whether or not duplication is on (the copy of a duplicated frame draws its own loss).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use super::dist;
use super::fate::{Draws, Fates};
use super::frame::{Frame, Pool};
use super::Impairment;

/// What happened to a direction's frames, counted as wire frames; read by the stats
/// writer while the relay adds to them.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub received_bytes: AtomicU64,
    pub sent: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub lost: AtomicU64,
    pub duplicated: AtomicU64,
    pub corrupted: AtomicU64,
    pub reordered: AtomicU64,
    pub over_limit: AtomicU64,
    pub no_carrier: AtomicU64,
    pub send_errors: AtomicU64,
    pub bad: AtomicU64,
    pub waiting: AtomicU64,
}

/// A snapshot of [`Counters`], as the stats file shows one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Frames (and their bytes, Ethernet header included) that came in.
    pub received: u64,
    pub received_bytes: u64,
    /// Frames that went out (copies made by `duplicate` included).
    pub sent: u64,
    pub sent_bytes: u64,
    /// Dropped by `loss`.
    pub lost: u64,
    /// Copies made by `duplicate`.
    pub duplicated: u64,
    /// Sent with a bit flipped by `corrupt`.
    pub corrupted: u64,
    /// Sent without their delay by `reorder`.
    pub reordered: u64,
    /// Dropped because `limit` frames were waiting already.
    pub over_limit: u64,
    /// Dropped because the carrier is off (`carrier = false`).
    pub no_carrier: u64,
    /// The kernel refused to send them on.
    pub send_errors: u64,
    /// Read from the socket but not a frame that could be sent on (malformed offload
    /// header, or longer than a read can hold).
    pub bad: u64,
    /// Frames in the line now.
    pub waiting: u64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub fn set(c: &AtomicU64, n: u64) {
        c.store(n, Relaxed);
    }

    pub fn tally(&self) -> Tally {
        let l = |c: &AtomicU64| c.load(Relaxed);
        Tally {
            received: l(&self.received),
            received_bytes: l(&self.received_bytes),
            sent: l(&self.sent),
            sent_bytes: l(&self.sent_bytes),
            lost: l(&self.lost),
            duplicated: l(&self.duplicated),
            corrupted: l(&self.corrupted),
            reordered: l(&self.reordered),
            over_limit: l(&self.over_limit),
            no_carrier: l(&self.no_carrier),
            send_errors: l(&self.send_errors),
            bad: l(&self.bad),
            waiting: l(&self.waiting),
        }
    }
}

/// A frame in the queue, ordered by departure and then arrival.
struct Waiting {
    at: u64,
    seq: u64,
    frame: Frame,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One direction of a link.
pub struct Line {
    imp: Impairment,
    direction: u8,
    /// The seed in force when the impairment has none of its own.
    default_seed: u64,
    fates: Fates,
    queue: BinaryHeap<Reverse<Waiting>>,
    seq: u64,
    /// When the link has finished sending the last frame given to it (with a rate).
    link_free: u64,
    /// Frames since the last reordered one (netem's `counter`).
    since_reorder: u32,
}

impl Line {
    /// A line for `direction` (0 or 1) with `imp`; `default_seed` is used whenever the
    /// impairment has no seed of its own.
    pub fn new(imp: Impairment, direction: u8, default_seed: u64) -> Line {
        let fates = Fates::new(imp.seed.unwrap_or(default_seed), direction);
        Line { imp, direction, default_seed, fates, queue: BinaryHeap::new(), seq: 0, link_free: 0, since_reorder: 0 }
    }

    /// Puts `imp` in force from now on: frames already on their way keep their departure
    /// times (they are on the wire), fates start over from the (new) seed.
    pub fn set(&mut self, imp: Impairment) {
        self.fates = Fates::new(imp.seed.unwrap_or(self.default_seed), self.direction);
        self.since_reorder = 0;
        self.imp = imp;
    }

    /// True when frames can skip the line: nothing to do to them and nothing waiting
    /// that they could overtake.
    pub fn is_passthrough(&self) -> bool {
        self.imp.is_none() && self.queue.is_empty()
    }

    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// When the next frame is due, if any is waiting.
    pub fn next_departure(&self) -> Option<u64> {
        self.queue.peek().map(|w| w.0.at)
    }

    /// The next frame due at `now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Frame> {
        if self.next_departure()? <= now {
            self.queue.pop().map(|w| w.0.frame)
        } else {
            None
        }
    }

    /// A wire frame arrives at `now`: it is dropped (its buffer goes back to `pool`) or
    /// queued, with a copy if duplicated.
    pub fn admit(&mut self, now: u64, frame: Frame, pool: &mut Pool, c: &Counters) {
        Counters::add(&c.received, 1);
        Counters::add(&c.received_bytes, frame.len() as u64);
        if !self.imp.carrier {
            Counters::add(&c.no_carrier, 1);
            pool.put(frame.bytes);
            return;
        }
        let mut draws = self.fates.next(&frame.bytes);
        if self.imp.loss.hits(draws.next_u64()) {
            Counters::add(&c.lost, 1);
            pool.put(frame.bytes);
            return;
        }
        if self.imp.duplicate.hits(draws.next_u64()) {
            let copy = Frame { bytes: pool.copy_of(&frame.bytes), vnet: frame.vnet };
            let copy_draws = draws.for_copy();
            Counters::add(&c.duplicated, 1);
            self.schedule(now, frame, draws, pool, c);
            self.schedule_copy(now, copy, copy_draws, pool, c);
        } else {
            self.schedule(now, frame, draws, pool, c);
        }
    }

    /// A duplicate goes through the line as netem sends it: its own loss, no further copy.
    fn schedule_copy(&mut self, now: u64, copy: Frame, mut draws: Draws, pool: &mut Pool, c: &Counters) {
        if self.imp.loss.hits(draws.next_u64()) {
            Counters::add(&c.lost, 1);
            pool.put(copy.bytes);
            return;
        }
        draws.next_u64();
        self.schedule(now, copy, draws, pool, c);
    }

    fn schedule(&mut self, now: u64, mut frame: Frame, mut draws: Draws, pool: &mut Pool, c: &Counters) {
        let corrupt = self.imp.corrupt.hits(draws.next_u64());
        let bit = draws.next_u64();
        let reorder_draw = draws.next_u64();
        let delay_draw = draws.next_u64();
        if self.queue.len() >= self.imp.limit() as usize {
            Counters::add(&c.over_limit, 1);
            pool.put(frame.bytes);
            return;
        }
        if corrupt && frame.finish_checksum() {
            frame.flip_bit(bit);
            Counters::add(&c.corrupted, 1);
        }
        let mut at = now;
        if let Some(rate) = self.imp.rate {
            // The time the frame occupies the link, in ns: bytes * 8 * 1e9 / rate.
            let busy = (frame.len() as u128 * 8_000_000_000 / u128::from(rate)) as u64;
            self.link_free = self.link_free.max(now) + busy;
            at = self.link_free;
        }
        if self.reordered(reorder_draw) {
            Counters::add(&c.reordered, 1);
        } else {
            let delay = self.imp.delay.as_nanos() as i64;
            let jitter = self.imp.jitter.as_nanos() as i64;
            at += dist::draw(delay, jitter, self.imp.distribution, delay_draw).max(0) as u64;
        }
        self.seq += 1;
        self.queue.push(Reverse(Waiting { at, seq: self.seq, frame }));
    }

    /// netem's rule: with a gap of G, a frame may be reordered once G - 1 frames passed
    /// in order since the last one, with the `reorder` probability.
    fn reordered(&mut self, draw: u64) -> bool {
        if self.imp.reorder.is_zero() {
            return false;
        }
        let gap = self.imp.gap.max(1);
        if self.since_reorder + 1 >= gap && self.imp.reorder.hits(draw) {
            self.since_reorder = 0;
            true
        } else {
            self.since_reorder += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests;
