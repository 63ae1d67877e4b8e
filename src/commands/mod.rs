//! One module per CLI command, each with an `exec` that returns what to print.

pub mod completions;
pub mod diff;
pub mod down;
pub mod exec;
pub mod forward;
pub mod graph;
pub mod link;
pub mod plan;
pub mod relay;
pub mod status;
pub mod up;
pub mod validate;

use std::io::Write;
use std::time::Instant;

use crate::cli::{Command, LabRef};
use crate::diff::Diff;
use crate::kernel::observe::LiveLab;
use crate::kernel::Kernel;
use crate::plan::{Op, Plan};
use crate::state::Record;
use crate::Result;

/// The record of a lab that is up, or an error that says it is not.
pub fn record_of(lab: &str) -> Result<Record> {
    Record::load(lab)?
        .ok_or_else(|| crate::Error::Refused(format!("lab {lab} is not up (no record under /run/netlab)")))
}

/// The lab a command names: by name (`--lab`, checked like the `[lab]` name of a file),
/// or the one its topology file declares.
pub fn lab_name(lab: &LabRef) -> Result<String> {
    match lab {
        LabRef::Name(name) => {
            crate::topology::names::check_lab_name(name)
                .map_err(|e| crate::Error::Usage(format!("--lab {name}: {e}")))?;
            Ok(name.clone())
        }
        LabRef::File(file) => Ok(crate::load(file)?.lab),
    }
}

/// Writes `value` as one pretty-printed JSON document and a newline: every command's
/// `--format json`.
pub fn print_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// What the kernel has of a lab: everything its plan (the file, where it still parses)
/// and its record (what netlab made) touch.
pub fn observe(kernel: &mut Kernel, plan: Option<&Plan>, record: Option<&Record>) -> Result<LiveLab> {
    let known: Vec<&Op> = plan
        .iter()
        .flat_map(|p| p.ops.iter())
        .chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op)))
        .collect();
    let t = Instant::now();
    let live = kernel
        .observe_lab(&known)
        .map_err(|e| crate::Error::Refused(format!("cannot read the kernel's state: {e}")))?;
    crate::apply::timing("observe", known.len(), t);
    Ok(live)
}

/// The changes that bring the kernel to `plan`, as [`observe`] finds it.
pub fn compare(kernel: &mut Kernel, plan: &Plan, record: Option<&Record>) -> Result<Diff> {
    let live = observe(kernel, Some(plan), record)?;
    let t = Instant::now();
    let d = crate::diff::diff(plan, record, &live, kernel.mark());
    crate::apply::timing("diff", d.changes.len(), t);
    Ok(d)
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Validate(args) => validate::exec(&args, out),
        Command::Plan(args) => plan::exec(&args, out),
        Command::Graph(args) => graph::exec(&args, out),
        Command::Up(args) => up::exec(&args, out),
        Command::Down(args) => down::exec(&args, out),
        Command::Diff(args) => match diff::exec(&args, out) {
            Ok(diff::Outcome::InSync) => Ok(()),
            Ok(diff::Outcome::Different) => Err(crate::Error::Different),
            Err(e @ crate::Error::Invalid(_)) => Err(e),
            Err(e) => Err(crate::Error::Compare(Box::new(e))),
        },
        Command::Exec(args) => {
            let (lab, node) = args.lab_and_node().map_err(crate::Error::Usage)?;
            let netns = match &lab {
                LabRef::File(file) => exec::node_netns(&crate::load(file)?, node)?,
                LabRef::Name(_) => exec::recorded_node_netns(&record_of(&lab_name(&lab)?)?, node)?,
            };
            out.flush()?;
            exec::run_in(&netns, &args.command)
        }
        Command::Status(args) => status::exec(&args, out),
        Command::Link(args) => link::exec(&args, out),
        Command::Completions(args) => completions::exec(&args, out),
        Command::Forward(args) => forward::exec(args),
        Command::Relay(args) => relay::exec(args),
        Command::RelaySet(args) => relay::set(&args, out),
    }
}
