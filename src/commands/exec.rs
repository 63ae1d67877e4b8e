//! `netlab exec`: run a command inside a node, the way `ip netns exec` does.
//!
//! The process enters the node's network namespace, takes a private mount namespace,
//! remounts /sys (so /sys/class/net lists the node's interfaces) and bind-mounts each file
//! of `/etc/netns/<ns>/` over its namesake in /etc, then replaces itself with the command:
//! stdin, stdout, stderr and the exit code are the command's own.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::topology::{Netns, Topology};
use crate::{Error, Result};

/// The namespace a node's processes live in: its own, its container-mode name (the same
/// stack as its target), or the host's.
pub fn node_netns(topology: &Topology, node: &str) -> Result<Netns> {
    match topology.node(node) {
        Some(n) => Ok(topology.entry_netns(n)),
        None => {
            let known: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            Err(Error::Usage(format!("lab {} has no node {node}; its nodes are: {}", topology.lab, known.join(", "))))
        }
    }
}

/// The same, from a lab's record (`exec --lab`): the file is not needed.
pub fn recorded_node_netns(record: &crate::state::Record, node: &str) -> Result<Netns> {
    record.nodes.get(node).cloned().ok_or_else(|| {
        let known: Vec<&str> = record.nodes.keys().map(String::as_str).collect();
        Error::Usage(format!("lab {} has no node {node}; its nodes are: {}", record.lab, known.join(", ")))
    })
}

/// Enters `netns` like `ip netns exec` and runs `command`; returns only if it cannot run.
pub fn run_in(netns: &Netns, command: &[OsString]) -> Result<()> {
    let (program, args) = command.split_first().ok_or_else(|| Error::Usage("exec needs a command after --".into()))?;
    if let Netns::Named(name) = netns {
        enter(name)?;
    }
    let err = std::process::Command::new(program).args(args).exec();
    Err(Error::Exec { program: PathBuf::from(program), source: err })
}

/// iproute2's `netns_switch` and `bind_etc`, step by step.
fn enter(name: &str) -> Result<()> {
    let path = crate::kernel::netns::path(name);
    let fd = File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Enter(format!("namespace {name} does not exist: is the lab up?"))
        } else {
            Error::Enter(format!("cannot open {}: {e}", path.display()))
        }
    })?;
    let denied = |what: &str, e: nix::Error| {
        let hint = if e == nix::Error::EPERM { " (netlab exec needs root: CAP_SYS_ADMIN)" } else { "" };
        Error::Enter(format!("{what}: {e}{hint}"))
    };
    setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|e| denied(&format!("cannot enter namespace {name}"), e))?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| denied("cannot make a private mount namespace", e))?;
    // Nothing mounted from here on may propagate back to the host's mount namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| denied("cannot make / a slave mount", e))?;
    // A sysfs mounted from inside the namespace shows the namespace's own devices.
    let _ = umount2("/sys", MntFlags::MNT_DETACH);
    if mount(Some(name), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>).is_err() {
        // As iproute2 does when sysfs may only be mounted read-only (inside containers).
        mount(Some(name), "/sys", Some("sysfs"), MsFlags::MS_RDONLY, None::<&str>)
            .map_err(|e| denied("cannot mount /sys", e))?;
    }
    let etc = Path::new(crate::kernel::files::NETNS_ETC_DIR).join(name);
    if let Ok(entries) = std::fs::read_dir(&etc) {
        for entry in entries.flatten() {
            let target = Path::new("/etc").join(entry.file_name());
            // Like iproute2: a file /etc lacks is not created; say so and go on.
            if let Err(e) = mount(Some(&entry.path()), &target, Some("none"), MsFlags::MS_BIND, None::<&str>) {
                eprintln!("netlab: bind {} -> {} failed: {e}", entry.path().display(), target.display());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateDir;
    use crate::testing::topology;

    #[test]
    fn a_node_runs_in_its_namespace_its_targets_or_the_hosts() {
        let t = topology(
            "[lab]\nname = \"x\"\n[nodes.a]\n[nodes.b]\nnetwork = \"container:a\"\n[nodes.h]\nnetwork = \"host\"\n",
        );
        assert_eq!(node_netns(&t, "a").unwrap(), Netns::Named("x-a".into()));
        assert_eq!(node_netns(&t, "b").unwrap(), Netns::Named("x-b".into()));
        assert_eq!(node_netns(&t, "h").unwrap(), Netns::Host);
        let e = node_netns(&t, "z").unwrap_err();
        assert_eq!(e.to_string(), "lab x has no node z; its nodes are: a, b, h");
        assert_eq!(e.exit_code(), 2);

        let mut record = StateDir::new("/nonexistent").new_record("x");
        record.nodes.insert("a".into(), Netns::Named("x-a".into()));
        assert_eq!(recorded_node_netns(&record, "a").unwrap(), Netns::Named("x-a".into()));
        assert_eq!(recorded_node_netns(&record, "q").unwrap_err().to_string(), "lab x has no node q; its nodes are: a");
    }

    #[test]
    fn a_command_that_cannot_run_exits_like_env() {
        let missing = Error::Exec { program: "nope".into(), source: std::io::ErrorKind::NotFound.into() };
        let denied = Error::Exec { program: "nope".into(), source: std::io::ErrorKind::PermissionDenied.into() };
        assert_eq!((missing.exit_code(), denied.exit_code()), (127, 126));
        assert!(run_in(&Netns::Host, &[]).unwrap_err().to_string().contains("needs a command"));
    }
}
