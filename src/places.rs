//! netlab's own places on the file system (`/run/netlab` and its lab directories,
//! `/etc/netns` and a namespace's directory in it), and the files in them, handled so
//! that nothing planted there can send a read, a write or a removal somewhere else.
//!
//! - A [`Dir`] is an open directory, trusted only when root (or the user netlab runs as)
//!   owns it and neither its group nor others can write to it: otherwise anyone who can
//!   could swap a file in it for a link to /etc/shadow between two of netlab's steps. It
//!   is opened without following a symbolic link, and everything in it is reached through
//!   its descriptor (`openat` and friends), so a directory renamed or replaced after it was
//!   checked is not the one written to.
//! - A [`Name`] is one path component that cannot leave its directory: not empty, not `.`
//!   or `..`, no `/` or NUL. Every name read from a record becomes a `Name` before it
//!   touches the file system, whatever was checked before.
//! - Files are opened with `O_NOFOLLOW` (a link where netlab expects its file is an error
//!   that says so, never followed), temporary files with `O_EXCL` too, and only regular
//!   files are read (a FIFO would block netlab forever).
//!
//! The directories above a place (/run, /etc, a test's temporary directory) are the
//! system's, opened by path as usual.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// How the temporary file of a write in `/etc/netns/<ns>/` ends (`.hosts.netlab-tmp`): a
/// name /etc itself never has, which `netlab exec` and a lab's processes do not bind.
pub const ETC_TMP_SUFFIX: &str = ".netlab-tmp";

/// Whether `name`, in a namespace's `/etc/netns` directory, is the temporary file of a
/// write of netlab's (see [`ETC_TMP_SUFFIX`]).
pub fn is_etc_temporary(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".") && name.ends_with(ETC_TMP_SUFFIX.as_bytes())
}

/// One component of a path: a file or directory name that cannot climb out of the
/// directory it is joined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn new(name: impl Into<String>) -> io::Result<Name> {
        let name = name.into();
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            let shown = name.escape_default();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{shown}` is not a file name netlab uses: one path component, not `.` or `..`"),
            ));
        }
        Ok(Name(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An open directory of netlab's, checked to be trusted (see the module's doc).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// The extended attribute, and its value, on a directory netlab made (see [`Dir::mark_made`]).
const MADE_MARK: &std::ffi::CStr = c"trusted.netlab.made";
const MADE_VALUE: &[u8] = b"netlab";

/// The mode netlab makes its directories with (before the umask).
const DIR_MODE: u32 = 0o755;
/// The mode of the files it writes.
const FILE_MODE: u32 = 0o644;

impl Dir {
    /// Opens the directory at `path`, or `None` when there is none.
    pub fn open(path: &Path) -> io::Result<Option<Dir>> {
        open_dir(AT_FDCWD, path, path.to_path_buf())
    }

    /// Opens the directory at `path`, making it (and the system's directories above it)
    /// first when it is missing.
    pub fn create(path: &Path) -> io::Result<Dir> {
        if let Some(dir) = Dir::open(path)? {
            return Ok(dir);
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| with_path(e, "create", parent))?;
        }
        match mkdirat(AT_FDCWD, path, Mode::from_bits_truncate(DIR_MODE)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(with_path(e.into(), "create", path)),
        }
        Dir::open(path)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} vanished", path.display())))
    }

    /// Where it is, for messages (and for a child process that is told a file in it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in it, for messages.
    pub fn join(&self, name: &Name) -> PathBuf {
        self.path.join(name.as_str())
    }

    /// The directory `name` in it, or `None` when there is none.
    pub fn sub(&self, name: &Name) -> io::Result<Option<Dir>> {
        open_dir(self.fd.as_fd(), Path::new(name.as_str()), self.join(name))
    }

    /// The directory `name` in it, made when missing; and whether it was made now. (What
    /// netlab makes where others make directories too goes through `create_marked_sub`.)
    #[cfg(test)]
    pub fn create_sub(&self, name: &Name) -> io::Result<(Dir, bool)> {
        let made = match mkdirat(self.fd.as_fd(), name.as_str(), Mode::from_bits_truncate(DIR_MODE)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(with_path(e.into(), "create", &self.join(name))),
        };
        let dir = self.sub(name)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{} vanished", self.join(name).display()))
        })?;
        Ok((dir, made))
    }

    /// The directory `name` in it, made when missing, and whether it was made now; one
    /// made now carries netlab's mark ([`Dir::mark_made`]) before it has its name: it is
    /// made as `tmp` (a name of netlab's own, which nobody else uses), marked, and renamed
    /// to `name` (never over one that appeared meanwhile). So a kill at any moment leaves
    /// no directory of that name, or a marked one, and at most an empty `tmp`, which is
    /// netlab's by its name (see [`Dir::remove_own_dir`]) and is used again here.
    pub fn create_marked_sub(&self, name: &Name, tmp: &Name) -> io::Result<(Dir, bool)> {
        if let Some(dir) = self.sub(name)? {
            return Ok((dir, false));
        }
        match mkdirat(self.fd.as_fd(), tmp.as_str(), Mode::from_bits_truncate(DIR_MODE)) {
            // A killed write's: used again (sub checks it is a directory netlab could have
            // made, not a link or someone's).
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(with_path(e.into(), "create", &self.join(tmp))),
        }
        let made = self
            .sub(tmp)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{} vanished", self.join(tmp).display())))?;
        // Where no mark can be set, the directory is left behind at the end rather than
        // taken for netlab's (see mark_made).
        made.mark_made();
        drop(made);
        let renamed = nix::fcntl::renameat2(
            self.fd.as_fd(),
            tmp.as_str(),
            self.fd.as_fd(),
            name.as_str(),
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        let made = match renamed {
            Ok(()) => true,
            // Someone made it meanwhile: theirs, and ours goes.
            Err(Errno::EEXIST) => {
                self.remove_dir_if_empty(tmp)?;
                false
            }
            Err(e) => return Err(with_path(e.into(), "rename", &self.join(tmp))),
        };
        let dir = self.sub(name)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{} vanished", self.join(name).display()))
        })?;
        Ok((dir, made))
    }

    /// Removes the directory `name`, one of netlab's own names (a temporary directory a
    /// kill left), if it is empty; `false` when it is not there or not empty. One that is
    /// a link or that netlab could not have made (see `check_trusted`) is an error that
    /// names it, and it is left alone.
    pub fn remove_own_dir(&self, name: &Name) -> io::Result<bool> {
        match self.sub(name)? {
            Some(dir) => {
                drop(dir);
                self.remove_dir_if_empty(name)
            }
            None => Ok(false),
        }
    }

    /// What `name` is, not following a link, or `None` when there is nothing of that name.
    pub fn stat(&self, name: &Name) -> io::Result<Option<FileStat>> {
        match fstatat(self.fd.as_fd(), name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(with_path(e.into(), "look at", &self.join(name))),
        }
    }

    /// Whether the open `file` is still the one named `name` here: a lock file's previous
    /// holder may have removed it (and another netlab made it anew) after `file` was opened.
    pub fn still_names(&self, file: &File, name: &Name) -> bool {
        match (fstat(file.as_fd()), self.stat(name)) {
            (Ok(a), Ok(Some(b))) => a.st_ino == b.st_ino && a.st_dev == b.st_dev,
            _ => false,
        }
    }

    /// Opens the file `name` with `flags` (always without following a link, and closed on
    /// exec). `None` when it does not exist (and `flags` do not create it).
    fn open_file(&self, name: &Name, flags: OFlag) -> io::Result<Option<File>> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(self.fd.as_fd(), name.as_str(), flags, Mode::from_bits_truncate(FILE_MODE)) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT) if !flags.contains(OFlag::O_CREAT) => Ok(None),
            Err(e) => Err(with_path(e.into(), "open", &self.join(name))),
        }
    }

    /// The whole content of the regular file `name`, or `None` when there is none.
    pub fn read(&self, name: &Name) -> io::Result<Option<Vec<u8>>> {
        // Non-blocking: a FIFO planted here must not hang the open; it is refused below.
        let Some(mut file) = self.open_file(name, OFlag::O_RDONLY | OFlag::O_NONBLOCK)? else {
            return Ok(None);
        };
        let st = fstat(file.as_fd()).map_err(|e| with_path(e.into(), "look at", &self.join(name)))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            let path = self.join(name);
            return Err(io::Error::other(format!(
                "{} is not a regular file: netlab reads only its own files",
                path.display()
            )));
        }
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| with_path(e, "read", &self.join(name)))?;
        Ok(Some(bytes))
    }

    /// Opens `name` for reading and writing, making it when missing (a lock file).
    pub fn open_or_create(&self, name: &Name) -> io::Result<File> {
        let file = self.open_file(name, OFlag::O_RDWR | OFlag::O_CREAT)?;
        Ok(file.expect("O_CREAT makes the file"))
    }

    /// Makes `name` anew, empty, for writing (a log): what was there is replaced, unless it
    /// is not a plain file of netlab's (see [`Dir::remove_own_file`]).
    pub fn create_fresh(&self, name: &Name) -> io::Result<File> {
        self.remove_own_file(name)?;
        let file = self.open_file(name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL)?;
        Ok(file.expect("O_CREAT makes the file"))
    }

    /// Writes `name` whole: `bytes` go to the temporary file `tmp` (made anew, never
    /// through a link), which is then renamed over `name`, so a reader sees the old file
    /// or the new one, never half. A temporary file left by a netlab killed half-way is
    /// removed first; anything else there is refused, and so is a `name` that is not a
    /// plain file (a rename would replace a link someone put there).
    pub fn write_atomically(&self, name: &Name, tmp: &Name, bytes: &[u8]) -> io::Result<()> {
        if let Some(st) = self.stat(name)? {
            match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
                SFlag::S_IFREG => {}
                SFlag::S_IFLNK => return Err(symlink_error(&self.join(name))),
                _ => {
                    let path = self.join(name);
                    return Err(io::Error::other(format!("{} is not a regular file; remove it", path.display())));
                }
            }
        }
        let mut file = self.create_fresh(tmp)?;
        let written = file.write_all(bytes);
        drop(file);
        let renamed = written.map_err(|e| with_path(e, "write", &self.join(tmp))).and_then(|()| {
            renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name.as_str())
                .map_err(|e| with_path(e.into(), "rename", &self.join(tmp)))
        });
        if renamed.is_err() {
            let _ = unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        renamed
    }

    /// Removes `name` (a file, or a link itself, never what it points to); `false` when
    /// there was none.
    pub fn remove(&self, name: &Name) -> io::Result<bool> {
        match unlinkat(self.fd.as_fd(), name.as_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(with_path(e.into(), "remove", &self.join(name))),
        }
    }

    /// Removes `name` if it is a regular file (or a unix socket: a relay's control socket
    /// left by a kill) that netlab could have made (owned by root or by the user netlab
    /// runs as): one of its temporary files, say, left by a kill. Anything else of that
    /// name (a link, a directory, another user's file) was put there by someone else: an
    /// error that names it, and it is left alone.
    pub fn remove_own_file(&self, name: &Name) -> io::Result<bool> {
        let Some(st) = self.stat(name)? else { return Ok(false) };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let path = self.join(name);
        if kind == SFlag::S_IFLNK {
            return Err(symlink_error(&path));
        }
        if !(kind == SFlag::S_IFREG || kind == SFlag::S_IFSOCK) || !trusted_owner(st.st_uid) {
            return Err(io::Error::other(format!(
                "{} is in netlab's way and is not a file netlab made; remove it if you know what it is",
                path.display()
            )));
        }
        self.remove(name)
    }

    /// Marks this directory as one netlab made, in a place others make directories in too
    /// (`/etc/netns/<ns>`): only such a directory is netlab's to remove once it is empty.
    /// The mark is an extended attribute in the `trusted.` namespace, which only root can
    /// set or see, kept with the directory whatever becomes of netlab's record. `false`
    /// where it cannot be set (a file system without extended attributes, or a user
    /// namespace's root): the directory is then left behind rather than taken for netlab's.
    pub fn mark_made(&self) -> bool {
        // SAFETY: fsetxattr with an open descriptor, a NUL-terminated name and a value of
        // the length given.
        let set = unsafe {
            libc::fsetxattr(self.fd.as_raw_fd(), MADE_MARK.as_ptr(), MADE_VALUE.as_ptr().cast(), MADE_VALUE.len(), 0)
        };
        set == 0
    }

    /// Whether this directory carries netlab's [`Dir::mark_made`].
    pub fn made_by_netlab(&self) -> bool {
        let mut value = [0u8; 8];
        // SAFETY: fgetxattr with an open descriptor, a NUL-terminated name and a buffer
        // of the length given.
        let len =
            unsafe { libc::fgetxattr(self.fd.as_raw_fd(), MADE_MARK.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        usize::try_from(len).is_ok_and(|len| value[..len] == *MADE_VALUE)
    }

    /// Removes the directory `name` if it is empty; `false` when it is not (or is gone).
    pub fn remove_dir_if_empty(&self, name: &Name) -> io::Result<bool> {
        match unlinkat(self.fd.as_fd(), name.as_str(), UnlinkatFlags::RemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST) => Ok(false),
            Err(e) => Err(with_path(e.into(), "remove", &self.join(name))),
        }
    }

    /// The names in it (not `.` and `..`), sorted.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        // Listed through our descriptor, so it is the directory that was checked.
        let listed = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let mut names = Vec::new();
        for entry in std::fs::read_dir(listed).map_err(|e| with_path(e, "list", &self.path))? {
            names.push(entry.map_err(|e| with_path(e, "list", &self.path))?.file_name());
        }
        names.sort();
        Ok(names)
    }
}

/// Opens a directory at `path` relative to `at` without following a link at its last
/// component, and checks it may be trusted. `shown` is its path, for messages.
fn open_dir(at: impl AsFd, path: &Path, shown: PathBuf) -> io::Result<Option<Dir>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match openat(at, path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(symlink_error(&shown)),
        Err(Errno::ENOTDIR) => {
            // O_DIRECTORY|O_NOFOLLOW on a link also says ENOTDIR on some kernels.
            let is_link = std::fs::symlink_metadata(&shown).is_ok_and(|m| m.file_type().is_symlink());
            return Err(if is_link {
                symlink_error(&shown)
            } else {
                io::Error::other(format!("{} is not a directory: netlab keeps its files there", shown.display()))
            });
        }
        Err(e) => return Err(with_path(e.into(), "open", &shown)),
    };
    let st = fstat(fd.as_fd()).map_err(|e| with_path(e.into(), "look at", &shown))?;
    check_trusted(&shown, st.st_uid, st.st_mode)?;
    Ok(Some(Dir { fd, path: shown }))
}

/// A directory is trusted when root (or netlab's own user) owns it and nobody else can
/// write to it.
fn check_trusted(path: &Path, uid: u32, mode: u32) -> io::Result<()> {
    let why = if !trusted_owner(uid) {
        format!("is owned by uid {uid}, not root")
    } else if mode & 0o002 != 0 {
        format!("is writable by others (mode {:04o})", mode & 0o7777)
    } else if mode & 0o020 != 0 {
        format!("is writable by its group (mode {:04o})", mode & 0o7777)
    } else {
        return Ok(());
    };
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{path} {why}, so netlab cannot trust what it finds there; make it root's alone \
             (chown root {path} && chmod go-w {path}) or remove it if netlab did not make it",
            path = path.display()
        ),
    ))
}

/// Root, or the user netlab runs as (in a user namespace of its own, `netlab run`).
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

fn symlink_error(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link: netlab never follows a link in its own places; remove it (netlab did not make it)",
        path.display()
    ))
}

/// An error that names the path, keeping its kind (callers tell "not found" apart).
fn with_path(e: io::Error, doing: &str, path: &Path) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return symlink_error(path);
    }
    io::Error::new(e.kind(), format!("cannot {doing} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    #[test]
    fn a_name_is_one_component_that_stays_in_its_directory() {
        for bad in ["", ".", "..", "../x", "a/b", "/etc", "a\0b"] {
            assert!(Name::new(bad).is_err(), "{bad:?}");
        }
        for good in ["web.json", ".hosts.netlab-tmp", "ns:dev.pid", "..x"] {
            assert_eq!(Name::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn files_are_written_whole_read_back_and_removed() {
        let tmp = TempDir::new();
        let dir = Dir::create(&tmp.path().join("a/netlab")).unwrap();
        assert!(dir.read(&name("x")).unwrap().is_none());
        dir.write_atomically(&name("x"), &name("x.tmp"), b"\xff bytes").unwrap();
        assert_eq!(dir.read(&name("x")).unwrap().unwrap(), b"\xff bytes");
        // A temporary file a killed netlab left is netlab's own: replaced.
        std::fs::write(dir.join(&name("x.tmp")), "stale").unwrap();
        dir.write_atomically(&name("x"), &name("x.tmp"), b"new").unwrap();
        assert_eq!(tmp.contents(), ["a", "a/netlab", "a/netlab/x"]);
        let (sub, made) = dir.create_sub(&name("lab")).unwrap();
        assert!(made && !dir.create_sub(&name("lab")).unwrap().1);
        sub.create_fresh(&name("log")).unwrap();
        assert!(!dir.remove_dir_if_empty(&name("lab")).unwrap());
        assert_eq!(sub.names().unwrap(), [OsString::from("log")]);
        assert!(sub.remove(&name("log")).unwrap() && !sub.remove(&name("log")).unwrap());
        assert!(dir.remove_dir_if_empty(&name("lab")).unwrap());
        assert!(dir.remove(&name("x")).unwrap());
        assert_eq!(tmp.contents(), ["a", "a/netlab"]);
    }

    /// A directory netlab makes has its mark before it has its name; one a killed write
    /// left under the temporary name (marked or not) is taken up again, and removed when
    /// empty; one that is not a directory netlab could have made is refused.
    #[test]
    fn a_directory_made_is_marked_before_it_has_its_name() {
        let tmp = TempDir::new();
        let dir = Dir::create(&tmp.path().join("etc")).unwrap();
        // The mark needs root (a `trusted.` attribute) and a file system that keeps it.
        let probe = dir.create_sub(&name("probe")).unwrap().0;
        if !probe.mark_made() {
            eprintln!("skipped: no trusted.* extended attributes here (not root, or the file system)");
            return;
        }
        let (ns, made) = dir.create_marked_sub(&name("ns1"), &name(".ns1.netlab-tmp")).unwrap();
        assert!(made && ns.made_by_netlab());
        assert!(!dir.create_marked_sub(&name("ns1"), &name(".ns1.netlab-tmp")).unwrap().1);
        // A kill between the directory and its mark: the temporary one is used.
        dir.create_sub(&name(".ns2.netlab-tmp")).unwrap();
        let (ns2, made) = dir.create_marked_sub(&name("ns2"), &name(".ns2.netlab-tmp")).unwrap();
        assert!(made && ns2.made_by_netlab());
        // ... and removed when empty, as netlab's own.
        dir.create_sub(&name(".ns3.netlab-tmp")).unwrap();
        assert!(dir.remove_own_dir(&name(".ns3.netlab-tmp")).unwrap());
        assert!(!dir.remove_own_dir(&name(".ns3.netlab-tmp")).unwrap());
        // One others may write to is not netlab's: refused, left alone.
        let planted = dir.join(&name(".ns4.netlab-tmp"));
        std::fs::create_dir(&planted).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = dir.create_marked_sub(&name("ns4"), &name(".ns4.netlab-tmp")).unwrap_err();
        assert!(e.to_string().contains(".ns4.netlab-tmp"), "{e}");
        assert!(dir.remove_own_dir(&name(".ns4.netlab-tmp")).is_err());
        assert_eq!(tmp.contents(), ["etc", "etc/.ns4.netlab-tmp", "etc/ns1", "etc/ns2", "etc/probe"]);
    }

    #[test]
    fn a_planted_link_is_never_followed() {
        let tmp = TempDir::new();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let dir = Dir::create(&tmp.path().join("netlab")).unwrap();
        for planted in ["x.tmp", "y", "lock", "log"] {
            symlink(&victim, dir.join(&name(planted))).unwrap();
        }
        let refused = [
            dir.write_atomically(&name("x"), &name("x.tmp"), b"pwned").unwrap_err(),
            dir.write_atomically(&name("y"), &name("y.tmp"), b"pwned").unwrap_err(),
            dir.remove_own_file(&name("log")).unwrap_err(),
            dir.open_or_create(&name("lock")).unwrap_err(),
            dir.create_fresh(&name("log")).unwrap_err(),
            dir.read(&name("log")).unwrap_err(),
        ];
        for e in refused {
            assert!(e.to_string().contains("is a symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A directory that is a link is refused too, when opened by path or by name.
        symlink(tmp.path(), tmp.path().join("linked")).unwrap();
        assert!(Dir::open(&tmp.path().join("linked")).unwrap_err().to_string().contains("is a symbolic link"));
        symlink(tmp.path(), dir.join(&name("sub"))).unwrap();
        assert!(dir.create_sub(&name("sub")).unwrap_err().to_string().contains("is a symbolic link"));
        // And a FIFO is not read (it would block).
        nix::unistd::mkfifo(&dir.join(&name("fifo")), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(dir.read(&name("fifo")).unwrap_err().to_string().contains("not a regular file"));
    }

    #[test]
    fn a_directory_others_can_write_to_is_not_trusted() {
        let tmp = TempDir::new();
        let path = tmp.path().join("netlab");
        Dir::create(&path).unwrap();
        for (mode, why) in [(0o777, "writable by others (mode 0777)"), (0o775, "writable by its group (mode 0775)")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Dir::open(&path).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
            assert!(e.to_string().contains("chmod go-w"), "{e}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(Dir::open(&path).unwrap().is_some());
        let e = check_trusted(&path, 65534, 0o755).unwrap_err();
        assert!(e.to_string().contains("is owned by uid 65534, not root"), "{e}");
    }
}
