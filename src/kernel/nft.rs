//! The `nft` program, run inside a namespace: how the lab's drops (see `impair::nft`) are
//! made, removed and read back. nft's failures come back as the kernel's errno where its
//! message names one (`No such file or directory`: the table is gone), else in its words.

use std::io::Write;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;

use super::OpError;

/// Runs `nft ARGS` inside the namespace whose file is `netns`, with `stdin`; its output.
pub fn run(netns: BorrowedFd, args: &[&str], stdin: Option<&str>) -> Result<String, OpError> {
    let fd = netns.as_raw_fd();
    let mut cmd = Command::new("nft");
    cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setns is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| OpError::Io(format!("cannot run nft (install nftables): {e}")))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let first = said.lines().next().unwrap_or("").trim_start_matches("Error: ").to_string();
    Err(match first.as_str() {
        s if s.contains("No such file or directory") => OpError::Errno(Errno::ENOENT),
        s if s.contains("Operation not permitted") => OpError::Errno(Errno::EPERM),
        s if s.contains("Operation not supported") => OpError::Errno(Errno::EOPNOTSUPP),
        _ => OpError::Io(format!("nft {}: {}", args.join(" "), said.trim())),
    })
}
