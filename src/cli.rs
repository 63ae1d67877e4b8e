//! The command line, as clap types. Kept in the library so the man pages and shell
//! completions are generated from the very definition the parser uses.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::tunnel::Encap;

#[derive(Debug, Parser)]
#[command(
    name = "netlab",
    version,
    // `--version` also names the commit (build.rs); `-V`, and so the man pages and
    // completions generated from `public_command`, show the version alone and do not
    // change with every commit.
    long_version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("NETLAB_GIT_COMMIT"), ")"),
    about = "Declarative Linux network labs: namespaces, veth pairs, bridges and tunnels from one TOML file",
    long_about = "netlab turns a declarative TOML topology into real Linux networking: network \
namespaces, veth pairs, bridges, ipip / vxlan / udp tunnels, addresses, routes, sysctls and \
Docker's network modes. `plan` prints the ordered kernel operations without touching anything.",
    after_help = "Exit codes: 0 success, 2 invalid topology or usage, 1 any other failure. `run` exits with its \
command's code (125 when netlab fails, 126 and 127 when the command cannot run or is not found).",
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
    /// Build the lab, or bring a lab that is up in line with its file (only the difference).
    #[command(after_help = "Prints each operation as it is applied. A failure undoes what the run applied and names \
the operation that failed. Needs root.")]
    Up(UpArgs),
    /// Remove everything the lab made, from its record: also after the file changed or is gone (--lab).
    #[command(after_help = "Best-effort: what is already gone is fine, failures are reported at the end. Only \
objects netlab made are removed. Needs root.")]
    Down(DownArgs),
    /// Compare the lab in the kernel with its file: + missing, - not wanted, ~ different.
    #[command(after_help = "Exit codes: 0 in sync, 1 different, 2 error. Needs root.")]
    Diff(DiffArgs),
    /// The labs that are up; with a topology or --lab, one lab's nodes, interfaces and addresses.
    #[command(after_help = "Needs root to read the lab's namespaces.")]
    Status(StatusArgs),
    /// Cut or restore a link: set both ends of NODE:IF administratively down or up.
    #[command(
        override_usage = "netlab link [TOPOLOGY] NODE:IF <down|up>\n       netlab link --lab NAME NODE:IF <down|up>",
        after_help = "The file still wants the link up: `netlab diff` reports a cut link and `netlab up` \
restores it.\n\nExample:\n  netlab link redis-cluster.toml redis3:eth0 down"
    )]
    Link(LinkArgs),
    /// Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files.
    #[command(
        override_usage = "netlab exec [TOPOLOGY] NODE -- CMD [ARGS]...",
        after_help = "Examples:\n  netlab exec lab.toml web -- ping -c1 172.17.0.3\n  netlab exec web -- ss -tln      \
(uses ./netlab.toml)\n\nExit code: the command's own; 127 if it does not exist, 126 if it cannot run."
    )]
    Exec(ExecArgs),
    /// Show the output of a node's processes (stdout and stderr, the newest part kept).
    #[command(
        override_usage = "netlab logs [TOPOLOGY] NODE[:PROCESS] [--follow]\n       netlab logs --lab NAME NODE[:PROCESS] [--follow]",
        after_help = "NODE alone shows every process of the node, each line after its name. NODE:exec.N shows \
the output of the node's N-th exec command. Needs root.\n\nExample:\n  netlab logs redis-cluster.toml redis1:redis-server"
    )]
    Logs(LogsArgs),
    /// Bring the lab up in a throwaway host of its own, run CMD there, take the lab down.
    #[command(
        override_usage = "netlab run [TOPOLOGY] [--node NODE] -- CMD [ARGS]...",
        after_help = "The throwaway host has its own network, mount and PID namespaces, /run and /etc/netns: \
the real host's network, /run/netns and /run/netlab are never touched, and when netlab run ends (even by kill \
-9) nothing of the lab is left. CMD runs on the throwaway's host side, or inside NODE; netlab itself works there \
(netlab link, status, logs, exec...). Without root it runs in a user namespace of its own; what needs the real \
root (udp tunnels, processes of other users without /etc/subuid) is refused before anything starts.\n\n\
Exit codes: CMD's own; 125 when netlab fails (an invalid topology included), 126 when CMD cannot be run, 127 \
when it is not found, 128+n when a signal n killed it. SIGINT and SIGTERM go to CMD, then the lab is taken \
down.\n\nExample:\n  netlab run redis-cluster.toml -- sh -c 'netlab link redis-cluster.toml redis3:eth0 down && ./check.sh'"
    )]
    Run(RunArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Run a userspace tunnel forwarder on a TUN device, in the foreground, in the current
    /// network namespace, until SIGTERM or SIGINT. `netlab up` starts these.
    #[command(hide = true)]
    Forward(ForwardArgs),
    /// Carry frames between two devices, each direction impaired (delay, loss, rate...),
    /// in the foreground, in the current network namespace, until SIGTERM or SIGINT.
    #[command(hide = true)]
    Relay(RelayArgs),
    /// Change the impairments of a running relay through its control socket; prints the
    /// impairments in force once they are.
    #[command(name = "relay-set", hide = true)]
    RelaySet(RelaySetArgs),
    /// Supervise a lab's processes, as PID 1 of a PID namespace of the lab's own, until
    /// told to stop. `netlab up` starts it.
    #[command(hide = true)]
    Supervise(SuperviseArgs),
}

#[derive(Debug, clap::Args)]
pub struct SuperviseArgs {
    /// The lab's directory (/run/netlab/<lab>).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The topology file [default: netlab.toml].
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub topology: Option<PathBuf>,
    /// Run CMD inside this node (as `netlab exec` does) instead of on the host side.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// [TOPOLOGY] NODE[:PROCESS]: the topology file (default ./netlab.toml) and what to show.
    #[arg(value_name = "[TOPOLOGY] NODE[:PROCESS]", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The lab, by name, instead of a topology file.
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// Keep printing what is written, until interrupted or the lab goes down.
    #[arg(long, short)]
    pub follow: bool,
}

impl LogsArgs {
    /// The lab and the NODE[:PROCESS] word.
    pub fn lab_and_target(&self) -> Result<(LabRef, &str), String> {
        let (lab, rest) = lab_and_rest(&self.lab, &self.target, 1)?;
        Ok((lab, rest[0].as_str()))
    }
}

#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// One end: a device of this namespace (frames read here go out of --b).
    #[arg(long, value_name = "DEV")]
    pub a: String,
    /// The other end.
    #[arg(long, value_name = "DEV")]
    pub b: String,
    /// What frames from a to b meet, as key=value pairs: delay=20ms,jitter=5ms,
    /// distribution=normal,loss=1%,duplicate=1%,corrupt=0.1%,reorder=25%,gap=5,
    /// rate=10mbit,limit=1000,seed=7,carrier=false.
    #[arg(long = "a-to-b", value_name = "SPEC", default_value = "none")]
    pub a_to_b: crate::impair::Impairment,
    /// What frames from b to a meet.
    #[arg(long = "b-to-a", value_name = "SPEC", default_value = "none")]
    pub b_to_a: crate::impair::Impairment,
    /// Write the counters here as JSON, every second and on exit.
    #[arg(long, value_name = "PATH")]
    pub stats: Option<PathBuf>,
    /// Listen here (a unix socket the relay creates) for impairment changes.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Started by `netlab up`: the descriptor of its handover socket (as for forward).
    #[arg(long, value_name = "FD", hide = true)]
    pub handover_fd: Option<i32>,
}

#[derive(Debug, clap::Args)]
pub struct RelaySetArgs {
    /// The relay's control socket.
    #[arg(long, value_name = "PATH")]
    pub control: PathBuf,
    /// The new impairment of frames from a to b (`none` clears it).
    #[arg(long = "a-to-b", value_name = "SPEC")]
    pub a_to_b: Option<crate::impair::Impairment>,
    /// The new impairment of frames from b to a.
    #[arg(long = "b-to-a", value_name = "SPEC")]
    pub b_to_a: Option<crate::impair::Impairment>,
    /// The new impairment of both directions.
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["a_to_b", "b_to_a"])]
    pub both: Option<crate::impair::Impairment>,
}

#[derive(Debug, clap::Args)]
pub struct ForwardArgs {
    /// The TUN device; it must exist (netlab makes it persistent, with its own flags).
    #[arg(long, value_name = "NAME")]
    pub dev: String,
    /// How packets travel: udp (flannel's udp backend) or ipip (RFC 2003).
    #[arg(long, value_enum)]
    pub encap: Encap,
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
    /// Started by `netlab up`: the descriptor of its handover socket (see
    /// src/kernel/forwarder.rs). Until handed over, the forwarder dies with `up`.
    #[arg(long, value_name = "FD", hide = true)]
    pub handover_fd: Option<i32>,
}

/// `--encap udp|ipip`: the tunnel's own type, given clap's trait here so that the tunnel
/// module does not depend on the command line.
impl ValueEnum for Encap {
    fn value_variants<'a>() -> &'a [Self] {
        &[Encap::Udp, Encap::Ipip]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// [TOPOLOGY] NODE: the topology file (default ./netlab.toml) and the node to run in.
    #[arg(value_name = "[TOPOLOGY] NODE", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The lab, by name, instead of a topology file (it must be up).
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Which lab a command acts on: its topology file, or its name (`--lab`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabRef {
    File(PathBuf),
    Name(String),
}

/// Splits `[TOPOLOGY] REST...` positionals: with `--lab`, there is no TOPOLOGY; without,
/// it is there when one more word than `rest` is given, else ./netlab.toml.
fn lab_and_rest<'a>(lab: &Option<String>, words: &'a [String], rest: usize) -> Result<(LabRef, &'a [String]), String> {
    match (lab, words.len()) {
        (Some(name), n) if n == rest => Ok((LabRef::Name(name.clone()), words)),
        (Some(_), _) => Err(format!("with --lab, give only {rest} argument{}", if rest == 1 { "" } else { "s" })),
        (None, n) if n == rest => Ok((LabRef::File(PathBuf::from("netlab.toml")), words)),
        (None, n) if n == rest + 1 => Ok((LabRef::File(PathBuf::from(&words[0])), &words[1..])),
        (None, _) => Err("wrong number of arguments".into()),
    }
}

impl ExecArgs {
    /// The lab and the node.
    pub fn lab_and_node(&self) -> Result<(LabRef, &str), String> {
        let (lab, rest) = lab_and_rest(&self.lab, &self.target, 1)?;
        Ok((lab, rest[0].as_str()))
    }
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A lab's topology file: show that lab (without it and --lab: list the labs that are up).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub topology: Option<PathBuf>,
    /// The lab to show, by name.
    #[arg(long, value_name = "NAME", conflicts_with = "topology")]
    pub lab: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// [TOPOLOGY] NODE:IF down|up
    #[arg(value_name = "ARGS", num_args = 2..=3, required = true)]
    pub words: Vec<String>,
    /// The lab, by name, instead of a topology file.
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

impl LinkArgs {
    /// The lab, the NODE:IF endpoint and whether it is to be up.
    pub fn parse(&self) -> Result<(LabRef, &str, bool), String> {
        let (lab, rest) = lab_and_rest(&self.lab, &self.words, 2)?;
        let up = match rest[1].as_str() {
            "up" => true,
            "down" => false,
            other => return Err(format!("`{other}`: say `down` (cut the link) or `up` (restore it)")),
        };
        Ok((lab, rest[0].as_str(), up))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For scripts: one JSON document (see the README for its shape).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub file: TopologyArg,
    /// Print the operations `up` would apply, without applying them.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format: each operation as it is applied, or one JSON summary at the end.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub file: TopologyArg,
    /// The lab to remove, by name, instead of by its topology file.
    #[arg(long, value_name = "NAME", conflicts_with = "topology")]
    pub lab: Option<String>,
    /// Output format: each operation as it is applied, or one JSON summary at the end.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub file: TopologyArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// One change a line: + missing, - not wanted, ~ different (field: file, kernel).
    Text,
    /// {"version": 1, "lab": ..., "in_sync": ..., "changes": [{"change": "add", "op": ...}]}
    Json,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}
