//! `netlab port`: a node's published ports, as `docker port` prints them, from the lab's
//! record (a host port that `up` picked is known only there).

use std::io::Write;

use crate::cli::{OutputFormat, PortArgs};
use crate::firewall::ports::Proto;
use crate::plan::PublishedPort;
use crate::state::StateDir;
use crate::topology::Netns;
use crate::{Error, Result};

pub fn exec(state: &StateDir, args: &PortArgs, out: &mut dyn Write) -> Result<()> {
    let (lab, node, filter) = args.parse().map_err(Error::Usage)?;
    let filter = filter.map(parse_filter).transpose()?;
    let record = super::record_of(state, &super::lab_name(&lab)?)?;
    super::recorded_node_netns(&record, node)?;
    let ports: Vec<&PublishedPort> = record
        .ports
        .iter()
        .filter(|p| p.node == node && filter.is_none_or(|(port, proto)| p.node_port == port && p.proto == proto))
        .collect();
    if let (Some((port, proto)), true) = (filter, ports.is_empty()) {
        return Err(Error::Usage(format!("node {node} of lab {} publishes no {port}/{proto}", record.lab)));
    }
    if args.format == OutputFormat::Json {
        return Ok(super::print_json(out, &ports)?);
    }
    for p in ports {
        let place = match &p.netns {
            Netns::Host => String::new(),
            Netns::Named(n) => format!("    (in namespace {n})"),
        };
        // With a port asked for, docker prints where it is published, and no more.
        if filter.is_some() {
            writeln!(out, "{}:{}{place}", p.host_addr, p.host_port)?;
        } else {
            writeln!(out, "{p}{place}")?;
        }
    }
    Ok(())
}

/// `80` or `80/udp` (tcp when left out, as in docker port).
fn parse_filter(text: &str) -> Result<(u16, Proto)> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let port = port.parse::<u16>().ok().filter(|p| *p > 0);
    let proto = match proto {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "sctp" => Some(Proto::Sctp),
        _ => None,
    };
    match (port, proto) {
        (Some(port), Some(proto)) => Ok((port, proto)),
        _ => Err(Error::Usage(format!("`{text}` is not PORT[/tcp|/udp|/sctp]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::ports::HostAddr;
    use crate::testing::TempDir;

    fn port(node: &str, node_port: u16, proto: Proto, addr: &str, host_port: u16) -> PublishedPort {
        PublishedPort {
            node: node.into(),
            spec: format!("{host_port}:{node_port}/{proto}"),
            netns: Netns::Host,
            host_addr: addr.parse::<HostAddr>().unwrap(),
            host_port,
            node_port,
            proto,
            picked: false,
        }
    }

    fn run(state: &StateDir, words: &[&str]) -> Result<String> {
        let args = PortArgs {
            words: words.iter().map(|w| w.to_string()).collect(),
            lab: Some("docker".into()),
            format: OutputFormat::Text,
        };
        let mut out = Vec::new();
        exec(state, &args, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn ports_are_printed_as_docker_port_prints_them() {
        let dir = TempDir::new();
        let state = StateDir::new(dir.path());
        let mut record = state.new_record("docker");
        record.nodes.insert("web".into(), Netns::Named("docker-web".into()));
        record.nodes.insert("db".into(), Netns::Named("docker-db".into()));
        record.ports = vec![
            port("web", 80, Proto::Tcp, "0.0.0.0", 8080),
            port("web", 53, Proto::Udp, "127.0.0.1", 5353),
            port("db", 5432, Proto::Tcp, "[2001:db8::1]", 15432),
        ];
        record.save().unwrap();
        assert_eq!(run(&state, &["web"]).unwrap(), "80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n");
        assert_eq!(run(&state, &["web", "80"]).unwrap(), "0.0.0.0:8080\n");
        assert_eq!(run(&state, &["web", "53/udp"]).unwrap(), "127.0.0.1:5353\n");
        assert_eq!(run(&state, &["db"]).unwrap(), "5432/tcp -> [2001:db8::1]:15432\n");
        let e = run(&state, &["web", "53"]).unwrap_err();
        assert_eq!(e.to_string(), "node web of lab docker publishes no 53/tcp");
        let e = run(&state, &["nobody"]).unwrap_err();
        assert_eq!(e.to_string(), "lab docker has no node nobody; its nodes are: db, web");
        assert!(run(&state, &["web", "http"]).unwrap_err().to_string().contains("not PORT"));
    }
}
