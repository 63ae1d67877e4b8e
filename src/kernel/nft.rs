//! The `nft` program, run inside a namespace: how the lab's drops (see `impair::nft`) are
//! made, removed and read back. nft's failures come back as the kernel's errno where its
//! message names one (`No such file or directory`: the table is gone), else in its words.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;

use super::OpError;
use crate::firewall::live::{Nft, NftError};
use crate::firewall::NetnsPath;

/// Runs `nft ARGS` inside the namespace whose file is `netns`, with `stdin`; its output.
pub fn run(netns: BorrowedFd, args: &[&str], stdin: Option<&str>) -> Result<String, OpError> {
    Nft::new(NetnsPath::fd(netns)).run(args, stdin).map_err(|e| {
        let NftError::Failed { stderr, .. } = &e else { return OpError::Io(e.to_string()) };
        let first = stderr.lines().next().unwrap_or("");
        if first.contains("No such file or directory") {
            OpError::Errno(Errno::ENOENT)
        } else if first.contains("Operation not permitted") {
            OpError::Errno(Errno::EPERM)
        } else if first.contains("Operation not supported") {
            OpError::Errno(Errno::EOPNOTSUPP)
        } else {
            OpError::Io(e.to_string())
        }
    })
}
