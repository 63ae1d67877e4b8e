//! Sysctls of the calling thread's namespace, through /proc/sys.
//!
//! The kernel resolves /proc/sys/net/... against the namespace of the thread that opens
//! the file, so a thread that entered a namespace reads and writes that namespace's values.

use std::io;
use std::path::PathBuf;

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`. Keys were checked when the
/// topology was resolved: dotted components of `[A-Za-z0-9_-]`, nothing that climbs out.
pub fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// The value, with the kernel's trailing newline (and tabs between fields) normalised to
/// single spaces, so values compare like the file's.
pub fn read(key: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(path(key))?;
    Ok(crate::live::normalise_sysctl(&text))
}

pub fn write(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(key), format!("{value}\n"))
}
