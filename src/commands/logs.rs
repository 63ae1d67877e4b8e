//! `netlab logs [TOPOLOGY | --lab NAME] NODE[:PROCESS] [--follow]`: what a node's
//! processes wrote (stdout and stderr), from the capped logs their supervisor keeps in the
//! lab's directory; `NODE:exec.N` is the output of the node's N-th one-shot command.
//! With more than one log, each line comes after its process's name.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::LogsArgs;
use crate::error::Refusal;
use crate::plan::Op;
use crate::process::{files, log};
use crate::state::StateDir;
use crate::{Error, Result};

/// How often `--follow` looks for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

pub fn exec(state: &StateDir, args: &LogsArgs, out: &mut dyn Write) -> Result<()> {
    let (lab, target) = args.lab_and_target().map_err(Error::Usage)?;
    let lab = super::lab_name(&lab)?;
    let record = super::record_of(state, &lab)?;
    let dir = state.lab_dir(&lab);
    let (node, wanted) = match target.split_once(':') {
        Some((node, name)) => (node, Some(name)),
        None => (target, None),
    };
    if !record.nodes.contains_key(node) {
        let known: Vec<&str> = record.nodes.keys().map(String::as_str).collect();
        return Err(Error::Usage(format!("lab {lab} has no node {node}; its nodes are: {}", known.join(", "))));
    }
    let processes: Vec<&str> = record
        .entries
        .iter()
        .filter_map(|e| {
            if let Op::ProcessStart { node: n, name, .. } = &e.op {
                (n == node).then_some(name.as_str())
            } else {
                None
            }
        })
        .collect();
    let execs: Vec<usize> = record
        .entries
        .iter()
        .filter_map(|e| if let Op::Exec { node: n, n: i, .. } = &e.op { (n == node).then_some(*i) } else { None })
        .collect();
    let logs: Vec<(String, PathBuf)> = match wanted {
        Some(name) if processes.contains(&name) => {
            vec![(name.to_string(), files::log_path(&dir, &format!("{node}:{name}")))]
        }
        Some(name)
            if name.strip_prefix("exec.").and_then(|n| n.parse().ok()).is_some_and(|n: usize| execs.contains(&n)) =>
        {
            vec![(name.to_string(), files::run_log_path(&dir, &format!("{node}:{name}")))]
        }
        Some(name) => {
            let mut known: Vec<String> = processes.iter().map(|p| p.to_string()).collect();
            known.extend(execs.iter().map(|n| format!("exec.{n}")));
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(Error::Usage(format!("node {node} of lab {lab} has no process {name}; it has: {known}")));
        }
        None if processes.is_empty() => {
            return Err(Error::Usage(format!(
                "node {node} of lab {lab} runs no process (its exec commands: NODE:exec.N)"
            )))
        }
        None => processes.iter().map(|p| (p.to_string(), files::log_path(&dir, &format!("{node}:{p}")))).collect(),
    };
    let labelled = logs.len() > 1;
    let width = logs.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut readers: Vec<Reader> = logs
        .into_iter()
        .map(|(name, path)| Reader {
            prefix: if labelled { format!("{name:<width$} | ") } else { String::new() },
            follower: log::Follower::new(&path),
            path,
            partial: Vec::new(),
        })
        .collect();
    loop {
        for r in &mut readers {
            r.print(out, false)?;
        }
        out.flush()?;
        // The lab went down: its logs with it.
        if !args.follow || state.load(&lab)?.is_none() {
            break;
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
    for r in &mut readers {
        r.print(out, true)?;
    }
    Ok(())
}

/// One log being read, with the line it has not finished yet (a prefixed line is printed
/// once it is whole).
struct Reader {
    prefix: String,
    path: PathBuf,
    follower: log::Follower,
    partial: Vec<u8>,
}

impl Reader {
    fn print(&mut self, out: &mut dyn Write, last: bool) -> Result<()> {
        let new = self.follower.read_new().map_err(|e| {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                Error::Refused(Refusal::NoPrivileges)
            } else {
                Error::Usage(format!("cannot read {}: {e}", self.path.display()))
            }
        })?;
        if self.prefix.is_empty() {
            return Ok(out.write_all(&new)?);
        }
        self.partial.extend(new);
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&line)?;
        }
        if last && !self.partial.is_empty() {
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(&std::mem::take(&mut self.partial))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}
