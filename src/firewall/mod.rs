//! The lab's firewall: Docker's port publishing, outbound NAT and network isolation, on
//! nftables.
//!
//! Self-contained for now (the plan, diff and executor call into it once they are ready):
//! - [`ports`]: Docker's `-p` syntax, one binding per port, and why one is refused;
//! - [`groups`]: the device-group classes that let every lab's forwarding guard agree;
//! - [`ruleset`]: the lab's nat networks and ports in, its tables and rules out, as data
//!   and as `nft -f` text;
//! - [`live`]: the engine: applies a ruleset with `nft -f` in one transaction, reads a
//!   table back into the same rule identities, converges rule by rule, deletes;
//! - [`hostports`]: which host ports are listened on, and picking a free one;
//! - [`warnings`]: another firewall on the host that would drop the lab's forwarded traffic;
//! - [`conntrack`]: deleting the lab's conntrack entries at down (ctnetlink).

pub mod conntrack;
pub mod groups;
pub mod hostports;
pub mod live;
mod netns;

pub use netns::NetnsPath;
pub mod ports;
pub mod ruleset;
pub mod warnings;
