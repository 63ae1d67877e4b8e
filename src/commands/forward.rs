//! `netlab forward` (hidden): runs the userspace tunnel forwarder of [`crate::tunnel`] in
//! the foreground, in the current network namespace. `netlab up` starts it detached in
//! the right namespace; run by hand, it is the way to test a TUN device and its peers.

use crate::cli::{ForwardArgs, ForwardEncap};
use crate::tunnel::{self, Encap, ForwarderConfig};
use crate::{Error, Result};

pub fn exec(args: ForwardArgs) -> Result<()> {
    let encap = match (args.encap, args.port) {
        (ForwardEncap::Udp, port) => Encap::Udp { port: port.unwrap_or(tunnel::DEFAULT_UDP_PORT) },
        (ForwardEncap::Ipip, None) => Encap::Ipip,
        (ForwardEncap::Ipip, Some(_)) => {
            return Err(Error::Usage("--port is for --encap udp; ipip has no ports".into()))
        }
    };
    let config = ForwarderConfig { dev: args.dev, encap, local: args.local, peers: args.peers, stats: args.stats };
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    let port = match encap {
        Encap::Udp { port } => format!(":{port}"),
        Encap::Ipip => String::new(),
    };
    let peers: Vec<String> = config.peers.iter().map(|p| p.to_string()).collect();
    eprintln!(
        "netlab forward: {} over {} from {}{port} to {}",
        config.dev,
        encap.name(),
        config.local,
        peers.join(", ")
    );
    tunnel::run(config)?;
    Ok(())
}
