//! netlab's error type, and the exit code each kind of failure gets. Each refusal and
//! failure carries what it is about (the lab, the ops, the kernel's errors, the objects in
//! the way) and says it in the sentence users see.

use std::fmt;
use std::path::PathBuf;

use crate::apply::Failure;
use crate::diagnostics::Invalid;
use crate::diff::{Conflict, Diff};
use crate::kernel::OpError;
use crate::ownership::NotOurs;
use crate::plan::text::{detail, plural, summary};
use crate::plan::{Feature, Op, PublishedPort};
use crate::state::{Corrupt, LoadError, LockError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology is wrong; the rendering lists every problem.
    #[error("{0}")]
    Invalid(Invalid),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The command line names something that is not there (a node, a lab).
    #[error("{0}")]
    Usage(String),
    /// `exec` could not enter a node's namespace.
    #[error("{0}")]
    Enter(String),
    /// netlab will not start: nothing was changed. No privileges, a kernel without a
    /// device kind, objects in the way, a lab that is busy or not up.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// `up` failed part-way: the op that failed, the kernel's error, and what was undone.
    #[error("{0}")]
    Apply(Box<Failure>),
    /// `down` could not remove everything: what failed, and what it left alone.
    #[error("{0}")]
    PartlyDown(PartlyDown),
    /// `up` applied every op, but reading the lab back shows the kernel does not hold all
    /// of it: the lab is up, its record kept.
    #[error("{0}")]
    Unverified(Unverified),
    /// `link` could not set an end down or up.
    #[error("could not set {endpoint} {}: {}", if *up { "up" } else { "down" }, link_errors(failed))]
    Link { endpoint: String, up: bool, failed: Vec<(Op, OpError)> },
    /// `diff` found differences (already printed): exit 1, no message.
    #[error("")]
    Different,
    /// `diff` could not compare (exit 2, like diff(1)).
    #[error("{0}")]
    Compare(Box<Error>),
    /// `exec` entered the node but could not start the command.
    #[error("cannot run {}: {source}", program.display())]
    Exec { program: PathBuf, source: std::io::Error },
    /// `run` could not make its throwaway host, or lost it.
    #[error("{0}")]
    Throwaway(String),
    /// A command that exits with a code of its own (`run`: its command's); the reason, if
    /// any, is already printed.
    #[error("")]
    Code(u8),
}

impl Error {
    /// 2 for an invalid topology or usage, 1 for anything else; `exec` that cannot start
    /// its command exits like env(1): 127 when it does not exist, 126 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::Usage(_) | Error::Compare(_) => 2,
            Error::Different => 1,
            Error::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Exec { .. } => 126,
            Error::Code(code) => *code,
            Error::Read { .. }
            | Error::Throwaway(_)
            | Error::Io(_)
            | Error::Enter(_)
            | Error::Refused(_)
            | Error::Apply(_)
            | Error::PartlyDown(_)
            | Error::Unverified(_)
            | Error::Link { .. } => 1,
        }
    }
}

fn link_errors(failed: &[(Op, OpError)]) -> String {
    let failed: Vec<String> = failed.iter().map(|(op, e)| format!("{} {}: {e}", op.netns(), detail(op))).collect();
    failed.join("; ")
}

/// Why netlab will not start; nothing was changed.
#[derive(Debug)]
pub enum Refusal {
    /// Without CAP_NET_ADMIN and CAP_SYS_ADMIN.
    NoPrivileges,
    /// This kernel cannot make device kinds (or qdiscs, or drops) the lab needs.
    MissingKinds { lab: String, kinds: Vec<Feature> },
    /// Another netlab holds the lab (or its lock cannot be taken).
    Lock(LockError),
    /// Objects in the way that are not the lab's.
    Conflicts { lab: String, conflicts: Vec<Conflict> },
    /// A command that needs a lab that is up, for one that is not.
    NotUp { lab: String, state: PathBuf },
    /// The kernel's state could not be read.
    Observe(OpError),
    /// A namespace of the lab's could not be entered.
    Enter { netns: String, source: std::io::Error },
    /// A program the lab needs cannot be run (`nft` for its firewall).
    MissingTool { lab: String, tool: &'static str, package: &'static str, why: String },
    /// A published port that the host cannot give the lab: another lab publishes it, a
    /// program listens on it, or the kernel lacks its protocol.
    Port { lab: String, port: Box<PublishedPort>, why: PortRefusal },
    /// A binding whose host port `up` picks, with no free one to pick.
    NoFreePort { lab: String, node: String, spec: String, why: String },
    /// A process's user is not on this machine.
    User { process: String, user: String, why: String },
    /// What an unprivileged `netlab run` cannot do, and what would allow it.
    Unprivileged(String),
    /// The lab sets host sysctls, and which of them labs that are up share cannot be told:
    /// these labs' records cannot be read (lab, why).
    UnknownShares { lab: String, unreadable: Vec<(String, String)> },
    /// The lab's record cannot be trusted (only `down` works from what can be read of it).
    Corrupt(Corrupt),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoPrivileges => f.write_str(
                "this needs root: netlab creates namespaces and devices (CAP_NET_ADMIN and CAP_SYS_ADMIN); \
                 run it with sudo",
            ),
            Refusal::MissingKinds { lab, kinds } => {
                let names: Vec<String> =
                    kinds.iter().map(|k| format!("{} ({})", k.name(), k.config_option())).collect();
                write!(f, "this kernel cannot make {}, which lab {lab} needs; nothing was changed", names.join(" or "))
            }
            Refusal::Lock(e) => e.fmt(f),
            Refusal::Conflicts { lab, conflicts } => {
                let settings = conflicts.iter().filter(|c| matches!(c, Conflict::HostSysctl { .. })).count();
                let objects = conflicts.len() - settings;
                let is_are = |n: usize| if n == 1 { "is" } else { "are" };
                let mut why = Vec::new();
                if objects > 0 {
                    why.push(format!(
                        "{objects} object{} in the way {} not netlab's, and netlab never takes over what it did not \
                         make",
                        plural(objects),
                        is_are(objects)
                    ));
                }
                if settings > 0 {
                    why.push(format!(
                        "{settings} host sysctl{} it wants {} set otherwise by labs that are up",
                        plural(settings),
                        is_are(settings)
                    ));
                }
                write!(f, "lab {lab} cannot be brought up: {}; nothing was changed:", why.join("; "))?;
                for c in conflicts {
                    write!(f, "\n  {c}")?;
                }
                Ok(())
            }
            Refusal::NotUp { lab, state } => write!(f, "lab {lab} is not up (no record under {})", state.display()),
            Refusal::Observe(e) => write!(f, "cannot read the kernel's state: {e}"),
            Refusal::Enter { netns, source } => write!(f, "cannot enter namespace {netns}: {source}"),
            Refusal::MissingTool { lab, tool, package, why } => write!(
                f,
                "lab {lab} needs `{tool}` (package {package}) for its firewall, and it cannot be run ({why}); \
                 nothing was changed"
            ),
            Refusal::NoFreePort { lab, node, spec, why } => {
                write!(f, "lab {lab} cannot publish `{spec}` of node {node}: {why}; nothing was changed")
            }
            Refusal::Port { lab, port, why } => write!(
                f,
                "lab {lab} cannot publish `{}` of node {} ({}:{}/{}): {why}; nothing was changed",
                port.spec, port.node, port.host_addr, port.host_port, port.proto
            ),
            Refusal::User { process, user, why } => {
                write!(f, "process {process} runs as user {user}, but {why}; nothing was changed")
            }
            Refusal::Unprivileged(why) => f.write_str(why),
            Refusal::UnknownShares { lab, unreadable } => {
                write!(
                    f,
                    "lab {lab} sets host sysctls, which labs that are up may share, and what they share cannot be \
                     told; nothing was changed:"
                )?;
                for (other, why) in unreadable {
                    write!(f, "\n  lab {other}: {why}")?;
                }
                Ok(())
            }
            Refusal::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for Refusal {}

/// Why a port cannot be published on this host.
#[derive(Debug)]
pub enum PortRefusal {
    /// Another lab that is up publishes it.
    Published { lab: String, node: String },
    /// A program on the host listens on it (by name, when it can be seen).
    Listening { program: Option<String> },
    /// The kernel has no SCTP.
    NoSctp,
}

impl fmt::Display for PortRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRefusal::Published { lab, node } => {
                write!(f, "lab {lab} publishes it already (node {node}); pick another host port")
            }
            PortRefusal::Listening { program } => {
                let who = program.as_ref().map(|p| format!(" ({p})")).unwrap_or_default();
                write!(
                    f,
                    "a program on the host listens on it{who}, and publishing it would take its traffic; \
                     pick another host port"
                )
            }
            PortRefusal::NoSctp => {
                f.write_str("this kernel has no SCTP (CONFIG_IP_SCTP), so sctp ports cannot be published here")
            }
        }
    }
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Error {
        Error::Refused(Refusal::Lock(e))
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Error {
        match e {
            LoadError::Io(e) => Error::Io(e),
            LoadError::Corrupt(c) => Error::Refused(Refusal::Corrupt(c)),
        }
    }
}

impl From<Box<Failure>> for Error {
    fn from(f: Box<Failure>) -> Error {
        Error::Apply(f)
    }
}

/// What `down` could not do: ops the kernel refused, and objects it left alone because
/// they are not the lab's any more.
#[derive(Debug)]
pub struct PartlyDown {
    pub lab: String,
    pub failed: Vec<(Op, OpError)>,
    pub refused: Vec<(Op, NotOurs)>,
}

impl fmt::Display for PartlyDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lab {} is only partly down:", self.lab)?;
        for (op, e) in &self.failed {
            write!(f, "\n  {}: {e}", summary(op))?;
        }
        for (op, why) in &self.refused {
            write!(f, "\n  {}: left alone: {why}", summary(op))?;
        }
        Ok(())
    }
}

/// What `up` found when it read back what it had applied: the differences from the file
/// that remain (a `+` missing, a `~` different, a `-` still there).
#[derive(Debug)]
pub struct Unverified {
    pub lab: String,
    pub diff: Diff,
}

impl fmt::Display for Unverified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diff.changes.len() + self.diff.conflicts.len();
        write!(
            f,
            "lab {} is up, but reading it back shows the kernel does not hold everything this run applied \
             ({n} difference{} from its file; netlab diff shows them, netlab up applies them again):",
            self.lab,
            plural(n)
        )?;
        for line in crate::diff::text::render(&self.lab, &self.diff).lines().skip(1) {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
