//! Running one forwarder: the TUN queues and the socket, the worker threads, the stats
//! file, and a clean stop on SIGTERM or SIGINT.
//!
//! A worker thread reads its TUN queue and sends until the queue is empty (or a budget is
//! spent), or receives and writes the TUN device until the socket is empty, and only then
//! blocks in `poll` on its descriptor and a shared stop eventfd: a busy forwarder makes no
//! extra syscalls, an idle one wakes for nothing. One thread does both directions (rather
//! than a thread per direction): a TCP stream's ACKs then cost no wakeups of their own (in a VM a wakeup is an IPI and a halt exit, some 10 µs each),
//! which measured 1.66 against 1.97 CPU-s per GB at 7.4 against 7.2 Gbit/s (bench/tunnel.sh,
//! six alternating rounds on two quiet cores). It caps a forwarder at one core, which a
//! single stream's TUN queue does anyway; an earlier measurement on two busy cores had
//! found it slower (4.6 against 5.2 Gbit/s), which alternating runs did not confirm.
//! Each worker counts into its own [`Counters`]; the calling thread waits for signals and
//! writes the stats file once a second.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::offload::{self, Coalescer, Prepared, Segments, Sink};
use super::packet;
use super::peers::Peers;
use super::stats::{Counters, Reason, Stats};
use super::sys::{self, wait_signal, RecvBatch, SendBatch, SockAddr, Stop};
use super::tun::{self, context, Queue, VnetHdr, VNET_HDR_LEN};
use super::{Encap, ForwarderConfig};

/// TUN queues, one sending thread each. A single flow always hashes to one queue, so one
/// queue carries a TCP stream at full speed; more queues would spread many flows over
/// cores (on a two-core machine they would only compete).
const TX_QUEUES: usize = 1;
/// Reads (or receive batches) a direction handles before it gives the other a turn.
const BUDGET: usize = 16;
/// Packets read from the TUN device before they are sent with one `sendmmsg`, when they
/// come faster than they are sent (super-packets are sent at once).
const TX_BATCH: usize = 32;
/// Datagrams per `recvmmsg`.
const RX_BATCH: usize = 32;
/// Room for ipip's outer IPv4 header before a packet read from the TUN device: it is read
/// OUTER - VNET_HDR_LEN bytes into its buffer, so the virtio header ends where the outer
/// header will.
const OUTER: usize = 20;
/// Room for the largest packet: 64 KiB of IP (a TSO super-packet or a GRO'd run of UDP
/// datagrams) plus the virtio header, after the room for an outer header.
const READ_BUF: usize = OUTER + 65536;
const RECV_BUF: usize = 65536;
/// Each UDP GSO send carries at most this many bytes and segments (the kernel's limits
/// are 64 KiB of UDP payload and, on older kernels, 64 segments).
const GSO_MAX_BYTES: usize = 65000;
const GSO_MAX_SEGMENTS: usize = 64;
/// Socket buffers: enough for a few super-packets in flight each way.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// What every thread shares.
struct Shared {
    socket: OwnedFd,
    encap: Encap,
    peers: Peers,
    /// Where each peer is sent to, in peer order.
    addrs: Vec<SockAddr>,
    /// ipip: the outer IPv4 header before every packet to each peer, in peer order. One
    /// per peer, not per packet: with IP_HDRINCL the kernel fills in each packet's total
    /// length and checksum (and its id, left zero; raw(7)), so the rest never changes.
    outer: Vec<[u8; OUTER]>,
    stop: Stop,
    stopping: AtomicBool,
}

/// Runs the forwarder in the calling thread's network namespace until SIGTERM or SIGINT,
/// then returns `Ok` after the last stats write. The TUN device stays (it is persistent).
/// Errors: an invalid configuration, a TUN device or socket that cannot be opened, or the
/// TUN device going away while running.
pub fn run(config: ForwarderConfig) -> io::Result<()> {
    config.validate()?;
    let peers = Peers::new(&config.peers);
    let port = match config.encap {
        Encap::Udp => config.port,
        Encap::Ipip => 0,
    };
    let addrs = (0..peers.len()).map(|i| SockAddr::new(SocketAddr::new(peers.underlay(i), port))).collect();
    let outer = (0..peers.len())
        .map(|i| match (config.local, peers.underlay(i)) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => packet::ipip_outer_header(src, dst, 0, 0, true),
            // Not used: udp, which has no outer header of its own (configurations are
            // checked: ipip runs over IPv4).
            _ => [0; OUTER],
        })
        .collect();
    let socket = open_socket(&config)?;
    let queues: Vec<Arc<Queue>> = tun::attach(&config.dev, TX_QUEUES)?.into_iter().map(Arc::new).collect();
    let shared = Arc::new(Shared {
        socket,
        encap: config.encap,
        peers,
        addrs,
        outer,
        stop: Stop::new()?,
        stopping: AtomicBool::new(false),
    });

    // Blocked before the threads start, so they inherit the mask and the signals are
    // left for sigtimedwait below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    let old_mask = signals.thread_swap_mask(SigmaskHow::SIG_BLOCK).map_err(io::Error::from)?;

    let mut counters: Vec<Arc<Counters>> = Vec::new();
    let mut threads: Vec<JoinHandle<io::Result<()>>> = Vec::new();
    let spawned = (|| -> io::Result<()> {
        for (i, queue) in queues.iter().enumerate() {
            let c = Arc::new(Counters::default());
            let (sh, q, mine) = (shared.clone(), queue.clone(), c.clone());
            // The socket is received from by the first queue's thread only.
            let rx = i == 0;
            let h = thread::Builder::new().name(format!("fwd{i}")).spawn(move || worker(&sh, &q, &mine, rx))?;
            counters.push(c);
            threads.push(h);
        }
        Ok(())
    })();

    let mut warned = false;
    let mut write_stats = |running: bool| {
        let Some(path) = &config.stats else { return };
        let stats = Stats::collect(&config.dev, config.encap.name(), running, &counters);
        // Said once while running, and again if the last write fails too.
        if let Err(e) = stats.write(path) {
            if !warned || !running {
                eprintln!("netlab forward: cannot write stats to {}: {e}", path.display());
                warned = true;
            }
        }
    };

    let mut result = spawned;
    if result.is_ok() {
        write_stats(true);
        loop {
            if wait_signal(&signals, 1).is_some() {
                break;
            }
            write_stats(true);
            // A thread only ends early on an error that stops the forwarder (its TUN
            // device was deleted, say).
            if threads.iter().any(|h| h.is_finished()) {
                break;
            }
        }
    }

    shared.stopping.store(true, Relaxed);
    shared.stop.trigger();
    for handle in threads {
        let outcome = handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a forwarder thread panicked")))
            .map_err(|e| context(e, format!("forwarder on {}", config.dev)));
        if let (Ok(()), Err(e)) = (&result, outcome) {
            result = Err(e);
        }
    }
    write_stats(false);
    // A second signal that came while stopping is taken here rather than left to kill
    // the process when the mask is restored.
    while wait_signal(&signals, 0).is_some() {}
    let _ = old_mask.thread_set_mask();
    result
}

fn open_socket(config: &ForwarderConfig) -> io::Result<OwnedFd> {
    let fd = match config.encap {
        Encap::Udp => {
            let addr = SocketAddr::new(config.local, config.port);
            let socket =
                std::net::UdpSocket::bind(addr).map_err(|e| context(e, format!("cannot listen on udp {addr}")))?;
            socket.set_nonblocking(true)?;
            let fd = OwnedFd::from(socket);
            // The kernel hands over runs of datagrams as one buffer; without it (kernels
            // before 5.0) each datagram comes alone, which is slower but the same.
            let _ = sys::set_int_option(fd.as_raw_fd(), libc::SOL_UDP, sys::UDP_GRO, 1);
            fd
        }
        Encap::Ipip => {
            // SAFETY: socket returns a new descriptor or -1.
            let raw = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_IPIP,
                )
            };
            let raw =
                sys::cvt(raw).map_err(|e| context(e, "cannot open a raw ipip socket (needs CAP_NET_RAW)".into()))?;
            // SAFETY: raw is a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // Bound to the local address: only ipip packets to it arrive here, and it is
            // the outer source of what is sent.
            let local = SockAddr::new(SocketAddr::new(config.local, 0));
            // SAFETY: local is a valid sockaddr of the stated length.
            sys::cvt(unsafe { libc::bind(fd.as_raw_fd(), local.as_ptr(), local.len()) })
                .map_err(|e| context(e, format!("cannot bind the ipip socket to {}", config.local)))?;
            // The forwarder writes the outer header itself: the kernel then copies what is
            // sent as it is, where without it it sums every byte on the way (for a
            // checksum nothing uses), a tenth of the sending thread's time.
            sys::set_int_option(fd.as_raw_fd(), libc::IPPROTO_IP, libc::IP_HDRINCL, 1)?;
            fd
        }
    };
    // ICMP errors (port or host unreachable) come back through the socket: counted as
    // peer_unreachable instead of going unseen.
    let (level, name) = if config.local.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    };
    sys::set_int_option(fd.as_raw_fd(), level, name, 1)?;
    for (force, plain) in [(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF), (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)] {
        // The FORCE variants pass the sysctl limits but need CAP_NET_ADMIN.
        if sys::set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
            let _ = sys::set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, plain, SOCKET_BUFFER);
        }
    }
    Ok(fd)
}

/// The peer a packet from the TUN device goes to, or why it goes nowhere.
#[inline]
fn route(sh: &Shared, pkt: &[u8]) -> Result<usize, Reason> {
    if sh.encap == Encap::Ipip && pkt[0] >> 4 != 4 {
        return Err(Reason::Unsupported);
    }
    let dst = packet::destination(pkt).ok_or(Reason::BadPacket)?;
    sh.peers.route(dst).ok_or(Reason::NoRoute)
}

/// A datagram waiting to be sent: a packet as it was read (in one of [`Tx::bufs`]) or a
/// segment of a super-packet (in the same slot of [`Tx::segs`]).
#[derive(Debug, Clone, Copy)]
struct Datagram {
    peer: usize,
    /// Which slot holds it, and where.
    slot: usize,
    segment: bool,
    start: usize,
    len: usize,
}

/// One worker's part of the TUN-to-peers direction: its read buffers and the datagrams
/// waiting to be sent.
///
/// Whatever is read becomes datagrams that wait in `pending`; runs of them to one peer go
/// out as one UDP GSO message each, all at once with `sendmmsg`. A super-packet's segments
/// are built back to back (headers and payload copied together, with the checksum taken in
/// the same pass), so a message is one piece of memory, or two where a run spans two
/// super-packets: the kernel copies pieces one by one, and ninety pieces per 64 KiB cost
/// as much as copying it again. A run is sent as soon as it is complete (as long as a GSO
/// message can be, or what follows cannot join it), so the tail of a super-packet waits
/// for the next one's segments: a 45-segment super-packet is more than one message can
/// carry (64 KiB), and with the tail joining the next, N super-packets in a row take N + 1
/// messages instead of 2N. The rest goes out when the TUN queue runs dry or the budget is
/// spent.
struct Tx {
    bufs: Vec<Vec<u8>>,
    segs: Vec<Segments>,
    pending: Vec<Datagram>,
    batch: SendBatch,
    /// The runs of `pending` in the batch being sent: (first, end).
    runs: Vec<(usize, usize)>,
    /// Runs that failed, with why.
    failed: Vec<(usize, io::Error)>,
    /// The slot the next read goes to: one that no pending datagram is in.
    k: usize,
}

/// Whether a direction found work or ran dry.
#[derive(PartialEq, Eq)]
enum Step {
    Idle,
    Busy,
}

impl Tx {
    fn new(encap: Encap) -> Tx {
        let headroom = if encap == Encap::Ipip { OUTER } else { 0 };
        Tx {
            bufs: (0..TX_BATCH).map(|_| vec![0u8; READ_BUF]).collect(),
            segs: (0..TX_BATCH).map(|_| Segments::with_headroom(headroom)).collect(),
            pending: Vec::with_capacity(2 * GSO_MAX_SEGMENTS),
            batch: SendBatch::new(),
            runs: Vec::new(),
            failed: Vec::new(),
            k: 0,
        }
    }

    /// Reads up to `budget` packets from the TUN queue and sends them on; `Idle` once the
    /// queue is empty. Everything read has been sent when it returns.
    fn run(&mut self, sh: &Shared, queue: &Queue, counters: &Counters, budget: usize) -> io::Result<Step> {
        for _ in 0..budget {
            let k = self.k;
            let buf = &mut self.bufs[k];
            let n = match queue.read(&mut buf[OUTER - VNET_HDR_LEN..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.send(sh, counters, true);
                    return Ok(Step::Idle);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.send(sh, counters, true);
                    if e.raw_os_error() == Some(libc::EBADFD) {
                        return Err(io::Error::new(e.kind(), "the TUN device was deleted"));
                    }
                    return Err(context(e, "reading the TUN device".into()));
                }
            };
            let Some(hdr) = VnetHdr::parse(&buf[OUTER - VNET_HDR_LEN..OUTER - VNET_HDR_LEN + n]) else {
                counters.dropped(Reason::BadPacket, 1);
                continue;
            };
            let (room, pkt) = buf[..OUTER - VNET_HDR_LEN + n].split_at_mut(OUTER);
            let segs = &mut self.segs[k];
            let ipip = sh.encap == Encap::Ipip;
            match offload::prepare(&hdr, pkt, segs) {
                Err(reason) => counters.dropped(reason, 1),
                Ok(Prepared::One(len)) => match route(sh, &pkt[..len]) {
                    Err(reason) => counters.dropped(reason, 1),
                    Ok(peer) if ipip => {
                        room.copy_from_slice(&sh.outer[peer]);
                        self.pending.push(Datagram { peer, slot: k, segment: false, start: 0, len: OUTER + len });
                    }
                    Ok(peer) => {
                        self.pending.push(Datagram { peer, slot: k, segment: false, start: OUTER, len });
                    }
                },
                Ok(Prepared::Segmented) => match route(sh, pkt) {
                    Err(reason) => counters.dropped(reason, segs.len() as u64),
                    Ok(peer) => {
                        for i in 0..segs.len() {
                            let r = segs.range(i);
                            if ipip {
                                segs.bytes_mut()[r.start..r.start + OUTER].copy_from_slice(&sh.outer[peer]);
                            }
                            self.pending.push(Datagram { peer, slot: k, segment: true, start: r.start, len: r.len() });
                        }
                    }
                },
            }
            self.send(sh, counters, false);
            // The next read goes to a slot no pending datagram is in; with none free,
            // everything is sent first.
            let used = self.pending.iter().fold(0u64, |m, d| m | 1 << d.slot);
            self.k = (!used).trailing_zeros() as usize;
            if self.k >= TX_BATCH {
                self.send(sh, counters, true);
                self.k = 0;
            }
        }
        self.send(sh, counters, true);
        Ok(Step::Busy)
    }

    /// Sends the complete runs of pending datagrams, or (`all`) every one.
    fn send(&mut self, sh: &Shared, counters: &Counters, all: bool) {
        let udp = sh.encap == Encap::Udp;
        // ipip has no GSO: raw packets go out one by one, batched up to TX_BATCH.
        if self.pending.is_empty() || (!udp && !all && self.pending.len() < TX_BATCH) {
            return;
        }
        self.runs.clear();
        let mut i = 0;
        while i < self.pending.len() {
            let (end, complete) = if udp { run_of(&self.pending[i..]) } else { (1, true) };
            if !complete && !all {
                break;
            }
            self.runs.push((i, i + end));
            i += end;
        }
        if self.runs.is_empty() {
            return;
        }
        let (pending, bufs, segs) = (&self.pending, &self.bufs, &self.segs);
        let bytes = |d: &Datagram| {
            let from = if d.segment { segs[d.slot].bytes() } else { &bufs[d.slot][..] };
            &from[d.start..d.start + d.len]
        };
        for &(first, end) in &self.runs {
            let run = &pending[first..end];
            let gso = (run.len() > 1).then(|| run[0].len as u16);
            self.batch.push(run.iter().map(bytes), &sh.addrs[run[0].peer], gso);
        }
        let fd = sh.socket.as_raw_fd();
        let failed = &mut self.failed;
        self.batch.send(fd, |i, e| failed.push((i, e)));
        let mut f = 0;
        for (r, &(first, end)) in self.runs.iter().enumerate() {
            let run = &pending[first..end];
            let total = run.iter().map(|d| d.len as u64).sum::<u64>();
            if f < failed.len() && failed[f].0 == r {
                let e = &failed[f].1;
                f += 1;
                // No GSO on this path (a datagram larger than the route's MTU, say):
                // datagram by datagram, which the kernel may fragment.
                if run.len() > 1 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIO | libc::EMSGSIZE)) {
                    for d in run {
                        self.batch.push([bytes(d)], &sh.addrs[d.peer], None);
                    }
                    let mut sent = (run.len() as u64, total);
                    self.batch.send(fd, |i, e| {
                        counters.dropped(send_failure(&e), 1);
                        sent.0 -= 1;
                        sent.1 -= run[i].len as u64;
                    });
                    counters.tx(sent.0, sent.1);
                } else {
                    counters.dropped(send_failure(e), run.len() as u64);
                }
                continue;
            }
            counters.tx(run.len() as u64, total);
        }
        failed.clear();
        // What is left: the last run, incomplete.
        let sent = self.runs.last().map_or(0, |r| r.1);
        self.pending.drain(..sent);
    }
}

/// The run of datagrams at the start of `pending` that can go out as one UDP GSO message
/// (to one peer, all of the first one's size but the last, which may be shorter, within
/// the kernel's limits): its length, and whether it is complete (nothing more could join
/// it).
fn run_of(pending: &[Datagram]) -> (usize, bool) {
    let first = pending[0];
    let size = first.len;
    let mut bytes = size;
    let mut n = 1;
    loop {
        if n == GSO_MAX_SEGMENTS {
            return (n, true);
        }
        let Some(d) = pending.get(n) else {
            return (n, false);
        };
        if d.peer != first.peer || d.len > size || bytes + d.len > GSO_MAX_BYTES {
            return (n, true);
        }
        bytes += d.len;
        n += 1;
        if d.len < size {
            return (n, true);
        }
    }
}

/// One worker's part of the peers-to-TUN direction.
struct Rx {
    batch: RecvBatch,
    iovs: Vec<libc::iovec>,
}

impl Rx {
    fn new() -> Rx {
        Rx { batch: RecvBatch::new(RX_BATCH, RECV_BUF), iovs: Vec::with_capacity(80) }
    }

    /// Receives up to `budget` batches and writes what they carry to the TUN device;
    /// `Idle` once the socket is empty.
    fn run(&mut self, sh: &Shared, queue: &Queue, counters: &Counters, budget: usize) -> Step {
        let fd = sh.socket.as_raw_fd();
        // What arrives over ipip had no checksum over its payload on the way; see Coalescer.
        let verify = sh.encap == Encap::Ipip;
        for _ in 0..budget {
            let n = match self.batch.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Idle,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The socket's pending ICMP error, reported here once; its report is in the
                // error queue, counted when drained.
                Err(e) if sys::is_unreachable(&e) => {
                    counters.dropped(Reason::PeerUnreachable, sys::drain_errors(fd) as u64);
                    continue;
                }
                // Out of memory and the like: passing; do not spin on it.
                Err(_) => {
                    thread::sleep(std::time::Duration::from_millis(10));
                    return Step::Idle;
                }
            };
            let mut writer = TunWriter { queue, counters, iovs: &mut self.iovs };
            let mut coalescer = Coalescer::new(verify);
            for i in 0..n {
                let d = self.batch.get(i);
                // Counted as the datagrams the kernel merged, if it did.
                let datagrams = d.segment_size.map_or(1, |s| d.data.len().div_ceil(s).max(1)) as u64;
                if d.source.and_then(|s| sh.peers.by_underlay(s)).is_none() {
                    counters.dropped(Reason::NotAPeer, datagrams);
                } else if d.truncated {
                    counters.dropped(Reason::Oversized, datagrams);
                } else if sh.encap == Encap::Ipip {
                    match packet::strip_ipip(d.data) {
                        Ok((_, inner)) => coalescer.push(inner, &mut writer),
                        Err(reason) => counters.dropped(reason, 1),
                    }
                } else if d.data.is_empty() {
                    counters.dropped(Reason::Short, 1);
                } else {
                    for datagram in d.data.chunks(d.segment_size.unwrap_or(d.data.len())) {
                        match packet::validate(datagram) {
                            Ok(pkt) => coalescer.push(pkt, &mut writer),
                            Err(reason) => counters.dropped(reason, 1),
                        }
                    }
                }
            }
            coalescer.flush(&mut writer);
        }
        Step::Busy
    }
}

/// A thread's loop: one TUN queue to the peers and, with `rx`, the socket to the TUN
/// device, until stopped.
fn worker(sh: &Shared, queue: &Queue, counters: &Counters, rx: bool) -> io::Result<()> {
    let mut tx = Tx::new(sh.encap);
    let mut rxs = rx.then(Rx::new);
    let sock = sh.socket.as_raw_fd();
    let mut fds = vec![queue.as_raw_fd()];
    if rx {
        fds.push(sock);
    }
    loop {
        if sh.stopping.load(Relaxed) {
            return Ok(());
        }
        let mut busy = tx.run(sh, queue, counters, BUDGET)? == Step::Busy;
        if let Some(r) = &mut rxs {
            busy |= r.run(sh, queue, counters, BUDGET) == Step::Busy;
        }
        if busy {
            continue;
        }
        let ready = sys::wait(&fds, &sh.stop)?;
        if ready.stop {
            return Ok(());
        }
        // With IP_RECVERR, ICMP reports wait in the socket's error queue and keep poll
        // returning until read.
        if rx && ready.error[fds.len() - 1] {
            counters.dropped(Reason::PeerUnreachable, sys::drain_errors(sock) as u64);
        }
    }
}

/// How a failed send is counted.
fn send_failure(e: &io::Error) -> Reason {
    if sys::is_unreachable(e) {
        Reason::PeerUnreachable
    } else {
        Reason::SendError
    }
}

/// Writes what the coalescer gives to the TUN device, counting it.
struct TunWriter<'q> {
    queue: &'q Queue,
    counters: &'q Counters,
    iovs: &'q mut Vec<libc::iovec>,
}

impl Sink for TunWriter<'_> {
    fn write(&mut self, vnet: &VnetHdr, head: &[u8], payloads: &[&[u8]]) {
        let v = vnet.encode();
        self.iovs.clear();
        for piece in std::iter::once(&v[..]).chain(std::iter::once(head)).chain(payloads.iter().copied()) {
            self.iovs.push(libc::iovec { iov_base: piece.as_ptr() as *mut libc::c_void, iov_len: piece.len() });
        }
        // Counted as the segments that arrived: a merged packet's header stood before each.
        let (packets, bytes) = if payloads.is_empty() {
            (1, head.len())
        } else {
            (payloads.len(), head.len() * payloads.len() + payloads.iter().map(|p| p.len()).sum::<usize>())
        };
        loop {
            match self.queue.writev(self.iovs) {
                Ok(_) => return self.counters.rx(packets as u64, bytes as u64),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.counters.dropped(Reason::TunWriteError, packets as u64),
            }
        }
    }
}
