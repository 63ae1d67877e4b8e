//! The plan as a shell script of iproute2 commands that builds (or removes) the same lab.
//!
//! This is how a person checks netlab against the tool they know, and the tests use it as
//! an oracle: a lab built by `netlab up` and one built by this script must look the same
//! to `ip -j`. Ops with no iproute2 equivalent become comments that say so.

use std::fmt::Write as _;

use super::{Direction, Op, Plan};
use crate::firewall::groups::group;
use crate::firewall::live::heredoc;
use crate::firewall::ruleset::{rule_line, table_block, table_mark};
use crate::impair::netem::Qdisc;
use crate::impair::nft;
use crate::topology::Netns;

pub fn render(plan: &Plan) -> String {
    let what = match plan.direction {
        Direction::Up => "builds",
        Direction::Down => "removes",
    };
    let mut out = format!(
        "#!/bin/sh\n# iproute2 script that {what} lab {} like `netlab {}` does. Run as root: sh FILE\nset -e\n",
        plan.lab,
        match plan.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    );
    // Consecutive nftables ops of one namespace go to nft as one script, one transaction,
    // as `up` sends them.
    let mut i = 0;
    while i < plan.ops.len() {
        let op = &plan.ops[i];
        let Some(first) = nft_lines(op, &plan.lab) else {
            let _ = writeln!(out, "{}", command(&plan.lab, op));
            i += 1;
            continue;
        };
        let mut script = first;
        i += 1;
        while let Some(more) = plan.ops.get(i).filter(|o| o.netns() == op.netns()).and_then(|o| nft_lines(o, &plan.lab))
        {
            script.push_str(&more);
            i += 1;
        }
        let _ = writeln!(out, "{}", heredoc(&in_netns(&op.netns(), "nft"), &script));
    }
    out
}

/// `PROGRAM` in the root namespace, `ip netns exec NS PROGRAM` elsewhere.
fn in_netns(netns: &Netns, program: &str) -> String {
    match netns {
        Netns::Host => program.into(),
        Netns::Named(n) => format!("ip netns exec {} {program}", q(n)),
    }
}

/// What an nftables op says to `nft -f`, or `None` for any other op (and for a rule
/// deletion, which needs the rule's handle looked up first).
fn nft_lines(op: &Op, lab: &str) -> Option<String> {
    match op {
        Op::NftTableAdd { family, name, chains, .. } => Some(table_block(*family, name, &table_mark(lab), chains)),
        Op::NftTableDel { family, name, .. } => Some(format!("delete table {} {name}\n", family.as_str())),
        Op::NftRuleAdd { family, table, chain, rule, comment, .. } => {
            Some(format!("add rule {} {table} {chain} {}\n", family.as_str(), rule_line(rule, comment)))
        }
        Op::NetnsAdd { .. }
        | Op::NetnsAlias { .. }
        | Op::NetnsDel { .. }
        | Op::SysctlSet { .. }
        | Op::SysctlRestore { .. }
        | Op::FileWrite { .. }
        | Op::FileRemove { .. }
        | Op::BridgeAdd { .. }
        | Op::VethAdd { .. }
        | Op::VxlanAdd { .. }
        | Op::IpipAdd { .. }
        | Op::TunAdd { .. }
        | Op::LinkDel { .. }
        | Op::LinkSetMaster { .. }
        | Op::LinkSetNomaster { .. }
        | Op::LinkSetMtu { .. }
        | Op::LinkSetMac { .. }
        | Op::LinkRename { .. }
        | Op::LinkUp { .. }
        | Op::LinkDown { .. }
        | Op::AddrAdd { .. }
        | Op::AddrDel { .. }
        | Op::RouteAdd { .. }
        | Op::RouteDel { .. }
        | Op::ForwarderStart { .. }
        | Op::ForwarderStop { .. }
        | Op::ConntrackFlush { .. }
        | Op::NftRuleDel { .. }
        | Op::LinkSetHairpin { .. }
        | Op::LinkSetClass { .. }
        | Op::QdiscReplace { .. }
        | Op::QdiscDel { .. }
        | Op::DropSet { .. }
        | Op::DropDel { .. }
        | Op::RelayStart { .. }
        | Op::RelayStop { .. }
        | Op::RelaySet { .. }
        | Op::SupervisorStart
        | Op::SupervisorStop
        | Op::ProcessStart { .. }
        | Op::ProcessStop { .. }
        | Op::Exec { .. } => None,
    }
}

/// `ip` in the root namespace, `ip -n NS` elsewhere.
fn ip(netns: &Netns) -> String {
    match netns {
        Netns::Host => "ip".into(),
        Netns::Named(n) => format!("ip -n {}", q(n)),
    }
}

/// `nft` in a namespace (nft has no `-n`).
fn nft(netns: &Netns) -> String {
    match netns {
        Netns::Host => "nft".into(),
        Netns::Named(n) => format!("ip netns exec {} nft", q(n)),
    }
}

/// `tc` in a namespace.
fn tc(netns: &Netns) -> String {
    match netns {
        Netns::Host => "tc".into(),
        Netns::Named(n) => format!("tc -n {}", q(n)),
    }
}

/// The shell command for one op of lab `lab`.
pub fn command(lab: &str, op: &Op) -> String {
    let mtu = |mtu: &Option<u32>| mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
    match op {
        Op::NetnsAdd { netns } => format!("ip netns add {}", q(netns)),
        Op::NetnsAlias { netns, target } => {
            format!("touch /run/netns/{a} && mount --bind /run/netns/{t} /run/netns/{a}", a = q(netns), t = q(target))
        }
        Op::NetnsDel { netns } => format!("ip netns del {}", q(netns)),
        Op::SysctlSet { netns, key, value } => {
            let set = format!("sysctl -qw {}", q(&format!("{key}={value}")));
            match netns {
                Netns::Host => set,
                Netns::Named(n) => format!("ip netns exec {} {set}", q(n)),
            }
        }
        Op::SysctlRestore { netns, key } => {
            format!("# sysctl {key} in {netns}: netlab puts back the value it found before up; a script cannot know it")
        }
        Op::FileWrite { netns, file, content } => {
            let lines: Vec<String> = content.lines().map(q).collect();
            format!(
                "mkdir -p /etc/netns/{n} && printf '%s\\n' {} > /etc/netns/{n}/{}",
                lines.join(" "),
                file.file_name(),
                n = q(netns)
            )
        }
        Op::FileRemove { netns, file } => {
            format!(
                "rm -f /etc/netns/{n}/{} && {{ rmdir /etc/netns/{n} 2>/dev/null || true; }}",
                file.file_name(),
                n = q(netns)
            )
        }
        Op::BridgeAdd { netns, name, mtu: m } => format!("{} link add {}{} type bridge", ip(netns), q(name), mtu(m)),
        Op::VethAdd { netns, name, mac, peer_netns, peer_name, peer_mac, mtu: m } => {
            // Issued from the root namespace; `netns` puts each end where it belongs, as
            // in `ip link add v1 netns ns1 type veth peer name v1-P`.
            let end = |netns: &Netns, mac: &Option<String>| {
                let mut s = String::new();
                if let Netns::Named(n) = netns {
                    let _ = write!(s, " netns {}", q(n));
                }
                if let Some(mac) = mac {
                    let _ = write!(s, " address {mac}");
                }
                s + &mtu(m)
            };
            format!(
                "ip link add {}{} type veth peer name {}{}",
                q(name),
                end(netns, mac),
                q(peer_name),
                end(peer_netns, peer_mac)
            )
        }
        Op::VxlanAdd { netns, name, vni, local, remote, port, mtu: m } => {
            format!(
                "{} link add {}{} type vxlan id {vni} local {local} remote {remote} dstport {port}",
                ip(netns),
                q(name),
                mtu(m)
            )
        }
        Op::IpipAdd { netns, name, local, remote, mtu: m } => {
            let add = format!("{} tunnel add {} mode ipip remote {remote} local {local}", ip(netns), q(name));
            match m {
                Some(m) => format!("{add} && {} link set dev {} mtu {m}", ip(netns), q(name)),
                None => add,
            }
        }
        Op::TunAdd { netns, name, mtu: m } => {
            // The flags of netlab's TUN devices (see src/tunnel/tun.rs).
            let add = format!("{} tuntap add dev {} mode tun multi_queue vnet_hdr", ip(netns), q(name));
            match m {
                Some(m) => format!("{add} && {} link set dev {} mtu {m}", ip(netns), q(name)),
                None => add,
            }
        }
        Op::LinkDel { netns, name } => format!("{} link del dev {}", ip(netns), q(name)),
        Op::LinkSetMaster { netns, name, master } => {
            format!("{} link set dev {} master {}", ip(netns), q(name), q(master))
        }
        Op::LinkSetNomaster { netns, name } => format!("{} link set dev {} nomaster", ip(netns), q(name)),
        Op::LinkSetMtu { netns, name, mtu } => format!("{} link set dev {} mtu {mtu}", ip(netns), q(name)),
        Op::LinkSetMac { netns, name, mac } => format!("{} link set dev {} address {mac}", ip(netns), q(name)),
        Op::LinkRename { netns, name, new_name } => {
            // iproute2 renames only a link that is down, as the kernel wants.
            let (ip, old, new) = (ip(netns), q(name), q(new_name));
            format!("{ip} link set dev {old} down && {ip} link set dev {old} name {new} && {ip} link set dev {new} up")
        }
        Op::LinkUp { netns, name } => format!("{} link set dev {} up", ip(netns), q(name)),
        Op::LinkDown { netns, name } => format!("{} link set dev {} down", ip(netns), q(name)),
        Op::AddrAdd { netns, dev, address, peer } | Op::AddrDel { netns, dev, address, peer } => {
            let verb = if matches!(op, Op::AddrAdd { .. }) { "add" } else { "del" };
            let addr = match peer {
                Some(p) => format!("{} peer {p}", address.addr()),
                None => address.to_string(),
            };
            // netlab adds IPv6 addresses without duplicate address detection (see
            // kernel::netlink::build::new_addr).
            let nodad = if verb == "add" && address.addr().is_ipv6() { " nodad" } else { "" };
            format!("{} addr {verb} {addr} dev {}{nodad}", ip(netns), q(dev))
        }
        Op::RouteAdd { netns, to, via, dev } | Op::RouteDel { netns, to, via, dev } => {
            let verb = if matches!(op, Op::RouteAdd { .. }) { "add" } else { "del" };
            // `default` is IPv4's unless `ip` is told the family (before `route`).
            let family = if to.prefix_len() == 0 && to.addr().is_ipv6() { "-6 " } else { "" };
            let mut s = format!("{} {family}route {verb} ", ip(netns));
            if to.prefix_len() == 0 {
                s.push_str("default");
            } else {
                s.push_str(&to.to_string());
            }
            if let Some(via) = via {
                let _ = write!(s, " via {via}");
            }
            if let Some(dev) = dev {
                let _ = write!(s, " dev {}", q(dev));
            }
            s
        }
        Op::ForwarderStart { netns, dev, encap, local, port, .. } => {
            let from = port.map_or(local.to_string(), |p| format!("{local}:{p}"));
            format!("# no iproute2 equivalent: netlab's {} forwarder for {dev} in {netns} ({from})", encap.name())
        }
        Op::ForwarderStop { netns, dev } => {
            format!("# no iproute2 equivalent: stop netlab's udp forwarder for {dev} in {netns}")
        }
        Op::ConntrackFlush { netns, subnets } => {
            // Any of the four addresses of an entry (original source and destination, reply
            // source and destination); conntrack -D says 1 when it found nothing.
            let conntrack = in_netns(netns, "conntrack");
            let subnets: Vec<String> = subnets.iter().map(ToString::to_string).collect();
            format!(
                "for s in {}; do for by in -s -d -r -q; do {conntrack} -D $by $s >/dev/null 2>&1 || true; done; done",
                subnets.join(" ")
            )
        }
        Op::NftTableAdd { netns, .. } | Op::NftTableDel { netns, .. } | Op::NftRuleAdd { netns, .. } => {
            heredoc(&in_netns(netns, "nft"), &nft_lines(op, lab).unwrap_or_default())
        }
        Op::NftRuleDel { netns, family, table, chain, comment } => {
            // The handle of the rule with this comment, from nft's listing.
            let nft = in_netns(netns, "nft");
            let (f, t, c) = (family.as_str(), q(table), q(chain));
            let at = q(&format!("comment \"{comment}\" # handle "));
            format!(
                "h=$({nft} -a list chain {f} {t} {c} | awk -v c={at} 'i = index($0, c) {{ print substr($0, i + length(c)) }}') \
                 && {nft} delete rule {f} {t} {c} handle \"$h\""
            )
        }
        Op::LinkSetHairpin { netns, name, on } => {
            format!(
                "{} link set dev {} type bridge_slave hairpin {}",
                ip(netns),
                q(name),
                if *on { "on" } else { "off" }
            )
        }
        Op::LinkSetClass { netns, name, class } => {
            format!("{} link set dev {} group {:#010x}", ip(netns), q(name), group(lab, *class))
        }
        Op::QdiscReplace { netns, dev, kind, impairment } => {
            let args = Qdisc::of(*kind, impairment).tc_args();
            format!("{} qdisc replace dev {} root {args}", tc(netns), q(dev))
        }
        Op::QdiscDel { netns, dev } => format!("{} qdisc del dev {} root", tc(netns), q(dev)),
        // The very script netlab feeds nft (see impair::nft), as a here-document.
        Op::DropSet { netns, dev, loss, carrier } => {
            format!("{} -f - <<'NFT'\n{}NFT", nft(netns), nft::set_script(lab, dev, *loss, *carrier))
        }
        Op::DropDel { netns, dev } => format!("{} delete table netdev {}", nft(netns), nft::table(lab, dev)),
        Op::RelayStart { netns, a, b, a_to_b, b_to_a } => format!(
            "# no iproute2 equivalent: netlab's impairment relay in {netns} between {a} and {b}: \
             netlab relay --a {a} --b {b} --a-to-b {a_to_b} --b-to-a {b_to_a}"
        ),
        Op::RelayStop { netns, a } => format!("# no iproute2 equivalent: stop netlab's relay of {a} in {netns}"),
        Op::RelaySet { netns, a, a_to_b, b_to_a } => {
            let set = |imp: &Option<crate::impairment::Impairment>| {
                imp.as_ref().map_or("unchanged".into(), |i| i.to_string())
            };
            format!(
                "# no iproute2 equivalent: netlab's relay of {a} in {netns} now does a-b {}, b-a {}",
                set(a_to_b),
                set(b_to_a)
            )
        }
        // Programs, not network state: comments, so the script builds the same network.
        Op::SupervisorStart
        | Op::SupervisorStop
        | Op::ProcessStart { .. }
        | Op::ProcessStop { .. }
        | Op::Exec { .. } => {
            let what = super::text::detail(op).replace('\n', " ");
            format!("# not network state: netlab {} in {}: {what}", super::text::kind(op), op.netns())
        }
    }
}

/// Quotes a word for sh when it holds anything but plainly safe characters.
fn q(s: &str) -> String {
    let safe = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-:/=@%+,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::{q, Netns, Op};

    #[test]
    fn an_ipv6_default_route_names_its_family_before_route() {
        let op = Op::RouteAdd {
            netns: Netns::Named("n".into()),
            to: "::/0".parse().unwrap(),
            via: Some("fd00::1".parse().unwrap()),
            dev: None,
        };
        assert_eq!(super::command("x", &op), "ip -n n -6 route add default via fd00::1");
        let add = |address: &str| Op::AddrAdd {
            netns: Netns::Host,
            dev: "v".into(),
            address: address.parse().unwrap(),
            peer: None,
        };
        assert_eq!(super::command("x", &add("fd00::2/64")), "ip addr add fd00::2/64 dev v nodad");
        assert_eq!(super::command("x", &add("10.0.0.1/24")), "ip addr add 10.0.0.1/24 dev v");
    }

    #[test]
    fn quoting() {
        assert_eq!(q("v1-P"), "v1-P");
        assert_eq!(q("127.0.0.1\tlocalhost"), "'127.0.0.1\tlocalhost'");
        assert_eq!(q("it's"), "'it'\\''s'");
        assert_eq!(q(""), "''");
    }
}
