//! `netlab down`: remove everything a lab made, from its record, newest first.
//!
//! Best-effort: what is already gone is fine, a failure does not stop the rest, and all
//! failures are reported at the end. Before anything is deleted its ownership is checked
//! again: a namespace must be the one netlab made (same identity, or the lab's mark on
//! its lo), a link must carry the lab's mark, a file must hold what netlab wrote. Whatever
//! fails that check is left alone and named.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use super::Report;
use crate::apply::{self, Printer};
use crate::cli::{DownArgs, LabRef, OutputFormat};
use crate::error::{PartlyDown, Refusal};
use crate::firewall::ruleset::Family;
use crate::kernel::files;
use crate::kernel::netns;
use crate::kernel::{probe, Linux};
use crate::live::{LiveDrop, LiveLink, LiveTable, Named};
use crate::ownership::{Claims, NotOurs};
use crate::plan::text::plural;
use crate::plan::{Direction, Op, Plan, Subject};
use crate::sharing;
use crate::state::{LoadError, Record, StateDir};
use crate::topology::{EtcFileKind, Netns};
use crate::{Error, Result};

pub fn exec(state: &StateDir, args: &DownArgs, out: &mut dyn Write) -> Result<()> {
    let lab = super::lab_name(&match &args.lab {
        Some(name) => LabRef::Name(name.clone()),
        None => LabRef::File(args.file.topology.clone()),
    })?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let _lock = state.lock(&lab)?;
    let started = std::time::Instant::now();
    let json = args.format == OutputFormat::Json;
    let report = |ops: &[Op], error: Option<String>, out: &mut dyn Write| {
        let (ok, elapsed_ms) = (error.is_none(), started.elapsed().as_millis());
        super::print_json(
            out,
            &Report {
                version: 1,
                lab: &lab,
                action: "down",
                ok,
                changed: !ops.is_empty(),
                ops,
                elapsed_ms,
                warnings: &[],
                error,
            },
        )
    };
    let mut kernel = super::kernel(state, &lab)?;
    let (mut record, marked, corrupt) = match state.load(&lab) {
        Ok(Some(record)) => (record, Vec::new(), None),
        Ok(None) => {
            sharing::HostLock::clear_stale(state);
            if json {
                report(&[], None, out)?;
            } else {
                writeln!(out, "lab {lab} is not up: nothing to remove")?;
            }
            return Ok(());
        }
        // The way out for a record that cannot be trusted: what can be of it, and what
        // carries the lab's marks.
        Err(LoadError::Corrupt(corrupt)) => {
            let salvaged = state.salvage(&lab)?.ok_or_else(|| crate::Error::Io(std::io::ErrorKind::NotFound.into()))?;
            for why in &salvaged.left_out {
                eprintln!("netlab: {}: left out: {why}", corrupt.path.display());
            }
            let marked = super::marked::removals(&mut kernel, state, &lab)?;
            (salvaged.record, marked, Some(corrupt))
        }
        Err(e) => return Err(e.into()),
    };
    apply::ignore_interrupts();

    // Host sysctls labs that are up still have are left to them (crate::sharing): decided
    // under the host lock, taken after the lab's, and held until the record is gone.
    let touches_host = super::touches_host(None, Some(&record));
    let _host = if touches_host { Some(super::host_lock(state, &lab)?) } else { None };
    let shares = super::host_shares(state, &lab, touches_host)?;
    let recorded: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
    let teardown = Plan::new(&lab, Direction::Down, recorded).teardown();
    let released = shares.release_all(teardown.ops);
    let (ops, mut refused) = owned(&mut kernel, &record, with_marked(released.ops, marked));
    refused.extend(released.unknown.into_iter().map(|(op, why)| (op, NotOurs::MaybeShared { why })));

    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    if let Some(corrupt) = &corrupt {
        writeln!(
            text,
            "# lab {lab}: its record {} cannot be trusted ({}): going by the {} entr{} that can be, and by what \
             carries the lab's marks",
            corrupt.path.display(),
            corrupt.why,
            record.entries.len(),
            if record.entries.len() == 1 { "y" } else { "ies" }
        )?;
    }
    writeln!(text, "# lab {lab}: removing, {} op{}", ops.len(), plural(ops.len()))?;
    for (op, labs) in &released.kept {
        writeln!(text, "{}", sharing::kept_note(op, labs))?;
    }
    let errors =
        apply::best_effort(&mut kernel, &ops, &|n, k| record.previous(n, k), &mut Printer::new(text, &ops), None);

    if errors.is_empty() && refused.is_empty() {
        record.remove()?;
        // A host lock an `up` killed mid-way left: nobody holds it, and the lab is gone.
        sharing::HostLock::clear_stale(state);
        writeln!(text, "lab {lab} is down")?;
        if json {
            report(&ops, None, out)?;
        }
        return Ok(());
    }
    // What failed or was left alone stays in the record, for another try. A record that
    // could not be trusted stays as it was: what was found by the lab's marks has no entry
    // to keep, and the next down finds it again the same way.
    if corrupt.is_none() {
        let stuck: Vec<_> =
            errors.iter().map(|(op, _)| op.key()).chain(refused.iter().map(|(op, _)| op.key())).collect();
        let stuck_netns: Vec<Netns> =
            stuck.iter().filter(|k| k.what == Subject::Netns).map(|k| k.netns.clone()).collect();
        record.entries.retain(|e| stuck.contains(&e.op.key()) || stuck_netns.contains(&e.op.netns()));
        record.save()?;
    }
    Err(Error::PartlyDown(PartlyDown { lab, failed: errors, refused }))
}

/// A teardown, with the removals of what carries the lab's marks that it lacks: the
/// supervisor's, forwarders' and relays' stops first (a process keeps its namespace
/// alive), the tables, drops, links, namespaces and the conntrack flush of the nat
/// bridges' subnets last.
fn with_marked(teardown: Vec<Op>, marked: Vec<Op>) -> Vec<Op> {
    let known: std::collections::HashSet<_> = teardown.iter().map(Op::key).collect();
    let (first, last): (Vec<Op>, Vec<Op>) = marked
        .into_iter()
        .filter(|op| !known.contains(&op.key()))
        // What runs goes first, as in a teardown: the lab's supervisor (and with it its
        // processes) and its forwarders and relays, before the network they use.
        .partition(|op| matches!(op, Op::SupervisorStop | Op::ForwarderStop { .. } | Op::RelayStop { .. }));
    first.into_iter().chain(teardown).chain(last).collect()
}

/// What must be true of the object an op of the teardown acts on before the op may run.
enum Check<'a> {
    /// A link to delete: the lab's (see [`Claims::may_delete_link`]).
    Link(&'a Netns, &'a str),
    /// A name under /run/netns to remove: the lab's namespace, or its placeholder.
    Namespace(&'a str),
    /// A file to remove: still what netlab wrote.
    File(&'a str, EtcFileKind),
    /// An nftables table to delete: it carries the lab's mark.
    Table(&'a Netns, Family, &'a str),
    /// A drop's nftables table to remove: it carries the lab's mark.
    Drop(&'a Netns, &'a str),
    /// Nothing to look at before: the op acts on what the checks above cover (a setting
    /// of a link or namespace of the lab's, a qdisc on one of its links), or checks for
    /// itself when it runs (a forwarder or relay is stopped only after its pid is found
    /// to be that process; a process and the supervisor, only after their identity is
    /// checked).
    None,
}

impl Check<'_> {
    fn of(op: &Op) -> Check<'_> {
        use Op::*;
        match op {
            LinkDel { netns, name } => Check::Link(netns, name),
            NetnsDel { netns } => Check::Namespace(netns),
            FileRemove { netns, file } => Check::File(netns, *file),
            DropDel { netns, dev } => Check::Drop(netns, dev),
            NftTableDel { netns, family, name } => Check::Table(netns, *family, name),
            // A rule is deleted by its identity, in a table found to be the lab's; a flush
            // takes only what is in the lab's subnets; hairpin and class are settings of a
            // link of the lab's.
            NftRuleDel { .. }
            | ConntrackFlush { .. }
            | LinkSetHairpin { .. }
            | LinkSetClass { .. }
            | SysctlRestore { .. }
            | LinkSetNomaster { .. }
            | LinkDown { .. }
            | AddrDel { .. }
            | RouteDel { .. }
            | ForwarderStop { .. }
            | SupervisorStop
            | ProcessStop { .. }
            | RelayStop { .. }
            | QdiscDel { .. }
            | RelaySet { .. } => Check::None,
            // Not in a teardown of a record, which only has what `up` made (and a
            // teardown undoes it); if one came, it would change a setting like the above.
            NetnsAdd { .. }
            | NetnsAlias { .. }
            | SysctlSet { .. }
            | FileWrite { .. }
            | BridgeAdd { .. }
            | VethAdd { .. }
            | VxlanAdd { .. }
            | IpipAdd { .. }
            | TunAdd { .. }
            | LinkSetMaster { .. }
            | LinkSetMtu { .. }
            | LinkSetMac { .. }
            | LinkRename { .. }
            | LinkUp { .. }
            | AddrAdd { .. }
            | RouteAdd { .. }
            | ForwarderStart { .. }
            | NftTableAdd { .. }
            | NftRuleAdd { .. }
            | SupervisorStart
            | ProcessStart { .. }
            | Exec { .. }
            | QdiscReplace { .. }
            | DropSet { .. }
            | RelayStart { .. } => Check::None,
        }
    }
}

/// Splits teardown ops into those on objects that are still the lab's, and those that
/// are not (with why), by the rules of [`crate::ownership`].
fn owned(kernel: &mut Linux, record: &Record, ops: Vec<Op>) -> (Vec<Op>, Vec<(Op, NotOurs)>) {
    let claims = Claims::new(&record.lab, &record.entries);
    // What each name under /run/netns the ops touch holds, looked up once (None: the
    // lookup failed).
    let lookups: BTreeMap<String, Option<Named>> = ops
        .iter()
        .filter_map(|op| op.netns().name().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|n| {
            let found = netns::lookup(&n).ok();
            (n, found)
        })
        .collect();
    let named: Vec<String> =
        lookups.iter().filter(|(_, l)| matches!(l, Some(Named::Mounted(_)))).map(|(n, _)| n.clone()).collect();
    kernel.connect(&named);

    // The links to delete, and the lo of each namespace to delete (its mark), as found.
    let links: Vec<(Netns, String)> = ops
        .iter()
        .filter_map(|op| match Check::of(op) {
            Check::Link(netns, name) => Some((netns.clone(), name.to_string())),
            Check::Namespace(netns) => Some((Netns::Named(netns.to_string()), "lo".to_string())),
            Check::File(..) | Check::Table(..) | Check::Drop(..) | Check::None => None,
        })
        .filter(|(netns, _)| kernel.is_connected(netns))
        .collect();
    let found: HashMap<(Netns, String), Option<LiveLink>> =
        links.iter().cloned().zip(kernel.link_aliases(&links).into_iter().map(|r| r.ok().flatten())).collect();
    let link = |netns: &Netns, name: &str| found.get(&(netns.clone(), name.to_string())).cloned().flatten();
    // The tables to delete, as found (an error reading one: left alone, and said why).
    let tables: Vec<(Netns, Family, String)> = ops
        .iter()
        .filter_map(|op| match Check::of(op) {
            Check::Table(netns, family, name) => Some((netns.clone(), family, name.to_string())),
            Check::Link(..) | Check::Namespace(_) | Check::File(..) | Check::Drop(..) | Check::None => None,
        })
        .filter(|(netns, ..)| kernel.is_connected(netns))
        .collect();
    let read: HashMap<(Netns, Family, String), Result<Option<LiveTable>, String>> =
        tables.iter().cloned().zip(kernel.tables(&tables).into_iter().map(|r| r.map_err(|e| e.to_string()))).collect();
    // The drops to remove, as nftables shows them (unreadable: left alone, and said).
    let drops: Vec<(Netns, String)> = ops
        .iter()
        .filter_map(|op| if let Check::Drop(n, d) = Check::of(op) { Some((n.clone(), d.to_string())) } else { None })
        .collect();
    let drops_found = kernel.read_drops(&drops.iter().map(|(n, d)| (n, d.as_str())).collect::<Vec<_>>());
    let drop = |netns: &Netns, dev: &str| -> Result<(), NotOurs> {
        let found = match &drops_found {
            Ok(found) => found,
            Err(e) => return Err(NotOurs::Unreadable { why: e.to_string() }),
        };
        let at = drops.iter().position(|(n, d)| n == netns && d == dev);
        match at.and_then(|i| found[i].clone()) {
            Some(LiveDrop::NotOurs { .. }) => Err(NotOurs::UnmarkedTable { alias: claims.marks().alias.clone() }),
            Some(LiveDrop::Ours { .. } | LiveDrop::Changed(_)) | None => Ok(()),
        }
    };

    let mut keep = Vec::new();
    let mut refused = Vec::new();
    for op in ops {
        let verdict: Result<(), NotOurs> = match Check::of(&op) {
            Check::Link(netns, name) => claims.may_delete_link(netns, name, link(netns, name).as_ref()),
            Check::Namespace(netns) => match lookups.get(netns).copied().flatten() {
                Some(Named::Absent) | None => Ok(()),
                Some(Named::Unmounted) => claims.owns_placeholder(netns),
                Some(Named::Mounted(id)) => {
                    claims.owns_namespace(id, link(&Netns::Named(netns.to_string()), "lo").as_ref())
                }
            },
            // A file that cannot be read (a link, a FIFO, a directory someone put there) is
            // not what netlab wrote.
            Check::File(netns, file) => match files::read(netns, file) {
                Ok(content) => claims.may_remove_file(netns, file, content.as_deref()),
                Err(_) => Err(NotOurs::Changed),
            },
            Check::Table(netns, family, name) => match read.get(&(netns.clone(), family, name.to_string())) {
                Some(Ok(Some(t))) => claims.owns_table(t),
                Some(Ok(None)) | None => Ok(()),
                Some(Err(e)) => Err(NotOurs::Unreadable { why: e.clone() }),
            },
            Check::Drop(netns, dev) => drop(netns, dev),
            Check::None => Ok(()),
        };
        match verdict {
            Ok(()) => keep.push(op),
            Err(why) => refused.push((op, why)),
        }
    }
    (keep, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_down_deletes_is_checked_to_be_the_labs_first() {
        let host = Netns::Host;
        assert!(matches!(Check::of(&Op::LinkDel { netns: host.clone(), name: "v".into() }), Check::Link(_, "v")));
        assert!(matches!(Check::of(&Op::NetnsDel { netns: "a".into() }), Check::Namespace("a")));
        let file = Op::FileRemove { netns: "a".into(), file: EtcFileKind::Hosts };
        assert!(matches!(Check::of(&file), Check::File("a", EtcFileKind::Hosts)));
        // What hangs off those, and a forwarder (checked when it is stopped), is not.
        assert!(matches!(Check::of(&Op::ForwarderStop { netns: host.clone(), dev: "fl0".into() }), Check::None));
        assert!(matches!(
            Check::of(&Op::SysctlRestore { netns: host, key: "net.ipv4.ip_forward".into() }),
            Check::None
        ));
    }

    #[test]
    fn what_carries_the_labs_marks_joins_what_could_be_read_of_its_record() {
        let stop = |dev: &str| Op::ForwarderStop { netns: Netns::Named("a".into()), dev: dev.into() };
        let del = |name: &str| Op::LinkDel { netns: Netns::Host, name: name.into() };
        let netns_del = |n: &str| Op::NetnsDel { netns: n.into() };
        let teardown = vec![stop("fl0"), del("v1"), netns_del("a")];
        let marked = vec![stop("fl0"), stop("fl1"), del("v1"), del("v2"), netns_del("a"), netns_del("b")];
        assert_eq!(
            with_marked(teardown, marked),
            [stop("fl1"), stop("fl0"), del("v1"), netns_del("a"), del("v2"), netns_del("b")],
            "each once; the forwarders first, the rest after what the record says"
        );
    }

    #[test]
    fn a_partial_down_names_what_failed_and_what_it_left_alone() {
        let e = Error::PartlyDown(PartlyDown {
            lab: "x".into(),
            failed: vec![(Op::NetnsDel { netns: "x-a".into() }, nix::errno::Errno::EBUSY.into())],
            refused: vec![(
                Op::LinkDel { netns: Netns::Host, name: "v1".into() },
                NotOurs::Unmarked { alias: "netlab:x".into() },
            )],
        });
        assert_eq!(
            e.to_string(),
            "lab x is only partly down:\n  netns del x-a : Device or resource busy (EBUSY)\n  link del host v1: left alone: it \
             does not carry the `netlab:x` alias, so it is not this lab's"
        );
    }
}
