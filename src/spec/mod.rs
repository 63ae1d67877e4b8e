//! The topology file as written: serde types that mirror the TOML, with the byte span of
//! every value a person could get wrong.
//!
//! This module only parses. It checks shapes (unknown fields, wrong types) because serde
//! does that for free, but every meaning (does this CIDR parse, does this node exist) is
//! left to `topology`, which can report all such mistakes at once instead of stopping at
//! the first one. Addresses are therefore kept as strings here.

mod impair;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub use impair::{ImpairMode, ImpairSpec, ImpairTable};

/// A string (or other value) together with where it stands in the file.
pub type Sp<T> = Spanned<T>;

/// A whole topology file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub lab: Sp<LabSpec>,
    #[serde(default)]
    pub host: HostSpec,
    /// In file order: bridge addresses are handed out in the order a person reads them.
    #[serde(default)]
    pub nodes: IndexMap<Sp<String>, Sp<NodeSpec>>,
    #[serde(default)]
    pub networks: IndexMap<Sp<String>, Sp<NetworkSpec>>,
    #[serde(default)]
    pub links: Vec<Sp<LinkSpec>>,
    #[serde(default)]
    pub tunnels: Vec<Sp<TunnelSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    pub name: Sp<String>,
    /// Prefix of every namespace name; `None` means `"<name>-"`.
    pub prefix: Option<Sp<String>>,
}

/// The root namespace netlab runs in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    #[serde(default)]
    pub sysctl: IndexMap<Sp<String>, Sp<toml::Value>>,
    #[serde(default)]
    pub routes: Vec<Sp<RouteSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// `none` (the default), `host`, `container:NODE`, or the name of a `[networks.X]`.
    pub network: Option<Sp<String>>,
    /// Static address on a bridge network; otherwise the next free one is handed out.
    pub ip: Option<Sp<String>>,
    /// MTU of the node's `eth0` on its bridge network.
    pub mtu: Option<Sp<u32>>,
    #[serde(default)]
    pub routes: Vec<Sp<RouteSpec>>,
    #[serde(default)]
    pub sysctl: IndexMap<Sp<String>, Sp<toml::Value>>,
    pub hostname: Option<Sp<String>>,
    #[serde(default)]
    pub dns: Vec<Sp<String>>,
    #[serde(default)]
    pub hosts: IndexMap<Sp<String>, Sp<String>>,
    /// Bridge mode: what both directions of the node's link to its network do to frames.
    pub impair: Option<Sp<ImpairSpec>>,
    /// One-shot commands, run in order once the node's namespace is made and every
    /// process of the lab is ready.
    #[serde(default)]
    pub exec: Vec<Sp<String>>,
    /// Long-running processes (`[[nodes.X.processes]]`).
    #[serde(default)]
    pub processes: Vec<Sp<ProcessSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Unique in the node; default: the program's name.
    pub name: Option<Sp<String>>,
    /// Run with `sh -c` inside the node.
    pub cmd: Sp<String>,
    /// `tcp:PORT`, `udp:PORT` or `cmd:<shell command>`.
    pub ready: Option<Sp<String>>,
    /// Like `30s` or `500ms`.
    pub ready_timeout: Option<Sp<String>>,
    pub user: Option<Sp<String>>,
    #[serde(default)]
    pub env: IndexMap<Sp<String>, Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// A CIDR, or `default`.
    pub to: Sp<String>,
    pub via: Option<Sp<String>>,
    pub dev: Option<Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// `["node:ifname", "node:ifname"]`; `host` names the root namespace.
    pub endpoints: Sp<Vec<Sp<String>>>,
    /// One CIDR per endpoint, `""` for none.
    pub addresses: Option<Sp<Vec<Sp<String>>>>,
    pub mtu: Option<Sp<u32>>,
    /// One MAC per endpoint, `""` for a random one.
    pub mac: Option<Sp<Vec<Sp<String>>>>,
    /// What the link does to frames: one table for both ends, or one per end.
    pub impair: Option<Sp<ImpairSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub subnet: Sp<String>,
    pub gateway: Option<Sp<String>>,
    pub device: Option<Sp<String>>,
    /// The node whose namespace holds the bridge (cni0 on a Kubernetes node).
    #[serde(rename = "in")]
    pub in_node: Option<Sp<String>>,
    pub mtu: Option<Sp<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    Ipip,
    Vxlan,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpipMode {
    Auto,
    Kernel,
    Userspace,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSpec {
    pub kind: Sp<TunnelKind>,
    pub endpoints: Sp<Vec<Sp<String>>>,
    /// The outer (local) address of each endpoint.
    pub underlay: Sp<Vec<Sp<String>>>,
    /// The inner address of each endpoint: a bare address is point-to-point with the other
    /// end's (`ip addr add A peer B`), a CIDR is a plain address.
    pub addresses: Option<Sp<Vec<Sp<String>>>>,
    pub vni: Option<Sp<u32>>,
    pub port: Option<Sp<u16>>,
    /// udp only: the subnet each endpoint owns (the forwarder picks a peer by it).
    pub subnets: Option<Sp<Vec<Sp<String>>>>,
    pub mtu: Option<Sp<u32>>,
    /// ipip only: the kernel's ipip, netlab's userspace forwarder, or the kernel's when it
    /// has it (the default).
    pub mode: Option<Sp<IpipMode>>,
}

/// Parses TOML text into a [`Spec`]. The error keeps toml's span and message.
pub fn parse(text: &str) -> Result<Spec, toml::de::Error> {
    toml::from_str(text)
}
