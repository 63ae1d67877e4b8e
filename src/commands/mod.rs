//! One module per CLI command, each with an `exec` that returns what to print.

pub mod completions;
pub mod diff;
pub mod down;
pub mod exec;
pub mod graph;
pub mod plan;
pub mod up;
pub mod validate;

use std::io::Write;

use crate::cli::Command;
use crate::Result;

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
            let (file, node) = args.topology_and_node();
            let topology = crate::load(&file)?;
            let netns = exec::node_netns(&topology, node)?;
            out.flush()?;
            exec::run_in(&netns, &args.command)
        }
        Command::Completions(args) => completions::exec(&args, out),
    }
}
