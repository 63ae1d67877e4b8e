//! The lab's firewall as nftables knows it: Docker's port publishing, outbound NAT and
//! network isolation, as data and as the engine that talks to nftables. Nothing here knows
//! netlab's own types (topology, ops, the kernel seam): `topology` parses `ports` with
//! [`ports`], `plan` turns a lab into [`ruleset`]'s tables and rules and those into ops,
//! and `kernel` carries the ops out with [`live`] and [`conntrack`].
//!
//! - [`ports`]: Docker's `-p` syntax, one binding per port, and why one is refused;
//! - [`groups`]: the device-group classes that let every lab's forwarding guard agree;
//! - [`ruleset`]: the lab's nat networks and ports in, its tables and rules out, each rule
//!   standing on its own and carrying its identity, and their `nft -f` text;
//! - [`live`]: `nft` in a namespace: a script in one transaction, a table read back into
//!   rule identities and handles;
//! - [`hostports`]: which host ports are listened on, and picking a free one;
//! - [`warnings`]: another firewall on the host that would drop the lab's forwarded traffic;
//! - [`conntrack`]: deleting the lab's conntrack entries (ctnetlink).

pub mod conntrack;
pub mod groups;
pub mod hostports;
pub mod live;
mod netns;

pub use netns::NetnsPath;
pub mod ports;
pub mod ruleset;
pub mod warnings;
