//! One module per CLI command, each with an `exec` that returns what to print.

pub mod completions;
pub mod exec;
pub mod forward;
pub mod graph;
pub mod plan;
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
        Command::Exec(args) => {
            let (file, node) = args.topology_and_node();
            let topology = crate::load(&file)?;
            let netns = exec::node_netns(&topology, node)?;
            out.flush()?;
            exec::run_in(&netns, &args.command)
        }
        Command::Completions(args) => completions::exec(&args, out),
        Command::Forward(args) => forward::exec(args),
    }
}
