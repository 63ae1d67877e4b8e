//! [`Linux`]: the real kernel behind the [`Kernel`] seam.
//!
//! One rtnetlink connection per namespace, each opened on a short-lived std thread that
//! entered the namespace (see `netns`), all driven by one current-thread tokio runtime.
//! A batch of independent ops is sent all at once, many requests in flight on every
//! connection and every namespace worked on at the same time; the only waits are between
//! batches.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use rtnetlink::Handle;

use super::firewall::NftItem;
use super::netlink::{self, build};
use super::step::{Now, Request, Step, Sysctl};
use super::{files, forwarder, netns, nft, sysctl, Applied, Kernel, OpError};
use crate::impair::netem::{self, Verb};
use crate::impair::relay::{control, RelayConfig};
use crate::live::NsId;
use crate::ownership::Marks;
use crate::plan::Op;
use crate::topology::Netns;

mod dump;

/// A sysctl to write in a namespace: its key, and its value (`None`: leave it alone).
type SysctlWrite<'a> = (Netns, (&'a str, Option<String>));
/// One of a namespace's sysctls, written in order: its op's place in the batch, its key
/// and its value.
type SysctlInOrder<'a> = (usize, &'a str, Option<String>);

/// Requests in flight on one connection at once: enough to keep the kernel busy, few
/// enough that every answer fits in the socket's receive buffer.
const IN_FLIGHT: usize = 64;

/// A connection into one namespace.
struct Conn {
    handle: Handle,
    /// The namespace: `IFLA_NET_NS_FD` for devices born in it, `setns` for sysctls.
    fd: OwnedFd,
    /// Interface indexes by name, filled as they are looked up.
    index: RefCell<HashMap<String, u32>>,
}

/// The kernel of this machine, for one lab.
pub struct Linux {
    rt: tokio::runtime::Runtime,
    /// The lab's directory: its forwarders' and its processes' files.
    dir: PathBuf,
    /// Where the lab's processes run: the topology file's directory (`None`: /).
    workdir: Option<PathBuf>,
    /// What the lab's links carry: `netlab:<lab>` as ifalias (also on each namespace's
    /// `lo`), and the lab's device group.
    marks: Marks,
    conns: HashMap<Netns, Conn>,
}

impl Linux {
    /// Connects to the root namespace, to work on the lab with `marks`, whose forwarders
    /// and processes keep their files in `dir`. Fails only if netlink itself is unavailable.
    pub fn new(marks: Marks, dir: PathBuf) -> std::io::Result<Linux> {
        raise_fd_limit();
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let mut kernel = Linux { rt, dir, workdir: None, marks, conns: HashMap::new() };
        let socket = netns::route_socket()?;
        let fd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
        kernel.add_conn(Netns::Host, socket, fd);
        Ok(kernel)
    }

    /// The lab's directory: its forwarders' and its processes' files.
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where the lab's processes are started: the topology file's directory.
    pub fn set_workdir(&mut self, workdir: Option<PathBuf>) {
        self.workdir = workdir;
    }

    fn programs(&self) -> super::programs::Place<'_> {
        super::programs::Place { dir: &self.dir, workdir: self.workdir.as_deref() }
    }

    /// The lab's name, from its mark.
    pub(super) fn lab(&self) -> &str {
        self.marks.alias.strip_prefix("netlab:").unwrap_or(&self.marks.alias)
    }

    /// The file of a namespace netlab holds a connection into.
    pub(super) fn netns_fd(&self, netns: &Netns) -> Result<BorrowedFd<'_>, OpError> {
        self.conn(netns).map(|c| c.fd.as_fd())
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
        self.conns.get(netns).ok_or_else(|| OpError::NotOpen(netns.clone()))
    }

    /// The marks of the lab it works on.
    pub(super) fn marks(&self) -> &Marks {
        &self.marks
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

    /// Runs `f` for each item on a thread inside the item's namespace.
    fn in_namespaces<T: Sync, R: Send>(
        &self,
        items: &[(Netns, T)],
        f: impl Fn(&(Netns, T)) -> Result<R, OpError> + Sync,
    ) -> Vec<Result<R, OpError>> {
        let fds: Vec<Result<BorrowedFd, OpError>> =
            items.iter().map(|(netns, _)| self.conn(netns).map(|c| c.fd.as_fd())).collect();
        netns::par_map(fds.into_iter().zip(items).collect(), netns::workers(), |(fd, item)| {
            netns::enter(&fd?)?;
            f(item)
        })
    }

    /// Makes the named namespaces, each on a thread of its own, and connects to them.
    fn create_namespaces(&mut self, names: &[&str]) -> Vec<Result<Applied, OpError>> {
        // Like iproute2: /run/netns a shared mount, so every mount namespace sees them.
        let made: Vec<Result<(netlink_sys::Socket, OwnedFd, NsId), OpError>> = match netns::prepare_run_dir() {
            Err(e) => {
                let e = OpError::from(e);
                names.iter().map(|_| Err(e.clone())).collect()
            }
            Ok(()) => {
                let mark = &self.marks.alias;
                netns::par_map(names.to_vec(), netns::workers(), |name| {
                    let (socket, id) = netns::create_here(name, mark)?;
                    Ok((socket, netns::open(name)?, id))
                })
            }
        };
        names
            .iter()
            .zip(made)
            .map(|(name, result)| {
                result.map(|(socket, fd, id)| {
                    self.add_conn(Netns::Named(name.to_string()), socket, fd);
                    Applied::Netns(id)
                })
            })
            .collect()
    }

    /// File-system work (and stopping a process), done at once.
    fn now(&mut self, step: &Now) -> Result<(), OpError> {
        match step {
            Now::Alias { name, target } => Ok(netns::alias(name, target)?),
            Now::DeleteNetns { name } => {
                self.conns.remove(&Netns::Named(name.to_string()));
                netns::delete(name).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        OpError::Errno(Errno::ENOENT)
                    } else {
                        e.into()
                    }
                })
            }
            Now::WriteFile { netns, file, content } => Ok(files::write(netns, *file, content)?),
            Now::RemoveFile { netns, file } => Ok(files::remove(netns, *file)?),
            Now::StopForwarder { netns, dev } => forwarder::stop(&self.dir, netns, dev),
            Now::StopRelay { netns, a } => forwarder::stop_relay(&self.dir, netns, a),
            Now::SetRelay { netns, a, a_to_b, b_to_a } => {
                // Not running (no socket of its own there): already gone, as for a stop.
                let Some(path) = forwarder::control_socket(&self.dir, netns, a) else {
                    return Err(OpError::Errno(Errno::ESRCH));
                };
                let changes = match (a_to_b, b_to_a) {
                    (Some(x), Some(y)) if x == y => vec![(control::Direction::Both, *x)],
                    (x, y) => {
                        let x = x.map(|i| (control::Direction::AToB, i));
                        x.into_iter().chain(y.map(|i| (control::Direction::BToA, i))).collect()
                    }
                };
                for (direction, imp) in changes {
                    control::set(&path, direction, imp).map_err(|e| {
                        // No socket: the relay is not running.
                        if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) {
                            OpError::Errno(Errno::ESRCH)
                        } else {
                            forwarder::ForwarderError::NotChanged { dev: a.to_string(), why: e.to_string() }.into()
                        }
                    })?;
                }
                Ok(())
            }
        }
    }

    /// An nftables drop made, replaced or removed, by `nft` inside its namespace.
    fn drop(&self, netns: &Netns, dev: &str, set: Option<(crate::impairment::Percent, bool)>) -> Result<(), OpError> {
        let fd = self.netns_fd(netns)?;
        let lab = self.lab();
        match set {
            Some((loss, carrier)) => {
                crate::impair::nft::check_device(dev).map_err(OpError::Io)?;
                nft::run(fd, &["-f", "-"], Some(&crate::impair::nft::set_script(lab, dev, loss, carrier)))?;
            }
            None => {
                nft::run(fd, &["-f", "-"], Some(&crate::impair::nft::delete_script(lab, dev)))?;
            }
        }
        Ok(())
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
    /// group delete waits once for all. Returns which of `deletes` (namespace, name) it
    /// took care of; the rest are left for one-by-one deletion.
    fn delete_groups(&self, deletes: &[(&Netns, &str)]) -> Vec<bool> {
        let mut by_netns: HashMap<&Netns, HashSet<&str>> = HashMap::new();
        for (netns, name) in deletes {
            by_netns.entry(*netns).or_default().insert(*name);
        }
        by_netns.retain(|_, names| names.len() > 1);
        // The lab's links are in one group per class (see firewall::groups).
        let groups = self.marks.groups();
        let done: Vec<(&Netns, Vec<String>)> =
            self.rt.block_on(join_all(by_netns.into_iter().map(|(netns, asked)| async move {
                let none = (netns, Vec::new());
                let Ok(conn) = self.conn(netns) else { return none };
                let Ok(links) = netlink::dump_links(&conn.handle).await else { return none };
                let in_groups: Vec<(String, u32)> =
                    links.into_iter().filter(|l| groups.contains(&l.group)).map(|l| (l.name, l.group)).collect();
                if in_groups.is_empty() || !in_groups.iter().all(|(n, _)| asked.contains(n.as_str())) {
                    return none;
                }
                let mut used: Vec<u32> = in_groups.iter().map(|(_, g)| *g).collect();
                used.sort_unstable();
                used.dedup();
                // Every group's delete in flight at once: each waits a grace period of its own.
                let acks = join_all(used.iter().map(|group| {
                    netlink::ack(&conn.handle, RouteNetlinkMessage::DelLink(build::delete_group(*group)), 0)
                }))
                .await;
                let deleted: Vec<u32> = used.iter().zip(acks).filter(|(_, r)| r.is_ok()).map(|(g, _)| *g).collect();
                let gone: Vec<String> =
                    in_groups.iter().filter(|(_, g)| deleted.contains(g)).map(|(n, _)| n.clone()).collect();
                conn.index.borrow_mut().clear();
                (netns, gone)
            })));
        let gone: HashSet<(&Netns, &str)> =
            done.iter().flat_map(|(netns, names)| names.iter().map(move |n| (*netns, n.as_str()))).collect();
        deletes.iter().map(|d| gone.contains(d)).collect()
    }

    /// Sends one request on the connection into `netns`.
    async fn request(&self, netns: &Netns, request: &Request<'_>) -> Result<(), OpError> {
        let conn = self.conn(netns)?;
        let h = &conn.handle;
        let set = |msg: LinkMessage| netlink::ack(h, RouteNetlinkMessage::SetLink(msg), 0);
        let group = self.marks.group;
        match request {
            Request::Bridge { name, mtu } => self.create_link(conn, name, build::bridge(name, *mtu, group)).await,
            Request::Veth { name, mac, peer_netns, peer_name, peer_mac, mtu } => {
                let peer_conn = self.conn(peer_netns)?;
                let end = build::VethEnd { name, mac: mac.map(parse_mac).transpose()? };
                let peer = build::VethEnd { name: peer_name, mac: peer_mac.map(parse_mac).transpose()? };
                let msg = build::veth(end, peer, peer_conn.fd.as_raw_fd(), *mtu, group);
                self.create_link(conn, name, msg).await?;
                let marked = self.set_alias(peer_conn, peer_name).await;
                if marked.is_err() {
                    discard(conn, name).await;
                }
                marked
            }
            Request::Vxlan { name, vni, local, remote, port, mtu } => {
                let msg = build::vxlan(name, *vni, (*local, *remote), *port, *mtu, group)?;
                self.create_link(conn, name, msg).await
            }
            Request::Ipip { name, local, remote, mtu } => {
                let msg = build::ipip(name, (*local, *remote), *mtu, group)?;
                self.create_link(conn, name, msg).await
            }
            Request::TunConfig { name, mtu } => {
                let configured = set(build::tun_config(name, &self.marks.alias, *mtu, group)).await;
                if configured.is_err() {
                    discard(conn, name).await;
                }
                Ok(configured?)
            }
            Request::Delete { name } => {
                let r = netlink::ack(h, RouteNetlinkMessage::DelLink(build::delete(name)), 0).await;
                conn.index.borrow_mut().remove(*name);
                Ok(r?)
            }
            Request::Master { name, master } => {
                let master = self.index(conn, master).await?;
                Ok(set(build::set_master(name, master)).await?)
            }
            Request::NoMaster { name } => Ok(set(build::set_nomaster(name)).await?),
            Request::Mac { name, mac } => Ok(set(build::set_mac(name, parse_mac(mac)?)).await?),
            Request::Rename { name, new_name } => {
                // The kernel renames only a link that is down (EBUSY otherwise); one that
                // was up is brought back up under its new name.
                let Some(link) = netlink::get_link(h, build::get_link(name)).await? else {
                    return Err(OpError::Errno(Errno::ENODEV));
                };
                let (index, was_up) = (link.index, link.up);
                if was_up {
                    set(build::set_up_by_index(index, false)).await?;
                }
                let renamed = set(build::rename(index, new_name)).await;
                if was_up {
                    set(build::set_up_by_index(index, true)).await?;
                }
                renamed?;
                let mut cache = conn.index.borrow_mut();
                cache.remove(*name);
                cache.insert(new_name.to_string(), index);
                Ok(())
            }
            Request::Mtu { name, mtu } => Ok(set(build::set_mtu(name, *mtu)).await?),
            Request::Hairpin { name, on } => {
                Ok(netlink::ack(h, RouteNetlinkMessage::NewLink(build::set_hairpin(name, *on)), 0).await?)
            }
            Request::Class { name, class } => Ok(set(build::set_group(name, self.marks.class_group(*class))).await?),
            Request::Up { name, up } => Ok(set(build::set_up(name, *up)).await?),
            Request::Addr { dev, address, peer, add } => {
                let index = self.index(conn, dev).await?;
                Ok(if *add {
                    let msg = build::new_addr(index, address, peer);
                    netlink::ack(h, RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL).await
                } else {
                    netlink::ack(h, RouteNetlinkMessage::DelAddress(build::addr(index, address, peer)), 0).await
                }?)
            }
            Request::Qdisc { dev, qdisc } => {
                let index = self.index(conn, dev).await?;
                let verb = if qdisc.is_some() { Verb::Replace } else { Verb::Delete };
                let (msg, flags) = netem::request(verb, index, qdisc.as_ref());
                Ok(netlink::ack(h, msg, flags).await?)
            }
            Request::Route { to, via, dev, add } => {
                // A device that is gone took its routes with it: ENODEV, already gone.
                let oif = match dev {
                    Some(d) => Some(self.index(conn, d).await?),
                    None => None,
                };
                let msg = build::route(to, via, oif, !add);
                Ok(if *add {
                    netlink::ack(h, RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL).await
                } else {
                    netlink::ack(h, RouteNetlinkMessage::DelRoute(msg), 0).await
                }?)
            }
        }
    }

    /// Creates a link and marks it as the lab's. The mark is a second request on the same
    /// connection, which the kernel handles in order.
    async fn create_link(&self, conn: &Conn, name: &str, msg: LinkMessage) -> Result<(), OpError> {
        netlink::ack(&conn.handle, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL).await?;
        let marked = self.set_alias(conn, name).await;
        if marked.is_err() {
            discard(conn, name).await;
        }
        marked
    }

    async fn set_alias(&self, conn: &Conn, name: &str) -> Result<(), OpError> {
        let msg = build::set_alias(name, &self.marks.alias);
        Ok(netlink::ack(&conn.handle, RouteNetlinkMessage::SetLink(msg), 0).await?)
    }

    /// A link's index, from the cache or asked of the kernel.
    async fn index(&self, conn: &Conn, name: &str) -> Result<u32, OpError> {
        if let Some(i) = conn.index.borrow().get(name) {
            return Ok(*i);
        }
        let Some(link) = netlink::get_link(&conn.handle, build::get_link(name)).await? else {
            return Err(OpError::Errno(Errno::ENODEV));
        };
        conn.index.borrow_mut().insert(name.to_string(), link.index);
        Ok(link.index)
    }
}

impl Kernel for Linux {
    fn observe(&mut self, ops: &[&Op], scope: super::Scope) -> Result<crate::live::LiveLab, OpError> {
        self.observe_lab(ops, scope)
    }

    fn apply(
        &mut self,
        ops: &[Op],
        previous: &dyn Fn(&Netns, &str) -> Option<String>,
    ) -> Vec<Result<Applied, OpError>> {
        let mut results: Vec<Option<Result<Applied, OpError>>> = vec![None; ops.len()];
        // Each op to the executor of its kind (see `Step::of`).
        let mut creates: Vec<(usize, &str)> = Vec::new();
        let mut sysctls: Vec<(usize, SysctlWrite)> = Vec::new();
        let mut now: Vec<(usize, Now)> = Vec::new();
        let mut tuns: Vec<(usize, &Netns, &str, Option<u32>)> = Vec::new();
        let mut starts: Vec<(usize, &Netns, crate::tunnel::ForwarderConfig)> = Vec::new();
        let mut relays: Vec<(usize, &Netns, RelayConfig)> = Vec::new();
        let mut drops = Vec::new();
        let mut requests: Vec<(usize, &Netns, Request)> = Vec::new();
        let mut nfts: Vec<NftItem> = Vec::new();
        let mut flushes: Vec<(usize, &Netns, &[ipnet::IpNet])> = Vec::new();
        let mut programs = super::programs::Batch::default();
        for (i, op) in ops.iter().enumerate() {
            match Step::of(op) {
                Step::CreateNetns { name } => creates.push((i, name)),
                Step::Sysctl { netns, key, value } => {
                    // A restore with nothing recorded to put back leaves the value alone.
                    let value = match value {
                        Sysctl::Set(v) => Some(v.to_string()),
                        Sysctl::Restore => previous(netns, key),
                    };
                    sysctls.push((i, (netns.clone(), (key, value))));
                }
                Step::Now(step) => now.push((i, step)),
                Step::Tun { netns, name, mtu } => tuns.push((i, netns, name, mtu)),
                Step::StartForwarder { netns, config } => starts.push((i, netns, config)),
                Step::StartRelay { netns, config } => relays.push((i, netns, config)),
                Step::Drop { netns, dev, set } => drops.push((i, netns, dev, set)),
                Step::Netlink { netns, request } => requests.push((i, netns, request)),
                Step::Nft { netns, change } => nfts.push((i, netns, change)),
                Step::Conntrack { netns, subnets } => flushes.push((i, netns, subnets)),
                Step::Supervisor { start } => programs.supervisor.push((i, start)),
                Step::StartProcess(p) => programs.starts.push((i, p)),
                Step::StopProcess { key } => programs.stops.push((i, key)),
                Step::Exec(p) => programs.execs.push((i, p)),
            }
        }

        // nftables: one `nft -f` transaction per namespace.
        for (i, r) in self.nft(&nfts) {
            results[i] = Some(r);
        }
        for (i, netns, subnets) in flushes {
            results[i] = Some(self.conntrack_flush(netns, subnets));
        }

        // The lab's programs: processes through their supervisor.
        self.programs().apply(programs, &mut results);

        // Namespace creation is synchronous thread work; its connections come out of it.
        if !creates.is_empty() {
            let names: Vec<&str> = creates.iter().map(|(_, n)| *n).collect();
            for ((i, _), r) in creates.iter().zip(self.create_namespaces(&names)) {
                results[*i] = Some(r);
            }
        }

        // Sysctls: written from a thread inside each namespace, one namespace's in the
        // plan's order: they can depend on each other (writing ip_forward writes every
        // forwarding setting of the namespace, conf.default's too).
        if !sysctls.is_empty() {
            let mut groups: Vec<(Netns, Vec<SysctlInOrder>)> = Vec::new();
            let mut group_of: HashMap<&Netns, usize> = HashMap::new();
            for (i, (netns, (key, value))) in &sysctls {
                let g = *group_of.entry(netns).or_insert_with(|| {
                    groups.push((netns.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push((*i, key, value.clone()));
            }
            let written = self.in_namespaces(&groups, |(_, writes)| {
                Ok(writes
                    .iter()
                    .map(|(_, key, value)| match value {
                        Some(v) => Ok(sysctl::write(key, v)?),
                        None => Ok(()),
                    })
                    .collect::<Vec<Result<(), OpError>>>())
            });
            for ((_, writes), outcome) in groups.iter().zip(written) {
                for (n, (i, ..)) in writes.iter().enumerate() {
                    results[*i] = Some(match &outcome {
                        Ok(each) => each[n].clone().map(|()| Applied::Done),
                        Err(e) => Err(e.clone()),
                    });
                }
            }
        }

        for (i, step) in &now {
            results[*i] = Some(self.now(step).map(|()| Applied::Done));
        }

        // TUN devices are made by an ioctl from inside their namespace; their mtu, mark and
        // group are then set over netlink with the other link requests.
        if !tuns.is_empty() {
            let items: Vec<(Netns, &str)> = tuns.iter().map(|(_, netns, name, _)| ((*netns).clone(), *name)).collect();
            let made = self.in_namespaces(&items, |(_, name)| Ok(crate::tunnel::tun::create_persistent(name)?));
            for ((i, netns, name, mtu), r) in tuns.into_iter().zip(made) {
                match r {
                    Ok(()) => requests.push((i, netns, Request::TunConfig { name, mtu })),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }

        // Forwarders: processes started inside their namespaces, all at once.
        if !starts.is_empty() {
            let mut ready = Vec::new();
            for (i, netns, config) in starts {
                match self.conn(netns) {
                    Ok(c) => ready.push((i, netns, config, c.fd.as_fd())),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            let items: Vec<(&Netns, &crate::tunnel::ForwarderConfig, BorrowedFd)> =
                ready.iter().map(|(_, netns, config, fd)| (*netns, config, *fd)).collect();
            let started = forwarder::start(&self.dir, &items);
            for ((i, ..), r) in ready.iter().zip(started) {
                results[*i] = Some(r.map(|()| Applied::Done));
            }
        }

        // Relays: processes started inside their namespaces, all at once, like forwarders.
        if !relays.is_empty() {
            let mut ready = Vec::new();
            for (i, netns, config) in relays {
                match self.conn(netns) {
                    Ok(c) => ready.push((i, netns, config, c.fd.as_fd())),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            let items: Vec<(&Netns, &RelayConfig, BorrowedFd)> =
                ready.iter().map(|(_, netns, config, fd)| (*netns, config, *fd)).collect();
            let started = forwarder::start_relays(&self.dir, &items);
            for ((i, ..), r) in ready.iter().zip(started) {
                results[*i] = Some(r.map(|()| Applied::Done));
            }
        }

        // Drops: one `nft` transaction each.
        for (i, netns, dev, set) in drops {
            results[i] = Some(self.drop(netns, dev, set).map(|()| Applied::Done));
        }

        // Deletions of many of the lab's links in one namespace: one request for all.
        let deletes: Vec<(usize, (&Netns, &str))> = requests
            .iter()
            .filter_map(
                |(i, netns, r)| if let Request::Delete { name } = r { Some((*i, (*netns, *name))) } else { None },
            )
            .collect();
        let targets: Vec<(&Netns, &str)> = deletes.iter().map(|(_, d)| *d).collect();
        let grouped: HashSet<usize> =
            deletes.iter().zip(self.delete_groups(&targets)).filter(|(_, done)| *done).map(|((i, _), _)| *i).collect();
        for i in &grouped {
            results[*i] = Some(Ok(Applied::Done));
        }
        requests.retain(|(i, ..)| !grouped.contains(i));

        // Requests over rtnetlink: many at once on every connection.
        let sent = self.pipelined(&requests, |(_, netns, _)| (*netns).clone(), |(_, netns, r)| self.request(netns, r));
        for ((i, ..), r) in requests.iter().zip(sent) {
            results[*i] = Some(r.map(|()| Applied::Done));
        }
        results.into_iter().map(|r| r.expect("every op has an outcome")).collect()
    }

    fn read_sysctls(&self, which: &[(Netns, String)]) -> Vec<Result<String, OpError>> {
        self.in_namespaces(which, |(_, key)| Ok(sysctl::read(key)?))
    }
}

/// Deletes a link netlab made but could not mark: deleted again rather than left behind
/// unowned. Best effort; the error that got here is the one reported.
async fn discard(conn: &Conn, name: &str) {
    let _ = netlink::ack(&conn.handle, RouteNetlinkMessage::DelLink(build::delete(name)), 0).await;
}

fn parse_mac(mac: &str) -> Result<Vec<u8>, OpError> {
    build::mac(mac).ok_or_else(|| OpError::NotAMac(mac.to_string()))
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
