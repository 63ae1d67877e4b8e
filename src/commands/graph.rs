use std::io::Write;

use crate::cli::GraphArgs;
use crate::Result;

pub fn exec(args: &GraphArgs, out: &mut dyn Write) -> Result<()> {
    let topology = crate::load(&args.file.topology)?;
    out.write_all(crate::graph::render(&topology, args.format).as_bytes())?;
    Ok(())
}
