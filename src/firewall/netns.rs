//! Working in another network namespace: a thread that enters it for netlink sockets and
//! /proc/thread-self/net, and a child process started inside it for `nft`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A network namespace: the caller's own, or a descriptor of one that the caller keeps
/// open (the kernel module's connection into a namespace it is working on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetnsPath {
    #[default]
    Current,
    Fd(RawFd),
}

impl NetnsPath {
    pub fn current() -> NetnsPath {
        NetnsPath::Current
    }

    /// A namespace by a descriptor that stays open for as long as this value is used.
    pub fn fd(fd: BorrowedFd<'_>) -> NetnsPath {
        NetnsPath::Fd(fd.as_raw_fd())
    }

    /// A descriptor of the namespace of our own (`None`: the current one).
    fn open(&self) -> io::Result<Option<OwnedFd>> {
        match self {
            NetnsPath::Current => Ok(None),
            NetnsPath::Fd(fd) => {
                // A copy, so that a thread or child can own it.
                // SAFETY: the caller keeps the descriptor open while this value is in use.
                let copy = nix::unistd::dup(unsafe { BorrowedFd::borrow_raw(*fd) }).map_err(io::Error::from)?;
                Ok(Some(copy))
            }
        }
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
            // The closure owns the descriptor until the command is dropped, and the child
            // inherits it across fork; setns(2) is async-signal-safe.
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
