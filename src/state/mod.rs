//! netlab's own place, `/run/netlab` ([`StateDir`]): per lab, its record (what netlab
//! applied, `<lab>.json`), its lock (`<lab>.lock`, which keeps two netlab runs off one
//! lab), and its directory of forwarder files (`<lab>/`). Tests use a temporary directory.
//!
//! `/run` is tmpfs, so the record dies with the kernel state it describes at reboot. It is
//! written before each batch of ops is sent (temp file + rename, never half-written), so
//! a netlab killed at any moment leaves a record that `down` can finish from: ops that were
//! about to be sent are marked `pending`, and `down` deletes those only if they exist.
//!
//! What is read back is trusted no more than a topology file: every file here is opened
//! through [`crate::places`] (a directory only root can change, no link followed), and a
//! record is a lab's only when it parses whole and every name in it passes the checks a
//! topology's names pass (`check`). A record that does not is [`Corrupt`]: nothing acts
//! on it but `down`, which salvages what can be read of it (`salvage`).

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

mod check;
mod salvage;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[allow(deprecated)]
use nix::fcntl::{flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::live::NsId;
use crate::places::{Dir, Name};
use crate::plan::{Op, OpKey, Plan, PublishedPort};
use crate::topology::Netns;

pub use salvage::Salvaged;

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
            ports: Vec::new(),
            dir: self.root.clone(),
        }
    }

    /// The bytes of the lab's record, or `None` when the lab is not up.
    fn read(&self, lab: &str) -> Result<Option<Vec<u8>>, LoadError> {
        check_lab(lab)?;
        let Some(dir) = Dir::open(&self.root)? else { return Ok(None) };
        Ok(dir.read(&record_name(lab)?)?)
    }

    /// The lab's record, or `None` when the lab is not up. A record that does not parse,
    /// or names something a topology could not name, is [`LoadError::Corrupt`].
    pub fn load(&self, lab: &str) -> Result<Option<Record>, LoadError> {
        let Some(bytes) = self.read(lab)? else { return Ok(None) };
        let corrupt = |why: String| Corrupt { path: self.record_path(lab), lab: lab.to_string(), why };
        let mut record: Record = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        check::record(&record, lab).map_err(corrupt)?;
        record.dir = self.root.clone();
        Ok(Some(record))
    }

    /// What can be trusted of the lab's record, however damaged it is: the entries that
    /// parse and pass the checks, and what was left out. `None` when the lab has no record.
    pub fn salvage(&self, lab: &str) -> Result<Option<Salvaged>, LoadError> {
        let Some(bytes) = self.read(lab)? else { return Ok(None) };
        Ok(Some(salvage::salvage(&bytes, self.new_record(lab))))
    }

    /// The labs that have a record, by name, sorted. A file whose name is not a lab's
    /// record (`<lab>.json`, a valid lab name) is not a lab.
    pub fn labs(&self) -> io::Result<Vec<String>> {
        let Some(dir) = Dir::open(&self.root)? else { return Ok(Vec::new()) };
        let mut labs = Vec::new();
        for name in dir.names()? {
            let Some(lab) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
            if crate::topology::names::check_lab_name(lab).is_ok() {
                labs.push(lab.to_string());
            }
        }
        Ok(labs)
    }

    /// Takes the lab's lock, or says that another netlab holds it.
    pub fn lock(&self, lab: &str) -> Result<Lock, LockError> {
        check_lab(lab)?;
        let dir = Dir::create(&self.root)?;
        let name = Name::new(format!("{lab}.lock"))?;
        loop {
            let mut file = dir.open_or_create(&name)?;
            #[allow(deprecated)] // Flock's owning API does not fit a lock file that may be removed.
            let locked = flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock);
            match locked {
                Ok(()) => {}
                Err(nix::errno::Errno::EWOULDBLOCK) => {
                    let holder = dir.read(&name).ok().flatten().unwrap_or_default();
                    let holder = String::from_utf8_lossy(&holder).trim().to_string();
                    // A pid, or nothing: anything else in it is not worth repeating.
                    let holder = if holder.bytes().all(|b| b.is_ascii_digit()) { holder } else { String::new() };
                    return Err(LockError::Busy { lab: lab.to_string(), holder });
                }
                Err(source) => return Err(LockError::Lock { path: dir.join(&name), source }),
            }
            // The previous holder may have removed the file (the lab went down) after we
            // opened it: then our lock is on a file nobody else will see. Start over.
            if dir.still_names(&file, &name) {
                // Who holds it, written through the descriptor that holds it.
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| writeln!(file, "{}", std::process::id()));
                return Ok(Lock {
                    _file: file,
                    path: dir.join(&name),
                    record: self.record_path(lab),
                    root: self.root.clone(),
                });
            }
        }
    }
}

/// A lab name, as `--lab` and a file's `[lab]` take it: it names files here.
fn check_lab(lab: &str) -> io::Result<()> {
    crate::topology::names::check_lab_name(lab)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("lab `{}`: {e}", lab.escape_default())))
}

fn record_name(lab: &str) -> io::Result<Name> {
    Name::new(format!("{lab}.json"))
}

fn record_tmp_name(lab: &str) -> io::Result<Name> {
    Name::new(format!("{lab}.json.tmp"))
}

/// Why a lab's record could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// It could not be read: permissions, a link or an untrusted directory in the way.
    Io(io::Error),
    /// It was read but cannot be trusted.
    Corrupt(Corrupt),
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        LoadError::Io(e)
    }
}

impl From<Corrupt> for LoadError {
    fn from(e: Corrupt) -> Self {
        LoadError::Corrupt(e)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => e.fmt(f),
            LoadError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// A record that does not parse (truncated, not UTF-8, not JSON) or names something that
/// a topology could not (a namespace `../..`, an absolute sysctl key, another lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    pub path: PathBuf,
    pub lab: String,
    /// What is wrong with it, where.
    pub why: String,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cannot be trusted ({}), so netlab will not act on it; `netlab down --lab {}` takes the lab down \
             from what can be read of it and from the lab's marks in the kernel",
            self.path.display(),
            self.why,
            self.lab
        )
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
    /// The state directory or the lock file could not be opened (the error names it).
    Io(io::Error),
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
}

impl From<io::Error> for LockError {
    fn from(e: io::Error) -> Self {
        LockError::Io(e)
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Busy { lab, holder } => {
                let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                write!(f, "lab {lab} is being changed by another netlab{who}; try again when it is done")
            }
            LockError::Io(e) => e.fmt(f),
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
    /// The ports the lab publishes, with the host ports `up` picked (kept across
    /// converges, avoided by other labs, shown by `netlab port` and `status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PublishedPort>,
    /// The directory it is kept in (its [`StateDir`]'s).
    #[serde(skip)]
    dir: PathBuf,
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
    /// Where it is kept.
    #[cfg(test)]
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.lab))
    }

    /// Writes the record whole (temp file + rename), never through a link.
    pub fn save(&self) -> io::Result<()> {
        check_lab(&self.lab)?;
        let json = serde_json::to_vec(self).map_err(io::Error::from)?;
        Dir::create(&self.dir)?.write_atomically(&record_name(&self.lab)?, &record_tmp_name(&self.lab)?, &json)
    }

    /// Removes the record: the lab is down. Also its temp file, which a `save` killed
    /// between write and rename leaves behind.
    pub fn remove(&self) -> io::Result<()> {
        check_lab(&self.lab)?;
        let Some(dir) = Dir::open(&self.dir)? else { return Ok(()) };
        dir.remove_own_file(&record_tmp_name(&self.lab)?)?;
        dir.remove(&record_name(&self.lab)?)?;
        Ok(())
    }

    /// The previous value of a sysctl this lab set.
    pub fn previous(&self, netns: &Netns, key: &str) -> Option<String> {
        self.entries.iter().find_map(|e| e.previous_of(netns, key)).map(str::to_string)
    }

    /// After a successful run the record is the plan itself, each op with what was learnt
    /// when it was applied (a namespace's identity, a sysctl's value before), and the ports
    /// it publishes, and is saved.
    pub fn settle(&mut self, plan: &Plan) -> io::Result<()> {
        self.ports = plan.ports.clone();
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
    /// Held open: the lock lives as long as the descriptor.
    _file: File,
    path: PathBuf,
    record: PathBuf,
    root: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Still holding the lock: whoever opened the file meanwhile sees it is gone.
        // (Removing a name never follows a link, and an empty directory is all that
        // `remove_dir` takes.)
        if !self.record.exists() {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use crate::topology::EtcFileKind;

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
    fn a_record_that_cannot_be_trusted_names_its_file_and_the_way_out() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let path = state.record_path("web");
        let corrupt = |e: LoadError| match e {
            LoadError::Corrupt(c) => c,
            LoadError::Io(e) => panic!("not corrupt: {e}"),
        };
        std::fs::write(&path, "{\"version\": 1,").unwrap();
        let c = corrupt(state.load("web").unwrap_err());
        assert_eq!((c.path.as_path(), c.lab.as_str()), (path.as_path(), "web"));
        assert!(c.why.contains("EOF while parsing"), "{c}");
        assert!(c.to_string().contains("`netlab down --lab web` takes the lab down"), "{c}");
        std::fs::write(&path, b"{\"version\": 1, \"lab\": \"w\xffb\"}").unwrap();
        assert!(corrupt(state.load("web").unwrap_err()).why.contains("invalid unicode"));
        // The record of another lab, or one with a name that climbs out of its directory.
        let mut other = state.new_record("db");
        other.save().unwrap();
        std::fs::rename(state.record_path("db"), &path).unwrap();
        let c = corrupt(state.load("web").unwrap_err());
        assert_eq!(c.why, "it is the record of lab `db`, not of lab web");
        other.lab = "web".into();
        other.entries.push(Entry::pending(Op::FileRemove { netns: "../../run".into(), file: EtcFileKind::Hosts }));
        other.save().unwrap();
        let c = corrupt(state.load("web").unwrap_err());
        assert!(c.why.starts_with("entry 1: file remove: ") && c.why.contains("`../../run`"), "{c}");
        // A lab name that is not one is refused before any path is made of it.
        assert!(matches!(state.load("../etc/passwd"), Err(LoadError::Io(_))));
        assert!(state.lock("../x").is_err() && state.lab_dir("x").starts_with(dir.path()));
        assert_eq!(state.labs().unwrap(), ["web"]);
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
