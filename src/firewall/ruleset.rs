//! The lab's firewall as data: from its nat networks and published ports, the nftables
//! tables netlab wants in each namespace, rule by rule, and their `nft -f` text.
//!
//! Every rule carries a comment `<what it is for> #<hash of its text>`: the comment is the
//! rule's identity when the live table is read back ([`super::live`]), and the hash makes a
//! rule whose text changed (a node's address, a newer netlab) a different rule, without
//! comparing nft's normalised listing with the text netlab wrote.
//!
//! Every rule stands on its own: the chains' policy is accept and every rule drops or
//! rewrites on conditions of its own, so the order of the rules in a chain never matters.
//! That lets a plan add and remove single rules (a port published, a node gone) without
//! rewriting a chain, and lets every lab's table hold the same guard. The chains of a table
//! are always the same ones ([`inet_chains`], [`bridge_chains`]), whatever rules they hold.
//!
//! What the rules do, per namespace that holds nat bridges (the host, or a node for
//! `in = NODE`), in `table inet netlab-<lab>`:
//! - `forward`: the forwarding guard (see [`guard_rule`]); per nat bridge B: nothing goes
//!   into B but replies, DNATed connections (published ports, also hairpin from other
//!   networks) and traffic within B (isolation from the outside, the lab's other networks
//!   and other labs); and B's traffic towards networks of labs that did not ask for routing
//!   is dropped (islands stay islands).
//! - `prerouting` and `output` (nat): packets to a local address jump to `published`, which
//!   holds one DNAT rule per binding and family.
//! - `postrouting` (nat): masquerade B's subnet leaving through any other interface; hairpin
//!   (a node reaching a published port on its own network gets the bridge's address as
//!   source, so the reply comes back through the host); and 127.0.0.0/8 sources leaving
//!   through B (the host reaching `127.0.0.1:PORT`, with route_localnet on B).
//! - `input`: with route_localnet on B, a packet to 127.0.0.0/8 that arrives on B and is not
//!   a reply is dropped (kube-proxy's guard for CVE-2020-8558).
//!
//! `icc = false` is `table bridge netlab-<lab>`: frames from one port of the network to
//! another are dropped in the bridge's own forward hook, which holds with or without
//! br_netfilter (a same-network hairpin to a published port is then dropped too, as with
//! Docker's `icc=false` without its userland proxy).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::groups::{self, Class, CLASS_MASK};
use super::ports::{Binding, HostAddr};

/// The namespace a table lives in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    Host,
    /// A node's namespace, by its netns name.
    Netns(String),
}

/// A bridge network the firewall has rules for: one with `nat = true`, or `icc = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
    pub nat: bool,
    pub icc: bool,
    pub place: Place,
    /// The bridge's ports (host-side veth ends of its nodes), for `icc = false`.
    pub ports: Vec<String>,
}

/// One binding of a node, its host port known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub node: String,
    /// The nat network the node is reached on (its bridge holds the node).
    pub network: String,
    pub binding: Binding,
    pub node_v4: Option<Ipv4Addr>,
    pub node_v6: Option<Ipv6Addr>,
    /// The node's port on the bridge, which needs hairpin mode for the node to reach its
    /// own published port.
    pub bridge_port: String,
}

/// Whether netlab turned forwarding on in a namespace where it was off: then the guard
/// keeps everything but nat networks and routing labs from being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guard {
    pub v4: bool,
    pub v6: bool,
}

/// What the firewall is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabFirewall {
    pub lab: String,
    pub networks: Vec<Network>,
    pub published: Vec<Published>,
    /// Per namespace with nat bridges; a namespace not listed has no guard.
    pub guards: Vec<(Place, Guard)>,
    /// The lab's bridges without nat that live in a node with nat bridges: a node's own
    /// uplinks are the lab's links too, so isolation there names them.
    pub plain_bridges: Vec<(Place, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Inet,
    Bridge,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// A base chain's hook: `type KIND hook HOOK priority PRIORITY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hook {
    /// `filter` or `nat`.
    pub kind: String,
    pub hook: String,
    pub priority: i32,
}

/// A chain of a table: a base chain on a hook, or a regular chain (a jump target).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<Hook>,
}

impl Chain {
    fn base(name: &str, kind: &str, hook: &str, priority: i32) -> Chain {
        Chain { name: name.into(), hook: Some(Hook { kind: kind.into(), hook: hook.into(), priority }) }
    }

    /// `add chain FAMILY TABLE NAME [{ type ... policy accept; }]`.
    pub fn add_line(&self, family: Family, table: &str) -> String {
        match &self.hook {
            Some(h) => format!(
                "add chain {} {table} {} {{ type {} hook {} priority {}; policy accept; }}",
                family.as_str(),
                self.name,
                h.kind,
                h.hook,
                h.priority
            ),
            None => format!("add chain {} {table} {}", family.as_str(), self.name),
        }
    }
}

/// The chains of every lab's `inet` table: all of them always, so that a port published
/// or taken away changes rules, never the table.
pub fn inet_chains() -> Vec<Chain> {
    vec![
        Chain::base("forward", "filter", "forward", 0),
        Chain::base("input", "filter", "input", 0),
        Chain::base("prerouting", "nat", "prerouting", -100),
        Chain::base("output", "nat", "output", -100),
        Chain::base("postrouting", "nat", "postrouting", 100),
        Chain { name: "published".into(), hook: None },
    ]
}

/// The chain of every lab's `bridge` table (`icc = false`): before br_netfilter's hooks.
pub fn bridge_chains() -> Vec<Chain> {
    vec![Chain::base("forward", "filter", "forward", -200)]
}

/// Longest comment nft keeps (NFT_USERDATA_MAXLEN less room), in bytes.
const COMMENT_MAX: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The chain it goes in.
    pub chain: String,
    /// The rule as nft reads it, without its comment.
    pub text: String,
    /// Its identity: what it is for and a hash of `text`.
    pub comment: String,
}

impl Rule {
    fn new(chain: &str, about: impl AsRef<str>, text: String) -> Rule {
        let hash = groups::fnv1a(text.as_bytes());
        let mut about = about.as_ref().replace('"', "'");
        if about.len() > COMMENT_MAX - 10 {
            let mut cut = COMMENT_MAX - 10;
            while !about.is_char_boundary(cut) {
                cut -= 1;
            }
            about.truncate(cut);
        }
        Rule { chain: chain.into(), comment: format!("{about} #{hash:08x}"), text }
    }

    /// The rule with its comment, as after `add rule FAMILY TABLE CHAIN`.
    pub fn line(&self) -> String {
        rule_line(&self.text, &self.comment)
    }
}

/// A rule's text with its comment, as nft reads it after `add rule F T C`.
pub fn rule_line(text: &str, comment: &str) -> String {
    format!("{text} comment \"{comment}\"")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub place: Place,
    pub family: Family,
    pub name: String,
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

/// A setting outside nftables that the rules rely on, made by the lab's other ops.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// A sysctl in a namespace (`net.ipv4.conf.B.route_localnet = 1`).
    Sysctl { place: Place, key: String, value: String },
    /// Hairpin mode on a bridge port (a node reaching its own published port).
    Hairpin { place: Place, port: String },
}

/// The tables and settings of a lab's firewall.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub tables: Vec<Table>,
    pub requirements: Vec<Requirement>,
}

/// The name of a lab's tables (in every family and namespace).
pub fn table_name(lab: &str) -> String {
    format!("netlab-{lab}")
}

/// The table comment that marks a table as the lab's.
pub fn table_mark(lab: &str) -> String {
    format!("netlab:{lab}")
}

fn class_set() -> String {
    format!("{{ {:#010x}, {:#010x} }}", Class::Routing.bits(), Class::NatBridge.bits())
}

/// The forwarding guard: a routed packet (not one bridged through br_netfilter, whose
/// destination is on the bridge it came from) between two interfaces of which neither is a
/// nat bridge nor a routing lab's link is dropped. Identical in every lab's table, so two
/// guards never disagree; cheap tests first, the FIB lookup last.
pub fn guard_rule(family: Option<&str>) -> Rule {
    let fam = family.map(|f| format!("meta nfproto {f} ")).unwrap_or_default();
    let set = class_set();
    let text = format!(
        "{fam}meta iifgroup & {CLASS_MASK:#010x} != {set} meta oifgroup & {CLASS_MASK:#010x} != {set} \
         meta pkttype host fib daddr . iif oif missing drop"
    );
    Rule::new(
        "forward",
        format!(
            "guard: route only nat networks and routing labs{}",
            family.map(|f| format!(" ({f})")).unwrap_or_default()
        ),
        text,
    )
}

/// Computes the lab's tables: one `inet` table per namespace with nat bridges, and a
/// `bridge` table per namespace with a network of `icc = false`.
pub fn compute(fw: &LabFirewall) -> Ruleset {
    let mut places: Vec<Place> = fw.networks.iter().map(|n| n.place.clone()).collect();
    places.sort();
    places.dedup();
    let mut out = Ruleset::default();
    for place in places {
        let nets: Vec<&Network> = fw.networks.iter().filter(|n| n.place == place).collect();
        let nat: Vec<&Network> = nets.iter().copied().filter(|n| n.nat).collect();
        let published: Vec<&Published> =
            fw.published.iter().filter(|p| nat.iter().any(|n| n.name == p.network)).collect();
        if !nat.is_empty() {
            let guard = fw.guards.iter().find(|(p, _)| *p == place).map(|(_, g)| *g).unwrap_or_default();
            let plain: Vec<&str> =
                fw.plain_bridges.iter().filter(|(p, _)| *p == place).map(|(_, b)| b.as_str()).collect();
            out.tables.push(inet_table(&fw.lab, &place, &nat, &published, guard, &plain));
        }
        if let Some(t) = bridge_table(&fw.lab, &place, &nets) {
            out.tables.push(t);
        }
        for n in &nat {
            if localhost_reaches(n, &published) {
                out.requirements.push(Requirement::Sysctl {
                    place: place.clone(),
                    key: format!("net.ipv4.conf.{}.route_localnet", n.bridge),
                    value: "1".into(),
                });
            }
        }
        for p in &published {
            let req = Requirement::Hairpin { place: place.clone(), port: p.bridge_port.clone() };
            if !out.requirements.contains(&req) {
                out.requirements.push(req);
            }
        }
    }
    out
}

/// Whether the host reaches one of the network's published ports on 127.0.0.1.
fn localhost_reaches(n: &Network, published: &[&Published]) -> bool {
    published.iter().any(|p| {
        p.network == n.name
            && p.node_v4.is_some()
            && match p.binding.host_addr {
                HostAddr::Any | HostAddr::AnyV4 => true,
                HostAddr::Addr(IpAddr::V4(a)) => a.is_loopback(),
                HostAddr::AnyV6 | HostAddr::Addr(IpAddr::V6(_)) => false,
            }
    })
}

fn inet_table(
    lab: &str,
    place: &Place,
    nets: &[&Network],
    published: &[&Published],
    guard: Guard,
    plain: &[&str],
) -> Table {
    let mut rules = Vec::new();
    match (guard.v4, guard.v6) {
        (true, true) => rules.push(guard_rule(None)),
        (true, false) => rules.push(guard_rule(Some("ipv4"))),
        (false, true) => rules.push(guard_rule(Some("ipv6"))),
        (false, false) => {}
    }
    let not_a_reply = "ct state != { established, related }";
    for n in nets {
        let b = &n.bridge;
        let mut r =
            |chain: &str, about: &str, text: String| rules.push(Rule::new(chain, format!("{b}: {about}"), text));
        r(
            "forward",
            "nothing in but replies, published ports and its own traffic",
            format!("oifname \"{b}\" iifname != \"{b}\" {not_a_reply} ct status & dnat == 0 drop"),
        );
        match place {
            Place::Host => r(
                "forward",
                "not to networks that are not routed",
                format!(
                    "iifname \"{b}\" meta oifgroup & {CLASS_MASK:#010x} == {:#010x} {not_a_reply} drop",
                    Class::Plain.bits()
                ),
            ),
            Place::Netns(_) if !plain.is_empty() => r(
                "forward",
                "not to the lab's other networks",
                format!("iifname \"{b}\" oifname {} {not_a_reply} drop", name_set(plain)),
            ),
            Place::Netns(_) => {}
        }
        if let Some(s) = n.v4 {
            r("postrouting", "masquerade", format!("ip saddr {s} oifname != \"{b}\" masquerade"));
            r("postrouting", "hairpin", format!("oifname \"{b}\" ip saddr {s} ct status dnat masquerade"));
        }
        if let Some(s) = n.v6 {
            r("postrouting", "masquerade", format!("ip6 saddr {s} oifname != \"{b}\" masquerade"));
            r("postrouting", "hairpin", format!("oifname \"{b}\" ip6 saddr {s} ct status dnat masquerade"));
        }
        if localhost_reaches(n, published) {
            r("postrouting", "from localhost", format!("oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade"));
            r(
                "input",
                "127.0.0.0/8 only as replies (CVE-2020-8558)",
                format!("iifname \"{b}\" ip daddr 127.0.0.0/8 {not_a_reply} drop"),
            );
        }
    }
    if !published.is_empty() {
        rules.push(Rule::new("prerouting", "to a local address", "fib daddr type local jump published".into()));
        rules.push(Rule::new(
            "output",
            "to a local address (ipv4)",
            "meta nfproto ipv4 fib daddr type local jump published".into(),
        ));
        // ::1 cannot be DNATed out of the host (no route_localnet in IPv6): leave it to
        // the host's own listeners rather than send it to a node and lose it.
        rules.push(Rule::new(
            "output",
            "to a local address but ::1 (ipv6)",
            "ip6 daddr != ::1 fib daddr type local jump published".into(),
        ));
        for p in published {
            rules.extend(dnat_rules(p));
        }
    }
    Table { place: place.clone(), family: Family::Inet, name: table_name(lab), chains: inet_chains(), rules }
}

fn name_set(names: &[&str]) -> String {
    match names {
        [one] => format!("\"{one}\""),
        _ => format!("{{ {} }}", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")),
    }
}

/// The DNAT rules of one binding: one per family the binding and the node both have.
pub fn dnat_rules(p: &Published) -> Vec<Rule> {
    let b = &p.binding;
    let Some(host_port) = b.host_port else { return Vec::new() };
    let about = format!("{}: {}:{host_port}->{}/{}", p.node, b.host_addr, b.node_port, b.proto);
    let proto = b.proto.as_str();
    let mut rules = Vec::new();
    if let (true, Some(node)) = (b.host_addr.covers(false), p.node_v4) {
        let daddr = match b.host_addr {
            HostAddr::Addr(a) => format!("ip daddr {a} "),
            HostAddr::Any | HostAddr::AnyV4 | HostAddr::AnyV6 => "meta nfproto ipv4 ".into(),
        };
        let text = format!("{daddr}{proto} dport {host_port} dnat ip to {node}:{}", b.node_port);
        rules.push(Rule::new("published", format!("{about} (ipv4)"), text));
    }
    if let (true, Some(node)) = (b.host_addr.covers(true), p.node_v6) {
        let daddr = match b.host_addr {
            HostAddr::Addr(a) => format!("ip6 daddr {a} "),
            HostAddr::Any | HostAddr::AnyV4 | HostAddr::AnyV6 => "meta nfproto ipv6 ".into(),
        };
        let text = format!("{daddr}{proto} dport {host_port} dnat ip6 to [{node}]:{}", b.node_port);
        rules.push(Rule::new("published", format!("{about} (ipv6)"), text));
    }
    rules
}

/// `icc = false`: one rule per port of each such network, so that a node joining or
/// leaving changes its own rule only. A frame forwarded by a bridge goes from one of its
/// ports to another: naming the ingress port is enough.
fn bridge_table(lab: &str, place: &Place, nets: &[&Network]) -> Option<Table> {
    let rules: Vec<Rule> = nets
        .iter()
        .filter(|n| !n.icc)
        .flat_map(|n| {
            n.ports.iter().map(|p| {
                Rule::new("forward", format!("{}: no traffic between its nodes (icc = false): {p}", n.bridge), {
                    format!("iifname \"{p}\" drop")
                })
            })
        })
        .collect();
    (!rules.is_empty()).then(|| Table {
        place: place.clone(),
        family: Family::Bridge,
        name: table_name(lab),
        chains: bridge_chains(),
        rules,
    })
}

impl Table {
    /// `family name`, as nft commands name the table.
    pub fn id(&self) -> String {
        format!("{} {}", self.family.as_str(), self.name)
    }

    /// The whole table as one `nft -f` script, marked with `mark`.
    pub fn script(&self, mark: &str) -> String {
        let mut s = table_block(self.family, &self.name, mark, &self.chains);
        for r in &self.rules {
            let _ = writeln!(s, "add rule {} {} {}", self.id(), r.chain, r.line());
        }
        s
    }
}

/// The table and its chains as `nft -f` lines, with `create` first, so that a table of
/// that name that is already there (anyone's) fails the transaction instead of being added
/// to.
pub fn table_block(family: Family, name: &str, mark: &str, chains: &[Chain]) -> String {
    let mut s = format!("create table {} {name} {{ comment \"{mark}\"; }}\n", family.as_str());
    for c in chains {
        let _ = writeln!(s, "{}", c.add_line(family, name));
    }
    s
}

#[cfg(test)]
#[path = "ruleset_tests.rs"]
pub(crate) mod tests;
