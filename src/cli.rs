//! The command line, as clap types. Kept in the library so the man pages and shell
//! completions are generated from the very definition the parser uses.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::graph::GraphFormat;

#[derive(Debug, Parser)]
#[command(
    name = "netlab",
    version,
    about = "Declarative Linux network labs: namespaces, veth pairs, bridges and tunnels from one TOML file",
    long_about = "netlab turns a declarative TOML topology into real Linux networking: network \
namespaces, veth pairs, bridges, ipip / vxlan / udp tunnels, addresses, routes, sysctls and \
Docker's network modes. `plan` prints the ordered kernel operations without touching anything.",
    after_help = "Exit codes: 0 success, 2 invalid topology or usage, 1 any other failure.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a topology file and report every problem in it, with file, line and column.
    Validate(TopologyArg),
    /// Print the ordered kernel operations that bring the lab up (or, with --down, take it down).
    Plan(PlanArgs),
    /// Draw the topology: namespaces, bridges, links and tunnels, with addresses.
    Graph(GraphArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct TopologyArg {
    /// The topology file.
    #[arg(default_value = "netlab.toml", value_hint = clap::ValueHint::FilePath)]
    pub topology: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub file: TopologyArg,
    /// Print the teardown plan instead: what `down` removes, in order.
    #[arg(long)]
    pub down: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Numbered and aligned, one operation a line.
    Text,
    /// {"version": 1, "lab": ..., "direction": "up", "ops": [{"op": "netns_add", ...}]}
    Json,
    /// A shell script of iproute2 commands that builds the same lab.
    Ip,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub file: TopologyArg,
    /// Output format: Graphviz dot (`dot -Tsvg`) or a Mermaid flowchart.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}
