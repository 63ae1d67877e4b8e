//! `/etc/netns/<ns>/<file>`: the hosts and resolv.conf that `ip netns exec` (and
//! `netlab exec`) mount over /etc's for processes in that namespace.
//!
//! `/etc/netns` and each namespace's directory in it are places of netlab's (see
//! [`crate::places`]): trusted only when root alone can change them, reached one checked
//! name at a time, never through a link. A file's content is bytes: what someone else
//! wrote there need not be UTF-8, and is theirs all the same.

use std::io;
use std::path::Path;

use crate::places::{Dir, Name, ETC_TMP_SUFFIX};
use crate::topology::EtcFileKind;

pub const NETNS_ETC_DIR: &str = "/etc/netns";

/// The temporary file a write goes through before it is renamed over the file.
fn tmp_name(file: EtcFileKind) -> io::Result<Name> {
    Name::new(format!(".{}{ETC_TMP_SUFFIX}", file.file_name()))
}

fn file_name(file: EtcFileKind) -> io::Result<Name> {
    Name::new(file.file_name())
}

/// The namespace's directory, or `None` when it (or /etc/netns) is not there.
fn netns_dir(netns: &str) -> io::Result<Option<Dir>> {
    let Some(etc) = Dir::open(Path::new(NETNS_ETC_DIR))? else { return Ok(None) };
    etc.sub(&Name::new(netns)?)
}

/// The name a namespace's directory is made under before it is marked and renamed (see
/// `Dir::create_marked_sub`): `.<ns>` and the temporary-file suffix, which no namespace
/// name has (they cannot start with a dot).
fn tmp_dir_name(netns: &str) -> io::Result<Name> {
    Name::new(format!(".{netns}{ETC_TMP_SUFFIX}"))
}

/// Writes the file whole: a temporary file renamed over it, so a reader never sees half.
/// The namespace's directory, when this makes it, carries netlab's mark from the moment it
/// has its name, so a kill never leaves one that `remove` would take for someone's.
pub fn write(netns: &str, file: EtcFileKind, content: &str) -> io::Result<()> {
    let etc = Dir::create(Path::new(NETNS_ETC_DIR))?;
    let (dir, _) = etc.create_marked_sub(&Name::new(netns)?, &tmp_dir_name(netns)?)?;
    dir.write_atomically(&file_name(file)?, &tmp_name(file)?, content.as_bytes())
}

/// Removes the file, the temporary file a write killed before its rename left (netlab's
/// own, whichever run wrote it), and the directory once nothing else is in it, if netlab
/// made it (someone's own directory stays, empty or not). A file that is not there is
/// `ENOENT` (already gone).
pub fn remove(netns: &str, file: EtcFileKind) -> io::Result<()> {
    let name = Name::new(netns)?;
    let Some(etc) = Dir::open(Path::new(NETNS_ETC_DIR))? else { return Err(gone()) };
    // A write killed while it made the directory leaves it under its temporary name.
    let tmp_dir_removed = etc.remove_own_dir(&tmp_dir_name(netns)?)?;
    let Some(dir) = etc.sub(&name)? else { return if tmp_dir_removed { Ok(()) } else { Err(gone()) } };
    let removed = dir.remove(&file_name(file)?)?;
    let tmp_removed = dir.remove_own_file(&tmp_name(file)?)?;
    let made = dir.made_by_netlab();
    drop(dir);
    if made {
        etc.remove_dir_if_empty(&name)?;
    }
    if removed || tmp_removed {
        Ok(())
    } else {
        Err(gone())
    }
}

fn gone() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// The file's content, or `None` when there is no such file.
pub fn read(netns: &str, file: EtcFileKind) -> io::Result<Option<Vec<u8>>> {
    match netns_dir(netns)? {
        Some(dir) => dir.read(&file_name(file)?),
        None => Ok(None),
    }
}
