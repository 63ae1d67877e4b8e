//! A record is read back as strictly as a topology file: every name in it (namespaces,
//! interfaces, sysctl keys, the lab's own) must pass the checks of
//! [`crate::topology::names`] that the same name passed when it came from a file. A
//! record that was edited by hand or corrupted could otherwise send `down` to unmount,
//! delete or write paths outside /run/netns, /etc/netns and /proc/sys.

use crate::plan::Op;
use crate::topology::names::{
    check_ifname, check_lab_name, check_name, check_netns_name, check_process_name, check_sysctl_key,
};
use crate::topology::Netns;

use super::{Entry, Record};

/// Checks the record of lab `lab` (its file's name): its own `lab`, its nodes and every
/// entry. The first problem, said with where it is.
pub(super) fn record(record: &Record, lab: &str) -> Result<(), String> {
    self::lab(&record.lab, lab)?;
    for (node, netns) in &record.nodes {
        self::node(node, netns).map_err(|e| format!("node `{}`: {e}", node.escape_default()))?;
    }
    for (i, e) in record.entries.iter().enumerate() {
        entry(e).map_err(|why| format!("entry {}: {why}", i + 1))?;
    }
    for (i, p) in record.ports.iter().enumerate() {
        // Shown by `status` and `port`: nothing a terminal would act on.
        let shown = |s: &str| !s.is_empty() && !s.chars().any(char::is_control);
        if !shown(&p.node) || !shown(&p.spec) {
            return Err(format!("port {}: not a node's `ports` entry", i + 1));
        }
        namespace(&p.netns).map_err(|e| format!("port {}: {e}", i + 1))?;
    }
    Ok(())
}

/// The record's own `lab`: the lab its file is named for. (The marks of another lab would
/// make `down` take that lab's objects for this one's.)
pub(super) fn lab(said: &str, lab: &str) -> Result<(), String> {
    if said == lab {
        Ok(())
    } else {
        Err(format!("it is the record of lab `{}`, not of lab {lab}", said.escape_default()))
    }
}

/// A node's name and the namespace it lives in.
pub(super) fn node(name: &str, netns: &Netns) -> Result<(), String> {
    // A node's name is shown by `status` and looked up by `exec` and `link`: what a
    // topology file may name a node, nothing a terminal would act on.
    check_name("node", name)?;
    namespace(netns)
}

/// One entry: every name its op carries.
pub(super) fn entry(entry: &Entry) -> Result<(), String> {
    use Op::*;
    let kind = crate::plan::text::kind(&entry.op);
    let checked = match &entry.op {
        NetnsAdd { netns } | NetnsDel { netns } => check_netns_name(netns),
        NetnsAlias { netns, target } => check_netns_name(netns).and_then(|()| check_netns_name(target)),
        SysctlSet { netns, key, .. } | SysctlRestore { netns, key } => {
            namespace(netns).and_then(|()| check_sysctl_key(key))
        }
        FileWrite { netns, .. } | FileRemove { netns, .. } => check_netns_name(netns),
        BridgeAdd { netns, name, .. }
        | VxlanAdd { netns, name, .. }
        | IpipAdd { netns, name, .. }
        | TunAdd { netns, name, .. }
        | LinkDel { netns, name }
        | LinkSetNomaster { netns, name }
        | LinkSetMtu { netns, name, .. }
        | LinkSetMac { netns, name, .. }
        | LinkUp { netns, name }
        | LinkDown { netns, name }
        | AddrAdd { netns, dev: name, .. }
        | AddrDel { netns, dev: name, .. }
        | ForwarderStart { netns, dev: name, .. }
        | ForwarderStop { netns, dev: name }
        | QdiscReplace { netns, dev: name, .. }
        | QdiscDel { netns, dev: name }
        | DropSet { netns, dev: name, .. }
        | DropDel { netns, dev: name }
        | RelayStop { netns, a: name }
        | RelaySet { netns, a: name, .. } => link(netns, name),
        RelayStart { netns, a, b, .. } => link(netns, a).and_then(|()| check_ifname(b)),
        VethAdd { netns, name, peer_netns, peer_name, .. } => {
            link(netns, name).and_then(|()| link(peer_netns, peer_name))
        }
        LinkSetMaster { netns, name, master: other } | LinkRename { netns, name, new_name: other } => {
            link(netns, name).and_then(|()| check_ifname(other))
        }
        RouteAdd { netns, dev, .. } | RouteDel { netns, dev, .. } => match dev {
            Some(dev) => link(netns, dev),
            None => namespace(netns),
        },
        LinkSetHairpin { netns, name, .. } | LinkSetClass { netns, name, .. } => link(netns, name),
        ConntrackFlush { netns, .. } => namespace(netns),
        NftTableAdd { netns, name, chains, .. } => namespace(netns)
            .and_then(|()| table_name(name))
            .and_then(|()| chains.iter().try_for_each(|c| nft_word(&c.name))),
        NftTableDel { netns, name, .. } => namespace(netns).and_then(|()| table_name(name)),
        NftRuleAdd { netns, table, chain, rule, comment, .. } => namespace(netns)
            .and_then(|()| table_name(table))
            .and_then(|()| nft_word(chain))
            .and_then(|()| nft_text(rule))
            .and_then(|()| nft_comment(comment)),
        NftRuleDel { netns, table, chain, comment, .. } => namespace(netns)
            .and_then(|()| table_name(table))
            .and_then(|()| nft_word(chain))
            .and_then(|()| nft_comment(comment)),
        // A process's node and name make the names of its files.
        ProcessStart { netns, node, name, .. } | ProcessStop { netns, node, name } => {
            namespace(netns).and_then(|()| check_netns_name(node)).and_then(|()| check_process_name(name))
        }
        Exec { netns, node, .. } => namespace(netns).and_then(|()| check_netns_name(node)),
        SupervisorStart | SupervisorStop => Ok(()),
    };
    checked.map_err(|e| format!("{kind}: {e}"))
}

/// A table of a lab's: `netlab-<lab>`, the lab a name as a file gives it (a record edited
/// to name another table gets no further; `down` also checks the table's mark).
fn table_name(name: &str) -> Result<(), String> {
    match name.strip_prefix("netlab-") {
        Some(lab) if check_lab_name(lab).is_ok() => Ok(()),
        _ => Err(format!("`{}` is not the name of a lab's table", name.escape_default())),
    }
}

/// A chain's name: one word of nft's.
fn nft_word(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(format!("`{}` is not a chain name", name.escape_default()))
    }
}

/// A rule's text or identity: one line of an nft script, with nothing that ends a quoted
/// comment or a command.
fn nft_text(text: &str) -> Result<(), String> {
    if text.chars().any(|c| c.is_control() || c == ';') || text.contains('\\') {
        return Err(format!("`{}` cannot be a line of an nft script", text.escape_default()));
    }
    Ok(())
}

/// A rule's identity, which goes between quotes.
fn nft_comment(text: &str) -> Result<(), String> {
    nft_text(text)?;
    if text.contains('"') {
        return Err(format!("`{}` cannot be a rule's comment", text.escape_default()));
    }
    Ok(())
}

fn namespace(netns: &Netns) -> Result<(), String> {
    match netns {
        Netns::Host => Ok(()),
        Netns::Named(n) => check_netns_name(n),
    }
}

fn link(netns: &Netns, name: &str) -> Result<(), String> {
    namespace(netns).and_then(|()| check_ifname(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateDir;
    use crate::topology::EtcFileKind;

    fn named(n: &str) -> Netns {
        Netns::Named(n.into())
    }

    #[test]
    fn every_name_an_entry_carries_is_checked_like_a_topologys() {
        let bad = [
            Op::NetnsAdd { netns: "../victim".into() },
            Op::NetnsAlias { netns: "a".into(), target: "../../etc".into() },
            Op::NetnsDel { netns: "/etc/passwd".into() },
            Op::SysctlSet { netns: Netns::Host, key: "/etc/shadow".into(), value: "1".into() },
            Op::SysctlRestore { netns: Netns::Host, key: "net..ipv4".into() },
            Op::SysctlRestore { netns: named(".."), key: "net.ipv4.ip_forward".into() },
            Op::FileWrite { netns: "../../run".into(), file: EtcFileKind::Hosts, content: String::new() },
            Op::FileRemove { netns: "a/b".into(), file: EtcFileKind::Hosts },
            Op::LinkDel { netns: Netns::Host, name: "../x".into() },
            Op::LinkRename { netns: Netns::Host, name: "a".into(), new_name: "b/c".into() },
            Op::ForwarderStop { netns: named("."), dev: "fl0".into() },
            Op::ForwarderStop { netns: Netns::Host, dev: "a:b".into() },
            Op::RelayStop { netns: named("netlab-x-relay"), a: "../r".into() },
            Op::DropDel { netns: named("a/b"), dev: "e0".into() },
            Op::RouteDel { netns: named("a/.."), to: "10.0.0.0/8".parse().unwrap(), via: None, dev: None },
            Op::NftTableDel {
                netns: Netns::Host,
                family: crate::firewall::ruleset::Family::Inet,
                name: "filter".into(),
            },
            Op::NftRuleDel {
                netns: Netns::Host,
                family: crate::firewall::ruleset::Family::Inet,
                table: "netlab-web".into(),
                chain: "forward".into(),
                comment: "x\"; flush ruleset".into(),
            },
            Op::LinkSetHairpin { netns: Netns::Host, name: "a/b".into(), on: false },
            Op::ConntrackFlush { netns: named(".."), subnets: vec![] },
            Op::ProcessStop { node: "a".into(), name: "../../etc/passwd".into(), netns: named("a") },
            Op::ProcessStop { node: "../x".into(), name: "web".into(), netns: named("a") },
            Op::Exec { node: "a/b".into(), netns: named("a"), n: 1, cmd: "true".into() },
        ];
        for op in bad {
            assert!(entry(&Entry::pending(op.clone())).is_err(), "{op:?}");
        }
        for plan in crate::testing::shipped_plans().into_iter().map(|(_, p)| p) {
            for op in plan.ops.iter().chain(&plan.teardown().ops) {
                assert_eq!(entry(&Entry::pending(op.clone())), Ok(()), "{op:?}");
            }
        }
        let e = entry(&Entry::pending(Op::NetnsAdd { netns: "../victim".into() })).unwrap_err();
        assert!(e.starts_with("netns add: ") && e.contains("`../victim`"), "{e}");
    }

    #[test]
    fn a_record_is_its_labs_with_nodes_that_name_namespaces() {
        let dir = crate::testing::TempDir::new();
        let state = StateDir::new(dir.path());
        let mut r = state.new_record("web");
        r.nodes.insert("a".into(), named("web-a"));
        assert_eq!(record(&r, "web"), Ok(()));
        assert_eq!(record(&r, "db").unwrap_err(), "it is the record of lab `web`, not of lab db");
        r.nodes.insert("b".into(), named("../b"));
        assert!(record(&r, "web").unwrap_err().starts_with("node `b`: "));
        r.nodes.remove("b");
        r.nodes.insert("\u{1b}[2J".into(), Netns::Host);
        assert!(record(&r, "web").unwrap_err().starts_with("node `\\u{1b}[2J`: `\\u{1b}` is not allowed in node name"));
        r.nodes.clear();
        // What a topology file may not name a node, a record may not either.
        for bad in ["a/b", "..", "a b", "x".repeat(65).as_str()] {
            r.nodes.insert(bad.into(), Netns::Host);
            assert!(record(&r, "web").unwrap_err().starts_with(&format!("node `{bad}`: ")), "{bad}");
            r.nodes.clear();
        }
        r.entries.push(Entry::pending(Op::NetnsAdd { netns: "web-a".into() }));
        r.entries.push(Entry::pending(Op::NetnsDel { netns: "..".into() }));
        assert!(record(&r, "web").unwrap_err().starts_with("entry 2: netns del: "));
    }
}
