//! PID 1 of `netlab run`'s throwaway host. It makes the host ([`super::host`]), brings
//! the lab up (`netlab up`, a child of its own), runs the command (on the host side, or
//! inside a node as `netlab exec` would), takes the lab down (`netlab down`) and exits
//! with the command's exit code. Being PID 1, its exit makes the kernel kill whatever is
//! left in the throwaway; its parent-death signal makes a `kill -9` of `netlab run` do
//! the same.
//!
//! Signals: SIGINT, SIGTERM and SIGHUP sent to `netlab run` (by a process: `kill`, a CI
//! runner) are passed on to the command; those a terminal sends to its whole foreground
//! process group reach the command by themselves and are not sent twice. While the lab
//! comes up, `up` gets them (and rolls back); `down` is not interrupted.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{EXIT_CANNOT_RUN, EXIT_NETLAB, EXIT_NOT_FOUND};
use crate::live::Exit;
use crate::process::node::{NetnsRef, NodeEntry};

/// What the throwaway host is for.
#[derive(Debug, Clone)]
pub struct Job {
    /// netlab itself, to run `netlab up` and `netlab down`.
    pub exe: PathBuf,
    pub topology: PathBuf,
    pub lab: String,
    /// Run the command inside this node's namespace (`None`: the host side).
    pub node: Option<(String, Option<NetnsRef>)>,
    pub command: Vec<OsString>,
}

/// The signals PID 1 reads rather than dies of (as PID 1 it would ignore them anyway).
pub fn signal_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Runs the job and exits with its code.
pub fn main(job: Job) -> ! {
    let code = run(&job).unwrap_or_else(|message| {
        eprintln!("netlab run: {message}");
        EXIT_NETLAB
    });
    let _ = io::stdout().flush();
    std::process::exit(code)
}

/// To whom an interrupting signal goes while waiting for a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every one (a child in its own process group, which the terminal does not reach).
    All,
    /// Those sent by a process (the terminal's reach the child directly).
    FromProcesses,
    /// None.
    Never,
}

fn run(job: &Job) -> Result<i32, String> {
    super::host::prepare()?;
    let signals = SignalFd::new(&signal_set()).map_err(|e| format!("signalfd: {e}"))?;

    let t = Instant::now();
    let topology = job.topology.as_os_str();
    let (up, interrupted) = run_netlab(job, &signals, &[OsString::from("up"), topology.into()], Pass::All)?;
    if let Some(signal) = interrupted {
        eprintln!("netlab run: interrupted ({}) while lab {} came up", signal.as_str(), job.lab);
        return Ok(128 + signal as i32);
    }
    if !up.0.success() {
        eprint!("{}", up.1);
        eprintln!("netlab run: lab {} did not come up ({})", job.lab, up.0);
        return Ok(EXIT_NETLAB);
    }
    eprintln!("netlab run: lab {} is up ({} ms)", job.lab, t.elapsed().as_millis());

    let code = match spawn_command(job) {
        Ok(pid) => crate::process::identity::exit_of(wait_for(&signals, pid, Pass::FromProcesses).0)
            .map_or(EXIT_NETLAB, |e| e.shell_code()),
        Err(Failure { code, message }) => {
            eprintln!("netlab run: {message}");
            code
        }
    };

    let (down, _) = run_netlab(job, &signals, &[OsString::from("down"), topology.into()], Pass::Never)?;
    if !down.0.success() {
        eprint!("{}", down.1);
        eprintln!("netlab run: lab {} did not come down cleanly ({}); the throwaway host ends anyway", job.lab, down.0);
    }
    Ok(code)
}

/// Runs `netlab ARGS` in a process group of its own, its output kept; how it ended and
/// what it said, and the signal that interrupted it, if one did.
fn run_netlab(
    job: &Job,
    signals: &SignalFd,
    args: &[OsString],
    pass: Pass,
) -> Result<((Exit, String), Option<Signal>), String> {
    let mut output = scratch_file().map_err(|e| format!("cannot make a file for netlab's output: {e}"))?;
    let mut cmd = Command::new(&job.exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(output.try_clone().map_err(|e| e.to_string())?)
        .stderr(output.try_clone().map_err(|e| e.to_string())?)
        .process_group(0);
    // SAFETY: reset_signals is async-signal-safe.
    unsafe { cmd.pre_exec(crate::process::child::reset_signals) };
    let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", job.exe.display()))?;
    let (status, interrupted) = wait_for(signals, Pid::from_raw(child.id() as i32), pass);
    let mut text = String::new();
    let _ = output.rewind().and_then(|()| output.read_to_string(&mut text));
    Ok(((crate::process::identity::exit_of(status).unwrap_or(Exit::Code(-1)), text), interrupted))
}

/// An unnamed file in the throwaway's own /run (a tmpfs: gone with it).
fn scratch_file() -> io::Result<File> {
    let path = Path::new("/run").join(format!(".netlab-run-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

struct Failure {
    code: i32,
    message: String,
}

/// Starts the command, on the host side or inside its node, in our process group (so a
/// terminal's signals reach it as they would without netlab).
fn spawn_command(job: &Job) -> Result<Pid, Failure> {
    let netlab = |message: String| Failure { code: EXIT_NETLAB, message };
    let (program, args) = job.command.split_first().ok_or_else(|| netlab("no command to run".into()))?;
    let entry = match &job.node {
        Some((node, Some(netns))) => {
            Some(NodeEntry::open(netns).map_err(|e| netlab(format!("cannot enter node {node}: {e}")))?)
        }
        Some((_, None)) | None => None,
    };
    let path = command_path(&job.exe);
    // As a shell does: a command that is nowhere on PATH is "not found", even when a
    // directory on PATH could not be searched (where execvp would say EACCES).
    if !program.as_encoded_bytes().contains(&b'/') && !on_path(program, &path) {
        return Err(Failure {
            code: EXIT_NOT_FOUND,
            message: format!("{}: command not found", program.to_string_lossy()),
        });
    }
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| netlab(format!("pipe: {e}")))?;
    let report_fd = std::os::fd::AsRawFd::as_raw_fd(&report_w);
    let mut cmd = Command::new(program);
    cmd.args(args).env("PATH", &path);
    // SAFETY: this process is single-threaded, so the child may allocate; it resets its
    // signals, enters the node and says so on its report pipe if that fails.
    unsafe {
        cmd.pre_exec(move || {
            crate::process::child::reset_signals()?;
            if let Some(entry) = &entry {
                if let Err(e) = entry.enter() {
                    let mut report = <File as std::os::fd::FromRawFd>::from_raw_fd(report_fd);
                    let _ = report.write_all(e.to_string().as_bytes());
                    std::mem::forget(report);
                    return Err(e);
                }
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    drop(cmd);
    drop(report_w);
    let mut said = String::new();
    let _ = File::from(report_r).read_to_string(&mut said);
    let name = program.to_string_lossy();
    match spawned {
        Ok(child) => Ok(Pid::from_raw(child.id() as i32)),
        Err(_) if !said.is_empty() => Err(netlab(said)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(Failure { code: EXIT_NOT_FOUND, message: format!("{name}: command not found") })
        }
        Err(e) => Err(Failure { code: EXIT_CANNOT_RUN, message: format!("{name}: cannot run it: {e}") }),
    }
}

/// The directory in the throwaway's own /run where `netlab` is this netlab.
const OWN_BIN: &str = "/run/.netlab-run-bin";

/// The command's PATH: the caller's, after a directory in which `netlab` is the netlab
/// that runs the lab (`exe`), so that `netlab link ...` in the command works whether or not
/// this netlab is on the caller's PATH (`./target/release/netlab run`, or a dist binary
/// of another name), and is never an older one that is. Without that directory (it could
/// not be made), the caller's PATH as it is.
fn command_path(exe: &Path) -> OsString {
    let given = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let bin = Path::new(OWN_BIN);
    let made = std::fs::create_dir_all(bin).and_then(|()| match std::fs::symlink_metadata(bin.join("netlab")) {
        Ok(_) => Ok(()),
        Err(_) => std::os::unix::fs::symlink(exe, bin.join("netlab")),
    });
    match made {
        Ok(()) => std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&given)))
            .unwrap_or(given),
        Err(_) => given,
    }
}

/// Whether a file `program` is in a directory of `path` (executable or not: one that is
/// not is "cannot run", as for a shell).
pub(super) fn on_path(program: &std::ffi::OsStr, path: &std::ffi::OsStr) -> bool {
    std::env::split_paths(path).any(|dir| dir.join(program).is_file())
}

/// Waits for `pid` to end, reaping whatever else ends meanwhile (PID 1 inherits every
/// orphan) and passing interrupting signals on as `pass` says.
fn wait_for(signals: &SignalFd, pid: Pid, pass: Pass) -> (WaitStatus, Option<Signal>) {
    let mut interrupted = None;
    loop {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(status) if status.pid() == Some(pid) => return (status, interrupted),
                Ok(_) => {}
                Err(_) => return (WaitStatus::Exited(pid, EXIT_NETLAB), interrupted),
            }
        }
        let Ok(Some(info)) = signals.read_signal() else { continue };
        let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
        if signal == Signal::SIGCHLD {
            continue;
        }
        interrupted = Some(signal);
        // SI_USER, SI_QUEUE, SI_TKILL: sent by a process. SI_KERNEL: by the terminal, to
        // the whole foreground process group.
        let from_process = info.ssi_code <= 0;
        if pass == Pass::All || (pass == Pass::FromProcesses && from_process) {
            let _ = kill(pid, signal);
        }
    }
}
