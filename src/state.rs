//! The lab record: what netlab applied for a lab, under `/run/netlab/<lab>.json`, and the
//! lock that keeps two netlab runs off one lab (`/run/netlab/<lab>.lock`).
//!
//! `/run` is tmpfs, so the record dies with the kernel state it describes at reboot. It is
//! written before each batch of ops is sent (temp file + rename, never half-written), so
//! a netlab killed at any moment leaves a record that `down` can finish from: ops that were
//! about to be sent are marked `pending`, and `down` deletes those only if they exist.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[allow(deprecated)]
use nix::fcntl::{flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::live::NsId;
use crate::plan::Op;

pub const STATE_DIR: &str = "/run/netlab";
/// Version of the record's JSON shape.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub lab: String,
    /// The topology file of the last `up`, for `status` and `down --lab`.
    pub topology: Option<PathBuf>,
    /// Where each node's processes run (its namespace; `null`: the host), so `exec`,
    /// `link` and `status` work from the lab's name alone.
    #[serde(default)]
    pub nodes: std::collections::BTreeMap<String, crate::topology::Netns>,
    /// Applied ops in the order they were applied: `down` undoes them in reverse.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub op: Op,
    /// Recorded before it was sent; it may or may not have taken effect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// sysctl_set: the value before, which `down` puts back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// netns_add: the namespace's identity, to tell it from a namesake made by another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_id: Option<NsId>,
}

impl Entry {
    pub fn pending(op: Op) -> Entry {
        Entry { op, pending: true, previous: None, ns_id: None }
    }
}

impl Record {
    pub fn new(lab: &str) -> Record {
        Record {
            version: RECORD_VERSION,
            lab: lab.to_string(),
            topology: None,
            nodes: Default::default(),
            entries: Vec::new(),
        }
    }

    pub fn path(lab: &str) -> PathBuf {
        Path::new(STATE_DIR).join(format!("{lab}.json"))
    }

    /// The lab's record, or `None` when the lab is not up.
    pub fn load(lab: &str) -> io::Result<Option<Record>> {
        let path = Record::path(lab);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    /// Writes the record whole (temp file + rename).
    pub fn save(&self) -> io::Result<()> {
        std::fs::create_dir_all(STATE_DIR)?;
        let path = Record::path(&self.lab);
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec(self).map_err(io::Error::from)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)
    }

    /// Removes the record: the lab is down. Also its temp file, which a `save` killed
    /// between write and rename leaves behind.
    pub fn remove(lab: &str) -> io::Result<()> {
        let path = Record::path(lab);
        for file in [path.with_extension("json.tmp"), path] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The previous value of a sysctl this lab set.
    pub fn previous(&self, netns: &crate::topology::Netns, key: &str) -> Option<String> {
        self.entries.iter().find_map(|e| match &e.op {
            Op::SysctlSet { netns: n, key: k, .. } if n == netns && k == key => e.previous.clone(),
            _ => None,
        })
    }
}

/// The labs that have a record, by name, sorted.
pub fn labs() -> io::Result<Vec<String>> {
    let mut labs = Vec::new();
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(labs),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(lab) = name.strip_suffix(".json") {
            labs.push(lab.to_string());
        }
    }
    labs.sort();
    Ok(labs)
}

/// An exclusive hold on one lab. Dropping it lets go, and removes the lock file (and
/// /run/netlab when it is empty) if the lab has no record: a lab that is not up leaves
/// nothing behind.
pub struct Lock {
    file: File,
    path: PathBuf,
    lab: String,
}

impl Lock {
    /// Takes the lab's lock, or says that another netlab holds it.
    pub fn acquire(lab: &str) -> Result<Lock, String> {
        std::fs::create_dir_all(STATE_DIR).map_err(|e| format!("cannot create {STATE_DIR}: {e}"))?;
        let path = Path::new(STATE_DIR).join(format!("{lab}.lock"));
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            #[allow(deprecated)] // Flock's owning API does not fit a lock file that may be removed.
            let locked = flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock);
            match locked {
                Ok(()) => {}
                Err(nix::errno::Errno::EWOULDBLOCK) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                    return Err(format!(
                        "lab {lab} is being changed by another netlab{who}; try again when it is done"
                    ));
                }
                Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
            }
            // The previous holder may have removed the file (the lab went down) after we
            // opened it: then our lock is on a file nobody else will see. Start over.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
                return Ok(Lock { file, path, lab: lab.to_string() });
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Still holding the lock: whoever opened the file meanwhile sees it is gone.
        if !Record::path(&self.lab).exists() {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(STATE_DIR);
        }
        let _ = &self.file;
    }
}
