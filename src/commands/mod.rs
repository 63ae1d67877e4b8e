//! One module per CLI command, each with an `exec` that returns what to print.

// Every match over an enum here names its variants: a new kind of op (or of anything
// else) must be decided about, not fall into a `_` arm. See ARCHITECTURE.md.
#![deny(clippy::wildcard_enum_match_arm)]

pub(crate) mod completions;
pub(crate) mod diff;
pub(crate) mod down;
pub(crate) mod exec;
pub(crate) mod forward;
pub(crate) mod graph;
mod host_facts;
pub(crate) mod impair;
pub(crate) mod link;
mod links;
pub(crate) mod logs;
mod marked;
pub(crate) mod plan;
pub(crate) mod port;
pub(crate) mod relay;
pub(crate) mod run;
pub(crate) mod status;
mod status_impairments;
pub(crate) mod up;
pub(crate) mod validate;

use std::io::Write;
use std::time::Instant;

use crate::cli::{Command, LabRef};
use crate::diff::Diff;
use crate::error::Refusal;
use crate::kernel::{Kernel, Linux, Scope};
use crate::live::LiveLab;
use crate::ownership::Marks;
use crate::plan::{Op, Plan};
use crate::sharing::{self, HostLock, HostShares};
use crate::state::{Record, StateDir};
use crate::topology::{Netns, Topology};
use crate::Result;

/// The record of a lab that is up, or an error that says it is not.
pub(crate) fn record_of(state: &StateDir, lab: &str) -> Result<Record> {
    let not_up = || Refusal::NotUp { lab: lab.to_string(), state: state.root().to_path_buf() }.into();
    state.load(lab)?.ok_or_else(not_up)
}

/// The namespace a node's processes live in: its own, its container-mode name (the same
/// stack as its target), or the host's.
pub(crate) fn node_netns(topology: &Topology, node: &str) -> Result<Netns> {
    match topology.node(node) {
        Some(n) => Ok(topology.entry_netns(n)),
        None => {
            let known: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            Err(crate::Error::Usage(format!(
                "lab {} has no node {node}; its nodes are: {}",
                topology.lab,
                known.join(", ")
            )))
        }
    }
}

/// The same, from a lab's record (`exec --lab`): the file is not needed.
pub(crate) fn recorded_node_netns(record: &Record, node: &str) -> Result<Netns> {
    record.nodes.get(node).cloned().ok_or_else(|| {
        let known: Vec<&str> = record.nodes.keys().map(String::as_str).collect();
        crate::Error::Usage(format!("lab {} has no node {node}; its nodes are: {}", record.lab, known.join(", ")))
    })
}

/// The kernel, to work on lab `lab`: with its marks, its forwarders' files in `state`.
pub(crate) fn kernel(state: &StateDir, lab: &str) -> Result<Linux> {
    Ok(Linux::new(Marks::of(lab), state.lab_dir(lab))?)
}

/// The lab a command names: by name (`--lab`, checked like the `[lab]` name of a file),
/// or the one its topology file declares.
pub(crate) fn lab_name(lab: &LabRef) -> Result<String> {
    match lab {
        LabRef::Name(name) => {
            crate::topology::names::check_lab_name(name)
                .map_err(|e| crate::Error::Usage(format!("--lab {name}: {e}")))?;
            Ok(name.clone())
        }
        LabRef::File(file) => Ok(crate::load(file)?.lab),
    }
}

/// The plan of `topology` for this machine: what `up` applies, `diff` and `status`
/// compare with, and `plan` prints. The kernel is asked only when the topology leaves a
/// choice to it (an ipip tunnel in `auto` mode), the host only when the lab publishes
/// ports or has nat networks (see `host_facts`).
pub(crate) fn plan_here(state: &StateDir, topology: &crate::Topology) -> Plan {
    crate::plan::compile_with(topology, &host_facts::read(state, topology))
}

/// One record entry per qdisc and drop: a replacement made at run time supersedes the
/// one before it (`apply` keeps both, as it keeps every op it applied).
pub(crate) fn keep_latest(record: &mut Record) {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<_> = record
        .entries
        .drain(..)
        .rev()
        .filter(|e| {
            let key = e.op.key();
            !matches!(key.what, crate::plan::Subject::Qdisc | crate::plan::Subject::Drop) || seen.insert(key)
        })
        .collect();
    kept.reverse();
    record.entries = kept;
}

/// What `up`, `down`, `link` and `impair` print with `--format json`: one document at the end.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Report<'a> {
    pub version: u32,
    pub lab: &'a str,
    /// `up`, `down`, `link` or `impair`.
    pub action: &'static str,
    pub ok: bool,
    /// Whether anything was changed (and stayed changed).
    pub changed: bool,
    /// The ops applied, in order (on failure: the ops the run tried).
    pub ops: &'a [Op],
    pub elapsed_ms: u128,
    /// What the run found that the lab may suffer from (another firewall that drops its
    /// forwarded traffic).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
    /// On failure: what failed, as the error message says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Writes `value` as one pretty-printed JSON document and a newline: every command's
/// `--format json`.
pub(crate) fn print_json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// The ops a plan (the file, where it still parses) and a record (what netlab made)
/// name: what observing a lab looks at.
pub(crate) fn known_ops<'a>(plan: Option<&'a Plan>, record: Option<&'a Record>) -> Vec<&'a Op> {
    plan.iter().flat_map(|p| p.ops.iter()).chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op))).collect()
}

/// What the kernel has of a lab: everything its plan and its record touch.
pub(crate) fn observe<K: Kernel>(kernel: &mut K, plan: Option<&Plan>, record: Option<&Record>) -> Result<LiveLab> {
    let known = known_ops(plan, record);
    let t = Instant::now();
    let live = kernel.observe(&known, Scope::All).map_err(Refusal::Observe)?;
    crate::timing::timing("observe", known.len(), t);
    Ok(live)
}

/// The changes that bring the kernel to `plan`, as [`observe`] finds it, while the other
/// labs that are up have the host sysctls `shares`; and what it found.
pub(crate) fn compare<K: Kernel>(
    kernel: &mut K,
    plan: &Plan,
    record: Option<&Record>,
    shares: &HostShares,
) -> Result<(Diff, LiveLab)> {
    let live = observe(kernel, Some(plan), record)?;
    let t = Instant::now();
    let d = crate::diff::diff(plan, record, &live, shares);
    crate::timing::timing("diff", d.changes.len(), t);
    Ok((d, live))
}

/// Whether a lab with plan `plan` (if its file parses) and record `record` (if it is up)
/// sets or puts back host sysctls, which other labs may share.
pub(crate) fn touches_host(plan: Option<&Plan>, record: Option<&Record>) -> bool {
    let planned = plan.iter().flat_map(|p| p.ops.iter());
    sharing::touches_host(planned.chain(record.iter().flat_map(|r| r.entries.iter().map(|e| &e.op))))
}

/// The host sysctls of the labs that are up other than `lab`; none are read when `lab`
/// does not touch the host's (`touches`): it has nothing to share.
pub(crate) fn host_shares(state: &StateDir, lab: &str, touches: bool) -> Result<HostShares> {
    Ok(if touches { HostShares::read(state, Some(lab))? } else { HostShares::default() })
}

/// The host lock, for a run of lab `lab` that changes host sysctls other labs may share;
/// taken after the lab's own lock, and waited for (saying so) when another netlab holds it.
pub(crate) fn host_lock(state: &StateDir, lab: &str) -> Result<HostLock> {
    Ok(HostLock::take(state, lab, &mut |holder| {
        let who = if holder.is_empty() { String::new() } else { format!(" ({holder})") };
        eprintln!("netlab: waiting for another netlab{who} to finish with the host's shared sysctls");
    })?)
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    let state = &StateDir::system();
    match command {
        Command::Validate(args) => validate::exec(&args, out),
        Command::Plan(args) => plan::exec(state, &args, out),
        Command::Graph(args) => graph::exec(&args, out),
        Command::Up(args) => up::exec(state, &args, out),
        Command::Down(args) => down::exec(state, &args, out),
        Command::Diff(args) => match diff::exec(state, &args, out) {
            Ok(diff::Outcome::InSync) => Ok(()),
            Ok(diff::Outcome::Different) => Err(crate::Error::Different),
            Err(e @ crate::Error::Invalid(_)) => Err(e),
            Err(e) => Err(crate::Error::Compare(Box::new(e))),
        },
        Command::Exec(args) => {
            let (lab, node) = args.lab_and_node().map_err(crate::Error::Usage)?;
            let netns = match &lab {
                LabRef::File(file) => node_netns(&crate::load(file)?, node)?,
                LabRef::Name(_) => recorded_node_netns(&record_of(state, &lab_name(&lab)?)?, node)?,
            };
            out.flush()?;
            exec::run_in(&netns, &args.command)
        }
        Command::Status(args) => status::exec(state, &args, out),
        Command::Link(args) => link::exec(state, &args, out),
        Command::Port(args) => port::exec(state, &args, out),
        Command::Logs(args) => logs::exec(state, &args, out),
        Command::Run(args) => run::exec(args),
        Command::Impair(args) => impair::exec(state, &args, out),
        Command::Completions(args) => completions::exec(&args, out),
        Command::Forward(args) => forward::exec(args),
        Command::Supervise(args) => Ok(crate::process::supervisor::serve(&args.dir)?),
        Command::Relay(args) => relay::exec(args),
        Command::RelaySet(args) => relay::set(&args, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{topology, TempDir};

    #[test]
    fn a_lab_that_is_not_up_is_refused_with_where_its_record_would_be() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let e = record_of(&state, "web").unwrap_err();
        assert_eq!(e.to_string(), format!("lab web is not up (no record under {})", dir.path().display()));
        assert_eq!(e.exit_code(), 1);
        state.new_record("web").save().unwrap();
        assert_eq!(record_of(&state, "web").unwrap().lab, "web");
    }

    #[test]
    fn a_lab_named_on_the_command_line_is_checked_like_one_in_a_file() {
        assert_eq!(lab_name(&LabRef::Name("web".into())).unwrap(), "web");
        let e = lab_name(&LabRef::Name("../etc".into())).unwrap_err();
        assert!(e.to_string().starts_with("--lab ../etc: "), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_plan_asks_the_kernel_only_when_the_file_leaves_it_a_choice() {
        // No ipip in auto mode: the plan for every kernel, without asking this one.
        let t = topology("[lab]\nname = \"x\"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = [\"a:e0\", \"b:e0\"]\n");
        let dir = TempDir::new();
        assert_eq!(plan_here(&StateDir::new(dir.path()), &t).ops, crate::plan::compile(&t).ops);
    }

    #[test]
    fn a_node_runs_in_its_namespace_its_targets_or_the_hosts() {
        let t = topology(
            "[lab]\nname = \"x\"\n[nodes.a]\n[nodes.b]\nnetwork = \"container:a\"\n[nodes.h]\nnetwork = \"host\"\n",
        );
        assert_eq!(node_netns(&t, "a").unwrap(), Netns::Named("x-a".into()));
        assert_eq!(node_netns(&t, "b").unwrap(), Netns::Named("x-b".into()));
        assert_eq!(node_netns(&t, "h").unwrap(), Netns::Host);
        let e = node_netns(&t, "z").unwrap_err();
        assert_eq!(e.to_string(), "lab x has no node z; its nodes are: a, b, h");
        assert_eq!(e.exit_code(), 2);

        let mut record = StateDir::new("/nonexistent").new_record("x");
        record.nodes.insert("a".into(), Netns::Named("x-a".into()));
        assert_eq!(recorded_node_netns(&record, "a").unwrap(), Netns::Named("x-a".into()));
        assert_eq!(recorded_node_netns(&record, "q").unwrap_err().to_string(), "lab x has no node q; its nodes are: a");
    }

    #[test]
    fn reports_are_one_json_document_with_a_version() {
        let ops = [Op::NetnsAdd { netns: "a".into() }];
        let report = Report {
            version: 1,
            lab: "x",
            action: "up",
            ok: false,
            changed: false,
            ops: &ops,
            elapsed_ms: 3,
            warnings: &[],
            error: Some("op 1 failed".into()),
        };
        let mut out = Vec::new();
        print_json(&mut out, &report).unwrap();
        assert!(out.ends_with(b"}\n"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            serde_json::json!({"version": 1, "lab": "x", "action": "up", "ok": false, "changed": false,
                "ops": [{"op": "netns_add", "netns": "a"}], "elapsed_ms": 3, "error": "op 1 failed"})
        );
    }
}
