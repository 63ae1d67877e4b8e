//! The userspace impairment engine: a relay that carries Ethernet frames between two
//! devices (two veth ends, `a` and `b`), each direction through its own delay line.
//!
//! A link A <-> B impaired in userspace is laid out as two veth pairs and a relay in the
//! middle: `A:e0 <-> W:a` and `B:e0 <-> W:b`, the relay running in W between W:a and
//! W:b. A and B see a plain veth (no address, route or device of theirs changes), and the
//! relay needs no TUN device (root-only, and unusable in an unprivileged `netlab run`),
//! only CAP_NET_RAW in W's namespace. W's ends should carry no addresses and no IPv6, so
//! that W's own stack sends nothing into the link.
//!
//! [`run`] opens a packet socket on each end ([`socket`]), starts the loop ([`engine`])
//! and the control channel ([`control`]), writes the counters to a stats file every
//! second, and stops on SIGTERM or SIGINT.
//!
//! # Stats file
//!
//! JSON, written atomically every second and on exit. `seed` is the seed in force for a
//! direction whose impairment has none (chosen at random at start): a run whose fates
//! must be replayed can be, with that seed. `a_to_b` counts frames read from `a` and sent
//! out of `b`; each direction shows its impairment in the text form and its
//! [`Tally`](crate::impair::Tally):
//!
//! ```json
//! { "version": 1, "a": "a", "b": "b", "pid": 42, "running": true, "updated": 1767225600,
//!   "seed": 1234,
//!   "a_to_b": { "impairment": "delay=20ms,loss=1%", "received": 100, "received_bytes": 9800,
//!               "sent": 99, "sent_bytes": 9702, "lost": 1, "duplicated": 0, "corrupted": 0,
//!               "reordered": 0, "over_limit": 0, "no_carrier": 0, "send_errors": 0, "bad": 0,
//!               "waiting": 2 },
//!   "b_to_a": { "impairment": "none", ... } }
//! ```

pub mod control;
mod engine;
mod socket;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use serde::{Deserialize, Serialize};

use super::fate;
use super::line::{Counters, Line, Tally};
use super::Impairment;
use crate::tunnel::stats::write_json;
use crate::tunnel::sys::wait_signal;

/// The current version of the stats file's shape.
pub const STATS_VERSION: u32 = 1;

/// What one relay does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The two devices, in the relay's network namespace.
    pub a: String,
    pub b: String,
    /// What frames from `a` to `b` meet, and from `b` to `a`.
    pub a_to_b: Impairment,
    pub b_to_a: Impairment,
    /// Where to write the counters as JSON (every second and on exit).
    pub stats: Option<PathBuf>,
    /// Where to listen for impairment changes (a unix socket the relay creates).
    pub control: Option<PathBuf>,
}

impl RelayConfig {
    /// Its command line after `netlab`: what `up` starts.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["relay".to_string(), "--a".into(), self.a.clone(), "--b".into(), self.b.clone()];
        args.extend(["--a-to-b".to_string(), self.a_to_b.to_string(), "--b-to-a".into(), self.b_to_a.to_string()]);
        if let Some(stats) = &self.stats {
            args.extend(["--stats".to_string(), stats.display().to_string()]);
        }
        if let Some(control) = &self.control {
            args.extend(["--control".to_string(), control.display().to_string()]);
        }
        args
    }

    /// Everything wrong with it, one sentence each; checked before anything is opened.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.a == self.b {
            problems.push(format!("the relay's two ends are the same device ({})", self.a));
        }
        for (name, imp) in [("a-b", &self.a_to_b), ("b-a", &self.b_to_a)] {
            for p in imp.problems() {
                problems.push(format!("{name}: {p}"));
            }
        }
        problems
    }
}

/// A relay's counters, as written to its stats file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStats {
    pub version: u32,
    pub a: String,
    pub b: String,
    pub pid: u32,
    /// False in the last write, made as the relay exits.
    pub running: bool,
    /// Seconds since the Unix epoch at this write.
    pub updated: u64,
    /// The seed of a direction whose impairment has none.
    pub seed: u64,
    pub a_to_b: DirectionStats,
    pub b_to_a: DirectionStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionStats {
    /// The impairment in force, in its text form.
    pub impairment: String,
    #[serde(flatten)]
    pub tally: Tally,
}

/// Reads a relay's stats file.
pub fn read_stats(path: &std::path::Path) -> io::Result<RelayStats> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a relay stats file: {e}", path.display()))
    })
}

/// A change the control channel asks for: the impairment of each direction to set
/// (`None`: leave it), and where to say it is in force.
struct Update {
    set: [Option<Impairment>; 2],
    done: mpsc::Sender<()>,
}

/// What the relay's threads share.
struct Shared {
    wake: socket::Wake,
    stopping: AtomicBool,
    updates: Mutex<Vec<Update>>,
    /// The impairments in force, as text, for the stats file and `get`.
    shown: Mutex<[String; 2]>,
}

impl Shared {
    fn set_shown(&self, d: usize, imp: &Impairment) {
        self.shown.lock().unwrap_or_else(|e| e.into_inner())[d] = imp.to_string();
    }

    fn shown(&self) -> [String; 2] {
        self.shown.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs the relay in the calling thread's network namespace until SIGTERM or SIGINT, then
/// returns after the last stats write. Errors: a configuration that does not make sense,
/// a device or control socket that cannot be opened, or a device that goes away.
pub fn run(config: RelayConfig) -> io::Result<()> {
    if let Some(problem) = config.problems().into_iter().next() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, problem));
    }
    let sockets = [socket::PacketSocket::open(&config.a)?, socket::PacketSocket::open(&config.b)?];
    let seed = fate::random_seed();
    let counters = [Arc::new(Counters::default()), Arc::new(Counters::default())];
    let shared = Arc::new(Shared {
        wake: socket::Wake::new()?,
        stopping: AtomicBool::new(false),
        updates: Mutex::new(Vec::new()),
        shown: Mutex::new([config.a_to_b.to_string(), config.b_to_a.to_string()]),
    });
    for imp in [&config.a_to_b, &config.b_to_a] {
        // Built now rather than on the loop's first draw (see control).
        let _ = super::dist::table(imp.distribution);
    }
    let lines = [Line::new(config.a_to_b.clone(), 0, seed), Line::new(config.b_to_a.clone(), 1, seed)];
    let listener = config.control.as_deref().map(control::listen).transpose()?;

    // Blocked before the threads start, so they inherit the mask and the signals are
    // left for sigtimedwait below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    let old_mask = signals.thread_swap_mask(SigmaskHow::SIG_BLOCK).map_err(io::Error::from)?;

    let mut engine = engine::Engine::new(sockets, lines, counters.clone());
    let sh = shared.clone();
    let looping = thread::Builder::new().name("relay".into()).spawn(move || engine.run(&sh));
    let stop_control = socket::Wake::new()?;
    let controlling = match (&listener, &looping) {
        (Some(l), Ok(_)) => Some(control::serve(l, &shared, &stop_control)?),
        _ => None,
    };

    let write_stats = |running: bool| {
        let Some(path) = &config.stats else { return Ok(()) };
        let shown = shared.shown();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs());
        let stats = RelayStats {
            version: STATS_VERSION,
            a: config.a.clone(),
            b: config.b.clone(),
            pid: std::process::id(),
            running,
            updated: now.unwrap_or(0),
            seed,
            a_to_b: DirectionStats { impairment: shown[0].clone(), tally: counters[0].tally() },
            b_to_a: DirectionStats { impairment: shown[1].clone(), tally: counters[1].tally() },
        };
        write_json(path, &stats)
    };

    let mut result = looping.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
    if result.is_ok() {
        let mut warned = false;
        loop {
            if let Err(e) = write_stats(true) {
                if !warned {
                    eprintln!("netlab relay: cannot write stats: {e}");
                    warned = true;
                }
            }
            if wait_signal(&signals, 1).is_some() {
                break;
            }
            if looping.as_ref().is_ok_and(|h| h.is_finished()) {
                break;
            }
        }
    }
    shared.stopping.store(true, Relaxed);
    shared.wake.wake();
    stop_control.wake();
    if let Ok(handle) = looping {
        let outcome = handle.join().unwrap_or_else(|_| Err(io::Error::other("the relay thread panicked")));
        if result.is_ok() {
            result = outcome;
        }
    }
    if let Some(h) = controlling {
        let _ = h.join();
    }
    if let (Some(path), Some(_)) = (&config.control, &listener) {
        let _ = std::fs::remove_file(path);
    }
    if let Err(e) = write_stats(false) {
        eprintln!("netlab relay: cannot write stats: {e}");
    }
    // A second signal that came while stopping is taken here rather than left to kill
    // the process when the mask is restored.
    while wait_signal(&signals, 0).is_some() {}
    let _ = old_mask.thread_set_mask();
    result
}
