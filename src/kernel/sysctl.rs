//! Sysctls of the calling thread's namespace, through /proc/sys.
//!
//! The kernel resolves /proc/sys/net/... against the namespace of the thread that opens
//! the file, so a thread that entered a namespace reads and writes that namespace's values.

use std::io;
use std::path::PathBuf;

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`. As in sysctl(8), a `/` in a
/// key is a dot of a device's name: `net.ipv4.conf.flannel/1.rp_filter` ->
/// `/proc/sys/net/ipv4/conf/flannel.1/rp_filter`. Keys were checked when the topology was
/// resolved (`names::check_sysctl_key`): nothing that climbs out.
pub fn path(key: &str) -> PathBuf {
    let relative: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    PathBuf::from("/proc/sys").join(relative)
}

/// The value, with the kernel's trailing newline (and tabs between fields) normalised to
/// single spaces, so values compare like the file's.
pub fn read(key: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(path(key))?;
    Ok(normalise(&text))
}

pub fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn write(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path(key), format!("{value}\n"))
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn a_slash_is_a_dot_of_a_device_name() {
        assert_eq!(path("net.ipv4.ip_forward").to_str(), Some("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(
            path("net.ipv4.conf.flannel/1.rp_filter").to_str(),
            Some("/proc/sys/net/ipv4/conf/flannel.1/rp_filter")
        );
    }
}
