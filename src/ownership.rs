//! Ownership: how netlab tells what it made from what it did not. netlab never adopts,
//! deletes, moves or renames anything that is not its own; the rules for "its own" live
//! here, once, and `diff` (what `up` may change) and `down` (what it may remove) both ask
//! them.
//!
//! Two kinds of evidence: the lab's record (what netlab applied, with each namespace's
//! identity and what it wrote to each file), and the lab's marks in the kernel, which
//! survive a lost record: every link netlab makes, and the `lo` of every namespace it
//! makes, carries the ifalias `netlab:<lab>`, its links are in the lab's device groups (one
//! per class, see `firewall::groups`), and its nftables tables carry the same mark as
//! their comment.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::firewall::groups::{self, Class, CLASS_MASK};
use crate::live::{LiveLink, LiveTable, NsId};
use crate::plan::{Op, OpKey};
use crate::state::Entry;
use crate::topology::{EtcFileKind, Netns};

/// The marks netlab puts on a lab's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marks {
    /// `netlab:<lab>`: the ifalias of every link and namespace `lo` netlab makes.
    pub alias: String,
    /// The device group of every link netlab makes for the lab: a hash of its alias
    /// (FNV-1a), kept clear of the small numbers people assign by hand (0 is every link's
    /// default group). It is not proof of ownership, the alias is: a group is only ever
    /// deleted whole when every link in it carries the alias and is to be deleted anyway.
    pub group: u32,
}

impl Marks {
    pub fn of(lab: &str) -> Marks {
        Marks { alias: format!("netlab:{lab}"), group: groups::group(lab, Class::Plain) }
    }

    /// The device group of the lab's links of `class` (see `firewall::groups`): the plain
    /// class is [`Marks::group`].
    pub fn class_group(&self, class: Class) -> u32 {
        class.bits() | (self.group & !CLASS_MASK)
    }

    /// Every group the lab's links can be in.
    pub fn groups(&self) -> [u32; 3] {
        [Class::Plain, Class::Routing, Class::NatBridge].map(|c| self.class_group(c))
    }

    /// Whether a link carries the lab's alias.
    pub fn on(&self, link: &LiveLink) -> bool {
        link.alias.as_deref() == Some(self.alias.as_str())
    }

    /// Whether a link carries no mark at all: no alias, and the lab's group or none. A
    /// link netlab was making when it was stopped looks so (born in the lab's group, its
    /// alias set next; a TUN device gets both after it is made); anything with a mark was
    /// made by someone else.
    pub fn unmarked(&self, link: &LiveLink) -> bool {
        link.alias.as_deref().is_none_or(str::is_empty) && (link.group == 0 || link.group == self.group)
    }
}

/// The lab whose mark an ifalias is (`netlab:<lab>`), if it is one.
pub fn lab_of(alias: Option<&str>) -> Option<&str> {
    alias?.strip_prefix("netlab:").filter(|lab| !lab.is_empty())
}

/// Why something is not the lab's: what `down` says when it leaves it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOurs {
    /// A link without the lab's alias.
    Unmarked { alias: String },
    /// A link or namespace that carries another lab's mark: that lab's.
    OtherLab { lab: String },
    /// A name under /run/netns that holds no namespace, and that netlab was not making.
    Placeholder,
    /// A namespace under one of the lab's names that is not the one netlab made.
    OtherNamespace { alias: String },
    /// A file someone changed after netlab wrote it: theirs now.
    Changed,
    /// An nftables table of the lab's name without the lab's mark as its comment.
    OtherTable { mark: String, found: Option<String> },
    /// A host sysctl other labs may share: whether one that is up still has it cannot be
    /// told (why: a record that cannot be read), so it is not put back yet.
    MaybeShared { why: String },
    /// An nftables table without the lab's mark in its comment.
    UnmarkedTable { alias: String },
    /// What it is could not be read (the error).
    Unreadable { why: String },
}

impl fmt::Display for NotOurs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotOurs::Unmarked { alias } => write!(f, "it does not carry the `{alias}` alias, so it is not this lab's"),
            NotOurs::OtherLab { lab } => write!(f, "it carries the `netlab:{lab}` alias: it is lab {lab}'s"),
            NotOurs::Placeholder => f.write_str("the name holds no namespace: not the one netlab made"),
            NotOurs::OtherNamespace { alias } => {
                write!(f, "it is another namespace than the one netlab made (its lo has no `{alias}` mark)")
            }
            NotOurs::Changed => f.write_str("it was changed since netlab wrote it"),
            NotOurs::OtherTable { mark, found } => match found {
                Some(c) => write!(f, "its comment is \"{c}\", not \"{mark}\", so it is not this lab's"),
                None => write!(f, "it has no comment, not \"{mark}\", so it is not this lab's"),
            },
            NotOurs::MaybeShared { why } => write!(
                f,
                "other labs may share it, and whether one that is up still has it cannot be told ({why}); \
                 run down again when that record is fixed or gone"
            ),
            NotOurs::UnmarkedTable { alias } => {
                write!(f, "its comment does not start with `{alias}`, so it is not this lab's")
            }
            NotOurs::Unreadable { why } => write!(f, "netlab could not read whose it is: {why}"),
        }
    }
}

/// What a lab's record claims netlab made, indexed for the questions below.
pub struct Claims<'a> {
    marks: Marks,
    recorded: HashSet<OpKey>,
    /// Keys of entries that were applied (not pending): what netlab did for certain.
    applied: HashSet<OpKey>,
    /// The identity of every namespace the lab made.
    ids: HashSet<NsId>,
    /// Per namespace name: whether its making was still pending (its first entry).
    making_netns: HashMap<&'a str, bool>,
    /// Links whose making was recorded as pending: sent, perhaps not done, nor marked.
    making_links: HashSet<(Netns, String)>,
    /// What netlab last wrote to each /etc/netns file.
    written: HashMap<(&'a str, EtcFileKind), &'a [u8]>,
}

impl<'a> Claims<'a> {
    /// The claims of lab `lab` whose record has `entries` (none: a lab that is not up).
    pub fn new(lab: &str, entries: &'a [Entry]) -> Claims<'a> {
        let mut claims = Claims {
            marks: Marks::of(lab),
            recorded: entries.iter().map(|e| e.op.key()).collect(),
            applied: entries.iter().filter(|e| !e.pending).map(|e| e.op.key()).collect(),
            ids: entries.iter().filter_map(|e| e.ns_id).collect(),
            making_netns: HashMap::new(),
            making_links: entries.iter().filter(|e| e.pending).flat_map(|e| e.op.made_links()).collect(),
            written: HashMap::new(),
        };
        for e in entries {
            if let Op::NetnsAdd { netns } | Op::NetnsAlias { netns, .. } = &e.op {
                claims.making_netns.entry(netns).or_insert(e.pending);
            }
            if let Op::FileWrite { netns, file, content } = &e.op {
                claims.written.insert((netns, *file), content.as_bytes());
            }
        }
        claims
    }

    pub fn marks(&self) -> &Marks {
        &self.marks
    }

    /// Whether the record has an op with this key: netlab made (or set, or wrote) it.
    pub fn recorded(&self, key: &OpKey) -> bool {
        self.recorded.contains(key)
    }

    /// Whether the record has an op with this key that was applied, not only sent (a
    /// pending entry: netlab was stopped before it knew whether it took effect).
    pub fn applied(&self, key: &OpKey) -> bool {
        self.applied.contains(key)
    }

    /// Whether a link is the lab's to keep and change: it carries the lab's alias.
    pub fn owns_link(&self, link: &LiveLink) -> bool {
        self.marks.on(link)
    }

    /// Whether netlab may delete a link found as `found` (`None`: it is gone already):
    /// it carries the lab's alias, or the record says netlab was making it when it was
    /// stopped (before it could mark it) and it carries no mark at all. A pending link
    /// with a mark (another lab's alias) is a namesake made since: never the lab's.
    pub fn may_delete_link(&self, netns: &Netns, name: &str, found: Option<&LiveLink>) -> Result<(), NotOurs> {
        match found {
            None => Ok(()),
            Some(link) if self.marks.on(link) => Ok(()),
            Some(link)
                if self.marks.unmarked(link) && self.making_links.contains(&(netns.clone(), name.to_string())) =>
            {
                Ok(())
            }
            Some(link) => Err(self.not_ours(link)),
        }
    }

    /// Why a link without the lab's alias is not the lab's: another lab's, or no lab's.
    pub fn not_ours(&self, link: &LiveLink) -> NotOurs {
        match lab_of(link.alias.as_deref()) {
            Some(lab) => NotOurs::OtherLab { lab: lab.to_string() },
            None => NotOurs::Unmarked { alias: self.marks.alias.clone() },
        }
    }

    /// Whether the namespace with identity `id`, found under one of the lab's names, is
    /// the one netlab made: the record has its identity, or its `lo` (`None`: not read)
    /// carries the lab's alias.
    pub fn owns_namespace(&self, id: NsId, lo: Option<&LiveLink>) -> Result<(), NotOurs> {
        if self.ids.contains(&id) || lo.is_some_and(|lo| self.marks.on(lo)) {
            return Ok(());
        }
        match lo.and_then(|lo| lab_of(lo.alias.as_deref())) {
            Some(lab) => Err(NotOurs::OtherLab { lab: lab.to_string() }),
            None => Err(NotOurs::OtherNamespace { alias: self.marks.alias.clone() }),
        }
    }

    /// Whether a name under /run/netns that holds no namespace is the lab's: only when the
    /// record says netlab was making it (a run killed between creating the file and
    /// mounting the namespace on it).
    pub fn owns_placeholder(&self, name: &str) -> Result<(), NotOurs> {
        match self.making_netns.get(name) {
            Some(true) => Ok(()),
            Some(false) | None => Err(NotOurs::Placeholder),
        }
    }

    /// Whether an nftables table found under the lab's name is the lab's: its comment is
    /// the lab's mark (netlab writes it when it creates the table, and never writes in a
    /// table that lacks it).
    pub fn owns_table(&self, table: &LiveTable) -> Result<(), NotOurs> {
        if table.mark.as_deref() == Some(self.marks.alias.as_str()) {
            Ok(())
        } else {
            Err(NotOurs::OtherTable { mark: self.marks.alias.clone(), found: table.mark.clone() })
        }
    }

    /// Whether netlab may remove `/etc/netns/<netns>/<file>`, found holding `found`
    /// (`None`: gone already): only while it holds what netlab wrote, byte for byte.
    pub fn may_remove_file(&self, netns: &str, file: EtcFileKind, found: Option<&[u8]>) -> Result<(), NotOurs> {
        match found {
            Some(content) if self.written.get(&(netns, file)) != Some(&content) => Err(NotOurs::Changed),
            Some(_) | None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(alias: Option<&str>) -> LiveLink {
        LiveLink { name: "v".into(), alias: alias.map(str::to_string), ..LiveLink::default() }
    }

    #[test]
    fn marks_are_a_function_of_the_lab() {
        let m = Marks::of("web");
        assert_eq!(m.alias, "netlab:web");
        assert_eq!(m, Marks::of("web"));
        assert_ne!(m.group, Marks::of("web2").group);
        assert!(m.group >= 0x1000_0000, "clear of the small groups people use");
        assert!(m.on(&link(Some("netlab:web"))) && !m.on(&link(Some("netlab:web2"))) && !m.on(&link(None)));
    }

    #[test]
    fn what_the_record_claims_and_what_the_kernel_shows_decide_together() {
        let veth = Op::VethAdd {
            netns: Netns::Host,
            name: "v".into(),
            mac: None,
            peer_netns: Netns::Named("a".into()),
            peer_name: "e".into(),
            peer_mac: None,
            mtu: None,
        };
        let made = Entry { ns_id: Some(NsId { dev: 4, ino: 1 }), ..Entry::pending(Op::NetnsAdd { netns: "a".into() }) };
        let made = Entry { pending: false, ..made };
        let file = Op::FileWrite { netns: "a".into(), file: EtcFileKind::Hosts, content: "old\n".into() };
        let rewritten = Op::FileWrite { netns: "a".into(), file: EtcFileKind::Hosts, content: "new\n".into() };
        let entries = vec![
            made,
            Entry::pending(veth),
            Entry::pending(Op::NetnsAdd { netns: "b".into() }),
            Entry::pending(file),
            Entry::pending(rewritten),
        ];
        let claims = Claims::new("web", &entries);
        let unmarked = NotOurs::Unmarked { alias: "netlab:web".into() };

        // A link: by its mark; one being made when netlab stopped, also without it.
        assert_eq!(claims.may_delete_link(&Netns::Host, "v", Some(&link(None))), Ok(()));
        assert_eq!(claims.may_delete_link(&Netns::Host, "w", Some(&link(None))), Err(unmarked));
        assert_eq!(claims.may_delete_link(&Netns::Host, "w", Some(&link(Some("netlab:web")))), Ok(()));
        assert_eq!(claims.may_delete_link(&Netns::Host, "w", None), Ok(()));
        // A pending link found with another lab's mark (or any mark, or another group) is
        // theirs, made since under the same name: never finished by this lab's down.
        let theirs = LiveLink { group: Marks::of("db").group, ..link(Some("netlab:db")) };
        assert_eq!(
            claims.may_delete_link(&Netns::Host, "v", Some(&theirs)),
            Err(NotOurs::OtherLab { lab: "db".into() })
        );
        let user = link(Some("uplink"));
        assert!(claims.may_delete_link(&Netns::Host, "v", Some(&user)).is_err());
        let grouped = LiveLink { group: 7, ..link(None) };
        assert!(claims.may_delete_link(&Netns::Host, "v", Some(&grouped)).is_err());
        // Unmarked in this lab's group (born in it, killed before its alias was set), or
        // in none (a TUN device is made before its group and alias are set): this lab's.
        let born = LiveLink { group: Marks::of("web").group, ..link(None) };
        assert_eq!(claims.may_delete_link(&Netns::Host, "v", Some(&born)), Ok(()));
        // A namespace: by its recorded identity, or its marked lo.
        assert_eq!(claims.owns_namespace(NsId { dev: 4, ino: 1 }, None), Ok(()));
        assert_eq!(claims.owns_namespace(NsId { dev: 4, ino: 2 }, Some(&link(Some("netlab:web")))), Ok(()));
        let other = claims.owns_namespace(NsId { dev: 4, ino: 2 }, Some(&link(None))).unwrap_err();
        assert_eq!(
            other.to_string(),
            "it is another namespace than the one netlab made (its lo has no `netlab:web` mark)"
        );
        let theirs = claims.owns_namespace(NsId { dev: 4, ino: 2 }, Some(&link(Some("netlab:db")))).unwrap_err();
        assert_eq!(theirs.to_string(), "it carries the `netlab:db` alias: it is lab db's");
        // A placeholder: only while its making is pending.
        assert_eq!(claims.owns_placeholder("b"), Ok(()));
        assert_eq!(claims.owns_placeholder("a"), Err(NotOurs::Placeholder));
        assert_eq!(claims.owns_placeholder("c"), Err(NotOurs::Placeholder));
        // A file: while it holds what netlab last wrote (or is gone).
        assert_eq!(claims.may_remove_file("a", EtcFileKind::Hosts, Some(b"new\n")), Ok(()));
        assert_eq!(claims.may_remove_file("a", EtcFileKind::Hosts, None), Ok(()));
        assert_eq!(claims.may_remove_file("a", EtcFileKind::Hosts, Some(b"old\n")), Err(NotOurs::Changed));
        assert_eq!(claims.may_remove_file("a", EtcFileKind::ResolvConf, Some(b"x")), Err(NotOurs::Changed));
        // Bytes that are not UTF-8 are someone's content like any other.
        assert_eq!(claims.may_remove_file("a", EtcFileKind::Hosts, Some(b"\xff\xfe mine\n")), Err(NotOurs::Changed));
        assert!(claims.recorded(&Op::NetnsDel { netns: "b".into() }.key()));
        // Applied, for certain: only what is not pending.
        assert!(claims.applied(&Op::NetnsDel { netns: "a".into() }.key()));
        assert!(!claims.applied(&Op::NetnsDel { netns: "b".into() }.key()));
    }
}
