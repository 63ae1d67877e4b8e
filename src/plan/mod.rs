//! The plan: an ordered list of [`Op`]s, netlab's one vocabulary for kernel changes.
//!
//! `plan` prints ops, `up` applies them, `down` applies the inverses of what `up` did in
//! reverse order, and a failed run rolls back the same way. A new kind of kernel change is
//! a new `Op` variant with its inverse, key and other properties (`op`), its place in the
//! compiled order (`compile`), its text and iproute2 forms (`text`, `ip`), and its one arm
//! in the kernel's executor: nothing else. Every other `match` over `Op` is exhaustive, so
//! the compiler names each place that has to decide about the new kind (the diff, which
//! compares it with what the kernel shows; the teardown).

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

mod compile;
mod device;
mod firewall;
mod impair;
pub mod ip;
mod op;
mod teardown;
pub mod text;

use serde::Serialize;

pub use crate::tunnel::Encap;
#[cfg(test)]
pub(crate) use compile::sysctl_device;
pub use compile::{compile, compile_for, compile_with, Capabilities};
pub use device::{DeviceKind, Feature};
pub use firewall::{HostFacts, PickKey, PublishedPort};
pub(crate) use op::forwarder_config;
pub use op::{Op, OpKey, Subject};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

/// An ordered list of ops for one lab.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Version of the JSON shape; bumped on incompatible changes.
    pub version: u32,
    pub lab: String,
    pub direction: Direction,
    /// Choices made for this machine (such as userspace ipip), as sentences.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
    pub ops: Vec<Op>,
    /// The ports the lab publishes, with the host ports picked for it (up plans only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ports: Vec<PublishedPort>,
}

pub const PLAN_FORMAT_VERSION: u32 = 1;

impl Plan {
    pub fn new(lab: &str, direction: Direction, ops: Vec<Op>) -> Plan {
        Plan {
            version: PLAN_FORMAT_VERSION,
            lab: lab.to_string(),
            direction,
            notes: Vec::new(),
            ops,
            ports: Vec::new(),
        }
    }
}
