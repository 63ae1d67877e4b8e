//! The kernel side: applies [`Op`]s and reads back what is there.
//!
//! One rtnetlink connection per namespace, each opened on a short-lived std thread that
//! entered the namespace (see [`netns`]), all driven by one current-thread tokio runtime.
//! A batch of independent ops is sent all at once, many requests in flight on every
//! connection and every namespace worked on at the same time; the only waits are between
//! batches. This module executes what it is told: deciding what to do, recording it and
//! checking ownership belong to [`crate::apply`].

pub mod files;
pub mod forwarder;
pub mod netns;
mod nl;
pub mod observe;
mod parse;
pub mod probe;
pub mod sysctl;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;
use rtnetlink::{Handle, LinkBridge, LinkIpIp, LinkMessageBuilder, LinkUnspec, LinkVxlan};

use crate::live::{LiveLink, LiveNetns, NsId, MAIN_TABLE};
use crate::ownership::Marks;
use crate::plan::Op;
use crate::topology::Netns;

/// Requests in flight on one connection at once: enough to keep the kernel busy, few
/// enough that every answer fits in the socket's receive buffer.
const IN_FLIGHT: usize = 64;

/// Why one op failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The kernel refused it.
    Errno(Errno),
    /// Something else, in a sentence.
    Other(String),
}

impl OpError {
    /// The kernel says the object is not there: for a removal, that is success.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            OpError::Errno(Errno::ENODEV | Errno::ENOENT | Errno::ESRCH | Errno::EADDRNOTAVAIL | Errno::ENXIO)
        )
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Errno(e) => write!(f, "{} ({e:?})", e.desc()),
            OpError::Other(s) => f.write_str(s),
        }
    }
}

impl From<Errno> for OpError {
    fn from(e: Errno) -> Self {
        OpError::Errno(e)
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => OpError::Errno(Errno::from_raw(code)),
            None => OpError::Other(e.to_string()),
        }
    }
}

/// What applying an op found out that the record must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// A namespace was made; this is its identity.
    Netns(NsId),
}

/// A connection into one namespace.
struct Conn {
    handle: Handle,
    /// The namespace: `IFLA_NET_NS_FD` for devices born in it, `setns` for sysctls.
    fd: OwnedFd,
    /// Interface indexes by name, filled as they are looked up.
    index: RefCell<HashMap<String, u32>>,
}

pub struct Kernel {
    rt: tokio::runtime::Runtime,
    /// The lab's directory of forwarder files.
    forwarders: PathBuf,
    /// `netlab:<lab>`, the ifalias on every link and namespace `lo` netlab makes.
    mark: String,
    /// The device group of every link netlab makes for the lab.
    group: u32,
    conns: HashMap<Netns, Conn>,
}

impl Kernel {
    /// Connects to the root namespace, to work on the lab with `marks`, whose forwarders
    /// keep their files in `forwarders`. Fails only if netlink itself is unavailable.
    pub fn new(marks: Marks, forwarders: PathBuf) -> std::io::Result<Kernel> {
        raise_fd_limit();
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let Marks { alias: mark, group } = marks;
        let mut kernel = Kernel { rt, forwarders, mark, group, conns: HashMap::new() };
        let socket = netns::route_socket()?;
        let fd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
        kernel.add_conn(Netns::Host, socket, fd);
        Ok(kernel)
    }

    fn add_conn(&mut self, netns: Netns, socket: netlink_sys::Socket, fd: OwnedFd) {
        let _guard = self.rt.enter();
        // SAFETY: the fd is a netlink socket we own; ownership passes to the TokioSocket.
        let socket = unsafe { netlink_sys::TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (conn, handle, _) = rtnetlink::from_socket(socket);
        self.rt.spawn(conn);
        self.conns.insert(netns, Conn { handle, fd, index: RefCell::new(HashMap::new()) });
    }

    fn conn(&self, netns: &Netns) -> Result<&Conn, OpError> {
        self.conns.get(netns).ok_or_else(|| OpError::Other(format!("namespace {netns} is not open")))
    }

    /// Whether netlab holds a connection into `netns` (it exists and was opened).
    pub fn is_connected(&self, netns: &Netns) -> bool {
        self.conns.contains_key(netns)
    }

    /// Opens connections into existing named namespaces; a missing one is skipped (and
    /// reported as `NotFound`).
    pub fn connect(&mut self, names: &[String]) -> Vec<std::io::Result<()>> {
        let todo: Vec<&String> =
            names.iter().filter(|n| !self.conns.contains_key(&Netns::Named((*n).clone()))).collect();
        let opened = netns::par_map(todo.clone(), netns::workers(), |name| {
            let fd = netns::open(name)?;
            netns::enter(&fd)?;
            Ok::<_, std::io::Error>((netns::route_socket()?, fd))
        });
        let mut errors: HashMap<&String, std::io::Error> = HashMap::new();
        for (name, result) in todo.into_iter().zip(opened) {
            match result {
                Ok((socket, fd)) => self.add_conn(Netns::Named(name.clone()), socket, fd),
                Err(e) => {
                    errors.insert(name, e);
                }
            }
        }
        names.iter().map(|n| errors.remove(n).map_or(Ok(()), Err)).collect()
    }

    /// Dumps links, addresses and routes of each namespace (all connected).
    pub fn observe(&self, which: &[Netns]) -> Vec<Result<LiveNetns, OpError>> {
        self.rt.block_on(join_all(which.iter().map(|netns| self.observe_one(netns))))
    }

    async fn observe_one(&self, netns: &Netns) -> Result<LiveNetns, OpError> {
        let conn = self.conn(netns)?;
        // One dump at a time per socket: the kernel answers a second with EBUSY.
        let links = dump_links(&conn.handle).await?;
        let mut addr = AddressMessage::default();
        addr.header.family = AddressFamily::Unspec;
        let addrs = nl::dump(&conn.handle, RouteNetlinkMessage::GetAddress(addr)).await?;
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Unspec;
        let routes = nl::dump(&conn.handle, RouteNetlinkMessage::GetRoute(route)).await?;
        let addrs = addrs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => parse::parse_addr(a),
                _ => None,
            })
            .collect();
        let routes = routes
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => parse::parse_route(r),
                _ => None,
            })
            .collect();
        let live = LiveNetns::new(links, addrs, routes);
        let mut index = conn.index.borrow_mut();
        index.clear();
        index.extend(live.links.iter().map(|l| (l.name.clone(), l.index)));
        Ok(live)
    }

    /// The ifalias of each named link, `None` for a link that is not there.
    pub fn link_aliases(&self, which: &[(Netns, String)]) -> Vec<Result<Option<LiveLink>, OpError>> {
        self.pipelined(
            which,
            |(netns, _)| netns.clone(),
            |(netns, name)| async move {
                let conn = self.conn(netns)?;
                Ok(get_link(&conn.handle, LinkUnspec::new_with_name(name).build()).await?)
            },
        )
    }

    /// Reads sysctls, each in its namespace.
    pub fn read_sysctls(&self, which: &[(Netns, String)]) -> Vec<Result<String, OpError>> {
        self.in_namespaces(which, |(_, key)| sysctl::read(key).map_err(OpError::from))
    }

    /// Runs `f` for each item on a thread inside the item's namespace.
    fn in_namespaces<T: Sync, R: Send>(
        &self,
        items: &[(Netns, T)],
        f: impl Fn(&(Netns, T)) -> Result<R, OpError> + Sync,
    ) -> Vec<Result<R, OpError>> {
        let fds: Vec<Result<std::os::fd::BorrowedFd, OpError>> =
            items.iter().map(|(netns, _)| self.conn(netns).map(|c| c.fd.as_fd())).collect();
        netns::par_map(fds.into_iter().zip(items).collect(), netns::workers(), |(fd, item)| {
            netns::enter(&fd?)?;
            f(item)
        })
    }

    /// Applies a batch of ops that do not depend on each other, all at once, and returns
    /// each op's outcome in order. `previous` gives the value a `sysctl_restore` puts back.
    pub fn apply(
        &mut self,
        ops: &[Op],
        previous: &dyn Fn(&Netns, &str) -> Option<String>,
    ) -> Vec<Result<Applied, OpError>> {
        let mut results: Vec<Option<Result<Applied, OpError>>> = vec![None; ops.len()];
        // Namespace creation is synchronous thread work; its connections come out of it.
        let creates: Vec<(usize, &String)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                Op::NetnsAdd { netns } => Some((i, netns)),
                _ => None,
            })
            .collect();
        if !creates.is_empty() {
            // Like iproute2: /run/netns a shared mount, so every mount namespace sees them.
            let made: Vec<Result<(netlink_sys::Socket, OwnedFd, NsId), OpError>> = match netns::prepare_run_dir() {
                Err(e) => {
                    let e = OpError::from(e);
                    creates.iter().map(|_| Err(e.clone())).collect()
                }
                Ok(()) => {
                    let mark = self.mark.clone();
                    netns::par_map(creates.clone(), netns::workers(), |(_, name)| {
                        let (socket, id) = netns::create_here(name, &mark)?;
                        Ok((socket, netns::open(name)?, id))
                    })
                }
            };
            for ((i, name), result) in creates.into_iter().zip(made) {
                results[i] = Some(result.map(|(socket, fd, id)| {
                    self.add_conn(Netns::Named(name.clone()), socket, fd);
                    Applied::Netns(id)
                }));
            }
        }

        // Sysctls: written from threads inside their namespaces. A restore with nothing
        // recorded to put back leaves the value alone.
        let mut at = Vec::new();
        let mut writes: Vec<(Netns, (&str, Option<String>))> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::SysctlSet { netns, key, value } => writes.push((netns.clone(), (key, Some(value.clone())))),
                Op::SysctlRestore { netns, key } => writes.push((netns.clone(), (key, previous(netns, key)))),
                _ => continue,
            }
            at.push(i);
        }
        if !writes.is_empty() {
            let written = self.in_namespaces(&writes, |(_, (key, value))| match value {
                Some(v) => sysctl::write(key, v).map_err(OpError::from),
                None => Ok(()),
            });
            for (i, r) in at.into_iter().zip(written) {
                results[i] = Some(r.map(|()| Applied::Done));
            }
        }

        // Everything else that is not netlink is quick file-system work.
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                Op::NetnsAlias { netns, target } => netns::alias(netns, target).map_err(OpError::from),
                Op::NetnsDel { netns } => {
                    self.conns.remove(&Netns::Named(netns.clone()));
                    netns::delete(netns).map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => OpError::Errno(Errno::ENOENT),
                        _ => e.into(),
                    })
                }
                Op::FileWrite { netns, file, content } => files::write(netns, *file, content).map_err(OpError::from),
                Op::FileRemove { netns, file } => files::remove(netns, *file).map_err(OpError::from),
                Op::ForwarderStop { netns, dev } => forwarder::stop(&self.forwarders, netns, dev),
                _ => continue,
            };
            results[i] = Some(r.map(|()| Applied::Done));
        }

        // TUN devices are made by an ioctl from inside their namespace; their mtu, mark and
        // group are then set over netlink with the other link ops.
        let tuns: Vec<(usize, (Netns, &str))> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                Op::TunAdd { netns, name, .. } => Some((i, (netns.clone(), name.as_str()))),
                _ => None,
            })
            .collect();
        if !tuns.is_empty() {
            let items: Vec<(Netns, &str)> = tuns.iter().map(|(_, x)| x.clone()).collect();
            let made = self
                .in_namespaces(&items, |(_, name)| crate::tunnel::tun::create_persistent(name).map_err(OpError::from));
            for ((i, _), r) in tuns.iter().zip(made) {
                if let Err(e) = r {
                    results[*i] = Some(Err(e));
                }
            }
        }

        // Forwarders: processes started inside their namespaces, all at once.
        let starts: Vec<(usize, &Op)> =
            ops.iter().enumerate().filter(|(_, op)| matches!(op, Op::ForwarderStart { .. })).collect();
        if !starts.is_empty() {
            let mut with_fd = Vec::new();
            for (i, op) in &starts {
                match self.conn(&op.netns()) {
                    Ok(c) => with_fd.push((*i, *op, c.fd.as_fd())),
                    Err(e) => results[*i] = Some(Err(e)),
                }
            }
            let pairs: Vec<(&Op, std::os::fd::BorrowedFd)> = with_fd.iter().map(|(_, op, fd)| (*op, *fd)).collect();
            let started = forwarder::start(&self.forwarders, &pairs);
            for ((i, _, _), r) in with_fd.iter().zip(started) {
                results[*i] = Some(r.map(|()| Applied::Done));
            }
        }

        self.delete_groups(ops, &mut results);

        // Netlink ops: what is left.
        let left: Vec<usize> = (0..ops.len()).filter(|i| results[*i].is_none()).collect();
        let sent = self.pipelined(&left, |i| ops[*i].netns(), |i| self.netlink_op(&ops[*i]));
        for (i, r) in left.into_iter().zip(sent) {
            results[i] = Some(r.map(|()| Applied::Done));
        }
        results.into_iter().map(|r| r.expect("every op has an outcome")).collect()
    }

    /// Runs `f` on every item, grouped by the namespace whose connection it uses: up to
    /// [`IN_FLIGHT`] requests at once on each connection, every namespace at the same time.
    /// The results come back in the items' order.
    fn pipelined<'a, T, R, Fut: Future<Output = R>>(
        &self,
        items: &'a [T],
        netns: impl Fn(&T) -> Netns,
        f: impl Fn(&'a T) -> Fut,
    ) -> Vec<R> {
        let mut by_netns: HashMap<Netns, Vec<usize>> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            by_netns.entry(netns(item)).or_default().push(i);
        }
        let f = &f;
        let done: Vec<Vec<(usize, R)>> = self.rt.block_on(join_all(by_netns.into_values().map(|indexes| {
            stream::iter(indexes)
                .map(|i| async move { (i, f(&items[i]).await) })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<_>>()
        })));
        let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        for (i, r) in done.into_iter().flatten() {
            results[i] = Some(r);
        }
        results.into_iter().map(|r| r.expect("every item has a result")).collect()
    }

    /// Deletes many links of one namespace with one request when they are exactly the
    /// lab's group there: each RTM_DELLINK waits for an RCU grace period (tens of ms), a
    /// group delete waits once for all. Links it took care of get their result; the rest
    /// are left for one-by-one deletion.
    fn delete_groups(&self, ops: &[Op], results: &mut [Option<Result<Applied, OpError>>]) {
        let mut by_netns: HashMap<&Netns, Vec<usize>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            if let (Op::LinkDel { netns, .. }, None) = (op, &results[i]) {
                by_netns.entry(netns).or_default().push(i);
            }
        }
        by_netns.retain(|_, v| v.len() > 1);
        let group = self.group;
        let done: Vec<Vec<usize>> =
            self.rt.block_on(join_all(by_netns.into_iter().map(|(netns, indexes)| async move {
                let Ok(conn) = self.conn(netns) else { return Vec::new() };
                let Ok(links) = dump_links(&conn.handle).await else { return Vec::new() };
                let in_group: Vec<String> = links.into_iter().filter(|l| l.group == group).map(|l| l.name).collect();
                let asked: std::collections::HashSet<&String> = indexes
                    .iter()
                    .filter_map(|i| match &ops[*i] {
                        Op::LinkDel { name, .. } => Some(name),
                        _ => None,
                    })
                    .collect();
                let all_asked = in_group.iter().all(|n| asked.contains(&n));
                if in_group.is_empty() || !all_asked {
                    return Vec::new();
                }
                let msg = LinkUnspec::new_with_index(0).link_group(group).build();
                if nl::ack(&conn.handle, RouteNetlinkMessage::DelLink(msg), 0).await.is_err() {
                    return Vec::new();
                }
                conn.index.borrow_mut().clear();
                indexes
                    .into_iter()
                    .filter(|i| matches!(&ops[*i], Op::LinkDel { name, .. } if in_group.contains(name)))
                    .collect()
            })));
        for i in done.into_iter().flatten() {
            results[i] = Some(Ok(Applied::Done));
        }
    }

    async fn netlink_op(&self, op: &Op) -> Result<(), OpError> {
        let conn = self.conn(&op.netns())?;
        let h = &conn.handle;
        match op {
            Op::BridgeAdd { name, mtu, .. } => {
                let mut b = LinkBridge::new(name).link_group(self.group);
                if let Some(m) = mtu {
                    b = b.mtu(*m);
                }
                self.create_link(conn, name, b.build()).await
            }
            Op::VethAdd { name, mac, peer_netns, peer_name, peer_mac, mtu, .. } => {
                let peer_conn = self.conn(peer_netns)?;
                let mut peer =
                    LinkUnspec::new_with_name(peer_name).setns_by_fd(peer_conn.fd.as_raw_fd()).link_group(self.group);
                let mut end = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
                    .name(name.clone())
                    .link_group(self.group);
                if let Some(m) = mtu {
                    peer = peer.mtu(*m);
                    end = end.mtu(*m);
                }
                if let Some(mac) = peer_mac {
                    peer = peer.address(parse_mac(mac)?);
                }
                if let Some(mac) = mac {
                    end = end.address(parse_mac(mac)?);
                }
                let msg = end.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build()))).build();
                self.create_link(conn, name, msg).await?;
                let marked = self.set_alias(peer_conn, peer_name).await;
                if marked.is_err() {
                    discard(conn, name).await;
                }
                marked
            }
            Op::VxlanAdd { name, vni, local, remote, port, mtu, .. } => {
                let mut v = LinkVxlan::new(name, *vni).port(*port).link_group(self.group);
                v = match (local, remote) {
                    (IpAddr::V4(l), IpAddr::V4(r)) => v.local(*l).remote(*r),
                    (IpAddr::V6(l), IpAddr::V6(r)) => v.local6(*l).remote6(*r),
                    _ => return Err(OpError::Other("vxlan local and remote must be of one IP version".into())),
                };
                if let Some(m) = mtu {
                    v = v.mtu(*m);
                }
                self.create_link(conn, name, v.build()).await
            }
            Op::IpipAdd { name, local, remote, mtu, .. } => {
                let (IpAddr::V4(l), IpAddr::V4(r)) = (local, remote) else {
                    return Err(OpError::Other("ipip carries IPv4 only".into()));
                };
                let mut t = LinkIpIp::new(name).local(*l).remote(*r).link_group(self.group);
                if let Some(m) = mtu {
                    t = t.mtu(*m);
                }
                self.create_link(conn, name, t.build()).await
            }
            Op::TunAdd { name, mtu, .. } => {
                let mut msg = LinkUnspec::new_with_name(name).alias(self.mark.clone()).link_group(self.group);
                if let Some(m) = mtu {
                    msg = msg.mtu(*m);
                }
                let configured = nl::ack(h, RouteNetlinkMessage::SetLink(msg.build()), 0).await;
                if configured.is_err() {
                    discard(conn, name).await;
                }
                Ok(configured?)
            }
            Op::LinkDel { name, .. } => {
                let msg = LinkUnspec::new_with_name(name).build();
                let r = nl::ack(h, RouteNetlinkMessage::DelLink(msg), 0).await;
                conn.index.borrow_mut().remove(name);
                Ok(r?)
            }
            Op::LinkSetMaster { name, master, .. } => {
                let master = self.index(conn, master).await?;
                let msg = LinkUnspec::new_with_name(name).controller(master).build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::LinkSetNomaster { name, .. } => {
                let msg = LinkUnspec::new_with_name(name).nocontroller().build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::LinkSetMac { name, mac, .. } => {
                let msg = LinkUnspec::new_with_name(name).address(parse_mac(mac)?).build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::LinkRename { name, new_name, .. } => {
                // The kernel renames only a link that is down (EBUSY otherwise); one that
                // was up is brought back up under its new name.
                let Some(link) = get_link(h, LinkUnspec::new_with_name(name).build()).await? else {
                    return Err(OpError::Errno(Errno::ENODEV));
                };
                let (index, was_up) = (link.index, link.up);
                if was_up {
                    nl::ack(h, RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(index).down().build()), 0)
                        .await?;
                }
                let renamed = nl::ack(
                    h,
                    RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(index).name(new_name.clone()).build()),
                    0,
                )
                .await;
                if was_up {
                    nl::ack(h, RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(index).up().build()), 0).await?;
                }
                renamed?;
                let mut cache = conn.index.borrow_mut();
                cache.remove(name);
                cache.insert(new_name.clone(), index);
                Ok(())
            }
            Op::LinkSetMtu { name, mtu, .. } => {
                let msg = LinkUnspec::new_with_name(name).mtu(*mtu).build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::LinkUp { name, .. } => {
                let msg = LinkUnspec::new_with_name(name).up().build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::LinkDown { name, .. } => {
                let msg = LinkUnspec::new_with_name(name).down().build();
                Ok(nl::ack(h, RouteNetlinkMessage::SetLink(msg), 0).await?)
            }
            Op::AddrAdd { dev, address, peer, .. } => {
                let msg = addr_message(self.index(conn, dev).await?, address, peer);
                Ok(nl::ack(h, RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL).await?)
            }
            Op::AddrDel { dev, address, peer, .. } => {
                let msg = addr_message(self.index(conn, dev).await?, address, peer);
                Ok(nl::ack(h, RouteNetlinkMessage::DelAddress(msg), 0).await?)
            }
            Op::RouteAdd { to, via, dev, .. } => {
                let oif = match dev {
                    Some(d) => Some(self.index(conn, d).await?),
                    None => None,
                };
                let msg = route_message(to, via, oif, false);
                Ok(nl::ack(h, RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL).await?)
            }
            Op::RouteDel { to, via, dev, .. } => {
                // A device that is gone took its routes with it.
                let oif = match dev {
                    Some(d) => Some(self.index(conn, d).await?),
                    None => None,
                };
                let msg = route_message(to, via, oif, true);
                Ok(nl::ack(h, RouteNetlinkMessage::DelRoute(msg), 0).await?)
            }
            other => Err(OpError::Other(format!("{} is not a netlink op", crate::plan::text::kind(other)))),
        }
    }

    /// Creates a link and marks it as the lab's. The mark is a second request on the same
    /// connection, which the kernel handles in order.
    async fn create_link(&self, conn: &Conn, name: &str, msg: LinkMessage) -> Result<(), OpError> {
        nl::ack(&conn.handle, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL).await?;
        let marked = self.set_alias(conn, name).await;
        if marked.is_err() {
            discard(conn, name).await;
        }
        marked
    }

    async fn set_alias(&self, conn: &Conn, name: &str) -> Result<(), OpError> {
        let msg = LinkUnspec::new_with_name(name).alias(self.mark.clone()).build();
        Ok(nl::ack(&conn.handle, RouteNetlinkMessage::SetLink(msg), 0).await?)
    }

    /// A link's index, from the cache or asked of the kernel.
    async fn index(&self, conn: &Conn, name: &str) -> Result<u32, OpError> {
        if let Some(i) = conn.index.borrow().get(name) {
            return Ok(*i);
        }
        let Some(link) = get_link(&conn.handle, LinkUnspec::new_with_name(name).build()).await? else {
            return Err(OpError::Errno(Errno::ENODEV));
        };
        conn.index.borrow_mut().insert(name.to_string(), link.index);
        Ok(link.index)
    }
}

/// Deletes a link netlab made but could not mark: deleted again rather than left behind
/// unowned. Best effort; the error that got here is the one reported.
async fn discard(conn: &Conn, name: &str) {
    let _ = nl::ack(&conn.handle, RouteNetlinkMessage::DelLink(LinkUnspec::new_with_name(name).build()), 0).await;
}

/// Every link of the connection's namespace.
async fn dump_links(handle: &Handle) -> Result<Vec<LiveLink>, Errno> {
    let msgs = nl::dump(handle, RouteNetlinkMessage::GetLink(LinkMessage::default())).await?;
    Ok(msgs
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(parse::parse_link(l)),
            _ => None,
        })
        .collect())
}

/// The link `msg` names (by name or index), or `None` when there is no such link.
async fn get_link(handle: &Handle, msg: LinkMessage) -> Result<Option<LiveLink>, Errno> {
    match nl::get(handle, RouteNetlinkMessage::GetLink(msg)).await? {
        Some(RouteNetlinkMessage::NewLink(l)) => Ok(Some(parse::parse_link(&l))),
        _ => Ok(None),
    }
}

fn parse_mac(mac: &str) -> Result<Vec<u8>, OpError> {
    mac.split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| OpError::Other(format!("`{mac}` is not a MAC address")))
}

fn family(addr: &IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// `ip addr add ADDRESS [peer PEER] dev INDEX`.
fn addr_message(index: u32, address: &IpNet, peer: &Option<IpAddr>) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(&address.addr());
    msg.header.prefix_len = address.prefix_len();
    msg.header.index = index;
    msg.header.scope = if address.addr().is_loopback() { AddressScope::Host } else { AddressScope::Universe };
    msg.header.flags = AddressHeaderFlags::empty();
    // IPv4 wants IFA_LOCAL (this end) and IFA_ADDRESS (the peer, or this end again); IPv6
    // takes IFA_ADDRESS alone, and IFA_LOCAL only with a peer.
    match (address.addr(), peer) {
        (a @ IpAddr::V4(_), p) => {
            msg.attributes.push(AddressAttribute::Local(a));
            msg.attributes.push(AddressAttribute::Address(p.unwrap_or(a)));
        }
        (a, Some(p)) => {
            msg.attributes.push(AddressAttribute::Local(a));
            msg.attributes.push(AddressAttribute::Address(*p));
        }
        (a, None) => msg.attributes.push(AddressAttribute::Address(a)),
    }
    msg
}

/// `ip route add|del TO [via VIA] [dev INDEX]` in the main table.
fn route_message(to: &IpNet, via: &Option<IpAddr>, oif: Option<u32>, delete: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: family(&to.addr()),
        destination_prefix_length: to.prefix_len(),
        table: MAIN_TABLE as u8,
        // What `ip route add` uses; `del` matches any protocol and scope.
        protocol: if delete { RouteProtocol::Unspec } else { RouteProtocol::Boot },
        scope: match (delete, via) {
            (true, _) => RouteScope::NoWhere,
            (false, Some(_)) => RouteScope::Universe,
            (false, None) => RouteScope::Link,
        },
        kind: if delete { RouteType::Unspec } else { RouteType::Unicast },
        ..Default::default()
    };
    if to.prefix_len() > 0 {
        msg.attributes.push(RouteAttribute::Destination(route_address(to.network())));
    }
    if let Some(v) = via {
        msg.attributes.push(RouteAttribute::Gateway(route_address(*v)));
    }
    if let Some(i) = oif {
        msg.attributes.push(RouteAttribute::Oif(i));
    }
    msg
}

fn route_address(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

/// One connection and one namespace file per namespace: a big lab needs more descriptors
/// than the usual soft limit of 1024, and the hard limit is ours to take.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}
