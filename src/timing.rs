//! Where the time of a run goes: with `NETLAB_TIMINGS` set in the environment, each stage
//! (checks, connect, dump, each batch of ops, record writes) says on stderr how long it
//! took. For benchmarks (bench/profile-up-down.sh); nothing else reads it.

use std::time::Instant;

/// Reports `count` things of `what` done since `since`, when `NETLAB_TIMINGS` is set.
pub fn timing(what: &str, count: usize, since: Instant) {
    if std::env::var_os("NETLAB_TIMINGS").is_some() {
        eprintln!("timing: {what} x{count}: {:.1} ms", since.elapsed().as_secs_f64() * 1000.0);
    }
}
