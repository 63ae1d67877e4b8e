//! The relay's packet sockets, and waiting on them with a deadline.
//!
//! One `AF_PACKET`/`SOCK_RAW` socket per relay end, bound to the device, carries whole
//! Ethernet frames both ways:
//! - `PACKET_VNET_HDR`: every frame read and written starts with a virtio header (see
//!   [`super::super::frame`]), so GSO super-packets and pending checksums cross intact.
//! - `PACKET_IGNORE_OUTGOING` (Linux 4.20): what the relay sends out of an end is not
//!   read back from it (an `ETH_P_ALL` socket sees both directions otherwise, and would
//!   send every frame back where it came from).
//! - Bound with protocol 0 first and then to the device with `ETH_P_ALL`: a packet
//!   socket made with a protocol receives from every device until it is bound, and those
//!   frames would go through the relay.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::tunnel::sys::{cvt, set_int_option, SockAddr};

/// linux/if_packet.h socket options (not all in the libc crate).
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Socket buffers: room for a burst of super-packets while the relay is busy.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// A packet socket bound to one device.
pub struct PacketSocket {
    fd: OwnedFd,
    /// Where frames are sent: the device itself.
    pub to: SockAddr,
    pub name: String,
}

impl PacketSocket {
    /// Opens a non-blocking packet socket on device `name` of the calling thread's network
    /// namespace (needs CAP_NET_RAW there).
    pub fn open(name: &str) -> io::Result<PacketSocket> {
        crate::topology::names::check_ifname(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let ifindex = nix::net::if_::if_nametoindex(CString::new(name)?.as_c_str()).map_err(|_| {
            io::Error::new(io::ErrorKind::NotFound, format!("there is no device {name} in this network namespace"))
        })? as i32;
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{name}: {what}: {e}"));
        // SAFETY: socket returns a new descriptor or -1.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
        let raw = cvt(raw).map_err(|e| context("cannot open a packet socket (needs CAP_NET_RAW)", e))?;
        // SAFETY: raw is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_int_option(raw, libc::SOL_PACKET, PACKET_VNET_HDR, 1)
            .map_err(|e| context("cannot turn on virtio headers (PACKET_VNET_HDR)", e))?;
        set_int_option(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            .map_err(|e| context("cannot ignore outgoing frames (PACKET_IGNORE_OUTGOING needs Linux 4.20)", e))?;
        for (force, plain) in [(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF), (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)] {
            // The FORCE variants pass the sysctl limits but need CAP_NET_ADMIN.
            if set_int_option(raw, libc::SOL_SOCKET, force, SOCKET_BUFFER).is_err() {
                let _ = set_int_option(raw, libc::SOL_SOCKET, plain, SOCKET_BUFFER);
            }
        }
        let to = SockAddr::link(ifindex);
        // SAFETY: `to` is a valid sockaddr_ll of the stated length.
        cvt(unsafe { libc::bind(raw, to.as_ptr(), to.len()) }).map_err(|e| context("cannot bind", e))?;
        Ok(PacketSocket { fd, to, name: name.to_owned() })
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An eventfd to wake the relay's loop from another thread; reading it resets it.
pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    pub fn new() -> io::Result<Wake> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: fd is ours and open.
        Ok(Wake { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: an eventfd write takes 8 bytes; it cannot fail short of overflow.
        unsafe { libc::write(self.fd.as_raw_fd(), &one as *const _ as *const libc::c_void, 8) };
    }

    pub fn reset(&self) {
        let mut n: u64 = 0;
        // SAFETY: an eventfd read gives 8 bytes; EAGAIN when not woken is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), &mut n as *mut _ as *mut libc::c_void, 8) };
    }
}

impl AsRawFd for Wake {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Blocks until one of `fds` is readable (or has an error) or `timeout` passes (`None`:
/// no deadline); returns which were ready. Precise to the thread's timer slack.
pub fn wait<const N: usize>(fds: [RawFd; N], timeout: Option<Duration>) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: pfds holds N valid pollfd; tsp is null or a live timespec.
        match cvt(unsafe { libc::ppoll(pfds.as_mut_ptr(), N as libc::nfds_t, tsp, std::ptr::null()) }) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(pfds.map(|p| p.revents != 0))
}
