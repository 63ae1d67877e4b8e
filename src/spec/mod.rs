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
    #[serde(default, deserialize_with = "presized")]
    pub nodes: IndexMap<Sp<String>, Sp<NodeSpec>>,
    #[serde(default, deserialize_with = "presized")]
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
    #[serde(default, deserialize_with = "pairs")]
    pub sysctl: Pairs<Sp<String>, Sp<toml::Value>>,
    #[serde(default)]
    pub routes: Box<[Sp<RouteSpec>]>,
}

/// One `[nodes.X]`. The fields most nodes leave out are boxed or boxed slices, so that a
/// node that sets none of them costs 128 bytes, not 344: a generated lab of a million
/// nodes is a file of 16 MB, and every byte per node is a megabyte.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// `none` (the default), `host`, `container:NODE`, or the name of a `[networks.X]`.
    pub network: Option<Sp<String>>,
    /// Static address on a bridge network; otherwise the next free one is handed out.
    pub ip: Option<Box<Sp<String>>>,
    /// MTU of the node's `eth0` on its bridge network.
    pub mtu: Option<Box<Sp<u32>>>,
    #[serde(default)]
    pub routes: Box<[Sp<RouteSpec>]>,
    #[serde(default, deserialize_with = "pairs")]
    pub sysctl: Pairs<Sp<String>, Sp<toml::Value>>,
    pub hostname: Option<Box<Sp<String>>>,
    #[serde(default)]
    pub dns: Box<[Sp<String>]>,
    #[serde(default, deserialize_with = "pairs")]
    pub hosts: Pairs<Sp<String>, Sp<String>>,
    /// Published ports, in Docker's `-p` syntax: `[host_ip:][host_port]:node_port[/proto]`.
    #[serde(default)]
    pub ports: Box<[Sp<String>]>,
    /// Bridge mode: what both directions of the node's link to its network do to frames.
    pub impair: Option<Box<Sp<ImpairSpec>>>,
    /// One-shot commands, run in order once the node's namespace is made and every
    /// process of the lab is ready. This and `processes` are boxed twice: 8 bytes each for
    /// a node without them (see [`NodeSpec::exec`]).
    pub exec: Option<Box<Vec<Sp<String>>>>,
    /// Long-running processes (`[[nodes.X.processes]]`).
    pub processes: Option<Box<Vec<Sp<ProcessSpec>>>>,
}

impl NodeSpec {
    /// The node's `exec` commands (none when it has no `exec`).
    pub fn exec(&self) -> &[Sp<String>] {
        self.exec.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The node's `[[nodes.X.processes]]`.
    pub fn processes(&self) -> &[Sp<ProcessSpec>] {
        self.processes.as_deref().map_or(&[], Vec::as_slice)
    }
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
    #[serde(default, deserialize_with = "pairs")]
    pub env: Pairs<Sp<String>, Sp<String>>,
}

/// A table's entries in file order, as a list (a third of an `IndexMap`'s size when empty,
/// and the keys are never looked up: toml already refuses a key given twice).
pub type Pairs<K, V> = Box<[(K, V)]>;

fn pairs<'de, D, K, V>(d: D) -> Result<Pairs<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct Visitor<K, V>(std::marker::PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<K, V> {
        type Value = Pairs<K, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(entries.into_boxed_slice())
        }
    }
    d.deserialize_map(Visitor(std::marker::PhantomData))
}

/// A map sized once from the number of entries toml already holds, instead of grown by
/// doubling (serde's own IndexMap caps its first allocation at 1 MiB): for a million
/// nodes the doubling kept the old and new tables alive at once.
fn presized<'de, D, V>(d: D) -> Result<IndexMap<Sp<String>, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Visitor<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
        type Value = IndexMap<Sp<String>, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = IndexMap::with_capacity(map.size_hint().unwrap_or(0));
            while let Some((key, value)) = map.next_entry()? {
                entries.insert(key, value);
            }
            Ok(entries)
        }
    }
    d.deserialize_map(Visitor(std::marker::PhantomData))
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
    /// A Docker bridge network: outbound masquerade, forwarding, isolation, published ports.
    pub nat: Option<Sp<bool>>,
    /// Traffic between the network's nodes (Docker's enable_icc); `false` drops it.
    pub icc: Option<Sp<bool>>,
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
