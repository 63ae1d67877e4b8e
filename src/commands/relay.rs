//! `netlab relay` and `netlab relay-set` (hidden): run the userspace impairment relay of
//! [`crate::impair::relay`] in the foreground, in the current network namespace, and
//! change a running relay's impairments. `netlab up` will start relays as it starts
//! forwarders; run by hand, they are the way to test an impaired link.

use std::io::Write;

use crate::cli::{RelayArgs, RelaySetArgs};
use crate::impair::relay::{self, control, RelayConfig};
use crate::{Error, Result};

pub fn exec(args: RelayArgs) -> Result<()> {
    if let Some(fd) = args.handover_fd {
        super::forward::handover(fd)?;
    }
    let config = RelayConfig {
        a: args.a,
        b: args.b,
        a_to_b: args.a_to_b,
        b_to_a: args.b_to_a,
        stats: args.stats,
        control: args.control,
    };
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(Error::Usage(problems.join("\n")));
    }
    eprintln!(
        "netlab relay: {} -> {}: {}; {} -> {}: {}",
        config.a, config.b, config.a_to_b, config.b, config.a, config.b_to_a
    );
    relay::run(config)?;
    Ok(())
}

pub fn set(args: &RelaySetArgs, out: &mut dyn Write) -> Result<()> {
    let changes = match (&args.both, &args.a_to_b, &args.b_to_a) {
        (Some(both), _, _) => vec![(control::Direction::Both, both)],
        (None, a, b) => {
            let mut v = Vec::new();
            if let Some(a) = a {
                v.push((control::Direction::AToB, a));
            }
            if let Some(b) = b {
                v.push((control::Direction::BToA, b));
            }
            v
        }
    };
    if changes.is_empty() {
        return Err(Error::Usage("say what to set: --a-to-b SPEC, --b-to-a SPEC or --both SPEC".into()));
    }
    let mut reply = control::Reply::default();
    for (direction, imp) in changes {
        reply = control::set(&args.control, direction, imp).map_err(|e| {
            // The relay refused the request itself (a bad spec): a usage error, exit 2.
            if e.kind() == std::io::ErrorKind::InvalidInput {
                Error::Usage(e.to_string())
            } else {
                Error::Io(e)
            }
        })?;
    }
    writeln!(out, "a-b {}\nb-a {}", reply.a_to_b, reply.b_to_a)?;
    Ok(())
}
