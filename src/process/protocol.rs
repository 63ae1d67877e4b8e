//! What netlab asks a lab's supervisor, and what it answers: one JSON document a line each
//! way on its unix socket (`supervisor.sock`, root's alone: /run/netlab is).
//!
//! The supervisor decides nothing: a [`Launch`] carries everything a start needs, already
//! looked up by the caller (the user's ids, the environment, the directory).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::node::{Credentials, NetnsRef};
use crate::live::{Exit, Identity};

/// One command to run inside a node, as `sh -c CMD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// `NODE:NAME`: names its files.
    pub key: String,
    pub cmd: String,
    /// The node's namespace; `None`: the host's.
    pub netns: Option<NetnsRef>,
    /// Whom it runs as; `None`: as netlab (root).
    pub user: Option<Credentials>,
    /// Its whole environment.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// A directory of its own, made (and given to its user) before it starts, kept across
    /// restarts, gone with the lab: `NETLAB_DIR` in its environment says where.
    pub own_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Start a long-running process (its output goes to its log, its exit to its record).
    Start { launch: Launch },
    /// Stop one: SIGTERM to its process group, then SIGKILL after `grace_ms`.
    Stop { key: String, grace_ms: u64 },
    /// Run a command to its end and say how it ended; its output goes to the log of its
    /// key under `runs/`, made anew.
    Run {
        launch: Launch,
        /// SIGKILL it (and its group) after this long.
        timeout_ms: u64,
    },
    /// Stop everything in the lab's PID namespace (SIGTERM, then SIGKILL after
    /// `grace_ms`), answer, and exit.
    Shutdown { grace_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Started {
        identity: Identity,
    },
    /// A stopped process, and how it ended.
    Stopped {
        exit: Exit,
    },
    /// Nothing by that key runs.
    NotRunning,
    /// A `Run` ended (or was killed at its timeout: `timed_out`).
    Exited {
        exit: Exit,
        timed_out: bool,
    },
    /// Everything is stopped; the supervisor exits.
    Down,
    Error {
        message: String,
    },
}
