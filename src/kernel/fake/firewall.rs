//! The fake kernel's nftables: a namespace's tables with their chains and rules, by the
//! identity netlab gives each rule (its comment). A table is made once (`create`), with the
//! lab's mark as its comment; a rule needs its table and chain, and is there once.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use nix::errno::Errno;

use super::{FakeKernel, OpError};
use crate::firewall::ruleset::{Chain, Family};
use crate::topology::Netns;

/// An nftables table as the fake kernel keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its comment.
    pub mark: String,
    pub chains: Vec<Chain>,
    /// (chain, comment) -> rule text.
    pub rules: BTreeMap<(String, String), String>,
}

impl FakeKernel {
    /// `create table`, commented with the lab's mark: EEXIST when it is there.
    pub(super) fn table_add(
        &mut self,
        netns: &Netns,
        family: Family,
        name: &str,
        chains: &[Chain],
    ) -> Result<(), OpError> {
        let mark = self.marks.alias.clone();
        let stack = self.stack(netns)?;
        if stack.tables.contains_key(&(family, name.to_string())) {
            return Err(Errno::EEXIST.into());
        }
        let table = Table { mark, chains: chains.to_vec(), rules: BTreeMap::new() };
        stack.tables.insert((family, name.to_string()), table);
        Ok(())
    }

    /// `delete table`, with its chains and rules.
    pub(super) fn table_del(&mut self, netns: &Netns, family: Family, name: &str) -> Result<(), OpError> {
        match self.stack(netns)?.tables.remove(&(family, name.to_string())) {
            Some(_) => Ok(()),
            None => Err(Errno::ENOENT.into()),
        }
    }

    /// A rule in a chain of a table, known by its comment.
    pub(super) fn rule_add(
        &mut self,
        netns: &Netns,
        (family, table): (Family, &str),
        chain: &str,
        rule: &str,
        comment: &str,
    ) -> Result<(), OpError> {
        let t = self.table_mut(netns, family, table)?;
        if !t.chains.iter().any(|c| c.name == chain) {
            return Err(Errno::ENOENT.into());
        }
        // nft would add a second copy; netlab never asks for one. Refused, the rule that is
        // there stays as it was.
        match t.rules.entry((chain.to_string(), comment.to_string())) {
            Entry::Occupied(_) => Err(Errno::EEXIST.into()),
            Entry::Vacant(v) => {
                v.insert(rule.to_string());
                Ok(())
            }
        }
    }

    /// The rule with that comment deleted (netlab finds its handle by it).
    pub(super) fn rule_del(
        &mut self,
        netns: &Netns,
        (family, table): (Family, &str),
        chain: &str,
        comment: &str,
    ) -> Result<(), OpError> {
        match self.table_mut(netns, family, table)?.rules.remove(&(chain.to_string(), comment.to_string())) {
            Some(_) => Ok(()),
            None => Err(Errno::ENOENT.into()),
        }
    }

    fn table_mut(&mut self, netns: &Netns, family: Family, name: &str) -> Result<&mut Table, OpError> {
        self.stack(netns)?.tables.get_mut(&(family, name.to_string())).ok_or(OpError::Errno(Errno::ENOENT))
    }
}
