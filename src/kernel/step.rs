//! How the kernel carries out each kind of op: [`Step::of`] is the one match that routes
//! every [`Op`] to its executor (a thread inside a namespace, the file system, a process,
//! an rtnetlink [`Request`], `nft` or ctnetlink). Adding a kind of op means adding its arm here, and the
//! compiler asks for it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::programs::Program;
use crate::firewall::groups::Class;
use crate::firewall::ruleset::{Chain, Family};
use crate::impair::netem::Qdisc;
use crate::impair::relay::RelayConfig;
use crate::impairment::{Impairment, Percent};
use crate::plan::{forwarder_config, Op};
use crate::topology::{EtcFileKind, Netns};
use crate::tunnel::ForwarderConfig;

/// One op, as the kernel executes it.
pub(super) enum Step<'a> {
    /// A named namespace, made on a thread of its own (see `netns::create_here`).
    CreateNetns { name: &'a str },
    /// Work on the file system (and on processes), done at once.
    Now(Now<'a>),
    /// A sysctl, written from a thread inside its namespace.
    Sysctl { netns: &'a Netns, key: &'a str, value: Sysctl<'a> },
    /// A TUN device: made by an ioctl from inside its namespace (the kernel will not make
    /// one over rtnetlink), then marked, grouped and given its mtu over rtnetlink.
    Tun { netns: &'a Netns, name: &'a str, mtu: Option<u32> },
    /// A forwarder process, started inside its namespace.
    StartForwarder { netns: &'a Netns, config: ForwarderConfig },
    /// A relay process, started inside its namespace.
    StartRelay { netns: &'a Netns, config: RelayConfig },
    /// An nftables drop at `dev`'s ingress made or replaced (`Some((loss, carrier))`),
    /// or removed: an `nft` run inside the namespace.
    Drop { netns: &'a Netns, dev: &'a str, set: Option<(Percent, bool)> },
    /// A request over the namespace's rtnetlink connection.
    Netlink { netns: &'a Netns, request: Request<'a> },
    /// The lab's supervisor started, or ended (and with it whatever of the lab's runs).
    Supervisor { start: bool },
    /// A process started by the supervisor inside its node, and waited for until ready.
    StartProcess(Program<'a>),
    /// A process stopped (SIGTERM, then SIGKILL).
    StopProcess { key: String },
    /// A one-shot command run to its end.
    Exec(Program<'a>),
    /// A change to nftables, sent by `nft` inside the namespace with the others of its
    /// batch in one transaction.
    Nft { netns: &'a Netns, change: Nft<'a> },
    /// The namespace's conntrack entries for these subnets, deleted over ctnetlink.
    Conntrack { netns: &'a Netns, subnets: &'a [IpNet] },
}

/// What netlab asks of nftables.
pub(super) enum Nft<'a> {
    AddTable { family: Family, name: &'a str, chains: &'a [Chain] },
    DelTable { family: Family, name: &'a str },
    AddRule { family: Family, table: &'a str, chain: &'a str, rule: &'a str, comment: &'a str },
    DelRule { family: Family, table: &'a str, chain: &'a str, comment: &'a str },
}

/// What is done at once: a namespace's second name, a name removed, an /etc/netns file
/// written or removed, a forwarder or relay stopped, a relay told to change.
pub(super) enum Now<'a> {
    Alias { name: &'a str, target: &'a str },
    DeleteNetns { name: &'a str },
    WriteFile { netns: &'a str, file: EtcFileKind, content: &'a str },
    RemoveFile { netns: &'a str, file: EtcFileKind },
    StopForwarder { netns: &'a Netns, dev: &'a str },
    StopRelay { netns: &'a Netns, a: &'a str },
    SetRelay { netns: &'a Netns, a: &'a str, a_to_b: Option<&'a Impairment>, b_to_a: Option<&'a Impairment> },
}

/// The value a sysctl step writes.
pub(super) enum Sysctl<'a> {
    Set(&'a str),
    /// The value recorded before the lab set it (nothing recorded: left alone).
    Restore,
}

/// What netlab asks of rtnetlink; each is built by `netlink::build`.
pub(super) enum Request<'a> {
    Bridge {
        name: &'a str,
        mtu: Option<u32>,
    },
    Veth {
        name: &'a str,
        mac: Option<&'a str>,
        peer_netns: &'a Netns,
        peer_name: &'a str,
        peer_mac: Option<&'a str>,
        mtu: Option<u32>,
    },
    Vxlan {
        name: &'a str,
        vni: u32,
        local: IpAddr,
        remote: IpAddr,
        port: u16,
        mtu: Option<u32>,
    },
    Ipip {
        name: &'a str,
        local: IpAddr,
        remote: IpAddr,
        mtu: Option<u32>,
    },
    /// A TUN device made by its ioctl: its mark, group and mtu.
    TunConfig {
        name: &'a str,
        mtu: Option<u32>,
    },
    Delete {
        name: &'a str,
    },
    Master {
        name: &'a str,
        master: &'a str,
    },
    NoMaster {
        name: &'a str,
    },
    Mtu {
        name: &'a str,
        mtu: u32,
    },
    Mac {
        name: &'a str,
        mac: &'a str,
    },
    Rename {
        name: &'a str,
        new_name: &'a str,
    },
    Up {
        name: &'a str,
        up: bool,
    },
    Addr {
        dev: &'a str,
        address: &'a IpNet,
        peer: &'a Option<IpAddr>,
        add: bool,
    },
    Route {
        to: &'a IpNet,
        via: &'a Option<IpAddr>,
        dev: Option<&'a str>,
        add: bool,
    },
    Hairpin {
        name: &'a str,
        on: bool,
    },
    /// The group of a class of the lab's (the kernel knows the lab's marks).
    Class {
        name: &'a str,
        class: Class,
    },
    /// A link's root qdisc replaced by this one, or (`None`) deleted.
    Qdisc {
        dev: &'a str,
        qdisc: Option<Qdisc>,
    },
}

impl<'a> Step<'a> {
    pub(super) fn of(op: &'a Op) -> Step<'a> {
        use Request as R;
        let netlink = |netns: &'a Netns, request: Request<'a>| Step::Netlink { netns, request };
        match op {
            Op::NetnsAdd { netns } => Step::CreateNetns { name: netns },
            Op::NetnsAlias { netns, target } => Step::Now(Now::Alias { name: netns, target }),
            Op::NetnsDel { netns } => Step::Now(Now::DeleteNetns { name: netns }),
            Op::SysctlSet { netns, key, value } => Step::Sysctl { netns, key, value: Sysctl::Set(value) },
            Op::SysctlRestore { netns, key } => Step::Sysctl { netns, key, value: Sysctl::Restore },
            Op::FileWrite { netns, file, content } => Step::Now(Now::WriteFile { netns, file: *file, content }),
            Op::FileRemove { netns, file } => Step::Now(Now::RemoveFile { netns, file: *file }),
            Op::TunAdd { netns, name, mtu } => Step::Tun { netns, name, mtu: *mtu },
            Op::ForwarderStart { netns, dev, encap, local, port, peers } => {
                Step::StartForwarder { netns, config: forwarder_config(dev, *encap, *local, *port, peers, None) }
            }
            Op::ForwarderStop { netns, dev } => Step::Now(Now::StopForwarder { netns, dev }),
            Op::RelayStart { netns, a, b, a_to_b, b_to_a } => {
                let config = RelayConfig {
                    a: a.clone(),
                    b: b.clone(),
                    a_to_b: a_to_b.clone(),
                    b_to_a: b_to_a.clone(),
                    stats: None,
                    control: None,
                };
                Step::StartRelay { netns, config }
            }
            Op::RelayStop { netns, a } => Step::Now(Now::StopRelay { netns, a }),
            Op::RelaySet { netns, a, a_to_b, b_to_a } => {
                Step::Now(Now::SetRelay { netns, a, a_to_b: a_to_b.as_ref(), b_to_a: b_to_a.as_ref() })
            }
            Op::DropSet { netns, dev, loss, carrier } => Step::Drop { netns, dev, set: Some((*loss, *carrier)) },
            Op::DropDel { netns, dev } => Step::Drop { netns, dev, set: None },
            Op::QdiscReplace { netns, dev, kind, impairment } => {
                netlink(netns, R::Qdisc { dev, qdisc: Some(Qdisc::of(*kind, impairment)) })
            }
            Op::QdiscDel { netns, dev } => netlink(netns, R::Qdisc { dev, qdisc: None }),
            Op::BridgeAdd { netns, name, mtu } => netlink(netns, R::Bridge { name, mtu: *mtu }),
            Op::VethAdd { netns, name, mac, peer_netns, peer_name, peer_mac, mtu } => netlink(
                netns,
                R::Veth { name, mac: mac.as_deref(), peer_netns, peer_name, peer_mac: peer_mac.as_deref(), mtu: *mtu },
            ),
            Op::VxlanAdd { netns, name, vni, local, remote, port, mtu } => {
                netlink(netns, R::Vxlan { name, vni: *vni, local: *local, remote: *remote, port: *port, mtu: *mtu })
            }
            Op::IpipAdd { netns, name, local, remote, mtu } => {
                netlink(netns, R::Ipip { name, local: *local, remote: *remote, mtu: *mtu })
            }
            Op::LinkDel { netns, name } => netlink(netns, R::Delete { name }),
            Op::LinkSetMaster { netns, name, master } => netlink(netns, R::Master { name, master }),
            Op::LinkSetNomaster { netns, name } => netlink(netns, R::NoMaster { name }),
            Op::LinkSetMtu { netns, name, mtu } => netlink(netns, R::Mtu { name, mtu: *mtu }),
            Op::LinkSetMac { netns, name, mac } => netlink(netns, R::Mac { name, mac }),
            Op::LinkRename { netns, name, new_name } => netlink(netns, R::Rename { name, new_name }),
            Op::LinkUp { netns, name } => netlink(netns, R::Up { name, up: true }),
            Op::LinkDown { netns, name } => netlink(netns, R::Up { name, up: false }),
            Op::AddrAdd { netns, dev, address, peer } => netlink(netns, R::Addr { dev, address, peer, add: true }),
            Op::AddrDel { netns, dev, address, peer } => netlink(netns, R::Addr { dev, address, peer, add: false }),
            Op::RouteAdd { netns, to, via, dev } => {
                netlink(netns, R::Route { to, via, dev: dev.as_deref(), add: true })
            }
            Op::RouteDel { netns, to, via, dev } => {
                netlink(netns, R::Route { to, via, dev: dev.as_deref(), add: false })
            }
            Op::LinkSetHairpin { netns, name, on } => netlink(netns, R::Hairpin { name, on: *on }),
            Op::LinkSetClass { netns, name, class } => netlink(netns, R::Class { name, class: *class }),
            Op::ConntrackFlush { netns, subnets } => Step::Conntrack { netns, subnets },
            Op::NftTableAdd { netns, family, name, chains } => {
                Step::Nft { netns, change: Nft::AddTable { family: *family, name, chains } }
            }
            Op::NftTableDel { netns, family, name } => {
                Step::Nft { netns, change: Nft::DelTable { family: *family, name } }
            }
            Op::NftRuleAdd { netns, family, table, chain, rule, comment } => {
                Step::Nft { netns, change: Nft::AddRule { family: *family, table, chain, rule, comment } }
            }
            Op::NftRuleDel { netns, family, table, chain, comment } => {
                Step::Nft { netns, change: Nft::DelRule { family: *family, table, chain, comment } }
            }
            Op::SupervisorStart => Step::Supervisor { start: true },
            Op::SupervisorStop => Step::Supervisor { start: false },
            Op::ProcessStart { node, name, netns, cmd, ready, ready_timeout_ms, user, env } => {
                Step::StartProcess(Program {
                    node,
                    name: name.clone(),
                    netns,
                    cmd,
                    ready: ready.as_ref(),
                    within: std::time::Duration::from_millis(*ready_timeout_ms),
                    user: user.as_deref(),
                    env,
                })
            }
            Op::ProcessStop { .. } => Step::StopProcess { key: op.process_key().expect("a process op has a key") },
            Op::Exec { node, netns, n, cmd } => Step::Exec(Program {
                node,
                name: format!("exec.{n}"),
                netns,
                cmd,
                ready: None,
                within: std::time::Duration::ZERO,
                user: None,
                env: &NO_ENV,
            }),
        }
    }
}

/// The environment an `exec` command adds to netlab's own: none.
static NO_ENV: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Direction;

    /// Which executor an op goes to, in a word.
    fn route(op: &Op) -> String {
        match Step::of(op) {
            Step::CreateNetns { .. } => "create namespace".into(),
            Step::Now(Now::Alias { .. }) => "alias".into(),
            Step::Now(Now::DeleteNetns { .. }) => "delete namespace".into(),
            Step::Now(Now::WriteFile { .. } | Now::RemoveFile { .. }) => "file".into(),
            Step::Now(Now::StopForwarder { .. }) => "stop forwarder".into(),
            Step::Now(Now::StopRelay { .. }) => "stop relay".into(),
            Step::Now(Now::SetRelay { .. }) => "set relay".into(),
            Step::StartRelay { config, .. } => format!("start {}", config.args().join(" ")),
            Step::Drop { set, .. } => format!("nft {}", if set.is_some() { "set" } else { "delete" }),
            Step::Sysctl { value: Sysctl::Set(v), .. } => format!("sysctl {v}"),
            Step::Sysctl { value: Sysctl::Restore, .. } => "sysctl restore".into(),
            Step::Tun { .. } => "tun ioctl".into(),
            Step::Supervisor { start } => format!("supervisor {start}"),
            Step::StartProcess(p) => format!("start process {}", p.name),
            Step::StopProcess { key } => format!("stop process {key}"),
            Step::Exec(p) => format!("exec {}", p.cmd),
            Step::StartForwarder { config, .. } => format!("start {}", config.args().join(" ")),
            Step::Nft { change: Nft::AddTable { .. } | Nft::AddRule { .. }, .. } => "nft add".into(),
            Step::Nft { change: Nft::DelTable { .. } | Nft::DelRule { .. }, .. } => "nft delete".into(),
            Step::Conntrack { .. } => "conntrack".into(),
            Step::Netlink { request, .. } => match request {
                Request::Bridge { .. } | Request::Veth { .. } | Request::Vxlan { .. } | Request::Ipip { .. } => {
                    "netlink new link".into()
                }
                Request::Delete { .. } => "netlink del link".into(),
                Request::Up { up, .. } => format!("netlink up {up}"),
                Request::Addr { add, .. } => format!("netlink addr {add}"),
                Request::Route { add, .. } => format!("netlink route {add}"),
                Request::Qdisc { qdisc, .. } => format!("netlink qdisc {}", qdisc.is_some()),
                Request::TunConfig { .. }
                | Request::Hairpin { .. }
                | Request::Class { .. }
                | Request::Master { .. }
                | Request::NoMaster { .. }
                | Request::Mtu { .. }
                | Request::Mac { .. }
                | Request::Rename { .. } => "netlink set link".into(),
            },
        }
    }

    #[test]
    fn every_op_of_every_shipped_plan_and_teardown_goes_to_its_executor() {
        for (name, plan) in crate::testing::shipped_plans() {
            let down = plan.teardown();
            assert_eq!(down.direction, Direction::Down);
            for op in plan.ops.iter().chain(&down.ops) {
                let want = match crate::plan::text::kind(op) {
                    "netns add" => "create namespace",
                    "tun add" => "tun ioctl",
                    "forwarder start" => "start forward",
                    "relay start" => "start relay --a",
                    "relay stop" => "stop relay",
                    "qdisc replace" => "netlink qdisc true",
                    "drop set" => "nft set",
                    "drop del" => "nft delete",
                    "link del" => "netlink del link",
                    "netns del" => "delete namespace",
                    "addr add" => "netlink addr true",
                    "nft table add" | "nft rule add" => "nft add",
                    "nft table del" => "nft delete",
                    "conntrack flush" => "conntrack",
                    "link hairpin" | "link class" => "netlink set link",
                    _ => continue,
                };
                assert!(route(op).starts_with(want), "{name}: {op:?} goes to {}", route(op));
            }
        }
        let restore = Op::SysctlRestore { netns: Netns::Host, key: "k".into() };
        assert_eq!(route(&restore), "sysctl restore");
        assert_eq!(route(&Op::LinkDown { netns: Netns::Host, name: "v".into() }), "netlink up false");
        let route_del = Op::RouteDel { netns: Netns::Host, to: "10.0.0.0/8".parse().unwrap(), via: None, dev: None };
        assert_eq!(route(&route_del), "netlink route false");
    }
}
