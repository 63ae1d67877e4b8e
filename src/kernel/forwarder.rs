//! The processes netlab starts for a lab ([`Daemon`]): tunnel forwarders (`netlab
//! forward`, one per TUN device) and impairment relays (`netlab relay`, one per link
//! impaired in userspace), started detached inside their namespace by `up`, found again
//! from their pid file, and stopped only after checking that the pid really is that
//! process (a pid is reused once its process is gone).
//!
//! Each has its files in its lab's directory (`/run/netlab/<lab>/`, given to these
//! functions as `dir`), named `<netns>:<dev>` (`host` for the root namespace; neither a
//! namespace nor an interface name can hold a `:`; a relay is named by its `a` device):
//! `.pid`, `.stats` (the counters it writes every second), `.log` (its stderr), and a
//! relay's control socket `.sock`. A process is that daemon when its command line is
//! `netlab forward ...` (or `relay`) with that stats file: the path names the lab, the
//! namespace and the device.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::OpError;
use crate::impair::relay::RelayConfig;
use crate::live::Running;
use crate::topology::Netns;
use crate::tunnel::ForwarderConfig;

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

fn file(dir: &Path, netns: &Netns, dev: &str, ext: &str) -> PathBuf {
    dir.join(format!("{netns}:{dev}.{ext}"))
}

/// The counters of the forwarder (or relay) of `dev` in `netns`, in the lab's directory
/// `dir`.
pub fn stats_path(dir: &Path, netns: &Netns, dev: &str) -> PathBuf {
    file(dir, netns, dev, "stats")
}

/// The control socket of the relay whose `a` device is `a`, in `netns`.
pub fn control_path(dir: &Path, netns: &Netns, a: &str) -> PathBuf {
    file(dir, netns, a, "sock")
}

/// The arguments of a live, non-zombie process, or `None`.
fn process_args(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name in parentheses; a zombie is already dead.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.is_empty() {
        return None;
    }
    args.remove(0);
    // The handover socket is how it was started, not what it does.
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

/// The forwarder of `dev` in `netns`, if it runs.
pub fn find(dir: &Path, netns: &Netns, dev: &str) -> Option<Running> {
    find_daemon(dir, Daemon::Forwarder, netns, dev)
}

/// The relay whose `a` device is `a` in `netns`, if it runs.
pub fn find_relay(dir: &Path, netns: &Netns, a: &str) -> Option<Running> {
    find_daemon(dir, Daemon::Relay, netns, a)
}

/// A daemon, if it runs: by its pid file, or, when that is missing (netlab was killed
/// between starting it and writing the file), by looking for its command line among the
/// processes.
fn find_daemon(dir: &Path, daemon: Daemon, netns: &Netns, dev: &str) -> Option<Running> {
    let stats = stats_path(dir, netns, dev);
    let from_file =
        std::fs::read_to_string(file(dir, netns, dev, "pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(pid) = from_file {
        if let Some(args) = process_args(pid).filter(|a| is_daemon(daemon, a, &stats)) {
            return Some(Running { pid, args });
        }
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    procs.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).find_map(|pid| {
        let args = process_args(pid).filter(|a| is_daemon(daemon, a, &stats))?;
        Some(Running { pid, args })
    })
}

/// A daemon that said it started, before it is ready.
type Started<'a> = (Child, &'a Netns, Daemon, &'a str);

/// What a daemon is started as: its kind, its device, its arguments (with its stats file,
/// and a relay's control socket, already in them).
struct Start<'a> {
    netns: &'a Netns,
    daemon: Daemon,
    dev: &'a str,
    args: Vec<String>,
    fd: BorrowedFd<'a>,
}

/// Starts the forwarders `ops` describe, each inside its namespace (`fds`, the namespaces'
/// files); see [`start_daemons`].
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

/// Starts daemons, each inside its namespace, detached in a session of its own, and waits
/// until each is ready (it has opened its devices and sockets: its first stats are
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
    let started: Vec<Result<Started, OpError>> = items
        .iter()
        .map(|item| {
            let (netns, daemon, dev) = (item.netns, item.daemon, item.dev);
            std::fs::create_dir_all(dir)?;
            let _ = std::fs::remove_file(stats_path(dir, netns, dev));
            let log = File::create(file(dir, netns, dev, "log"))?;
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
            let handed = (|| {
                let mut said = String::new();
                BufReader::new(&ours).read_line(&mut said)?;
                if said.trim() != "started" {
                    return Err(io::Error::other("it did not start"));
                }
                std::fs::write(file(dir, netns, dev, "pid"), format!("{}\n", child.id()))?;
                (&ours).write_all(b"go\n")
            })();
            if let Err(e) = handed {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(file(dir, netns, dev, "log")).unwrap_or_default();
                remove_files(dir, netns, dev);
                let why = log.lines().rfind(|l| !l.trim().is_empty()).map_or(e.to_string(), str::to_string);
                return Err(ForwarderError::DidNotStart { daemon, dev: dev.to_string(), why }.into());
            }
            Ok((child, netns, daemon, dev))
        })
        .collect();
    started
        .into_iter()
        .map(|s| s.and_then(|(child, netns, daemon, dev)| ready(dir, child, netns, daemon, dev)))
        .collect()
}

/// Waits for a just-started daemon to write its first stats; if it dies or takes too
/// long, says why (its log) and leaves nothing running.
fn ready(dir: &Path, mut child: Child, netns: &Netns, daemon: Daemon, dev: &str) -> Result<(), OpError> {
    let stats = stats_path(dir, netns, dev);
    let since = Instant::now();
    loop {
        // Both kinds write `"running": true` in every stats file while they run.
        let running = std::fs::read(&stats)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["running"] == true);
        if running {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(file(dir, netns, dev, "log")).unwrap_or_default();
            let why = log.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message").to_string();
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
/// not running is `ESRCH` (already gone).
fn stop_daemon(dir: &Path, daemon: Daemon, netns: &Netns, dev: &str) -> Result<(), OpError> {
    let Some(running) = find_daemon(dir, daemon, netns, dev) else {
        remove_files(dir, netns, dev);
        return Err(OpError::Errno(Errno::ESRCH));
    };
    let pid = Pid::from_raw(running.pid as i32);
    let stats = stats_path(dir, netns, dev);
    let gone = || process_args(running.pid).is_none_or(|a| !is_daemon(daemon, &a, &stats));
    let mut signal = Signal::SIGTERM;
    let mut deadline = Instant::now() + STOP_WITHIN;
    let _ = kill(pid, signal);
    while !gone() {
        // Reap it if it is our own child (started by this run); harmless otherwise.
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            if signal == Signal::SIGKILL {
                return Err(ForwarderError::DoesNotStop { daemon, dev: dev.to_string(), pid: running.pid }.into());
            }
            signal = Signal::SIGKILL;
            deadline = Instant::now() + STOP_WITHIN;
            let _ = kill(pid, signal);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    remove_files(dir, netns, dev);
    Ok(())
}

fn remove_files(dir: &Path, netns: &Netns, dev: &str) {
    for ext in ["pid", "stats", "log", "sock"] {
        let _ = std::fs::remove_file(file(dir, netns, dev, ext));
    }
    let _ = std::fs::remove_dir(dir);
}
