//! Putting a process inside a node the way `ip netns exec` (and `netlab exec`) does: the
//! node's network namespace, a private mount namespace in which /sys is the node's own
//! (so /sys/class/net lists its interfaces) and each file of `/etc/netns/<ns>/` is
//! bind-mounted over its namesake in /etc; then, for a process with a `user`, that user's
//! uid, gid and groups.
//!
//! Everything that can fail for a reason worth telling is done in [`NodeEntry::open`]
//! (before fork, in the parent); [`NodeEntry::enter`] runs in the child between fork and
//! exec. The callers fork from a single-threaded process (the supervisor, `netlab run`),
//! so the child may allocate.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use serde::{Deserialize, Serialize};

use crate::live::NsId;

/// A node's namespace as a caller names it: its name, its file (/run/netns/NAME), the
/// directory of its /etc files (/etc/netns/NAME) and, when known, the identity it must
/// have (so a namespace replaced behind netlab's back is refused rather than entered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsRef {
    pub name: String,
    pub file: PathBuf,
    pub etc: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<NsId>,
}

/// How to enter a node, prepared: its namespace open, its /etc files listed.
#[derive(Debug)]
pub struct NodeEntry {
    /// `None`: the host's (a `network = "host"` node): nothing to enter.
    netns: Option<(String, File)>,
    /// `/etc/netns/<ns>/<file>` and the /etc file it goes over.
    etc: Vec<(CString, CString)>,
}

impl NodeEntry {
    /// The host's own namespace: a process stays where it is.
    pub fn host() -> NodeEntry {
        NodeEntry { netns: None, etc: Vec::new() }
    }

    /// The node whose namespace is `netns` ([`NodeEntry::open`]), or the host (`None`).
    pub fn of(netns: Option<&NetnsRef>) -> io::Result<NodeEntry> {
        netns.map_or_else(|| Ok(NodeEntry::host()), NodeEntry::open)
    }

    /// Opens the namespace's file (checking its identity when one is given) and lists the
    /// node's /etc files.
    pub fn open(netns: &NetnsRef) -> io::Result<NodeEntry> {
        let path = &netns.file;
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                io::Error::new(e.kind(), format!("namespace {} does not exist: is the lab up?", netns.name))
            }
            _ => io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())),
        })?;
        if let Some(want) = netns.id {
            let m = file.metadata()?;
            if (NsId { dev: m.dev(), ino: m.ino() }) != want {
                return Err(io::Error::other(format!(
                    "namespace {} is not the one the lab made (it was replaced): not entering it",
                    netns.name
                )));
            }
        }
        // The node's /etc/netns directory, checked as netlab's own places are (root's, not
        // writable by others: what is bound over /etc comes from there), without netlab's
        // temporary files (a write killed before its rename leaves one).
        let mut etc = Vec::new();
        if let Some(dir) = crate::places::Dir::open(&netns.etc)? {
            for name in dir.names()? {
                if crate::places::is_etc_temporary(&name) {
                    continue;
                }
                let target = Path::new("/etc").join(&name);
                etc.push((cstring(netns.etc.join(&name).as_os_str())?, cstring(target.as_os_str())?));
            }
        }
        Ok(NodeEntry { netns: Some((netns.name.clone(), file)), etc })
    }

    /// The namespace file, for checks made from outside (readiness).
    pub fn netns_file(&self) -> Option<&File> {
        self.netns.as_ref().map(|(_, f)| f)
    }

    /// Enters the node: iproute2's `netns_switch` and `bind_etc`, step by step. Only in
    /// a process about to exec (it changes the calling process's namespaces for good).
    pub fn enter(&self) -> io::Result<()> {
        let Some((name, fd)) = &self.netns else { return Ok(()) };
        let denied = |what: &str, e: nix::Error| {
            let hint = if e == nix::Error::EPERM { " (needs root: CAP_SYS_ADMIN)" } else { "" };
            io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}{hint}"))
        };
        setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| denied(&format!("cannot enter namespace {name}"), e))?;
        unshare(CloneFlags::CLONE_NEWNS).map_err(|e| denied("cannot make a private mount namespace", e))?;
        // Nothing mounted from here on may propagate back to the host's mount namespace.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
            .map_err(|e| denied("cannot make / a slave mount", e))?;
        // A sysfs mounted from inside the namespace shows the namespace's own devices.
        let _ = umount2("/sys", MntFlags::MNT_DETACH);
        if mount(Some(name.as_str()), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>).is_err() {
            // As iproute2 does when sysfs may only be mounted read-only (inside containers).
            mount(Some(name.as_str()), "/sys", Some("sysfs"), MsFlags::MS_RDONLY, None::<&str>)
                .map_err(|e| denied("cannot mount /sys", e))?;
        }
        for (source, target) in &self.etc {
            // Like iproute2: a file /etc lacks is not created; say so and go on.
            if let Err(e) =
                mount(Some(source.as_c_str()), target.as_c_str(), Some("none"), MsFlags::MS_BIND, None::<&str>)
            {
                eprintln!("netlab: bind {source:?} -> {target:?} failed: {e}");
            }
        }
        Ok(())
    }
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

/// Who a process runs as: a user's ids and groups, looked up before fork.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: PathBuf,
}

impl Credentials {
    /// Looks up `user`, a name or a numeric uid, in this machine's user database.
    pub fn lookup(user: &str) -> Result<Credentials, String> {
        use nix::unistd::{getgrouplist, Uid, User};
        let found = match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => User::from_name(user),
        };
        let entry = match found {
            Ok(Some(u)) => u,
            Ok(None) => return Err(format!("there is no user {user} on this machine (see /etc/passwd)")),
            Err(e) => return Err(format!("cannot look up user {user}: {e}")),
        };
        let groups = CString::new(entry.name.as_bytes())
            .ok()
            .and_then(|name| getgrouplist(&name, entry.gid).ok())
            .unwrap_or_else(|| vec![entry.gid]);
        Ok(Credentials {
            name: entry.name,
            uid: entry.uid.as_raw(),
            gid: entry.gid.as_raw(),
            groups: groups.into_iter().map(|g| g.as_raw()).collect(),
            home: entry.dir,
        })
    }

    /// Becomes this user: groups, then gid, then uid (after which nothing else can be
    /// changed). Only in a process about to exec.
    pub fn become_user(&self) -> io::Result<()> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("setgroups: {e}")))?;
        let gid = Gid::from_raw(self.gid);
        setresgid(gid, gid, gid)
            .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("setgid {}: {e}", self.gid)))?;
        let uid = Uid::from_raw(self.uid);
        setresuid(uid, uid, uid)
            .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("setuid {}: {e}", self.uid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_name_and_by_uid_and_a_missing_one_is_named() {
        let root = Credentials::lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(Credentials::lookup("0").unwrap().name, "root");
        let e = Credentials::lookup("no-such-user-netlab").unwrap_err();
        assert!(e.contains("no user no-such-user-netlab"), "{e}");
    }

    #[test]
    fn a_missing_namespace_says_so() {
        let e = NodeEntry::open(&NetnsRef {
            name: "no-such-ns".into(),
            file: "/run/netns/netlab-test-no-such-ns".into(),
            etc: "/etc/netns/netlab-test-no-such-ns".into(),
            id: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
