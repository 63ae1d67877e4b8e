//! netlab's own place, `/run/netlab` ([`StateDir`]): per lab, its record (what netlab
//! applied, `<lab>.json`), its lock (`<lab>.lock`, which keeps two netlab runs off one
//! lab), and its directory of forwarder files (`<lab>/`). Tests use a temporary directory.
//!
//! `/run` is tmpfs, so the record dies with the kernel state it describes at reboot. It is
//! written before each batch of ops is sent (temp file + rename, never half-written), so
//! a netlab killed at any moment leaves a record that `down` can finish from: ops that were
//! about to be sent are marked `pending`, and `down` deletes those only if they exist.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[allow(deprecated)]
use nix::fcntl::{flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::live::NsId;
use crate::plan::{Op, OpKey, Plan};
use crate::topology::Netns;

/// Where netlab keeps its state on a real host.
pub const SYSTEM_STATE_DIR: &str = "/run/netlab";
/// Version of the record's JSON shape.
pub const RECORD_VERSION: u32 = 1;

/// The directory of netlab's records, locks and forwarder files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// `/run/netlab`.
    pub fn system() -> StateDir {
        StateDir::new(SYSTEM_STATE_DIR)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn record_path(&self, lab: &str) -> PathBuf {
        self.root.join(format!("{lab}.json"))
    }

    fn lock_path(&self, lab: &str) -> PathBuf {
        self.root.join(format!("{lab}.lock"))
    }

    /// The lab's own directory: its forwarders' pid, stats and log files.
    pub fn lab_dir(&self, lab: &str) -> PathBuf {
        self.root.join(lab)
    }

    /// A record for a lab that is not up yet; nothing is written until it is saved.
    pub fn new_record(&self, lab: &str) -> Record {
        Record {
            version: RECORD_VERSION,
            lab: lab.to_string(),
            topology: None,
            nodes: Default::default(),
            entries: Vec::new(),
            path: self.record_path(lab),
        }
    }

    /// The lab's record, or `None` when the lab is not up.
    pub fn load(&self, lab: &str) -> io::Result<Option<Record>> {
        let path = self.record_path(lab);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut record: Record = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        record.path = path;
        Ok(Some(record))
    }

    /// The labs that have a record, by name, sorted.
    pub fn labs(&self) -> io::Result<Vec<String>> {
        let mut labs = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
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

    /// Takes the lab's lock, or says that another netlab holds it.
    pub fn lock(&self, lab: &str) -> Result<Lock, LockError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|source| LockError::CreateDir { dir: self.root.clone(), source })?;
        let path = self.lock_path(lab);
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|source| LockError::Open { path: path.clone(), source })?;
            #[allow(deprecated)] // Flock's owning API does not fit a lock file that may be removed.
            let locked = flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock);
            match locked {
                Ok(()) => {}
                Err(nix::errno::Errno::EWOULDBLOCK) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                    return Err(LockError::Busy { lab: lab.to_string(), holder });
                }
                Err(source) => return Err(LockError::Lock { path, source }),
            }
            // The previous holder may have removed the file (the lab went down) after we
            // opened it: then our lock is on a file nobody else will see. Start over.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
                return Ok(Lock { file, path, record: self.record_path(lab), root: self.root.clone() });
            }
        }
    }
}

/// Why a lab's lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another netlab holds it (its pid, as it wrote it in the file; empty if none).
    Busy {
        lab: String,
        holder: String,
    },
    CreateDir {
        dir: PathBuf,
        source: io::Error,
    },
    Open {
        path: PathBuf,
        source: io::Error,
    },
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Busy { lab, holder } => {
                let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                write!(f, "lab {lab} is being changed by another netlab{who}; try again when it is done")
            }
            LockError::CreateDir { dir, source } => write!(f, "cannot create {}: {source}", dir.display()),
            LockError::Open { path, source } => write!(f, "cannot open {}: {source}", path.display()),
            LockError::Lock { path, source } => write!(f, "cannot lock {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub lab: String,
    /// The topology file of the last `up`, for `status` and `down --lab`.
    pub topology: Option<PathBuf>,
    /// Where each node's processes run (its namespace; `null`: the host), so `exec`,
    /// `link` and `status` work from the lab's name alone.
    #[serde(default)]
    pub nodes: std::collections::BTreeMap<String, Netns>,
    /// Applied ops in the order they were applied: `down` undoes them in reverse.
    pub entries: Vec<Entry>,
    /// Where it is kept (in its [`StateDir`]).
    #[serde(skip)]
    path: PathBuf,
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

    /// For a `sysctl_set` of `key` in `netns`: the value it replaced, which `down` puts
    /// back.
    pub fn previous_of(&self, netns: &Netns, key: &str) -> Option<&str> {
        let Op::SysctlSet { netns: n, key: k, .. } = &self.op else { return None };
        self.previous.as_deref().filter(|_| n == netns && k == key)
    }
}

impl Record {
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the record whole (temp file + rename).
    pub fn save(&self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec(self).map_err(io::Error::from)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Removes the record: the lab is down. Also its temp file, which a `save` killed
    /// between write and rename leaves behind.
    pub fn remove(&self) -> io::Result<()> {
        for file in [self.path.with_extension("json.tmp"), self.path.clone()] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The previous value of a sysctl this lab set.
    pub fn previous(&self, netns: &Netns, key: &str) -> Option<String> {
        self.entries.iter().find_map(|e| e.previous_of(netns, key)).map(str::to_string)
    }

    /// After a successful run the record is the plan itself, each op with what was learnt
    /// when it was applied (a namespace's identity, a sysctl's value before), and is saved.
    pub fn settle(&mut self, plan: &Plan) -> io::Result<()> {
        // Only namespaces and sysctls carry something learnt; the first value recorded for a
        // sysctl is the one from before the lab.
        let mut learnt: HashMap<OpKey, (Option<String>, Option<NsId>)> = HashMap::new();
        for e in self.entries.drain(..).filter(|e| e.previous.is_some() || e.ns_id.is_some()) {
            let slot = learnt.entry(e.op.key()).or_default();
            slot.0 = slot.0.take().or(e.previous);
            slot.1 = e.ns_id.or(slot.1);
        }
        self.entries = plan
            .ops
            .iter()
            .map(|op| {
                let mut entry = Entry { op: op.clone(), pending: false, previous: None, ns_id: None };
                let learns = matches!(op, Op::NetnsAdd { .. } | Op::SysctlSet { .. });
                if let Some((previous, ns_id)) = learnt.get(&op.key()).filter(|_| learns) {
                    entry.previous = previous.clone();
                    entry.ns_id = *ns_id;
                }
                entry
            })
            .collect();
        self.save()
    }
}

/// An exclusive hold on one lab. Dropping it lets go, and removes the lock file (and
/// the state directory when it is empty) if the lab has no record: a lab that is not up
/// leaves nothing behind.
pub struct Lock {
    file: File,
    path: PathBuf,
    record: PathBuf,
    root: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Still holding the lock: whoever opened the file meanwhile sees it is gone.
        if !self.record.exists() {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(&self.root);
        }
        let _ = &self.file;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn a_record_is_saved_whole_loaded_back_and_removed_with_its_temp_file() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path().join("state"));
        assert!(state.load("web").unwrap().is_none());
        assert_eq!(state.labs().unwrap(), Vec::<String>::new());
        let mut record = state.new_record("web");
        let mut entry =
            Entry::pending(Op::SysctlSet { netns: Netns::Host, key: "net.ipv4.ip_forward".into(), value: "1".into() });
        entry.previous = Some("0".into());
        record.entries.push(entry);
        record.save().unwrap();
        assert_eq!(dir.contents(), ["state", "state/web.json"]);
        let loaded = state.load("web").unwrap().unwrap();
        assert_eq!((&loaded.entries, loaded.path()), (&record.entries, record.path()));
        assert_eq!(record.previous(&Netns::Host, "net.ipv4.ip_forward").as_deref(), Some("0"));
        assert_eq!(record.previous(&Netns::Named("a".into()), "net.ipv4.ip_forward"), None);
        assert_eq!(state.labs().unwrap(), ["web"]);
        // A kill between writing the temp file and renaming it leaves it: removed too.
        std::fs::write(state.root().join("web.json.tmp"), "{").unwrap();
        record.remove().unwrap();
        assert_eq!(dir.contents(), ["state"]);
        record.remove().unwrap();
    }

    #[test]
    fn a_corrupt_record_names_its_file() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        std::fs::write(state.record_path("web"), "{\"version\": 1,").unwrap();
        let e = state.load("web").unwrap_err();
        assert!(e.to_string().starts_with(&format!("{}: ", state.record_path("web").display())), "{e}");
    }

    #[test]
    fn one_lock_per_lab_and_a_lab_that_is_not_up_leaves_nothing() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path().join("netlab"));
        let lock = state.lock("web").unwrap();
        let busy = state.lock("web").err().expect("a second lock on the lab");
        assert_eq!(
            busy.to_string(),
            format!(
                "lab web is being changed by another netlab (pid {}); try again when it is done",
                std::process::id()
            )
        );
        let other = state.lock("db").unwrap();
        drop(other);
        drop(lock);
        assert_eq!(dir.contents(), Vec::<String>::new(), "no record: the lock file and directory go");
        // A lab that is up keeps its lock file (and directory) for the next run.
        let lock = state.lock("web").unwrap();
        state.new_record("web").save().unwrap();
        drop(lock);
        assert_eq!(dir.contents(), ["netlab", "netlab/web.json", "netlab/web.lock"]);
    }

    #[test]
    fn settling_makes_the_record_the_plan_with_what_was_learnt() {
        let plan = crate::plan::compile(&crate::testing::topology(
            "[lab]\nname = \"x\"\n[host]\nsysctl = { \"net.ipv4.ip_forward\" = 1 }\n[nodes.a]\n",
        ));
        let dir = TempDir::new();
        let mut record = StateDir::new(dir.path()).new_record("x");
        let id = NsId { dev: 4, ino: 9 };
        let mut made = Entry::pending(Op::NetnsAdd { netns: "x-a".into() });
        made.ns_id = Some(id);
        let mut set = Entry::pending(plan.ops[1].clone());
        set.previous = Some("0".into());
        // A later run found the value it had itself set: the first one is kept.
        let mut again = set.clone();
        again.previous = Some("1".into());
        record.entries = vec![made, set, again];
        record.settle(&plan).unwrap();
        assert_eq!(record.entries.len(), plan.ops.len());
        assert!(record.entries.iter().all(|e| !e.pending));
        assert_eq!(record.entries[0].ns_id, Some(id));
        assert_eq!(record.entries[1].previous.as_deref(), Some("0"));
        assert!(record.path().exists());
    }
}
