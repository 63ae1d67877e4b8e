//! What SIGINT and SIGTERM do while netlab changes the kernel: `up` stops after its current
//! batch and undoes what it did ([`catch_interrupts`]); a teardown ignores them, since one
//! that stops half-way leaks ([`ignore_interrupts`]).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT/SIGTERM while `up` runs: the run stops after its current batch and
/// undoes what it did, instead of dying half-way.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From here on SIGINT and SIGTERM only set [`INTERRUPTED`].
pub fn catch_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// From here on SIGINT and SIGTERM are ignored: a teardown that stops half-way leaks.
pub fn ignore_interrupts() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: SIG_IGN installs no code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}
