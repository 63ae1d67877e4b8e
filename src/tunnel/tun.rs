//! TUN devices: creating the persistent device netlab owns, deleting it, and attaching a
//! forwarder's queues to it; plus the virtio-net header every packet through it carries.
//!
//! # The flags: `IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR`
//!
//! [`FLAGS`] is used both when netlab creates the device and when a forwarder attaches,
//! because the kernel refuses (EINVAL) to attach a queue whose `IFF_MULTI_QUEUE` differs
//! from the device's, and takes the other feature flags from the first queue attached.
//! The same device is what `ip tuntap add dev NAME mode tun multi_queue vnet_hdr` makes.
//!
//! - `IFF_TUN`, `IFF_NO_PI`: layer-3 packets, with no 4-byte packet-information prefix
//!   (the IP version is in the packet itself).
//! - `IFF_VNET_HDR`: every read and write starts with a 10-byte `virtio_net_hdr`. This is
//!   what lets the forwarder turn on TUN offloads (`TUNSETOFFLOAD` with checksum and TSO):
//!   the kernel then hands over TCP super-packets of up to 64 KiB with their checksum not
//!   yet computed, and accepts such super-packets on write. One read and one write per
//!   64 KiB instead of per 1.4 KB packet is what makes a userspace tunnel fast.
//! - `IFF_MULTI_QUEUE`: one file descriptor per queue; the kernel spreads flows over the
//!   queues by hash, so a forwarder can read with one thread per queue. It also lets a
//!   restarted forwarder attach again while the device stays.
//!
//! The device is created persistent (`TUNSETPERSIST`), so it outlives the creating file
//! descriptor and any forwarder; with no queue attached it has no carrier and drops what
//! is routed to it. Its `gso_max_size` must stay at the default 64 KiB (no BIG TCP): a
//! forwarder reads at most that much per packet.

use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use libc::c_short;

/// The TUN flags netlab creates its devices with and forwarders attach with.
pub const FLAGS: c_short = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE | libc::IFF_VNET_HDR) as c_short;

/// The offloads a forwarder turns on: checksum offload and TCP segmentation for IPv4
/// and IPv6 (with ECN). No UDP segmentation (USO): inner UDP GSO packets are split by the
/// kernel before they reach the device.
pub(crate) const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

/// Creates a persistent TUN device with [`FLAGS`] in the calling thread's network
/// namespace (the namespace `/dev/net/tun` is opened in decides it). Fails with
/// `AlreadyExists` if any device of that name exists. Mtu, address, alias and up are
/// set separately, over netlink.
pub fn create_persistent(name: &str) -> io::Result<()> {
    let excl = FLAGS | libc::IFF_TUN_EXCL as c_short;
    let file = c_name(name).and_then(|c| open_tun(&c, excl)).map_err(|e| match e.raw_os_error() {
        Some(libc::EBUSY) => {
            io::Error::new(io::ErrorKind::AlreadyExists, format!("a device named {name} already exists"))
        }
        _ => context(e, format!("cannot create TUN device {name}")),
    })?;
    set_persist(&file, true).map_err(|e| context(e, format!("cannot make TUN device {name} persistent")))
}

/// Deletes a persistent TUN device made by [`create_persistent`]: it goes away once the
/// last forwarder queue on it is closed. `NotFound` if there is no such device.
pub fn delete_persistent(name: &str) -> io::Result<()> {
    let c = c_name(name)?;
    require_exists(&c)?;
    let file = open_tun(&c, FLAGS).map_err(|e| attach_error(name, e))?;
    set_persist(&file, false).map_err(|e| context(e, format!("cannot delete TUN device {name}")))
}

/// One queue of a TUN device, opened by [`attach`]: non-blocking, offloads on.
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
}

/// Attaches `queues` queues to the existing TUN device `name` in the calling thread's
/// network namespace and turns the offloads on. Never creates a device: a missing one is
/// `NotFound`.
pub fn attach(name: &str, queues: usize) -> io::Result<Vec<Queue>> {
    let c = c_name(name)?;
    require_exists(&c)?;
    let mut out = Vec::with_capacity(queues);
    for _ in 0..queues.max(1) {
        let file = open_tun(&c, FLAGS).map_err(|e| attach_error(name, e))?;
        let fd = file.as_raw_fd();
        // The virtio header's fields are little-endian whatever the host's order.
        let le: libc::c_int = 1;
        ioctl(fd, libc::TUNSETVNETLE, &le as *const _ as usize)
            .map_err(|e| context(e, format!("cannot set little-endian virtio headers on {name}")))?;
        ioctl(fd, libc::TUNSETOFFLOAD, OFFLOADS as usize)
            .map_err(|e| context(e, format!("cannot turn on offloads of {name}")))?;
        out.push(Queue { fd: file.into() });
    }
    Ok(out)
}

impl Queue {
    /// Reads one packet with its virtio header; `WouldBlock` when there is none.
    #[inline]
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        super::sys::cvt_size(n)
    }

    /// Writes one packet given as pieces, the first of which is its virtio header.
    #[inline]
    pub(crate) fn writev(&self, iov: &[libc::iovec]) -> io::Result<usize> {
        // SAFETY: every iovec points at memory the caller keeps alive for the call.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        super::sys::cvt_size(n)
    }
}

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A device name as the kernel takes it (a C string), once it passes the check every
/// interface name of a topology passes; `InvalidInput` if not (a NUL inside, too).
fn c_name(name: &str) -> io::Result<CString> {
    crate::topology::names::check_ifname(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(CString::new(name)?)
}

fn require_exists(name: &CStr) -> io::Result<()> {
    nix::net::if_::if_nametoindex(name).map(drop).map_err(|_| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "there is no device {} in this network namespace (netlab creates the TUN device first)",
                name.to_string_lossy()
            ),
        )
    })
}

/// Opens `/dev/net/tun` non-blocking (as a queue is read; std adds O_CLOEXEC) and
/// attaches it to `name` with `flags`.
fn open_tun(name: &CStr, flags: c_short) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|e| context(e, "cannot open /dev/net/tun".into()))?;
    // SAFETY: ifreq is plain data; all zeros is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(name.to_bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = flags;
    ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut ifr as *mut _ as usize)?;
    Ok(file)
}

fn set_persist(file: &File, on: bool) -> io::Result<()> {
    ioctl(file.as_raw_fd(), libc::TUNSETPERSIST, usize::from(on))
}

fn ioctl(fd: RawFd, request: libc::Ioctl, arg: usize) -> io::Result<()> {
    // SAFETY: each caller passes the argument type its request expects (a pointer to an
    // ifreq or an int, or an integer value).
    super::sys::cvt(unsafe { libc::ioctl(fd, request, arg) }).map(|_| ())
}

fn attach_error(name: &str, e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EINVAL) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot attach to {name}: it is not a TUN device made with netlab's flags \
                 (tun, no_pi, multi_queue, vnet_hdr); `ip tuntap add dev {name} mode tun multi_queue vnet_hdr` \
                 makes one"
            ),
        ),
        Some(libc::EBUSY) => {
            io::Error::new(e.kind(), format!("cannot attach to {name}: it is busy (single-queue and in use)"))
        }
        Some(libc::EPERM) => {
            io::Error::new(e.kind(), format!("cannot attach to {name}: permission denied (needs CAP_NET_ADMIN)"))
        }
        _ => context(e, format!("cannot attach to {name}")),
    }
}

pub(crate) fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `struct virtio_net_hdr` (10 bytes, little-endian after `TUNSETVNETLE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Length of the headers (IP + TCP) of a GSO packet.
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS) of a GSO packet.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header) when `NEEDS_CSUM` is set.
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum field is.
    pub csum_offset: u16,
}

pub(crate) const VNET_HDR_LEN: usize = 10;
pub(crate) const VNET_F_NEEDS_CSUM: u8 = 1;
pub(crate) const GSO_NONE: u8 = 0;
pub(crate) const GSO_TCPV4: u8 = 1;
pub(crate) const GSO_TCPV6: u8 = 4;
pub(crate) const GSO_ECN: u8 = 0x80;

impl VnetHdr {
    pub(crate) fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    pub(crate) fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_the_documented_ones() {
        // The values are the kernel's ABI (linux/if_tun.h); netlab's executor and
        // `ip tuntap ... multi_queue vnet_hdr` must produce the same device.
        assert_eq!(FLAGS as u16, 0x0001 | 0x1000 | 0x0100 | 0x4000);
    }

    #[test]
    fn virtio_header_round_trips_little_endian() {
        let h = VnetHdr { flags: 1, gso_type: GSO_TCPV4, hdr_len: 52, gso_size: 1420, csum_start: 20, csum_offset: 16 };
        let b = h.encode();
        assert_eq!(b, [1, 1, 52, 0, 0x8c, 0x05, 20, 0, 16, 0]);
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(VnetHdr::parse(&b[..9]), None);
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        for name in ["", "a/b", "sixteen-bytes-xx", "a b", ".", ".."] {
            assert_eq!(create_persistent(name).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
    }
}
