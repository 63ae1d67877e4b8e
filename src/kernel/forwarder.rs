//! Forwarder processes: `netlab forward`, started detached inside a tunnel end's namespace
//! by `up`, found again from its pid file, and stopped only after checking that the pid
//! really is that forwarder (a pid is reused once its process is gone).
//!
//! Each forwarder has three files in its lab's directory (`/run/netlab/<lab>/`, given to
//! these functions as `dir`), named `<netns>:<dev>` (`host` for the root namespace;
//! neither a namespace nor an interface name can hold a `:`):
//! `.pid`, `.stats` (the counters it writes every second) and `.log` (its stderr).
//! A process is that forwarder when its command line is `netlab forward ...` with that
//! stats file: the path names the lab, the namespace and the device.

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
use crate::live::Running;
use crate::topology::Netns;
use crate::tunnel::ForwarderConfig;

/// Why a forwarder did not start or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwarderError {
    /// netlab cannot find its own executable to start as `netlab forward`.
    NoBinary(String),
    /// It was started but did not say so (its log's last line, or what went wrong).
    DidNotStart {
        dev: String,
        why: String,
    },
    /// It exited before it was ready (its exit status, its log's last line).
    Exited {
        dev: String,
        status: String,
        why: String,
    },
    NotReady {
        dev: String,
        within: Duration,
    },
    DoesNotStop {
        dev: String,
        pid: u32,
    },
}

impl std::fmt::Display for ForwarderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwarderError::NoBinary(e) => write!(f, "cannot find netlab's own binary: {e}"),
            ForwarderError::DidNotStart { dev, why } => write!(f, "the forwarder for {dev} did not start: {why}"),
            ForwarderError::Exited { dev, status, why } => {
                write!(f, "the forwarder for {dev} exited ({status}): {why}")
            }
            ForwarderError::NotReady { dev, within } => {
                write!(f, "the forwarder for {dev} was not ready within {within:?}")
            }
            ForwarderError::DoesNotStop { dev, pid } => write!(f, "the forwarder for {dev} (pid {pid}) does not stop"),
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

/// The counters of the forwarder of `dev` in `netns`, in the lab's directory `dir`.
pub fn stats_path(dir: &Path, netns: &Netns, dev: &str) -> PathBuf {
    file(dir, netns, dev, "stats")
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

/// Whether `args` are those of the forwarder whose stats file is `stats`.
fn is_forwarder(args: &[String], stats: &Path) -> bool {
    let stats = stats.display().to_string();
    args.first().is_some_and(|a| a == "forward") && args.windows(2).any(|w| w[0] == "--stats" && w[1] == stats)
}

/// The forwarder of `dev` in `netns`, if it runs: by its pid file, or, when that is
/// missing (netlab was killed between starting it and writing the file), by looking for
/// its command line among the processes.
pub fn find(dir: &Path, netns: &Netns, dev: &str) -> Option<Running> {
    let stats = stats_path(dir, netns, dev);
    let from_file =
        std::fs::read_to_string(file(dir, netns, dev, "pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(pid) = from_file {
        if let Some(args) = process_args(pid).filter(|a| is_forwarder(a, &stats)) {
            return Some(Running { pid, args });
        }
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    procs.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).find_map(|pid| {
        let args = process_args(pid).filter(|a| is_forwarder(a, &stats))?;
        Some(Running { pid, args })
    })
}

/// Starts the forwarders `ops` describe, each inside its namespace (`fds`, the namespaces'
/// files), detached in a session of its own, and waits until each is ready (it has
/// attached to its device and bound its socket: its first stats are written). The
/// outcome of each, in order.
///
/// The handover closes the one window where a forwarder could outlive a killed `up`
/// without a record of it: between fork and exec the child still looks like `netlab up`,
/// so neither its pid file nor its command line would find it. So the child dies with
/// its parent (PR_SET_PDEATHSIG) until it has exec'd and said `started` on a socket, the
/// parent has written its pid file and answered `go`.
pub fn start(dir: &Path, forwarders: &[(&Netns, &ForwarderConfig, BorrowedFd)]) -> Vec<Result<(), OpError>> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return forwarders.iter().map(|_| Err(ForwarderError::NoBinary(e.to_string()).into())).collect(),
    };
    let started: Vec<Result<(Child, &Netns, &str), OpError>> = forwarders
        .iter()
        .map(|(netns, config, fd)| {
            let dev = config.dev.as_str();
            std::fs::create_dir_all(dir)?;
            let stats = stats_path(dir, netns, dev);
            let _ = std::fs::remove_file(&stats);
            let log = File::create(file(dir, netns, dev, "log"))?;
            let fd = fd.as_raw_fd();
            let (ours, theirs) = UnixStream::pair()?;
            ours.set_read_timeout(Some(READY_WITHIN))?;
            let theirs_fd = theirs.as_raw_fd();
            let parent = std::process::id() as libc::pid_t;
            let mut cmd = Command::new(&exe);
            let config = ForwarderConfig { stats: Some(stats.clone()), ..(*config).clone() };
            cmd.args(config.args())
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
                return Err(ForwarderError::DidNotStart { dev: dev.to_string(), why }.into());
            }
            Ok((child, *netns, dev))
        })
        .collect();
    started.into_iter().map(|s| s.and_then(|(child, netns, dev)| ready(dir, child, netns, dev))).collect()
}

/// Waits for a just-started forwarder to write its first stats; if it dies or takes too
/// long, says why (its log) and leaves nothing running.
fn ready(dir: &Path, mut child: Child, netns: &Netns, dev: &str) -> Result<(), OpError> {
    let stats = stats_path(dir, netns, dev);
    let since = Instant::now();
    loop {
        if let Ok(s) = crate::tunnel::read_stats(&stats) {
            if s.running {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(file(dir, netns, dev, "log")).unwrap_or_default();
            let why = log.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message").to_string();
            remove_files(dir, netns, dev);
            return Err(ForwarderError::Exited { dev: dev.to_string(), status: status.to_string(), why }.into());
        }
        if since.elapsed() > READY_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            remove_files(dir, netns, dev);
            return Err(ForwarderError::NotReady { dev: dev.to_string(), within: READY_WITHIN }.into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops the forwarder of `dev` in `netns`: SIGTERM, then SIGKILL if it lingers; removes
/// its files. A forwarder that is not running is `ESRCH` (already gone).
pub fn stop(dir: &Path, netns: &Netns, dev: &str) -> Result<(), OpError> {
    let Some(running) = find(dir, netns, dev) else {
        remove_files(dir, netns, dev);
        return Err(OpError::Errno(Errno::ESRCH));
    };
    let pid = Pid::from_raw(running.pid as i32);
    let stats = stats_path(dir, netns, dev);
    let gone = || process_args(running.pid).is_none_or(|a| !is_forwarder(&a, &stats));
    let mut signal = Signal::SIGTERM;
    let mut deadline = Instant::now() + STOP_WITHIN;
    let _ = kill(pid, signal);
    while !gone() {
        // Reap it if it is our own child (started by this run); harmless otherwise.
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            if signal == Signal::SIGKILL {
                return Err(ForwarderError::DoesNotStop { dev: dev.to_string(), pid: running.pid }.into());
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
    for ext in ["pid", "stats", "log"] {
        let _ = std::fs::remove_file(file(dir, netns, dev, ext));
    }
    let _ = std::fs::remove_dir(dir);
}
