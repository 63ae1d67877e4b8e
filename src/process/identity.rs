//! Telling a process netlab started from every other, by what cannot be faked.
//!
//! A pid is reused once its process is gone, and a command line is whatever its process
//! writes there: any user can start a process that reads `netlab forward --dev flannel.1
//! ...`. What the kernel alone decides is: the pid together with the process's start
//! time (unique for as long as the machine runs), the user it runs as, the network
//! namespace it is in, and the executable it runs (the device and inode of the file,
//! through /proc/PID/exe, which keeps naming the file a process started from even after
//! a netlab upgrade replaced it). [`ProcessId::of`] reads them from /proc right after
//! netlab started a process; [`ProcessId::check`] later says whether the process at that
//! pid is still that one, and [`ProcessId::signal`] signals it only if it is.
//!
//! Written to a pid file ([`ProcessId::pid_file`]), the pid is the first line (so
//! `kill $(head -n1 FILE)` works), then one `key value` per line. A pid file of an older
//! netlab holds the pid alone: [`PidFile::Bare`], for the caller to judge.
//!
//! netlab's own processes (forwarders, a lab's supervisor) are known by a [`ProcessId`]
//! in their pid file. A lab's programs are known by an [`Identity`]: the same, but for
//! the executable, which a program run with `sh -c` changes as it goes (`sh`, then what
//! it execs); their supervisor, as their parent, is what stops them, and the identity
//! only says whether the process a record names still runs ([`of`], [`is_running`]).

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use crate::live::{Exit, Identity, NsId};

/// A file (an executable, a namespace) by device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The file `path` names, following links (/proc/PID/exe and /proc/PID/ns/net are
    /// links to what the process runs and is in).
    pub fn of(path: &str) -> io::Result<FileId> {
        let m = fs::metadata(path)?;
        Ok(FileId { dev: m.dev(), ino: m.ino() })
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

impl std::str::FromStr for FileId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (dev, ino) = s.split_once(':').ok_or_else(|| format!("`{s}` is not DEV:INODE"))?;
        let n = |v: &str| v.parse::<u64>().map_err(|e| format!("`{s}`: {e}"));
        Ok(FileId { dev: n(dev)?, ino: n(ino)? })
    }
}

/// What identifies one process for as long as it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: u32,
    /// When it started, in clock ticks since boot (/proc/PID/stat, field 22).
    pub start_time: u64,
    /// The user it runs as (real and effective alike).
    pub uid: u32,
    /// The executable it runs.
    pub exe: FileId,
    /// The network namespace it is in.
    pub netns: FileId,
}

/// Why the process at a pid is not the one recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// No process has that pid, or only a zombie (it has exited).
    Gone,
    /// Another process has the pid now (it started at another time).
    Started,
    /// It runs as another user.
    Uid(u32),
    /// It runs another executable.
    Exe,
    /// It is in another network namespace.
    Netns,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Gone => f.write_str("it has exited"),
            Mismatch::Started => f.write_str("another process has its pid now"),
            Mismatch::Uid(uid) => write!(f, "the process with its pid runs as uid {uid}"),
            Mismatch::Exe => f.write_str("the process with its pid runs another program"),
            Mismatch::Netns => f.write_str("the process with its pid is in another network namespace"),
        }
    }
}

/// What /proc/PID/stat says of a process: `None` when it is gone or a zombie.
fn started(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold anything: the fields follow the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // fields[0] is field 3 (the state); the start time is field 22.
    if matches!(*fields.first()?, "Z" | "X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The real and effective uid of a process.
fn uids(pid: u32) -> Option<(u32, u32)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut ids = line.split_whitespace().map(|v| v.parse::<u32>().ok());
    Some((ids.next()??, ids.next()??))
}

impl ProcessId {
    /// Reads the identity of the live process `pid` (one netlab has just started).
    pub fn of(pid: u32) -> io::Result<ProcessId> {
        let gone = || io::Error::new(io::ErrorKind::NotFound, format!("process {pid} has exited"));
        let start_time = started(pid).ok_or_else(gone)?;
        let (uid, _) = uids(pid).ok_or_else(gone)?;
        let exe = FileId::of(&format!("/proc/{pid}/exe"))?;
        let netns = FileId::of(&format!("/proc/{pid}/ns/net"))?;
        // Read again: the same start time means everything above was read of one process.
        if started(pid) != Some(start_time) {
            return Err(gone());
        }
        Ok(ProcessId { pid, start_time, uid, exe, netns })
    }

    /// Whether the process at `self.pid` is the one recorded.
    pub fn check(&self) -> Result<(), Mismatch> {
        let pid = self.pid;
        let at = started(pid).ok_or(Mismatch::Gone)?;
        if at != self.start_time {
            return Err(Mismatch::Started);
        }
        let (real, effective) = uids(pid).ok_or(Mismatch::Gone)?;
        if real != self.uid || effective != self.uid {
            return Err(Mismatch::Uid(if real != self.uid { real } else { effective }));
        }
        // A process that is exiting has released its memory and namespaces before it
        // becomes a zombie: its exe and ns links no longer read. That one is going, not
        // another program.
        match FileId::of(&format!("/proc/{pid}/exe")) {
            Err(_) => return Err(Mismatch::Gone),
            Ok(exe) if exe != self.exe => return Err(Mismatch::Exe),
            Ok(_) => {}
        }
        match FileId::of(&format!("/proc/{pid}/ns/net")) {
            Err(_) => return Err(Mismatch::Gone),
            Ok(netns) if netns != self.netns => return Err(Mismatch::Netns),
            Ok(_) => {}
        }
        // The same start time after the reads: they were of this process.
        match started(pid) {
            Some(t) if t == self.start_time => Ok(()),
            Some(_) => Err(Mismatch::Started),
            None => Err(Mismatch::Gone),
        }
    }

    /// Sends `signal` to the process if, and only if, it is the one recorded. Through a
    /// pidfd where the kernel has them, so that a pid reused between the check and the
    /// signal cannot receive it.
    pub fn signal(&self, signal: Signal) -> Result<(), Mismatch> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid as libc::pid_t, 0) };
        if fd < 0 {
            // A kernel without pidfds (before 5.3): check, then signal by pid.
            self.check()?;
            return nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal)
                .map_err(|_| Mismatch::Gone);
        }
        // SAFETY: a descriptor the kernel just gave us, owned from here on.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // The pidfd refers to the process that had the pid when it was opened: if that one
        // is ours now, the signal reaches it and no other.
        self.check()?;
        // SAFETY: pidfd_send_signal with a valid pidfd, a signal number, no siginfo, no flags.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if sent == 0 {
            Ok(())
        } else {
            Err(Mismatch::Gone)
        }
    }

    /// Its pid file: the pid, then the rest as `key value` lines.
    pub fn pid_file(&self) -> String {
        format!(
            "{}\nstart_time {}\nuid {}\nexe {}\nnetns {}\n",
            self.pid, self.start_time, self.uid, self.exe, self.netns
        )
    }
}

/// What a pid file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFile {
    /// A process's identity, as recorded when it started.
    Identity(ProcessId),
    /// A pid alone, as an older netlab wrote it.
    Bare(u32),
}

impl PidFile {
    pub fn parse(text: &str) -> Result<PidFile, String> {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default().trim();
        let pid: u32 = first.parse().map_err(|_| format!("`{}` is not a pid", first.escape_default()))?;
        let mut fields = std::collections::HashMap::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let (key, value) =
                line.split_once(' ').ok_or_else(|| format!("`{}` is not `key value`", line.escape_default()))?;
            fields.insert(key, value.trim());
        }
        if fields.is_empty() {
            return Ok(PidFile::Bare(pid));
        }
        let field = |key: &str| fields.get(key).copied().ok_or_else(|| format!("no `{key}`"));
        let number = |key: &str| field(key)?.parse::<u64>().map_err(|e| format!("{key}: {e}"));
        Ok(PidFile::Identity(ProcessId {
            pid,
            start_time: number("start_time")?,
            uid: u32::try_from(number("uid")?).map_err(|e| format!("uid: {e}"))?,
            exe: field("exe")?.parse()?,
            netns: field("netns")?.parse()?,
        }))
    }
}

/// When a process started, as wall-clock time (for a [`PidFile::Bare`]: a process that
/// started after its pid file was written is not the one it names).
pub fn started_at(pid: u32) -> Option<SystemTime> {
    let ticks = started(pid)?;
    let boot = fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    // SAFETY: sysconf with a valid name.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok().filter(|h| *h > 0)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(btime) + Duration::from_millis(ticks * 1000 / hz))
}

impl From<FileId> for NsId {
    fn from(f: FileId) -> NsId {
        NsId { dev: f.dev, ino: f.ino }
    }
}

/// The identity of a namespace file such as /proc/PID/ns/net.
pub fn ns_id(path: &str) -> io::Result<NsId> {
    FileId::of(path).map(NsId::from)
}

/// The identity of the live program `pid` (a process of a lab's).
pub fn of(pid: u32) -> io::Result<Identity> {
    let gone = || io::Error::new(io::ErrorKind::NotFound, format!("process {pid} has exited"));
    let start_time = started(pid).ok_or_else(gone)?;
    let (uid, _) = uids(pid).ok_or_else(gone)?;
    let netns = ns_id(&format!("/proc/{pid}/ns/net"))?;
    // Read again: the same start time means everything above was read of one process.
    if started(pid) != Some(start_time) {
        return Err(gone());
    }
    Ok(Identity { pid, start_time, uid, netns })
}

/// Whether the program `id` names still runs: the same pid and start time, not a
/// zombie, as the same user in the same namespace.
pub fn is_running(id: &Identity) -> bool {
    of(id.pid).is_ok_and(|now| now == *id)
}

/// Waits until the process `id` names is gone (it need not be netlab's child): dead or a
/// zombie, at most `timeout`; whether it is. Not [`ProcessId::check`]'s `Gone`, which an
/// exiting process already is: a PID namespace's init (a lab's supervisor) is still
/// exiting, its links unreadable, while the kernel kills and reaps the rest of its
/// namespace, and only then becomes a zombie.
pub fn wait_gone(id: &ProcessId, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if started(id.pid) != Some(id.start_time) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
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
    use std::process::Command;

    #[test]
    fn a_process_is_itself_and_no_other() {
        let me = ProcessId::of(std::process::id()).unwrap();
        assert_eq!(me.check(), Ok(()));
        assert_eq!(PidFile::parse(&me.pid_file()), Ok(PidFile::Identity(me)));
        assert!(me.pid_file().starts_with(&format!("{}\n", me.pid)));
        // Any one thing that differs makes it another process.
        assert_eq!(ProcessId { start_time: me.start_time + 1, ..me }.check(), Err(Mismatch::Started));
        assert_eq!(ProcessId { uid: me.uid + 1, ..me }.check(), Err(Mismatch::Uid(me.uid)));
        assert_eq!(ProcessId { exe: FileId { ino: me.exe.ino + 1, ..me.exe }, ..me }.check(), Err(Mismatch::Exe));
        assert_eq!(ProcessId { netns: FileId { ino: 1, ..me.netns }, ..me }.check(), Err(Mismatch::Netns));
        // So it is never signalled (SIGKILL would end this test).
        assert_eq!(ProcessId { start_time: me.start_time + 1, ..me }.signal(Signal::SIGKILL), Err(Mismatch::Started));
        assert!(started_at(me.pid).is_some_and(|t| t <= SystemTime::now()));
    }

    #[test]
    fn an_exited_process_is_gone_and_its_signal_goes_nowhere() {
        let mut child = Command::new("true").spawn().unwrap();
        let id = ProcessId::of(child.id());
        child.wait().unwrap();
        // It may have exited before it could be read; if it was read, it is gone now.
        if let Ok(id) = id {
            assert_eq!(id.check(), Err(Mismatch::Gone));
            assert_eq!(id.signal(Signal::SIGTERM), Err(Mismatch::Gone));
        }
        let mut sleeper = Command::new("sleep").arg("10").spawn().unwrap();
        let id = ProcessId::of(sleeper.id()).unwrap();
        assert_eq!(id.signal(Signal::SIGTERM), Ok(()));
        sleeper.wait().unwrap();
        assert_eq!(id.check(), Err(Mismatch::Gone));
    }

    #[test]
    fn pid_files_old_and_new() {
        assert_eq!(PidFile::parse("4242\n"), Ok(PidFile::Bare(4242)));
        assert!(PidFile::parse("").is_err());
        assert!(PidFile::parse("x\n").is_err());
        assert!(PidFile::parse("1\nstart_time 5\n").unwrap_err().contains("no `uid`"));
        let id = ProcessId {
            pid: 7,
            start_time: 9,
            uid: 0,
            exe: FileId { dev: 1, ino: 2 },
            netns: FileId { dev: 3, ino: 4 },
        };
        assert_eq!(id.pid_file(), "7\nstart_time 9\nuid 0\nexe 1:2\nnetns 3:4\n");
    }

    #[test]
    fn a_program_is_running_while_its_identity_holds() {
        let me = of(std::process::id()).unwrap();
        assert!(is_running(&me));
        assert!(!is_running(&Identity { start_time: me.start_time + 1, ..me }));
        assert!(!is_running(&Identity { uid: me.uid + 1, ..me }));
        let mut child = Command::new("sleep").arg("0.05").spawn().unwrap();
        let id = of(child.id()).unwrap();
        let pid = ProcessId::of(child.id()).unwrap();
        child.wait().unwrap();
        assert!(!is_running(&id));
        assert!(wait_gone(&pid, Duration::from_secs(1)));
    }

    #[test]
    fn exits_read_like_a_shell() {
        assert_eq!(Exit::Code(3).shell_code(), 3);
        assert_eq!(Exit::Signal(9).shell_code(), 137);
        assert_eq!(Exit::Signal(9).to_string(), "killed by signal 9 (SIGKILL)");
        assert_eq!(Exit::Code(1).to_string(), "exit status 1");
    }
}
