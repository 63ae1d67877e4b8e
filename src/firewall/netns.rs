//! Working in another network namespace: a thread that enters it for netlink sockets and
//! /proc/thread-self/net, and a child process started inside it for `nft`.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A network namespace by the path of a file that holds it (`/run/netns/NAME`,
/// `/proc/PID/ns/net`); `None` is the caller's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetnsPath(pub Option<PathBuf>);

impl NetnsPath {
    pub fn current() -> NetnsPath {
        NetnsPath(None)
    }

    pub fn at(path: impl AsRef<Path>) -> NetnsPath {
        NetnsPath(Some(path.as_ref().to_path_buf()))
    }

    fn open(&self) -> io::Result<Option<OwnedFd>> {
        self.0.as_ref().map(|p| File::open(p).map(OwnedFd::from)).transpose()
    }

    /// Runs `f` on a thread inside the namespace (never `setns` a thread that lives on).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
        let fd = self.open()?;
        std::thread::spawn(move || {
            if let Some(fd) = fd {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            }
            f()
        })
        .join()
        .map_err(|_| io::Error::other("a thread working in a namespace panicked"))?
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> io::Result<Command> {
        let mut cmd = Command::new(program);
        if let Some(fd) = self.open()? {
            // The fd stays open in the closure until the command is dropped; setns(2) is
            // async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        Ok(cmd)
    }
}
