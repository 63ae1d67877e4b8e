//! What `Linux` reads of the kernel: a namespace's links, addresses and routes, its root
//! qdiscs, and single links by name (their ifalias: whose they are). One dump at a time
//! per connection, every namespace at once.

use futures_util::future::join_all;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::RouteNetlinkMessage;

use super::super::netlink::{self, build};
use super::super::{Families, OpError};
use super::Linux;
use crate::live::{LiveLink, LiveNetns, LiveQdisc};
use crate::topology::Netns;

impl Linux {
    /// Dumps links, and addresses and routes of the families given, of each namespace
    /// (all connected).
    pub fn dump(&self, which: &[(Netns, Families)]) -> Vec<Result<LiveNetns, OpError>> {
        self.rt.block_on(join_all(which.iter().map(|(netns, families)| self.observe_one(netns, *families))))
    }

    async fn observe_one(&self, netns: &Netns, families: Families) -> Result<LiveNetns, OpError> {
        use netlink_packet_route::AddressFamily;
        let conn = self.conn(netns)?;
        // One dump at a time per socket: the kernel answers a second with EBUSY.
        let links = netlink::dump_links(&conn.handle).await?;
        let family = match (families.ipv4, families.ipv6) {
            (true, true) => AddressFamily::Unspec,
            (true, false) => AddressFamily::Inet,
            (false, true) => AddressFamily::Inet6,
            (false, false) => return Ok(LiveNetns::new(links, Vec::new(), Vec::new())),
        };
        let mut addr = AddressMessage::default();
        addr.header.family = family;
        let addrs = netlink::dump(&conn.handle, RouteNetlinkMessage::GetAddress(addr)).await?;
        // The main table only, the one netlab writes (the socket checks strictly, so the
        // kernel filters): the local table holds several entries per address.
        let mut route = netlink_packet_route::route::RouteMessage::default();
        route.header.address_family = family;
        route.header.table = netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN;
        let routes = netlink::dump(&conn.handle, RouteNetlinkMessage::GetRoute(route)).await?;
        let addrs = addrs
            .iter()
            .filter_map(
                |m| if let RouteNetlinkMessage::NewAddress(a) = m { netlink::parse::parse_addr(a) } else { None },
            )
            .collect();
        let routes = routes
            .iter()
            .filter_map(
                |m| if let RouteNetlinkMessage::NewRoute(r) = m { netlink::parse::parse_route(r) } else { None },
            )
            .collect();
        let live = LiveNetns::new(links, addrs, routes);
        let mut index = conn.index.borrow_mut();
        index.clear();
        index.extend(live.links.iter().map(|l| (l.name.clone(), l.index)));
        Ok(live)
    }

    /// The root qdiscs of each namespace (all connected).
    pub(in crate::kernel) fn dump_qdiscs(&self, which: &[Netns]) -> Vec<Result<Vec<LiveQdisc>, OpError>> {
        use netlink_packet_route::tc::TcMessage;
        use netlink_packet_route::RouteNetlinkMessage;
        let t = std::time::Instant::now();
        let dumps = self.rt.block_on(join_all(which.iter().map(|netns| async move {
            let conn = self.conn(netns)?;
            let msgs =
                netlink::dump(&conn.handle, RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default())).await?;
            Ok(msgs
                .iter()
                .filter_map(|m| {
                    let RouteNetlinkMessage::NewQueueDiscipline(q) = m else { return None };
                    netlink::parse::parse_qdisc(q)
                })
                .collect())
        })));
        crate::timing::timing("qdiscs", which.len(), t);
        dumps
    }

    /// Each named link as it is (its ifalias: whose it is), `None` for a link that is not
    /// there.
    pub fn link_aliases(&self, which: &[(Netns, String)]) -> Vec<Result<Option<LiveLink>, OpError>> {
        self.pipelined(
            which,
            |(netns, _)| netns.clone(),
            |(netns, name)| async move {
                let conn = self.conn(netns)?;
                Ok(netlink::get_link(&conn.handle, build::get_link(name)).await?)
            },
        )
    }
}
