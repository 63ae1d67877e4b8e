//! netlab's side of a lab's supervisor: starting it in a PID namespace of its own, finding
//! it again (by identity, from its directory), asking it things, and ending it.
//!
//! Starting closes the one window in which a supervisor could outlive a killed `up`
//! unrecorded: it is born with a parent-death signal (SIGKILL) that it clears only after
//! it has written its identity where `down` looks. The signal follows the *thread* that
//! started it, so that thread waits for the supervisor's "ready" before it ends.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::files;
use super::identity::{wait_gone, PidFile, ProcessId};
use super::protocol::{Reply, Request};

/// How long a new supervisor may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// A lab's supervisor that runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    dir: PathBuf,
    identity: ProcessId,
}

impl Supervisor {
    /// The supervisor of the lab whose directory is `dir`, if one runs: its identity is
    /// read from its pid file (never through a link) and checked against the process,
    /// never taken on trust.
    pub fn find(dir: &Path) -> Option<Supervisor> {
        let text = files::read(&dir.join(files::SUPERVISOR_PID)).ok()??;
        let PidFile::Identity(identity) = PidFile::parse(&String::from_utf8_lossy(&text)).ok()? else { return None };
        identity.check().is_ok().then(|| Supervisor { dir: dir.to_path_buf(), identity })
    }

    /// Starts a supervisor for the lab whose directory is `dir`, running `netlab` (the
    /// binary `exe`) as PID 1 of a new PID namespace.
    pub fn start(exe: &Path, dir: &Path) -> io::Result<Supervisor> {
        std::fs::create_dir_all(dir)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(files::SUPERVISOR_LOG))?;
        let (exe, dir_owned) = (exe.to_path_buf(), dir.to_path_buf());
        // A thread of its own: unshare(CLONE_NEWPID) puts this thread's *next* child in a
        // new PID namespace, as its PID 1; no other child of ours must land there.
        std::thread::spawn(move || -> io::Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)?;
            // The child watches this pipe: its far end closes if we die before it is ready.
            let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let (alive_r_fd, alive_w_fd) = (alive_r.as_raw_fd(), alive_w.as_raw_fd());
            let mut cmd = Command::new(&exe);
            cmd.arg("supervise")
                .arg("--dir")
                .arg(&dir_owned)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log));
            // SAFETY: between fork and exec only async-signal-safe calls: prctl, close,
            // poll, setsid.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // Our parent may have died before the signal was armed: then the pipe
                    // has no writer left but the copy we close here.
                    libc::close(alive_w_fd);
                    let mut p = libc::pollfd { fd: alive_r_fd, events: libc::POLLIN, revents: 0 };
                    if libc::poll(&mut p, 1, 0) != 0 {
                        return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                    }
                    if libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut child = cmd.spawn()?;
            let stdout = child.stdout.take().expect("piped");
            let said = read_line_within(&stdout, READY_WITHIN);
            drop(alive_w);
            drop(alive_r);
            match said {
                Ok(line) if line.trim() == "ready" => Ok(()),
                Ok(_) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(io::Error::other("it did not say it was ready"))
                }
            }
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread starting the supervisor panicked")))
        .map_err(|e| {
            let log = super::log::tail_lines(&dir.join(files::SUPERVISOR_LOG), 1).join("");
            let why = if log.is_empty() { e.to_string() } else { log };
            io::Error::new(e.kind(), format!("the lab's supervisor did not start: {why}"))
        })?;
        Supervisor::find(dir).ok_or_else(|| io::Error::other("the lab's supervisor started but cannot be found"))
    }

    /// The running supervisor of `dir`, started if there is none.
    pub fn ensure(exe: &Path, dir: &Path) -> io::Result<Supervisor> {
        match Supervisor::find(dir) {
            Some(s) => Ok(s),
            None => Supervisor::start(exe, dir),
        }
    }

    pub fn identity(&self) -> &ProcessId {
        &self.identity
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends one request and waits up to `timeout` for the answer.
    pub fn request(&self, request: &Request, timeout: Duration) -> io::Result<Reply> {
        let mut stream = UnixStream::connect(self.dir.join(files::SUPERVISOR_SOCKET))?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        let answer = read_line_within(&stream, timeout)?;
        serde_json::from_str(&answer)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{answer:?}: {e}")))
    }

    /// Stops every process of the lab and the supervisor: asks it to (its processes get
    /// SIGTERM, then SIGKILL after `grace`); if it does not answer, SIGKILL to it, after
    /// which the kernel kills everything in its namespace. Returns once it is gone.
    pub fn shutdown(&self, grace: Duration) -> io::Result<()> {
        if self.identity.check().is_err() {
            return Ok(());
        }
        let asked =
            self.request(&Request::Shutdown { grace_ms: grace.as_millis() as u64 }, grace + Duration::from_secs(5));
        if !matches!(asked, Ok(Reply::Down)) || !wait_gone(&self.identity, Duration::from_secs(5)) {
            // Only if it is still that process (a pidfd where the kernel has them).
            let _ = self.identity.signal(nix::sys::signal::Signal::SIGKILL);
            if !wait_gone(&self.identity, Duration::from_secs(10)) {
                return Err(io::Error::other(format!("the lab's supervisor (pid {}) does not end", self.identity.pid)));
            }
        }
        Ok(())
    }
}

/// Reads one line from `r` within `timeout`, a byte at a time so that nothing after the
/// newline is consumed (the answers are short).
fn read_line_within(r: &impl AsFd, timeout: Duration) -> io::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {timeout:?}")));
        }
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut byte = [0u8; 1];
        match nix::unistd::read(r.as_fd(), &mut byte) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed without an answer")),
            Ok(_) if byte[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            Ok(_) => line.push(byte[0]),
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
