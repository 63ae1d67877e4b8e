use std::io::Write;

use crate::cli::TopologyArg;
use crate::Result;

/// Prints a one-line summary of a valid topology; an invalid one is an error.
pub fn exec(args: &TopologyArg, out: &mut dyn Write) -> Result<()> {
    let t = crate::load(&args.topology)?;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    writeln!(
        out,
        "{}: valid: lab {}, {}, {}, {}, {}, {}",
        args.topology.display(),
        t.lab,
        count(t.nodes.len(), "node"),
        count(t.namespaces.len(), "namespace"),
        count(t.bridges.len(), "bridge"),
        count(t.veths.len(), "veth pair"),
        count(t.tunnels.len(), "tunnel"),
    )?;
    Ok(())
}
