//! What a topology says about the programs its nodes run: long-running processes
//! (`[[nodes.X.processes]]`) and one-shot commands (`exec = [...]`), resolved.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Netns;

/// How long `up` waits for a process's `ready` check unless the file says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A long-running process in a node, as `sh -c CMD` inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub node: String,
    /// Unique in its node; the program's name when the file gives none.
    pub name: String,
    /// Where it runs: the name its node is entered by (see `Topology::entry_netns`).
    pub netns: Netns,
    pub cmd: String,
    pub ready: Option<Ready>,
    pub ready_timeout: Duration,
    /// The user it runs as (a name or a uid); `None`: root.
    pub user: Option<String>,
    pub env: BTreeMap<String, String>,
}

/// One of a node's `exec` commands, run once when the node's namespace is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub node: String,
    pub netns: Netns,
    /// Its place in the node's list, from 1.
    pub n: usize,
    pub cmd: String,
}

/// When a process counts as ready: `tcp:PORT`, a socket listening on PORT on any address
/// in its node's namespace; `udp:PORT`, a UDP socket bound to PORT there; `cmd:<shell>`, a
/// command (run inside the node) that exits 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Ready {
    Tcp(u16),
    Udp(u16),
    Cmd(String),
}

impl FromStr for Ready {
    type Err = String;

    fn from_str(s: &str) -> Result<Ready, String> {
        let port = |p: &str, proto: &str| match p.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "`{proto}:{}`: the port is a number from 1 to 65535, like `{proto}:8000`",
                crate::diagnostics::shown(p)
            )),
            Ok(port) => Ok(port),
        };
        match s.split_once(':') {
            Some(("tcp", p)) => Ok(Ready::Tcp(port(p, "tcp")?)),
            Some(("udp", p)) => Ok(Ready::Udp(port(p, "udp")?)),
            Some(("cmd", c)) if !c.trim().is_empty() => Ok(Ready::Cmd(c.to_string())),
            Some(("cmd", _)) => Err("`cmd:` needs a command after it, like `cmd:redis-cli ping`".into()),
            _ => Err(format!(
                "`{}` is not a readiness check: write `tcp:PORT` (a socket listens on PORT), `udp:PORT` \
                 (a UDP socket is bound to PORT) or `cmd:COMMAND` (COMMAND exits 0)",
                crate::diagnostics::shown(s)
            )),
        }
    }
}

impl TryFrom<String> for Ready {
    type Error = String;
    fn try_from(s: String) -> Result<Ready, String> {
        s.parse()
    }
}

impl From<Ready> for String {
    fn from(r: Ready) -> String {
        r.to_string()
    }
}

impl fmt::Display for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ready::Tcp(p) => write!(f, "tcp:{p}"),
            Ready::Udp(p) => write!(f, "udp:{p}"),
            Ready::Cmd(c) => write!(f, "cmd:{c}"),
        }
    }
}

/// A duration as a topology writes it: a whole number and a unit, `500ms`, `30s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write a number and a unit, like \"30s\" or \"500ms\""))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "" => return Err(format!("`{text}` has no unit: write \"{n}s\" (or ms, m)")),
        other => return Err(format!("`{other}` is not a unit of time here: use ms, s or m, like \"30s\"")),
    };
    if d.is_zero() {
        return Err("a timeout of zero would never let it be ready: give one longer than 0".into());
    }
    if d > Duration::from_secs(24 * 3600) {
        return Err(format!(
            "`{text}` is more than a day; a process that takes that long to be ready needs no timeout from netlab"
        ));
    }
    Ok(d)
}

/// A duration as [`parse_duration`] reads it: the largest unit that says it exactly.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_and_print_back() {
        for text in ["tcp:8000", "udp:53", "cmd:redis-cli -h 10.0.0.2 ping"] {
            assert_eq!(text.parse::<Ready>().unwrap().to_string(), text);
        }
        assert_eq!("cmd:a:b".parse::<Ready>().unwrap(), Ready::Cmd("a:b".into()));
        for bad in ["tcp:0", "tcp:70000", "tcp:x", "http:80", "8000", "cmd:", "cmd:  "] {
            let e = bad.parse::<Ready>().unwrap_err();
            assert!(e.contains('`'), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_have_a_unit_and_print_back() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for (bad, says) in
            [("30", "no unit"), ("0s", "zero"), ("1h", "not a unit"), ("x", "not a duration"), ("2d", "not a unit")]
        {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        for d in ["30s", "500ms", "2m", "90s"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }
}
