//! The kernel side: applies [`Op`]s and reads back what is there.
//!
//! [`Kernel`] is the seam: what `apply` needs of a kernel (apply a batch of ops, read the
//! values a later restore puts back). [`Linux`] is the real one (rtnetlink, namespaces,
//! /proc/sys, /etc/netns, nft, forwarder and relay processes, the lab's programs through
//! its supervisor); tests use an in-memory one (`fake`). How each kind of op is carried
//! out is decided in one place, `step`.
//!
//! This module executes what it is told: deciding what to do, recording it and checking
//! ownership belong to `apply`, `diff`, `ownership` and `state`, which it never calls.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

#[cfg(test)]
pub mod fake;
pub mod files;
pub mod forwarder;
mod linux;
mod netlink;
pub mod netns;
mod nft;
pub mod observe;
pub mod probe;
mod programs;
mod step;
pub mod sysctl;

pub use linux::Linux;

use std::fmt;

use nix::errno::Errno;

use crate::live::NsId;
use crate::plan::Op;
use crate::topology::Netns;

/// What `apply` needs of a kernel. Generic, not a trait object: `up`, `down` and `link`
/// use [`Linux`], and tests an in-memory kernel that records what it was asked.
pub trait Kernel {
    /// Applies a batch of ops that do not depend on each other, all at once, and returns
    /// each op's outcome in order. `previous` gives the value a `sysctl_restore` puts back
    /// (`None`: leave the value alone).
    fn apply(&mut self, ops: &[Op], previous: &dyn Fn(&Netns, &str) -> Option<String>)
        -> Vec<Result<Applied, OpError>>;

    /// Reads sysctls, each in its namespace: what a `sysctl_set` is about to replace, for
    /// the record (and so for the restore).
    fn read_sysctls(&self, which: &[(Netns, String)]) -> Vec<Result<String, OpError>>;
}

/// Why one op failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The kernel refused it.
    Errno(Errno),
    /// A namespace the op needs is not open (it does not exist, or could not be entered).
    NotOpen(Netns),
    /// A MAC address the kernel cannot take.
    NotAMac(String),
    /// A tunnel device that cannot be asked for.
    Tunnel(netlink::build::TunnelError),
    /// A forwarder or relay process that did not start, does not stop, or refused a change.
    Forwarder(forwarder::ForwarderError),
    /// A process of the lab's, or a command, that did not start, get ready, succeed or stop.
    Process(crate::process::ProcessError),
    /// An I/O error without an errno, in its own words.
    Io(String),
}

impl OpError {
    /// The kernel says the object is not there: for a removal, that is success.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            OpError::Errno(Errno::ENODEV | Errno::ENOENT | Errno::ESRCH | Errno::EADDRNOTAVAIL | Errno::ENXIO)
        )
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Errno(e) => write!(f, "{} ({e:?})", e.desc()),
            OpError::NotOpen(netns) => write!(f, "namespace {netns} is not open"),
            OpError::NotAMac(mac) => write!(f, "`{mac}` is not a MAC address"),
            OpError::Tunnel(netlink::build::TunnelError::MixedFamilies) => {
                f.write_str("vxlan local and remote must be of one IP version")
            }
            OpError::Tunnel(netlink::build::TunnelError::Ipv4Only) => f.write_str("ipip carries IPv4 only"),
            OpError::Forwarder(e) => e.fmt(f),
            OpError::Process(e) => e.fmt(f),
            OpError::Io(s) => f.write_str(s),
        }
    }
}

impl From<Errno> for OpError {
    fn from(e: Errno) -> Self {
        OpError::Errno(e)
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => OpError::Errno(Errno::from_raw(code)),
            None => OpError::Io(e.to_string()),
        }
    }
}

impl From<netlink::build::TunnelError> for OpError {
    fn from(e: netlink::build::TunnelError) -> Self {
        OpError::Tunnel(e)
    }
}

impl From<forwarder::ForwarderError> for OpError {
    fn from(e: forwarder::ForwarderError) -> Self {
        OpError::Forwarder(e)
    }
}

/// What applying an op found out that the record must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// A namespace was made; this is its identity.
    Netns(NsId),
}
