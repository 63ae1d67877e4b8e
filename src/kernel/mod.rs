//! The kernel side: applies [`Op`]s and reads back what is there.
//!
//! [`Kernel`] is the seam: what netlab needs of a kernel (apply a batch of ops, read the
//! values a later restore puts back, look at a lab or a part of it). [`Linux`] is the real
//! one (rtnetlink, namespaces, /proc/sys, /etc/netns, nft, forwarder and relay processes,
//! the lab's programs through its supervisor); tests use an in-memory one (`fake`). How
//! each kind of op is carried out is decided in one place, `step`.
//!
//! This module executes what it is told: deciding what to do, recording it and checking
//! ownership belong to `apply`, `diff`, `ownership` and `state`, which it never calls.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

#[cfg(test)]
pub mod fake;
pub mod files;
mod firewall;
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

use std::collections::HashMap;
use std::fmt;

use nix::errno::Errno;

use crate::firewall::live::NftError;
use crate::live::{LiveLab, NsId};
use crate::plan::Op;
use crate::topology::Netns;

/// Which part of a lab to look at.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything the ops name.
    All,
    /// Only what is in these namespaces (`Netns::Host` for the host's links, addresses,
    /// routes and sysctls; a named one for its links, addresses, routes, sysctls, its
    /// /etc/netns files and its forwarders), and of addresses and routes only those of
    /// the families given: what a run touched, read back.
    Only(&'a HashMap<Netns, Families>),
}

/// Which address families' addresses and routes to read (links are always read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub const BOTH: Families = Families { ipv4: true, ipv6: true };

    /// The family of `addr`, alone.
    pub fn of(addr: std::net::IpAddr) -> Families {
        Families { ipv4: addr.is_ipv4(), ipv6: addr.is_ipv6() }
    }

    pub fn with(self, other: Families) -> Families {
        Families { ipv4: self.ipv4 || other.ipv4, ipv6: self.ipv6 || other.ipv6 }
    }
}

impl Scope<'_> {
    pub fn covers(&self, netns: &Netns) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(map) => map.contains_key(netns),
        }
    }

    /// The same, for a namespace by its name.
    pub fn covers_name(&self, name: &str) -> bool {
        self.covers(&Netns::Named(name.to_string()))
    }

    /// The families whose addresses and routes to read in `netns`.
    pub fn families(&self, netns: &Netns) -> Families {
        match self {
            Scope::All => Families::BOTH,
            Scope::Only(map) => map.get(netns).copied().unwrap_or_default(),
        }
    }
}

/// What netlab needs of a kernel: apply ops, read what a restore puts back, and look at
/// a lab. Generic, not a trait object: the commands use [`Linux`], and tests an in-memory
/// kernel that records what it was asked.
pub trait Kernel {
    /// Looks at everything `ops` (a plan's and a record's) touch, within `scope`: which
    /// of their namespaces exist and whose they are, their links, addresses and routes,
    /// the host's, sysctls, /etc/netns files and forwarders (see `observe::Look`).
    fn observe(&mut self, ops: &[&Op], scope: Scope) -> Result<LiveLab, OpError>;

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
    /// `nft` refused a change, or could not be run.
    Nft(NftError),
    /// A process of the lab's, or a command, that did not start, get ready, succeed or stop.
    Process(crate::process::ProcessError),
    /// An I/O error without an errno, in its own words.
    Io(String),
}

impl OpError {
    /// The kernel says the object is not there: for a removal, that is success.
    pub fn is_gone(&self) -> bool {
        match self {
            OpError::Errno(e) => {
                matches!(e, Errno::ENODEV | Errno::ENOENT | Errno::ESRCH | Errno::EADDRNOTAVAIL | Errno::ENXIO)
            }
            OpError::Nft(e) => e.is_absent(),
            OpError::NotOpen(_)
            | OpError::NotAMac(_)
            | OpError::Tunnel(_)
            | OpError::Forwarder(_)
            | OpError::Process(_)
            | OpError::Io(_) => false,
        }
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
            OpError::Nft(e) => e.fmt(f),
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

impl From<NftError> for OpError {
    fn from(e: NftError) -> Self {
        OpError::Nft(e)
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
