//! `netlab forward` (hidden): runs the userspace tunnel forwarder of [`crate::tunnel`] in
//! the foreground, in the current network namespace. `netlab up` starts it detached in
//! the right namespace; run by hand, it is the way to test a TUN device and its peers.

use crate::cli::ForwardArgs;
use crate::tunnel::{self, Encap, ForwarderConfig};
use crate::{Error, Result};

pub fn exec(args: ForwardArgs) -> Result<()> {
    if let Some(fd) = args.handover_fd {
        handover(fd)?;
    }
    let (encap, port) = match (args.encap, args.port) {
        (Encap::Udp, port) => (Encap::Udp, port.unwrap_or(tunnel::DEFAULT_UDP_PORT)),
        (Encap::Ipip, None) => (Encap::Ipip, 0),
        (Encap::Ipip, Some(_)) => return Err(Error::Usage("--port is for --encap udp; ipip has no ports".into())),
    };
    let config =
        ForwarderConfig { dev: args.dev, encap, local: args.local, port, peers: args.peers, stats: args.stats };
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    let port = match encap {
        Encap::Udp => format!(":{port}"),
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

/// The forwarder's half of the handover with `netlab up` (see src/kernel/forwarder.rs):
/// say it started, wait for `go` (up has recorded its pid), and only then stop dying with
/// up. Until then the parent-death signal set before exec stands: a forwarder whose `up`
/// was killed half-way never outlives it unrecorded.
pub(crate) fn handover(fd: i32) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::FromRawFd;
    // SAFETY: the descriptor was passed to us for this and nothing else uses it.
    let mut socket = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    writeln!(socket, "started")?;
    let mut answer = String::new();
    BufReader::new(&socket).read_line(&mut answer)?;
    if answer.trim() != "go" {
        return Err(Error::Usage("the netlab that started this forwarder is gone; stopping".into()));
    }
    // SAFETY: a plain prctl on this (the main) thread, which is the one the signal is set on.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
    Ok(())
}
