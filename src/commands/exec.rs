//! `netlab exec`: run a command inside a node, the way `ip netns exec` does.
//!
//! The process enters the node as the lab's own processes do (`process::node`): the
//! node's network namespace, a private mount namespace with the node's /sys and each file
//! of `/etc/netns/<ns>/` over its namesake in /etc; then it replaces itself with the
//! command: stdin, stdout, stderr and the exit code are the command's own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::process::node::NodeEntry;
use crate::topology::Netns;
use crate::{Error, Result};

/// Enters `netns` like `ip netns exec` and runs `command`; returns only if it cannot run.
pub fn run_in(netns: &Netns, command: &[OsString]) -> Result<()> {
    let (program, args) = command.split_first().ok_or_else(|| Error::Usage("exec needs a command after --".into()))?;
    if let Netns::Named(name) = netns {
        let node =
            crate::kernel::netns::node_ref(name, None).map_err(|e| Error::Enter(format!("namespace {name}: {e}")))?;
        let entered = NodeEntry::open(&node).and_then(|entry| entry.enter());
        entered.map_err(|e| Error::Enter(e.to_string()))?;
    }
    let err = std::process::Command::new(program).args(args).exec();
    Err(Error::Exec { program: PathBuf::from(program), source: err })
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
