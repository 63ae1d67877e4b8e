//! `[[links]]`: veth pairs between two endpoints, with their addresses, MACs, MTU and
//! impairment.

use super::{values, Resolver};
use crate::diagnostics::{shown, Problem};
use crate::topology::{Veth, VethEnd};

impl Resolver<'_> {
    /// Every link whose two ends resolve.
    pub(super) fn links(&mut self) -> Vec<Veth> {
        let mut veths = Vec::new();
        for link in &self.spec.links {
            let link = link.get_ref();
            let endpoints = link.endpoints.get_ref();
            if endpoints.len() != 2 {
                self.problem(
                    Problem::new(
                        link.endpoints.span(),
                        format!("a link has exactly two endpoints, this one has {}", endpoints.len()),
                    )
                    .help("endpoints = [\"node1:eth1\", \"node2:eth1\"]"),
                );
                continue;
            }
            let addresses = self.per_endpoint(link.addresses.as_ref(), 2, "addresses", values::cidr);
            let macs = self.per_endpoint(link.mac.as_ref(), 2, "mac", values::mac);
            let mtu = self.mtu(link.mtu.as_ref());
            let ipv6 = addresses.iter().flatten().find(|a| a.addr().is_ipv6());
            if let (Some(m), Some(a), Some(mtu_spec)) = (mtu, ipv6, &link.mtu) {
                if m < values::IPV6_MIN_MTU {
                    self.problem(values::ipv6_mtu(mtu_spec.span(), &format!("this link (address {a})"), m));
                }
            }
            let mut ends = Vec::new();
            for (i, endpoint) in endpoints.iter().enumerate() {
                let Some((netns, ifname)) = self.endpoint(endpoint) else { continue };
                self.claim_iface(
                    &netns,
                    &ifname,
                    endpoint.span(),
                    &format!("link endpoint {}", shown(endpoint.get_ref())),
                );
                let address = addresses.get(i).cloned().flatten();
                if let (Some(a), Some(list)) = (address, &link.addresses) {
                    self.claim_addr(&netns, a.addr(), list.get_ref()[i].span(), endpoint.get_ref());
                }
                ends.push(VethEnd { netns, name: ifname, address, mac: macs.get(i).cloned().flatten(), master: None });
            }
            let Ok(ends) = <[VethEnd; 2]>::try_from(ends) else { continue };
            let impair = link.impair.as_ref().and_then(|i| self.impair(i, (&ends[0].netns, &ends[0].name)));
            if let Some(imp) = &impair {
                self.claim_relay_ends(imp, link.impair.as_ref().map_or(0..0, |i| i.span()));
            }
            veths.push(Veth { ends, mtu, impair });
        }
        veths
    }
}
