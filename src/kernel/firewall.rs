//! How `Linux` carries out the firewall's ops: nftables changes through `nft` inside each
//! namespace, one transaction per namespace and batch, and conntrack flushes over
//! ctnetlink. What the rules say is `firewall::ruleset`'s; this only sends them.

use std::collections::HashMap;

use ipnet::IpNet;
use nix::errno::Errno;

use super::step::Nft;
use super::{Applied, Linux, OpError};
use crate::firewall::conntrack;
use crate::firewall::live::{LiveTable, Nft as NftCommand};
use crate::firewall::ruleset::{rule_line, table_block, Family};
use crate::firewall::NetnsPath;
use crate::topology::Netns;

/// An nftables change of a batch: the op's index, its namespace, the change.
pub(super) type NftItem<'a> = (usize, &'a Netns, Nft<'a>);

impl Linux {
    /// Sends the nftables changes of a batch, one `nft -f` script (one transaction) per
    /// namespace: each op's outcome is its script's. What a deletion names and is not
    /// there is answered ENOENT without asking nft to fail (a teardown goes on past it).
    pub(super) fn nft(&self, items: &[NftItem]) -> Vec<(usize, Result<Applied, OpError>)> {
        let mut out = Vec::new();
        let mut by_netns: Vec<(&Netns, Vec<&NftItem>)> = Vec::new();
        for item in items {
            match by_netns.iter_mut().find(|(n, _)| *n == item.1) {
                Some((_, v)) => v.push(item),
                None => by_netns.push((item.1, vec![item])),
            }
        }
        for (netns, items) in by_netns {
            let conn = match self.netns_fd(netns) {
                Ok(c) => c,
                Err(e) => {
                    out.extend(items.iter().map(|(i, ..)| (*i, Err(e.clone()))));
                    continue;
                }
            };
            let nft = NftCommand::new(NetnsPath::fd(conn));
            let mut tables: HashMap<(Family, String), Option<LiveTable>> = HashMap::new();
            let mut read = |family: Family, name: &str| -> Result<Option<LiveTable>, OpError> {
                if let Some(t) = tables.get(&(family, name.to_string())) {
                    return Ok(t.clone());
                }
                let t = nft.read(family, name)?;
                tables.insert((family, name.to_string()), t.clone());
                Ok(t)
            };
            let mut listed: Option<Result<Vec<(String, String)>, OpError>> = None;
            let mut script = String::new();
            let mut sent = Vec::new();
            for (i, _, change) in items {
                let line = match change {
                    Nft::AddTable { family, name, chains } => {
                        Ok(table_block(*family, name, &self.marks().alias, chains))
                    }
                    Nft::AddRule { family, table, chain, rule, comment } => {
                        Ok(format!("add rule {} {table} {chain} {}\n", family.as_str(), rule_line(rule, comment)))
                    }
                    // Whether it is there is enough (down checked whose it is): one listing
                    // of the namespace's tables, not the table's.
                    Nft::DelTable { family, name } => {
                        if listed.is_none() {
                            listed = Some(nft.tables().map_err(OpError::from));
                        }
                        match listed.as_ref().expect("listed above") {
                            Ok(all) if all.iter().any(|(f, n)| f == family.as_str() && n == name) => {
                                Ok(format!("delete table {} {name}\n", family.as_str()))
                            }
                            Ok(_) => Err(OpError::Errno(Errno::ENOENT)),
                            Err(e) => Err(e.clone()),
                        }
                    }
                    Nft::DelRule { family, table, chain, comment } => match read(*family, table) {
                        Ok(Some(t)) => match t.handle(chain, comment) {
                            Some(h) => Ok(format!("delete rule {} {table} {chain} handle {h}\n", family.as_str())),
                            None => Err(OpError::Errno(Errno::ENOENT)),
                        },
                        Ok(None) => Err(OpError::Errno(Errno::ENOENT)),
                        Err(e) => Err(e),
                    },
                };
                match line {
                    Ok(l) => {
                        script.push_str(&l);
                        sent.push(*i);
                    }
                    Err(e) => out.push((*i, Err(e))),
                }
            }
            if !sent.is_empty() {
                let applied = nft.apply(&script).map_err(OpError::from);
                out.extend(sent.into_iter().map(|i| (i, applied.clone().map(|()| Applied::Done))));
            }
        }
        out
    }
}

impl Linux {
    /// Deletes the namespace's conntrack entries of `subnets`.
    pub(super) fn conntrack_flush(&self, netns: &Netns, subnets: &[IpNet]) -> Result<Applied, OpError> {
        let conn = self.netns_fd(netns)?;
        conntrack::flush(&NetnsPath::fd(conn), subnets)?;
        Ok(Applied::Done)
    }
}
