//! Sysctls of the calling thread's namespace, through /proc/sys.
//!
//! The kernel resolves /proc/sys/net/... against the namespace of the thread that opens
//! the file, so a thread that entered a namespace reads and writes that namespace's values.

use std::io;
use std::path::PathBuf;

use crate::places::Name;

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`. As in sysctl(8), a `/` in a
/// key is a dot of a device's name: `net.ipv4.conf.flannel/1.rp_filter` ->
/// `/proc/sys/net/ipv4/conf/flannel.1/rp_filter`. Keys were checked when the topology (or
/// the record) was read (`names::check_sysctl_key`). The path is built one checked
/// component at a time all the same, so that no key can make it leave /proc/sys
/// (`/etc/shadow` would replace it whole if joined as it is).
pub fn path(key: &str) -> io::Result<PathBuf> {
    if key.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a sysctl key", key.escape_default()),
        ));
    }
    let mut path = PathBuf::from("/proc/sys");
    for part in key.split('.') {
        path.push(Name::new(part.replace('/', "."))?.as_str());
    }
    Ok(path)
}

/// The value, with the kernel's trailing newline (and tabs between fields) normalised to
/// single spaces, so values compare like the file's.
pub fn read(key: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(path(key)?)?;
    Ok(crate::live::normalise_sysctl(&text))
}

pub fn write(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(key)?, format!("{value}\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_stays_under_proc_sys() {
        assert_eq!(super::path("net.ipv4.ip_forward").unwrap().to_str(), Some("/proc/sys/net/ipv4/ip_forward"));
        for bad in ["/etc/shadow", "net..ipv4", "net.ipv4.", ".net", "net.ipv4.conf.//.rp_filter"] {
            assert!(super::path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_slash_is_a_dot_of_a_device_name() {
        let path = super::path("net.ipv4.conf.flannel/1.rp_filter").unwrap();
        assert_eq!(path.to_str(), Some("/proc/sys/net/ipv4/conf/flannel.1/rp_filter"));
    }
}
