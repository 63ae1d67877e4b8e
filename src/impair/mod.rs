//! The engines that make a link [`Impairment`] so (the model itself, with its value forms
//! and text form, is `crate::impairment`, re-exported here).
//!
//! - The **kernel** engine is qdiscs and nftables drops ([`kernel`] says which does what):
//!   [`netem`] encodes the qdisc requests byte for byte as tc does (netem's delay tables
//!   from [`dist`]) and reads the kernel's dumps back; [`nft`] writes and reads the drops.
//! - The **userspace** engine is the [`relay`]: a process that carries frames between two
//!   veth ends over AF_PACKET sockets, each direction through its own delay [`line`],
//!   whose every random choice comes from the [`fate`] of the frame, so that with a
//!   `seed` the same traffic meets the same fate on every run.
//!
//! This module owns no topology syntax, ops or plans: `plan` and `kernel` call it.

pub mod dist;
pub mod fate;
pub(crate) mod frame;
pub mod kernel;
pub(crate) mod line;
pub mod netem;
pub mod nft;
pub mod relay;

pub use crate::impairment::{value, Distribution, Impairment, Percent, DEFAULT_LIMIT, KEYS};
pub use line::Tally;
