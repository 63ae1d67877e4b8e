//! The files a lab's processes leave in its directory (`/run/netlab/<lab>/`), and what is
//! written in them. The supervisor writes them; `status`, `diff`, `logs` and `down` read
//! them, also when the supervisor is gone.
//!
//! ```text
//! supervisor.pid            the supervisor's identity (a pid file, as a forwarder's)
//! supervisor.sock           where it takes requests
//! supervisor.log            its own messages
//! processes/NODE:NAME.pid   a process's pid, while it runs
//! processes/NODE:NAME.json  its ProcessRecord: identity, start, last exit
//! processes/NODE:NAME.log   its output (and .log.1: see log.rs)
//! processes/NODE:NAME.d/    a directory of its own (NETLAB_DIR), for its files
//! runs/NODE:exec.N.log      the output of a node's N-th one-shot `exec` command
//! runs/NODE:NAME.ready.log  the output of the latest `cmd:` readiness check of a process
//! ```
//! `NODE:NAME` is a key: a node name and a process name, neither of which can hold `:`
//! or `/` (topology names are `[A-Za-z0-9_.-]`), which [`check_key`] holds every key to,
//! whoever wrote it.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::live::{Exit, Identity, LiveProcess, ProcessState};
use crate::places::{Dir, Name};

pub const SUPERVISOR_PID: &str = "supervisor.pid";
/// The temporary file [`write_atomic`] writes `supervisor.pid` through (left by a kill).
pub const SUPERVISOR_PID_TMP: &str = ".supervisor.pid.tmp";
pub const SUPERVISOR_SOCKET: &str = "supervisor.sock";
pub const SUPERVISOR_LOG: &str = "supervisor.log";
pub const PROCESSES: &str = "processes";
pub const RUNS: &str = "runs";

/// A key is `NODE:NAME`, each part a name as topologies allow (a node's name makes a
/// namespace name; a process name, or `exec.N`, `NAME.ready`). What is read back from a
/// file or a socket is checked as strictly as what is read from a topology, since it
/// becomes a file name.
pub fn check_key(key: &str) -> Result<(), String> {
    use crate::topology::names::{check_netns_name, check_process_name};
    let (node, name) = key.split_once(':').ok_or_else(|| format!("`{}` is not NODE:NAME", key.escape_default()))?;
    check_netns_name(node)
        .and_then(|()| check_process_name(name))
        .map_err(|e| format!("`{}`: {e}", key.escape_default()))
}

pub fn processes_dir(dir: &Path) -> PathBuf {
    dir.join(PROCESSES)
}

fn file(dir: &Path, key: &str, ext: &str) -> PathBuf {
    processes_dir(dir).join(format!("{key}.{ext}"))
}

pub fn pid_path(dir: &Path, key: &str) -> PathBuf {
    file(dir, key, "pid")
}

pub fn record_path(dir: &Path, key: &str) -> PathBuf {
    file(dir, key, "json")
}

pub fn log_path(dir: &Path, key: &str) -> PathBuf {
    file(dir, key, "log")
}

/// The process's own directory (its `NETLAB_DIR`).
pub fn own_dir(dir: &Path, key: &str) -> PathBuf {
    file(dir, key, "d")
}

/// The log of a one-shot command, by its key (`NODE:exec.N`, `NODE:NAME.ready`).
pub fn run_log_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(RUNS).join(format!("{key}.log"))
}

/// The key of a node's `n`-th one-shot `exec` command (from 1).
pub fn exec_key(node: &str, n: usize) -> String {
    format!("{node}:exec.{n}")
}

/// The key of the `cmd:` readiness check of the process `key`.
pub fn ready_key(key: &str) -> String {
    format!("{key}.ready")
}

/// What the supervisor knows of one process, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub key: String,
    /// The shell command (`sh -c`).
    pub cmd: String,
    /// The process of the latest start.
    pub identity: Identity,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// How many times it was started.
    pub starts: u32,
    /// Whether the latest start has exited.
    pub exited: bool,
    /// How the latest run that ended, ended (kept when it is started again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<LastExit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    #[serde(flatten)]
    pub exit: Exit,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

impl ProcessRecord {
    pub fn load(dir: &Path, key: &str) -> io::Result<Option<ProcessRecord>> {
        check_key(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let text = match read(&record_path(dir, key)) {
            Ok(Some(t)) => String::from_utf8_lossy(&t).into_owned(),
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let record: ProcessRecord = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", record_path(dir, key).display()))
        })?;
        if record.key != key {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not {key}'s", record_path(dir, key).display()),
            ));
        }
        Ok(Some(record))
    }

    /// The process as it is now: running (and still the same process), exited (with how),
    /// or gone without a word (its supervisor died, and took it along).
    pub fn state(&self) -> ProcessState {
        match (self.exited, self.last_exit) {
            (true, Some(last)) => ProcessState::Exited(last.exit),
            (false, _) if super::identity::is_running(&self.identity) => ProcessState::Running,
            (true, None) | (false, _) => ProcessState::Gone,
        }
    }

    /// What `diff` and `status` see of it.
    pub fn live(&self) -> LiveProcess {
        LiveProcess {
            identity: self.identity,
            state: self.state(),
            started_at: self.started_at,
            starts: self.starts,
            last_exit: self.last_exit.map(|l| (l.exit, l.at)),
        }
    }
}

/// Every process key that has a record in `dir`, sorted.
pub fn keys(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(processes_dir(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(key) = name.strip_suffix(".json") {
            if check_key(key).is_ok() {
                keys.push(key.to_string());
            }
        }
    }
    keys.sort();
    Ok(keys)
}

/// Writes `bytes` to `path` whole, in netlab's own manner (see `places`): a temporary
/// file, made fresh, renamed over it; never through a link.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = place(path)?;
    let tmp = Name::new(format!(".{name}.tmp"))?;
    dir.write_atomically(&name, &tmp, bytes)
}

/// The whole of the file at `path`, never read through a link; `None` when there is none.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let (dir, name) = place(path)?;
    dir.read(&name)
}

/// Removes the file at `path` (not what a link there points to); whether it was there.
pub fn remove(path: &Path) -> io::Result<bool> {
    let (dir, name) = place(path)?;
    dir.remove(&name)
}

/// The directory of `path`, opened as one of netlab's, and its file name.
fn place(path: &Path) -> io::Result<(Dir, Name)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other(format!("{}: no file name", path.display())))?;
    let parent = path.parent().unwrap_or(Path::new("."));
    let dir = Dir::open(parent)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", parent.display())))?;
    Ok((dir, Name::new(name)?))
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_like_names() {
        assert!(check_key("web:http").is_ok());
        assert!(check_key("redis1:redis-server").is_ok());
        for bad in ["web", ":x", "x:", "../x:y", "a:b/c", "a:..", "a:b:c", "a b:c", "a:\0"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
