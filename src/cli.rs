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
    /// Cut or restore a link: set every end of NODE:IF's link down, pull its cable, or restore it.
    #[command(
        override_usage = "netlab link [TOPOLOGY] NODE:IF <down|cut|up>\n       netlab link --lab NAME NODE:IF <down|cut|up>",
        after_help = "down: every end of the link is set administratively down; its routes go, and a program \
sending through it is told at once (\"Network is unreachable\").\ncut: every frame is dropped, both ways, while both \
ends stay up with their addresses and routes, as with a pulled cable: a program sees timeouts, then (once ARP \
gives up, about 3 s) \"Destination Host Unreachable\".\nup: every end up again, and a cut link's cable back.\n\n\
The file still wants the link up: `netlab diff` reports a cut link and `netlab up` restores it.\n\nExamples:\n  \
netlab link redis-cluster.toml redis3:eth0 down\n  netlab link wan.toml gw-a:wan0 cut"
    )]
    Link(LinkArgs),
    /// Degrade a link of a lab that is up, at once: what frames leaving NODE:IF meet.
    #[command(
        override_usage = "netlab impair [TOPOLOGY] NODE:IF [--delay D] [--jitter J] [--loss P] [--rate R] ... [--both]\n       \
netlab impair [TOPOLOGY] NODE:IF --clear [--both]\n       netlab impair --lab NAME NODE:IF ...",
        after_help = "Replaces the impairment of the frames NODE:IF sends (--both: of both directions of its link) \
with the one given; what is not given is not impaired. The file is not changed: `netlab diff` shows the difference, \
`netlab up` puts the file's impairment back.\n\nA link the file impairs in userspace (netlab's own delay line; \
`impair = {}` declares one with nothing asked yet) takes any impairment. A link the kernel impairs (or one the file does not impair) \
takes what this kernel's qdiscs and nftables can do: a rate, a loss, a pulled cable, and netem's delay, jitter, \
duplicate, corrupt and reorder where the kernel has netem; never a seed.\n\nExamples:\n  netlab impair wan.toml \
gw-a:wan0 --delay 200ms --loss 5% --both\n  netlab impair --lab wan gw-a:wan0 --clear --both"
    )]
    Impair(ImpairArgs),
    /// Run a command inside a node, like `ip netns exec`: its namespace, its /etc/netns files.
    #[command(
        override_usage = "netlab exec [TOPOLOGY] NODE -- CMD [ARGS]...",
        after_help = "Examples:\n  netlab exec lab.toml web -- ping -c1 172.17.0.3\n  netlab exec web -- ss -tln      \
(uses ./netlab.toml)\n\nExit code: the command's own; 127 if it does not exist, 126 if it cannot run."
    )]
    Exec(ExecArgs),
    /// A node's published ports, as `docker port` prints them: NODE_PORT/PROTO -> HOST_ADDR:HOST_PORT.
    #[command(
        override_usage = "netlab port [TOPOLOGY] NODE [PORT[/PROTO]]\n       netlab port --lab NAME NODE [PORT[/PROTO]]",
        after_help = "The lab must be up: a host port that `up` picked (\"80\" in `ports`) is known from its \
record. With PORT, only the host addresses and ports it is published on.\n\nExamples:\n  netlab port \
docker-modes.toml web\n  netlab port --lab docker web 80/tcp"
    )]
    Port(PortArgs),
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

#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// [TOPOLOGY] NODE [PORT[/PROTO]]
    #[arg(value_name = "ARGS", num_args = 1..=3, required = true)]
    pub words: Vec<String>,
    /// The lab, by name, instead of a topology file.
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

impl PortArgs {
    /// The lab, the node, and the node port (and protocol) asked about, if any. Two words
    /// without --lab are TOPOLOGY NODE when the first is a file, else NODE PORT.
    pub fn parse(&self) -> Result<(LabRef, &str, Option<&str>), String> {
        let n = self.words.len();
        let (lab, rest) = match (&self.lab, n) {
            (None, 2) if std::path::Path::new(&self.words[0]).is_file() => lab_and_rest(&self.lab, &self.words, 1)?,
            (None, 2) | (Some(_), 2) => lab_and_rest(&self.lab, &self.words, 2)?,
            (None, 3) => lab_and_rest(&self.lab, &self.words, 2)?,
            _ => lab_and_rest(&self.lab, &self.words, 1)?,
        };
        Ok((lab, rest[0].as_str(), rest.get(1).map(String::as_str)))
    }
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
pub struct ImpairArgs {
    /// [TOPOLOGY] NODE:IF: the topology file (default ./netlab.toml) and the end of the link
    /// whose outgoing frames to impair.
    #[arg(value_name = "[TOPOLOGY] NODE:IF", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// The lab, by name, instead of a topology file.
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// Added to every frame's trip, like "20ms".
    #[arg(long, value_name = "TIME", value_parser = crate::impairment::value::parse_duration)]
    pub delay: Option<std::time::Duration>,
    /// How far a frame's delay strays from --delay.
    #[arg(long, value_name = "TIME", value_parser = crate::impairment::value::parse_duration)]
    pub jitter: Option<std::time::Duration>,
    /// The shape of the jitter: uniform, normal, pareto or paretonormal.
    #[arg(long, value_name = "NAME")]
    pub distribution: Option<crate::impairment::Distribution>,
    /// The share of frames lost, like "1%".
    #[arg(long, value_name = "PERCENT")]
    pub loss: Option<crate::impairment::Percent>,
    /// The share of frames sent twice.
    #[arg(long, value_name = "PERCENT")]
    pub duplicate: Option<crate::impairment::Percent>,
    /// The share of frames with one bit flipped.
    #[arg(long, value_name = "PERCENT")]
    pub corrupt: Option<crate::impairment::Percent>,
    /// The share of frames that skip the delay (needs --delay).
    #[arg(long, value_name = "PERCENT")]
    pub reorder: Option<crate::impairment::Percent>,
    /// Bits per second of link-layer frames, with tc's suffixes: "10mbit".
    #[arg(long, value_name = "RATE", value_parser = crate::impairment::value::parse_rate)]
    pub rate: Option<u64>,
    /// Frames that may wait at once (default 1000).
    #[arg(long, value_name = "FRAMES")]
    pub limit: Option<u32>,
    /// Makes each frame's fate the same on every run (userspace only).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// off: every frame is dropped while both ends stay up (a pulled cable).
    #[arg(long, value_name = "on|off", value_parser = parse_carrier)]
    pub carrier: Option<bool>,
    /// Both directions of the link get the impairment.
    #[arg(long)]
    pub both: bool,
    /// No impairment (of that end, or with --both of the link).
    #[arg(
        long,
        conflicts_with_all = ["delay", "jitter", "distribution", "loss", "duplicate", "corrupt", "reorder", "rate", "limit", "seed", "carrier"]
    )]
    pub clear: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `on`/`off` (or `true`/`false`).
fn parse_carrier(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("`{s}`: say on or off")),
    }
}

impl ImpairArgs {
    /// The lab and the NODE:IF end.
    pub fn lab_and_end(&self) -> Result<(LabRef, &str), String> {
        let (lab, rest) = lab_and_rest(&self.lab, &self.target, 1)?;
        Ok((lab, rest[0].as_str()))
    }

    /// The impairment asked for (none with --clear), checked as a whole.
    pub fn impairment(&self) -> Result<crate::impairment::Impairment, String> {
        let mut imp = crate::impairment::Impairment::default();
        let mut given = false;
        let mut set = |slot: &mut dyn FnMut(&mut crate::impairment::Impairment), is: bool| {
            if is {
                slot(&mut imp);
                given = true;
            }
        };
        set(&mut |i| i.delay = self.delay.unwrap_or_default(), self.delay.is_some());
        set(&mut |i| i.jitter = self.jitter.unwrap_or_default(), self.jitter.is_some());
        set(&mut |i| i.distribution = self.distribution.unwrap_or_default(), self.distribution.is_some());
        set(&mut |i| i.loss = self.loss.unwrap_or_default(), self.loss.is_some());
        set(&mut |i| i.duplicate = self.duplicate.unwrap_or_default(), self.duplicate.is_some());
        set(&mut |i| i.corrupt = self.corrupt.unwrap_or_default(), self.corrupt.is_some());
        set(&mut |i| i.reorder = self.reorder.unwrap_or_default(), self.reorder.is_some());
        set(&mut |i| i.rate = self.rate, self.rate.is_some());
        set(&mut |i| i.limit = self.limit, self.limit.is_some());
        set(&mut |i| i.seed = self.seed, self.seed.is_some());
        set(&mut |i| i.carrier = self.carrier.unwrap_or(true), self.carrier.is_some());
        if !given && !self.clear {
            return Err("say what frames meet (--delay 20ms, --loss 1%, --rate 10mbit...), or --clear".into());
        }
        if self.limit == Some(0) {
            return Err("--limit 0: at least 1 frame".into());
        }
        imp.validate()?;
        Ok(imp)
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
    /// [TOPOLOGY] NODE:IF down|cut|up
    #[arg(value_name = "ARGS", num_args = 2..=3, required = true)]
    pub words: Vec<String>,
    /// The lab, by name, instead of a topology file.
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// What `netlab link` does to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Every end administratively down: the routes through it go.
    Down,
    /// Every end up again, and a cut link's cable back.
    Up,
    /// Every frame dropped, both ends up with their routes: a pulled cable.
    Cut,
}

impl LinkAction {
    pub fn word(self) -> &'static str {
        match self {
            LinkAction::Down => "down",
            LinkAction::Up => "up",
            LinkAction::Cut => "cut",
        }
    }
}

impl LinkArgs {
    /// The lab, the NODE:IF endpoint and what to do.
    pub fn parse(&self) -> Result<(LabRef, &str, LinkAction), String> {
        let (lab, rest) = lab_and_rest(&self.lab, &self.words, 2)?;
        let action = match rest[1].as_str() {
            "up" => LinkAction::Up,
            "down" => LinkAction::Down,
            "cut" => LinkAction::Cut,
            other => {
                return Err(format!(
                "`{other}`: say `down` (set it down), `cut` (pull the cable: both ends stay up) or `up` (restore it)"
            ))
            }
        };
        Ok((lab, rest[0].as_str(), action))
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
    /// After applying, read back the namespaces the run touched and compare them with the
    /// file again: exit 1, with the lab up, listing what the kernel does not hold (it
    /// undoes some changes by itself). Reading back takes time: see the README.
    #[arg(long, conflicts_with = "dry_run")]
    pub verify: bool,
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
