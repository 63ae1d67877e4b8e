//! A process's [`Identity`] read from /proc (pid and start time, user, network
//! namespace), and whether the process it names still runs.
//!
//! A signal goes through a pidfd opened *before* the identity is checked again, so the
//! process signalled is the one checked even if the pid were reused in between.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::live::{Exit, Identity, NsId};

/// What /proc/PID/stat says of a process: its state letter and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub start_time: u64,
    pub ppid: u32,
}

impl Stat {
    /// Parses /proc/PID/stat. The command name (field 2) is in parentheses and may hold
    /// spaces and parentheses itself, so the fields are counted from the last `)`.
    pub fn parse(text: &str) -> Option<Stat> {
        let rest = text.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        Some(Stat {
            state: fields.first()?.chars().next()?,
            ppid: fields.get(1)?.parse().ok()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    pub fn read(pid: u32) -> io::Result<Stat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        Stat::parse(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/stat")))
    }

    /// A zombie has exited and only waits for its parent to read its status.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// The real uid on the `Uid:` line of /proc/PID/status.
pub fn parse_uid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.parse().ok()
}

/// The identity of a namespace file such as /proc/PID/ns/net.
pub fn ns_id(path: &str) -> io::Result<NsId> {
    let m = std::fs::metadata(path)?;
    Ok(NsId { dev: m.dev(), ino: m.ino() })
}

/// The identity of a live process.
pub fn of(pid: u32) -> io::Result<Identity> {
    let stat = Stat::read(pid)?;
    if stat.is_dead() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let uid = parse_uid(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/status has no Uid")))?;
    let netns = ns_id(&format!("/proc/{pid}/ns/net"))?;
    Ok(Identity { pid, start_time: stat.start_time, uid, netns })
}

/// Whether the process `id` names still runs: the same pid and start time, not a
/// zombie, in the same namespace as the same user.
pub fn is_running(id: &Identity) -> bool {
    of(id.pid).is_ok_and(|now| now == *id)
}

/// A handle on the process `id` names that cannot come to mean another one, or `None`
/// when it is gone.
pub fn pidfd(id: &Identity) -> io::Result<Option<Pidfd>> {
    let fd = match Pidfd::open(id.pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    // Checked after the pidfd is held: from here on the pid cannot be reused.
    Ok(is_running(id).then_some(fd))
}

/// A pidfd (pidfd_open(2)): signals sent through it reach that process or none.
#[derive(Debug)]
pub struct Pidfd(OwnedFd);

impl Pidfd {
    pub fn open(pid: u32) -> io::Result<Pidfd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0 as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
        Ok(Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Sends `signal`; a process that has already exited is not an error.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> io::Result<()> {
        // SAFETY: pidfd_send_signal with a valid descriptor, a signal number, no siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0 as libc::c_uint,
            )
        };
        match r {
            0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Waits until the process has exited (it need not be our child), or `timeout`
    /// passes; whether it exited.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(n) if n > 0 => return true,
                Ok(_) if left.is_zero() => return false,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
    }
}

/// How a child that `waitpid` reported ended; `None` when it has not (stopped, continued).
pub fn exit_of(status: nix::sys::wait::WaitStatus) -> Option<Exit> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => Some(Exit::Code(code)),
        WaitStatus::Signaled(_, signal, _) => Some(Exit::Signal(signal as i32)),
        WaitStatus::Stopped(..)
        | WaitStatus::PtraceEvent(..)
        | WaitStatus::PtraceSyscall(_)
        | WaitStatus::Continued(_)
        | WaitStatus::StillAlive => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let text = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200";
        let stat = Stat::parse(text).unwrap();
        assert_eq!(stat, Stat { state: 'S', ppid: 1, start_time: 98765 });
        assert!(!stat.is_dead());
        assert!(Stat::parse("1 (x) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").unwrap().is_dead());
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn our_own_identity_is_running_and_a_changed_start_time_is_not() {
        let me = of(std::process::id()).unwrap();
        assert!(is_running(&me));
        assert!(!is_running(&Identity { start_time: me.start_time + 1, ..me }));
        assert!(!is_running(&Identity { uid: me.uid + 1, ..me }));
        assert!(pidfd(&me).unwrap().is_some());
    }

    #[test]
    fn uid_is_the_real_one() {
        assert_eq!(parse_uid("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\n"), Some(1000));
    }

    #[test]
    fn exits_read_like_a_shell() {
        assert_eq!(Exit::Code(3).shell_code(), 3);
        assert_eq!(Exit::Signal(9).shell_code(), 137);
        assert_eq!(Exit::Signal(9).to_string(), "killed by signal 9 (SIGKILL)");
        assert_eq!(Exit::Code(1).to_string(), "exit status 1");
    }

    #[test]
    fn a_pidfd_sees_a_child_exit() {
        let mut child = std::process::Command::new("sleep").arg("0.05").spawn().unwrap();
        let id = of(child.id()).unwrap();
        let fd = pidfd(&id).unwrap().expect("it runs");
        assert!(fd.wait_exit(Duration::from_secs(5)));
        child.wait().unwrap();
        assert!(!is_running(&id));
        assert!(pidfd(&id).unwrap().is_none());
    }
}
