//! `/etc/netns/<ns>/<file>`: the hosts and resolv.conf that `ip netns exec` (and
//! `netlab exec`) mount over /etc's for processes in that namespace.

use std::io;
use std::path::{Path, PathBuf};

use crate::topology::EtcFileKind;

pub const NETNS_ETC_DIR: &str = "/etc/netns";

pub fn path(netns: &str, file: EtcFileKind) -> PathBuf {
    Path::new(NETNS_ETC_DIR).join(netns).join(file.file_name())
}

/// Writes the file whole: a temporary file renamed over it, so a reader never sees half.
pub fn write(netns: &str, file: EtcFileKind, content: &str) -> io::Result<()> {
    let p = path(netns, file);
    let dir = p.parent().expect("a file under /etc/netns/<ns>");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.netlab-tmp", file.file_name()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, &p)
}

/// Removes the file, and its directory once nothing else is in it.
pub fn remove(netns: &str, file: EtcFileKind) -> io::Result<()> {
    let p = path(netns, file);
    let r = std::fs::remove_file(&p);
    if let Some(dir) = p.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    r
}

/// The file's content, or `None` when there is no such file.
pub fn read(netns: &str, file: EtcFileKind) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path(netns, file)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
