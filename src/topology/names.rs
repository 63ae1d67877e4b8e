//! What the kernel and iproute2 accept as names, and the names netlab invents.
//!
//! Invented names are pure functions of the lab and the object they name, so a plan is
//! byte-for-byte stable (snapshot-testable) and two labs never pick the same name.

/// Longest interface name: IFNAMSIZ (16) minus the terminating NUL.
pub const IFNAME_MAX: usize = 15;
/// Longest namespace name netlab accepts (a file name under /run/netns).
pub const NETNS_MAX: usize = 64;
/// Longest lab name: it prefixes namespace names and is part of invented names.
pub const LAB_MAX: usize = 32;

/// `[a-z0-9-]`, starting with a letter or digit.
pub fn check_lab_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the lab name is empty".into());
    }
    if name.len() > LAB_MAX {
        return Err(format!("the lab name is {} bytes long; at most {LAB_MAX} fit", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("`{c}` is not allowed in a lab name; use a-z, 0-9 and -"));
    }
    if name.starts_with('-') {
        return Err("a lab name starts with a letter or a digit".into());
    }
    Ok(())
}

/// A file name under /run/netns: `[A-Za-z0-9_.-]`, not `.`, no `..`.
pub fn check_netns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the namespace name is empty".into());
    }
    if name.len() > NETNS_MAX {
        return Err(format!("namespace name `{name}` is {} bytes long; at most {NETNS_MAX} fit", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "`{}` is not allowed in namespace name `{name}`; use A-Z, a-z, 0-9, _, . and -",
            c.escape_default()
        ));
    }
    if name == "." || name.contains("..") {
        return Err(format!("namespace name `{name}` contains `..` or is `.`"));
    }
    Ok(())
}

/// Longest process name: it names files (`NODE:NAME.log`).
pub const PROCESS_MAX: usize = 64;

/// A process name (`[[nodes.X.processes]]`'s `name`): it names the process's files, so
/// `[A-Za-z0-9_.-]`, not `.` or `..`, at most 64 bytes.
pub fn check_process_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the process name is empty".into());
    }
    if name.len() > PROCESS_MAX {
        return Err(format!("process name `{name}` is {} bytes long; at most {PROCESS_MAX} fit", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "`{}` is not allowed in process name `{name}`; use A-Z, a-z, 0-9, _, . and -",
            c.escape_default()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` cannot be a process name"));
    }
    Ok(())
}

/// An interface name: at most 15 bytes, no `/`, `:` or whitespace, not `.` or `..`.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty".into());
    }
    if name.len() > IFNAME_MAX {
        return Err(format!(
            "interface name `{name}` is {} bytes long; the kernel allows at most {IFNAME_MAX}",
            name.len()
        ));
    }
    // NUL too: the kernel reads the name as a C string, so it would make `a` of `a\0b`.
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || matches!(c, '/' | ':' | '\0')) {
        return Err(format!("`{}` is not allowed in interface name `{name}`", c.escape_default()));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a usable interface name"));
    }
    Ok(())
}

/// A sysctl key in dotted form: components of `[A-Za-z0-9_-]`, so it maps onto exactly one
/// file under /proc/sys and can never climb out of it.
pub fn check_sysctl_key(key: &str) -> Result<(), String> {
    if key.contains('/') {
        return Err(format!("sysctl key `{key}` contains `/`; write it with dots, like net.ipv4.ip_forward"));
    }
    if key.contains("..") || key.starts_with('.') || key.ends_with('.') {
        return Err(format!("sysctl key `{key}` has an empty component (`..` or a leading/trailing dot)"));
    }
    if let Some(c) = key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("`{}` is not allowed in sysctl key `{key}`", c.escape_default()));
    }
    Ok(())
}

/// A host name for /etc/hosts: dot-separated labels of `[A-Za-z0-9-]`.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid host name (labels of a-z, 0-9 and -, separated by dots)"))
    }
}

/// The host-side end of a bridge-mode node's veth, like Docker's `veth1a2b3c4`.
pub fn invented_veth(lab: &str, node: &str) -> String {
    format!("veth{:08x}", short_hash(&[lab, node]))
}

/// The lab's namespace for impairment relays: netlab's own name space (`netlab-<lab>`, as
/// for its nftables tables), so no prefix makes a node collide with it unnoticed.
pub fn relay_netns(lab: &str) -> String {
    format!("netlab-{lab}-relay")
}

/// The two relay ends of an impaired link, in the relay namespace: `r<hash>a` faces the
/// link's first endpoint, `r<hash>b` its second. The hash is of the lab and the first
/// endpoint, which no other link of the lab has.
pub fn invented_relay_ends(lab: &str, netns: &str, ifname: &str) -> [String; 2] {
    let h = short_hash(&[lab, "relay", netns, ifname]);
    [format!("r{h:08x}a"), format!("r{h:08x}b")]
}

/// A bridge's default device name, like Docker's `br-<id>`. Not `<lab>-<network>`: that
/// reads better but lab "a-b" network "c" and lab "a" network "b-c" would share it. A
/// person who wants a readable name sets `device`.
pub fn invented_bridge(lab: &str, network: &str) -> String {
    format!("br-{:08x}", short_hash(&[lab, network]))
}

/// 32 bits of FNV-1a over the parts, NUL-separated so ("a-b","c") and ("a","b-c") differ,
/// then MurmurHash3's finaliser so that names differing in one character differ in every
/// hex digit. Stable across platforms and Rust versions, unlike `std`'s hasher.
fn short_hash(parts: &[&str]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(check_ifname("flannel.1").is_ok());
        assert!(check_ifname("123456789012345").is_ok());
        assert!(check_ifname("1234567890123456").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("a b").is_err());
        assert!(check_ifname("a\0b").is_err());
    }

    #[test]
    fn namespace_names() {
        assert!(check_netns_name("lab-ns1").is_ok());
        assert!(check_netns_name("a/b").is_err());
        assert!(check_netns_name("a..b").is_err());
        assert!(check_netns_name(".").is_err());
        assert!(check_netns_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn invented_names_fit_and_are_stable() {
        let v = invented_veth("a-very-long-lab-name-indeed", "node-with-long-name");
        assert!(check_ifname(&v).is_ok(), "{v}");
        assert_eq!(v, invented_veth("a-very-long-lab-name-indeed", "node-with-long-name"));
        assert_ne!(invented_veth("lab1", "n"), invented_veth("lab2", "n"));
        let bridge = invented_bridge("kubernetes-lab", "pods");
        assert!(bridge.starts_with("br-") && bridge.len() == 11, "{bridge}");
        assert_ne!(invented_bridge("a-b", "c"), invented_bridge("a", "b-c"));
    }

    #[test]
    fn sysctl_keys() {
        assert!(check_sysctl_key("net.ipv4.ip_forward").is_ok());
        assert!(check_sysctl_key("net.ipv4.conf.all.rp_filter").is_ok());
        assert!(check_sysctl_key("net/ipv4/ip_forward").is_err());
        assert!(check_sysctl_key("net..ipv4").is_err());
        assert!(check_sysctl_key("..").is_err());
    }
}
