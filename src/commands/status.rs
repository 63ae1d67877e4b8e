//! `netlab status`: the labs that are up, from their records; for one lab, its nodes,
//! namespaces, interfaces and addresses as the kernel shows them, its forwarders and
//! impairments, and whether the lab still matches its file.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{LabRef, OutputFormat, StatusArgs};
use crate::error::Refusal;
use crate::kernel::{forwarder, probe};
use crate::live::{Exit, LiveLab, LiveLink, LiveNetns, LiveProcess, NsLive, ProcessState};
use crate::ownership::Marks;
use crate::plan::{Op, PublishedPort};
use crate::sharing::HostSysctl;
use crate::state::{Record, StateDir};
use crate::topology::{Netns, Topology};
use crate::Result;

pub fn exec(state: &StateDir, args: &StatusArgs, out: &mut dyn Write) -> Result<()> {
    // A file named here is read once: for the lab's name, and as the file to compare
    // with when it is the one the lab was brought up from.
    let (lab, given) = match (&args.topology, &args.lab) {
        (None, None) => return list(state, args.format, out),
        (Some(file), _) => {
            let topology = crate::load(file)?;
            (topology.lab.clone(), std::fs::canonicalize(file).ok().zip(Some(topology)))
        }
        (None, Some(name)) => (super::lab_name(&LabRef::Name(name.clone()))?, None),
    };
    let record = super::record_of(state, &lab)?;
    if !probe::privileged() {
        return Err(Refusal::NoPrivileges.into());
    }
    let status = LabStatus::read(state, &record, given)?;
    match args.format {
        OutputFormat::Json => super::print_json(out, &status)?,
        OutputFormat::Text => out.write_all(status.text().as_bytes())?,
    }
    Ok(())
}

#[derive(Serialize)]
struct LabSummary {
    lab: String,
    topology: Option<std::path::PathBuf>,
    /// `null` when the record cannot be read.
    nodes: Option<usize>,
    namespaces: Option<usize>,
    /// Why the record cannot be read or trusted (and the way out).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct LabList {
    version: u32,
    labs: Vec<LabSummary>,
}

/// Every lab that has a record. One that cannot be read is listed with why, after the
/// others; the command then fails, naming each such record and the way out.
fn list(state: &StateDir, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let mut labs = Vec::new();
    let mut unreadable = Vec::new();
    for lab in state.labs()? {
        let summary = match state.load(&lab) {
            Ok(None) => continue,
            Ok(Some(record)) => {
                let namespaces = record.entries.iter().filter(|e| matches!(e.op, Op::NetnsAdd { .. })).count();
                let (nodes, namespaces) = (Some(record.nodes.len()), Some(namespaces));
                LabSummary { lab, topology: record.topology, nodes, namespaces, error: None }
            }
            Err(e) => {
                let error = Some(e.to_string());
                unreadable.push(e.to_string());
                LabSummary { lab, topology: None, nodes: None, namespaces: None, error }
            }
        };
        labs.push(summary);
    }
    if format == OutputFormat::Json {
        super::print_json(out, &LabList { version: 1, labs })?;
    } else if labs.is_empty() {
        writeln!(out, "no lab is up")?;
    } else {
        let w = labs.iter().map(|l| l.lab.len()).max().unwrap_or(3).max(3);
        writeln!(out, "{:<w$}  NODES  NAMESPACES  TOPOLOGY", "LAB")?;
        let count = |n: Option<usize>| n.map_or("?".to_string(), |n| n.to_string());
        for l in &labs {
            let file = match (&l.error, &l.topology) {
                (Some(_), _) => "(its record cannot be read: see below)".to_string(),
                (None, Some(p)) => shown_path(p),
                (None, None) => "-".to_string(),
            };
            writeln!(out, "{:<w$}  {:>5}  {:>10}  {file}", l.lab, count(l.nodes), count(l.namespaces))?;
        }
    }
    if unreadable.is_empty() {
        Ok(())
    } else {
        Err(std::io::Error::other(unreadable.join("\n")).into())
    }
}

/// The topology path a record names, as a terminal may show it: a file name may hold
/// anything but `/` and NUL, and a record may have been edited by hand.
fn shown_path(path: &std::path::Path) -> String {
    crate::diagnostics::shown_whole(&path.to_string_lossy())
}

/// How a lab that is up compares with its topology file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum FileState {
    InSync,
    Differs,
    /// The file is gone (or none was recorded).
    Missing,
    /// It no longer parses.
    Invalid,
}

/// One lab as the kernel shows it.
#[derive(Serialize)]
struct LabStatus {
    version: u32,
    lab: String,
    topology: Option<std::path::PathBuf>,
    /// `in_sync`, `differs`, `missing` (the file is gone) or `invalid` (it no longer parses).
    file: FileState,
    /// How many changes `up` would make (when the file could be compared).
    changes: usize,
    nodes: Vec<NodeStatus>,
    /// The lab's own links in the host (bridges, host ends of veth pairs, tunnels).
    host: Vec<Interface>,
    /// The userspace tunnel forwarders, with their counters.
    forwarders: Vec<ForwarderStatus>,
    /// The ports the lab publishes, by node (as `netlab port` shows them).
    ports: Vec<PublishedPort>,
    /// Other firewalls of the host that drop the lab's forwarded traffic, and what to add.
    warnings: Vec<String>,
    /// The host sysctls the lab set or shares, with the other labs that are up and have
    /// them, and what the host had before.
    host_sysctls: Vec<HostSysctl>,
    /// Each impaired direction of the lab's links, as it is now.
    impairments: Vec<super::status_impairments::Impaired>,
    /// The lab's processes.
    processes: Vec<ProcessStatus>,
}

#[derive(Serialize)]
struct ProcessStatus {
    node: String,
    name: String,
    netns: Netns,
    /// `running`, `exited`, `gone` (its supervisor ended) or `not started`.
    state: &'static str,
    pid: Option<u32>,
    /// Seconds since its latest start, while it runs.
    uptime_s: Option<u64>,
    /// How many times it was started.
    starts: u32,
    /// How its latest run that ended, ended: `{"code": 1}` or `{"signal": 9}`.
    last_exit: Option<Exit>,
}

impl ProcessStatus {
    fn of(node: &str, name: &str, netns: &Netns, live: Option<&LiveProcess>, now: u64) -> ProcessStatus {
        let state = match live.map(|p| p.state) {
            Some(ProcessState::Running) => "running",
            Some(ProcessState::Exited(_)) => "exited",
            Some(ProcessState::Gone) => "gone",
            None => "not started",
        };
        let running = live.filter(|p| p.state == ProcessState::Running);
        ProcessStatus {
            node: node.to_string(),
            name: name.to_string(),
            netns: netns.clone(),
            state,
            pid: running.map(|p| p.identity.pid),
            uptime_s: running.map(|p| now.saturating_sub(p.started_at)),
            starts: live.map_or(0, |p| p.starts),
            last_exit: live.and_then(|p| p.last_exit).map(|(e, _)| e),
        }
    }

    fn text(&self) -> String {
        let mut s = format!("process {}:{}: ", self.node, self.name);
        match (self.state, self.pid, self.uptime_s) {
            ("running", Some(pid), Some(up)) => {
                let _ = write!(s, "running (pid {pid}, up {})", duration(up));
            }
            ("gone", ..) => s.push_str("GONE (its supervisor ended; netlab up starts it again)"),
            ("exited", ..) => s.push_str("EXITED (netlab up starts it again)"),
            (state, ..) => s.push_str(state),
        }
        if let Some(exit) = &self.last_exit {
            let _ = write!(s, "; last exit: {exit}");
        }
        if self.starts > 1 {
            let _ = write!(s, "; started {} times", self.starts);
        }
        s
    }
}

/// A number of seconds as people read it: `42s`, `3m12s`, `2h05m`, `3d04h`.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[derive(Serialize)]
struct ForwarderStatus {
    netns: Netns,
    dev: String,
    encap: &'static str,
    running: bool,
    pid: Option<u32>,
    /// The counters it last wrote (see the stats file in src/tunnel/mod.rs).
    stats: Option<crate::tunnel::Stats>,
}

#[derive(Serialize)]
struct NodeStatus {
    name: String,
    /// `null`: the host's own namespace.
    netns: Netns,
    /// Container mode: the namespace this name is a second name of.
    shares: Option<String>,
    /// Whether the namespace is there.
    present: bool,
    interfaces: Vec<Interface>,
}

#[derive(Serialize)]
struct Interface {
    name: String,
    kind: Option<String>,
    up: bool,
    mtu: Option<u32>,
    /// The bridge it is a port of.
    master: Option<String>,
    addresses: Vec<String>,
}

impl Interface {
    fn of(ns: &LiveNetns, l: &LiveLink) -> Interface {
        let addresses = ns
            .addrs_of(l.index)
            .filter(|a| !a.kernel_made())
            .map(|a| match a.peer {
                Some(p) => format!("{} peer {p}", a.address.addr()),
                None => a.address.to_string(),
            })
            .collect();
        Interface {
            name: l.name.clone(),
            kind: l.kind.clone(),
            up: l.up,
            mtu: l.mtu,
            master: l.master.and_then(|m| ns.link_by_index(m)).map(|m| m.name.clone()),
            addresses,
        }
    }
}

impl LabStatus {
    /// `given`: a topology already read, with its canonical path.
    fn read(state: &StateDir, record: &Record, given: Option<(PathBuf, Topology)>) -> Result<LabStatus> {
        let mut kernel = super::kernel(state, &record.lab)?;
        // The file, if it is still there and still parses: what `up` would compare with.
        let (file, plan) = match &record.topology {
            None => (FileState::Missing, None),
            Some(path) if !path.exists() => (FileState::Missing, None),
            Some(path) => match given.filter(|(p, _)| p == path).map_or_else(|| crate::load(path), |(_, t)| Ok(t)) {
                Ok(t) => (FileState::InSync, Some(super::plan_here(state, &t))),
                Err(_) => (FileState::Invalid, None),
            },
        };
        let live = super::observe(&mut kernel, plan.as_ref(), Some(record))?;
        let shares = super::host_shares(state, &record.lab, super::touches_host(plan.as_ref(), Some(record)))?;
        let (file, changes) = match &plan {
            Some(plan) => {
                let d = crate::diff::diff(plan, Some(record), &live, &shares);
                let n = d.changes.len() + d.conflicts.len();
                (if n == 0 { file } else { FileState::Differs }, n)
            }
            None => (file, 0),
        };
        // Container-mode names: the namespace each is a second name of (the first recorded).
        let mut aliases: HashMap<&str, &str> = HashMap::new();
        for e in &record.entries {
            if let Op::NetnsAlias { netns, target } = &e.op {
                aliases.entry(netns).or_insert(target);
            }
        }
        let nodes = record.nodes.iter().map(|(name, netns)| node_status(&aliases, &live, name, netns)).collect();
        let marks = Marks::of(&record.lab);
        let host = live.host.links.iter().filter(|l| marks.on(l));
        let host = host.map(|l| Interface::of(&live.host, l)).collect();
        let forwarders = record
            .entries
            .iter()
            .filter_map(|e| {
                let Op::ForwarderStart { netns, dev, encap, .. } = &e.op else { return None };
                let running = live.forwarders.get(&(netns.clone(), dev.clone())).cloned().flatten();
                let stats = forwarder::stats(&state.lab_dir(&record.lab), netns, dev);
                Some(ForwarderStatus {
                    netns: netns.clone(),
                    dev: dev.clone(),
                    encap: encap.name(),
                    running: running.is_some(),
                    pid: running.map(|r| r.pid),
                    stats,
                })
            })
            .collect();
        let now = crate::process::files::now();
        let processes = record
            .entries
            .iter()
            .filter_map(|e| {
                let Op::ProcessStart { node, name, netns, .. } = &e.op else { return None };
                let key = e.op.process_key()?;
                Some(ProcessStatus::of(node, name, netns, live.processes.get(&key), now))
            })
            .collect();
        let impairments = super::status_impairments::read(state, record, &live);
        Ok(LabStatus {
            version: 1,
            lab: record.lab.clone(),
            topology: record.topology.clone(),
            file,
            changes,
            nodes,
            host,
            forwarders,
            ports: record.ports.clone(),
            warnings: super::host_facts::warnings(record.entries.iter().map(|e| &e.op)),
            processes,
            host_sysctls: HostSysctl::of(record, &shares),
            impairments,
        })
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let file = self.topology.as_ref().map_or("no file recorded".into(), |p| shown_path(p));
        let state = match self.file {
            FileState::InSync => "in sync with its file".to_string(),
            FileState::Differs => format!(
                "differs from its file: {} change{} (netlab diff)",
                self.changes,
                crate::plan::text::plural(self.changes)
            ),
            FileState::Missing => "its file is gone".to_string(),
            FileState::Invalid => "its file no longer parses".to_string(),
        };
        let _ = writeln!(out, "lab {}: up, {state}\n  file: {file}", self.lab);
        let name_w = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(6);
        let ns_w = self.nodes.iter().map(|n| n.netns.to_string().len()).max().unwrap_or(9).max(9);
        let _ = writeln!(out, "{:<name_w$}  {:<ns_w$}  INTERFACES", "NODE", "NAMESPACE");
        for n in &self.nodes {
            let what = if !n.present {
                "(namespace missing)".to_string()
            } else if let Some(target) = &n.shares {
                format!("(the namespace of {target})")
            } else if n.netns == Netns::Host {
                "(the host's own)".to_string()
            } else {
                interfaces(&n.interfaces)
            };
            let _ = writeln!(out, "{:<name_w$}  {:<ns_w$}  {what}", n.name, n.netns.to_string());
        }
        if !self.host.is_empty() {
            let _ = writeln!(out, "{:<name_w$}  {:<ns_w$}  {}", "(host)", "host", interfaces(&self.host));
        }
        for p in &self.ports {
            let place = match &p.netns {
                Netns::Host => String::new(),
                Netns::Named(n) => format!(" (in namespace {n})"),
            };
            let _ = writeln!(out, "port {}: {p}{place}", p.node);
        }
        for sysctl in &self.host_sysctls {
            let _ = writeln!(out, "host sysctl {}", sysctl.text());
        }
        for f in &self.forwarders {
            let state = match (f.pid, &f.stats) {
                (Some(pid), Some(s)) => format!(
                    "running (pid {pid}): sent {} packets ({} bytes), received {} ({} bytes), dropped {}",
                    s.tx.packets,
                    s.tx.bytes,
                    s.rx.packets,
                    s.rx.bytes,
                    s.drops.total()
                ),
                (Some(pid), None) => format!("running (pid {pid})"),
                (None, _) => "NOT RUNNING (netlab up restarts it)".to_string(),
            };
            let _ = writeln!(out, "forwarder {} {}:{}: {state}", f.encap, f.netns, f.dev);
            if let Some(s) = f.stats.as_ref().filter(|s| s.drops.total() > 0) {
                // The reasons with a count, as "reason count, ...".
                let drops = serde_json::to_value(s.drops).unwrap_or_default();
                let reasons: Vec<String> = drops
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(why, n)| format!("{why} {n}"))
                    .collect();
                let _ = writeln!(out, "  dropped: {}", reasons.join(", "));
            }
        }
        for p in &self.processes {
            let _ = writeln!(out, "{}", p.text());
        }
        out.push_str(&super::status_impairments::text(&self.impairments));
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

fn interfaces(list: &[Interface]) -> String {
    let shown: Vec<String> = list
        .iter()
        .filter(|i| !(i.name == "lo" && i.addresses.iter().all(|a| a.starts_with("127.") || a == "::1/128")))
        .map(|i| {
            let mut s = format!("{} {}", i.name, if i.up { "up" } else { "DOWN" });
            for a in &i.addresses {
                let _ = write!(s, " {a}");
            }
            if let Some(m) = &i.master {
                let _ = write!(s, " (port of {m})");
            }
            s
        })
        .collect();
    if shown.is_empty() {
        "lo only".into()
    } else {
        shown.join("; ")
    }
}

fn node_status(aliases: &HashMap<&str, &str>, live: &LiveLab, name: &str, netns: &Netns) -> NodeStatus {
    let shares = netns.name().and_then(|n| aliases.get(n)).map(|t| t.to_string());
    let present = match netns {
        Netns::Host => true,
        Netns::Named(n) => matches!(live.namespaces.get(n), Some(NsLive::Mounted { .. })),
    };
    let interfaces = match (netns, &shares) {
        (Netns::Named(_), None) => {
            live.netns(netns).map(|ns| ns.links.iter().map(|l| Interface::of(ns, l)).collect()).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    NodeStatus { name: name.to_string(), netns: netns.clone(), shares, present, interfaces }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{LiveAddr, NsId};
    use crate::testing::TempDir;

    fn link(index: u32, name: &str, up: bool, master: Option<u32>) -> LiveLink {
        LiveLink { index, name: name.into(), kind: Some("veth".into()), up, master, ..LiveLink::default() }
    }

    fn addr(index: u32, address: &str, peer: Option<&str>) -> LiveAddr {
        LiveAddr { index, address: address.parse().unwrap(), peer: peer.map(|p| p.parse().unwrap()) }
    }

    #[test]
    fn a_lab_is_listed_from_its_record() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let mut out = Vec::new();
        list(&state, OutputFormat::Text, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "no lab is up\n");

        let mut record = state.new_record("web");
        record.topology = Some("/labs/web.toml".into());
        record.nodes.insert("a".into(), Netns::Named("web-a".into()));
        record.nodes.insert("b".into(), Netns::Host);
        record.entries.push(crate::state::Entry::pending(Op::NetnsAdd { netns: "web-a".into() }));
        record.save().unwrap();
        let mut out = Vec::new();
        list(&state, OutputFormat::Text, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "LAB  NODES  NAMESPACES  TOPOLOGY\nweb      2           1  /labs/web.toml\n"
        );
        let mut out = Vec::new();
        list(&state, OutputFormat::Json, &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"version": 1, "labs": [
                {"lab": "web", "topology": "/labs/web.toml", "nodes": 2, "namespaces": 1}
            ]})
        );

        // A file name may hold what a terminal acts on (here: clear the screen); the
        // listing shows it escaped, JSON as it is.
        record.topology = Some("/labs/\u{1b}[2Jweb.toml".into());
        record.save().unwrap();
        let mut out = Vec::new();
        list(&state, OutputFormat::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("  /labs/\\u{1b}[2Jweb.toml\n") && !text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn a_record_that_cannot_be_read_is_named_and_the_other_labs_are_listed() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        state.new_record("web").save().unwrap();
        std::fs::write(state.record_path("db"), b"{\"version\": 1, \"lab\": \"d\xff").unwrap();
        std::fs::write(state.record_path("x"), b"{\"version\": 1,").unwrap();
        let mut out = Vec::new();
        let e = list(&state, OutputFormat::Text, &mut out).unwrap_err().to_string();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "LAB  NODES  NAMESPACES  TOPOLOGY\n\
             db       ?           ?  (its record cannot be read: see below)\n\
             web      0           0  -\n\
             x        ?           ?  (its record cannot be read: see below)\n"
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        for (line, lab) in lines.iter().zip(["db", "x"]) {
            assert!(line.starts_with(&format!("{}/{lab}.json cannot be trusted (", dir.path().display())), "{line}");
            assert!(line.ends_with(&format!("`netlab down --lab {lab}` takes the lab down from what can be read of it and from the lab's marks in the kernel")), "{line}");
        }
        let mut out = Vec::new();
        assert!(list(&state, OutputFormat::Json, &mut out).is_err());
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["labs"][0]["nodes"], serde_json::Value::Null);
        assert_eq!(json["labs"][0]["error"], lines[0]);
        assert_eq!(json["labs"][1], serde_json::json!({"lab": "web", "topology": null, "nodes": 0, "namespaces": 0}));
    }

    #[test]
    fn nodes_show_their_interfaces_what_they_share_and_what_is_missing() {
        let ns = LiveNetns::new(
            vec![
                LiveLink { index: 1, name: "lo".into(), up: true, ..LiveLink::default() },
                link(2, "eth0", true, None),
                link(3, "p1", false, Some(4)),
                LiveLink { index: 4, name: "br0".into(), kind: Some("bridge".into()), up: true, ..LiveLink::default() },
            ],
            vec![
                addr(1, "127.0.0.1/8", None),
                addr(2, "10.0.0.2/24", None),
                addr(2, "fe80::1/64", None),
                addr(3, "10.9.0.1/32", Some("10.9.0.2")),
            ],
            vec![],
        );
        let mut live = LiveLab::default();
        let id = NsId { dev: 4, ino: 7 };
        live.namespaces.insert("lab-a".into(), NsLive::Mounted { id, live: Some(Box::new(ns)) });
        live.namespaces.insert("lab-c".into(), NsLive::Mounted { id, live: None });
        live.namespaces.insert("lab-gone".into(), NsLive::Absent);
        let aliases = HashMap::from([("lab-c", "lab-a")]);
        let a = node_status(&aliases, &live, "a", &Netns::Named("lab-a".into()));
        assert!(a.present && a.shares.is_none());
        assert_eq!(
            interfaces(&a.interfaces),
            "eth0 up 10.0.0.2/24; p1 DOWN 10.9.0.1 peer 10.9.0.2 (port of br0); br0 up",
            "lo with only its own addresses, and link-local addresses, are not shown"
        );
        let c = node_status(&aliases, &live, "c", &Netns::Named("lab-c".into()));
        assert_eq!((c.present, c.shares.as_deref(), c.interfaces.len()), (true, Some("lab-a"), 0));
        let gone = node_status(&aliases, &live, "gone", &Netns::Named("lab-gone".into()));
        assert!(!gone.present);
        let host = node_status(&aliases, &live, "h", &Netns::Host);
        assert!(host.present && host.interfaces.is_empty());

        let status = LabStatus {
            version: 1,
            lab: "lab".into(),
            topology: Some("/labs/lab.toml".into()),
            file: FileState::Differs,
            changes: 2,
            nodes: vec![a, c, gone, host],
            host: vec![],
            forwarders: vec![ForwarderStatus {
                netns: Netns::Host,
                dev: "fl0".into(),
                encap: "udp",
                running: false,
                pid: None,
                stats: None,
            }],
            ports: vec![PublishedPort {
                node: "a".into(),
                spec: "80".into(),
                netns: Netns::Host,
                host_addr: "0.0.0.0".parse().unwrap(),
                host_port: 32768,
                node_port: 80,
                proto: crate::firewall::ports::Proto::Tcp,
                picked: true,
            }],
            warnings: vec!["ip filter FORWARD drops forwarded packets (policy drop): ...".into()],
            processes: vec![
                ProcessStatus::of(
                    "a",
                    "web",
                    &Netns::Named("lab-a".into()),
                    Some(&LiveProcess {
                        identity: crate::live::Identity { pid: 42, start_time: 1, uid: 0, netns: id },
                        state: ProcessState::Running,
                        started_at: 1000,
                        starts: 2,
                        last_exit: Some((Exit::Signal(9), 990)),
                    }),
                    1192,
                ),
                ProcessStatus::of("a", "db", &Netns::Named("lab-a".into()), None, 1192),
            ],
            host_sysctls: vec![HostSysctl {
                key: "net.ipv4.ip_forward".into(),
                value: "1".into(),
                shared_with: vec!["b".into()],
                before: Some("0".into()),
            }],
            impairments: vec![],
        };
        assert_eq!(
            status.text(),
            "lab lab: up, differs from its file: 2 changes (netlab diff)\n  file: /labs/lab.toml\n\
             NODE    NAMESPACE  INTERFACES\n\
             a       lab-a      eth0 up 10.0.0.2/24; p1 DOWN 10.9.0.1 peer 10.9.0.2 (port of br0); br0 up\n\
             c       lab-c      (the namespace of lab-a)\n\
             gone    lab-gone   (namespace missing)\n\
             h       host       (the host's own)\n\
             port a: 80/tcp -> 0.0.0.0:32768\n\
             host sysctl net.ipv4.ip_forward = 1 (shared with lab b; the last lab to go down puts back 0)\n\
             forwarder udp host:fl0: NOT RUNNING (netlab up restarts it)\n\
             process a:web: running (pid 42, up 3m12s); last exit: killed by signal 9 (SIGKILL); started 2 times\n\
             process a:db: not started\n\
             warning: ip filter FORWARD drops forwarded packets (policy drop): ...\n"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["file"], "differs");
        assert_eq!(json["nodes"][1]["shares"], "lab-a");
        assert_eq!(json["nodes"][3]["netns"], serde_json::Value::Null);
        assert_eq!(json["ports"][0]["host_addr"], "0.0.0.0");
        assert_eq!(json["ports"][0]["picked"], true);
        assert_eq!(
            json["processes"][0],
            serde_json::json!({"node": "a", "name": "web", "netns": "lab-a", "state": "running", "pid": 42,
                "uptime_s": 192, "starts": 2, "last_exit": {"signal": 9}})
        );
        assert_eq!(
            json["host_sysctls"],
            serde_json::json!([{"key": "net.ipv4.ip_forward", "value": "1", "shared_with": ["b"], "before": "0"}])
        );
    }
}
