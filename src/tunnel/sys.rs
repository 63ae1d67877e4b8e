//! The few syscalls the forwarder's loops make, wrapped once so the loops stay safe
//! code: socket addresses, socket options, waiting with a stop signal, batched receive
//! (`recvmmsg`) and gathered, batched send (`sendmmsg`, with UDP GSO). The impairment
//! relay (src/impair/relay/) uses them too, on packet sockets.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `UDP_SEGMENT` and `UDP_GRO` (linux/udp.h); the libc crate does not have them for glibc.
pub(crate) const UDP_SEGMENT: libc::c_int = 103;
pub(crate) const UDP_GRO: libc::c_int = 104;

#[inline]
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[inline]
pub(crate) fn cvt_size(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

pub(crate) fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: the option value is a c_int, as these options expect.
    cvt(unsafe {
        libc::setsockopt(fd, level, name, &value as *const _ as *const libc::c_void, size_of::<libc::c_int>() as u32)
    })
    .map(|_| ())
}

/// A socket address in the form the kernel takes and gives.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    pub(crate) fn new(addr: SocketAddr) -> SockAddr {
        // SAFETY: sockaddr_storage is plain data and large enough for either family.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_in fits in sockaddr_storage.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_in6 fits in sockaddr_storage.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        SockAddr { storage, len: len as libc::socklen_t }
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }
}

impl SockAddr {
    /// A link-layer address (`sockaddr_ll`) naming device `ifindex`, for packet sockets:
    /// frames sent to it go out of that device as they are.
    pub(crate) fn link(ifindex: i32) -> SockAddr {
        // SAFETY: sockaddr_storage is plain data and large enough for a sockaddr_ll.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: as above; sockaddr_ll is plain data, all zeros is valid.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sockaddr_ll fits in sockaddr_storage.
        unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_ll, sll) };
        SockAddr { storage, len: size_of::<libc::sockaddr_ll>() as libc::socklen_t }
    }
}

/// Waits up to `seconds` for one of `signals` (blocked in this thread).
pub(crate) fn wait_signal(signals: &nix::sys::signal::SigSet, seconds: i64) -> Option<libc::c_int> {
    let timeout = libc::timespec { tv_sec: seconds, tv_nsec: 0 };
    // SAFETY: a valid signal set and timespec; no siginfo wanted.
    let r = unsafe { libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &timeout) };
    (r > 0).then_some(r)
}

/// The address in a `sockaddr_storage` the kernel filled in, if it is IPv4 or IPv6.
#[inline]
pub(crate) fn ip_of(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<IpAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says it is a sockaddr_in, and it is long enough.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// A way to wake every thread blocked in [`wait`]: an eventfd that becomes readable
/// once and stays so.
pub(crate) struct Stop {
    fd: OwnedFd,
}

impl Stop {
    pub(crate) fn new() -> io::Result<Stop> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: fd is ours and open.
        Ok(Stop { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub(crate) fn trigger(&self) {
        let one: u64 = 1;
        // SAFETY: an eventfd write takes 8 bytes. It cannot fail short of overflow.
        unsafe { libc::write(self.fd.as_raw_fd(), &one as *const _ as *const libc::c_void, 8) };
    }
}

/// What woke [`wait`].
pub(crate) struct Ready {
    /// POLLERR per descriptor: a socket has errors queued (ICMP reports, with
    /// IP_RECVERR), or a TUN device went away.
    pub error: [bool; 2],
    pub stop: bool,
}

/// Blocks until one of `fds` (at most two) is readable or has an error, or `stop` was
/// triggered.
pub(crate) fn wait(fds: &[RawFd], stop: &Stop) -> io::Result<Ready> {
    let mut pfds = [libc::pollfd { fd: stop.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }; 3];
    for (p, &fd) in pfds[1..].iter_mut().zip(fds) {
        p.fd = fd;
    }
    let n = 1 + fds.len().min(2);
    loop {
        // SAFETY: pfds holds n valid pollfd.
        match cvt(unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, -1) }) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    Ok(Ready { error: [pfds[1].revents & bad != 0, pfds[2].revents & bad != 0], stop: pfds[0].revents != 0 })
}

/// Space for one control message carrying an int, 8-byte aligned as cmsghdr needs.
type Control = [u64; 4];

/// One received datagram of a [`RecvBatch`].
pub(crate) struct Received<'a> {
    pub data: &'a [u8],
    pub source: Option<IpAddr>,
    /// The datagram did not fit the buffer and was cut (MSG_TRUNC).
    pub truncated: bool,
    /// With UDP_GRO: the kernel merged datagrams of this size (the last may be shorter).
    pub segment_size: Option<usize>,
}

/// Buffers for `recvmmsg`: `count` datagrams of up to `size` bytes each, their source
/// addresses and control messages, allocated once.
pub(crate) struct RecvBatch {
    size: usize,
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<Control>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in iovs and hdrs point into the batch's own heap buffers,
// which move with it; nothing else holds them.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub(crate) fn new(count: usize, size: usize) -> RecvBatch {
        RecvBatch {
            size,
            bufs: vec![0; count * size],
            // SAFETY: plain data, zero is valid.
            names: vec![unsafe { zeroed() }; count],
            controls: vec![[0; 4]; count],
            iovs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; count],
            // SAFETY: plain data, zero is valid.
            hdrs: vec![unsafe { zeroed() }; count],
        }
    }

    /// Receives up to the batch's count of datagrams without blocking; `WouldBlock` if
    /// none is waiting.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let base = self.bufs.as_mut_ptr();
        for i in 0..self.hdrs.len() {
            // The kernel rewrites lengths on every call, so every field is set again.
            self.iovs[i] = libc::iovec {
                // SAFETY: i * size stays inside bufs.
                iov_base: unsafe { base.add(i * self.size) }.cast(),
                iov_len: self.size,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i]) as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_controllen = size_of::<Control>();
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        cvt(n).map(|n| n as usize)
    }

    /// The bytes of datagram `i` of the last [`recv`](Self::recv), to change in place.
    pub(crate) fn data_mut(&mut self, i: usize) -> &mut [u8] {
        let len = (self.hdrs[i].msg_len as usize).min(self.size);
        &mut self.bufs[i * self.size..i * self.size + len]
    }

    /// Datagram `i` of the last [`recv`](Self::recv).
    pub(crate) fn get(&self, i: usize) -> Received<'_> {
        let m = &self.hdrs[i];
        let len = (m.msg_len as usize).min(self.size);
        let mut segment_size = None;
        // SAFETY: the header and its control buffer were filled by the kernel; the CMSG
        // macros stay within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&m.msg_hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                    segment_size = usize::try_from(v).ok().filter(|&s| s > 0);
                }
                c = libc::CMSG_NXTHDR(&m.msg_hdr, c);
            }
        }
        Received {
            data: &self.bufs[i * self.size..i * self.size + len],
            source: ip_of(&self.names[i], m.msg_hdr.msg_namelen),
            truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            segment_size,
        }
    }
}

/// Reads and discards everything in a socket's error queue (IP_RECVERR reports);
/// returns how many there were.
pub(crate) fn drain_errors(fd: RawFd) -> usize {
    let mut buf = [0u8; 256];
    let mut control: [u64; 32] = [0; 32];
    let mut n = 0;
    loop {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: plain data, zero is valid.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 32]>();
        // SAFETY: msg points at live local buffers.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if r < 0 {
            return n;
        }
        n += 1;
    }
}

/// Outgoing messages for `sendmmsg`, each made of pieces and, with a segment size, cut by
/// the kernel into datagrams of that size (UDP GSO; the last one may be shorter).
/// Reused between batches.
pub(crate) struct SendBatch {
    iovs: Vec<libc::iovec>,
    /// (first piece, piece count, destination, segment size) of each message.
    msgs: Vec<(usize, usize, SockAddr, Option<u16>)>,
    hdrs: Vec<libc::mmsghdr>,
    controls: Vec<Control>,
}

// SAFETY: the iovecs point at buffers the owning thread fills and sends before it
// touches them again; the batch is emptied after each send.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub(crate) fn new() -> SendBatch {
        SendBatch { iovs: Vec::new(), msgs: Vec::new(), hdrs: Vec::new(), controls: Vec::new() }
    }

    /// Adds a message; the pieces' memory must stay untouched until [`send`](Self::send).
    pub(crate) fn push<'p>(
        &mut self,
        pieces: impl IntoIterator<Item = &'p [u8]>,
        to: &SockAddr,
        segment_size: Option<u16>,
    ) {
        let first = self.iovs.len();
        for p in pieces {
            // A piece that continues the last one extends it.
            if let Some(last) = self.iovs[first..].last_mut() {
                if (last.iov_base as *const u8).wrapping_add(last.iov_len) == p.as_ptr() {
                    last.iov_len += p.len();
                    continue;
                }
            }
            self.iovs.push(libc::iovec { iov_base: p.as_ptr() as *mut libc::c_void, iov_len: p.len() });
        }
        self.msgs.push((first, self.iovs.len() - first, *to, segment_size));
    }

    /// Sends every message, going on past failures: a message that fails with an
    /// "unreachable" error is tried once more (see [`is_unreachable`]), and each message
    /// that finally fails is passed to `on_drop` with its index and error. Empties the
    /// batch; returns how many were sent.
    pub(crate) fn send(&mut self, fd: RawFd, mut on_drop: impl FnMut(usize, io::Error)) -> usize {
        self.hdrs.clear();
        self.controls.clear();
        self.controls.resize(self.msgs.len(), [0; 4]);
        for (i, (first, count, to, segment_size)) in self.msgs.iter().enumerate() {
            // SAFETY: plain data, zero is valid.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = to.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = to.len();
            h.msg_hdr.msg_iov = self.iovs[*first..].as_mut_ptr();
            h.msg_hdr.msg_iovlen = *count;
            if let Some(size) = segment_size {
                h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE/LEN are pure arithmetic; the control buffer is large
                // enough for one u16 payload, and CMSG_FIRSTHDR of it is its start.
                unsafe {
                    h.msg_hdr.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as usize;
                    let c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, *size);
                }
            }
            self.hdrs.push(h);
        }
        let mut sent = 0;
        let mut i = 0;
        let mut retried = false;
        while i < self.hdrs.len() {
            // SAFETY: the headers point at self's iovecs, addresses and control buffers and
            // at the caller's buffers, all alive here.
            let n =
                unsafe { libc::sendmmsg(fd, self.hdrs[i..].as_mut_ptr(), (self.hdrs.len() - i) as libc::c_uint, 0) };
            if n > 0 {
                sent += n as usize;
                i += n as usize;
                retried = false;
                continue;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if is_unreachable(&e) && !retried {
                retried = true;
                continue;
            }
            on_drop(i, e);
            retried = false;
            i += 1;
        }
        self.iovs.clear();
        self.msgs.clear();
        sent
    }
}

/// The errors that say a peer cannot be reached. With IP_RECVERR an ICMP error about one
/// datagram is reported by the socket's next send, whichever peer that is for, so a
/// send failing this way is worth one more try: the second failure is its own.
pub(crate) fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for s in ["192.168.1.2:8285", "[fd00::1]:8285"] {
            let addr: SocketAddr = s.parse().unwrap();
            let sa = SockAddr::new(addr);
            assert_eq!(ip_of(&sa.storage, sa.len), Some(addr.ip()));
        }
        // SAFETY: plain data.
        let unknown: libc::sockaddr_storage = unsafe { zeroed() };
        assert_eq!(ip_of(&unknown, 16), None);
    }
}
