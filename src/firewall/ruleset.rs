//! The lab's firewall as data: from its nat networks and published ports, the nftables
//! tables netlab wants in each namespace, rule by rule, and their `nft -f` text.
//!
//! Every rule carries a comment `<what it is for> #<hash of its text>`: the comment is the
//! rule's identity when the live table is read back ([`super::live`]), and the hash makes a
//! rule whose text changed (a node's address, a newer netlab) a different rule, without
//! comparing nft's normalised listing with the text netlab wrote.
//!
//! What the rules do, per namespace that holds nat bridges (the host, or a node for
//! `in = NODE`), in `table inet netlab-<lab>`:
//! - `forward`: the forwarding guard first (see [`guard_rule`]); then per nat bridge B:
//!   replies into B, DNATed connections into B (published ports, also hairpin from other
//!   networks), traffic within B, and a drop of everything else into B (isolation from the
//!   outside, the lab's other networks and other labs); and a drop of B's traffic towards
//!   networks of labs that did not ask for routing.
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

use super::groups::{self, Class, CLASS_MASK};
use super::ports::{Binding, HostAddr, Proto};

/// The namespace a table lives in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    Host,
    /// A node's namespace, by its netns name.
    Netns(String),
}

/// A network with `nat = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatNetwork {
    pub name: String,
    pub bridge: String,
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
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
    pub networks: Vec<NatNetwork>,
    pub published: Vec<Published>,
    /// Per namespace with nat bridges; a namespace not listed has no guard.
    pub guards: Vec<(Place, Guard)>,
    /// The lab's bridges without nat that live in a node with nat bridges: a node's own
    /// uplinks are the lab's links too, so isolation there names them.
    pub plain_bridges: Vec<(Place, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// A base chain's hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `filter` or `nat`.
    pub kind: &'static str,
    pub hook: &'static str,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule as nft reads it, without its comment.
    pub text: String,
    /// Its identity: what it is for and a hash of `text`.
    pub comment: String,
}

impl Rule {
    fn new(about: impl AsRef<str>, text: String) -> Rule {
        let hash = groups::fnv1a(text.as_bytes());
        Rule { comment: format!("{} #{hash:08x}", about.as_ref()), text }
    }

    /// The rule with its comment, as in a chain block or after `add rule T C`.
    pub fn line(&self) -> String {
        format!("{} comment \"{}\"", self.text, self.comment)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: &'static str,
    pub hook: Option<Hook>,
    /// Whether the order of its rules matters: such a chain is rewritten whole when any of
    /// its rules changes; in the others single rules are added and deleted.
    pub ordered: bool,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub place: Place,
    pub family: Family,
    pub name: String,
    /// The table's comment, `netlab:<lab>`: how netlab tells its table from a stranger's.
    pub mark: String,
    pub chains: Vec<Chain>,
}

/// A setting outside nftables that the rules rely on, made by the lab's other ops.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// A sysctl in a namespace (`net.ipv4.conf.B.route_localnet = 1`, forwarding).
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
        format!(
            "guard: route only nat networks and routing labs{}",
            family.map(|f| format!(" ({f})")).unwrap_or_default()
        ),
        text,
    )
}

/// Computes the lab's tables, one `inet` table per namespace with nat bridges, and a
/// `bridge` table where a network has `icc = false`.
pub fn compute(fw: &LabFirewall) -> Ruleset {
    let mut places: Vec<Place> = fw.networks.iter().map(|n| n.place.clone()).collect();
    places.sort();
    places.dedup();
    let mut out = Ruleset::default();
    for place in places {
        let nets: Vec<&NatNetwork> = fw.networks.iter().filter(|n| n.place == place).collect();
        let guard = fw.guards.iter().find(|(p, _)| *p == place).map(|(_, g)| *g).unwrap_or_default();
        let plain: Vec<&str> = fw.plain_bridges.iter().filter(|(p, _)| *p == place).map(|(_, b)| b.as_str()).collect();
        let published: Vec<&Published> =
            fw.published.iter().filter(|p| nets.iter().any(|n| n.name == p.network)).collect();
        out.tables.push(inet_table(&fw.lab, &place, &nets, &published, guard, &plain));
        if let Some(t) = bridge_table(&fw.lab, &place, &nets) {
            out.tables.push(t);
        }
        for n in &nets {
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
fn localhost_reaches(n: &NatNetwork, published: &[&Published]) -> bool {
    published.iter().any(|p| {
        p.network == n.name
            && p.node_v4.is_some()
            && match p.binding.host_addr {
                HostAddr::Any | HostAddr::AnyV4 => true,
                HostAddr::Addr(IpAddr::V4(a)) => a.is_loopback(),
                _ => false,
            }
    })
}

fn base(name: &'static str, kind: &'static str, hook: &'static str, priority: i32, ordered: bool) -> Chain {
    Chain { name, hook: Some(Hook { kind, hook, priority }), ordered, rules: Vec::new() }
}

fn inet_table(
    lab: &str,
    place: &Place,
    nets: &[&NatNetwork],
    published: &[&Published],
    guard: Guard,
    plain: &[&str],
) -> Table {
    let mut forward = base("forward", "filter", "forward", 0, true);
    match (guard.v4, guard.v6) {
        (true, true) => forward.rules.push(guard_rule(None)),
        (true, false) => forward.rules.push(guard_rule(Some("ipv4"))),
        (false, true) => forward.rules.push(guard_rule(Some("ipv6"))),
        (false, false) => {}
    }
    let mut input = base("input", "filter", "input", 0, false);
    let mut postrouting = base("postrouting", "nat", "postrouting", 100, false);
    for n in nets {
        let b = &n.bridge;
        let r = |about: &str, text: String| Rule::new(format!("{b}: {about}"), text);
        forward.rules.push(r("replies in", format!("oifname \"{b}\" ct state established,related accept")));
        forward.rules.push(r("published ports in", format!("oifname \"{b}\" ct status dnat accept")));
        forward.rules.push(r("within the network", format!("iifname \"{b}\" oifname \"{b}\" accept")));
        forward.rules.push(r("nothing else in", format!("oifname \"{b}\" drop")));
        match place {
            Place::Host => forward.rules.push(r(
                "not to networks that are not routed",
                format!(
                    "iifname \"{b}\" meta oifgroup & {CLASS_MASK:#010x} == {:#010x} ct state != {{ established, related }} drop",
                    Class::Plain.bits()
                ),
            )),
            Place::Netns(_) if !plain.is_empty() => forward.rules.push(r(
                "not to the lab's other networks",
                format!("iifname \"{b}\" oifname {} ct state != {{ established, related }} drop", name_set(plain)),
            )),
            Place::Netns(_) => {}
        }
        if let Some(s) = n.v4 {
            postrouting.rules.push(r("masquerade", format!("ip saddr {s} oifname != \"{b}\" masquerade")));
            postrouting.rules.push(r("hairpin", format!("oifname \"{b}\" ip saddr {s} ct status dnat masquerade")));
        }
        if let Some(s) = n.v6 {
            postrouting.rules.push(r("masquerade", format!("ip6 saddr {s} oifname != \"{b}\" masquerade")));
            postrouting.rules.push(r("hairpin", format!("oifname \"{b}\" ip6 saddr {s} ct status dnat masquerade")));
        }
        if localhost_reaches(n, published) {
            postrouting.rules.push(r("from localhost", format!("oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade")));
            input.rules.push(r(
                "127.0.0.0/8 only as replies (CVE-2020-8558)",
                format!("iifname \"{b}\" ip daddr 127.0.0.0/8 ct state != {{ established, related }} drop"),
            ));
        }
    }
    let mut prerouting = base("prerouting", "nat", "prerouting", -100, false);
    let mut output = base("output", "nat", "output", -100, false);
    let mut chain_published = Chain { name: "published", hook: None, ordered: false, rules: Vec::new() };
    if !published.is_empty() {
        prerouting.rules.push(Rule::new("to a local address", "fib daddr type local jump published".into()));
        output.rules.push(Rule::new(
            "to a local address (ipv4)",
            "meta nfproto ipv4 fib daddr type local jump published".into(),
        ));
        // ::1 cannot be DNATed out of the host (no route_localnet in IPv6): leave it to
        // the host's own listeners rather than send it to a node and lose it.
        output.rules.push(Rule::new(
            "to a local address but ::1 (ipv6)",
            "ip6 daddr != ::1 fib daddr type local jump published".into(),
        ));
        for p in published {
            chain_published.rules.extend(dnat_rules(p));
        }
    }
    let chains = [forward, input, prerouting, output, chain_published, postrouting];
    Table {
        place: place.clone(),
        family: Family::Inet,
        name: table_name(lab),
        mark: table_mark(lab),
        chains: chains.into_iter().filter(|c| !c.rules.is_empty()).collect(),
    }
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
            _ => "meta nfproto ipv4 ".into(),
        };
        let text = format!("{daddr}{proto} dport {host_port} dnat ip to {node}:{}", b.node_port);
        rules.push(Rule::new(format!("{about} (ipv4)"), text));
    }
    if let (true, Some(node)) = (b.host_addr.covers(true), p.node_v6) {
        let daddr = match b.host_addr {
            HostAddr::Addr(a) => format!("ip6 daddr {a} "),
            _ => "meta nfproto ipv6 ".into(),
        };
        let text = format!("{daddr}{proto} dport {host_port} dnat ip6 to [{node}]:{}", b.node_port);
        rules.push(Rule::new(format!("{about} (ipv6)"), text));
    }
    rules
}

fn bridge_table(lab: &str, place: &Place, nets: &[&NatNetwork]) -> Option<Table> {
    let mut forward = base("forward", "filter", "forward", -200, false);
    for n in nets.iter().filter(|n| !n.icc && !n.ports.is_empty()) {
        let ports: Vec<&str> = n.ports.iter().map(String::as_str).collect();
        // A frame forwarded by a bridge goes from one of its ports to another: naming the
        // ingress ports is enough.
        forward.rules.push(Rule::new(
            format!("{}: no traffic between its nodes (icc = false)", n.bridge),
            format!("iifname {} drop", name_set(&ports)),
        ));
    }
    (!forward.rules.is_empty()).then(|| Table {
        place: place.clone(),
        family: Family::Bridge,
        name: table_name(lab),
        mark: table_mark(lab),
        chains: vec![forward],
    })
}

impl Chain {
    /// `chain NAME { type ...; policy accept; }`, the form `add chain` takes after its name.
    pub fn spec(&self) -> String {
        match &self.hook {
            Some(h) => format!("{{ type {} hook {} priority {}; policy accept; }}", h.kind, h.hook, h.priority),
            None => "{ }".into(),
        }
    }
}

impl Table {
    /// `family name`, as nft commands name the table.
    pub fn id(&self) -> String {
        format!("{} {}", self.family.as_str(), self.name)
    }

    /// The whole table as one `nft -f` block.
    pub fn block(&self) -> String {
        let mut s = format!("table {} {{\n\tcomment \"{}\"\n", self.id(), self.mark);
        for c in &self.chains {
            let _ = writeln!(s, "\tchain {} {{", c.name);
            if let Some(h) = &c.hook {
                let _ = writeln!(s, "\t\ttype {} hook {} priority {}; policy accept;", h.kind, h.hook, h.priority);
            }
            for r in &c.rules {
                let _ = writeln!(s, "\t\t{}", r.line());
            }
            s.push_str("\t}\n");
        }
        s.push_str("}\n");
        s
    }
}

/// Whether a binding's protocol needs a kernel feature this host may lack.
pub fn needs_sctp(published: &[Published]) -> bool {
    published.iter().any(|p| p.binding.proto == Proto::Sctp)
}

/// The group of a nat bridge of `lab` (see [`groups`]).
pub fn nat_bridge_group(lab: &str) -> u32 {
    groups::group(lab, Class::NatBridge)
}

#[cfg(test)]
#[path = "ruleset_tests.rs"]
pub(crate) mod tests;
