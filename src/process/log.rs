//! A process's output, kept under a cap: `/run` is memory, and a chatty server must not
//! fill it. The log is two files, `NAME.log` and `NAME.log.1`, each at most half the cap:
//! when `NAME.log` is full it becomes `NAME.log.1` (the older one is dropped) and writing
//! goes on in a new `NAME.log`. So the newest output is always there, at least half the cap
//! of it, and never more than the cap in all.
//!
//! Readers see the two files as one: [`read_tail`] for the end, [`Follower`] for what
//! comes next, across the renames.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A process's log at most holds this much (both files together).
pub const DEFAULT_CAP: u64 = 1 << 20;

/// The older half of a log.
pub fn older(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The writing end, held by the supervisor. Its files are root's alone (0600): what a
/// program prints may be secret. Like every file of netlab's, a log is never opened
/// through a link.
#[derive(Debug)]
pub struct CappedLog {
    path: PathBuf,
    file: File,
    written: u64,
    half: u64,
}

impl CappedLog {
    /// Opens the log to append to it (a restarted process goes on in the same log).
    pub fn open(path: &Path, cap: u64) -> io::Result<CappedLog> {
        let file =
            OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)?;
        let written = file.metadata()?.len();
        Ok(CappedLog { path: path.to_path_buf(), file, written, half: (cap / 2).max(1) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`, starting a new file first if they would not fit in this one. A
    /// single write larger than half the cap keeps only its end.
    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > self.half {
            bytes = &bytes[bytes.len() - self.half as usize..];
        }
        if self.written + bytes.len() as u64 > self.half {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        std::fs::rename(&self.path, older(&self.path))?;
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// Removes both files of a log.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(older(path));
    let _ = std::fs::remove_file(path);
}

/// Opens a log to read it, never through a link (a log is netlab's own file).
fn open_own(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

fn read_own(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(mut f) = open_own(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    bytes
}

/// The last `max` bytes of the log (both files), as text; empty when there is none.
pub fn read_tail(path: &Path, max: usize) -> String {
    let mut all = read_own(&older(path));
    all.extend(read_own(path));
    let start = all.len().saturating_sub(max);
    let mut text = String::from_utf8_lossy(&all[start..]).into_owned();
    if start > 0 {
        // Start at a line boundary rather than in the middle of one.
        if let Some(i) = text.find('\n') {
            text.drain(..=i);
        }
    }
    text
}

/// The last `n` lines of the log.
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let text = read_tail(path, 64 * 1024);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

/// Reads a log as it grows, the way `tail -F` does: what was there first (both files),
/// then whatever is appended, following the file across each rotation without losing
/// what was written to the old file before it was renamed.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<(File, u64)>,
}

impl Follower {
    /// Starts at the beginning of the log: the older file first, if there is one.
    pub fn new(path: &Path) -> Follower {
        Follower { path: path.to_path_buf(), current: None }
    }

    /// Everything the log has of what this follower has not returned yet.
    pub fn read_new(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.current.is_none() {
            if let Ok(mut old) = open_own(&older(&self.path)) {
                old.read_to_end(&mut out)?;
            }
            match open_own(&self.path) {
                Ok(f) => {
                    let ino = f.metadata()?.ino();
                    self.current = Some((f, ino));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e),
            }
        }
        let (file, ino) = self.current.as_mut().expect("opened above");
        file.read_to_end(&mut out)?;
        // Rotated since: drain the renamed file (still ours, open), then go on in the new one.
        let now = std::fs::metadata(&self.path).map(|m| m.ino()).ok();
        if now.is_some_and(|now| now != *ino) {
            file.read_to_end(&mut out)?;
            let mut f = open_own(&self.path)?;
            f.seek(SeekFrom::Start(0))?;
            let ino = f.metadata()?.ino();
            f.read_to_end(&mut out)?;
            self.current = Some((f, ino));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("netlab-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_log_never_holds_more_than_its_cap_and_keeps_the_newest_output() {
        let d = dir("cap");
        let path = d.join("p.log");
        let mut log = CappedLog::open(&path, 100).unwrap();
        for i in 0..1000 {
            log.write(format!("line {i:04}\n").as_bytes()).unwrap();
            let total =
                std::fs::metadata(&path).unwrap().len() + std::fs::metadata(older(&path)).map_or(0, |m| m.len());
            assert!(total <= 100, "{total} bytes after line {i}");
        }
        let tail = read_tail(&path, 1 << 20);
        assert!(tail.ends_with("line 0999\n"), "{tail}");
        assert!(tail.len() >= 50, "at least half the cap is kept: {tail:?}");
        let lines: Vec<String> = tail.lines().map(str::to_string).collect();
        let numbers: Vec<u32> = lines.iter().map(|l| l[5..].parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gap: {numbers:?}");
        assert_eq!(tail_lines(&path, 2), vec!["line 0998", "line 0999"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_write_larger_than_the_cap_keeps_its_end() {
        let d = dir("big");
        let path = d.join("p.log");
        let mut log = CappedLog::open(&path, 10).unwrap();
        log.write(b"0123456789abcdef").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "bcdef");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_follower_sees_every_byte_once_across_rotations() {
        let d = dir("follow");
        let path = d.join("p.log");
        let mut log = CappedLog::open(&path, 64).unwrap();
        log.write(b"first\n").unwrap();
        let mut follower = Follower::new(&path);
        let mut seen = follower.read_new().unwrap();
        let mut expected = b"first\n".to_vec();
        for i in 0..40 {
            let line = format!("{i:02}.....\n");
            log.write(line.as_bytes()).unwrap();
            expected.extend(line.as_bytes());
            // Read every few writes: at most one rotation in between, as when polling.
            if i % 3 == 0 {
                seen.extend(follower.read_new().unwrap());
            }
        }
        seen.extend(follower.read_new().unwrap());
        assert_eq!(String::from_utf8(seen).unwrap(), String::from_utf8(expected).unwrap());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_log_reads_as_empty() {
        let path = std::env::temp_dir().join("netlab-no-such-log");
        assert_eq!(read_tail(&path, 100), "");
        assert!(Follower::new(&path).read_new().unwrap().is_empty());
    }
}
