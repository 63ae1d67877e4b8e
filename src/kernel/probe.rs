//! Checks made before anything is created: privileges, whether the kernel has every
//! device kind a plan needs, and what the host holds that a plan must know (its listening
//! ports, its forwarding, nft, SCTP, other firewalls). A lab this machine cannot build is refused with a sentence
//! that names the missing piece, not abandoned half-built.
//! Checks made before anything is created: privileges, and whether the kernel has every
//! device kind, qdisc kind and nftables family a plan needs. A lab this machine cannot
//! build is refused with a sentence that names the missing piece, not abandoned
//! half-built.

use std::collections::BTreeSet;
use std::io;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkBridge, LinkIpIp, LinkVeth, LinkVxlan};

use super::netns;
use crate::firewall::hostports::{self, Listener};
use crate::firewall::live::Nft;
use crate::firewall::ports::PortRange;
use crate::firewall::{warnings, NetnsPath};
use crate::impair::kernel::QdiscKind;
use crate::impair::netem::{self, Qdisc, Tbf, Verb};
use crate::plan::{DeviceKind, Feature, Op};

/// Capabilities from linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_NET_ADMIN: u32 = 12;

/// Whether this process may build labs (CAP_NET_ADMIN and CAP_SYS_ADMIN).
pub fn privileged() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| eff & (1 << cap) != 0;
    has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN)
}

/// What among `ops`' needs this kernel cannot do. Each is tried for real, in a scratch
/// namespace that vanishes with the probing thread: only the kernel knows what it can load
/// on demand.
pub fn missing_kinds(ops: &[Op]) -> io::Result<Vec<Feature>> {
    missing(ops.iter().filter_map(Op::feature).collect())
}

/// Which of `features` this kernel cannot do.
fn missing(features: BTreeSet<Feature>) -> io::Result<Vec<Feature>> {
    if features.is_empty() {
        return Ok(Vec::new());
    }
    let results = netns::par_map(vec![features], 1, |features| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let socket = netns::route_socket()?;
        let mut missing = Vec::new();
        // A veth for the qdiscs and the drop to be tried on.
        let needs_link = features.iter().any(|f| !matches!(f, Feature::Device(_)));
        if needs_link {
            let veth = LinkVeth::new("probeq", "probeqp").build();
            netns::request_blocking(&socket, RouteNetlinkMessage::NewLink(veth), NLM_F_CREATE | NLM_F_EXCL)?;
        }
        let kinds = features.iter().filter_map(|f| if let Feature::Device(k) = f { Some(*k) } else { None });
        for (n, kind) in kinds.enumerate() {
            if kind == DeviceKind::Tun {
                // Opening the clone device is all a TUN device needs from the kernel.
                match std::fs::File::open("/dev/net/tun") {
                    Ok(_) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)) => {
                        missing.push(Feature::Device(kind))
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let name = format!("probe{n}");
            let msg = match kind {
                DeviceKind::Bridge => LinkBridge::new(&name).build(),
                DeviceKind::Veth => LinkVeth::new(&name, &format!("{name}p")).build(),
                DeviceKind::Vxlan => LinkVxlan::new(&name, 1).port(4789).build(),
                DeviceKind::Ipip => LinkIpIp::new(&name).build(),
                DeviceKind::Tun => unreachable!("probed above"),
            };
            // The devices are not deleted: each deletion waits for an RCU grace period,
            // and the scratch namespace takes them all when the thread ends.
            match netns::request_blocking(&socket, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL) {
                Ok(()) => {}
                // "Unknown device type": no such kind, and no module to load for it.
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => missing.push(Feature::Device(kind)),
                Err(e) => return Err(e),
            }
        }
        let index = if needs_link { nix::net::if_::if_nametoindex("probeq").map_err(io::Error::from)? } else { 0 };
        for feature in &features {
            match feature {
                Feature::Device(_) => {}
                Feature::Qdisc(kind) => {
                    let qdisc = match kind {
                        QdiscKind::Netem => Qdisc::Netem("delay=1ms".parse().expect("literal")),
                        QdiscKind::Tbf => Qdisc::Tbf(Tbf::for_rate(1_000_000, None)),
                    };
                    let (msg, flags) = netem::request(Verb::Replace, index, Some(&qdisc));
                    match netns::request_blocking(&socket, msg, flags) {
                        Ok(()) => {}
                        // "Specified qdisc kind is unknown".
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => missing.push(*feature),
                        Err(e) => return Err(e),
                    }
                }
                Feature::NetdevDrop => {
                    let here = std::fs::File::open("/proc/thread-self/ns/net")?;
                    let script =
                        crate::impair::nft::set_script("probe", "probeqp", "1%".parse().expect("literal"), true);
                    if super::nft::run(std::os::fd::AsFd::as_fd(&here), &["-f", "-"], Some(&script)).is_err() {
                        missing.push(*feature);
                    }
                }
            }
        }
        Ok(missing)
    });
    results.into_iter().next().expect("one probe")
}

/// What this kernel can do, for [`crate::plan::compile_for`]: tried for real when netlab
/// may (root), else judged from the loaded and available modules, which is what `plan`
/// without privileges can see (where that says nothing, tbf and nftables, which every
/// distribution's kernel has, are taken to be there; ipip and netem are not).
pub fn capabilities() -> crate::plan::Capabilities {
    let all = [
        Feature::Device(DeviceKind::Ipip),
        Feature::Qdisc(QdiscKind::Netem),
        Feature::Qdisc(QdiscKind::Tbf),
        Feature::NetdevDrop,
    ];
    if privileged() {
        let missing = missing(BTreeSet::from(all)).unwrap_or(all.to_vec());
        let has = |f: Feature| !missing.contains(&f);
        return crate::plan::Capabilities { ipip: has(all[0]), netem: has(all[1]), tbf: has(all[2]), nft: has(all[3]) };
    }
    // nft lives in an sbin, which a user's PATH often lacks (root's has it).
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from));
    let nft_program = dirs.any(|dir| dir.join("nft").is_file());
    crate::plan::Capabilities {
        ipip: module_status("ipip").unwrap_or(false),
        netem: module_status("sch_netem").unwrap_or(false),
        tbf: module_status("sch_tbf").unwrap_or(true),
        nft: nft_program && module_status("nf_tables").unwrap_or(true),
    }
}

/// Whether a kernel module is loaded, built in, or installed to be loaded on demand
/// (`None`: this machine does not say, having no module lists).
fn module_status(name: &str) -> Option<bool> {
    if std::path::Path::new("/sys/module").join(name).exists() {
        return Some(true);
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = std::path::Path::new("/lib/modules").join(release.trim());
    let file = format!("/{name}.ko");
    let lists: Vec<String> = ["modules.builtin", "modules.dep"]
        .iter()
        .filter_map(|list| std::fs::read_to_string(dir.join(list)).ok())
        .collect();
    if lists.is_empty() {
        return None;
    }
    Some(lists.iter().any(|text| text.lines().any(|l| l.split(':').next().is_some_and(|m| m.contains(&file)))))
}

/// Whether `nft` (nftables) can be run: the firewall of a lab with nat networks, published
/// ports or `icc = false` is made with it. The error says why not.
pub fn nft() -> Result<(), String> {
    match std::process::Command::new("nft").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether the kernel has SCTP (CONFIG_IP_SCTP).
pub fn sctp() -> bool {
    crate::firewall::hostports::sctp_available()
}

/// Whether this namespace forwards now, IPv4 and IPv6.
pub fn forwarding() -> (bool, bool) {
    let on = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
    (on("/proc/sys/net/ipv4/ip_forward"), on("/proc/sys/net/ipv6/conf/all/forwarding"))
}

/// The sockets listening in this namespace, and its ephemeral port range.
pub fn host_ports() -> io::Result<(Vec<Listener>, PortRange)> {
    let here = NetnsPath::current();
    Ok((hostports::listeners(&here)?, hostports::ephemeral_range(&here)?))
}

/// The chains of other firewalls in this namespace that would drop forwarded traffic of
/// `interfaces` (none when nft cannot be run or lists nothing: nothing to say then).
pub fn forward_drops(interfaces: &[String]) -> Vec<warnings::Warning> {
    if interfaces.is_empty() {
        return Vec::new();
    }
    match Nft::new(NetnsPath::current()).ruleset() {
        Ok(ruleset) => warnings::check(&ruleset, interfaces),
        Err(_) => Vec::new(),
    }
}
