use std::io::Write;

use crate::cli::{GraphArgs, GraphFormat};
use crate::Result;

pub fn exec(args: &GraphArgs, out: &mut dyn Write) -> Result<()> {
    let topology = crate::load(&args.file.topology)?;
    let drawing = match args.format {
        GraphFormat::Dot => crate::graph::dot(&topology),
        GraphFormat::Mermaid => crate::graph::mermaid(&topology),
    };
    out.write_all(drawing.as_bytes())?;
    Ok(())
}
