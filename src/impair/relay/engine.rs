//! The relay's loop: one thread carries both directions, reading each end's socket,
//! passing frames through that direction's delay line, and sending what is due out of the
//! other end, sleeping in `ppoll` until the next frame is due or one arrives.
//!
//! One thread for both directions, as the tunnel forwarder does: a TCP stream's ACKs
//! then cost no wakeups of their own, and a relay never needs more than a core. A
//! direction with no impairment (and nothing still in its line) is a plain wire: what is
//! read goes out as it came, super-packets whole, straight from the receive buffers.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::socket::{self, PacketSocket};
use super::Shared;
use crate::impair::frame::{self, Frame, Pool, Split};
use crate::impair::line::{Counters, Line};
use crate::tunnel::offload::Segments;
use crate::tunnel::sys::{RecvBatch, SendBatch};
use crate::tunnel::tun::{VnetHdr, GSO_NONE, VNET_HDR_LEN};

/// Frames per `recvmmsg`, and batches a direction reads before the loop looks at the
/// other one and at what is due.
const BATCH: usize = 32;
const BUDGET: usize = 8;
/// The largest read: a 64 KiB super-packet, its Ethernet header and virtio header.
const READ: usize = 65536 + 64;
/// Frames due within this much of now are sent together, rather than one wakeup each.
const EARLY: u64 = 20_000;

/// One end: its socket and receive buffers.
struct End {
    socket: PacketSocket,
    rx: RecvBatch,
}

pub(super) struct Engine {
    ends: [End; 2],
    /// Direction d carries frames read from end d to end 1 - d.
    lines: [Line; 2],
    counters: [Arc<Counters>; 2],
    pool: Pool,
    segs: Segments,
    split: Vec<Frame>,
    tx: SendBatch,
    /// Frames being sent, with their direction, and their virtio headers.
    sending: Vec<(usize, Frame)>,
    /// The wire frames and bytes of each read being passed through as it came.
    passing: Vec<(u64, u64)>,
    vnet: Vec<[u8; VNET_HDR_LEN]>,
    clock: Instant,
}

impl Engine {
    pub(super) fn new(sockets: [PacketSocket; 2], lines: [Line; 2], counters: [Arc<Counters>; 2]) -> Engine {
        let ends = sockets.map(|socket| End { socket, rx: RecvBatch::new(BATCH, READ) });
        Engine {
            ends,
            lines,
            counters,
            pool: Pool::default(),
            segs: frame::segments(),
            split: Vec::new(),
            tx: SendBatch::new(),
            sending: Vec::new(),
            passing: Vec::new(),
            vnet: Vec::new(),
            clock: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// Runs until `shared.stopping`; an error only when a socket fails for good (its
    /// device was deleted, say).
    pub(super) fn run(&mut self, shared: &Shared) -> io::Result<()> {
        // Wake on time: the default 50 us of timer slack would be added to every delay.
        // SAFETY: a plain prctl on this thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000, 0, 0, 0) };
        // And run as soon as it wakes, before ordinary processes, as netem (in softirq) does:
        // a frame's delay is as precise as the wakeup that sends it (on two busy cores at
        // load 8, ping through a relay at nice 0 or -10 saw outliers of 1 to 6 ms). Best
        // effort: without CAP_SYS_NICE (an unprivileged lab) the thread keeps its policy.
        // The kernel's RT throttling keeps a busy relay from taking a whole core.
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: sets this thread's own policy, with a valid parameter.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        let fds = [self.ends[0].socket.as_raw_fd(), self.ends[1].socket.as_raw_fd(), shared.wake.as_raw_fd()];
        loop {
            if shared.stopping.load(Relaxed) {
                return Ok(());
            }
            self.apply_updates(shared);
            let now = self.now();
            self.depart(now);
            let next = self.lines.iter().filter_map(Line::next_departure).min();
            let timeout = next.map(|at| Duration::from_nanos(at.saturating_sub(self.now())));
            let ready = socket::wait(fds, timeout)?;
            if ready[2] {
                shared.wake.reset();
            }
            for (d, readable) in ready[..2].iter().enumerate() {
                if *readable {
                    self.receive(d)?;
                }
            }
        }
    }

    /// Puts the impairments the control channel sent in force, and says so.
    fn apply_updates(&mut self, shared: &Shared) {
        let updates: Vec<_> = std::mem::take(&mut *shared.updates.lock().unwrap_or_else(|e| e.into_inner()));
        for update in updates {
            for (d, imp) in update.set.into_iter().enumerate() {
                if let Some(imp) = imp {
                    shared.set_shown(d, &imp);
                    self.lines[d].set(imp);
                }
            }
            let _ = update.done.send(());
        }
    }

    /// Reads what end `d` has (a few batches at most), and sends it on or queues it.
    fn receive(&mut self, d: usize) -> io::Result<()> {
        for _ in 0..BUDGET {
            let fd = self.ends[d].socket.as_raw_fd();
            let n = match self.ends[d].rx.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The device went down (it may come back up) or away (then so does the relay).
                Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    let name = &self.ends[d].socket.name;
                    return match std::ffi::CString::new(name.as_str())
                        .map(|c| nix::net::if_::if_nametoindex(c.as_c_str()))
                    {
                        Ok(Ok(_)) => Ok(()),
                        _ => Err(io::Error::new(io::ErrorKind::NotFound, format!("the device {name} was deleted"))),
                    };
                }
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("reading {}: {e}", self.ends[d].socket.name)));
                }
            };
            let now = self.now();
            let c = self.counters[d].clone();
            let to = self.ends[1 - d].socket.to;
            let passthrough = self.lines[d].is_passthrough();
            for i in 0..n {
                let got = self.ends[d].rx.get(i);
                if got.truncated || got.data.len() < VNET_HDR_LEN + frame::ETH_HLEN {
                    Counters::add(&c.bad, 1);
                    continue;
                }
                if passthrough {
                    let (frames, bytes) = wire_size(got.data);
                    Counters::add(&c.received, frames);
                    Counters::add(&c.received_bytes, bytes);
                    self.passing.push((frames, bytes));
                    self.tx.push([got.data], &to, None);
                    continue;
                }
                let data = self.ends[d].rx.data_mut(i);
                if frame::split(data, &mut self.pool, &mut self.segs, &mut self.split) == Split::Bad {
                    Counters::add(&c.bad, 1);
                }
                for f in self.split.drain(..) {
                    self.lines[d].admit(now, f, &mut self.pool, &c);
                }
            }
            if passthrough {
                // The frames point into the receive buffers: sent before the next read.
                self.send_passthrough(d);
            }
            self.depart(self.now());
            if n < BATCH {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends what a direction with nothing to do read, as it came.
    fn send_passthrough(&mut self, d: usize) {
        let mut failed = Vec::new();
        self.tx.send(self.ends[1 - d].socket.as_raw_fd(), |k, _| failed.push(k));
        let c = &self.counters[d];
        for (k, &(frames, bytes)) in self.passing.iter().enumerate() {
            if failed.contains(&k) {
                Counters::add(&c.send_errors, frames);
            } else {
                Counters::add(&c.sent, frames);
                Counters::add(&c.sent_bytes, bytes);
            }
        }
        self.passing.clear();
    }

    /// Sends every frame due by `now` (or a little after), both directions, in one batch.
    fn depart(&mut self, now: u64) {
        for d in 0..2 {
            while let Some(f) = self.lines[d].pop_due(now + EARLY) {
                self.sending.push((d, f));
            }
            Counters::set(&self.counters[d].waiting, self.lines[d].waiting() as u64);
        }
        if self.sending.is_empty() {
            return;
        }
        self.vnet.clear();
        self.vnet.extend(self.sending.iter().map(|(_, f)| f.vnet.encode()));
        for d in 0..2 {
            let mut errors = Vec::new();
            let fd = self.ends[1 - d].socket.as_raw_fd();
            let to = self.ends[1 - d].socket.to;
            let mine: Vec<usize> = (0..self.sending.len()).filter(|&i| self.sending[i].0 == d).collect();
            if mine.is_empty() {
                continue;
            }
            for &i in &mine {
                self.tx.push([&self.vnet[i][..], &self.sending[i].1.bytes[..]], &to, None);
            }
            self.tx.send(fd, |k, _| errors.push(k));
            let c = &self.counters[d];
            for (k, &i) in mine.iter().enumerate() {
                if errors.contains(&k) {
                    Counters::add(&c.send_errors, 1);
                } else {
                    Counters::add(&c.sent, 1);
                    Counters::add(&c.sent_bytes, self.sending[i].1.len() as u64);
                }
            }
        }
        for (_, f) in self.sending.drain(..) {
            self.pool.put(f.bytes);
        }
    }
}

/// How many wire frames, and bytes, a read holds: a super-packet counts as the segments
/// the wire would carry (its headers once in the bytes).
fn wire_size(read: &[u8]) -> (u64, u64) {
    let bytes = (read.len() - VNET_HDR_LEN) as u64;
    match VnetHdr::parse(read) {
        Some(h) if h.gso_type != GSO_NONE && h.gso_size > 0 => {
            let payload = bytes.saturating_sub(u64::from(h.hdr_len));
            (payload.div_ceil(u64::from(h.gso_size)).max(1), bytes)
        }
        _ => (1, bytes),
    }
}
