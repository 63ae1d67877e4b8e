//! `netlab supervise`: a lab's supervisor, PID 1 of a PID namespace of the lab's own.
//!
//! Every process of the lab is its child, so nothing the lab runs can get out of that
//! namespace: a command that daemonizes (forks and lets its parent exit) is re-parented to
//! the supervisor, not to the host's init. When the supervisor ends, however it ends
//! (`down`, a SIGKILL, a crash), the kernel kills every process left in the namespace.
//!
//! As their parent it is also the one place that knows, without races, what each process
//! is and how it ended: a child's pid cannot be reused until its parent has reaped it. It
//! starts processes inside their node ([`super::node`]), pumps their output into capped
//! logs ([`super::log`]), records each one's identity and exit ([`super::files`]), stops
//! them, and runs one-shot commands to their end. It decides nothing: requests say what to
//! do ([`super::protocol`]).
//!
//! One thread, one poll loop: the control socket, the output pipes and a signalfd
//! (SIGCHLD, and SIGTERM/SIGINT/SIGHUP, which shut everything down as `down` would).

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::files::{self, LastExit, ProcessRecord};
use super::identity::ProcessId;
use super::log::{CappedLog, DEFAULT_CAP};
use super::node::NodeEntry;
use super::protocol::{Launch, Reply, Request};
use crate::live::Identity;

/// Runs the supervisor of the lab whose directory is `dir` until it is shut down.
/// `ready` is where to say "ready" once it takes requests (then it is closed).
pub fn main(dir: &Path, ready: File) -> io::Result<()> {
    if nix::unistd::getpid().as_raw() != 1 {
        return Err(io::Error::other(
            "netlab supervise runs as PID 1 of a PID namespace of its own; `netlab up` starts it",
        ));
    }
    std::env::set_current_dir("/")?;
    // What processes write may be secret: their logs are root's alone (0600). Processes of
    // other users must still reach their own directories in processes/ (0711: no listing).
    for (sub, mode) in [(files::processes_dir(dir), 0o711), (dir.join(files::RUNS), 0o700)] {
        std::fs::create_dir_all(&sub)?;
        std::fs::set_permissions(&sub, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    let mut supervisor = Supervisor::new(dir)?;
    // Who we are, as the rest of the machine sees it: /proc is the host's (or the
    // throwaway host's), where our pid is not 1. Netlab's own process: known by its pid
    // file, as a forwarder is.
    let pid: u32 = std::fs::read_link("/proc/self")?
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("cannot read our own pid from /proc/self"))?;
    let identity = ProcessId::of(pid)?;
    files::write_atomic(&dir.join(files::SUPERVISOR_PID), identity.pid_file().as_bytes())?;
    // Recorded: from here on `down` can find us, so we need no longer die with `up`.
    // SAFETY: a plain prctl on this, the only thread.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    let mut ready = ready;
    writeln!(ready, "ready")?;
    drop(ready);
    supervisor.run();
    for name in [files::SUPERVISOR_SOCKET, files::SUPERVISOR_PID] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(())
}

type ConnId = u64;

struct Conn {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    /// The peer closed its end: drop the connection once the output is written.
    eof: bool,
}

enum Kind {
    /// A long-running process, with its record (as last written: its exit is added to it).
    Process { record: Box<ProcessRecord>, stop: Option<Stopping> },
    /// A one-shot command: someone waits for its end.
    OneShot { conn: ConnId, deadline: Instant, timed_out: bool },
}

/// A stop under way (of one process, or of everything at shutdown): SIGTERM sent,
/// SIGKILL at `deadline`, and who waits for its end.
struct Stopping {
    deadline: Instant,
    killed: bool,
    waiters: Vec<ConnId>,
}

struct Child {
    key: String,
    kind: Kind,
    /// The pipe of its output, while it is open.
    pump: Option<RawFd>,
}

struct Pump {
    pipe: File,
    log: CappedLog,
}

struct Supervisor {
    dir: PathBuf,
    listener: UnixListener,
    signals: SignalFd,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    /// By pid as the supervisor sees it (in its namespace): a process group id too.
    children: HashMap<i32, Child>,
    pumps: HashMap<RawFd, Pump>,
    shutdown: Option<Stopping>,
}

impl Supervisor {
    fn new(dir: &Path) -> io::Result<Supervisor> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            mask.add(s);
        }
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        // Output pipes whose reader is gone must not kill us.
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let socket = dir.join(files::SUPERVISOR_SOCKET);
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        listener.set_nonblocking(true)?;
        Ok(Supervisor {
            dir: dir.to_path_buf(),
            listener,
            signals,
            conns: BTreeMap::new(),
            next_conn: 0,
            children: HashMap::new(),
            pumps: HashMap::new(),
            shutdown: None,
        })
    }

    fn run(&mut self) {
        loop {
            let mut fds = vec![
                libc::pollfd { fd: self.signals.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            for conn in self.conns.values() {
                let events = if conn.output.is_empty() { libc::POLLIN } else { libc::POLLIN | libc::POLLOUT };
                fds.push(libc::pollfd { fd: conn.stream.as_raw_fd(), events, revents: 0 });
            }
            for fd in self.pumps.keys() {
                fds.push(libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 });
            }
            let timeout = self
                .next_deadline()
                .map_or(-1, |d| d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as libc::c_int + 1);
            // SAFETY: fds is a valid array of pollfd of the length given.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 && Errno::last() != Errno::EINTR {
                eprintln!("netlab supervise: poll: {}", Errno::last());
            }
            let ready: Vec<(RawFd, i16)> = fds.iter().filter(|p| p.revents != 0).map(|p| (p.fd, p.revents)).collect();
            for (fd, revents) in ready {
                if fd == self.signals.as_raw_fd() {
                    self.on_signals();
                } else if fd == self.listener.as_raw_fd() {
                    self.accept();
                } else if self.pumps.contains_key(&fd) {
                    self.pump(fd);
                } else if let Some(id) = self.conns.iter().find(|(_, c)| c.stream.as_raw_fd() == fd).map(|(id, _)| *id)
                {
                    if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                        self.read_conn(id);
                    }
                    self.flush_conn(id);
                }
            }
            self.reap();
            self.on_deadlines();
            if self.finish_shutdown() {
                return;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let children = self.children.values().filter_map(|c| match &c.kind {
            Kind::Process { stop: Some(s), .. } if !s.killed => Some(s.deadline),
            Kind::OneShot { deadline, timed_out: false, .. } => Some(*deadline),
            Kind::Process { .. } | Kind::OneShot { .. } => None,
        });
        let shutdown = self.shutdown.as_ref().filter(|s| !s.killed).map(|s| s.deadline);
        // While shutting down, look for the end of our children regularly: a process
        // that is not our child (yet) does not send us SIGCHLD.
        let poll_again = self.shutdown.as_ref().map(|_| Instant::now() + Duration::from_millis(50));
        children.chain(shutdown).chain(poll_again).min()
    }

    fn on_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let signal = info.ssi_signo as i32;
            if signal != libc::SIGCHLD && self.shutdown.is_none() {
                self.begin_shutdown(Duration::from_secs(5), None);
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.next_conn += 1;
            self.conns.insert(self.next_conn, Conn { stream, input: Vec::new(), output: Vec::new(), eof: false });
        }
    }

    fn read_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let mut buf = [0u8; 8192];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.eof = true;
                    break;
                }
                Ok(n) => conn.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.eof = true;
                    break;
                }
            }
            // A request is a line; one that never ends is not one.
            if conn.input.len() > 1 << 20 {
                conn.eof = true;
                break;
            }
        }
        let mut lines = Vec::new();
        while let Some(i) = conn.input.iter().position(|b| *b == b'\n') {
            lines.push(conn.input.drain(..=i).collect::<Vec<u8>>());
        }
        for line in lines {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => self.handle(id, request),
                Err(e) => self.reply(id, Reply::Error { message: format!("not a request: {e}") }),
            }
        }
    }

    fn flush_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        while !conn.output.is_empty() {
            match conn.stream.write(&conn.output) {
                Ok(n) => {
                    conn.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.output.clear();
                    conn.eof = true;
                }
            }
        }
        // Kept while a reply is still owed to it (a stop, a run, the shutdown).
        let owed = self.children.values().any(|c| match &c.kind {
            Kind::Process { stop: Some(s), .. } => s.waiters.contains(&id),
            Kind::OneShot { conn, .. } => *conn == id,
            Kind::Process { stop: None, .. } => false,
        }) || self.shutdown.as_ref().is_some_and(|s| s.waiters.contains(&id));
        if conn.eof && conn.output.is_empty() && !owed {
            self.conns.remove(&id);
        }
    }

    fn reply(&mut self, id: ConnId, reply: Reply) {
        if let Some(conn) = self.conns.get_mut(&id) {
            let mut line = serde_json::to_vec(&reply).expect("a reply serialises");
            line.push(b'\n');
            conn.output.extend(line);
        }
        self.flush_conn(id);
    }

    fn handle(&mut self, id: ConnId, request: Request) {
        if self.shutdown.is_some() {
            if let Request::Shutdown { .. } = request {
                self.shutdown.as_mut().expect("checked").waiters.push(id);
            } else {
                self.reply(id, Reply::Error { message: "the lab's processes are being stopped".into() });
            }
            return;
        }
        match request {
            Request::Start { launch } => {
                let reply = match self.start(launch, None) {
                    Ok(identity) => Reply::Started { identity },
                    Err(message) => Reply::Error { message },
                };
                self.reply(id, reply);
            }
            Request::Run { launch, timeout_ms } => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                if let Err(message) = self.start(launch, Some((id, deadline))) {
                    self.reply(id, Reply::Error { message });
                }
            }
            Request::Stop { key, grace_ms } => self.stop(id, &key, Duration::from_millis(grace_ms)),
            Request::Shutdown { grace_ms } => self.begin_shutdown(Duration::from_millis(grace_ms), Some(id)),
        }
    }

    /// Starts `launch`: a long-running process, or with `one_shot` a command someone
    /// waits for.
    fn start(&mut self, launch: Launch, one_shot: Option<(ConnId, Instant)>) -> Result<Identity, String> {
        files::check_key(&launch.key)?;
        let running = self.children.values().any(|c| c.key == launch.key && matches!(c.kind, Kind::Process { .. }));
        if one_shot.is_none() && running {
            return Err(format!("{} is already running", launch.key));
        }
        let log_path = match one_shot {
            None => files::log_path(&self.dir, &launch.key),
            Some(_) => {
                let path = files::run_log_path(&self.dir, &launch.key);
                super::log::remove(&path);
                path
            }
        };
        if let Some(own) = &launch.own_dir {
            make_own_dir(&self.dir, &launch, own)?;
        }
        let mut log = CappedLog::open(&log_path, DEFAULT_CAP).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let (pid, identity, pipe) = spawn(&launch).map_err(|e| format!("cannot start {}: {e}", launch.key))?;
        let kind = match one_shot {
            None => {
                let previous = ProcessRecord::load(&self.dir, &launch.key).ok().flatten();
                let record = ProcessRecord {
                    key: launch.key.clone(),
                    cmd: launch.cmd.clone(),
                    identity,
                    started_at: files::now(),
                    starts: previous.as_ref().map_or(0, |p| p.starts) + 1,
                    exited: false,
                    last_exit: previous.and_then(|p| p.last_exit),
                };
                self.save(&record);
                let _ = files::write_atomic(
                    &files::pid_path(&self.dir, &launch.key),
                    format!("{}\n", identity.pid).as_bytes(),
                );
                let _ = log.write(format!("-- netlab: started pid {}: {}\n", identity.pid, launch.cmd).as_bytes());
                Kind::Process { record: Box::new(record), stop: None }
            }
            Some((conn, deadline)) => Kind::OneShot { conn, deadline, timed_out: false },
        };
        let fd = pipe.as_raw_fd();
        self.pumps.insert(fd, Pump { pipe: File::from(pipe), log });
        self.children.insert(pid, Child { key: launch.key, kind, pump: Some(fd) });
        Ok(identity)
    }

    fn save(&self, record: &ProcessRecord) {
        let json = serde_json::to_vec(record).expect("a record serialises");
        if let Err(e) = files::write_atomic(&files::record_path(&self.dir, &record.key), &json) {
            eprintln!("netlab supervise: cannot write the record of {}: {e}", record.key);
        }
    }

    fn stop(&mut self, id: ConnId, key: &str, grace: Duration) {
        let found = self.children.iter_mut().find(|(_, c)| c.key == key && matches!(c.kind, Kind::Process { .. }));
        let Some((pid, child)) = found else {
            self.reply(id, Reply::NotRunning);
            return;
        };
        let Kind::Process { stop, .. } = &mut child.kind else { unreachable!("found a process") };
        match stop {
            Some(s) => s.waiters.push(id),
            None => {
                // Its process group: what it started in the foreground goes with it.
                let _ = kill(Pid::from_raw(-*pid), Signal::SIGTERM);
                *stop = Some(Stopping { deadline: Instant::now() + grace, killed: false, waiters: vec![id] });
            }
        }
    }

    fn begin_shutdown(&mut self, grace: Duration, waiter: Option<ConnId>) {
        // Every process in our namespace but us: the lab's, and whatever they left behind.
        let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
        self.shutdown =
            Some(Stopping { deadline: Instant::now() + grace, killed: false, waiters: waiter.into_iter().collect() });
    }

    /// Reaps every child that has ended; records and answers for the ones we started.
    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let (Some(pid), Some(exit)) = (status.pid(), super::identity::exit_of(status)) else { continue };
            // An orphan that was re-parented to us, or one of ours.
            let Some(child) = self.children.remove(&pid.as_raw()) else { continue };
            // Whatever it wrote before it ended, in its log before its end is reported.
            if let Some(fd) = child.pump {
                self.pump(fd);
            }
            match child.kind {
                Kind::Process { mut record, stop } => {
                    let at = files::now();
                    let marker = format!("-- netlab: {exit}\n");
                    match child.pump.and_then(|fd| self.pumps.get_mut(&fd)) {
                        Some(Pump { log, .. }) => drop(log.write(marker.as_bytes())),
                        // Its pipe is closed already (nothing else holds it).
                        None => drop(
                            CappedLog::open(&files::log_path(&self.dir, &child.key), DEFAULT_CAP)
                                .and_then(|mut log| log.write(marker.as_bytes())),
                        ),
                    }
                    record.exited = true;
                    record.last_exit = Some(LastExit { exit, at });
                    self.save(&record);
                    let _ = files::remove(&files::pid_path(&self.dir, &child.key));
                    for waiter in stop.map(|s| s.waiters).unwrap_or_default() {
                        self.reply(waiter, Reply::Stopped { exit });
                    }
                }
                Kind::OneShot { conn, timed_out, .. } => self.reply(conn, Reply::Exited { exit, timed_out }),
            }
        }
    }

    fn on_deadlines(&mut self) {
        let now = Instant::now();
        for (pid, child) in &mut self.children {
            match &mut child.kind {
                Kind::Process { stop: Some(s), .. } if !s.killed && now >= s.deadline => {
                    let _ = kill(Pid::from_raw(-*pid), Signal::SIGKILL);
                    s.killed = true;
                }
                Kind::OneShot { deadline, timed_out, .. } if !*timed_out && now >= *deadline => {
                    let _ = kill(Pid::from_raw(-*pid), Signal::SIGKILL);
                    *timed_out = true;
                }
                Kind::Process { .. } | Kind::OneShot { .. } => {}
            }
        }
        if let Some(s) = &mut self.shutdown {
            if !s.killed && now >= s.deadline {
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                s.killed = true;
            }
        }
    }

    /// Once shutting down and nothing is left in the namespace: answer and end.
    fn finish_shutdown(&mut self) -> bool {
        if self.shutdown.is_none() {
            return false;
        }
        // No child at all: nothing is left in the namespace (an orphan would be ours).
        if waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) != Err(Errno::ECHILD) {
            return false;
        }
        let fds: Vec<RawFd> = self.pumps.keys().copied().collect();
        for fd in fds {
            self.pump(fd);
        }
        let waiters = self.shutdown.take().map(|s| s.waiters).unwrap_or_default();
        for id in waiters {
            self.reply(id, Reply::Down);
            if let Some(conn) = self.conns.get_mut(&id) {
                let _ = conn.stream.set_nonblocking(false);
                let _ = conn.stream.write_all(&conn.output);
            }
        }
        true
    }

    /// Moves what a pipe holds into its log; at end of file, forgets the pipe.
    fn pump(&mut self, fd: RawFd) {
        let Some(pump) = self.pumps.get_mut(&fd) else { return };
        let mut buf = [0u8; 65536];
        loop {
            match pump.pipe.read(&mut buf) {
                Ok(0) => {
                    self.pumps.remove(&fd);
                    for child in self.children.values_mut() {
                        if child.pump == Some(fd) {
                            child.pump = None;
                        }
                    }
                    return;
                }
                Ok(n) => {
                    if let Err(e) = pump.log.write(&buf[..n]) {
                        eprintln!("netlab supervise: {}: {e}", pump.log.path().display());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// Makes a process's own directory, for its user alone; only where its files belong.
fn make_own_dir(dir: &Path, launch: &Launch, own: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if own != files::own_dir(dir, &launch.key) {
        return Err(format!("{} is not {}'s own directory", own.display(), launch.key));
    }
    let made = (|| {
        std::fs::create_dir_all(own)?;
        if let Some(user) = &launch.user {
            let (uid, gid) = (nix::unistd::Uid::from_raw(user.uid), nix::unistd::Gid::from_raw(user.gid));
            nix::unistd::chown(own, Some(uid), Some(gid))?;
        }
        std::fs::set_permissions(own, std::fs::Permissions::from_mode(0o700))
    })();
    made.map_err(|e: io::Error| format!("cannot make {}: {e}", own.display()))
}

/// Forks and execs `sh -c CMD` inside its node, in a session of its own, as its user, with
/// its environment and directory, its output into a pipe. Returns its pid (in our
/// namespace), its identity (as /proc shows it) and the pipe's reading end.
fn spawn(launch: &Launch) -> io::Result<(i32, Identity, OwnedFd)> {
    let entry = NodeEntry::of(launch.netns.as_ref())?;
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // The child says who it is, or what went wrong, on this pipe before exec.
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let cwd = CString::new(launch.cwd.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a directory with a NUL byte"))?;
    let user = launch.user.clone();
    let report_fd = report_w.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&launch.cmd)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w.try_clone()?))
        .stderr(Stdio::from(out_w));
    // SAFETY: we are single-threaded, so the forked child may allocate; it only sets up
    // its own namespaces, ids and directory and writes to its report pipe.
    unsafe {
        cmd.pre_exec(move || {
            let said = (|| {
                super::child::reset_signals()?;
                nix::unistd::setsid()?;
                entry.enter()?;
                if let Some(user) = &user {
                    user.become_user()?;
                }
                nix::unistd::chdir(cwd.as_c_str()).map_err(|e| {
                    io::Error::new(io::Error::from(e).kind(), format!("cannot change to directory {cwd:?}: {e}"))
                })?;
                let me: u32 = std::fs::read_link("/proc/self")?.to_string_lossy().parse().map_err(io::Error::other)?;
                super::identity::of(me)
            })();
            // SAFETY: the report pipe's writing end is open in this child until exec.
            let mut report = File::from_raw_fd(report_fd);
            let result = match &said {
                Ok(identity) => report.write_all(&serde_json::to_vec(identity).unwrap_or_default()),
                Err(e) => report.write_all(format!("error {e}").as_bytes()),
            };
            std::mem::forget(report);
            result?;
            said.map(|_| ())
        });
    }
    let spawned = cmd.spawn();
    drop(cmd);
    drop(report_w);
    let mut said = String::new();
    let _ = File::from(report_r).read_to_string(&mut said);
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let why = said.strip_prefix("error ").map_or_else(|| e.to_string(), str::to_string);
            return Err(io::Error::new(e.kind(), why));
        }
    };
    let pid = child.id() as i32;
    let identity: Identity = serde_json::from_str(&said).map_err(|e| io::Error::other(format!("{said}: {e}")))?;
    // Reaped by the poll loop, not by std's Child.
    drop(child);
    nix::fcntl::fcntl(&out_r, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))?;
    Ok((pid, identity, out_r))
}

/// `netlab supervise --dir DIR`: says "ready" on stdout once it takes requests (nothing
/// else is written there), then serves until it is shut down.
pub fn serve(dir: &Path) -> io::Result<()> {
    let ready = File::from(nix::unistd::dup(std::io::stdout())?);
    let null = File::open("/dev/null")?;
    nix::unistd::dup2_stdout(&null)?;
    main(dir, ready)
}
