//! The plan as text for people: numbered, aligned, one op a line, readable in a review.

use std::fmt::Write as _;

use super::{Direction, Op, Plan};
use crate::impairment::Impairment;

pub fn render(plan: &Plan) -> String {
    let n = plan.ops.len();
    let what = match plan.direction {
        Direction::Up => "to bring it up",
        Direction::Down => "to take it down",
    };
    let mut out = format!("# lab {}: {n} op{} {what}\n", plan.lab, if n == 1 { "" } else { "s" });
    for note in &plan.notes {
        let _ = writeln!(out, "# {note}");
    }
    let columns = Columns::of(&plan.ops);
    for (i, op) in plan.ops.iter().enumerate() {
        let _ = writeln!(out, "{}", columns.line(&(i + 1).to_string(), op, ""));
    }
    out
}

/// The layout of ops one a line: a label (the op's number) right-aligned, then kind,
/// namespace and detail in aligned columns. The text plan uses it, and so do `up` and
/// `down` as they print each op done, so their lines line up the same way.
pub struct Columns {
    num_w: usize,
    kind_w: usize,
    ns_w: usize,
}

impl Columns {
    pub fn of(ops: &[Op]) -> Columns {
        Columns {
            num_w: ops.len().max(1).to_string().len(),
            kind_w: ops.iter().map(|op| kind(op).len()).max().unwrap_or(0),
            ns_w: ops.iter().map(|op| op.netns().to_string().len()).max().unwrap_or(0),
        }
    }

    /// One op's line, without its newline; `note` follows the detail.
    pub fn line(&self, label: &str, op: &Op, note: &str) -> String {
        let (num_w, kind_w, ns_w) = (self.num_w, self.kind_w, self.ns_w);
        let line =
            format!("{label:>num_w$}  {:<kind_w$}  {:<ns_w$}  {}{note}", kind(op), op.netns().to_string(), detail(op));
        line.trim_end().to_string()
    }
}

/// "s" after a count other than one.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The op in a sentence: kind, namespace and detail, unaligned (in error messages).
pub fn summary(op: &Op) -> String {
    format!("{} {} {}", kind(op), op.netns(), detail(op))
}

/// The op's name in the text plan: iproute2's words where it has them.
pub fn kind(op: &Op) -> &'static str {
    match op {
        Op::NetnsAdd { .. } => "netns add",
        Op::NetnsAlias { .. } => "netns alias",
        Op::NetnsDel { .. } => "netns del",
        Op::SysctlSet { .. } => "sysctl set",
        Op::SysctlRestore { .. } => "sysctl restore",
        Op::FileWrite { .. } => "file write",
        Op::FileRemove { .. } => "file remove",
        Op::BridgeAdd { .. } => "bridge add",
        Op::VethAdd { .. } => "veth add",
        Op::VxlanAdd { .. } => "vxlan add",
        Op::IpipAdd { .. } => "ipip add",
        Op::TunAdd { .. } => "tun add",
        Op::LinkDel { .. } => "link del",
        Op::LinkSetMaster { .. } => "link master",
        Op::LinkSetNomaster { .. } => "link nomaster",
        Op::LinkSetMtu { .. } => "link mtu",
        Op::LinkSetMac { .. } => "link mac",
        Op::LinkRename { .. } => "link rename",
        Op::LinkUp { .. } => "link up",
        Op::LinkDown { .. } => "link down",
        Op::AddrAdd { .. } => "addr add",
        Op::AddrDel { .. } => "addr del",
        Op::RouteAdd { .. } => "route add",
        Op::RouteDel { .. } => "route del",
        Op::ForwarderStart { .. } => "forwarder start",
        Op::ForwarderStop { .. } => "forwarder stop",
        Op::ConntrackFlush { .. } => "conntrack flush",
        Op::NftTableAdd { .. } => "nft table add",
        Op::NftTableDel { .. } => "nft table del",
        Op::NftRuleAdd { .. } => "nft rule add",
        Op::NftRuleDel { .. } => "nft rule del",
        Op::LinkSetHairpin { .. } => "link hairpin",
        Op::LinkSetClass { .. } => "link class",
        Op::SupervisorStart => "supervisor start",
        Op::SupervisorStop => "supervisor stop",
        Op::ProcessStart { .. } => "process start",
        Op::ProcessStop { .. } => "process stop",
        Op::Exec { .. } => "exec",
        Op::QdiscReplace { .. } => "qdisc replace",
        Op::QdiscDel { .. } => "qdisc del",
        Op::DropSet { .. } => "drop set",
        Op::DropDel { .. } => "drop del",
        Op::RelayStart { .. } => "relay start",
        Op::RelayStop { .. } => "relay stop",
        Op::RelaySet { .. } => "relay set",
    }
}

/// What a rule is for: its comment without the hash of its text.
pub fn rule_purpose(comment: &str) -> &str {
    comment.rsplit_once(" #").map_or(comment, |(about, _)| about)
}

pub fn detail(op: &Op) -> String {
    let mtu = |mtu: &Option<u32>| mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
    let mac = |mac: &Option<String>| mac.as_ref().map(|m| format!(" mac {m}")).unwrap_or_default();
    match op {
        Op::NetnsAdd { .. } | Op::NetnsDel { .. } => String::new(),
        Op::NetnsAlias { target, .. } => format!("= {target}"),
        Op::SysctlSet { key, value, .. } => format!("{key} = {value}"),
        Op::SysctlRestore { key, .. } => format!("{key} (to its value before up)"),
        Op::FileWrite { netns, file, content } => {
            let lines: Vec<String> = content.lines().map(|l| l.replace('\t', " ")).collect();
            format!("/etc/netns/{netns}/{}: {}", file.file_name(), lines.join(" | "))
        }
        Op::FileRemove { netns, file } => format!("/etc/netns/{netns}/{}", file.file_name()),
        Op::BridgeAdd { name, mtu: m, .. } => format!("{name}{}", mtu(m)),
        Op::VethAdd { netns, name, mac: a_mac, peer_netns, peer_name, peer_mac, mtu: m } => {
            let peer = if peer_netns == netns { peer_name.clone() } else { format!("{peer_netns}:{peer_name}") };
            format!("{name}{} <-> {peer}{}{}", mac(a_mac), mac(peer_mac), mtu(m))
        }
        Op::VxlanAdd { name, vni, local, remote, port, mtu: m, .. } => {
            format!("{name} vni {vni} local {local} remote {remote} port {port}{}", mtu(m))
        }
        Op::IpipAdd { name, local, remote, mtu: m, .. } => format!("{name} local {local} remote {remote}{}", mtu(m)),
        Op::TunAdd { name, mtu: m, .. } => format!("{name}{}", mtu(m)),
        Op::LinkDel { name, .. }
        | Op::LinkSetNomaster { name, .. }
        | Op::LinkUp { name, .. }
        | Op::LinkDown { name, .. } => name.clone(),
        Op::LinkSetMaster { name, master, .. } => format!("{name} -> {master}"),
        Op::LinkSetMtu { name, mtu, .. } => format!("{name} {mtu}"),
        Op::LinkSetMac { name, mac, .. } => format!("{name} {mac}"),
        Op::LinkRename { name, new_name, .. } => format!("{name} -> {new_name}"),
        Op::AddrAdd { dev, address, peer, .. } | Op::AddrDel { dev, address, peer, .. } => match peer {
            Some(p) => format!("{} peer {p} dev {dev}", address.addr()),
            None => format!("{address} dev {dev}"),
        },
        Op::RouteAdd { to, via, dev, .. } | Op::RouteDel { to, via, dev, .. } => {
            let mut s = if to.prefix_len() == 0 { "default".to_string() } else { to.to_string() };
            if let Some(via) = via {
                let _ = write!(s, " via {via}");
            }
            if let Some(dev) = dev {
                let _ = write!(s, " dev {dev}");
            }
            s
        }
        Op::ForwarderStart { dev, encap, local, port, peers, .. } => {
            let peers: Vec<String> = peers
                .iter()
                .map(|p| match p.subnet {
                    Some(s) => format!("{s} via {}", p.underlay),
                    None => p.underlay.to_string(),
                })
                .collect();
            let from = port.map_or(local.to_string(), |p| format!("{local}:{p}"));
            format!("{dev} {} {from} -> {}", encap.name(), peers.join(", "))
        }
        Op::ForwarderStop { dev, .. } => dev.clone(),
        Op::ConntrackFlush { subnets, .. } => {
            let subnets: Vec<String> = subnets.iter().map(ToString::to_string).collect();
            format!("entries to or from {}", subnets.join(", "))
        }
        Op::NftTableAdd { family, name, chains, .. } => {
            let chains: Vec<&str> = chains.iter().map(|c| c.name.as_str()).collect();
            format!("{} {name} (chains {})", family.as_str(), chains.join(", "))
        }
        Op::NftTableDel { family, name, .. } => format!("{} {name}", family.as_str()),
        Op::NftRuleAdd { family, table, chain, rule, comment, .. } => {
            format!("{} {table} {chain}: {rule}  # {}", family.as_str(), rule_purpose(comment))
        }
        Op::NftRuleDel { family, table, chain, comment, .. } => {
            format!("{} {table} {chain}: {}", family.as_str(), rule_purpose(comment))
        }
        Op::LinkSetHairpin { name, on, .. } => format!("{name} {}", if *on { "on" } else { "off" }),
        Op::LinkSetClass { name, class, .. } => format!("{name} {}", class.name()),
        Op::SupervisorStart | Op::SupervisorStop => "netlab supervise".into(),
        Op::ProcessStart { node, name, cmd, ready, ready_timeout_ms, user, env, .. } => {
            let mut s = format!("{node}:{name}: {}", one_line(cmd));
            if let Some(ready) = ready {
                let within = crate::topology::format_duration(std::time::Duration::from_millis(*ready_timeout_ms));
                let _ = write!(s, " (ready {} within {within})", one_line(&ready.to_string()));
            }
            if let Some(user) = user {
                let _ = write!(s, " (user {user})");
            }
            if !env.is_empty() {
                let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", one_line(v))).collect();
                let _ = write!(s, " (env {})", vars.join(" "));
            }
            s
        }
        Op::ProcessStop { node, name, .. } => format!("{node}:{name}"),
        Op::Exec { node, n, cmd, .. } => format!("{node}:exec.{n}: {}", one_line(cmd)),
        Op::QdiscReplace { dev, kind, impairment, .. } => format!("{dev} {kind} {impairment}"),
        Op::DropSet { dev, loss, carrier, .. } => {
            let what = Impairment { loss: *loss, carrier: *carrier, ..Impairment::default() };
            format!("{dev} ingress {what}")
        }
        Op::QdiscDel { dev, .. } | Op::DropDel { dev, .. } => dev.clone(),
        Op::RelayStart { a, b, a_to_b, b_to_a, .. } if a_to_b == b_to_a => format!("{a} <-> {b} {a_to_b}"),
        Op::RelayStart { a, b, a_to_b, b_to_a, .. } => format!("{a} -> {b} {a_to_b}; {b} -> {a} {b_to_a}"),
        Op::RelayStop { a, .. } => a.clone(),
        Op::RelaySet { a, a_to_b, b_to_a, .. } => {
            let mut s = a.clone();
            if let Some(imp) = a_to_b {
                let _ = write!(s, " a-b {imp}");
            }
            if let Some(imp) = b_to_a {
                let _ = write!(s, " b-a {imp}");
            }
            s
        }
    }
}

/// A command on one line: its line breaks (a multi-line script) as ` | `, like files'.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.join(" | ")
}
