//! Named network namespaces, made, aliased and removed exactly as iproute2's `ip netns`
//! does, so `ip netns list` and `ip netns exec` see netlab's namespaces and netlab sees
//! theirs.
//!
//! A named namespace is a bind mount of a namespace file onto `/run/netns/<name>`, and
//! `/run/netns` is itself a shared mount so those mounts reach every mount namespace that
//! shares it. Entering a namespace (`setns`) only ever happens on a short-lived std thread
//! that does nothing else: never on a thread that runs async tasks, whose namespace would
//! silently follow every task scheduled on it afterwards.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::live::{Named, NsId};
use crate::places::Name;

pub const NETNS_RUN_DIR: &str = "/run/netns";

/// `/run/netns/<name>`, for a name that is one path component (so no name, however it
/// was read, makes it leave /run/netns).
pub fn path(name: &str) -> io::Result<PathBuf> {
    Ok(Path::new(NETNS_RUN_DIR).join(Name::new(name)?.as_str()))
}

/// How to enter namespace `name` as a node: its file under /run/netns and its
/// /etc/netns directory; `id`, when known, the namespace it must still be.
pub fn node_ref(name: &str, id: Option<NsId>) -> io::Result<crate::process::node::NetnsRef> {
    Ok(crate::process::node::NetnsRef {
        name: name.to_string(),
        file: path(name)?,
        etc: Path::new(super::files::NETNS_ETC_DIR).join(name),
        id,
    })
}

/// Makes `/run/netns` a shared mount point, as iproute2's `netns_add` does: bind it onto
/// itself if it is not a mount point yet, then mark it shared.
pub fn prepare_run_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_RUN_DIR)?;
    let shared = || mount(Some(""), NETNS_RUN_DIR, Some("none"), MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(Some(NETNS_RUN_DIR), NETNS_RUN_DIR, Some("none"), MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
            Ok(shared()?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The nsfs device, from our own namespace file: a file under /run/netns with another
/// device is a placeholder with no namespace mounted on it.
fn nsfs_dev() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/net")?.dev())
}

pub fn lookup(name: &str) -> io::Result<Named> {
    // Not through a link: a link under /run/netns is no namespace netlab mounted there.
    match std::fs::symlink_metadata(path(name)?) {
        Ok(m) if m.dev() == nsfs_dev()? => Ok(Named::Mounted(NsId { dev: m.dev(), ino: m.ino() })),
        Ok(_) => Ok(Named::Unmounted),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Named::Absent),
        Err(e) => Err(e),
    }
}

/// The names under /run/netns that a topology could give (others are not netlab's).
pub fn names() -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            if crate::topology::names::check_netns_name(&name).is_ok() {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Opens a named namespace, for `setns` and for `IFLA_NET_NS_FD`.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    Ok(File::open(path(name)?)?.into())
}

/// Removes a name: unmount (lazily, like iproute2, so a process inside keeps the stack
/// alive) and unlink. The namespace itself dies with its last name and process.
pub fn delete(name: &str) -> io::Result<()> {
    let p = path(name)?;
    // Never through a link planted under /run/netns: that would unmount what it points to.
    match umount2(&p, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(Errno::ENOENT) => return Err(io::Error::from(io::ErrorKind::NotFound)),
        Err(e) => return Err(e.into()),
    }
    std::fs::remove_file(&p)
}

/// A second name for `target`'s namespace (Docker's container mode): `ip netns exec` on
/// either lands in the same stack.
pub fn alias(name: &str, target: &str) -> io::Result<()> {
    let p = path(name)?;
    create_placeholder(&p)?;
    if let Err(e) = mount(Some(&path(target)?), &p, Some("none"), MsFlags::MS_BIND, None::<&str>) {
        let _ = std::fs::remove_file(&p);
        return Err(e.into());
    }
    Ok(())
}

fn create_placeholder(p: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(p).map(drop)
}

/// Creates namespace `name` on the calling thread, which is inside it afterwards: marks
/// its `lo` with `mark` (so its owner can be told even without netlab's record), then
/// mounts it on `/run/netns/<name>`. The mark comes first so that no named namespace of
/// netlab's is ever unmarked, whenever netlab is killed. Returns a netlink socket opened
/// inside the new namespace and its identity.
///
/// Call only on a thread made for the purpose (see [`par_map`]): it never comes back.
pub fn create_here(name: &str, mark: &str) -> io::Result<(Socket, NsId)> {
    let p = path(name)?;
    create_placeholder(&p)?;
    let made = (|| {
        unshare(CloneFlags::CLONE_NEWNET)?;
        let socket = route_socket()?;
        set_alias_blocking(&socket, 1, mark)?;
        mount(Some("/proc/thread-self/ns/net"), &p, Some("none"), MsFlags::MS_BIND, None::<&str>)?;
        let m = std::fs::metadata(&p)?;
        Ok::<_, io::Error>((socket, NsId { dev: m.dev(), ino: m.ino() }))
    })();
    if made.is_err() {
        // Nothing is mounted on the placeholder unless the last step succeeded.
        let _ = std::fs::remove_file(&p);
    }
    made
}

/// Enters `ns` on the calling thread (a thread made for the purpose).
pub fn enter(ns: &impl AsFd) -> io::Result<()> {
    Ok(setns(ns, CloneFlags::CLONE_NEWNET)?)
}

/// A netlink route socket in the calling thread's namespace, with room for the replies of
/// many requests in flight: the kernel drops what does not fit in the receive buffer.
pub fn route_socket() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    let size: libc::c_int = 8 << 20;
    // SAFETY: a plain setsockopt on a socket we own, with a correctly sized int.
    unsafe {
        let fd = socket.as_raw_fd();
        let p = &size as *const libc::c_int as *const libc::c_void;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // FORCE needs CAP_NET_ADMIN; without it the plain option is capped, which is fine.
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
        }
    }
    socket.set_ext_ack(true).ok();
    // Strict checking makes the kernel honour the filters a dump asks for (netlab's route
    // dumps ask for the main table only, and leave out the local table's many entries).
    socket.set_netlink_get_strict_chk(true).ok();
    Ok(socket)
}

/// `ip link set dev <index> alias <alias>` on a blocking socket.
fn set_alias_blocking(socket: &Socket, index: u32, alias: &str) -> io::Result<()> {
    let mut link = LinkMessage::default();
    link.header.index = index;
    link.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
    request_blocking(socket, RouteNetlinkMessage::SetLink(link), 0)
}

/// Sends one request on a blocking socket and waits for the kernel's answer: for the few
/// requests made on a namespace's own thread, before any async connection exists.
pub fn request_blocking(socket: &Socket, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    req.header.sequence_number = 1;
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut rx = Vec::with_capacity(8192);
    socket.recv(&mut rx, 0)?;
    let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if let NetlinkPayload::Error(e) = reply.payload {
        if e.code.is_some() {
            return Err(e.to_io());
        }
    }
    Ok(())
}

/// Runs `f` on every item, on up to `workers` fresh std threads, and returns the results
/// in the items' order. `f` may enter namespaces: each thread is used for nothing else and
/// ends when the work is done.
pub fn par_map<T: Send, R: Send>(items: Vec<T>, workers: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    if n == 0 {
        return Vec::new();
    }
    let items: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let item = items[i].lock().unwrap().take().expect("each item is taken once");
                *results[i].lock().unwrap() = Some(f(item));
            });
        }
    });
    results.into_iter().map(|r| r.into_inner().unwrap().expect("every item has a result")).collect()
}

/// How many threads to spread namespace work over: the kernel serialises much of it, so
/// more threads than cores only add switching.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(8)
}
