//! The processes netlab starts for a lab ([`Daemon`]): tunnel forwarders (`netlab
//! forward`, one per TUN device) and impairment relays (`netlab relay`, one per link
//! impaired in userspace), started detached inside their namespace by `up`, found again
//! from their pid file, and stopped only after checking that the pid really is that
//! process (a pid is reused once its process is gone).
//!
//! Each has its files in its lab's directory (`/run/netlab/<lab>/`, given to these
//! functions as `dir`, a place of netlab's: see [`crate::places`]), named
//! `<netns>:<dev>` (`host` for the root namespace; neither a namespace nor an interface
//! name can hold a `:`; a relay is named by its `a` device): `.pid`, `.stats` (the
//! counters it writes every second), `.log` (its stderr), and a relay's control socket
//! `.sock`. The pid file holds the process's identity as it started (see [`identity`]):
//! a process is that forwarder or relay only when its start time, user, executable and
//! namespace are the recorded ones, never because its command line looks right.

use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::OpError;
use crate::impair::relay::RelayConfig;
use crate::live::Running;
use crate::places::{Dir, Name};
use crate::process::identity::{self, PidFile, ProcessId};
use crate::topology::Netns;
use crate::tunnel::{ForwarderConfig, Stats};

/// A kind of process netlab starts for a lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Forwarder,
    Relay,
}

impl Daemon {
    /// Its netlab subcommand.
    fn command(self) -> &'static str {
        match self {
            Daemon::Forwarder => "forward",
            Daemon::Relay => "relay",
        }
    }

    /// It, in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Forwarder => "forwarder",
            Daemon::Relay => "relay",
        }
    }
}

/// Why a forwarder or a relay did not start, stop, or take a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwarderError {
    /// netlab cannot find its own executable to start as `netlab forward`.
    NoBinary(String),
    /// It was started but did not say so (its log's last line, or what went wrong).
    DidNotStart {
        daemon: Daemon,
        dev: String,
        why: String,
    },
    /// It exited before it was ready (its exit status, its log's last line).
    Exited {
        daemon: Daemon,
        dev: String,
        status: String,
        why: String,
    },
    NotReady {
        daemon: Daemon,
        dev: String,
        within: Duration,
    },
    DoesNotStop {
        daemon: Daemon,
        dev: String,
        pid: u32,
    },
    /// A relay's control socket refused a change, or did not answer.
    NotChanged {
        dev: String,
        why: String,
    },
}

impl std::fmt::Display for ForwarderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwarderError::NoBinary(e) => write!(f, "cannot find netlab's own binary: {e}"),
            ForwarderError::DidNotStart { daemon, dev, why } => {
                write!(f, "the {} for {dev} did not start: {why}", daemon.name())
            }
            ForwarderError::Exited { daemon, dev, status, why } => {
                write!(f, "the {} for {dev} exited ({status}): {why}", daemon.name())
            }
            ForwarderError::NotReady { daemon, dev, within } => {
                write!(f, "the {} for {dev} was not ready within {within:?}", daemon.name())
            }
            ForwarderError::DoesNotStop { daemon, dev, pid } => {
                write!(f, "the {} for {dev} (pid {pid}) does not stop", daemon.name())
            }
            ForwarderError::NotChanged { dev, why } => write!(f, "the relay for {dev} did not take the change: {why}"),
        }
    }
}

/// How long a forwarder may take to attach to its device and open its socket.
const READY_WITHIN: Duration = Duration::from_secs(5);
/// How long a forwarder may take to stop after SIGTERM before it gets SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(3);
/// The descriptor of the handover socket in a starting forwarder.
const HANDOVER_FD: i32 = 3;

/// The name of one of a forwarder's files.
fn file(netns: &Netns, dev: &str, ext: &str) -> io::Result<Name> {
    Name::new(format!("{netns}:{dev}.{ext}"))
}

/// The counters of the forwarder (or relay) of `dev` in `netns`, in the lab's directory
/// `dir`.
pub fn stats_path(dir: &Path, netns: &Netns, dev: &str) -> PathBuf {
    dir.join(format!("{netns}:{dev}.stats"))
}

/// The control socket of the relay whose `a` device is `a`, in `netns`.
pub fn control_path(dir: &Path, netns: &Netns, a: &str) -> PathBuf {
    dir.join(format!("{netns}:{a}.sock"))
}

/// The counters the relay whose `a` device is `a` last wrote, if it wrote any.
pub fn relay_stats(dir: &Path, netns: &Netns, a: &str) -> Option<crate::impair::relay::RelayStats> {
    let bytes = Dir::open(dir).ok()??.read(&file(netns, a, "stats").ok()?).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// The control socket of the relay whose `a` device is `a`, when it is one netlab's
/// relay could have made: a socket (not a link to one elsewhere) of root's or netlab's
/// own user.
pub fn control_socket(dir: &Path, netns: &Netns, a: &str) -> Option<PathBuf> {
    use nix::sys::stat::SFlag;
    let dir = Dir::open(dir).ok()??;
    let name = file(netns, a, "sock").ok()?;
    let st = dir.stat(&name).ok()??;
    let socket = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK;
    let ours = st.st_uid == 0 || st.st_uid == nix::unistd::geteuid().as_raw();
    (socket && ours).then(|| dir.join(&name))
}

/// Whether the daemon of `dev` in `netns` said in its last stats that it runs (both
/// kinds write `"running": true` in every stats file while they do).
fn says_running(dir: &Path, netns: &Netns, dev: &str) -> bool {
    let Some(bytes) = Dir::open(dir).ok().flatten().and_then(|d| d.read(&file(netns, dev, "stats").ok()?).ok()?) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v["running"] == true)
}

/// The counters the forwarder of `dev` in `netns` last wrote, if it wrote any.
pub fn stats(dir: &Path, netns: &Netns, dev: &str) -> Option<Stats> {
    let bytes = Dir::open(dir).ok()??.read(&file(netns, dev, "stats").ok()?).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// The arguments of a process, without its program name and the handover descriptor
/// (how it was started, not what it does).
fn process_args(pid: u32) -> Option<Vec<String>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.is_empty() {
        return None;
    }
    args.remove(0);
    if let Some(i) = args.iter().position(|a| a == "--handover-fd") {
        args.drain(i..(i + 2).min(args.len()));
    }
    Some(args)
}

/// Whether `args` are those of the daemon whose stats file is `stats`.
fn is_daemon(daemon: Daemon, args: &[String], stats: &Path) -> bool {
    let stats = stats.display().to_string();
    args.first().is_some_and(|a| a == daemon.command()) && args.windows(2).any(|w| w[0] == "--stats" && w[1] == stats)
}

/// The daemon of `dev` in `netns` as its pid file records it, if that process still runs:
/// its identity, to check again before it is signalled.
fn identify(dir: &Path, daemon: Daemon, netns: &Netns, dev: &str) -> Option<ProcessId> {
    let dir = Dir::open(dir).ok()??;
    let name = file(netns, dev, "pid").ok()?;
    let text = dir.read(&name).ok()??;
    match PidFile::parse(&String::from_utf8_lossy(&text)).ok()? {
        PidFile::Identity(id) => id.check().is_ok().then_some(id),
        PidFile::Bare(pid) => legacy(&dir, &name, pid, netns, daemon, &stats_path(dir.path(), netns, dev)),
    }
}

/// A daemon an older netlab started, whose pid file holds its pid alone: it is that
/// daemon if it runs as root (or netlab's own user), in the namespace the file names,
/// with the command line of that daemon, and started before the file was written (a
/// process that took the pid later started after). Its identity is then taken as found.
fn legacy(dir: &Dir, name: &Name, pid: u32, netns: &Netns, daemon: Daemon, stats: &Path) -> Option<ProcessId> {
    let id = ProcessId::of(pid).ok()?;
    let written = std::fs::symlink_metadata(dir.join(name)).ok()?.modified().ok()?;
    let namespace = match netns {
        Netns::Host => identity::FileId::of("/proc/self/ns/net").ok()?,
        Netns::Named(n) => identity::FileId::of(&super::netns::path(n).ok()?.to_string_lossy()).ok()?,
    };
    let ours = id.uid == 0 || id.uid == nix::unistd::geteuid().as_raw();
    let before = identity::started_at(pid).is_some_and(|t| t <= written);
    let args = process_args(pid).is_some_and(|a| is_daemon(daemon, &a, stats));
    (ours && before && args && id.netns == namespace).then_some(id)
}

/// The forwarder of `dev` in `netns`, if it runs (see [`identify`]).
pub fn find(dir: &Path, netns: &Netns, dev: &str) -> Option<Running> {
    let id = identify(dir, Daemon::Forwarder, netns, dev)?;
    Some(Running { pid: id.pid, args: process_args(id.pid)? })
}

/// The relay whose `a` device is `a` in `netns`, if it runs.
pub fn find_relay(dir: &Path, netns: &Netns, a: &str) -> Option<Running> {
    let id = identify(dir, Daemon::Relay, netns, a)?;
    Some(Running { pid: id.pid, args: process_args(id.pid)? })
}

/// The forwarders and relays whose pid files are in `dir` (a lab's directory), by
/// namespace and device: what `down` stops when the lab's record cannot be read.
pub fn recorded(dir: &Path) -> io::Result<Vec<(Netns, String)>> {
    let Some(dir) = Dir::open(dir)? else { return Ok(Vec::new()) };
    let mut found = Vec::new();
    for name in dir.names()? {
        let Some((netns, dev)) = name.to_str().and_then(|n| n.strip_suffix(".pid")?.split_once(':')) else { continue };
        let netns = if netns == "host" { Netns::Host } else { Netns::Named(netns.to_string()) };
        found.push((netns, dev.to_string()));
    }
    Ok(found)
}

/// Starts the forwarders `forwarders` describe, each inside its namespace (the
/// namespaces' files); see [`start_daemons`].
pub fn start(dir: &Path, forwarders: &[(&Netns, &ForwarderConfig, BorrowedFd)]) -> Vec<Result<(), OpError>> {
    let items = forwarders
        .iter()
        .map(|&(netns, config, fd)| {
            let stats = stats_path(dir, netns, &config.dev);
            let args = ForwarderConfig { stats: Some(stats), ..config.clone() }.args();
            Start { netns, daemon: Daemon::Forwarder, dev: &config.dev, args, fd }
        })
        .collect();
    start_daemons(dir, items)
}

/// Starts relays, each inside its namespace, telling each where its stats file and
/// control socket are; see [`start_daemons`].
pub fn start_relays(dir: &Path, relays: &[(&Netns, &RelayConfig, BorrowedFd)]) -> Vec<Result<(), OpError>> {
    let items = relays
        .iter()
        .map(|&(netns, config, fd)| {
            let args = RelayConfig {
                stats: Some(stats_path(dir, netns, &config.a)),
                control: Some(control_path(dir, netns, &config.a)),
                ..config.clone()
            }
            .args();
            Start { netns, daemon: Daemon::Relay, dev: &config.a, args, fd }
        })
        .collect();
    start_daemons(dir, items)
}

/// What a daemon is started as: its kind, its device, its arguments (with its stats file,
/// and a relay's control socket, already in them).
struct Start<'a> {
    netns: &'a Netns,
    daemon: Daemon,
    dev: &'a str,
    args: Vec<String>,
    fd: BorrowedFd<'a>,
}

/// A daemon that said it started, before it is ready.
type Started<'a> = (Child, &'a Netns, Daemon, &'a str);

/// Starts daemons, each inside its namespace, detached in a session of its own, and
/// waits until each is ready (it has opened its devices and sockets: its first stats are
/// written). The outcome of each, in order.
///
/// The handover closes the one window where a daemon could outlive a killed `up` without
/// a record of it: between fork and exec the child still looks like `netlab up`, so
/// neither its pid file nor its command line would find it. So the child dies with its
/// parent (PR_SET_PDEATHSIG) until it has exec'd and said `started` on a socket, the
/// parent has written its pid file and answered `go`.
fn start_daemons(dir: &Path, items: Vec<Start>) -> Vec<Result<(), OpError>> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return items.iter().map(|_| Err(ForwarderError::NoBinary(e.to_string()).into())).collect(),
    };
    let dir = match Dir::create(dir) {
        Ok(dir) => dir,
        Err(e) => {
            let e = OpError::from(e);
            return items.iter().map(|_| Err(e.clone())).collect();
        }
    };
    let started: Vec<Result<Started, OpError>> = items
        .iter()
        .map(|item| {
            let (netns, daemon, dev) = (item.netns, item.daemon, item.dev);
            dir.remove_own_file(&file(netns, dev, "stats")?)?;
            let log = dir.create_fresh(&file(netns, dev, "log")?)?;
            let fd = item.fd.as_raw_fd();
            let (ours, theirs) = UnixStream::pair()?;
            ours.set_read_timeout(Some(READY_WITHIN))?;
            let theirs_fd = theirs.as_raw_fd();
            let parent = std::process::id() as libc::pid_t;
            let mut cmd = Command::new(&exe);
            cmd.args(&item.args)
                .args(["--handover-fd", &HANDOVER_FD.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid,
            // setns, setsid, dup2, fcntl.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent {
                        return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                    }
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 || libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The socket at a known number, kept open across exec.
                    let ok = if theirs_fd == HANDOVER_FD {
                        libc::fcntl(HANDOVER_FD, libc::F_SETFD, 0) == 0
                    } else {
                        libc::dup2(theirs_fd, HANDOVER_FD) == HANDOVER_FD
                    };
                    if !ok {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn()?;
            drop(theirs);
            // Once it says `started` it has exec'd: what it runs, as whom and where, is
            // its identity from now on, recorded before it may outlive this run.
            let handed = (|| {
                let mut said = String::new();
                BufReader::new(&ours).read_line(&mut said).map_err(Handover::Silent)?;
                if said.trim() != "started" {
                    return Err(Handover::Silent(io::Error::other("it did not start")));
                }
                let id = ProcessId::of(child.id()).map_err(Handover::Silent)?;
                let (pid, tmp) = (file(netns, dev, "pid"), Name::new(format!(".{netns}:{dev}.pid.tmp")));
                pid.and_then(|pid| dir.write_atomically(&pid, &tmp?, id.pid_file().as_bytes()))
                    .map_err(Handover::PidFile)?;
                (&ours).write_all(b"go\n").map_err(Handover::Silent)
            })();
            if let Err(e) = handed {
                let _ = child.kill();
                let _ = child.wait();
                let why = match e {
                    // Its log says best why it did not start.
                    Handover::Silent(e) => last_line(&dir, netns, dev).unwrap_or_else(|| e.to_string()),
                    Handover::PidFile(e) => e.to_string(),
                };
                remove_files(&dir, netns, dev);
                return Err(ForwarderError::DidNotStart { daemon, dev: dev.to_string(), why }.into());
            }
            Ok((child, netns, daemon, dev))
        })
        .collect();
    started
        .into_iter()
        .map(|s| s.and_then(|(child, netns, daemon, dev)| ready(&dir, child, netns, daemon, dev)))
        .collect()
}

/// What went wrong in the handover with a starting daemon.
enum Handover {
    /// It did not say it started (or could not be read back).
    Silent(io::Error),
    /// Its pid file could not be written.
    PidFile(io::Error),
}

/// The last line a daemon wrote to its log.
fn last_line(dir: &Dir, netns: &Netns, dev: &str) -> Option<String> {
    let log = dir.read(&file(netns, dev, "log").ok()?).ok()??;
    let log = String::from_utf8_lossy(&log);
    log.lines().rfind(|l| !l.trim().is_empty()).map(str::to_string)
}

/// Waits for a just-started daemon to write its first stats; if it dies or takes too
/// long, says why (its log) and leaves nothing running.
fn ready(dir: &Dir, mut child: Child, netns: &Netns, daemon: Daemon, dev: &str) -> Result<(), OpError> {
    let since = Instant::now();
    loop {
        if says_running(dir.path(), netns, dev) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let why = last_line(dir, netns, dev).unwrap_or_else(|| "no message".to_string());
            remove_files(dir, netns, dev);
            let (dev, status) = (dev.to_string(), status.to_string());
            return Err(ForwarderError::Exited { daemon, dev, status, why }.into());
        }
        if since.elapsed() > READY_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            remove_files(dir, netns, dev);
            return Err(ForwarderError::NotReady { daemon, dev: dev.to_string(), within: READY_WITHIN }.into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops the forwarder of `dev` in `netns`; see [`stop_daemon`].
pub fn stop(dir: &Path, netns: &Netns, dev: &str) -> Result<(), OpError> {
    stop_daemon(dir, Daemon::Forwarder, netns, dev)
}

/// Stops the relay whose `a` device is `a`; see [`stop_daemon`].
pub fn stop_relay(dir: &Path, netns: &Netns, a: &str) -> Result<(), OpError> {
    stop_daemon(dir, Daemon::Relay, netns, a)
}

/// Stops a daemon: SIGTERM, then SIGKILL if it lingers; removes its files. One that is
/// not running (or a pid file that names another process now) is `ESRCH` (already gone):
/// nothing is signalled.
fn stop_daemon(dir: &Path, daemon: Daemon, netns: &Netns, dev: &str) -> Result<(), OpError> {
    let files = Dir::open(dir)?;
    let Some(id) = identify(dir, daemon, netns, dev) else {
        if let Some(files) = &files {
            remove_files(files, netns, dev);
        }
        return Err(OpError::Errno(Errno::ESRCH));
    };
    let pid = Pid::from_raw(id.pid as i32);
    let mut signal = Signal::SIGTERM;
    let mut deadline = Instant::now() + STOP_WITHIN;
    let _ = id.signal(signal);
    while id.check().is_ok() {
        // Reap it if it is our own child (started by this run); harmless otherwise.
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            if signal == Signal::SIGKILL {
                return Err(ForwarderError::DoesNotStop { daemon, dev: dev.to_string(), pid: id.pid }.into());
            }
            signal = Signal::SIGKILL;
            deadline = Instant::now() + STOP_WITHIN;
            let _ = id.signal(signal);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    if let Some(files) = &files {
        remove_files(files, netns, dev);
    }
    Ok(())
}

/// Removes a daemon's files (a relay's socket, if it left one), and the lab's directory
/// once it is empty: only files netlab could have made (what someone else put in their
/// place is left alone).
fn remove_files(dir: &Dir, netns: &Netns, dev: &str) {
    let names = ["pid", "stats", "log", "sock"].map(|ext| file(netns, dev, ext));
    for name in names.iter().chain([&Name::new(format!(".{netns}:{dev}.pid.tmp"))]).flatten() {
        let _ = dir.remove_own_file(name);
    }
    // An empty directory is all `remove_dir` takes; a link there is not one.
    let _ = std::fs::remove_dir(dir.path());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    /// A process whose arguments read `forward --stats STATS` (a shell running a script
    /// named `forward`, as anyone could start), in this namespace, as this user.
    fn lookalike(dir: &Path, stats: &Path) -> Child {
        // It waits on its stdin (no child of its own to leave behind when it is killed).
        // It says it runs first: spawn returns once the exec has begun, and until the
        // kernel has set the new program's arguments up, /proc/PID/cmdline reads empty.
        std::fs::write(dir.join("forward"), "echo running\nread x\n").unwrap();
        let mut cmd = Command::new("sh");
        cmd.current_dir(dir).arg("forward").arg("--stats").arg(stats).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
        assert_eq!(line, "running\n");
        child
    }

    #[test]
    fn a_process_is_the_forwarder_its_pid_file_records_and_no_other() {
        let tmp = TempDir::new();
        let lab = tmp.path().join("lab");
        let dir = Dir::create(&lab).unwrap();
        let stats = stats_path(&lab, &Netns::Host, "fl0");
        let mut child = lookalike(tmp.path(), &stats);
        let pid = child.id();
        let pid_file = file(&Netns::Host, "fl0", "pid").unwrap();
        let write = |text: String| std::fs::write(dir.join(&pid_file), text).unwrap();

        // As netlab records it: that process, and it alone.
        let id = ProcessId::of(pid).unwrap();
        write(id.pid_file());
        assert_eq!(find(&lab, &Netns::Host, "fl0").map(|r| r.pid), Some(pid));
        write(ProcessId { start_time: id.start_time + 1, ..id }.pid_file());
        assert_eq!(find(&lab, &Netns::Host, "fl0"), None, "a pid reused by another process");
        write(ProcessId { uid: id.uid + 1, ..id }.pid_file());
        assert_eq!(find(&lab, &Netns::Host, "fl0"), None, "another user's process");

        // An older netlab's pid file, the pid alone: the forwarder's command line, in its
        // namespace, started before the file was written.
        write(format!("{pid}\n"));
        assert_eq!(find(&lab, &Netns::Host, "fl0").map(|r| r.pid), Some(pid));
        assert_eq!(find(&lab, &Netns::Named("elsewhere".into()), "fl0"), None, "another namespace");
        let other = stats_path(&lab, &Netns::Host, "fl1");
        std::fs::write(dir.join(&file(&Netns::Host, "fl1", "pid").unwrap()), format!("{pid}\n")).unwrap();
        assert_eq!(find(&lab, &Netns::Host, "fl1"), None, "the command line of another forwarder ({other:?})");

        // Stopping what is not the forwarder signals nothing.
        write(ProcessId { start_time: id.start_time + 1, ..id }.pid_file());
        assert_eq!(stop(&lab, &Netns::Host, "fl0"), Err(OpError::Errno(Errno::ESRCH)));
        assert_eq!(child.try_wait().unwrap(), None, "it still runs");
        write(id.pid_file());
        assert_eq!(stop(&lab, &Netns::Host, "fl0"), Ok(()));
        assert_eq!(id.check(), Err(identity::Mismatch::Gone), "stopped (and reaped, as netlab's own child)");
        assert!(!dir.join(&pid_file).exists(), "its files are removed");
    }

    #[test]
    fn forwarders_are_found_by_their_pid_files() {
        let tmp = TempDir::new();
        let dir = Dir::create(&tmp.path().join("lab")).unwrap();
        for name in ["host:fl0.pid", "lab-a:flannel.1.pid", "lab-a:flannel.1.log", "stray"] {
            std::fs::write(dir.join(&Name::new(name).unwrap()), "").unwrap();
        }
        assert_eq!(
            recorded(dir.path()).unwrap(),
            [(Netns::Host, "fl0".to_string()), (Netns::Named("lab-a".into()), "flannel.1".to_string())]
        );
        assert_eq!(recorded(&tmp.path().join("none")).unwrap(), []);
    }
}
