//! The engines that make a link [`Impairment`] so (the model itself, with its value forms
//! and text form, is `crate::impairment`, re-exported here).
//!
//! - The **kernel** engine is a netem qdisc (or tbf, for a rate alone, on kernels without
//!   netem): [`netem`] encodes the rtnetlink requests byte for byte as tc does, with
//!   netem's delay tables from [`dist`], and reads the kernel's dumps back.
//! - The **userspace** engine is the [`relay`]: a process that carries frames between two
//!   veth ends over AF_PACKET sockets, each direction through its own delay [`line`],
//!   whose every random choice comes from the [`fate`] of the frame, so that with a
//!   `seed` the same traffic meets the same fate on every run.
//!
//! This module owns no topology syntax, ops or plans: `plan` and `kernel` call it.

pub mod dist;
pub mod fate;
pub(crate) mod frame;
pub(crate) mod line;
pub mod netem;
pub mod relay;

pub use crate::impairment::{value, Distribution, Impairment, Percent, DEFAULT_LIMIT, KEYS};
pub use line::Tally;
