//! `netlab down`: remove everything a lab made, from its record, newest first.
//!
//! Best-effort: what is already gone is fine, a failure does not stop the rest, and all
//! failures are reported at the end. Before anything is deleted its ownership is checked
//! again: a namespace must be the one netlab made (same identity, or the lab's mark on
//! its lo), a link must carry the lab's mark, a file must hold what netlab wrote. Whatever
//! fails that check is left alone and named.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;

use crate::apply::{self, plural, Printer, Report};
use crate::cli::{DownArgs, LabRef, OutputFormat};
use crate::kernel::files;
use crate::kernel::netns;
use crate::kernel::{probe, Kernel};
use crate::live::{Named, NsId};
use crate::plan::{Direction, Op, Plan, Subject};
use crate::state::{Lock, Record};
use crate::topology::{EtcFileKind, Netns};
use crate::{Error, Result};

pub fn exec(args: &DownArgs, out: &mut dyn Write) -> Result<()> {
    let lab = super::lab_name(&match &args.lab {
        Some(name) => LabRef::Name(name.clone()),
        None => LabRef::File(args.file.topology.clone()),
    })?;
    if let Some(why) = probe::privileges() {
        return Err(Error::Refused(why));
    }
    let _lock = Lock::acquire(&lab).map_err(Error::Refused)?;
    let started = std::time::Instant::now();
    let json = args.format == OutputFormat::Json;
    let report = |ops: &[Op], error: Option<String>, out: &mut dyn Write| {
        let (ok, elapsed_ms) = (error.is_none(), started.elapsed().as_millis());
        super::print_json(
            out,
            &Report { version: 1, lab: &lab, action: "down", ok, changed: !ops.is_empty(), ops, elapsed_ms, error },
        )
    };
    let Some(mut record) = Record::load(&lab)? else {
        if json {
            report(&[], None, out)?;
        } else {
            writeln!(out, "lab {lab} is not up: nothing to remove")?;
        }
        return Ok(());
    };
    apply::ignore_interrupts();

    let recorded: Vec<Op> = record.entries.iter().map(|e| e.op.clone()).collect();
    let teardown = Plan::new(&lab, Direction::Down, recorded).teardown();
    let mut kernel = Kernel::new(&lab)?;
    let (ops, refused) = owned(&mut kernel, &record, teardown.ops);

    let mut sink = std::io::sink();
    let text: &mut dyn Write = if json { &mut sink } else { &mut *out };
    writeln!(text, "# lab {lab}: removing, {} op{}", ops.len(), plural(ops.len()))?;
    let errors =
        apply::best_effort(&mut kernel, &ops, &|n, k| record.previous(n, k), &mut Printer::new(text, &ops), None);

    if errors.is_empty() && refused.is_empty() {
        Record::remove(&lab)?;
        writeln!(text, "lab {lab} is down")?;
        if json {
            report(&ops, None, out)?;
        }
        return Ok(());
    }
    // What failed or was left alone stays in the record, for another try.
    let stuck: Vec<_> = errors.iter().map(|(op, _)| op.key()).chain(refused.iter().map(|(op, _)| op.key())).collect();
    let stuck_netns: Vec<Netns> = stuck.iter().filter(|k| k.what == Subject::Netns).map(|k| k.netns.clone()).collect();
    record.entries.retain(|e| stuck.contains(&e.op.key()) || stuck_netns.contains(&e.op.netns()));
    record.save()?;
    let mut message = format!("lab {lab} is only partly down:");
    for (op, e) in &errors {
        message += &format!("\n  {}: {e}", crate::plan::text::summary(op));
    }
    for (op, why) in &refused {
        message += &format!("\n  {}: left alone: {why}", crate::plan::text::summary(op));
    }
    Err(Error::Apply(message))
}

/// Splits teardown ops into those on objects that are still the lab's, and those that
/// are not (with why).
fn owned(kernel: &mut Kernel, record: &Record, ops: Vec<Op>) -> (Vec<Op>, Vec<(Op, String)>) {
    let mark = kernel.mark().to_string();
    // Links whose making was recorded as pending: sent, perhaps not done (nor marked).
    let pending_links: HashSet<(Netns, String)> =
        record.entries.iter().filter(|e| e.pending).flat_map(|e| e.op.made_links()).collect();
    let pending = |netns: &Netns, name: &str| pending_links.contains(&(netns.clone(), name.to_string()));
    let ids: HashSet<NsId> = record.entries.iter().filter_map(|e| e.ns_id).collect();
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
    // Whether the making of each namespace name was recorded as pending (its first entry),
    // and what netlab wrote to each /etc/netns file: by name, not by a search per op.
    let mut netns_pending: HashMap<&str, bool> = HashMap::new();
    let mut written: HashMap<(&str, EtcFileKind), &String> = HashMap::new();
    for e in &record.entries {
        match &e.op {
            Op::NetnsAdd { netns } | Op::NetnsAlias { netns, .. } => {
                netns_pending.entry(netns).or_insert(e.pending);
            }
            Op::FileWrite { netns, file, content } => {
                written.entry((netns, *file)).or_insert(content);
            }
            _ => {}
        }
    }

    let links: Vec<(Netns, String)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::LinkDel { netns, name } if kernel.is_connected(netns) => Some((netns.clone(), name.clone())),
            Op::NetnsDel { netns } if kernel.is_connected(&Netns::Named(netns.clone())) => {
                Some((Netns::Named(netns.clone()), "lo".to_string()))
            }
            _ => None,
        })
        .collect();
    let found: std::collections::HashMap<(Netns, String), Option<crate::live::LiveLink>> =
        links.iter().cloned().zip(kernel.link_aliases(&links).into_iter().map(|r| r.ok().flatten())).collect();
    let marked = |netns: &Netns, name: &str| {
        found.get(&(netns.clone(), name.to_string())).cloned().flatten().map(|l| l.alias == Some(mark.clone()))
    };

    let mut keep = Vec::new();
    let mut refused = Vec::new();
    for op in ops {
        let verdict: Result<(), String> = match &op {
            Op::LinkDel { netns, name } => match marked(netns, name) {
                None | Some(true) => Ok(()),
                Some(false) if pending(netns, name) => Ok(()),
                Some(false) => Err(format!("it does not carry the `{mark}` alias, so it is not this lab's")),
            },
            Op::NetnsDel { netns } => match lookups.get(netns).copied().flatten() {
                Some(Named::Absent) | None => Ok(()),
                Some(Named::Unmounted) if netns_pending.get(netns.as_str()) == Some(&true) => Ok(()),
                Some(Named::Unmounted) => Err("the name holds no namespace: not the one netlab made".into()),
                Some(Named::Mounted(id)) => {
                    if ids.contains(&id) || marked(&Netns::Named(netns.clone()), "lo") == Some(true) {
                        Ok(())
                    } else {
                        Err(format!("it is another namespace than the one netlab made (its lo has no `{mark}` mark)"))
                    }
                }
            },
            Op::FileRemove { netns, file } => {
                let written = written.get(&(netns.as_str(), *file)).copied();
                match files::read(netns, *file) {
                    Ok(Some(c)) if Some(&c) != written => Err("it was changed since netlab wrote it".to_string()),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => keep.push(op),
            Err(why) => refused.push((op, why)),
        }
    }
    (keep, refused)
}
