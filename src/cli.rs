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

/// The command line as users see it, for completions and man pages: [`Cli`] without its
/// hidden subcommands. clap_complete writes completions for hidden subcommands too, and
/// clap's `Command` cannot drop a subcommand, so the root is put together again from its
/// own settings, arguments and visible subcommands; nothing here restates the CLI.
pub fn public_command() -> clap::Command {
    use clap::CommandFactory;
    let full = Cli::command();
    let mut public = clap::Command::new(full.get_name().to_owned())
        .propagate_version(full.is_propagate_version_set())
        .subcommand_required(full.is_subcommand_required_set())
        .arg_required_else_help(full.is_arg_required_else_help_set());
    if let Some(version) = full.get_version() {
        public = public.version(version.to_owned());
    }
    if let Some(about) = full.get_about() {
        public = public.about(about.clone());
    }
    if let Some(about) = full.get_long_about() {
        public = public.long_about(about.clone());
    }
    if let Some(help) = full.get_after_help() {
        public = public.after_help(help.clone());
    }
    public = public.args(full.get_arguments().cloned());
    public.subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a topology file and report every problem in it, with file, line and column.
    Validate(TopologyArg),
    /// Print the ordered kernel operations that bring the lab up (or, with --down, take it down).
    Plan(PlanArgs),
    /// Draw the topology: namespaces, bridges, links and tunnels, with addresses.
    Graph(GraphArgs),
    /// Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files.
    #[command(
        override_usage = "netlab exec [TOPOLOGY] NODE -- CMD [ARGS]...",
        after_help = "Examples:\n  netlab exec lab.toml web -- ping -c1 172.17.0.3\n  netlab exec web -- ss -tln      \
(uses ./netlab.toml)\n\nExit code: the command's own; 127 if it does not exist, 126 if it cannot run."
    )]
    Exec(ExecArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Run a userspace tunnel forwarder on a TUN device, in the foreground, in the current
    /// network namespace, until SIGTERM or SIGINT. `netlab up` starts these.
    #[command(hide = true)]
    Forward(ForwardArgs),
}

#[derive(Debug, clap::Args)]
pub struct ForwardArgs {
    /// The TUN device; it must exist (netlab makes it persistent, with its own flags).
    #[arg(long, value_name = "NAME")]
    pub dev: String,
    /// How packets travel: udp (flannel's udp backend) or ipip (RFC 2003).
    #[arg(long, value_enum)]
    pub encap: ForwardEncap,
    /// This end's underlay address.
    #[arg(long, value_name = "ADDR")]
    pub local: std::net::IpAddr,
    /// The UDP port, here and at every peer (udp only) [default: 8285].
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// A peer: its underlay address, and the inner subnet behind it (none: everything).
    #[arg(long = "peer", value_name = "UNDERLAY[=SUBNET]", required = true)]
    pub peers: Vec<crate::tunnel::Peer>,
    /// Write the counters here as JSON, every second and on exit.
    #[arg(long, value_name = "PATH")]
    pub stats: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardEncap {
    Udp,
    Ipip,
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// [TOPOLOGY] NODE: the topology file (default ./netlab.toml) and the node to run in.
    #[arg(value_name = "[TOPOLOGY] NODE", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

impl ExecArgs {
    /// The topology file and the node, from one or two positional words.
    pub fn topology_and_node(&self) -> (PathBuf, &str) {
        match self.target.as_slice() {
            [node] => (PathBuf::from("netlab.toml"), node),
            [file, node, ..] => (PathBuf::from(file), node),
            [] => unreachable!("clap requires at least one"),
        }
    }
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
