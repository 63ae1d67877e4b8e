//! The user namespace an unprivileged `netlab run` makes first, in which it is root.
//!
//! By default only the caller's own uid and gid are mapped (to 0), which any user may do
//! by writing /proc/self/{uid,gid}_map. A lab whose processes run as other users (`user =
//! "nobody"`) needs those ids mapped too: only the setuid helpers newuidmap and newgidmap
//! (the uidmap package) may map more, from the ranges /etc/subuid and /etc/subgid give the
//! user. They must write the maps of a process from outside its namespace, so a helper is
//! forked before the namespace is made and runs them once it is.
//!
//! unshare(CLONE_NEWUSER) fails in a process that has more than one thread: this runs
//! before anything of netlab's starts a thread (see main.rs).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Gid, Uid};

/// A range of subordinate ids of /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubIds {
    pub start: u32,
    pub count: u32,
}

/// The first range that /etc/subuid-style `text` gives the user `name` (or `id`).
pub fn sub_ids(text: &str, name: &str, id: u32) -> Option<SubIds> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if who != name && who.parse::<u32>().ok() != Some(id) {
            return None;
        }
        let (start, count) = (start.parse().ok()?, count.parse().ok()?);
        (count > 0).then_some(SubIds { start, count })
    })
}

/// How ids are mapped into the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Our uid and gid as 0: what anyone may map.
    Own,
    /// Also 1..=count to the subordinate ranges, through newuidmap and newgidmap.
    WithRanges { uids: SubIds, gids: SubIds },
}

impl Mapping {
    /// Whether `uid` (a uid inside the namespace) is mapped.
    pub fn maps_uid(&self, uid: u32) -> bool {
        match self {
            Mapping::Own => uid == 0,
            Mapping::WithRanges { uids, .. } => uid <= uids.count,
        }
    }

    pub fn maps_gid(&self, gid: u32) -> bool {
        match self {
            Mapping::Own => gid == 0,
            Mapping::WithRanges { gids, .. } => gid <= gids.count,
        }
    }
}

/// The mapping that gives this user the subordinate ranges of /etc/subuid and /etc/subgid,
/// or why there is none: what would allow it, in words.
pub fn ranges_for_current_user() -> Result<Mapping, String> {
    let uid = Uid::current();
    let name = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string());
    for helper in ["newuidmap", "newgidmap"] {
        if !on_path(helper) {
            return Err(format!("{helper} is not installed (the uidmap package)"));
        }
    }
    let read = |file: &str| std::fs::read_to_string(file).unwrap_or_default();
    let uids = sub_ids(&read("/etc/subuid"), &name, uid.as_raw())
        .ok_or_else(|| format!("/etc/subuid gives user {name} no range of ids"))?;
    let gids = sub_ids(&read("/etc/subgid"), &name, uid.as_raw())
        .ok_or_else(|| format!("/etc/subgid gives user {name} no range of ids"))?;
    Ok(Mapping::WithRanges { uids, gids })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| super::init::on_path(program.as_ref(), &path))
}

/// Whether this process has one thread: unshare(CLONE_NEWUSER) needs it.
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")).map(|n| n.trim() == "1"))
        .unwrap_or(false)
}

/// Makes a user namespace, moves this process into it and maps ids as `mapping` says;
/// afterwards this process is root there. Needs a single-threaded process.
pub fn enter(mapping: Mapping) -> Result<(), String> {
    if !single_threaded() {
        return Err("internal error: a user namespace must be made before netlab starts any thread".into());
    }
    let (uid, gid) = (Uid::current().as_raw(), Gid::current().as_raw());
    let helper = match mapping {
        Mapping::Own => None,
        Mapping::WithRanges { uids, gids } => Some(fork_mapper(uid, gid, uids, gids)?),
    };
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        format!(
            "cannot make a user namespace: {e} (is kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)"
        )
    })?;
    match helper {
        None => {
            let write =
                |file: &str, text: &str| std::fs::write(file, text).map_err(|e| format!("cannot write {file}: {e}"));
            // Without this, an unprivileged process may not write gid_map.
            write("/proc/self/setgroups", "deny")?;
            write("/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
            write("/proc/self/gid_map", &format!("0 {gid} 1\n"))?;
        }
        Some((child, mut socket)) => {
            let told = socket.write_all(b"go");
            drop(socket);
            let status = waitpid(child, None).map_err(|e| format!("waiting for newuidmap: {e}"))?;
            told.map_err(|e| format!("newuidmap's helper is gone: {e}"))?;
            if status != WaitStatus::Exited(child, 0) {
                return Err("newuidmap or newgidmap failed (its message is above)".into());
            }
            // Our supplementary groups are not mapped (they show as nogroup): drop them.
            nix::unistd::setgroups(&[]).map_err(|e| format!("cannot drop supplementary groups: {e}"))?;
        }
    }
    // Root of the namespace by the maps; make it our real and saved ids too.
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .and_then(|()| nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)))
        .map_err(|e| format!("cannot become root in the user namespace: {e}"))
}

/// Forks the helper that, once told, maps this process's ids with newuidmap and
/// newgidmap; it exits 0 when both succeeded.
fn fork_mapper(uid: u32, gid: u32, uids: SubIds, gids: SubIds) -> Result<(nix::unistd::Pid, UnixStream), String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
    let target = std::process::id().to_string();
    // SAFETY: this process has a single thread (checked by the caller), so the child may
    // do anything the parent could.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(ours);
            let mut go = [0u8; 2];
            let mut theirs = theirs;
            let ok = theirs.read_exact(&mut go).is_ok()
                && run_map("newuidmap", &target, uid, uids)
                && run_map("newgidmap", &target, gid, gids);
            // SAFETY: _exit ends this forked child without running the parent's atexit
            // handlers or flushing its buffers twice.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => Ok((child, ours)),
    }
}

fn run_map(helper: &str, target: &str, own: u32, range: SubIds) -> bool {
    let args = [
        target.to_string(),
        "0".into(),
        own.to_string(),
        "1".into(),
        "1".into(),
        range.start.to_string(),
        range.count.to_string(),
    ];
    match Command::new(helper).args(&args).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            let _ = writeln!(io::stderr(), "netlab run: {helper} {} failed ({s})", args.join(" "));
            false
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "netlab run: cannot run {helper}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_s_range_is_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(sub_ids(text, "alice", 1000), Some(SubIds { start: 100000, count: 65536 }));
        assert_eq!(sub_ids(text, "carol", 1001), Some(SubIds { start: 200000, count: 1000 }));
        assert_eq!(sub_ids(text, "bob", 1002), None, "an empty range is none");
        assert_eq!(sub_ids("", "alice", 1000), None);
    }

    #[test]
    fn only_what_is_mapped_is_mapped() {
        assert!(Mapping::Own.maps_uid(0) && !Mapping::Own.maps_uid(65534));
        let r = Mapping::WithRanges {
            uids: SubIds { start: 100000, count: 65536 },
            gids: SubIds { start: 100000, count: 10 },
        };
        assert!(r.maps_uid(65534) && !r.maps_uid(65537));
        assert!(r.maps_gid(10) && !r.maps_gid(11));
    }
}
