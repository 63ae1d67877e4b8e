//! Processes in a lab's nodes: long-running servers (`[[nodes.X.processes]]`) and one-shot
//! commands (`exec = [...]`), each run inside its node exactly as `netlab exec` runs a
//! command, and all of a lab's processes contained in one PID namespace whose PID 1 is the
//! lab's supervisor (`netlab supervise`).
//!
//! Why a PID namespace and not a cgroup (bench/containment.sh measures both): nothing
//! inside can leave a PID namespace, not even a root process, while a root process can
//! move itself out of any cgroup; ending the supervisor makes the kernel kill every process
//! left inside, so a `down` after a `kill -9` of `up` at any moment still ends everything;
//! and it needs no cgroup delegation, so `netlab run` works the same as an ordinary user
//! (inside a user namespace) as it does as root.
//!
//! The parts: [`client`] starts and talks to the [`supervisor`]; [`node`] enters a node;
//! [`ready`] checks readiness; [`log`] caps output; [`files`] holds what survives netlab
//! (identities, exits, logs) under the lab's directory; [`identity`] tells a process from
//! any other that might take its pid; [`child`] is what every program netlab starts gets.
//!
//! This module runs programs; which ones, and when, the plan decides (`ProcessStart`,
//! `Exec` and the supervisor's ops), and the kernel layer puts together what each is told.

pub mod child;
pub mod client;
pub mod files;
pub mod identity;
pub mod log;
pub mod node;
pub mod protocol;
pub mod ready;
pub mod supervisor;

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

pub use client::Supervisor;
pub use protocol::Launch;

/// What a process is and how it ended, as the rest of netlab sees it (plain data, kept
/// with what else the kernel shows of a lab).
pub use crate::live::{Exit, Identity, NsId, ProcessState};
use crate::topology::Ready;
use protocol::{Reply, Request};

/// How long a process has to end after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a one-shot `exec` command may run.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// How many lines of a log an error shows.
const TAIL_LINES: usize = 10;

/// Why a process did not start, get ready, run to success or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// The supervisor could not be started or reached, or refused.
    Supervisor(String),
    /// It could not be started at all (its user, its node, its directory...).
    Start { key: String, why: String },
    /// It ended before it was ready.
    Exited { key: String, exit: Exit, log: Vec<String> },
    /// Its check did not pass in time.
    NotReady { key: String, check: Ready, within: Duration, why: String, log: Vec<String> },
    /// A one-shot command failed (or was killed at its timeout).
    Failed { key: String, cmd: String, exit: Exit, timed_out: bool, output: Vec<String> },
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = |f: &mut fmt::Formatter<'_>, what: &str, lines: &[String]| -> fmt::Result {
            if lines.is_empty() {
                write!(f, "; {what} is empty")
            } else {
                write!(f, "; the last lines of {what}:")?;
                lines.iter().try_for_each(|l| write!(f, "\n    {l}"))
            }
        };
        match self {
            ProcessError::Supervisor(why) => write!(f, "{why}"),
            ProcessError::Start { key, why } => write!(f, "process {key} did not start: {why}"),
            ProcessError::Exited { key, exit, log } => {
                write!(f, "process {key} ended before it was ready ({exit})")?;
                tail(f, "its log", log)
            }
            ProcessError::NotReady { key, check, within, why, log } => {
                let within = crate::topology::format_duration(*within);
                write!(f, "process {key} was not ready within {within} ({check}: {why})")?;
                tail(f, "its log", log)
            }
            // Said after the op, which names the command.
            ProcessError::Failed { timed_out: true, output, .. } => {
                write!(f, "it did not end within {}s and was killed", EXEC_TIMEOUT.as_secs())?;
                tail(f, "its output", output)
            }
            ProcessError::Failed { exit, output, .. } => {
                write!(f, "it failed ({exit})")?;
                tail(f, "its output", output)
            }
        }
    }
}

impl From<std::io::Error> for ProcessError {
    fn from(e: std::io::Error) -> Self {
        ProcessError::Supervisor(e.to_string())
    }
}

fn unexpected(reply: Reply) -> ProcessError {
    match reply {
        Reply::Error { message } => ProcessError::Supervisor(message),
        other => ProcessError::Supervisor(format!("the supervisor answered {other:?}")),
    }
}

/// Starts `launch` as a long-running process under `supervisor`: its identity, once it
/// runs (not yet ready).
pub fn start(supervisor: &Supervisor, launch: &Launch) -> Result<Identity, ProcessError> {
    match supervisor.request(&Request::Start { launch: launch.clone() }, Duration::from_secs(10))? {
        Reply::Started { identity } => Ok(identity),
        Reply::Error { message } => Err(ProcessError::Start { key: launch.key.clone(), why: message }),
        other => Err(unexpected(other)),
    }
}

/// Polls `check` until it passes, the process ends, or `within` passes; a port is looked
/// for in the process's node (`launch.netns`).
pub fn wait_ready(
    supervisor: &Supervisor,
    launch: &Launch,
    check: &Ready,
    within: Duration,
) -> Result<(), ProcessError> {
    let dir = supervisor.dir();
    let deadline = Instant::now() + within;
    let entry = node::NodeEntry::of(launch.netns.as_ref())?;
    let mut pause = Duration::from_millis(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (passed, why) = match check {
            Ready::Tcp(port) => match ready::has_socket(entry.netns_file(), ready::Proto::Tcp, *port)? {
                true => (true, String::new()),
                false => (false, format!("nothing listens on port {port} in its namespace")),
            },
            Ready::Udp(port) => match ready::has_socket(entry.netns_file(), ready::Proto::Udp, *port)? {
                true => (true, String::new()),
                false => (false, format!("no UDP socket is bound to port {port} in its namespace")),
            },
            Ready::Cmd(cmd) => {
                let probe =
                    Launch { key: files::ready_key(&launch.key), cmd: cmd.clone(), own_dir: None, ..launch.clone() };
                match run(supervisor, &probe, left.max(Duration::from_millis(100))) {
                    Ok(()) => (true, String::new()),
                    Err(ProcessError::Failed { exit, timed_out, output, .. }) => {
                        let last = output.last().map(|l| format!(": {l}")).unwrap_or_default();
                        (false, if timed_out { "it did not end in time".into() } else { format!("{exit}{last}") })
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if passed {
            return Ok(());
        }
        let log = || log::tail_lines(&files::log_path(dir, &launch.key), TAIL_LINES);
        if let Ok(Some(record)) = files::ProcessRecord::load(dir, &launch.key) {
            if let ProcessState::Exited(exit) = record.state() {
                return Err(ProcessError::Exited { key: launch.key.clone(), exit, log: log() });
            }
        }
        if Instant::now() >= deadline {
            return Err(ProcessError::NotReady {
                key: launch.key.clone(),
                check: check.clone(),
                within,
                why,
                log: log(),
            });
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Runs `launch` to its end (killed after `timeout`); an error unless it exits 0.
pub fn run(supervisor: &Supervisor, launch: &Launch, timeout: Duration) -> Result<(), ProcessError> {
    let request = Request::Run { launch: launch.clone(), timeout_ms: timeout.as_millis() as u64 };
    match supervisor.request(&request, timeout + Duration::from_secs(10))? {
        Reply::Exited { exit, timed_out: false } if exit.success() => Ok(()),
        Reply::Exited { exit, timed_out } => Err(ProcessError::Failed {
            key: launch.key.clone(),
            cmd: launch.cmd.clone(),
            exit,
            timed_out,
            output: log::tail_lines(&files::run_log_path(supervisor.dir(), &launch.key), TAIL_LINES),
        }),
        other => Err(unexpected(other)),
    }
}

/// Stops the process `key` (SIGTERM to its group, SIGKILL after `grace`); how it ended, or
/// `None` when it was not running.
pub fn stop(supervisor: &Supervisor, key: &str, grace: Duration) -> Result<Option<Exit>, ProcessError> {
    let request = Request::Stop { key: key.to_string(), grace_ms: grace.as_millis() as u64 };
    match supervisor.request(&request, grace + Duration::from_secs(10))? {
        Reply::Stopped { exit } => Ok(Some(exit)),
        Reply::NotRunning => Ok(None),
        other => Err(unexpected(other)),
    }
}

/// Ends every process of the lab whose directory is `dir` (its supervisor, and with it
/// its PID namespace) and removes their files; whether there was a supervisor to end.
pub fn stop_lab(dir: &Path, grace: Duration) -> std::io::Result<bool> {
    let found = Supervisor::find(dir);
    if let Some(supervisor) = &found {
        supervisor.shutdown(grace)?;
    }
    for name in [files::SUPERVISOR_SOCKET, files::SUPERVISOR_PID, files::SUPERVISOR_PID_TMP, files::SUPERVISOR_LOG] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for sub in [files::PROCESSES, files::RUNS] {
        match std::fs::remove_dir_all(dir.join(sub)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    // The lab's directory too, once nothing else (a forwarder's files) is in it.
    let _ = std::fs::remove_dir(dir);
    Ok(found.is_some())
}
