//! Checks made before anything is created: privileges, and whether the kernel has every
//! device kind a plan needs. A lab this machine cannot build is refused with a sentence
//! that names the missing piece, not abandoned half-built.

use std::collections::BTreeSet;
use std::io;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkBridge, LinkIpIp, LinkVeth, LinkVxlan};

use super::netns;
use crate::plan::{DeviceKind, Op};

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

/// The device kinds among `ops` that this kernel cannot make. Each is tried for real, in
/// a scratch namespace that vanishes with the probing thread: only the kernel knows what it
/// can load on demand.
pub fn missing_kinds(ops: &[Op]) -> io::Result<Vec<DeviceKind>> {
    missing(ops.iter().filter_map(Op::device_kind).collect())
}

/// Which of `kinds` this kernel cannot make.
fn missing(kinds: BTreeSet<DeviceKind>) -> io::Result<Vec<DeviceKind>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let results = netns::par_map(vec![kinds], 1, |kinds| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let socket = netns::route_socket()?;
        let mut missing = Vec::new();
        for (n, kind) in kinds.into_iter().enumerate() {
            if kind == DeviceKind::Tun {
                // Opening the clone device is all a TUN device needs from the kernel.
                match std::fs::File::open("/dev/net/tun") {
                    Ok(_) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)) => {
                        missing.push(kind)
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
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => missing.push(kind),
                Err(e) => return Err(e),
            }
        }
        Ok(missing)
    });
    results.into_iter().next().expect("one probe")
}

/// What this kernel can do, for [`crate::plan::compile_for`]: tried for real when netlab
/// may (root), else judged from the loaded and available modules, which is what `plan`
/// without privileges can see.
pub fn capabilities() -> crate::plan::Capabilities {
    let ipip = if privileged() {
        missing(BTreeSet::from([DeviceKind::Ipip])).is_ok_and(|m| m.is_empty())
    } else {
        module_available("ipip")
    };
    crate::plan::Capabilities { ipip }
}

/// Whether a kernel module is loaded, built in, or installed to be loaded on demand.
fn module_available(name: &str) -> bool {
    if std::path::Path::new("/sys/module").join(name).exists() {
        return true;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = std::path::Path::new("/lib/modules").join(release.trim());
    let file = format!("/{name}.ko");
    ["modules.builtin", "modules.dep"].iter().any(|list| {
        std::fs::read_to_string(dir.join(list))
            .is_ok_and(|text| text.lines().any(|l| l.split(':').next().is_some_and(|m| m.contains(&file))))
    })
}
