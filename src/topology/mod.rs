//! The resolved lab: every name checked, every reference followed, every address handed
//! out. A [`Topology`] is what the file means, with nothing left to look up; `plan` only
//! has to put it in order.
//!
//! Resolution never touches the kernel or the file system: it is a pure function of the
//! parsed file, so `validate`, `plan` and `graph` need no privileges.

mod ipam;
pub mod names;
mod processes;
mod resolve;
pub mod source;

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use processes::{format_duration, parse_duration, ExecCommand, Process, Ready, DEFAULT_READY_TIMEOUT};
pub use resolve::resolve;

use crate::diagnostics::{shown, Invalid, Problem};
use crate::impairment::Impairment;

/// Parses and resolves a topology file's text; `path` is only used in messages.
pub fn load_str(path: &str, text: &str) -> Result<Topology, Invalid> {
    let invalid = |problems| Invalid { path: path.to_string(), source: text.to_string(), problems };
    let spec = crate::spec::parse(text).map_err(|e| invalid(vec![parse_problem(text, &e)]))?;
    resolve(&spec).map_err(invalid)
}

/// A toml or serde error as a problem. Their wording is written for Rust programmers
/// (`expected u32`, `struct LabSpec`, `missing field`), so the common ones are put in the
/// file's terms, with what to write instead where that is known.
fn parse_problem(text: &str, e: &toml::de::Error) -> Problem {
    // One line: the first line of a problem is the greppable `error: path:line:col: ...`.
    let message = e.message().trim_end().lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let span = e.span().unwrap_or(0..0);
    let spanned = text.get(span.clone()).unwrap_or("");
    // serde names the expected fields and variants; point out the likely one.
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((wrong, expected)) = rest.split_once('`') {
                let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
                return Problem::new(span, message.clone()).suggest(wrong, known);
            }
        }
    }
    if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        return missing_field(span, field);
    }
    if message == "duplicate key" {
        return duplicate_key(text, span, spanned);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            let problem =
                Problem::new(span, format!("expected {} here, found {}", expected_kind(expected), found_kind(found)));
            if let Some(v) = found.strip_prefix("string \"").and_then(|f| f.strip_suffix('"')) {
                // mtu = "1500": the number is right, the quotes are not.
                if v.parse::<i64>().is_ok() && expected.starts_with('u') {
                    return problem.help(format!("numbers are written without quotes: {v}"));
                }
                // dns = "1.1.1.1": a list of one is still a list.
                if expected == "a sequence" {
                    return problem.help(format!("write a list, even of one: [\"{}\"]", shown(v)));
                }
            }
            return problem;
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            return Problem::new(
                span,
                format!("{} is out of range: expected {}", found_kind(found), expected_kind(expected)),
            );
        }
    }
    Problem::new(span, message)
}

/// serde's name of an expected type, in the file's words.
fn expected_kind(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" => "a whole number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.to_string(),
    }
}

/// serde's description of the value it found, like `string "1500"` or `integer `5``.
fn found_kind(found: &str) -> String {
    let unquote = |s: &str| s.trim_matches('`').to_string();
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {}", shown(s));
    }
    if let Some(n) = found.strip_prefix("integer ").or_else(|| found.strip_prefix("floating point ")) {
        return format!("the number {}", unquote(n));
    }
    if let Some(b) = found.strip_prefix("boolean ") {
        return unquote(b);
    }
    match found {
        "map" => "a table".into(),
        "sequence" => "a list".into(),
        f => f.to_string(),
    }
}

/// A required field that is not there; toml points at the table that lacks it.
fn missing_field(span: std::ops::Range<usize>, field: &str) -> Problem {
    let (message, help) = match field {
        "lab" => (
            "the file has no [lab] table".to_string(),
            "every topology names its lab: put `[lab]` and, under it, `name = \"my-lab\"` at the top".to_string(),
        ),
        "name" => ("[lab] has no `name`".into(), "add `name = \"my-lab\"` under [lab] (a-z, 0-9 and -)".into()),
        "subnet" => ("this network has no `subnet`".into(), "add `subnet = \"10.0.0.0/24\"`".into()),
        "endpoints" => ("`endpoints` is missing".into(), "add `endpoints = [\"node1:eth1\", \"node2:eth1\"]`".into()),
        "cmd" => (
            "this process has no `cmd`".into(),
            "add the command it runs, like `cmd = \"python3 -m http.server 8000\"`".into(),
        ),
        "kind" => ("this tunnel has no `kind`".into(), "add `kind = \"ipip\"`, `\"vxlan\"` or `\"udp\"`".into()),
        "underlay" => (
            "this tunnel has no `underlay`".into(),
            "add the outer address of each endpoint, like `underlay = [\"10.0.0.1\", \"10.0.0.2\"]`".into(),
        ),
        "to" => (
            "this route has no `to`".into(),
            "add the destination, a CIDR or \"default\": { to = \"10.0.0.0/24\", via = \"10.0.1.1\" }".into(),
        ),
        other => (format!("`{other}` is missing here"), format!("add `{other} = ...`")),
    };
    Problem::new(span, message).help(help)
}

/// toml says only "duplicate key"; the span is the key, or the name in a table header.
fn duplicate_key(text: &str, span: std::ops::Range<usize>, key: &str) -> Problem {
    let line_start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        let header = line.split('#').next().unwrap_or(line).trim();
        Problem::new(span, format!("table {} is defined twice", shown(header)))
            .help("put everything for it under one header, or rename one of them")
    } else {
        Problem::new(span, format!("`{}` is set twice in the same table", shown(key))).help("remove one of them")
    }
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

impl<'de> Deserialize<'de> for Netns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map_or(Netns::Host, Netns::Named))
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
    /// Every entry of every node's `ports`, in file order.
    pub published: Vec<Publish>,
    /// Every node's long-running processes, in file order.
    pub processes: Vec<Process>,
    /// Every node's one-shot `exec` commands, in file order.
    pub execs: Vec<ExecCommand>,
    /// The namespace of the lab's impairment relays (userspace impaired links), if it
    /// needs one: `netlab-<lab>-relay`.
    pub relay_netns: String,
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
    /// The node's own `sysctl` turns forwarding on: it asked to route.
    pub routes_traffic: bool,
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
    /// The file's own `[host] sysctl` turns forwarding on: the lab asked for host routing
    /// (its host-side links are routed even while another lab's firewall guards the host).
    pub routes_traffic: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// `nat = true`: a Docker bridge network (masquerade out, forwarding, isolation,
    /// published ports).
    pub nat: bool,
    /// `icc`: whether the network's nodes may talk to each other (Docker's enable_icc).
    pub icc: bool,
}

impl Bridge {
    /// The network's subnet.
    pub fn subnet(&self) -> IpNet {
        self.gateway.trunc()
    }
}

/// One entry of a node's `ports`: what it publishes, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The node whose `ports` it is (for a container-mode node, its own name).
    pub node: String,
    /// The entry as written (`"8080:80"`): with `node`, what a picked host port is kept by.
    pub spec: String,
    /// The nat network it is published from (a container-mode node's target's).
    pub network: String,
    /// Where that network's bridge, and so the DNAT, lives.
    pub netns: Netns,
    /// The bridge port of the node's eth0 (a node reaching its own published port needs
    /// hairpin mode on it).
    pub bridge_port: String,
    /// The node's address on the network: where packets are sent.
    pub node_addr: IpAddr,
    /// One per port; a host address left out is the network's family's wildcard.
    pub bindings: Vec<Binding>,
}

pub use crate::firewall::ports::{Binding, HostAddr, Proto};

#[derive(Debug, Clone)]
pub struct Veth {
    pub ends: [VethEnd; 2],
    pub mtu: Option<u32>,
    /// What the link does to frames, when the file says (`impair`).
    pub impair: Option<Impair>,
}

/// How an impairment is made; see [`Impair::mode`].
pub use crate::spec::ImpairMode;

/// A link's `impair`: what frames leaving each end meet, and how that is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impair {
    /// What frames leaving `ends[i]` of the veth meet (`impair = {}`: nothing, for now:
    /// the link is prepared to be impaired at run time).
    pub ends: [Impairment; 2],
    /// The kernel's qdiscs and nftables, netlab's userspace relay, or (`Auto`, the
    /// default) the kernel where it can do everything asked and never for a seed.
    pub mode: ImpairMode,
    /// In userspace, the link is two veth pairs through the lab's relay namespace:
    /// `ends[0] <-> relay[0]` and `relay[1] <-> ends[1]`, the relay carrying frames
    /// between `relay[0]` and `relay[1]`.
    pub relay: [String; 2],
}

impl Impair {
    /// Whether the file asks for nothing yet (`impair = {}`): it declares a link that
    /// `netlab impair` may degrade later.
    pub fn declared_only(&self) -> bool {
        self.ends.iter().all(Impairment::is_none) && self.ends.iter().all(|e| e.seed.is_none())
    }
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

/// How an ipip tunnel is made: the kernel's ipip device, or a TUN device and netlab's
/// userspace forwarder (wire-compatible); `Auto` picks the kernel's where it has one.
pub use crate::spec::IpipMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Ipip { mode: IpipMode },
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

    /// The name a node's processes enter by: its own name under /run/netns (for a
    /// container-mode node, its second name of the target's namespace, whose /etc/netns
    /// files are its own), or the host.
    pub fn entry_netns(&self, node: &Node) -> Netns {
        match self.aliases.iter().find(|a| a.node == node.name) {
            Some(alias) => Netns::Named(alias.name.clone()),
            None => node.netns.clone(),
        }
    }
}
