//! `netlab run [TOPOLOGY] [--node NODE] -- CMD [ARGS]...`: a lab as a fixture. The lab is
//! brought up in a throwaway host of its own (network, mount and PID namespaces, its own
//! /run and /etc/netns), CMD runs there (on the host side, or inside NODE), the lab is
//! taken down, and `netlab run` exits with CMD's exit code. Nothing of it is on the real
//! host: not its namespaces, links, records, mounts or processes; a `kill -9` of `netlab
//! run` ends all of it with the throwaway's PID 1.
//!
//! Without root, it first makes a user namespace in which it is root ([`userns`]); what
//! still needs the real root is refused up front ([`refusal`]). A user namespace can only
//! be made by a process with one thread, so nothing of netlab's may start a thread before
//! `netlab run` gets there (main.rs, commands/run.rs).
//!
//! The processes: `netlab run` itself (outside the PID namespace: it waits, passes
//! signals on, and its death is the throwaway's) and the throwaway's PID 1 ([`init`]),
//! which runs `netlab up`, CMD and `netlab down` as its children.
//!
//! Exit codes: CMD's own; 125 when netlab fails (an invalid topology, a lab that does not
//! come up, a refusal); 126 when CMD cannot be run; 127 when it is not found; 128+n when
//! it was killed by signal n (as `docker run` and shells do).

pub mod host;
pub mod init;
pub mod refusal;
pub mod userns;

use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// netlab itself failed: the topology, the throwaway host, the lab.
pub const EXIT_NETLAB: i32 = 125;
/// The command exists but cannot be run.
pub const EXIT_CANNOT_RUN: i32 = 126;
/// There is no such command.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Forks the throwaway's PID 1 and waits for it, passing on the signals sent to us; its
/// exit code, or 128+n when a signal killed it.
pub fn start_throwaway(job: init::Job) -> Result<i32, String> {
    // Blocked before the fork, so neither we nor the child die of one in between.
    let signals = init::signal_set();
    signals.thread_block().map_err(|e| format!("sigprocmask: {e}"))?;
    let fd = SignalFd::new(&signals).map_err(|e| format!("signalfd: {e}"))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
        .map_err(|e| format!("cannot make the throwaway's PID namespace: {e}"))?;
    // The child watches this pipe's far end, held only by us, to know we are alive.
    let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: this process has one thread (see main.rs), so the child may go on running
    // netlab's code.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(alive_w);
            drop(fd);
            // SAFETY: a plain prctl on the only thread.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let mut p =
                libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&alive_r), events: libc::POLLIN, revents: 0 };
            // SAFETY: polling one valid descriptor, without waiting.
            if unsafe { libc::poll(&mut p, 1, 0) } != 0 {
                // We were killed between fork and prctl: nothing to do for anyone.
                std::process::exit(EXIT_NETLAB);
            }
            drop(alive_r);
            init::main(job)
        }
        ForkResult::Parent { child } => {
            drop(alive_r);
            let code = loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, signal, _)) => break 128 + signal as i32,
                    Ok(_) => {}
                    Err(e) => return Err(format!("waiting for the throwaway host: {e}")),
                }
                let Ok(Some(info)) = fd.read_signal() else { continue };
                let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
                // From a process: pass it on. From the terminal: the child has it already.
                if signal != Signal::SIGCHLD && info.ssi_code <= 0 {
                    let _ = kill(child, signal);
                }
            };
            drop(alive_w);
            Ok(code)
        }
    }
}
