//! The host lock, `<state dir>/_host.lock` (flock): held by a netlab that decides about or
//! changes what labs share on the host, from reading the other labs' records until its own
//! record says what it did.
//!
//! Order: a lab's lock first, then the host lock, never the other way; a netlab holding
//! the host lock never waits for a lab's. The lab's lock is refused at once when busy;
//! the host lock is waited for (another lab's `up` or `down` is short, and the wait is
//! said). A kill -9 lets go of it with the process: there is nothing to recover, because
//! nothing is written under it but the labs' own records.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;

#[allow(deprecated)]
use nix::fcntl::{flock, FlockArg};

use crate::places::{Dir, Name};
use crate::state::{LockError, StateDir};

/// The lock file's name in the state directory: `_` is not allowed in a lab name, so no
/// lab's `<lab>.lock` (nor its record) can be it.
pub const HOST_LOCK: &str = "_host.lock";

/// An exclusive hold on what labs share on the host. Dropping it lets go, and removes the
/// lock file (while still holding it: a netlab waiting on the removed file sees it is gone
/// and opens the name again), so the state directory of a machine with no lab up is empty.
pub struct HostLock {
    _file: File,
    dir: Dir,
    name: Name,
}

impl HostLock {
    /// Takes the host lock for lab `lab`, waiting while another netlab holds it (then
    /// `waiting` is told who, as that netlab wrote it: `pid <pid>, lab <lab>`).
    pub fn take(state: &StateDir, lab: &str, waiting: &mut dyn FnMut(&str)) -> Result<HostLock, LockError> {
        let dir = Dir::create(state.root())?;
        let name = Name::new(HOST_LOCK)?;
        let mut said = false;
        loop {
            let mut file = dir.open_or_create(&name)?;
            #[allow(deprecated)] // Flock's owning API does not fit a lock file that may be removed.
            let locked = flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock);
            match locked {
                Ok(()) => {}
                Err(nix::errno::Errno::EWOULDBLOCK) => {
                    if !said {
                        said = true;
                        waiting(&holder(&dir, &name));
                    }
                    #[allow(deprecated)]
                    flock(file.as_raw_fd(), FlockArg::LockExclusive)
                        .map_err(|source| LockError::Lock { path: dir.join(&name), source })?;
                }
                Err(source) => return Err(LockError::Lock { path: dir.join(&name), source }),
            }
            // The holder before us removed the file when it let go: our lock is on a file
            // nobody else will see. Start over.
            if dir.still_names(&file, &name) {
                // Who holds it, written through the descriptor that holds it.
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| writeln!(file, "pid {}, lab {lab}", std::process::id()));
                return Ok(HostLock { _file: file, dir, name });
            }
        }
    }

    /// Removes the lock file a killed netlab left behind (nobody holds it), so that the
    /// state directory of a machine with no lab up is empty; one that is held is its
    /// holder's to remove. `down` calls it when its lab is gone.
    pub fn clear_stale(state: &StateDir) {
        let (Ok(Some(dir)), Ok(name)) = (Dir::open(state.root()), Name::new(HOST_LOCK)) else { return };
        if !matches!(dir.stat(&name), Ok(Some(_))) {
            return;
        }
        let Ok(file) = dir.open_or_create(&name) else { return };
        #[allow(deprecated)]
        let free = flock(file.as_raw_fd(), FlockArg::LockExclusiveNonblock).is_ok();
        if free && dir.still_names(&file, &name) {
            let _ = dir.remove(&name);
        }
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // Still holding it; removing a name never follows a link.
        let _ = self.dir.remove(&self.name);
    }
}

/// Who holds the lock, as written in it; nothing when it says something else (the file
/// is netlab's, but what a terminal is shown is kept plain).
fn holder(dir: &Dir, name: &Name) -> String {
    let text = dir.read(name).ok().flatten().unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    if text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | '-')) {
        text
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn one_holder_at_a_time_and_nothing_left_after() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path().join("netlab"));
        let lock = HostLock::take(&state, "web", &mut |_| panic!("nobody holds it")).unwrap();
        let held = std::fs::read_to_string(state.root().join(HOST_LOCK)).unwrap();
        assert_eq!(held, format!("pid {}, lab web\n", std::process::id()));
        // Another holder waits until the first lets go, and is told who holds it.
        let (tx, rx) = std::sync::mpsc::channel();
        let other = {
            let state = state.clone();
            std::thread::spawn(move || {
                let mut told = String::new();
                let lock = HostLock::take(&state, "db", &mut |who| told = who.to_string()).unwrap();
                tx.send(told).unwrap();
                drop(lock);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "the second holder did not wait");
        drop(lock);
        assert_eq!(rx.recv().unwrap(), format!("pid {}, lab web", std::process::id()));
        other.join().unwrap();
        assert_eq!(dir.contents(), ["netlab"], "the lock file is removed with the last holder");
    }

    #[test]
    fn a_lock_file_a_kill_left_is_cleared_and_a_held_one_is_not() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        HostLock::clear_stale(&state);
        let lock = HostLock::take(&state, "web", &mut |_| {}).unwrap();
        HostLock::clear_stale(&state);
        assert!(state.root().join(HOST_LOCK).exists(), "a held lock was removed");
        drop(lock);
        // As a kill -9 leaves it: the file, and nobody holding it.
        std::fs::write(state.root().join(HOST_LOCK), "pid 1, lab gone\n").unwrap();
        HostLock::clear_stale(&state);
        assert_eq!(dir.contents(), Vec::<String>::new());
    }

    #[test]
    fn a_symlink_in_its_place_is_not_followed() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join(HOST_LOCK)).unwrap();
        assert!(HostLock::take(&state, "web", &mut |_| {}).is_err());
        assert!(!target.exists(), "a file was made through the symlink");
    }
}
