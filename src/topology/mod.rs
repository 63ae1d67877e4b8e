//! The resolved lab: every name checked, every reference followed, every address handed
//! out. A [`Topology`] is what the file means, with nothing left to look up; `plan` only
//! has to put it in order.
//!
//! Resolution never touches the kernel or the file system: it is a pure function of the
//! parsed file, so `validate`, `plan` and `graph` need no privileges.

mod ipam;
pub mod names;
mod resolve;

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

pub use resolve::resolve;

use crate::diagnostics::Invalid;

/// Parses and resolves a topology file's text; `path` is only used in messages.
pub fn load_str(path: &str, text: &str) -> Result<Topology, Invalid> {
    let invalid = |problems| Invalid { path: path.to_string(), source: text.to_string(), problems };
    let spec = crate::spec::parse(text).map_err(|e| invalid(vec![parse_problem(&e)]))?;
    resolve(&spec).map_err(invalid)
}

fn parse_problem(e: &toml::de::Error) -> crate::diagnostics::Problem {
    let message = e.message().trim_end().to_string();
    let span = e.span().unwrap_or(0..0);
    let mut problem = crate::diagnostics::Problem::new(span, message.clone());
    // serde names the expected fields; point out the likely one.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((wrong, expected)) = rest.split_once('`') {
            let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            problem = problem.suggest(wrong, known);
        }
    }
    problem
}

/// A network namespace: the root one, or one with a name under /run/netns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Netns {
    Host,
    Named(String),
}

impl Netns {
    pub fn name(&self) -> Option<&str> {
        match self {
            Netns::Host => None,
            Netns::Named(n) => Some(n),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Host => f.write_str("host"),
            Netns::Named(n) => f.write_str(n),
        }
    }
}

/// JSON: the root namespace is `null`, any other its name.
impl Serialize for Netns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Netns::Host => s.serialize_none(),
            Netns::Named(n) => s.serialize_str(n),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub lab: String,
    /// Every `[nodes.X]`, in file order.
    pub nodes: Vec<Node>,
    /// The namespaces netlab creates, in file order.
    pub namespaces: Vec<Namespace>,
    /// Container-mode nodes: second names for another node's namespace.
    pub aliases: Vec<Alias>,
    pub host: HostConfig,
    pub bridges: Vec<Bridge>,
    pub veths: Vec<Veth>,
    pub tunnels: Vec<Tunnel>,
    /// `/etc/netns/<ns>/...` files, for `ip netns exec`.
    pub files: Vec<EtcFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub mode: Mode,
    /// Where the node's network stack lives (its own, its target's, or the host's).
    pub netns: Netns,
}

/// Docker's network modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Only `lo` (plus any `[[links]]` that name the node).
    None,
    /// The root namespace itself.
    Host,
    /// `eth0` on a bridge network, with an address from it.
    Bridge { network: String, address: IpNet },
    /// Another node's namespace under a second name.
    Container { target: String },
}

#[derive(Debug, Clone)]
pub struct Namespace {
    pub node: String,
    pub name: String,
    pub sysctls: Vec<Sysctl>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub node: String,
    pub name: String,
    /// The namespace this name also refers to.
    pub target: String,
}

#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    pub sysctls: Vec<Sysctl>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sysctl {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EtcFileKind {
    Hosts,
    ResolvConf,
}

impl EtcFileKind {
    pub fn file_name(self) -> &'static str {
        match self {
            EtcFileKind::Hosts => "hosts",
            EtcFileKind::ResolvConf => "resolv.conf",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EtcFile {
    pub netns: String,
    pub kind: EtcFileKind,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct Bridge {
    pub network: String,
    pub netns: Netns,
    pub device: String,
    /// The gateway address with the network's prefix length, on the bridge device.
    pub gateway: IpNet,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Veth {
    pub ends: [VethEnd; 2],
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct VethEnd {
    pub netns: Netns,
    pub name: String,
    pub address: Option<IpNet>,
    pub mac: Option<String>,
    /// The bridge this end is a port of.
    pub master: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Ipip,
    Vxlan { vni: u32, port: u16 },
    Udp { port: u16 },
}

#[derive(Debug, Clone)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub ends: Vec<TunnelEnd>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct TunnelEnd {
    pub netns: Netns,
    pub name: String,
    pub underlay: IpAddr,
    pub address: Option<IpNet>,
    /// Point-to-point peer address (`ip addr add A peer B`).
    pub peer: Option<IpAddr>,
    /// udp: the inner subnet this end owns.
    pub subnet: Option<IpNet>,
}

impl Topology {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
