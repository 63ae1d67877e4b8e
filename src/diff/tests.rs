//! `diff` from fixtures, in nmstate's manner (its `unit_tests/gen_diff.rs`): a desired plan
//! compiled from a topology, a kernel state written by hand (links, addresses, routes of
//! each namespace, sysctls, files, forwarders), the lab's record, and the changes and
//! conflicts expected, as `netlab diff` prints them. No kernel is involved.
//!
//! The fixture lab (`LAB`) uses every kind of op; `Kernel::in_sync` is its kernel state
//! right after `up`. Each test changes the kernel (drift, objects that are not the lab's)
//! or the file (renames, remakes, removals) and says what `diff` must find.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::text::render;
use super::*;
use crate::firewall::groups::Class;
use crate::live::{LiveAddr, LiveLab, LiveLink, LiveRoute, NsId, NsLive, Running, VxlanInfo, MAIN_TABLE};
use crate::ownership::Marks;
use crate::plan::{compile, Plan};
use crate::sharing::HostShares;
use crate::state::{Entry, StateDir};
use crate::testing::topology;

const LAB: &str = r#"
[lab]
name = "fx"
prefix = ""

[host]
sysctl = { "net.ipv4.ip_forward" = 1 }
routes = [{ to = "10.99.0.0/16", via = "10.1.0.2" }]

[networks.net]
subnet = "10.20.0.0/24"
device = "br-fx"

[nodes.a]
hostname = "a"
routes = [{ to = "10.40.0.0/16", via = "10.30.0.2" }]

[nodes.b]
sysctl = { "net.ipv4.ip_forward" = 1 }

[nodes.c]
network = "net"

[nodes.d]
network = "container:c"

[[links]]
endpoints = ["a:p1", "b:p1"]
addresses = ["10.30.0.1/30", "10.30.0.2/30"]
mtu = 1400

[[links]]
endpoints = ["b:up0", "host:fx-up"]
addresses = ["10.1.0.2/30", "10.1.0.1/30"]

[[tunnels]]
kind = "vxlan"
endpoints = ["b:vx0", "host:vx-fx"]
underlay = ["10.1.0.2", "10.1.0.1"]
addresses = ["10.50.0.1/24", "10.50.0.2/24"]
vni = 42

[[tunnels]]
kind = "udp"
endpoints = ["b:fl0", "host:fl-fx"]
underlay = ["10.1.0.2", "10.1.0.1"]
addresses = ["10.60.0.1", "10.60.0.2"]
"#;

/// The host as `up` leaves it: its own lo and uplink (with a kernel-made route), and the
/// lab's bridge, veth ends and tunnel devices, all carrying the lab's mark (`mark`), in
/// the routing class (`routing`: the lab's [host] turns forwarding on).
const HOST: &str = "
    link 1 lo up
    link 2 eth0 up
    addr 1 127.0.0.1/8
    addr 2 192.0.2.10/24
    route 0.0.0.0/0 via=192.0.2.1 dev=2
    route 192.0.2.0/24 dev=2 kernel
    link 10 br-fx kind=bridge up mark routing
    link 11 veth5OtvbvPYxqJ kind=veth up mark routing master=10 peer=2
    link 12 fx-up kind=veth up mark routing peer=3
    link 13 vx-fx kind=vxlan up mark routing vxlan=42,10.1.0.1,10.1.0.2,4789
    link 14 fl-fx kind=tun up mark routing mtu=1472
    addr 10 10.20.0.1/24
    addr 12 10.1.0.1/30
    addr 13 10.50.0.2/24
    addr 14 10.60.0.2/32 peer=10.60.0.1
    route 10.99.0.0/16 via=10.1.0.2 dev=12
";

const A: &str = "
    link 1 lo up mark
    link 2 p1 kind=veth up mark mtu=1400 peer=2
    addr 1 127.0.0.1/8
    addr 2 10.30.0.1/30
    addr 2 fe80::1/64
    route 10.30.0.0/30 dev=2 kernel
    route 10.40.0.0/16 via=10.30.0.2 dev=2
";

const B: &str = "
    link 1 lo up mark
    link 2 p1 kind=veth up mark mtu=1400 peer=2
    link 3 up0 kind=veth up mark peer=12
    link 4 vx0 kind=vxlan up mark vxlan=42,10.1.0.2,10.1.0.1,4789
    link 5 fl0 kind=tun up mark mtu=1472
    addr 2 10.30.0.2/30
    addr 3 10.1.0.2/30
    addr 4 10.50.0.1/24
    addr 5 10.60.0.1/32 peer=10.60.0.2
";

const C: &str = "
    link 1 lo up mark
    link 2 eth0 kind=veth up mark peer=11
    addr 2 10.20.0.2/24
    route 0.0.0.0/0 via=10.20.0.1 dev=2
";

/// A namespace's links, addresses and routes, one a line:
/// `link INDEX NAME [kind=K] [up] [mtu=N] [mac=M] [master=I] [peer=I] [mark | alias=A]
/// [routing] [hairpin=on|off] [vxlan=VNI,LOCAL,REMOTE,PORT]` (a mark puts the link in the
/// lab's plain group, `routing` in its routing group), `addr INDEX ADDRESS [peer=P]`, `route DST [via=G]
/// [dev=I] [kernel]` (made by the kernel: a connected route).
fn netns(text: &str) -> LiveNetns {
    let (mut links, mut addrs, mut routes) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let opt = |key: &str| words.iter().find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')));
        let has = |flag: &str| words.contains(&flag);
        match words[0] {
            "link" => {
                let vxlan = opt("vxlan").map(|v| {
                    let v: Vec<&str> = v.split(',').collect();
                    VxlanInfo {
                        vni: v[0].parse().ok(),
                        local: v[1].parse().ok(),
                        remote: v[2].parse().ok(),
                        port: v[3].parse().ok(),
                    }
                });
                links.push(LiveLink {
                    index: words[1].parse().unwrap(),
                    name: words[2].to_string(),
                    kind: opt("kind").map(str::to_string),
                    mtu: Some(opt("mtu").map_or(if words[2] == "lo" { 65536 } else { 1500 }, |m| m.parse().unwrap())),
                    mac: opt("mac").map(str::to_string),
                    up: has("up"),
                    master: opt("master").map(|m| m.parse().unwrap()),
                    alias: if has("mark") { Some("netlab:fx".into()) } else { opt("alias").map(str::to_string) },
                    group: match (has("routing"), has("mark")) {
                        (true, _) => Marks::of("fx").class_group(Class::Routing),
                        (false, true) => Marks::of("fx").group,
                        (false, false) => 0,
                    },
                    peer_index: opt("peer").map(|p| p.parse().unwrap()),
                    vxlan,
                    ipip: None,
                    hairpin: opt("hairpin").map(|h| h == "on"),
                });
            }
            "addr" => addrs.push(LiveAddr {
                index: words[1].parse().unwrap(),
                address: words[2].parse().unwrap(),
                peer: opt("peer").map(|p| p.parse().unwrap()),
            }),
            "route" => routes.push(LiveRoute {
                table: MAIN_TABLE,
                dst: words[1].parse().unwrap(),
                via: opt("via").map(|v| v.parse().unwrap()),
                oif: opt("dev").map(|d| d.parse().unwrap()),
                by_kernel: has("kernel"),
                unicast: true,
            }),
            other => panic!("fixture line `{other}`"),
        }
    }
    LiveNetns::new(links, addrs, routes)
}

/// A kernel state, as text to edit per test.
#[derive(Clone)]
struct Kernel {
    host: String,
    /// Each name under /run/netns: its namespace's identity and, for a namespace of its
    /// own (not a second name), its contents. `None`: a file with nothing mounted on it.
    namespaces: BTreeMap<&'static str, Option<(u64, Option<String>)>>,
    sysctls: Vec<(Netns, &'static str, &'static str)>,
    files: Vec<(&'static str, EtcFileKind, Vec<u8>)>,
    /// The forwarders that run, with their command line (`None`: as the plan says).
    forwarders: Vec<(Netns, &'static str, Option<Vec<String>>)>,
}

impl Kernel {
    /// The fixture lab right after `up`.
    fn in_sync(plan: &Plan) -> Kernel {
        let file =
            plan.ops
                .iter()
                .find_map(|op| if let Op::FileWrite { content, .. } = op { Some(content.clone()) } else { None });
        Kernel {
            host: HOST.into(),
            namespaces: BTreeMap::from([
                ("a", Some((101, Some(A.into())))),
                ("b", Some((102, Some(B.into())))),
                ("c", Some((103, Some(C.into())))),
                ("d", Some((103, None))),
            ]),
            sysctls: vec![(Netns::Host, "net.ipv4.ip_forward", "1"), (named("b"), "net.ipv4.ip_forward", "1")],
            files: vec![("a", EtcFileKind::Hosts, file.unwrap().into_bytes())],
            forwarders: vec![(named("b"), "fl0", None), (Netns::Host, "fl-fx", None)],
        }
    }

    fn ns(&mut self, name: &'static str) -> &mut String {
        self.namespaces.get_mut(name).and_then(|n| n.as_mut()).and_then(|(_, l)| l.as_mut()).expect("a namespace")
    }

    /// Replaces `from` with `to` in one namespace's fixture (`host` for the host's).
    fn edit(&mut self, netns: &'static str, from: &str, to: &str) -> &mut Self {
        let text = if netns == "host" { &mut self.host } else { self.ns(netns) };
        assert!(text.contains(from), "`{from}` is not in {netns}'s fixture");
        *text = text.replacen(from, to, 1);
        self
    }

    /// As `kernel::observe` finds it for a plan and a record: the files and forwarders of
    /// both are looked for.
    fn live(&self, plan: &Plan, record: Option<&Record>) -> LiveLab {
        let mut lab = LiveLab { host: netns(&self.host), ..LiveLab::default() };
        for (name, found) in &self.namespaces {
            let found = match found {
                None => NsLive::Unmounted,
                Some((id, text)) => {
                    NsLive::Mounted { id: NsId { dev: 4, ino: *id }, live: text.as_deref().map(|t| Box::new(netns(t))) }
                }
            };
            lab.namespaces.insert(name.to_string(), found);
        }
        for (netns, key, value) in &self.sysctls {
            lab.sysctls.insert((netns.clone(), key.to_string()), value.to_string());
        }
        for (netns, file, content) in &self.files {
            lab.files.insert((netns.to_string(), *file), Some(content.clone()));
        }
        // The plan's and the record's files and forwarders were looked for: not found is
        // "none".
        for op in plan.ops.iter().chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op))) {
            if let Op::FileWrite { netns, file, .. } = op {
                lab.files.entry((netns.clone(), *file)).or_insert(None);
            }
            if let Op::ForwarderStart { netns, dev, .. } = op {
                let running = self.forwarders.iter().find(|(n, d, _)| n == netns && d == dev).map(|(_, _, args)| {
                    let stats = PathBuf::from(format!("/run/netlab/fx/{netns}:{dev}.stats"));
                    Running { pid: 42, args: args.clone().unwrap_or_else(|| op.forwarder(Some(stats)).unwrap().args()) }
                });
                lab.forwarders.insert((netns.clone(), dev.clone()), running);
            }
        }
        lab
    }
}

fn named(name: &str) -> Netns {
    Netns::Named(name.into())
}

/// The record `up` leaves for `plan`: its ops, each namespace's identity, each sysctl's
/// value before.
fn record(plan: &Plan) -> Record {
    let dir = StateDir::new("/nonexistent");
    let mut record = dir.new_record(&plan.lab);
    record.entries = plan
        .ops
        .iter()
        .map(|op| {
            let mut entry = Entry { op: op.clone(), pending: false, previous: None, ns_id: None };
            if let Op::NetnsAdd { netns } = op {
                entry.ns_id = Some(NsId { dev: 4, ino: 100 + u64::from(netns.as_bytes()[0] - b'a' + 1) });
            }
            if let Op::SysctlSet { .. } = op {
                entry.previous = Some("0".into());
            }
            entry
        })
        .collect();
    record
}

fn lab() -> Plan {
    compile(&topology(LAB))
}

/// The diff of `plan` against `kernel`, for a lab whose record is `record`, as text.
fn diff_text(plan: &Plan, record: Option<&Record>, kernel: &Kernel) -> String {
    render(&plan.lab, &diff(plan, record, &kernel.live(plan, record), &HostShares::default()))
}

fn lines(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect()
}

/// Lines with runs of spaces squeezed: the widths of the columns are `render`'s business
/// (tested with it), what each line says is the diff's.
fn squeeze(text: &str) -> String {
    lines(text).split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_lab_as_its_file_says_is_in_sync() {
    let plan = lab();
    assert_eq!(diff_text(&plan, Some(&record(&plan)), &Kernel::in_sync(&plan)), "lab fx: in sync with its file\n");
}

#[test]
fn a_lab_that_is_not_up_is_its_plan_in_its_order() {
    let plan = lab();
    let d = diff(&plan, None, &LiveLab::default(), &HostShares::default());
    assert!(d.conflicts.is_empty());
    assert!(d.changes.iter().all(|c| c.change == Sign::Add && c.field.is_none()));
    // What `plan` prints is what `up` does, op for op (a node's conf.default sysctls
    // before its devices are made, links up before their addresses...).
    assert_eq!(d.ops(), plan.ops);
    // Each change knows the op of the plan it comes from.
    assert!(d.changes.iter().all(|c| c.plan_index.is_some_and(|i| plan.ops[i] == c.op)));
}

/// A change made to the kernel behind netlab's back.
type Drift = fn(&mut Kernel);

#[test]
fn drift_of_each_kind_is_a_change_that_puts_it_back() {
    let plan = lab();
    let record = record(&plan);
    let cases: &[(&str, Drift, &str)] = &[
        (
            "a link set down",
            |k| {
                k.edit("b", "link 3 up0 kind=veth up", "link 3 up0 kind=veth");
            },
            "~ link up  b  up0    (state: file up, kernel down)",
        ),
        (
            "an mtu changed",
            |k| {
                k.edit("a", "mtu=1400", "mtu=1500");
            },
            "~ link mtu  a  p1 1400    (mtu: file 1400, kernel 1500)",
        ),
        (
            "an address added by hand, and one deleted",
            |k| {
                k.edit("a", "addr 2 10.30.0.1/30", "addr 2 10.30.0.9/30");
            },
            // Removing the other takes p1's last IPv4 address, and the kernel takes the
            // routes through p1 with it: put back after.
            "- addr del   a  10.30.0.9/30 dev p1
             + addr add   a  10.30.0.1/30 dev p1
             ~ route add  a  10.40.0.0/16 via 10.30.0.2    (route: file there, kernel dropped when p1 loses its last IPv4 address)",
        ),
        (
            "a route that goes another way, and one added by hand",
            |k| {
                k.edit("a", "route 10.40.0.0/16 via=10.30.0.2", "route 10.40.0.0/16 via=10.30.0.3")
                    .edit("c", "route 0.0.0.0/0", "route 10.88.0.0/16 via=10.20.0.9 dev=2\nroute 0.0.0.0/0");
            },
            "- route del  a  10.40.0.0/16 via 10.30.0.3 dev p1
             - route del  c  10.88.0.0/16 via 10.20.0.9 dev eth0
             ~ route add  a  10.40.0.0/16 via 10.30.0.2    (route: file via 10.30.0.2, kernel via 10.30.0.3 dev p1)",
        ),
        (
            "a sysctl changed, and the host's changed before the lab set it",
            |k| {
                k.sysctls = vec![(Netns::Host, "net.ipv4.ip_forward", "0"), (named("b"), "net.ipv4.ip_forward", "0")];
            },
            "~ sysctl set  host  net.ipv4.ip_forward = 1    (net.ipv4.ip_forward: file 1, kernel 0)
             ~ sysctl set  b     net.ipv4.ip_forward = 1    (net.ipv4.ip_forward: file 1, kernel 0)",
        ),
        (
            "a file changed",
            |k| {
                k.files[0].2.extend_from_slice(b"10.9.9.9 extra\n");
            },
            "~ file write  host  /etc/netns/a/hosts: 127.0.0.1 localhost | ::1 localhost ip6-localhost ip6-loopback | \
             10.30.0.1 a    (hosts: file the file's entries, kernel other content)",
        ),
        (
            "a file replaced with bytes that are not UTF-8",
            |k| {
                k.files[0].2 = b"\xff\xfe mine\n".to_vec();
            },
            "~ file write  host  /etc/netns/a/hosts: 127.0.0.1 localhost | ::1 localhost ip6-localhost ip6-loopback | \
             10.30.0.1 a    (hosts: file the file's entries, kernel other content)",
        ),
        (
            "a link put in another device group by hand: back in its class",
            |k| {
                k.edit("host", "link 12 fx-up kind=veth up mark routing", "link 12 fx-up kind=veth up mark");
            },
            "~ link class  host  fx-up routing    (group: file 0x2a528c39, kernel 0x1a528c39)",
        ),
        (
            "a port off its bridge",
            |k| {
                k.edit("host", " master=10", "");
            },
            "~ link master  host  veth5OtvbvPYxqJ -> br-fx    (master: file br-fx, kernel none)",
        ),
        (
            "a veth end deleted by hand: the other is deleted, the pair made again with all on it",
            |k| {
                k.edit("a", "link 2 p1 kind=veth up mark mtu=1400 peer=2", "")
                    .edit("a", "addr 2 10.30.0.1/30", "")
                    .edit("a", "addr 2 fe80::1/64", "")
                    .edit("a", "route 10.30.0.0/30 dev=2 kernel", "")
                    .edit("a", "route 10.40.0.0/16 via=10.30.0.2 dev=2", "");
            },
            "- link del    b  p1
             ~ veth add    a  p1 <-> b:p1 mtu 1400    (peer: file a:p1, kernel none)
             + link up     a  p1
             + link up     b  p1
             + addr add    a  10.30.0.1/30 dev p1
             + addr add    b  10.30.0.2/30 dev p1
             + route add   a  10.40.0.0/16 via 10.30.0.2",
        ),
        (
            "a vxlan's vni changed by hand: made anew",
            |k| {
                k.edit("host", "vxlan=42", "vxlan=7");
            },
            "- link del   host  vx-fx
             ~ vxlan add  host  vx-fx vni 42 local 10.1.0.1 remote 10.1.0.2 port 4789    (vni: file 42, kernel 7)
             + link class host  vx-fx routing
             + link up    host  vx-fx
             + addr add   host  10.50.0.2/24 dev vx-fx",
        ),
        (
            "a device of another kind under the name",
            |k| {
                k.edit("b", "link 5 fl0 kind=tun", "link 5 fl0 kind=dummy");
            },
            "- forwarder stop   b  fl0
             - link del         b  fl0
             ~ tun add          b  fl0 mtu 1472    (kind: file tun, kernel dummy)
             + link up          b  fl0
             + addr add         b  10.60.0.1 peer 10.60.0.2 dev fl0
             + forwarder start  b  fl0 udp 10.1.0.2:8285 -> 10.1.0.1",
        ),
        (
            "a forwarder that died",
            |k| {
                k.forwarders.retain(|(n, ..)| *n == Netns::Host);
            },
            "~ forwarder start  b  fl0 udp 10.1.0.2:8285 -> 10.1.0.1    (forwarder: file running, kernel not running)",
        ),
        (
            "a forwarder that runs with other arguments",
            |k| {
                let args = "forward --dev fl-fx --encap udp --local 10.1.0.1 --port 9999 --peer 10.1.0.2 \
                            --stats /run/netlab/fx/host:fl-fx.stats";
                k.forwarders[1].2 = Some(args.split(' ').map(str::to_string).collect());
            },
            "- forwarder stop   host  fl-fx
             ~ forwarder start  host  fl-fx udp 10.1.0.1:8285 -> 10.1.0.2    (forwarder: file forward --dev fl-fx \
             --encap udp --local 10.1.0.1 --port 8285 --peer 10.1.0.2 --stats /run/netlab/fx/host:fl-fx.stats, kernel \
             forward --dev fl-fx --encap udp --local 10.1.0.1 --port 9999 --peer 10.1.0.2 --stats \
             /run/netlab/fx/host:fl-fx.stats)",
        ),
        (
            // The kernel takes a's end of the veth pair with it, and so the other end.
            "a namespace deleted by hand: made again with everything in it",
            |k| {
                k.namespaces.remove("a");
                k.files.clear();
                k.edit("b", "link 2 p1 kind=veth up mark mtu=1400 peer=2", "").edit("b", "addr 2 10.30.0.2/30", "");
            },
            "+ netns add   a
             + file write  host  /etc/netns/a/hosts: 127.0.0.1 localhost | ::1 localhost ip6-localhost ip6-loopback | 10.30.0.1 a
             + veth add    a     p1 <-> b:p1 mtu 1400
             + link up     a     lo
             + link up     a     p1
             + link up     b     p1
             + addr add    a     10.30.0.1/30 dev p1
             + addr add    b     10.30.0.2/30 dev p1
             + route add   a     10.40.0.0/16 via 10.30.0.2",
        ),
    ];
    for (what, change, want) in cases {
        let mut kernel = Kernel::in_sync(&plan);
        change(&mut kernel);
        let got = diff_text(&plan, Some(&record), &kernel);
        let n = lines(want).lines().count();
        let header = format!("# lab fx: {n} change{}", if n == 1 { "" } else { "s" });
        assert_eq!(got.lines().next(), Some(header.as_str()), "{what}:\n{got}");
        let body: String = got.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(squeeze(&body), squeeze(want), "{what}:\n{got}");
    }
}

/// The fixture lab's file with `from` replaced by `to`.
fn edited(from: &str, to: &str) -> Plan {
    assert!(LAB.contains(from), "`{from}` is not in the fixture lab");
    compile(&topology(&LAB.replacen(from, to, 1)))
}

#[test]
fn an_interface_renamed_in_the_file_is_renamed_in_place() {
    let (before, after) = (lab(), edited(r#"endpoints = ["a:p1", "b:p1"]"#, r#"endpoints = ["a:p2", "b:p1"]"#));
    // Its IPv4 addresses and up state stay with it; the routes through it do not (the
    // kernel renames a link only while it is down, and a link set down loses them): they
    // are put back after.
    assert_eq!(
        diff_text(&after, Some(&record(&before)), &Kernel::in_sync(&before)),
        "# lab fx: 2 changes\n\
         ~ link rename  a  p1 -> p2    (name: file p2, kernel p1)\n\
         ~ route add    a  10.40.0.0/16 via 10.30.0.2    (route: file there, kernel dropped when p1 is renamed p2)\n"
    );
}

#[test]
fn a_device_given_what_only_a_new_one_can_have_is_made_anew_with_what_hangs_off_it() {
    let (before, after) = (lab(), edited("vni = 42", "vni = 43"));
    let got = diff_text(&after, Some(&record(&before)), &Kernel::in_sync(&before));
    assert_eq!(
        squeeze(&got),
        squeeze(
            "# lab fx: 9 changes
             - link del   b     vx0
             - link del   host  vx-fx
             ~ vxlan add  b     vx0 vni 43 local 10.1.0.2 remote 10.1.0.1 port 4789    (vni: file 43, kernel 42)
             ~ vxlan add  host  vx-fx vni 43 local 10.1.0.1 remote 10.1.0.2 port 4789    (vni: file 43, kernel 42)
             + link class host  vx-fx routing
             + link up    b     vx0
             + link up    host  vx-fx
             + addr add   b     10.50.0.1/24 dev vx0
             + addr add   host  10.50.0.2/24 dev vx-fx"
        ),
        "{got}"
    );
}

#[test]
fn what_the_file_no_longer_has_is_removed_what_hangs_off_it_first() {
    let before = lab();
    // No udp tunnel, no container-mode node, no host route, no sysctl in b.
    let text = LAB
        .replacen("[nodes.d]\nnetwork = \"container:c\"\n", "", 1)
        .replacen("routes = [{ to = \"10.99.0.0/16\", via = \"10.1.0.2\" }]\n", "", 1)
        .replacen("[nodes.b]\nsysctl = { \"net.ipv4.ip_forward\" = 1 }\n", "[nodes.b]\n", 1);
    let text = &text[..text.find("[[tunnels]]\nkind = \"udp\"").unwrap()];
    let after = compile(&topology(text));
    let got = diff_text(&after, Some(&record(&before)), &Kernel::in_sync(&before));
    assert_eq!(
        squeeze(&got),
        squeeze(
            "# lab fx: 7 changes
             - forwarder stop  b     fl0
             - forwarder stop  host  fl-fx
             - route del       host  10.99.0.0/16 via 10.1.0.2
             - link del        host  fl-fx
             - link del        b     fl0
             - sysctl restore  b     net.ipv4.ip_forward (to its value before up)
             - netns del       d"
        ),
        "{got}"
    );
}

#[test]
fn a_lab_that_is_not_up_conflicts_with_what_is_in_its_way() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    // Nothing of the lab's is there, but: a link of its name in the host (without the
    // mark), a namespace of its name (another lo), a file where it would write one, a
    // name under /run/netns with nothing mounted, and its container-mode name taken.
    kernel.host = format!("{}\nlink 20 fx-up kind=veth up", HOST.lines().take(7).collect::<Vec<_>>().join("\n"));
    kernel.namespaces =
        BTreeMap::from([("a", Some((201, Some("link 1 lo up".into())))), ("b", None), ("d", Some((999, None)))]);
    kernel.forwarders.clear();
    kernel.sysctls.clear();
    kernel.files[0].2 = b"10.9.9.9 mine\n".to_vec();
    let d = diff(&plan, None, &kernel.live(&plan, None), &HostShares::default());
    let conflicts: Vec<String> = d.conflicts.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        conflicts,
        [
            "namespace a already exists and is not lab fx's (its lo has no `netlab:fx` mark); remove it (ip netns del \
             a) or choose another [lab] prefix",
            "/run/netns/b exists but holds no namespace, and netlab did not make it; remove the file",
            "namespace name d is taken by another namespace that netlab did not make; remove it (ip netns del d)",
            "link fx-up in the host already exists and netlab did not make it (no `netlab:fx` alias); remove or rename it",
            "/etc/netns/a/hosts exists and netlab did not write it; remove it or drop the node's hostname/hosts/dns",
        ]
    );
    // The conflicts are shown after the changes, as they are serialized.
    let text = render(&plan.lab, &d);
    assert!(text.ends_with(&format!("! {}\n", conflicts[4])), "{text}");
    assert_eq!(serde_json::to_value(&d.conflicts).unwrap()[1], conflicts[1]);
}

#[test]
fn a_placeholder_is_the_labs_only_while_its_making_is_pending() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    kernel.namespaces.insert("b", None);
    kernel.forwarders.clear();
    // Recorded as made (not pending), b's name now holds no namespace: not netlab's file.
    let mut record = record(&plan);
    let got = diff_text(&plan, Some(&record), &kernel);
    assert!(got.contains("! /run/netns/b exists but holds no namespace"), "{got}");
    // Recorded while it was being made (a kill between the file and the mount): remade.
    let b = Op::NetnsAdd { netns: "b".into() }.key();
    record.entries.iter_mut().filter(|e| e.op.key() == b).for_each(|e| e.pending = true);
    let d = diff(&plan, Some(&record), &kernel.live(&plan, Some(&record)), &HostShares::default());
    assert!(d.conflicts.is_empty(), "{:?}", d.conflicts);
    let changes: Vec<(Sign, Op)> = d.changes.iter().map(|c| (c.change, c.op.clone())).collect();
    assert!(changes.contains(&(Sign::Remove, Op::NetnsDel { netns: "b".into() })), "{changes:?}");
    assert!(changes.contains(&(Sign::Add, Op::NetnsAdd { netns: "b".into() })), "{changes:?}");
}

#[test]
fn what_is_no_longer_the_labs_is_left_alone_when_the_file_drops_it() {
    let before = lab();
    let text = LAB.replacen("[nodes.d]\nnetwork = \"container:c\"\n", "", 1).replacen("hostname = \"a\"\n", "", 1);
    let after = compile(&topology(&text));
    let mut kernel = Kernel::in_sync(&before);
    // d now names a namespace that is not the lab's, and someone edited a's hosts file
    // (with bytes that are not UTF-8, which are theirs like any others).
    kernel.namespaces.insert("d", Some((999, None)));
    kernel.files[0].2 = b"\xff theirs\n".to_vec();
    assert_eq!(diff_text(&after, Some(&record(&before)), &kernel), "lab fx: in sync with its file\n");
    // As they were, both are removed.
    let kernel = Kernel::in_sync(&before);
    let got = diff_text(&after, Some(&record(&before)), &kernel);
    assert!(got.contains("- file remove  host  /etc/netns/a/hosts") && got.contains("- netns del    d"), "{got}");
}

#[test]
fn a_container_mode_name_that_names_another_namespace_is_named_again_when_it_is_the_labs() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    kernel.namespaces.insert("d", Some((102, None)));
    assert_eq!(
        squeeze(&diff_text(&plan, Some(&record(&plan)), &kernel)),
        squeeze(
            "# lab fx: 2 changes
             - netns del    d
             ~ netns alias  d  = c    (target: file c, kernel another namespace)"
        )
    );
}

#[test]
fn links_of_the_lab_in_a_namespace_it_keeps_are_never_taken_for_strangers() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    // Another lab's link, and one without a mark, in the lab's own namespace: not the
    // lab's to delete. One of the lab's that the file does not have: deleted.
    kernel.edit(
        "b",
        "link 5 fl0",
        "link 6 other kind=veth alias=netlab:other\nlink 7 mine kind=dummy mark\nlink 8 theirs kind=dummy\nlink 5 fl0",
    );
    let got = diff_text(&plan, Some(&record(&plan)), &kernel);
    assert_eq!(got, "# lab fx: 1 change\n- link del  b  mine\n");
}

#[test]
fn the_text_form_aligns_kinds_and_namespaces_and_notes_each_field() {
    let plan = lab();
    let mut kernel = Kernel::in_sync(&plan);
    kernel.edit("b", "link 3 up0 kind=veth up", "link 3 up0 kind=veth").edit("host", "addr 12 10.1.0.1/30", "");
    assert_eq!(
        diff_text(&plan, Some(&record(&plan)), &kernel),
        "# lab fx: 2 changes\n\
         ~ link up   b     up0    (state: file up, kernel down)\n\
         + addr add  host  10.1.0.1/30 dev fx-up\n"
    );
}

mod claims;
mod processes;
