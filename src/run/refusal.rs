//! What an unprivileged `netlab run` cannot do, said before anything starts, in one
//! sentence with what would allow it: a lab whose tunnels need TUN devices (udp, and ipip
//! where the kernel has no ipip module) when this user cannot open /dev/net/tun, and
//! processes that run as another user when only the caller's own id can be mapped.

use std::collections::BTreeSet;

use super::userns::{self, Mapping};
use crate::plan::Op;
use crate::process::node::Credentials;
use crate::topology::TunnelKind;
use crate::Topology;

/// Whether this (unprivileged) user may open /dev/net/tun: a TUN device needs it even in
/// a user namespace, where the device node's owner and mode still apply.
pub fn can_open_tun() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun").is_ok()
}

/// Checks what the lab needs against what an unprivileged user may do; the id mapping
/// its user namespace needs, or why it cannot run.
///
/// `plan` is the lab's plan for this machine; `users` are the users its processes run as
/// (`node:process`, who).
pub fn check(topology: &Topology, plan: &[Op], users: &[(String, Credentials)]) -> Result<Mapping, String> {
    let lab = &topology.lab;
    let tun_devices: BTreeSet<&str> = plan
        .iter()
        .filter_map(|op| if let Op::TunAdd { name, .. } = op { Some(name.as_str()) } else { None })
        .collect();
    if !tun_devices.is_empty() && !can_open_tun() {
        let kinds: BTreeSet<&str> = topology
            .tunnels
            .iter()
            .filter(|t| t.ends.iter().any(|e| tun_devices.contains(e.name.as_str())))
            .map(|t| match t.kind {
                TunnelKind::Udp { .. } => "udp tunnels",
                TunnelKind::Ipip { .. } => "ipip tunnels in userspace (this kernel has no ipip module)",
                TunnelKind::Vxlan { .. } => "vxlan tunnels",
            })
            .collect();
        let kinds: Vec<&str> = kinds.into_iter().collect();
        return Err(format!(
            "lab {lab} has {}, whose forwarders need /dev/net/tun, which only root may open on this machine: \
             run it as root (sudo netlab run ...), or give your user read-write access to /dev/net/tun",
            kinds.join(" and ")
        ));
    }
    let others: Vec<&(String, Credentials)> = users.iter().filter(|(_, c)| c.uid != 0 || c.gid != 0).collect();
    let Some((first, who)) = others.first() else { return Ok(Mapping::Own) };
    let why_not = |reason: String| {
        format!(
            "process {first} runs as user {} (uid {}), but an unprivileged netlab run maps only your own id into \
             its user namespace, and {reason}: install uidmap and give your user a range of at least {} ids in \
             /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER), \
             or run it as root",
            who.name,
            who.uid,
            others
                .iter()
                .map(|(_, c)| c.uid.max(c.gid).max(c.groups.iter().copied().max().unwrap_or(0)))
                .max()
                .unwrap_or(0)
                + 1
        )
    };
    let mapping = userns::ranges_for_current_user().map_err(why_not)?;
    for (key, c) in &others {
        let unmapped = std::iter::once(c.gid).chain(c.groups.iter().copied()).find(|g| !mapping.maps_gid(*g));
        if !mapping.maps_uid(c.uid) || unmapped.is_some() {
            return Err(why_not(format!(
                "your ranges do not reach process {key}'s ids (uid {}, gid {})",
                c.uid,
                unmapped.unwrap_or(c.gid)
            )));
        }
    }
    Ok(mapping)
}
