//! Applies a list of ops to a [`Kernel`]: batch by batch, recording each batch before it
//! is sent, printing each op as it is done, and undoing this run's work if one fails.
//!
//! A batch is a run of consecutive ops of one kind. The compiler orders a plan so that
//! such ops never depend on each other (every namespace before any link, every link
//! before any address...), and the diff keeps that order, so a whole batch can be in
//! flight at once; the only waits are between batches.
//!
//! Removal (`down`) is best-effort instead: what is already gone is fine, a failure does
//! not stop the rest, and everything that failed is reported at the end.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

mod print;
mod signals;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

pub use print::Printer;
pub use signals::{catch_interrupts, ignore_interrupts, INTERRUPTED};

use crate::kernel::{Applied, Kernel, OpError};
use crate::plan::text::{plural, summary};
use crate::plan::{Direction, Op, Plan};
use crate::state::{Entry, Record};
use crate::timing::timing;
use crate::topology::Netns;

/// Runs of consecutive ops of the same kind.
pub fn batches(ops: &[Op]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=ops.len() {
        if i == ops.len() || std::mem::discriminant(&ops[i]) != std::mem::discriminant(&ops[start]) {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// Why a run stopped at an op.
#[derive(Debug)]
pub enum Cause {
    /// The kernel (or the file system, or a forwarder) refused the op.
    Kernel(OpError),
    /// SIGINT or SIGTERM came: the run stopped before this op's batch.
    Interrupted,
    /// The record could not be written before this op's batch, so it was not sent.
    Record(io::Error),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Kernel(e) => e.fmt(f),
            Cause::Interrupted => f.write_str("interrupted (SIGINT or SIGTERM)"),
            Cause::Record(e) => write!(f, "cannot write the lab record: {e}"),
        }
    }
}

/// Why a run stopped, and what it did about it.
#[derive(Debug)]
pub struct Failure {
    /// 1-based number of the op that failed, in this run.
    pub number: usize,
    pub op: Op,
    pub cause: Cause,
    /// How many ops were undone.
    pub undone: usize,
    /// Undo steps that failed themselves.
    pub undo_errors: Vec<(Op, OpError)>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} failed: {}: {}", self.number, summary(&self.op), self.cause)?;
        if self.undo_errors.is_empty() {
            write!(f, "; undid the {} op{} this run had applied", self.undone, plural(self.undone))
        } else {
            write!(f, "; undid {} op{}, but these could not be undone:", self.undone, plural(self.undone))?;
            for (op, e) in &self.undo_errors {
                write!(f, "\n  {}: {e}", summary(op))?;
            }
            Ok(())
        }
    }
}

impl std::error::Error for Failure {}

/// Applies `ops` in order. Each batch is recorded (pending) before it is sent. On the
/// first failure, or an interrupt, everything this run added is undone in reverse and the
/// record is put back; the error says which op failed and what was undone.
pub fn apply<K: Kernel>(
    kernel: &mut K,
    record: &mut Record,
    ops: &[Op],
    printer: &mut Printer,
) -> Result<(), Box<Failure>> {
    apply_until(&INTERRUPTED, kernel, record, ops, printer)
}

/// [`apply`], stopping when `stop` is set (a signal handler sets [`INTERRUPTED`]).
fn apply_until<K: Kernel>(
    stop: &AtomicBool,
    kernel: &mut K,
    record: &mut Record,
    ops: &[Op],
    printer: &mut Printer,
) -> Result<(), Box<Failure>> {
    // The record as it was, less what this run removed; and what this run added.
    let mut base: Vec<Entry> = std::mem::take(&mut record.entries);
    let mut added: Vec<Entry> = Vec::new();
    // Sysctl values as this run found them, for the record and for undo.
    let mut before: HashMap<(Netns, String), String> = HashMap::new();
    let mut failure: Option<(usize, Op, Cause)> = None;
    let previous = |base: &[Entry], added: &[Entry], netns: &Netns, key: &str| {
        base.iter().chain(added).find_map(|e| e.previous_of(netns, key)).map(str::to_string)
    };

    for range in batches(ops) {
        if stop.load(Ordering::SeqCst) {
            failure = Some((range.start + 1, ops[range.start].clone(), Cause::Interrupted));
            break;
        }
        let batch = &ops[range.clone()];
        let keys: Vec<(Netns, String)> = batch
            .iter()
            .filter_map(|op| {
                if let Op::SysctlSet { netns, key, .. } = op {
                    Some((netns.clone(), key.clone()))
                } else {
                    None
                }
            })
            .collect();
        for (k, v) in keys.iter().zip(kernel.read_sysctls(&keys)) {
            if let Ok(v) = v {
                before.entry(k.clone()).or_insert(v);
            }
        }

        // Record the batch before sending it.
        let first = added.len();
        for op in batch.iter().filter(|op| op.recorded()) {
            let mut entry = Entry::pending(op.clone());
            if let Op::SysctlSet { netns, key, .. } = op {
                entry.previous =
                    previous(&base, &added, netns, key).or_else(|| before.get(&(netns.clone(), key.clone())).cloned());
            }
            added.push(entry);
        }
        record.entries = base.iter().chain(&added).cloned().collect();
        let t = std::time::Instant::now();
        let saved = record.save();
        timing("record save", record.entries.len(), t);
        if let Err(e) = saved {
            added.truncate(first);
            failure = Some((range.start + 1, ops[range.start].clone(), Cause::Record(e)));
            break;
        }

        let t = std::time::Instant::now();
        let outcomes = kernel.apply(batch, &|n, k| previous(&base, &added, n, k));
        timing(crate::plan::text::kind(&ops[range.start]), batch.len(), t);

        let mut slot = first;
        let mut removed = HashSet::new();
        let mut gone_netns = HashSet::new();
        for ((i, op), result) in range.zip(batch).zip(outcomes) {
            match &result {
                Ok(_) => printer.line(&(i + 1).to_string(), op, ""),
                Err(e) => printer.line(&(i + 1).to_string(), op, &format!("  FAILED: {e}")),
            }
            if op.removes() {
                if result.is_ok() {
                    removed.insert(op.key());
                    if let Op::NetnsDel { netns } = op {
                        gone_netns.insert(Netns::Named(netns.clone()));
                    }
                }
            } else if op.recorded() {
                if let Ok(Applied::Netns(id)) = result {
                    added[slot].ns_id = Some(id);
                }
                added[slot].pending = result.is_err();
                slot += 1;
            }
            if let Err(e) = result {
                failure.get_or_insert((i + 1, op.clone(), Cause::Kernel(e)));
            }
        }
        printer.flush();
        // What was removed is no longer the lab's; nor is anything that was in a namespace
        // that was removed (it went with it).
        if !removed.is_empty() {
            base.retain(|e| !removed.contains(&e.op.key()) && !gone_netns.contains(&e.op.netns()));
        }
        // A failed addition did not happen: it is not the lab's.
        added.retain(|e| !e.pending);
        if failure.is_some() {
            break;
        }
    }

    let Some((number, op, cause)) = failure else {
        record.entries = base.into_iter().chain(added).collect();
        printer.flush();
        return Ok(());
    };

    // Undo this run's additions, newest first, leaving out what dies with a namespace.
    let applied: Vec<Op> = added.iter().map(|e| e.op.clone()).collect();
    let undo = Plan::new(&record.lab, Direction::Down, applied).teardown().ops;
    if !undo.is_empty() {
        printer.say(&format!("# undoing the {} op{} of this run", undo.len(), plural(undo.len())));
    }
    let undo_errors =
        best_effort(kernel, &undo, &|n, k| before.get(&(n.clone(), k.to_string())).cloned(), printer, Some("undo"));
    // What could not be undone is still the lab's, and stays in the record.
    let stuck: Vec<_> = undo_errors.iter().map(|(op, _)| op.key()).collect();
    added.retain(|e| stuck.contains(&e.op.key()));
    record.entries = base.into_iter().chain(added).collect();
    let _ = if record.entries.is_empty() { record.remove() } else { record.save() };
    printer.flush();
    Err(Box::new(Failure { number, op, cause, undone: undo.len() - undo_errors.len(), undo_errors }))
}

/// Applies ops best-effort (a teardown, an undo, `link`): batch by batch, what is already
/// gone counts as done, and a failure does not stop the rest. Returns what failed.
pub fn best_effort<K: Kernel>(
    kernel: &mut K,
    ops: &[Op],
    previous: &dyn Fn(&Netns, &str) -> Option<String>,
    printer: &mut Printer,
    label: Option<&str>,
) -> Vec<(Op, OpError)> {
    let mut errors = Vec::new();
    for range in batches(ops) {
        let batch = &ops[range.clone()];
        let t = std::time::Instant::now();
        let results = kernel.apply(batch, previous);
        timing(crate::plan::text::kind(&batch[0]), batch.len(), t);
        for ((i, op), result) in range.zip(batch).zip(results) {
            let number = (i + 1).to_string();
            let label = label.unwrap_or(&number);
            match result {
                Ok(_) => printer.line(label, op, ""),
                Err(e) if e.is_gone() => printer.line(label, op, "  (already gone)"),
                Err(e) => {
                    printer.line(label, op, &format!("  FAILED: {e}"));
                    errors.push((op.clone(), e));
                }
            }
        }
    }
    printer.flush();
    errors
}
