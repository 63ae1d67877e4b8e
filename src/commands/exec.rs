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

use crate::topology::Netns;
use crate::{Error, Result};

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

    #[test]
    fn a_command_that_cannot_run_exits_like_env() {
        let missing = Error::Exec { program: "nope".into(), source: std::io::ErrorKind::NotFound.into() };
        let denied = Error::Exec { program: "nope".into(), source: std::io::ErrorKind::PermissionDenied.into() };
        assert_eq!((missing.exit_code(), denied.exit_code()), (127, 126));
        assert!(run_in(&Netns::Host, &[]).unwrap_err().to_string().contains("needs a command"));
    }
}
