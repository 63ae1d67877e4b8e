//! What every program netlab starts gets between fork and exec: no blocked signal and no
//! ignored one. netlab blocks the signals it reads from a signalfd and ignores SIGPIPE,
//! and whoever started netlab may have ignored others; both survive exec, and a program
//! started with SIGTERM blocked cannot be stopped politely.

use std::io;

/// Unblocks every signal and puts the standard ones (1 to 31) back to their default
/// action. Async-signal-safe: for a child between fork and exec.
pub fn reset_signals() -> io::Result<()> {
    nix::sys::signal::SigSet::empty().thread_set_mask()?;
    for signal in 1..32 {
        // SAFETY: setting a disposition to SIG_DFL; SIGKILL and SIGSTOP just fail.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    Ok(())
}
