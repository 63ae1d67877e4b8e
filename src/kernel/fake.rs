//! An in-memory kernel for tests, after youki's `syscall/test.rs`: it records every batch
//! it is asked to apply, fails the op it is told to, and keeps a model of the network
//! state ([`World`]) that behaves the way netlab's teardown relies on the kernel to:
//!
//! - deleting a namespace's last name destroys it, and with it its devices, unless a
//!   process (a forwarder, a process of the lab's) still holds it; a veth end that dies
//!   takes its peer along;
//! - the lab's processes need its supervisor, and end with it; a command that ran is
//!   recorded but changes nothing that could be taken back;
//! - deleting a link takes its addresses, its routes, its device sysctls and its ports
//!   (a bridge's ports lose their master); deleting one veth end takes the other;
//! - a device that loses its last IPv4 address loses its IPv4 routes;
//! - a link set down loses its routes and its IPv6 addresses (keep_addr_on_down is 0),
//!   and so does one renamed while up (netlab sets it down for the rename);
//! - a bridge whose mtu was not set after it was made takes its smallest port's when a
//!   port joins or leaves; setting the same mtu again changes nothing;
//! - writing `net.ipv4.ip_forward` (or `conf.all.forwarding`) writes IPv4 forwarding
//!   everywhere: `conf.all`, `conf.default` and each device's;
//! - a link's root qdisc goes with it; a drop (an nftables table) stays in its namespace
//!   when its device goes, as a netdev chain does; a relay exits when one of its devices
//!   goes, and holds its namespace while it runs, like a forwarder;
//! - a route needs its device up, and a gateway on a subnet of an up link;
//! - nftables tables live in their namespace with their chains and rules (by identity): a
//!   table is made once (`create`), a rule needs its table and chain, hairpin mode needs
//!   a bridge port, a class is the lab's group of that class;
//! - a device is born with its namespace's `net.ipv4.conf.default.*` and
//!   `net.ipv6.conf.default.*` sysctls (sysctls not kept are 0);
//! - names are unique per namespace, a second create is EEXIST, and removing what is not
//!   there answers as the kernel does (ENODEV, ENOENT, ESRCH, EADDRNOTAVAIL);
//! - `net.ipv4.ip_forward` and `net.ipv4.conf.all.forwarding` are one setting;
//! - several labs can share it ([`FakeKernel::set_lab`]), as they share a machine.
//!
//! What it shows is in `fake/observe.rs`, as `Linux::observe_lab` would find it.
//!
//! Ops of a batch are applied last first: the real kernel applies them all at once, so
//! a batch with an op that needs another of the same batch fails here, as it would (now
//! and then) there. Sysctls are the exception: `Linux` writes one namespace's in order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use nix::errno::Errno;

use super::{Applied, Families, Kernel, OpError, Scope};
use crate::firewall::live::{LiveChain, LiveRule, LiveTable};
use crate::firewall::ruleset::Family;
use crate::impair::kernel::QdiscKind;
use crate::impairment::{Distribution, Impairment, Percent};
use crate::live::{
    Exit, Identity, LiveAddr, LiveDrop, LiveLab, LiveLink, LiveNetns, LiveProcess, LiveQdisc, LiveRelay, LiveRoute,
    Named, NsId, NsLive, ProcessState, Running, VxlanInfo,
};
use crate::ownership::Marks;
use crate::plan::{sysctl_device, DeviceKind, Op};
use crate::process::ProcessError;
use crate::topology::{EtcFileKind, Netns};

mod firewall;
mod observe;
mod programs;
mod sysctls;

pub use firewall::Table;

/// The host's own network stack.
pub const HOST: u64 = 0;
/// The device number the fake gives its namespaces' identities.
const NSFS_DEV: u64 = 4;

/// A link as the fake kernel keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    /// `None`: a device without a kind (lo, the host's own uplink).
    pub kind: Option<DeviceKind>,
    pub up: bool,
    pub mtu: u32,
    pub mac: Option<String>,
    pub master: Option<String>,
    pub alias: Option<String>,
    pub group: u32,
    /// A veth's other end: its stack and name.
    pub peer: Option<(u64, String)>,
    /// A bridge whose mtu was set after it was made (not by its ports).
    pub mtu_set: bool,
    /// A tunnel's (local, remote) underlay addresses; a vxlan's vni and port.
    pub tunnel: Option<(IpAddr, IpAddr)>,
    pub vxlan: Option<(u32, u16)>,
    /// A bridge port's hairpin mode.
    pub hairpin: bool,
    /// netlab's root qdisc on it, if any.
    pub qdisc: Option<(QdiscKind, Impairment)>,
}

impl Link {
    fn new(index: u32, kind: Option<DeviceKind>) -> Link {
        Link {
            index,
            kind,
            up: false,
            mtu: 1500,
            mac: None,
            master: None,
            alias: None,
            group: 0,
            peer: None,
            mtu_set: false,
            tunnel: None,
            vxlan: None,
            hairpin: false,
            qdisc: None,
        }
    }
}

/// A route in the main table: one per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub via: Option<IpAddr>,
    /// The device it leaves through (given, or the one whose subnet holds the gateway).
    pub dev: String,
}

/// One network stack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stack {
    pub links: BTreeMap<String, Link>,
    /// (device, address, peer)
    pub addrs: BTreeSet<(String, IpNet, Option<IpAddr>)>,
    pub routes: BTreeMap<IpNet, Route>,
    /// Sysctls that are not at their default ("0", which is not kept).
    pub sysctls: BTreeMap<String, String>,
    /// nftables tables, by family and name.
    pub tables: BTreeMap<(Family, String), Table>,
    /// The lab's drops, by device: (loss, carrier).
    pub drops: BTreeMap<String, (Percent, bool)>,
}

/// Everything the fake kernel holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct World {
    /// Names under /run/netns, and the stack each names.
    pub names: BTreeMap<String, u64>,
    pub stacks: BTreeMap<u64, Stack>,
    /// /etc/netns/<netns>/<file>
    pub files: HashMap<(String, EtcFileKind), String>,
    /// Running forwarders, found (like the real ones, by their files) by the namespace
    /// name and device they were started for: the stack they run in, and the arguments
    /// they were started with.
    pub forwarders: BTreeMap<(Netns, String), (u64, Vec<String>)>,
    /// Whether the lab's supervisor runs.
    pub supervisor: bool,
    /// The lab's processes that run, by `NODE:NAME`: the stack each runs in (which it
    /// keeps alive, as a forwarder does).
    pub processes: BTreeMap<String, u64>,
    /// Processes stopped while their supervisor still runs: their records say how they
    /// ended (they go with the supervisor).
    pub ended: BTreeMap<String, Exit>,
    /// Running relays, by the namespace name and `a` device they were started for: the
    /// stack they run in, their `b` device, and what each direction does.
    pub relays: BTreeMap<(Netns, String), (u64, String, [Impairment; 2])>,
}

/// The in-memory kernel.
#[derive(Clone)]
pub struct FakeKernel {
    pub world: World,
    /// Every batch asked of it, in order.
    pub batches: Vec<Vec<Op>>,
    /// The one-shot commands it ran (`NODE:exec.N`), in order: not part of the [`World`],
    /// since nothing takes back what a command did.
    pub ran: Vec<String>,
    /// How many times it was looked at.
    pub observed: usize,
    marks: Marks,
    /// The 1-based number (over all ops asked) of the op to fail, and how.
    fail: Option<(usize, Errno)>,
    asked: usize,
    next_stack: u64,
    next_index: u32,
}

impl FakeKernel {
    /// A host with `lo` and an uplink `eth0` (192.0.2.10/24, default route via
    /// 192.0.2.1, and net.ipv4.conf.all.rp_filter = 2): things a lab must leave alone.
    pub fn new(lab: &str) -> FakeKernel {
        let mut host = Stack::default();
        host.links.insert("lo".into(), Link { up: true, mtu: 65536, ..Link::new(1, None) });
        host.links.insert("eth0".into(), Link { up: true, ..Link::new(2, None) });
        host.addrs.insert(("eth0".into(), "192.0.2.10/24".parse().unwrap(), None));
        host.routes.insert("0.0.0.0/0".parse().unwrap(), Route { via: "192.0.2.1".parse().ok(), dev: "eth0".into() });
        host.sysctls.insert("net.ipv4.conf.all.rp_filter".into(), "2".into());
        let world = World { stacks: BTreeMap::from([(HOST, host)]), ..World::default() };
        FakeKernel {
            world,
            batches: Vec::new(),
            ran: Vec::new(),
            observed: 0,
            marks: Marks::of(lab),
            fail: None,
            asked: 0,
            next_stack: 1,
            next_index: 100,
        }
    }

    /// Makes the `n`-th op asked from now on (1-based) fail with `errno`, as the kernel
    /// would refuse it; it changes nothing.
    pub fn fail_at(&mut self, n: usize, errno: Errno) {
        self.fail = Some((self.asked + n, errno));
    }

    fn stack_of(&self, netns: &Netns) -> Result<u64, OpError> {
        match netns {
            Netns::Host => Ok(HOST),
            Netns::Named(n) => self.world.names.get(n).copied().ok_or_else(|| OpError::NotOpen(netns.clone())),
        }
    }

    fn stack(&mut self, netns: &Netns) -> Result<&mut Stack, OpError> {
        let id = self.stack_of(netns)?;
        Ok(self.world.stacks.get_mut(&id).expect("a named stack exists"))
    }

    fn new_link(&mut self, kind: DeviceKind, mtu: Option<u32>) -> Link {
        self.next_index += 1;
        let mut link = Link::new(self.next_index, Some(kind));
        link.alias = Some(self.marks.alias.clone());
        link.group = self.marks.group;
        link.mtu = mtu.unwrap_or(1500);
        link
    }

    /// Adds a link, which takes its namespace's `conf.default.*` sysctls as its own.
    fn add_link(&mut self, netns: &Netns, name: &str, link: Link) -> Result<(), OpError> {
        let stack = self.stack(netns)?;
        if stack.links.contains_key(name) {
            return Err(Errno::EEXIST.into());
        }
        stack.links.insert(name.to_string(), link);
        let inherited: Vec<(String, String)> = stack
            .sysctls
            .iter()
            .filter_map(|(key, value)| {
                let (family, setting) = ["ipv4", "ipv6"]
                    .into_iter()
                    .find_map(|f| Some((f, key.strip_prefix(&format!("net.{f}.conf.default."))?)))?;
                Some((format!("net.{family}.conf.{name}.{setting}"), value.clone()))
            })
            .collect();
        stack.sysctls.extend(inherited);
        Ok(())
    }

    /// Deletes a link and what goes with it; a veth takes its peer along.
    fn delete_link(&mut self, stack: u64, name: &str) {
        let Some(s) = self.world.stacks.get_mut(&stack) else { return };
        let Some(link) = s.links.remove(name) else { return };
        if let Some(bridge) = &link.master {
            Self::bridge_mtu(s, bridge);
        }
        s.addrs.retain(|(dev, ..)| dev != name);
        s.routes.retain(|_, r| r.dev != name);
        s.sysctls.retain(|key, _| sysctl_device(key) != Some(name));
        for port in s.links.values_mut().filter(|l| l.master.as_deref() == Some(name)) {
            port.master = None;
            port.hairpin = false;
        }
        // A forwarder whose TUN device goes exits; so does a relay that loses a device.
        self.world.forwarders.retain(|(_, dev), (st, _)| !(*st == stack && dev == name));
        self.world.relays.retain(|(_, a), (st, b, _)| !(*st == stack && (a == name || b == name)));
        if let Some((peer_stack, peer)) = link.peer {
            self.delete_link(peer_stack, &peer);
        }
    }

    /// Destroys a stack that has no name left and no process in it.
    fn reap(&mut self, stack: u64) {
        let named = self.world.names.values().any(|s| *s == stack);
        let held = self.world.forwarders.values().any(|(s, _)| *s == stack)
            || self.world.processes.values().any(|s| *s == stack)
            || self.world.relays.values().any(|(s, ..)| *s == stack);
        if stack == HOST || named || held {
            return;
        }
        let links: Vec<String> =
            self.world.stacks.get(&stack).map(|s| s.links.keys().cloned().collect()).unwrap_or_default();
        for name in links {
            self.delete_link(stack, &name);
        }
        self.world.stacks.remove(&stack);
    }

    /// A bridge whose mtu was not set after it was made takes its smallest port's (1500
    /// without ports) when a port joins or leaves, as the kernel's does.
    fn bridge_mtu(stack: &mut Stack, bridge: &str) {
        if stack.links.get(bridge).is_none_or(|b| b.mtu_set || b.kind != Some(DeviceKind::Bridge)) {
            return;
        }
        let ports = stack.links.values().filter(|l| l.master.as_deref() == Some(bridge)).map(|l| l.mtu).min();
        if let Some(b) = stack.links.get_mut(bridge) {
            b.mtu = ports.unwrap_or(1500);
        }
    }

    fn link_mut(&mut self, netns: &Netns, name: &str) -> Result<&mut Link, OpError> {
        self.stack(netns)?.links.get_mut(name).ok_or(OpError::Errno(Errno::ENODEV))
    }

    /// The up device whose subnet (or point-to-point peer) holds `gateway`.
    fn device_for(stack: &Stack, gateway: IpAddr, dev: Option<&str>) -> Option<String> {
        stack
            .addrs
            .iter()
            .filter(|(d, ..)| dev.is_none_or(|want| want == d))
            .filter(|(d, ..)| stack.links.get(d).is_some_and(|l| l.up))
            .find(|(_, address, peer)| match peer {
                Some(p) => *p == gateway,
                None => address.trunc().contains(&gateway),
            })
            .map(|(d, ..)| d.clone())
    }

    /// Works on lab `lab` from now on: the links it makes carry that lab's marks. Two labs
    /// on one machine are one fake kernel, switched between runs.
    pub fn set_lab(&mut self, lab: &str) {
        self.marks = Marks::of(lab);
    }

    /// Applies one op to the world, as the kernel would.
    fn one(&mut self, op: &Op, previous: &dyn Fn(&Netns, &str) -> Option<String>) -> Result<Applied, OpError> {
        use Op::*;
        match op {
            NetnsAdd { netns } => {
                if self.world.names.contains_key(netns) {
                    return Err(Errno::EEXIST.into());
                }
                let id = self.next_stack;
                self.next_stack += 1;
                let mut stack = Stack::default();
                // Made with its lo marked as the lab's (netns::create_here).
                let lo = Link { mtu: 65536, alias: Some(self.marks.alias.clone()), ..Link::new(1, None) };
                stack.links.insert("lo".into(), lo);
                self.world.stacks.insert(id, stack);
                self.world.names.insert(netns.clone(), id);
                return Ok(Applied::Netns(NsId { dev: NSFS_DEV, ino: id }));
            }
            NetnsAlias { netns, target } => {
                let Some(id) = self.world.names.get(target).copied() else { return Err(Errno::ENOENT.into()) };
                if self.world.names.contains_key(netns) {
                    return Err(Errno::EEXIST.into());
                }
                self.world.names.insert(netns.clone(), id);
            }
            NetnsDel { netns } => {
                let Some(id) = self.world.names.remove(netns) else { return Err(Errno::ENOENT.into()) };
                self.reap(id);
            }
            SysctlSet { netns, key, value } => self.write_sysctl(netns, key, value)?,
            SysctlRestore { netns, key } => {
                if let Some(value) = previous(netns, key) {
                    self.write_sysctl(netns, key, &value)?;
                }
            }
            FileWrite { netns, file, content } => {
                self.world.files.insert((netns.clone(), *file), content.clone());
            }
            FileRemove { netns, file } => {
                if self.world.files.remove(&(netns.clone(), *file)).is_none() {
                    return Err(Errno::ENOENT.into());
                }
            }
            BridgeAdd { netns, name, mtu } => {
                let link = self.new_link(DeviceKind::Bridge, *mtu);
                self.add_link(netns, name, link)?;
            }
            VethAdd { netns, name, mac, peer_netns, peer_name, peer_mac, mtu } => {
                let (a, b) = (self.stack_of(netns)?, self.stack_of(peer_netns)?);
                let taken = |s: u64, n: &str| self.world.stacks[&s].links.contains_key(n);
                if taken(a, name) || taken(b, peer_name) || (a == b && name == peer_name) {
                    return Err(Errno::EEXIST.into());
                }
                let mut end = self.new_link(DeviceKind::Veth, *mtu);
                let mut peer = self.new_link(DeviceKind::Veth, *mtu);
                end.mac = mac.as_ref().map(|m| m.to_lowercase());
                peer.mac = peer_mac.as_ref().map(|m| m.to_lowercase());
                end.peer = Some((b, peer_name.clone()));
                peer.peer = Some((a, name.clone()));
                self.add_link(netns, name, end)?;
                self.add_link(peer_netns, peer_name, peer)?;
            }
            VxlanAdd { netns, name, vni, local, remote, port, mtu } => {
                if local.is_ipv4() != remote.is_ipv4() {
                    return Err(OpError::Tunnel(super::netlink::build::TunnelError::MixedFamilies));
                }
                let mut link = self.new_link(DeviceKind::Vxlan, *mtu);
                link.tunnel = Some((*local, *remote));
                link.vxlan = Some((*vni, *port));
                self.add_link(netns, name, link)?;
            }
            IpipAdd { netns, name, local, remote, mtu } => {
                if !(local.is_ipv4() && remote.is_ipv4()) {
                    return Err(OpError::Tunnel(super::netlink::build::TunnelError::Ipv4Only));
                }
                let mut link = self.new_link(DeviceKind::Ipip, *mtu);
                link.tunnel = Some((*local, *remote));
                self.add_link(netns, name, link)?;
            }
            TunAdd { netns, name, mtu } => {
                let link = self.new_link(DeviceKind::Tun, *mtu);
                self.add_link(netns, name, link)?;
            }
            LinkDel { netns, name } => {
                let stack = self.stack_of(netns)?;
                if !self.world.stacks[&stack].links.contains_key(name) {
                    return Err(Errno::ENODEV.into());
                }
                self.delete_link(stack, name);
            }
            LinkSetMaster { netns, name, master } => {
                let stack = self.stack(netns)?;
                match stack.links.get(master) {
                    None => return Err(Errno::ENODEV.into()),
                    Some(m) if m.kind != Some(DeviceKind::Bridge) => return Err(Errno::EOPNOTSUPP.into()),
                    Some(_) => {}
                }
                self.link_mut(netns, name)?.master = Some(master.clone());
                Self::bridge_mtu(self.stack(netns)?, master);
            }
            LinkSetNomaster { netns, name } => {
                let link = self.link_mut(netns, name)?;
                link.hairpin = false;
                let bridge = link.master.take();
                if let Some(bridge) = bridge {
                    Self::bridge_mtu(self.stack(netns)?, &bridge);
                }
            }
            LinkSetMtu { netns, name, mtu } => {
                let link = self.link_mut(netns, name)?;
                // Like dev_set_mtu: the same mtu again changes nothing.
                if link.mtu != *mtu {
                    link.mtu = *mtu;
                    link.mtu_set = link.kind == Some(DeviceKind::Bridge);
                }
            }
            LinkSetMac { netns, name, mac } => self.link_mut(netns, name)?.mac = Some(mac.to_lowercase()),
            LinkRename { netns, name, new_name } => {
                let id = self.stack_of(netns)?;
                let stack = self.world.stacks.get_mut(&id).expect("a named stack exists");
                if stack.links.contains_key(new_name) {
                    return Err(Errno::EEXIST.into());
                }
                let Some(link) = stack.links.remove(name) else { return Err(Errno::ENODEV.into()) };
                // Renamed while down (netlab sets an up link down and up again around
                // it): what a link set down loses, it loses.
                if link.up {
                    stack.routes.retain(|_, r| r.dev != *name);
                    stack.addrs.retain(|(d, a, _)| !(d == name && a.addr().is_ipv6()));
                }
                let peer = link.peer.clone();
                stack.links.insert(new_name.clone(), link);
                stack.addrs = std::mem::take(&mut stack.addrs)
                    .into_iter()
                    .map(|(d, a, p)| (if d == *name { new_name.clone() } else { d }, a, p))
                    .collect();
                for r in stack.routes.values_mut().filter(|r| r.dev == *name) {
                    r.dev = new_name.clone();
                }
                for l in stack.links.values_mut().filter(|l| l.master.as_deref() == Some(name.as_str())) {
                    l.master = Some(new_name.clone());
                }
                if let Some((peer_stack, peer)) = peer {
                    if let Some(p) = self.world.stacks.get_mut(&peer_stack).and_then(|s| s.links.get_mut(&peer)) {
                        p.peer = Some((id, new_name.clone()));
                    }
                }
            }
            LinkUp { netns, name } => self.link_mut(netns, name)?.up = true,
            LinkDown { netns, name } => {
                self.link_mut(netns, name)?.up = false;
                let stack = self.stack(netns)?;
                stack.routes.retain(|_, r| r.dev != *name);
                stack.addrs.retain(|(d, a, _)| !(d == name && a.addr().is_ipv6()));
            }
            AddrAdd { netns, dev, address, peer } => {
                let stack = self.stack(netns)?;
                if !stack.links.contains_key(dev) {
                    return Err(Errno::ENODEV.into());
                }
                if stack.addrs.iter().any(|(d, a, _)| d == dev && a == address) {
                    return Err(Errno::EEXIST.into());
                }
                stack.addrs.insert((dev.clone(), *address, *peer));
            }
            AddrDel { netns, dev, address, peer } => {
                let stack = self.stack(netns)?;
                if !stack.addrs.remove(&(dev.clone(), *address, *peer)) {
                    return Err(Errno::EADDRNOTAVAIL.into());
                }
                // The last IPv4 address of a device takes every IPv4 route through it.
                let v4 = |a: &IpNet| a.addr().is_ipv4();
                if v4(address) && !stack.addrs.iter().any(|(d, a, _)| d == dev && v4(a)) {
                    stack.routes.retain(|to, r| !(r.dev == *dev && v4(to)));
                }
            }
            RouteAdd { netns, to, via, dev } => {
                let stack = self.stack(netns)?;
                if let Some(d) = dev {
                    match stack.links.get(d) {
                        None => return Err(Errno::ENODEV.into()),
                        Some(l) if !l.up => return Err(Errno::ENETDOWN.into()),
                        Some(_) => {}
                    }
                }
                let out = match via {
                    Some(gw) => {
                        Self::device_for(stack, *gw, dev.as_deref()).ok_or(OpError::Errno(Errno::ENETUNREACH))?
                    }
                    None => dev.clone().expect("a route has a gateway or a device"),
                };
                if stack.routes.contains_key(to) {
                    return Err(Errno::EEXIST.into());
                }
                stack.routes.insert(*to, Route { via: *via, dev: out });
            }
            RouteDel { netns, to, via, dev } => {
                let stack = self.stack(netns)?;
                let matches = stack
                    .routes
                    .get(to)
                    .is_some_and(|r| via.is_none_or(|v| r.via == Some(v)) && dev.as_ref().is_none_or(|d| *d == r.dev));
                if !matches {
                    return Err(Errno::ESRCH.into());
                }
                stack.routes.remove(to);
            }
            ForwarderStart { netns, dev, .. } => {
                let stack = self.stack_of(netns)?;
                match self.world.stacks[&stack].links.get(dev) {
                    Some(l) if l.kind == Some(DeviceKind::Tun) => {}
                    Some(_) | None => return Err(Errno::ENODEV.into()),
                }
                let key = (netns.clone(), dev.clone());
                if self.world.forwarders.contains_key(&key) {
                    return Err(Errno::EEXIST.into());
                }
                let stats = PathBuf::from(format!("/fake/{netns}:{dev}.stats"));
                let args = op.forwarder(Some(stats)).map(|c| c.args()).unwrap_or_default();
                self.world.forwarders.insert(key, (stack, args));
            }
            // Nothing is modelled of conntrack: the namespace must be there.
            ConntrackFlush { netns, .. } => {
                self.stack_of(netns)?;
            }
            NftTableAdd { netns, family, name, chains } => self.table_add(netns, *family, name, chains)?,
            NftTableDel { netns, family, name } => self.table_del(netns, *family, name)?,
            NftRuleAdd { netns, family, table, chain, rule, comment } => {
                self.rule_add(netns, (*family, table), chain, rule, comment)?
            }
            NftRuleDel { netns, family, table, chain, comment } => {
                self.rule_del(netns, (*family, table), chain, comment)?
            }
            LinkSetHairpin { netns, name, on } => {
                let link = self.link_mut(netns, name)?;
                if link.master.is_none() {
                    return Err(Errno::EOPNOTSUPP.into());
                }
                link.hairpin = *on;
            }
            LinkSetClass { netns, name, class } => {
                let group = self.marks.class_group(*class);
                self.link_mut(netns, name)?.group = group;
            }
            // Found by the name it was started for: its namespace may have no name left.
            ForwarderStop { netns, dev } => {
                let Some((stack, _)) = self.world.forwarders.remove(&(netns.clone(), dev.clone())) else {
                    return Err(Errno::ESRCH.into());
                };
                self.reap(stack);
            }
            SupervisorStart => self.start_supervisor()?,
            SupervisorStop => self.stop_supervisor()?,
            ProcessStart { .. } => self.start_process(op)?,
            ProcessStop { .. } => self.stop_process(op)?,
            Exec { .. } => self.exec(op)?,
            QdiscReplace { netns, dev, kind, impairment } => {
                self.link_mut(netns, dev)?.qdisc = Some((*kind, impairment.clone()));
            }
            QdiscDel { netns, dev } => {
                if self.link_mut(netns, dev)?.qdisc.take().is_none() {
                    return Err(Errno::ENOENT.into());
                }
            }
            DropSet { netns, dev, loss, carrier } => {
                self.stack(netns)?.drops.insert(dev.clone(), (*loss, *carrier));
            }
            DropDel { netns, dev } => {
                if self.stack(netns)?.drops.remove(dev).is_none() {
                    return Err(Errno::ENOENT.into());
                }
            }
            RelayStart { netns, a, b, a_to_b, b_to_a } => {
                let stack = self.stack_of(netns)?;
                let links = &self.world.stacks[&stack].links;
                if !(links.contains_key(a) && links.contains_key(b)) {
                    return Err(Errno::ENODEV.into());
                }
                let key = (netns.clone(), a.clone());
                if self.world.relays.contains_key(&key) {
                    return Err(Errno::EEXIST.into());
                }
                self.world.relays.insert(key, (stack, b.clone(), [a_to_b.clone(), b_to_a.clone()]));
            }
            RelayStop { netns, a } => {
                let Some((stack, ..)) = self.world.relays.remove(&(netns.clone(), a.clone())) else {
                    return Err(Errno::ESRCH.into());
                };
                self.reap(stack);
            }
            RelaySet { netns, a, a_to_b, b_to_a } => {
                let Some((_, _, imps)) = self.world.relays.get_mut(&(netns.clone(), a.clone())) else {
                    return Err(Errno::ESRCH.into());
                };
                for (slot, new) in imps.iter_mut().zip([a_to_b, b_to_a]) {
                    if let Some(imp) = new {
                        *slot = imp.clone();
                    }
                }
            }
        }
        Ok(Applied::Done)
    }
}

impl Kernel for FakeKernel {
    fn observe(&mut self, ops: &[&Op], scope: Scope) -> Result<LiveLab, OpError> {
        self.observed += 1;
        Ok(self.live_within(ops, scope))
    }

    fn apply(
        &mut self,
        ops: &[Op],
        previous: &dyn Fn(&Netns, &str) -> Option<String>,
    ) -> Vec<Result<Applied, OpError>> {
        self.batches.push(ops.to_vec());
        let first = self.asked;
        self.asked += ops.len();
        let mut results: Vec<Option<Result<Applied, OpError>>> = vec![None; ops.len()];
        // Sysctls in order (`Linux` writes one namespace's in order), the rest last first.
        let sysctl = |op: &Op| matches!(op, Op::SysctlSet { .. } | Op::SysctlRestore { .. });
        let order: Vec<(usize, &Op)> = if ops.iter().all(sysctl) {
            ops.iter().enumerate().collect()
        } else {
            ops.iter().enumerate().rev().collect()
        };
        for (i, op) in order {
            results[i] = Some(match self.fail {
                Some((n, errno)) if n == first + i + 1 => Err(errno.into()),
                Some(_) | None => self.one(op, previous),
            });
        }
        results.into_iter().map(|r| r.expect("every op has an outcome")).collect()
    }

    fn read_sysctls(&self, which: &[(Netns, String)]) -> Vec<Result<String, OpError>> {
        which.iter().map(|(netns, key)| self.read_sysctl(netns, key)).collect()
    }
}
