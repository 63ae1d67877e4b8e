//! Applies a list of ops to the kernel: batch by batch, recording each batch before it is
//! sent, printing each op as it is done, and undoing this run's work if one fails.
//!
//! A batch is a run of consecutive ops of one kind. The compiler orders a plan so that
//! such ops never depend on each other (every namespace before any link, every link
//! before any address...), and the diff keeps that order, so a whole batch can be in
//! flight at once; the only waits are between batches.
//!
//! Removal (`down`) is best-effort instead: what is already gone is fine, a failure does
//! not stop the rest, and everything that failed is reported at the end.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::kernel::{Applied, Kernel, OpError};
use crate::plan::{Direction, Op, Plan};
use crate::state::{Entry, Record};
use crate::timing::timing;
use crate::topology::Netns;

/// Set by SIGINT/SIGTERM while `up` runs: the run stops after its current batch and
/// undoes what it did, instead of dying half-way.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From here on SIGINT and SIGTERM only set [`INTERRUPTED`].
pub fn catch_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// From here on SIGINT and SIGTERM are ignored: a teardown that stops half-way leaks.
pub fn ignore_interrupts() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: SIG_IGN installs no code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}

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

/// The op (1-based, in this run) that the `failpoints` build fails on purpose, from
/// `NETLAB_FAIL_AT`: the tests' way to fail a run at every point in turn.
fn failpoint() -> Option<usize> {
    if cfg!(feature = "failpoints") {
        std::env::var("NETLAB_FAIL_AT").ok()?.parse().ok()
    } else {
        None
    }
}

/// Prints ops as they are done, aligned like the text plan.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    columns: crate::plan::text::Columns,
}

impl<'a> Printer<'a> {
    pub fn new(out: &'a mut dyn Write, ops: &[Op]) -> Printer<'a> {
        Printer { out, columns: crate::plan::text::Columns::of(ops) }
    }

    pub fn line(&mut self, label: &str, op: &Op, note: &str) {
        let _ = writeln!(self.out, "{}", self.columns.line(label, op, note));
    }

    pub fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// What `up`, `down` and `link` print with `--format json`: one document at the end.
#[derive(Debug, serde::Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub lab: &'a str,
    /// `up`, `down` or `link`.
    pub action: &'static str,
    pub ok: bool,
    /// Whether anything was changed (and stayed changed).
    pub changed: bool,
    /// The ops applied, in order (on failure: the ops the run tried).
    pub ops: &'a [Op],
    pub elapsed_ms: u128,
    /// On failure: what failed, as the error message says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a run stopped, and what it did about it.
#[derive(Debug)]
pub struct Failure {
    /// 1-based number of the op that failed, in this run.
    pub number: usize,
    pub op: Op,
    pub error: OpError,
    /// How many ops were undone.
    pub undone: usize,
    /// Undo steps that failed themselves.
    pub undo_errors: Vec<(Op, OpError)>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "op {} failed: {}: {}", self.number, crate::plan::text::summary(&self.op), self.error)?;
        if self.undo_errors.is_empty() {
            write!(f, "; undid the {} op{} this run had applied", self.undone, plural(self.undone))
        } else {
            write!(f, "; undid {} op{}, but these could not be undone:", self.undone, plural(self.undone))?;
            for (op, e) in &self.undo_errors {
                write!(f, "\n  {}: {e}", crate::plan::text::summary(op))?;
            }
            Ok(())
        }
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Applies `ops` in order. Each batch is recorded (pending) before it is sent. On the
/// first failure, or an interrupt, everything this run added is undone in reverse and the
/// record is put back; the error says which op failed and what was undone.
pub fn apply(kernel: &mut Kernel, record: &mut Record, ops: &[Op], printer: &mut Printer) -> Result<(), Box<Failure>> {
    let fail_at = failpoint();
    // The record as it was, less what this run removed; and what this run added.
    let mut base: Vec<Entry> = std::mem::take(&mut record.entries);
    let mut added: Vec<Entry> = Vec::new();
    // Sysctl values as this run found them, for the record and for undo.
    let mut before: HashMap<(Netns, String), String> = HashMap::new();
    let mut failure: Option<(usize, Op, OpError)> = None;
    let previous = |base: &[Entry], added: &[Entry], netns: &Netns, key: &str| {
        base.iter().chain(added).find_map(|e| match &e.op {
            Op::SysctlSet { netns: n, key: k, .. } if n == netns && k == key => e.previous.clone(),
            _ => None,
        })
    };

    for range in batches(ops) {
        if INTERRUPTED.load(Ordering::SeqCst) {
            let op = ops[range.start].clone();
            failure = Some((range.start + 1, op, OpError::Other("interrupted (SIGINT or SIGTERM)".into())));
            break;
        }
        let batch = &ops[range.clone()];
        let keys: Vec<(Netns, String)> = batch
            .iter()
            .filter_map(|op| match op {
                Op::SysctlSet { netns, key, .. } => Some((netns.clone(), key.clone())),
                _ => None,
            })
            .collect();
        for (k, v) in keys.iter().zip(kernel.read_sysctls(&keys)) {
            if let Ok(v) = v {
                before.entry(k.clone()).or_insert(v);
            }
        }

        // Record the batch before sending it.
        let first = added.len();
        for op in batch.iter().filter(|op| !op.removes()) {
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
            let error = OpError::Other(format!("cannot write the lab record: {e}"));
            failure = Some((range.start + 1, ops[range.start].clone(), error));
            break;
        }

        let to_send: Vec<usize> = range.clone().filter(|i| fail_at != Some(i + 1)).collect();
        let sent: Vec<Op> = to_send.iter().map(|i| ops[*i].clone()).collect();
        let t = std::time::Instant::now();
        let outcomes = kernel.apply(&sent, &|n, k| previous(&base, &added, n, k));
        timing(crate::plan::text::kind(&ops[range.start]), sent.len(), t);
        let mut results: HashMap<usize, Result<Applied, OpError>> = to_send.into_iter().zip(outcomes).collect();
        if let Some(n) = fail_at.filter(|n| range.contains(&(n - 1))) {
            results.insert(n - 1, Err(OpError::Other(format!("failure injected by NETLAB_FAIL_AT={n}"))));
        }

        let mut slot = first;
        let mut removed = std::collections::HashSet::new();
        for i in range {
            let op = &ops[i];
            let result = results.remove(&i).expect("a result for every op");
            match &result {
                Ok(_) => printer.line(&(i + 1).to_string(), op, ""),
                Err(e) => printer.line(&(i + 1).to_string(), op, &format!("  FAILED: {e}")),
            }
            if op.removes() {
                if result.is_ok() {
                    removed.insert(op.key());
                }
            } else {
                if let Ok(Applied::Netns(id)) = result {
                    added[slot].ns_id = Some(id);
                }
                added[slot].pending = result.is_err();
                slot += 1;
            }
            if let Err(e) = result {
                failure.get_or_insert((i + 1, op.clone(), e));
            }
        }
        printer.flush();
        if !removed.is_empty() {
            base.retain(|e| !removed.contains(&e.op.key()));
        }
        // A failed addition did not happen: it is not the lab's.
        added.retain(|e| !e.pending);
        if failure.is_some() {
            break;
        }
    }

    let Some((number, op, error)) = failure else {
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
    Err(Box::new(Failure { number, op, error, undone: undo.len() - undo_errors.len(), undo_errors }))
}

/// Applies ops best-effort (a teardown, an undo, `link`): batch by batch, what is already
/// gone counts as done, and a failure does not stop the rest. Returns what failed.
pub fn best_effort(
    kernel: &mut Kernel,
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
