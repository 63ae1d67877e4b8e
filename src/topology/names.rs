//! What the kernel and iproute2 accept as names, and the names netlab invents.
//!
//! Invented names are pure functions of the lab and the object they name, so a plan is
//! byte-for-byte stable (snapshot-testable); they fill the 15 bytes an interface name has
//! with a 128-bit hash, so that two labs pick the same name only by a chance too small to
//! happen (see [`ALPHABET`]).

use crate::diagnostics::{is_special, shown};

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

/// A file name under /run/netns: `[A-Za-z0-9_.-]`, not `.`, no `..`, not `host`.
pub fn check_netns_name(name: &str) -> Result<(), String> {
    check_netns_prefix(name)?;
    if name == "host" {
        // A node's namespace named `host` would read as the root namespace in plans, in
        // records and in the files of its forwarders (`host:flannel.1.pid`).
        return Err("namespace name `host` is how netlab writes the root namespace; choose another".into());
    }
    Ok(())
}

/// What the start of a namespace name (a lab's `prefix`) may be: the characters and length
/// of [`check_netns_name`], and `host` too, since more follows.
pub fn check_netns_prefix(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the namespace name is empty".into());
    }
    if name.len() > NETNS_MAX {
        return Err(format!("namespace name `{}` is {} bytes long; at most {NETNS_MAX} fit", shown(name), name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "`{}` is not allowed in namespace name `{}`; use A-Z, a-z, 0-9, _, . and -",
            c.escape_default(),
            shown(name)
        ));
    }
    if name == "." || name.contains("..") {
        return Err(format!("namespace name `{}` contains `..` or is `.`", shown(name)));
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
        return Err(format!("process name `{}` is {} bytes long; at most {PROCESS_MAX} fit", shown(name), name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "`{}` is not allowed in process name `{}`; use A-Z, a-z, 0-9, _, . and -",
            c.escape_default(),
            shown(name)
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` cannot be a process name"));
    }
    Ok(())
}

/// What an interface name may be, for the help under a problem with one.
pub const IFNAME_HELP: &str =
    "an interface name is 1 to 15 bytes of letters, digits and punctuation but / : and %, like eth1 or flannel.1";

/// An interface name the kernel takes as it is: at most 15 bytes; none of `/`, `:` or a
/// space (the kernel refuses them), `%` (a template to the kernel), control or invisible
/// characters (a terminal acts on them in `netlab plan`); not `.`, `..`, `all` or `default`
/// (the kernel refuses them), nor a name the kernel gives its own devices.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the interface name is empty".into());
    }
    if name.len() > IFNAME_MAX {
        return Err(format!(
            "interface name `{}` is {} bytes long; the kernel allows at most {IFNAME_MAX}",
            shown(name),
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !ifname_char(*c)) {
        let why = match c {
            '%' if name.contains("%d") => {
                format!(": the kernel reads `%d` as a template and would make {} instead", name.replacen("%d", "0", 1))
            }
            '%' => ": the kernel reads `%` as the start of a template".into(),
            // The kernel's isspace() says yes to the byte 0xa0, which is in the UTF-8 of
            // characters like `à` (c3 a0).
            c if !c.is_whitespace() && c.to_string().bytes().any(|b| b == 0xa0) => {
                ": the kernel reads one of its bytes (0xa0) as a space".into()
            }
            _ => String::new(),
        };
        return Err(format!("`{}` is not allowed in interface name `{}`{why}", c.escape_default(), shown(name)));
    }
    if name == "." || name == ".." {
        return Err(format!("`{}` is not a usable interface name", shown(name)));
    }
    if name == "all" || name == "default" {
        return Err(format!(
            "`{name}` cannot be an interface name: the kernel keeps net.ipv4.conf.{name} for settings of every interface"
        ));
    }
    if let Some((_, module)) = KERNEL_DEVICES.iter().find(|(n, _)| *n == name) {
        return Err(format!(
            "`{name}` cannot be an interface name: the kernel makes a device of that name in every namespace \
             when {module} is loaded"
        ));
    }
    Ok(())
}

/// Names the kernel gives devices of its own in every network namespace once a module is
/// loaded (the fallback tunnel devices; the bonding driver's sysfs file).
const KERNEL_DEVICES: &[(&str, &str)] = &[
    ("tunl0", "ipip"),
    ("gre0", "ip_gre"),
    ("gretap0", "ip_gre"),
    ("erspan0", "ip_gre"),
    ("sit0", "sit"),
    ("ip6tnl0", "ip6_tunnel"),
    ("ip6gre0", "ip6_gre"),
    ("ip_vti0", "ip_vti"),
    ("ip6_vti0", "ip6_vti"),
    ("bonding_masters", "bonding"),
];

fn ifname_char(c: char) -> bool {
    // NUL is special too: the kernel reads the name as a C string, so `a\0b` would make `a`.
    !(c.is_whitespace() || is_special(c) || matches!(c, '/' | ':' | '%') || c.to_string().bytes().any(|b| b == 0xa0))
}

/// A node or network name: `[A-Za-z0-9_.-]`, at most 64 bytes, not `.`, no `..`. A node's
/// name is part of its namespace's name (a file under /run/netns) and of commands like
/// `netlab exec`; a network's is echoed in plans and messages. `what` is "node" or "network".
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if name.len() > NETNS_MAX {
        return Err(format!("{what} name `{}` is {} bytes long; at most {NETNS_MAX} fit", shown(name), name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!(
            "`{}` is not allowed in {what} name `{}`; use A-Z, a-z, 0-9, _, . and -",
            c.escape_default(),
            shown(name)
        ));
    }
    if name == "." || name.contains("..") {
        return Err(format!("{what} name `{}` contains `..` or is `.`", shown(name)));
    }
    Ok(())
}

/// Longest sysctl value: the kernel reads at most a page less one byte of a write to an
/// integer sysctl and silently drops the rest.
pub const SYSCTL_VALUE_MAX: usize = 4095;

/// A sysctl value as text: one line, no control characters but tabs, at most
/// [`SYSCTL_VALUE_MAX`] bytes.
pub fn check_sysctl_value(value: &str) -> Result<(), String> {
    if value.len() > SYSCTL_VALUE_MAX {
        return Err(format!(
            "sysctl value `{}` is {} bytes long; the kernel reads at most {SYSCTL_VALUE_MAX}",
            shown(value),
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|c| is_special(*c) && *c != '\t') {
        return Err(format!(
            "`{}` is not allowed in sysctl value `{}`: a value is one line of text",
            c.escape_default(),
            shown(value)
        ));
    }
    Ok(())
}

/// A sysctl key in dotted form, so that it maps onto exactly one file under /proc/sys and
/// can never climb out of it: components of `[A-Za-z0-9_-]`, except the device of a
/// per-device key (see [`DeviceKey`]), which is an interface name.
pub fn check_sysctl_key(key: &str) -> Result<(), String> {
    if key.contains("..") || key.starts_with('.') || key.ends_with('.') {
        return Err(format!("sysctl key `{}` has an empty component (`..` or a leading/trailing dot)", shown(key)));
    }
    let plain = |part: &str| part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')));
    if let Some(device_key) = DeviceKey::parse(key) {
        if let Some(c) = plain(device_key.param) {
            return Err(format!("`{}` is not allowed in sysctl key `{}`", c.escape_default(), shown(key)));
        }
        if !matches!(device_key.device.as_str(), "all" | "default") {
            check_ifname(&device_key.device).map_err(|e| format!("sysctl key `{}` names a device: {e}", shown(key)))?;
        }
        return Ok(());
    }
    if key.contains('/') {
        return Err(format!("sysctl key `{}` contains `/`; write it with dots, like net.ipv4.ip_forward", shown(key)));
    }
    if let Some(c) = plain(key) {
        return Err(format!("`{}` is not allowed in sysctl key `{}`", c.escape_default(), shown(key)));
    }
    Ok(())
}

/// A sysctl key of one device: `net.ipv4.conf.eth0.rp_filter` (also `ipv6`, and `neigh`
/// for `conf`). A device name may hold dots (`flannel.1`): the key may spell them as they
/// are (`net.ipv4.conf.flannel.1.rp_filter`: the parameter is always the last component)
/// or as sysctl(8) does (`net.ipv4.conf.flannel/1.rp_filter`), which is how netlab prints it.
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceKey<'a> {
    /// `net.ipv4.conf`, `net.ipv6.conf`, `net.ipv4.neigh` or `net.ipv6.neigh`.
    pub tree: &'a str,
    /// The device's own name, with its dots.
    pub device: String,
    pub param: &'a str,
}

impl<'a> DeviceKey<'a> {
    pub fn parse(key: &'a str) -> Option<DeviceKey<'a>> {
        let tree = ["net.ipv4.conf", "net.ipv6.conf", "net.ipv4.neigh", "net.ipv6.neigh"]
            .into_iter()
            .find(|t| key.strip_prefix(t).is_some_and(|rest| rest.starts_with('.')))?;
        let (device, param) = key[tree.len() + 1..].rsplit_once('.')?;
        (!device.is_empty()).then(|| DeviceKey { tree: &key[..tree.len()], device: device.replace('/', "."), param })
    }

    /// The key as sysctl(8) writes it: the device's dots as `/`.
    pub fn sysctl8(&self) -> String {
        format!("{}.{}.{}", self.tree, self.device.replace('.', "/"), self.param)
    }
}

/// The setting a sysctl key names: keys the kernel keeps as one setting are one
/// (`net.ipv4.conf.all.forwarding` is `net.ipv4.ip_forward`: writing either writes both,
/// and every device's `forwarding`).
pub fn sysctl_setting(key: &str) -> &str {
    match key {
        "net.ipv4.conf.all.forwarding" => "net.ipv4.ip_forward",
        other => other,
    }
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
        Err(format!("`{}` is not a valid host name (labels of a-z, 0-9 and -, separated by dots)", shown(name)))
    }
}

/// The host-side end of a bridge-mode node's veth, like Docker's `veth1a2b3c4`: `veth` and
/// 11 characters of [`ALPHABET`], all 15 bytes an interface name has (65 bits of hash).
/// `attempt` 0 is the name; 1, 2, ... are the next candidates, in a fixed order, for when
/// the lab has already used it (see [`first_free`]).
pub fn invented_veth(lab: &str, node: &str, attempt: u32) -> String {
    format!("veth{}", encode(hash_attempt(&["veth", lab, node], attempt), IFNAME_MAX - "veth".len()))
}

/// The lab's namespace for impairment relays: netlab's own name space (`netlab-<lab>`, as
/// for its nftables tables), so no prefix makes a node collide with it unnoticed.
pub fn relay_netns(lab: &str) -> String {
    format!("netlab-{lab}-relay")
}

/// The two relay ends of an impaired link, in the relay namespace: `r<hash>a` faces the
/// link's first endpoint, `r<hash>b` its second, with 13 characters of [`ALPHABET`]. The
/// hash is of the lab and the first endpoint, which no other link of the lab has;
/// `attempt` as for [`invented_veth`].
pub fn invented_relay_ends(lab: &str, netns: &str, ifname: &str, attempt: u32) -> [String; 2] {
    let h = encode(hash_attempt(&["relay", lab, netns, ifname], attempt), IFNAME_MAX - 2);
    [format!("r{h}a"), format!("r{h}b")]
}

/// A bridge's default device name, like Docker's `br-<id>`: `br-` and 12 characters of
/// [`ALPHABET`] (71 bits); `attempt` as for [`invented_veth`]. Not `<lab>-<network>`: that
/// reads better but lab "a-b" network "c" and lab "a" network "b-c" would share it. A
/// person who wants a readable name sets `device`.
pub fn invented_bridge(lab: &str, network: &str, attempt: u32) -> String {
    format!("br-{}", encode(hash_attempt(&["bridge", lab, network], attempt), IFNAME_MAX - "br-".len()))
}

/// The first of the candidates `name(0)`, `name(1)`, ... that is not `taken`: inside one
/// lab an invented name never clashes with another name of the lab, whatever the hash
/// does, and the same file always gives the same names.
pub fn first_free(name: impl Fn(u32) -> String, taken: impl Fn(&str) -> bool) -> String {
    (0..).map(name).find(|n| !taken(n)).expect("a name is free: a lab has fewer than 2^32 interfaces")
}

fn hash_attempt(parts: &[&str], attempt: u32) -> u128 {
    match attempt {
        0 => hash(parts),
        n => {
            let n = n.to_string();
            hash(&[parts, &[n.as_str()]].concat())
        }
    }
}

/// The characters of invented names: letters and digits, which every tool takes as they
/// are (no quoting, no `%` template, nothing a terminal acts on) and which hold the most
/// hash per byte of the 15. Case matters to the kernel, so both cases count.
///
/// Two labs' names collide by chance only: with 11 characters (62^11 = 5.2e19 names), n
/// invented names on one host collide with probability about n^2 / (2 * 62^11). For 10^4
/// labs of 10^3 nodes each all up at once (10^7 names, more devices than a host holds)
/// that is 1e-6; for a large host of 10^5 invented names, 1e-10; for two labs of 1000
/// nodes, 2e-14. (The 8 hex digits before: certain at 10^7 names, 69% at 10^5, 2e-4 for
/// two labs of 1000 nodes.) Inside one lab a collision is resolved, not left to chance.
pub const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `len` characters of [`ALPHABET`] from a hash (its low 6 bits per character, about).
fn encode(mut h: u128, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % 62) as usize];
            h /= 62;
            char::from(c)
        })
        .collect()
}

/// 128 bits of FNV-1a over the parts (the kind of name first, so a node and a network of
/// one name do not share digits), NUL-separated so ("a-b","c") and ("a","b-c") differ,
/// then MurmurHash3's 64-bit finaliser over each half, each mixed into the other, so that
/// names differing in one character differ in every character. Stable across platforms
/// and Rust versions, unlike `std`'s hasher.
fn hash(parts: &[&str]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    let fmix = |mut k: u64| {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    };
    let (hi, lo) = ((h >> 64) as u64, h as u64);
    let lo = fmix(lo ^ fmix(hi));
    let hi = fmix(hi ^ lo);
    (u128::from(hi) << 64) | u128::from(lo)
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
        for bad in [
            "br%d",
            "e\u{1b}[2J",
            "a\u{7}",
            "a\u{7f}",
            "a\u{9b}",
            "a\u{202e}",
            "a\u{200b}",
            "\u{e0}",
            "all",
            "default",
            "tunl0",
        ] {
            assert!(check_ifname(bad).is_err(), "{bad:?} passes");
        }
        assert!(check_ifname("br%d").unwrap_err().contains("would make br0 instead"));
        assert!(check_ifname("v\u{e0}").unwrap_err().contains("(0xa0) as a space"));
        assert!(check_ifname("\u{e9}th0").is_ok(), "UTF-8 without the byte 0xa0 is the kernel's to take");
        assert!(check_ifname("all0").is_ok() && check_ifname("defaults").is_ok());
    }

    #[test]
    fn node_and_network_names() {
        assert!(check_name("node", "web-1.a_b").is_ok());
        for bad in ["", "a\u{1b}", "a\nb", "a\0b", "a b", "a/b", "..", ".", "a..b", "é"] {
            assert!(check_name("node", bad).is_err(), "{bad:?} passes");
        }
        assert_eq!(
            check_name("node", &"x".repeat(65)).unwrap_err(),
            format!("node name `{}` is 65 bytes long; at most 64 fit", "x".repeat(65))
        );
    }

    #[test]
    fn sysctl_values() {
        assert!(check_sysctl_value("4096 87380\t6291456").is_ok());
        assert!(check_sysctl_value("1\n2").is_err());
        assert!(check_sysctl_value("\u{1b}[2J").is_err());
        assert!(check_sysctl_value(&"1".repeat(4096)).is_err());
    }

    #[test]
    fn namespace_names() {
        assert!(check_netns_name("lab-ns1").is_ok());
        assert!(check_netns_name("a/b").is_err());
        assert!(check_netns_name("a..b").is_err());
        assert!(check_netns_name(".").is_err());
        assert!(check_netns_name(&"x".repeat(65)).is_err());
        assert!(check_netns_name("host").is_err(), "the root namespace's name in plans and files");
        assert!(check_netns_prefix("host").is_ok() && check_netns_name("hosts").is_ok());
    }

    #[test]
    fn invented_names_fill_ifnamsiz_and_are_stable() {
        let v = invented_veth("a-very-long-lab-name-indeed", "node-with-long-name", 0);
        assert!(check_ifname(&v).is_ok() && v.len() == IFNAME_MAX, "{v}");
        assert_eq!(v, invented_veth("a-very-long-lab-name-indeed", "node-with-long-name", 0));
        assert_ne!(invented_veth("lab1", "n", 0), invented_veth("lab2", "n", 0));
        let bridge = invented_bridge("kubernetes-lab", "pods", 0);
        assert!(bridge.starts_with("br-") && bridge.len() == IFNAME_MAX, "{bridge}");
        assert_ne!(invented_bridge("a-b", "c", 0), invented_bridge("a", "b-c", 0));
        // Fixed forever: plans are snapshot-tested, and a lab that is up keeps its names
        // across netlab versions only if they do not change.
        assert_eq!(invented_veth("docker", "web", 0), "vethS3b5qpZlt8b");
        assert_eq!(invented_bridge("docker", "web", 0), "br-X88Rl0PsD3or");
    }

    /// The two labs of the issue, which both invented `veth856310d4` for their node `web`.
    #[test]
    fn two_labs_that_shared_a_name_do_not_any_more() {
        assert_ne!(invented_veth("lab67047", "web", 0), invented_veth("lab105530", "web", 0));
    }

    #[test]
    fn a_name_taken_moves_to_the_next_candidate_in_a_fixed_order() {
        let first = invented_veth("lab", "web", 0);
        let second = invented_veth("lab", "web", 1);
        assert_ne!(first, second);
        assert!(check_ifname(&second).is_ok() && second.starts_with("veth") && second.len() == IFNAME_MAX);
        let name = |n| invented_veth("lab", "web", n);
        assert_eq!(first_free(name, |_| false), first);
        assert_eq!(first_free(name, |n| n == first), second);
        assert_eq!(first_free(name, |n| n == first || n == second), invented_veth("lab", "web", 2));
    }

    /// Inside one lab an invented name never clashes: with a name the file writes (before
    /// or after it), nor with one invented before. (A 200,000-node file had 8 such clashes
    /// of the 32-bit hash; the wider hash has none, so the clash is made on purpose here.)
    #[test]
    fn inside_one_lab_an_invented_name_that_is_taken_moves_to_the_next_candidate() {
        let topology = |text: &str| crate::testing::topology(&format!("[lab]\nname = \"x\"\n{text}"));
        let host_end = |t: &crate::Topology, node: &str| {
            let veth = t.veths.iter().find(|v| v.ends[0].netns.name() == Some(&format!("x-{node}"))).unwrap();
            veth.ends[1].name.clone()
        };
        let web = invented_veth("x", "web", 0);
        // A bridge named like web's veth (claimed before it), a link end named like it
        // (claimed after), another node's veth: none takes web's name from the other.
        let net =
            format!("[networks.net]\nsubnet = \"10.0.0.0/24\"\ndevice = \"{web}\"\n[nodes.web]\nnetwork = \"net\"\n");
        let t = topology(&net);
        assert_eq!(host_end(&t, "web"), invented_veth("x", "web", 1));
        let link = format!(
            "[networks.net]\nsubnet = \"10.0.0.0/24\"\n[nodes.web]\nnetwork = \"net\"\n[nodes.a]\n\
             [[links]]\nendpoints = [\"a:e0\", \"host:{web}\"]\n"
        );
        let t = topology(&link);
        assert_eq!(host_end(&t, "web"), invented_veth("x", "web", 1));
        assert_eq!(host_end(&t, "a"), web);
        // Bridges too: network b's device is what network a would have invented.
        let a = invented_bridge("x", "a", 0);
        let nets = format!(
            "[networks.a]\nsubnet = \"10.0.0.0/24\"\n[networks.b]\nsubnet = \"10.0.1.0/24\"\ndevice = \"{a}\"\n"
        );
        let t = topology(&nets);
        let devices: Vec<&str> = t.bridges.iter().map(|b| b.device.as_str()).collect();
        assert_eq!(devices, [invented_bridge("x", "a", 1), a]);
        // The same file gives the same names, every time.
        assert_eq!(crate::plan::compile(&topology(&link)).ops, crate::plan::compile(&topology(&link)).ops);
    }

    #[test]
    fn relay_ends_are_a_pair_that_fills_ifnamsiz() {
        let [a, b] = invented_relay_ends("wan", "wan-gw-a", "wan0", 0);
        assert!(a.len() == IFNAME_MAX && check_ifname(&a).is_ok(), "{a}");
        assert_eq!((&a[..14], &a[14..], &b[..14], &b[14..]), (&b[..14], "a", &a[..14], "b"));
        assert_ne!(invented_relay_ends("wan", "wan-gw-a", "wan0", 1)[0], a);
        assert_ne!(invented_relay_ends("wan", "wan-gw-b", "wan0", 0)[0], a);
    }

    /// Every character is used, each about as often: the names carry the hash's bits.
    #[test]
    fn invented_names_spread_over_the_alphabet() {
        let mut counts = [0usize; 62];
        let n = 20_000;
        for i in 0..n {
            for c in invented_veth("lab", &format!("node{i}"), 0)[4..].bytes() {
                counts[ALPHABET.iter().position(|a| *a == c).unwrap()] += 1;
            }
        }
        let mean = (n * 11) as f64 / 62.0;
        for (i, c) in counts.iter().enumerate() {
            assert!(
                (*c as f64 - mean).abs() < mean * 0.1,
                "{} appears {c} times, not about {mean}",
                ALPHABET[i] as char
            );
        }
    }

    #[test]
    fn sysctl_keys() {
        assert!(check_sysctl_key("net.ipv4.ip_forward").is_ok());
        assert!(check_sysctl_key("net.ipv4.conf.all.rp_filter").is_ok());
        assert!(check_sysctl_key("net/ipv4/ip_forward").is_err());
        assert!(check_sysctl_key("net..ipv4").is_err());
        assert!(check_sysctl_key("..").is_err());
        assert!(check_sysctl_key("net.ipv4.conf.flannel.1.rp_filter").is_ok());
        assert!(check_sysctl_key("net.ipv4.conf.flannel/1.rp_filter").is_ok());
        assert!(check_sysctl_key("net.ipv6.neigh.default.gc_thresh1").is_ok());
        assert!(check_sysctl_key("net/ipv4/conf/eth0/rp_filter").unwrap_err().contains("contains `/`"));
        assert!(check_sysctl_key("net.ipv4.conf.e\u{1b}0.rp_filter").unwrap_err().contains("names a device"));
        assert!(check_sysctl_key("net.ipv4.conf.eth0.rp/filter").is_err(), "a `/` outside the device");
    }

    #[test]
    fn device_keys_in_both_spellings() {
        let key = DeviceKey::parse("net.ipv4.conf.flannel.1.rp_filter").unwrap();
        assert_eq!(key, DeviceKey { tree: "net.ipv4.conf", device: "flannel.1".into(), param: "rp_filter" });
        assert_eq!(key.sysctl8(), "net.ipv4.conf.flannel/1.rp_filter");
        assert_eq!(DeviceKey::parse("net.ipv4.conf.flannel/1.rp_filter"), Some(key));
        let neigh = DeviceKey::parse("net.ipv6.neigh.v1.base_reachable_time_ms").unwrap();
        assert_eq!((neigh.device.as_str(), neigh.sysctl8()), ("v1", "net.ipv6.neigh.v1.base_reachable_time_ms".into()));
        assert_eq!(DeviceKey::parse("net.ipv4.ip_forward"), None);
        assert_eq!(DeviceKey::parse("net.ipv4.conf.all"), None);
        assert_eq!(DeviceKey::parse("net.ipv4.confx.eth0.rp_filter"), None);
    }
}
