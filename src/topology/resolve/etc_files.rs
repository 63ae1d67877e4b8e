//! `/etc/netns/<ns>/hosts` and `resolv.conf` from a node's `hostname`, `hosts` and `dns`,
//! for every name of its namespace (its own and the second names of container-mode nodes
//! that share it), because `ip netns exec NAME` reads /etc/netns/NAME.

use std::collections::HashMap;
use std::net::IpAddr;

use super::nodes::RawMode;
use super::{values, Resolver};
use crate::topology::{names, Alias, EtcFile, EtcFileKind, Mode, Netns, Node};

/// The first lines of every hosts file netlab writes, as in a distribution's /etc/hosts.
const HOSTS_HEADER: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

impl Resolver<'_> {
    pub(super) fn etc_files(&mut self, nodes: &[Node], aliases: &[Alias]) -> Vec<EtcFile> {
        let mut files = Vec::new();
        let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        for (i, (key, node)) in self.spec.nodes.iter().enumerate() {
            let name = key.get_ref().as_str();
            let node_spec = node.get_ref();
            // Host and container mode have no /etc/netns files of their own; `mode_fields`
            // reports these fields there.
            if matches!(self.modes[i].mode, RawMode::Host | RawMode::Container(_)) {
                continue;
            }
            // The values are checked even for a node that did not resolve (say its network
            // is unknown), so that they are reported in the same run.
            let hostname = node_spec.hostname.as_ref().filter(|h| match names::check_hostname(h.get_ref()) {
                Err(e) => {
                    self.error(h.span(), e);
                    false
                }
                Ok(()) => true,
            });
            let mut extra = String::new();
            for (host, ip) in &node_spec.hosts {
                if let Err(e) = names::check_hostname(host.get_ref()) {
                    self.error(host.span(), e);
                }
                if let Some(ip) = self.report(values::addr(ip)) {
                    extra.push_str(&format!("{ip}\t{}\n", host.get_ref()));
                }
            }
            let mut resolv = String::new();
            for server in &node_spec.dns {
                if let Some(ip) = self.report(values::addr(server)) {
                    resolv.push_str(&format!("nameserver {ip}\n"));
                }
            }
            let Some(node) = by_name.get(name) else { continue };
            let Netns::Named(netns) = &node.netns else { continue };
            let mut hosts = String::new();
            if node_spec.hostname.is_some() || !node_spec.hosts.is_empty() {
                hosts.push_str(HOSTS_HEADER);
            }
            if let Some(h) = hostname {
                hosts.push_str(&format!("{}\t{}\n", self.hostname_address(node), h.get_ref()));
            }
            hosts.push_str(&extra);
            let names = std::iter::once(netns.as_str())
                .chain(aliases.iter().filter(|a| a.target == *netns).map(|a| a.name.as_str()));
            for ns in names {
                for (kind, content) in [(EtcFileKind::Hosts, &hosts), (EtcFileKind::ResolvConf, &resolv)] {
                    if !content.is_empty() {
                        files.push(EtcFile { netns: ns.to_string(), kind, content: content.clone() });
                    }
                }
            }
        }
        files
    }

    /// The address a node's own hostname stands for: its bridge address, else the first
    /// address of its namespace, else 127.0.1.1 as Debian does for a host without one.
    fn hostname_address(&self, node: &Node) -> IpAddr {
        match &node.mode {
            Mode::Bridge { address, .. } => address.addr(),
            _ => self
                .netns_addrs
                .get(&node.netns)
                .and_then(|a| a.first().copied())
                .unwrap_or(IpAddr::from([127, 0, 1, 1])),
        }
    }
}
